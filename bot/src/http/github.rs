//! `POST /github/webhook`: PR labels, pushes and closes, and `/preview` lines in PR comments.

use super::{header, text};
use crate::bot::Bot;
use crate::dispatch::{self, Implied};
use crate::engine::{PreviewRef, UpOptions};
use crate::metrics::{CommandOutcome, Source};
use crate::notify::reaction;
use crate::origin::Origin;
use crate::signature::verify_github;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use preview_commands::Action;
use preview_deploy::ops::AuditOutcome;
use serde::Deserialize;
use std::sync::Arc;
use tracing::Instrument;

#[derive(Debug, Deserialize)]
struct User {
    login: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Repository {
    name: String,
    owner: User,
}

#[derive(Debug, Deserialize)]
struct Installation {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct Label {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Head {
    sha: String,
}

#[derive(Debug, Deserialize)]
struct PullRequest {
    head: Head,
    #[serde(default)]
    labels: Vec<Label>,
}

/// `push` (GitHub docs: webhook-events-and-payloads#push): only what a branch preview needs.
#[derive(Debug, Deserialize)]
struct PushEvent {
    #[serde(rename = "ref")]
    reference: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    repository: Repository,
    sender: User,
    #[serde(default)]
    installation: Option<Installation>,
}

#[derive(Debug, Deserialize)]
struct PullRequestEvent {
    action: String,
    number: u64,
    pull_request: PullRequest,
    #[serde(default)]
    label: Option<Label>,
    repository: Repository,
    sender: User,
    #[serde(default)]
    installation: Option<Installation>,
}

#[derive(Debug, Deserialize)]
struct Issue {
    number: u64,
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: String,
    user: User,
}

#[derive(Debug, Deserialize)]
struct IssueCommentEvent {
    action: String,
    issue: Issue,
    comment: Comment,
    repository: Repository,
    sender: User,
    #[serde(default)]
    installation: Option<Installation>,
}

pub(super) async fn webhook(
    State(bot): State<Arc<Bot>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = &bot.github_webhook_secret else {
        return text(
            StatusCode::NOT_FOUND,
            "GitHub is not configured (GITHUB_WEBHOOK_SECRET is unset)",
        );
    };
    if let Err(e) = verify_github(
        secret.expose(),
        header(&headers, "x-hub-signature-256"),
        &body,
    ) {
        tracing::warn!(error = %e, "github delivery refused");
        bot.engine.metrics.signature_failure("github");
        return text(
            StatusCode::UNAUTHORIZED,
            format!("invalid GitHub signature: {e}"),
        );
    }
    let Some(event) = header(&headers, "x-github-event") else {
        return text(StatusCode::BAD_REQUEST, "missing X-GitHub-Event header");
    };
    if let Some(delivery) = header(&headers, "x-github-delivery") {
        if !bot.first_delivery(delivery) {
            return text(StatusCode::OK, "duplicate delivery ignored");
        }
        // Another replica may have had it: the cluster remembers for all of them.
        match bot.engine.ops.claim_delivery(delivery).await {
            Ok(true) => {}
            Ok(false) => return text(StatusCode::OK, "duplicate delivery ignored"),
            Err(e) => {
                tracing::warn!(error = %e, %delivery, "delivery not recorded in the cluster; handling it anyway");
            }
        }
    }
    match event {
        "ping" => text(StatusCode::OK, "pong"),
        "pull_request" => match serde_json::from_slice::<PullRequestEvent>(&body) {
            Ok(payload) => pull_request(&bot, payload),
            Err(e) => text(
                StatusCode::BAD_REQUEST,
                format!("unexpected pull_request payload: {e}"),
            ),
        },
        "issue_comment" => match serde_json::from_slice::<IssueCommentEvent>(&body) {
            Ok(payload) => issue_comment(&bot, payload),
            Err(e) => text(
                StatusCode::BAD_REQUEST,
                format!("unexpected issue_comment payload: {e}"),
            ),
        },
        "push" => match serde_json::from_slice::<PushEvent>(&body) {
            Ok(payload) => push(&bot, payload),
            Err(e) => text(
                StatusCode::BAD_REQUEST,
                format!("malformed push payload: {e}"),
            ),
        },
        other => text(StatusCode::OK, format!("event `{other}` ignored")),
    }
}

fn note_installation(bot: &Bot, repository: &Repository, installation: &Option<Installation>) {
    if let (Some(github), Some(installation)) = (bot.engine.source.github(), installation)
        && let Err(e) =
            github.note_installation(&repository.owner.login, &repository.name, installation.id)
    {
        tracing::warn!(error = %e, "github installation client failed");
    }
}

/// A push redeploys the branch previews of that branch (never creates one: `up APP@BRANCH`
/// does); a deleted branch takes its previews down. PR previews follow `synchronize` instead.
fn push(bot: &Arc<Bot>, event: PushEvent) -> Response {
    let Some(branch) = event.reference.strip_prefix("refs/heads/") else {
        return text(
            StatusCode::OK,
            format!("push to `{}` needs nothing", event.reference),
        );
    };
    let owner = event.repository.owner.login.clone();
    let repo = event.repository.name.clone();
    let previews = dispatch::of_repository(
        &bot.engine.config,
        &owner,
        &repo,
        &preview_deploy::Subject::Branch(branch.to_string()),
    );
    if previews.is_empty() {
        return text(
            StatusCode::OK,
            format!("no app is configured for {owner}/{repo}"),
        );
    }
    note_installation(bot, &event.repository, &event.installation);
    let origin = Origin::Push {
        owner,
        repo,
        branch: branch.to_string(),
        actor: event.sender.login,
    };
    let engine = bot.engine.clone();
    let (sha, deleted) = (event.after, event.deleted);
    let span = tracing::info_span!(
        "push",
        previews = %crate::engine::ids(&previews),
        actor = %origin.actor(),
    );
    let work = async move {
        for preview in &previews {
            let outcome = if deleted {
                engine.down(preview, &origin, true).await
            } else {
                let options = UpOptions {
                    sha: Some(sha.clone()),
                    only_if_exists: true,
                    ..UpOptions::default()
                };
                engine.up(preview, &origin, options).await
            };
            let Some(outcome) = outcome else { continue };
            engine
                .audit
                .record(
                    &origin,
                    if deleted {
                        "push (branch deleted)"
                    } else {
                        "push"
                    },
                    &preview.id().to_string(),
                    if outcome.ok {
                        AuditOutcome::Succeeded
                    } else {
                        AuditOutcome::Refused
                    },
                    &outcome.text,
                )
                .await;
            if !outcome.ok {
                // No PR to answer on: the preview's thread hears it.
                tracing::warn!(preview = %preview.id(), text = %outcome.text, "push not deployed");
            }
        }
    };
    bot.background
        .spawn(tracing::Instrument::instrument(work, span));
    text(StatusCode::ACCEPTED, "push queued")
}

fn pull_request(bot: &Arc<Bot>, event: PullRequestEvent) -> Response {
    let config = &bot.engine.config;
    let trigger = &config.github.trigger_label;
    let has_trigger = event.pull_request.labels.iter().any(|l| &l.name == trigger);
    enum Step {
        Up { only_if_exists: bool },
        Down,
    }
    let step = match event.action.as_str() {
        "labeled" if event.label.as_ref().is_some_and(|l| &l.name == trigger) => Step::Up {
            only_if_exists: false,
        },
        "opened" | "reopened" if has_trigger => Step::Up {
            only_if_exists: false,
        },
        "synchronize" => Step::Up {
            only_if_exists: true,
        },
        "closed" => Step::Down,
        action => {
            return text(
                StatusCode::OK,
                format!("pull_request `{action}` needs nothing"),
            );
        }
    };
    let owner = event.repository.owner.login.clone();
    let repo = event.repository.name.clone();
    let previews: Vec<PreviewRef> = match dispatch::resolve(
        config,
        None,
        Some(&Implied {
            owner: owner.clone(),
            repo: repo.clone(),
            pr: event.number,
        }),
    ) {
        Ok(previews) => previews,
        Err(_) => {
            return text(
                StatusCode::OK,
                format!("no app is configured for {owner}/{repo}"),
            );
        }
    };
    note_installation(bot, &event.repository, &event.installation);
    let origin = Origin::GitHub {
        owner,
        repo,
        pr: event.number,
        comment_id: None,
        actor: event.sender.login,
    };
    let engine = bot.engine.clone();
    let sha = event.pull_request.head.sha;
    let audit_action = format!("pull_request {}", event.action);
    let span = tracing::info_span!(
        "pull_request",
        action = %event.action,
        previews = %crate::engine::ids(&previews),
        actor = %origin.actor(),
    );
    let work = async move {
        for preview in &previews {
            let outcome = match step {
                Step::Up { only_if_exists } => {
                    let options = UpOptions {
                        sha: Some(sha.clone()),
                        only_if_exists,
                        ..UpOptions::default()
                    };
                    engine.up(preview, &origin, options).await
                }
                Step::Down => engine.down(preview, &origin, true).await,
            };
            let Some(outcome) = outcome else { continue };
            let audit_outcome = if outcome.ok {
                AuditOutcome::Succeeded
            } else {
                AuditOutcome::Refused
            };
            engine
                .audit
                .record(
                    &origin,
                    &audit_action,
                    &preview.id().to_string(),
                    audit_outcome,
                    &outcome.text,
                )
                .await;
            // Refusals (closed PR, limits, kill switch) are said on the PR; successes show in
            // the sticky comment.
            if !outcome.ok {
                engine.notifier.reply(&origin, &outcome.text).await;
            }
        }
        tracing::info!("pull request event handled");
    };
    bot.background.spawn(work.instrument(span));
    text(StatusCode::ACCEPTED, "accepted")
}

fn issue_comment(bot: &Arc<Bot>, event: IssueCommentEvent) -> Response {
    if event.action != "created" {
        return text(StatusCode::OK, "only new comments are read");
    }
    if event.issue.pull_request.is_none() {
        return text(StatusCode::OK, "not a pull request");
    }
    if event.sender.kind.as_deref() == Some("Bot")
        || event.comment.user.kind.as_deref() == Some("Bot")
    {
        return text(StatusCode::OK, "comments by bots are ignored");
    }
    let prefix = bot.engine.config.bot.command_prefix.clone();
    let commands = preview_commands::commands_in_comment_with(
        &event.comment.body,
        &prefix,
        &bot.engine.parse_options(),
    );
    if commands.is_empty() {
        return text(StatusCode::OK, "no commands");
    }
    note_installation(bot, &event.repository, &event.installation);
    let implied = Implied {
        owner: event.repository.owner.login.clone(),
        repo: event.repository.name.clone(),
        pr: event.issue.number,
    };
    let origin = Origin::GitHub {
        owner: implied.owner.clone(),
        repo: implied.repo.clone(),
        pr: implied.pr,
        comment_id: Some(event.comment.id),
        actor: event.sender.login,
    };
    let engine = bot.engine.clone();
    let span = tracing::info_span!(
        "pr_comment",
        repo = %format!("{}/{}", implied.owner, implied.repo),
        pr = implied.pr,
        comment = event.comment.id,
        actor = %origin.actor(),
    );
    let work = async move {
        engine.notifier.react(&origin, reaction::SEEN).await;
        for parsed in commands {
            let command = match parsed {
                Ok(command) => command,
                Err(e) => {
                    let metrics = &engine.metrics;
                    metrics.command("unparsed", CommandOutcome::Invalid, Source::GitHub);
                    engine.notifier.reply(&origin, &e.render(&prefix)).await;
                    engine.notifier.react(&origin, reaction::FAILURE).await;
                    continue;
                }
            };
            let previews =
                match dispatch::resolve(&engine.config, command.target.as_ref(), Some(&implied)) {
                    Ok(previews) => previews,
                    Err(message) if dispatch::needs_target(&command.action) => {
                        let (metrics, name) = (&engine.metrics, command.action.name());
                        metrics.command(name, CommandOutcome::Invalid, Source::GitHub);
                        engine.notifier.reply(&origin, &message).await;
                        engine.notifier.react(&origin, reaction::FAILURE).await;
                        continue;
                    }
                    Err(_) => Vec::new(),
                };
            // Answers that are the point of the command; other successes show in the sticky
            // comment. The lifetime commands answer too: "kept until 14:00" is news.
            let answers_in_comment = matches!(
                command.action,
                Action::Status
                    | Action::Help { .. }
                    | Action::List { .. }
                    | Action::Logs { .. }
                    | Action::KillSwitch(_)
                    | Action::Extend { .. }
                    | Action::Pin
                    | Action::Unpin
            );
            let outcomes = dispatch::execute(&engine, &command, &previews, &origin).await;
            for outcome in &outcomes {
                if answers_in_comment || !outcome.ok {
                    engine.notifier.reply(&origin, &outcome.text).await;
                }
            }
            let all_ok = outcomes.iter().all(|o| o.ok);
            let (metrics, name) = (&engine.metrics, command.action.name());
            metrics.command(name, CommandOutcome::of(all_ok), Source::GitHub);
            let ids = crate::engine::ids(&previews);
            tracing::info!(command = name, previews = %ids, ok = all_ok, "command finished");
            let outcome_reaction = if all_ok {
                reaction::SUCCESS
            } else {
                reaction::FAILURE
            };
            engine.notifier.react(&origin, outcome_reaction).await;
        }
    };
    bot.background.spawn(work.instrument(span));
    text(StatusCode::ACCEPTED, "accepted")
}
