//! The API as the bot uses it: exhaustive matches and the calls it makes. If this stops
//! compiling, the bot does too.
#![allow(clippy::unwrap_used)]

use preview_commands::{Action, Command, Target, UserError};

fn needs_target(action: &Action) -> bool {
    !matches!(action, Action::Help { .. } | Action::List { .. })
}

fn describe(command: &Command) -> String {
    let target = match &command.target {
        Some(Target::AppPr { app, pr }) => format!("{}#{}", app.as_str(), pr.get()),
        Some(Target::RepoPr { owner, repo, pr }) => format!("{owner}/{repo}#{pr}"),
        Some(Target::App { app }) => app.to_string(),
        None => String::new(),
    };
    let action = match &command.action {
        Action::Up { ttl } => format!("up {ttl:?}"),
        Action::Redeploy => "redeploy".into(),
        Action::Down => "down".into(),
        Action::Status => "status".into(),
        Action::List { mine, app } => format!("list {mine} {:?}", app.as_ref().map(|a| a.as_str())),
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
}
