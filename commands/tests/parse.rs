//! Every command, target form, flag form and error case of the grammar.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use preview_commands::{
    Action, AppName, Command, ErrorKind, PrNumber, Target, commands_in_comment, parse, parse_line,
};

fn app(s: &str) -> AppName {
    AppName::new(s).unwrap()
}
fn pr(n: u64) -> PrNumber {
    PrNumber::new(n).unwrap()
}
fn app_pr(a: &str, n: u64) -> Option<Target> {
    Some(Target::AppPr {
        app: app(a),
        pr: pr(n),
    })
}
fn cmd(action: Action, target: Option<Target>) -> Command {
    Command { action, target }
}
fn kind(text: &str) -> ErrorKind {
    parse(text).unwrap_err().kind().clone()
}
fn hours(h: u64) -> Option<Duration> {
    Some(Duration::from_secs(h * 3600))
}

#[test]
fn empty_text_is_help() {
    for text in ["", "   ", "\t\n"] {
        assert_eq!(parse(text), Ok(cmd(Action::Help { topic: None }, None)));
    }
}

#[test]
fn up() {
    assert_eq!(parse("up"), Ok(cmd(Action::Up { ttl: None }, None)));
    assert_eq!(
        parse("up collect#42"),
        Ok(cmd(Action::Up { ttl: None }, app_pr("collect", 42)))
    );
    assert_eq!(
        parse("up collect#42 --ttl 4h"),
        Ok(cmd(Action::Up { ttl: hours(4) }, app_pr("collect", 42)))
    );
    assert_eq!(
        parse("up collect#42 --ttl=4h"),
        Ok(cmd(Action::Up { ttl: hours(4) }, app_pr("collect", 42)))
    );
    assert_eq!(
        parse("up --ttl 4h collect#42"),
        Ok(cmd(Action::Up { ttl: hours(4) }, app_pr("collect", 42)))
    );
    assert_eq!(
        parse("up --ttl 4h"),
        Ok(cmd(Action::Up { ttl: hours(4) }, None))
    );
    assert_eq!(
        parse("up —ttl 4h"),
        Ok(cmd(Action::Up { ttl: hours(4) }, None)),
        "autocorrected dash"
    );
    assert_eq!(
        parse("up --TTL 4h"),
        Ok(cmd(Action::Up { ttl: hours(4) }, None))
    );
    assert_eq!(
        parse("UP collect#42"),
        Ok(cmd(Action::Up { ttl: None }, app_pr("collect", 42)))
    );
    assert_eq!(
        parse("up --ttl \"1h30m\""),
        Ok(cmd(
            Action::Up {
                ttl: Some(Duration::from_secs(5400))
            },
            None
        ))
    );
}

#[test]
fn down_redeploy_status() {
    assert_eq!(parse("down"), Ok(cmd(Action::Down, None)));
    assert_eq!(
        parse("down collect#42"),
        Ok(cmd(Action::Down, app_pr("collect", 42)))
    );
    assert_eq!(parse("redeploy"), Ok(cmd(Action::Redeploy, None)));
    assert_eq!(
        parse("redeploy collect pr-42"),
        Ok(cmd(Action::Redeploy, app_pr("collect", 42)))
    );
    assert_eq!(parse("status"), Ok(cmd(Action::Status, None)));
    assert_eq!(
        parse(" status\u{a0}collect#7 "),
        Ok(cmd(Action::Status, app_pr("collect", 7)))
    );
}

#[test]
fn list() {
    let list = |mine, a: Option<&str>| {
        Ok(cmd(
            Action::List {
                mine,
                app: a.map(app),
            },
            None,
        ))
    };
    assert_eq!(parse("list"), list(false, None));
    assert_eq!(parse("list --mine"), list(true, None));
    assert_eq!(parse("list --app collect"), list(false, Some("collect")));
    assert_eq!(
        parse("list --app=collect --mine"),
        list(true, Some("collect"))
    );
    assert_eq!(
        parse("list --mine --app collect"),
        list(true, Some("collect"))
    );
}

#[test]
fn help() {
    assert_eq!(parse("help"), Ok(cmd(Action::Help { topic: None }, None)));
    assert_eq!(
        parse("help up"),
        Ok(cmd(
            Action::Help {
                topic: Some("up".into())
            },
            None
        ))
    );
    assert_eq!(
        parse("help upp"),
        Ok(cmd(
            Action::Help {
                topic: Some("upp".into())
            },
            None
        ))
    );
    assert_eq!(
        parse("help \"a b\""),
        Ok(cmd(
            Action::Help {
                topic: Some("a b".into())
            },
            None
        ))
    );
}

#[test]
fn target_forms() {
    let repo = |o: &str, r: &str, n| {
        Some(Target::RepoPr {
            owner: o.into(),
            repo: r.into(),
            pr: pr(n),
        })
    };
    let status = |text: &str| parse(&format!("status {text}")).map(|c| c.target);
    assert_eq!(status("collect#42"), Ok(app_pr("collect", 42)));
    assert_eq!(status("collect pr-42"), Ok(app_pr("collect", 42)));
    assert_eq!(status("collect PR-42"), Ok(app_pr("collect", 42)));
    assert_eq!(status("collect #42"), Ok(app_pr("collect", 42)));
    assert_eq!(status("acme/collect#42"), Ok(repo("acme", "collect", 42)));
    assert_eq!(
        status("https://github.com/acme/collect/pull/42"),
        Ok(repo("acme", "collect", 42))
    );
    assert_eq!(
        status("http://www.github.com/acme/collect/pull/42/files"),
        Ok(repo("acme", "collect", 42))
    );
    assert_eq!(
        status("<https://github.com/acme/collect/pull/42>"),
        Ok(repo("acme", "collect", 42))
    );
    assert_eq!(
        status("collect"),
        Ok(Some(Target::App {
            app: app("collect")
        }))
    );
    assert_eq!(
        status(&"a".repeat(40)),
        Ok(Some(Target::App {
            app: app(&"a".repeat(40))
        }))
    );
}

#[test]
fn bad_targets() {
    for text in [
        "up collect#0",
        "up collect#abc",
        "up Collect#1",
        "up ../x#1",
        "up https://gitlab.com/acme/collect/pull/42",
        "up https://github.com/acme/collect/issues/42",
        "up pr-42",
        "up #42",
        "up 42",
        "up acme/collect",
        "up Collect pr-1",
        "up collect pr-0",
        &format!("up {}#1", "a".repeat(41)),
    ] {
        assert!(
            matches!(kind(text), ErrorKind::BadTarget { command: "up", .. }),
            "{text}"
        );
    }
    assert_eq!(
        kind("up Collect#1"),
        ErrorKind::BadTarget {
            command: "up",
            word: "Collect#1".into(),
            reason: "app names are lowercase".into(),
            suggestion: Some("collect#1".into()),
        }
    );
    assert_eq!(
        kind("up Collect pr-1"),
        ErrorKind::BadTarget {
            command: "up",
            word: "Collect pr-1".into(),
            reason: "app names are lowercase".into(),
            suggestion: Some("collect pr-1".into()),
        }
    );
}

#[test]
fn command_errors() {
    assert_eq!(
        kind("upp"),
        ErrorKind::UnknownCommand {
            word: "upp".into(),
            suggestion: Some("up")
        }
    );
    assert_eq!(
        kind("deploy"),
        ErrorKind::UnknownCommand {
            word: "deploy".into(),
            suggestion: Some("redeploy")
        }
    );
    assert_eq!(
        kind("frobnicate"),
        ErrorKind::UnknownCommand {
            word: "frobnicate".into(),
            suggestion: None
        }
    );
    assert_eq!(
        kind("\"up\""),
        ErrorKind::UnknownCommand {
            word: "up".into(),
            suggestion: Some("up")
        }
    );
    assert_eq!(
        kind("collect#42"),
        ErrorKind::MissingCommand {
            word: "collect#42".into(),
            looks_like_target: true
        }
    );
    assert_eq!(
        kind("--ttl 4h"),
        ErrorKind::MissingCommand {
            word: "--ttl".into(),
            looks_like_target: false
        }
    );
}

#[test]
fn flag_errors() {
    assert_eq!(
        kind("up --tll 4h"),
        ErrorKind::UnknownFlag {
            command: "up",
            flag: "--tll".into(),
            suggestion: Some("--ttl".into())
        }
    );
    assert_eq!(
        kind("up -ttl 4h"),
        ErrorKind::UnknownFlag {
            command: "up",
            flag: "-ttl".into(),
            suggestion: Some("--ttl".into())
        }
    );
    assert_eq!(
        kind("up --force"),
        ErrorKind::UnknownFlag {
            command: "up",
            flag: "--force".into(),
            suggestion: None
        }
    );
    assert_eq!(
        kind("up --mine"),
        ErrorKind::FlagNotAccepted {
            command: "up",
            flag: "--mine".into()
        }
    );
    assert_eq!(
        kind("down --ttl 4h"),
        ErrorKind::FlagNotAccepted {
            command: "down",
            flag: "--ttl".into()
        }
    );
    assert_eq!(
        kind("list --ttl=4h"),
        ErrorKind::FlagNotAccepted {
            command: "list",
            flag: "--ttl".into()
        }
    );
    assert_eq!(
        kind("up --ttl 4h --ttl 2h"),
        ErrorKind::RepeatedFlag {
            command: "up",
            flag: "ttl"
        }
    );
    assert_eq!(
        kind("list --mine --mine"),
        ErrorKind::RepeatedFlag {
            command: "list",
            flag: "mine"
        }
    );
    assert_eq!(
        kind("up --ttl"),
        ErrorKind::MissingFlagValue {
            command: "up",
            flag: "ttl"
        }
    );
    assert_eq!(
        kind("up --ttl="),
        ErrorKind::MissingFlagValue {
            command: "up",
            flag: "ttl"
        }
    );
    assert_eq!(
        kind("list --app --mine"),
        ErrorKind::MissingFlagValue {
            command: "list",
            flag: "app"
        }
    );
    assert_eq!(
        kind("list --mine=yes"),
        ErrorKind::UnexpectedFlagValue {
            command: "list",
            flag: "mine"
        }
    );
    assert!(matches!(
        kind("up --ttl 4x"),
        ErrorKind::BadFlagValue { flag: "ttl", .. }
    ));
    assert!(matches!(
        kind("up --ttl 0m"),
        ErrorKind::BadFlagValue { flag: "ttl", .. }
    ));
    assert!(matches!(
        kind("up --ttl 30"),
        ErrorKind::BadFlagValue { flag: "ttl", .. }
    ));
    assert!(matches!(
        kind("up --ttl 99999999999999999999d"),
        ErrorKind::BadFlagValue { flag: "ttl", .. }
    ));
    assert!(matches!(
        kind("list --app Collect"),
        ErrorKind::BadFlagValue { flag: "app", .. }
    ));
    // A quoted word is a value, never a flag.
    assert!(matches!(kind("up \"--ttl\""), ErrorKind::BadTarget { .. }));
}

#[test]
fn extra_words() {
    let extra = |text: &str, word: &str, suggestion: Option<&str>| {
        assert_eq!(
            parse(text).unwrap_err().kind(),
            &ErrorKind::UnexpectedWord {
                command: parse(text).unwrap_err().command().unwrap(),
                word: word.into(),
                suggestion: suggestion.map(Into::into),
            },
            "{text}"
        );
    };
    extra("down collect#1 collect#2", "collect#2", None);
    extra("up collect#1 4h", "4h", Some("--ttl 4h"));
    extra("up collect 42", "42", Some("collect#42"));
    extra("list mine", "mine", Some("--mine"));
    extra("list collect", "collect", Some("--app collect"));
    extra("list collect#42", "collect#42", None);
    extra("help up down", "down", None);
}

#[test]
fn lexical_errors() {
    assert_eq!(
        kind("up \"collect"),
        ErrorKind::UnterminatedQuote {
            word: "\"collect".into()
        }
    );
    assert_eq!(kind("help \"\""), ErrorKind::EmptyQuotes);
    assert_eq!(kind(&"a".repeat(4001)), ErrorKind::TooLong);
    assert!(parse(&format!("help {}", "a".repeat(3995))).is_ok());
    assert_eq!(kind(&"é".repeat(4001)), ErrorKind::TooLong);
}

#[test]
fn lines() {
    assert_eq!(
        parse_line("/preview up collect#1", "/preview"),
        Some(parse("up collect#1"))
    );
    assert_eq!(parse_line("  /preview up\r", "/preview"), Some(parse("up")));
    assert_eq!(parse_line("/preview", "/preview"), Some(parse("")));
    assert_eq!(
        parse_line("/preview\tstatus", "/preview"),
        Some(parse("status"))
    );
    assert_eq!(parse_line("/previewer up", "/preview"), None);
    assert_eq!(parse_line("please /preview up", "/preview"), None);
    assert_eq!(parse_line("/pv up", "/pv"), Some(parse("up")));
    assert_eq!(parse_line("/preview up", ""), None);
    assert_eq!(parse_line("", "/preview"), None);
}

#[test]
fn comments() {
    let body = "Thanks!\r\n/preview up\r\n  /preview status collect#2\n> /preview down\n```\n/preview down\n```\n\
                ~~~~\n/preview down\n~~~\n/preview down\n~~~~\n/previewer x\n/preview upp\n";
    let got = commands_in_comment(body, "/preview");
    assert_eq!(
        got,
        vec![parse("up"), parse("status collect#2"), parse("upp")]
    );
    assert!(got[2].is_err());

    // An unclosed fence runs to the end.
    assert!(commands_in_comment("```sh\n/preview up\n", "/preview").is_empty());
    // A fence of backticks is not closed by tildes, nor by a shorter fence.
    assert!(commands_in_comment("````\n```\n~~~\n/preview up\n````x\n", "/preview").is_empty());
    assert_eq!(
        commands_in_comment("```\n```\n/preview up", "/preview").len(),
        1
    );
    assert!(commands_in_comment("", "/preview").is_empty());

    let many = "/preview status\n".repeat(15);
    let got = commands_in_comment(&many, "/preview");
    assert_eq!(got.len(), preview_commands::MAX_COMMANDS_PER_COMMENT + 1);
    assert_eq!(
        got.last().unwrap().as_ref().unwrap_err().kind(),
        &ErrorKind::TooManyCommands
    );
}

#[test]
fn display_is_canonical() {
    for (text, canonical) in [
        ("up", "up"),
        ("UP collect pr-42 --ttl=90m", "up collect#42 --ttl 1h30m"),
        (
            "up https://github.com/acme/collect/pull/42/files",
            "up acme/collect#42",
        ),
        ("status collect", "status collect"),
        ("list --app collect --mine", "list --mine --app collect"),
        ("help \"a b\"", "help \"a b\""),
        ("", "help"),
    ] {
        let command = parse(text).unwrap();
        assert_eq!(command.to_string(), canonical);
        assert_eq!(parse(canonical), Ok(command));
    }
}

#[test]
fn user_error_is_std_error() {
    let e: Box<dyn std::error::Error> = Box::new(parse("upp").unwrap_err());
    assert!(e.to_string().contains("Did you mean `up`?"));
    assert!(
        e.to_string()
            .ends_with("Run `/preview help` for all commands.")
    );
}
