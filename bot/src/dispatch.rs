//! From a parsed command to the previews it names and the operations it runs. The same path
//! serves Slack, PR comments and the console, so all three mean the same thing by a command.

use crate::engine::{Engine, Outcome, PreviewRef, UpOptions};
use crate::killswitch;
use crate::origin::Origin;
use preview_commands::{Action, Command, KillSwitch, Target};
use preview_config::Config;
use preview_deploy::Subject;
use preview_deploy::ops::AuditOutcome;

/// The PR a comment was written on: what a command without a target means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Implied {
    pub owner: String,
    pub repo: String,
    pub pr: u64,
}

/// Does the command act on previews (and so need a target)?
pub fn needs_target(action: &Action) -> bool {
    preview_commands::needs_target(action)
}

/// The previews a target names, checked against the config; the error is shown to the user.
pub fn resolve(
    config: &Config,
    target: Option<&Target>,
    implied: Option<&Implied>,
) -> Result<Vec<PreviewRef>, String> {
    let prefix = &config.bot.command_prefix;
    let by_repo = |owner: &str, repo: &str, pr: u64| -> Result<Vec<PreviewRef>, String> {
        let apps = of_repository(config, owner, repo, &Subject::Pr(pr));
        if apps.is_empty() {
            Err(format!(
                "No app is configured for repository `{owner}/{repo}`. Configured apps: {}.",
                known_apps(config)
            ))
        } else {
            Ok(apps)
        }
    };
    match (target, implied) {
        (Some(Target::Many(targets)), _) => {
            let mut previews: Vec<PreviewRef> = Vec::new();
            for target in targets {
                for preview in resolve(config, Some(target), implied)? {
                    if !previews.contains(&preview) {
                        previews.push(preview);
                    }
                }
            }
            Ok(previews)
        }
        (Some(Target::AppPr { app, pr }), _) => {
            named_app(config, app.as_str(), Subject::Pr(pr.get())).map(|p| vec![p])
        }
        (Some(Target::RepoPr { owner, repo, pr }), _) => by_repo(owner, repo, pr.get()),
        (Some(Target::App { app }), Some(implied)) => {
            let name = app.as_str();
            by_repo(&implied.owner, &implied.repo, implied.pr)?
                .into_iter()
                .find(|p| p.app == name)
                .map(|p| vec![p])
                .ok_or_else(|| {
                    format!(
                        "App `{name}` is not built from `{}/{}`. Apps of this repository: {}.",
                        implied.owner,
                        implied.repo,
                        config
                            .apps_for_repo(&implied.owner, &implied.repo)
                            .map(|(n, _)| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        }
        (Some(Target::Branch { app, branch }), _) => {
            named_app(config, app.as_str(), Subject::Branch(branch.clone())).map(|p| vec![p])
        }
        (Some(Target::App { app }), None) => Err(format!(
            "Which pull request? Write `{}#N` (for example `{prefix} up {}#42`).",
            app.as_str(),
            app.as_str()
        )),
        (None, Some(implied)) => by_repo(&implied.owner, &implied.repo, implied.pr),
        (None, None) => Err(format!(
            "Name the preview: `APP#N`, `APP pr-N`, `OWNER/REPO#N` or a PR URL, for example `{prefix} up {}#42`.",
            config
                .apps
                .keys()
                .next()
                .map(String::as_str)
                .unwrap_or("app")
        )),
    }
}

/// The previews of every app built from `owner/repo` for `subject`.
pub fn of_repository(
    config: &Config,
    owner: &str,
    repo: &str,
    subject: &Subject,
) -> Vec<PreviewRef> {
    config
        .apps_for_repo(owner, repo)
        .map(|(name, app)| {
            let (o, r) = app.owner_repo();
            PreviewRef {
                app: name.to_string(),
                owner: o.to_string(),
                repo: r.to_string(),
                subject: subject.clone(),
            }
        })
        .collect()
}

/// The preview of app `name` (from its configured repository) for `subject`.
fn named_app(config: &Config, name: &str, subject: Subject) -> Result<PreviewRef, String> {
    let app = config
        .apps
        .get(name)
        .ok_or_else(|| unknown_app(config, name))?;
    let (owner, repo) = app.owner_repo();
    Ok(PreviewRef {
        app: name.to_string(),
        owner: owner.to_string(),
        repo: repo.to_string(),
        subject,
    })
}

fn known_apps(config: &Config) -> String {
    config
        .apps
        .keys()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_app(config: &Config, name: &str) -> String {
    let nearest = config
        .apps
        .keys()
        .map(|k| (strsim::levenshtein(k, name), k))
        .filter(|(d, _)| *d <= 2)
        .min();
    let hint = nearest
        .map(|(_, k)| format!(" Did you mean `{k}`?"))
        .unwrap_or_default();
    format!(
        "Unknown app `{name}`.{hint} Configured apps: {}.",
        known_apps(config)
    )
}

/// Does the action change anything (and so go to the audit log)?
pub fn changes_state(action: &Action) -> bool {
    !matches!(
        action,
        Action::Help { .. }
            | Action::Status
            | Action::List { .. }
            | Action::Logs { .. }
            | Action::KillSwitch(KillSwitch::Status)
    )
}

/// The previews of a command, as the audit log names them.
pub fn audit_target(action: &Action, previews: &[PreviewRef]) -> String {
    if matches!(action, Action::KillSwitch(_)) {
        return "all previews".into();
    }
    previews
        .iter()
        .map(|p| p.id().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs one command on the previews `resolve` found, after checking the sender may; one
/// outcome per preview (none for events that had nothing to do). Changes are audited, and so
/// are refused attempts at them.
pub async fn execute(
    engine: &Engine,
    command: &Command,
    previews: &[PreviewRef],
    origin: &Origin,
) -> Vec<Outcome> {
    let audited = changes_state(&command.action);
    let audit = |outcome: AuditOutcome, detail: String| async move {
        if audited {
            let target = audit_target(&command.action, previews);
            engine
                .audit
                .record(origin, &command.to_string(), &target, outcome, &detail)
                .await;
        }
    };
    if let Err(denial) = engine
        .policy
        .authorize(origin, &command.action, previews)
        .await
    {
        audit(AuditOutcome::Denied, denial.clone()).await;
        return vec![Outcome::refused(denial)];
    }
    let record = |outcomes: Vec<Outcome>| async move {
        if let Some(first) = outcomes.first() {
            match outcomes.iter().find(|o| !o.ok) {
                Some(failed) => audit(AuditOutcome::Refused, failed.text.clone()).await,
                None => audit(AuditOutcome::Succeeded, first.text.clone()).await,
            }
        }
    };
    let work = run(engine, command, previews, origin);
    // One preview: its outcome is the command's, and may be audited while the operation
    // still saves and reports it.
    if audited && previews.len() == 1 {
        return crate::audit::while_running(work, record).await;
    }
    let outcomes = work.await;
    record(outcomes.clone()).await;
    outcomes
}

async fn run(
    engine: &Engine,
    command: &Command,
    previews: &[PreviewRef],
    origin: &Origin,
) -> Vec<Outcome> {
    let prefix = &engine.config.bot.command_prefix;
    match &command.action {
        Action::Help { topic } => vec![Outcome::ok(preview_commands::help(
            topic.as_deref(),
            prefix,
        ))],
        Action::KillSwitch(kill_switch) => {
            vec![killswitch::run(engine, kill_switch, origin, false).await]
        }
        Action::List { mine, app } => {
            let owner = mine.then(|| origin.actor());
            vec![
                engine
                    .list(app.as_ref().map(|a| a.as_str()), owner.as_deref())
                    .await,
            ]
        }
        action => {
            let mut outcomes = Vec::with_capacity(previews.len());
            for preview in previews {
                let outcome = match action {
                    Action::Up { ttl } => {
                        engine
                            .up(
                                preview,
                                origin,
                                UpOptions {
                                    ttl: *ttl,
                                    ..UpOptions::default()
                                },
                            )
                            .await
                    }
                    Action::Redeploy => {
                        let options = UpOptions {
                            restart: true,
                            ..UpOptions::default()
                        };
                        engine.up(preview, origin, options).await
                    }
                    Action::Down => engine.down(preview, origin, false).await,
                    Action::Status => Some(engine.status(preview).await),
                    Action::Point { routes } => Some(engine.point(preview, routes, origin).await),
                    Action::Seed { dataset } => {
                        Some(engine.seed(preview, dataset.as_deref(), origin).await)
                    }
                    Action::Logs { component, tail } => {
                        Some(engine.logs(preview, component.as_deref(), *tail).await)
                    }
                    Action::Extend { by } => Some(engine.extend(preview, *by, origin).await),
                    Action::Pin => Some(engine.pin(preview, origin).await),
                    Action::Unpin => Some(engine.unpin(preview, origin).await),
                    // Answered above, once for all previews.
                    Action::Help { .. } | Action::List { .. } | Action::KillSwitch(_) => None,
                };
                outcomes.extend(outcome);
            }
            outcomes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use preview_commands::parse;

    const CONFIG: &str = r#"
[bot]
public_url = "https://preview-bot.example.com"
[domains]
base = "preview.example.com"
[apps.api]
repo = "acme/shop"
manifests = { dir = "api/deploy" }
[apps.web]
repo = "acme/shop"
manifests = { dir = "web/deploy" }
[apps.payments]
repo = "acme/payments"
manifests = { dir = "deploy" }
"#;

    fn run(text: &str, implied: Option<&Implied>) -> Result<Vec<String>, String> {
        let config = Config::parse(CONFIG, "test.toml").expect("config");
        let command = parse(text).map_err(|e| e.to_string())?;
        resolve(&config, command.target.as_ref(), implied).map(|previews| {
            previews
                .iter()
                .map(|p| {
                    format!(
                        "{}:{}/{}{}",
                        p.app,
                        p.owner,
                        p.repo,
                        &p.id().to_string()[p.app.len()..]
                    )
                })
                .collect()
        })
    }

    #[test]
    fn targets_resolve_to_configured_apps() {
        let pr = Implied {
            owner: "acme".into(),
            repo: "shop".into(),
            pr: 7,
        };
        assert_eq!(
            run("up payments#3", None),
            Ok(vec!["payments:acme/payments#3".into()])
        );
        assert_eq!(
            run("up acme/shop#7", None),
            Ok(vec!["api:acme/shop#7".into(), "web:acme/shop#7".into()])
        );
        assert_eq!(
            run("up https://github.com/Acme/Shop/pull/7", None).map(|v| v.len()),
            Ok(2)
        );
        assert_eq!(
            run("up", Some(&pr)),
            Ok(vec!["api:acme/shop#7".into(), "web:acme/shop#7".into()])
        );
        assert_eq!(run("up web", Some(&pr)), Ok(vec!["web:acme/shop#7".into()]));
        assert_eq!(
            run("up web api", Some(&pr)),
            Ok(vec!["web:acme/shop#7".into(), "api:acme/shop#7".into()])
        );
        assert_eq!(
            run("down web#7 payments pr-3 acme/shop#7", None),
            Ok(vec![
                "web:acme/shop#7".into(),
                "payments:acme/payments#3".into(),
                "api:acme/shop#7".into()
            ]),
            "duplicates through a repository target are deployed once"
        );
        assert!(
            run("up web payments", Some(&pr)).is_err(),
            "every target must resolve"
        );
    }

    #[test]
    fn branch_targets_name_the_apps_repository() {
        assert_eq!(
            run("up web@feature/login", None),
            Ok(vec!["web:acme/shop@feature/login".into()])
        );
        assert!(run("up wbe@main", None).is_err_and(|e| e.contains("Did you mean `web`")));
        assert!(!needs_target(
            &parse("kill-switch status").expect("parses").action
        ));
        assert!(needs_target(&parse("pin").expect("parses").action));
    }

    #[test]
    fn resolution_errors() {
        let pr = Implied {
            owner: "acme".into(),
            repo: "shop".into(),
            pr: 7,
        };
        let errors = [
            run("up paymnts#3", None),
            run("up other/repo#1", None),
            run("up payments", Some(&pr)),
            run("up web", None),
            run("up", None),
        ]
        .map(|r| r.expect_err("an error"));
        insta::assert_snapshot!(errors.join("\n---\n"));
    }
}
