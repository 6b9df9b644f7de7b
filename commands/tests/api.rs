//! The API as the bot uses it: exhaustive matches and the calls it makes. If this stops
//! compiling, the bot does too.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use preview_commands::{
    Action, Command, Destination, FreezeMode, KillSwitch, ParseOptions, Target, UserError,
    action_name, needs_target,
};

fn describe(command: &Command) -> String {
    let target = match &command.target {
        Some(Target::AppPr { app, pr }) => format!("{}#{}", app.as_str(), pr.get()),
        Some(Target::RepoPr { owner, repo, pr }) => format!("{owner}/{repo}#{pr}"),
        Some(Target::App { app }) => app.to_string(),
        Some(Target::Branch { app, branch }) => format!("{app}@{branch}"),
        Some(Target::Many(targets)) => format!("{} targets", targets.len()),
        None => String::new(),
    };
    let action = match &command.action {
        Action::Up { ttl } => format!("up {ttl:?}"),
        Action::Redeploy => "redeploy".into(),
        Action::Down => "down".into(),
        Action::Status => "status".into(),
        Action::List { mine, app } => format!("list {mine} {:?}", app.as_ref().map(|a| a.as_str())),
        Action::Point { routes } => routes
            .iter()
            .map(|r| match &r.destination {
                Destination::Pr(pr) => format!("{}->pr{}", r.service.as_str(), pr.get()),
                Destination::AppPr { app, pr } => format!("{}->{app}#{pr}", r.service),
                Destination::AppBranch { app, branch } => {
                    format!("{}->{app}@{branch}", r.service)
                }
                Destination::Staging => format!("{}->staging", r.service),
                Destination::Default => format!("{}->default", r.service),
            })
            .collect::<Vec<_>>()
            .join(","),
        Action::Seed { dataset } => format!("seed {dataset:?}"),
        Action::Logs { component, tail } => format!("logs {component:?} {tail:?}"),
        Action::Extend { by } => format!("extend {by:?}"),
        Action::Pin => "pin".into(),
        Action::Unpin => "unpin".into(),
        Action::KillSwitch(KillSwitch::On { reason, mode }) => {
            let mode = match mode {
                FreezeMode::Freeze => "freeze",
                FreezeMode::ScaleToZero => "scale-to-zero",
                FreezeMode::Teardown => "teardown",
            };
            format!("kill-switch on {reason:?} {mode}")
        }
        Action::KillSwitch(KillSwitch::Off { restore }) => format!("kill-switch off {restore}"),
        Action::KillSwitch(KillSwitch::Status) => "kill-switch status".into(),
        Action::Help { topic } => {
            preview_commands::help(topic.as_deref(), preview_commands::DEFAULT_PREFIX)
        }
    };
    format!("{action} {target}")
}

#[test]
fn bot_usage_compiles_and_works() {
    let command = preview_commands::parse("up collect#42").unwrap();
    assert!(needs_target(&command.action));
    assert_eq!(action_name(&command.action), "up");
    assert_eq!(describe(&command), "up None collect#42");
    let results: Vec<Result<Command, UserError>> =
        preview_commands::commands_in_comment("/preview list", "/preview");
    assert_eq!(results.len(), 1);
    let e: UserError = preview_commands::parse_line("/preview upp", "/preview")
        .unwrap()
        .unwrap_err();
    assert!(
        e.render("/preview")
            .replace('\n', "\n  ")
            .contains("Did you mean `up`?")
    );
    let options = ParseOptions {
        max_ttl: Some(Duration::from_secs(7 * 86400)),
    };
    assert!(preview_commands::parse_with("up --ttl 8d", &options).is_err());
    assert!(
        preview_commands::parse_line_with("/preview extend 8d", "/preview", &options)
            .unwrap()
            .is_err()
    );
    assert_eq!(
        preview_commands::commands_in_comment_with("/preview up --ttl 8d", "/preview", &options)
            .len(),
        1
    );
}

#[test]
fn every_action_described() {
    for (text, described) in [
        (
            "point web#1 api=pr-2 db=shop#3",
            "api->pr2,db->shop#3 web#1",
        ),
        ("point api=staging x=default", "api->staging,x->default "),
        ("seed web@main demo", "seed Some(\"demo\") web@main"),
        ("logs worker --tail 5", "logs Some(\"worker\") Some(5) "),
        ("extend 4h", "extend Some(14400s) "),
        ("pin", "pin "),
        ("unpin a#1", "unpin a#1"),
        (
            "kill-switch on x --teardown",
            "kill-switch on Some(\"x\") teardown ",
        ),
        ("kill-switch on", "kill-switch on None freeze "),
        ("kill-switch off --restore", "kill-switch off true "),
        ("kill-switch status", "kill-switch status "),
    ] {
        assert_eq!(
            describe(&preview_commands::parse(text).unwrap()),
            described,
            "{text}"
        );
    }
}

#[test]
fn needs_target_and_names() {
    for (text, name, targeted) in [
        ("up", "up", true),
        ("down", "down", true),
        ("redeploy", "redeploy", true),
        ("status", "status", true),
        ("list", "list", false),
        ("point a=pr-1", "point", true),
        ("seed", "seed", true),
        ("logs", "logs", true),
        ("extend", "extend", true),
        ("pin", "pin", true),
        ("unpin", "unpin", true),
        ("kill-switch on", "kill-switch", false),
        ("kill-switch off", "kill-switch", false),
        ("kill-switch status", "kill-switch", false),
        ("help", "help", false),
    ] {
        let action = preview_commands::parse(text).unwrap().action;
        assert_eq!(action_name(&action), name, "{text}");
        assert_eq!(action.name(), name, "{text}");
        assert_eq!(needs_target(&action), targeted, "{text}");
    }
}
