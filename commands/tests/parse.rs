//! Every command, target form, flag form and error case of the grammar.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use preview_commands::{
    Action, AppName, Command, Destination, ErrorKind, FreezeMode, KillSwitch, ParseOptions,
    PrNumber, Route, ServiceName, Target, commands_in_comment, commands_in_comment_with, parse,
    parse_line, parse_line_with, parse_with,
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
    extra("seed collect#1 demo more", "more", None);
    extra("up collect#1 web 4h", "4h", Some("--ttl 4h"));
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
    assert!(parse(&format!("help{}up", " ".repeat(3994))).is_ok());
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

fn app_only(a: &str) -> Option<Target> {
    Some(Target::App { app: app(a) })
}
fn route(svc: &str, destination: Destination) -> Route {
    Route {
        service: ServiceName::new(svc).unwrap(),
        destination,
    }
}
fn bad_argument(text: &str) -> (&'static str, String, String, Option<String>) {
    match kind(text) {
        ErrorKind::BadArgument {
            arg,
            word,
            reason,
            suggestion,
            ..
        } => (arg, word, reason, suggestion),
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn branch_targets() {
    let branch = |a: &str, b: &str| {
        Some(Target::Branch {
            app: app(a),
            branch: b.into(),
        })
    };
    assert_eq!(
        parse("up collect@feature/login"),
        Ok(cmd(
            Action::Up { ttl: None },
            branch("collect", "feature/login")
        ))
    );
    assert_eq!(
        parse("status web@Fix_2.0").map(|c| c.target),
        Ok(branch("web", "Fix_2.0"))
    );
    for text in [
        "up @main",
        "up web@",
        "up web@a..b",
        "up web@a.lock",
        "up web@-x",
        "up web@/x",
        "up web@x/",
        "up Web@main",
        "up web@main#1",
        &format!("up web@{}", "b".repeat(201)),
    ] {
        assert!(
            matches!(kind(text), ErrorKind::BadTarget { command: "up", .. }),
            "{text}"
        );
    }
    assert_eq!(
        kind("up Web@main"),
        ErrorKind::BadTarget {
            command: "up",
            word: "Web@main".into(),
            reason: "app names are lowercase".into(),
            suggestion: Some("web@main".into()),
        }
    );
    // The command comes first, even before a branch target.
    assert_eq!(
        kind("web@main"),
        ErrorKind::MissingCommand {
            word: "web@main".into(),
            looks_like_target: true
        }
    );
}

#[test]
fn point() {
    assert_eq!(
        parse("point payments=pr-42"),
        Ok(cmd(
            Action::Point {
                routes: vec![route("payments", Destination::Pr(pr(42)))]
            },
            None
        ))
    );
    assert_eq!(
        parse("point collect#42 payments=#7 search=staging db=shop#3 cache=default"),
        Ok(cmd(
            Action::Point {
                routes: vec![
                    route("payments", Destination::Pr(pr(7))),
                    route("search", Destination::Staging),
                    route(
                        "db",
                        Destination::AppPr {
                            app: app("shop"),
                            pr: pr(3)
                        }
                    ),
                    route("cache", Destination::Default),
                ]
            },
            app_pr("collect", 42)
        ))
    );
    // Any target form, including the two-word one and a bare app.
    assert_eq!(
        parse("point web pr-42 api=pr-1").map(|c| c.target),
        Ok(app_pr("web", 42))
    );
    assert_eq!(
        parse("point web api=pr-1").map(|c| c.target),
        Ok(app_only("web"))
    );
    assert_eq!(
        parse("point https://github.com/a/b/pull/1?w=1 api=pr-1").map(|c| c.target),
        Ok(Some(Target::RepoPr {
            owner: "a".into(),
            repo: "b".into(),
            pr: pr(1)
        }))
    );
    let max: Vec<String> = (0..preview_commands::MAX_ROUTES)
        .map(|i| format!("s{i}=pr-{}", i + 1))
        .collect();
    assert!(parse(&format!("point {}", max.join(" "))).is_ok());
}

#[test]
fn point_errors() {
    assert_eq!(
        kind("point"),
        ErrorKind::MissingArgument {
            command: "point",
            arg: "SVC=DEST"
        }
    );
    assert_eq!(
        kind("point collect#42"),
        ErrorKind::MissingArgument {
            command: "point",
            arg: "SVC=DEST"
        }
    );
    assert_eq!(
        kind("point api=pr-1 db=staging api=default"),
        ErrorKind::DuplicateService {
            command: "point",
            service: "api".into()
        }
    );
    assert_eq!(
        bad_argument("point api=stagin"),
        (
            "SVC=DEST",
            "api=stagin".into(),
            "unknown destination `stagin`; DEST is `pr-N`, `APP#N`, `APP@BRANCH`, `staging` or `default`".into(),
            Some("api=staging".into())
        )
    );
    assert_eq!(
        bad_argument("point api=pr-1 collect#42").2,
        "the TARGET goes before the first `SVC=DEST`"
    );
    assert_eq!(
        bad_argument("point api=pr-1 web").2,
        "the TARGET goes before the first `SVC=DEST`"
    );
    assert_eq!(
        bad_argument("point web#1 api=pr-1 db").2,
        "expected `SVC=DEST`, like `payments=pr-42`"
    );
    assert_eq!(bad_argument("point Api=pr-1").3, Some("api=pr-1".into()));
    assert_eq!(
        bad_argument("point =pr-1").2,
        "the service is missing; write `SVC=DEST`"
    );
    assert_eq!(bad_argument("point api=42").3, Some("api=pr-42".into()));
    let too_many: Vec<String> = (0..=preview_commands::MAX_ROUTES)
        .map(|i| format!("s{i}=pr-1"))
        .collect();
    assert_eq!(
        bad_argument(&format!("point {}", too_many.join(" "))).2,
        "at most 20 `SVC=DEST` fit in one command"
    );
}

#[test]
fn seed() {
    let seed = |d: Option<&str>, target| {
        Ok(cmd(
            Action::Seed {
                dataset: d.map(Into::into),
            },
            target,
        ))
    };
    assert_eq!(parse("seed"), seed(None, None));
    // One bare word is the DATASET ...
    assert_eq!(parse("seed demo"), seed(Some("demo"), None));
    assert_eq!(parse("seed large_orders"), seed(Some("large_orders"), None));
    // ... a target-shaped word is the TARGET ...
    assert_eq!(parse("seed collect#42"), seed(None, app_pr("collect", 42)));
    assert_eq!(
        parse("seed collect pr-42"),
        seed(None, app_pr("collect", 42))
    );
    assert_eq!(
        parse("seed collect#42 demo"),
        seed(Some("demo"), app_pr("collect", 42))
    );
    // ... and two bare words are APP DATASET.
    assert_eq!(parse("seed web demo"), seed(Some("demo"), app_only("web")));
    assert_eq!(
        parse("seed web pr-3 demo"),
        seed(Some("demo"), app_pr("web", 3))
    );
    assert!(matches!(kind("seed pr-42"), ErrorKind::BadTarget { .. }));
    assert_eq!(
        bad_argument("seed Demo"),
        (
            "DATASET",
            "Demo".into(),
            "dataset names are lowercase".into(),
            Some("demo".into())
        )
    );
    assert_eq!(
        bad_argument("seed a.b").2,
        "dataset names use only `a-z`, `0-9`, `_` and `-`, not `.`"
    );
    assert_eq!(
        bad_argument(&format!("seed {}", "d".repeat(64))).2,
        "dataset names have at most 63 characters, this one has 64"
    );
    assert!(matches!(
        kind("seed web demo extra"),
        ErrorKind::UnexpectedWord { .. }
    ));
}

#[test]
fn logs() {
    let logs = |c: Option<&str>, tail: Option<u32>, target| {
        Ok(cmd(
            Action::Logs {
                component: c.map(Into::into),
                tail,
            },
            target,
        ))
    };
    assert_eq!(parse("logs"), logs(None, None, None));
    assert_eq!(parse("logs worker"), logs(Some("worker"), None, None));
    assert_eq!(
        parse("logs --tail 200 worker"),
        logs(Some("worker"), Some(200), None)
    );
    assert_eq!(parse("logs --tail=5000"), logs(None, Some(5000), None));
    assert_eq!(
        parse("logs collect#42"),
        logs(None, None, app_pr("collect", 42))
    );
    assert_eq!(
        parse("logs collect#42 worker --tail 1"),
        logs(Some("worker"), Some(1), app_pr("collect", 42))
    );
    assert_eq!(
        parse("logs web worker"),
        logs(Some("worker"), None, app_only("web"))
    );
    assert_eq!(parse("logs web pr-7"), logs(None, None, app_pr("web", 7)));
    for bad in ["0", "5001", "x", "-1", "1.5", "99999999999"] {
        assert!(
            matches!(
                kind(&format!("logs --tail={bad}")),
                ErrorKind::BadFlagValue { flag: "tail", .. }
            ),
            "{bad}"
        );
    }
    assert_eq!(
        kind("logs --tail"),
        ErrorKind::MissingFlagValue {
            command: "logs",
            flag: "tail"
        }
    );
    assert_eq!(
        bad_argument("logs 50"),
        (
            "COMPONENT",
            "50".into(),
            "component names have a letter".into(),
            Some("--tail 50".into())
        )
    );
    assert_eq!(
        bad_argument("logs worker web#42"),
        (
            "COMPONENT",
            "web#42".into(),
            "the TARGET goes before the COMPONENT".into(),
            Some("web#42 worker".into())
        )
    );
    assert_eq!(bad_argument("logs Worker").3, Some("worker".into()));
    // Found by fuzzing: a quoted `pr-N` does not join the app before it, and is no component.
    assert_eq!(
        bad_argument("logs on “pr-12”"),
        (
            "COMPONENT",
            "pr-12".into(),
            "`pr-N` is a pull request, not a COMPONENT".into(),
            Some("on#12".into())
        )
    );
    assert_eq!(bad_argument("seed web \"pr-1\"").3, Some("web#1".into()));
    assert_eq!(
        kind("logs web#1 worker 50"),
        ErrorKind::UnexpectedWord {
            command: "logs",
            word: "50".into(),
            suggestion: Some("--tail 50".into())
        }
    );
}

#[test]
fn extend() {
    let extend = |by: Option<Duration>, target| Ok(cmd(Action::Extend { by }, target));
    assert_eq!(parse("extend"), extend(None, None));
    assert_eq!(parse("extend 4h"), extend(hours(4), None));
    assert_eq!(parse("extend web"), extend(None, app_only("web")));
    assert_eq!(parse("extend web 4h"), extend(hours(4), app_only("web")));
    assert_eq!(
        parse("extend collect pr-2 1h30m"),
        extend(Some(Duration::from_secs(5400)), app_pr("collect", 2))
    );
    // An owner starting with a digit is still a target.
    assert_eq!(
        parse("extend 3m/shop#1").map(|c| c.target),
        Ok(Some(Target::RepoPr {
            owner: "3m".into(),
            repo: "shop".into(),
            pr: pr(1)
        }))
    );
    assert_eq!(
        bad_argument("extend 42"),
        (
            "DUR",
            "42".into(),
            "`42` has no unit; use `m`, `h` or `d`".into(),
            None
        )
    );
    assert_eq!(bad_argument("extend web 0m").0, "DUR");
    assert!(matches!(
        kind("extend 4h web"),
        ErrorKind::UnexpectedWord { .. }
    ));
}

#[test]
fn pin_unpin() {
    assert_eq!(parse("pin"), Ok(cmd(Action::Pin, None)));
    assert_eq!(
        parse("pin collect#3"),
        Ok(cmd(Action::Pin, app_pr("collect", 3)))
    );
    assert_eq!(parse("unpin"), Ok(cmd(Action::Unpin, None)));
    assert_eq!(
        parse("unpin web pr-3"),
        Ok(cmd(Action::Unpin, app_pr("web", 3)))
    );
    assert!(matches!(
        kind("pin --ttl 4h"),
        ErrorKind::FlagNotAccepted { command: "pin", .. }
    ));
}

#[test]
fn kill_switch() {
    let on = |reason: Option<&str>, mode| {
        Ok(cmd(
            Action::KillSwitch(KillSwitch::On {
                reason: reason.map(Into::into),
                mode,
            }),
            None,
        ))
    };
    assert_eq!(parse("kill-switch on"), on(None, FreezeMode::Freeze));
    assert_eq!(
        parse("kill-switch on INC-123"),
        on(Some("INC-123"), FreezeMode::Freeze)
    );
    assert_eq!(
        parse("kill-switch on \"INC-123 db outage\" --scale-to-zero"),
        on(Some("INC-123 db outage"), FreezeMode::ScaleToZero)
    );
    assert_eq!(
        parse("KILL-SWITCH ON --teardown “say \\“hi\\””"),
        on(Some("say “hi”"), FreezeMode::Teardown)
    );
    assert_eq!(
        parse("kill-switch off"),
        Ok(cmd(
            Action::KillSwitch(KillSwitch::Off { restore: false }),
            None
        ))
    );
    assert_eq!(
        parse("kill-switch off --restore"),
        Ok(cmd(
            Action::KillSwitch(KillSwitch::Off { restore: true }),
            None
        ))
    );
    assert_eq!(
        parse("kill-switch status"),
        Ok(cmd(Action::KillSwitch(KillSwitch::Status), None))
    );
}

#[test]
fn kill_switch_errors() {
    assert_eq!(
        kind("kill-switch"),
        ErrorKind::MissingSubcommand {
            command: "kill-switch"
        }
    );
    assert_eq!(
        kind("kill-switch --teardown"),
        ErrorKind::MissingSubcommand {
            command: "kill-switch"
        }
    );
    assert_eq!(
        kind("kill-switch onn"),
        ErrorKind::UnknownSubcommand {
            command: "kill-switch",
            word: "onn".into(),
            suggestion: Some("on")
        }
    );
    assert_eq!(
        kind("kill-switch \"on\""),
        ErrorKind::UnknownSubcommand {
            command: "kill-switch",
            word: "on".into(),
            suggestion: Some("on")
        }
    );
    assert_eq!(
        kind("kill-switch on --scale-to-zero --teardown"),
        ErrorKind::ConflictingFlags {
            command: "kill-switch on",
            first: "scale-to-zero",
            second: "teardown"
        }
    );
    assert_eq!(
        kind("kill-switch on --teardown --scale-to-zero"),
        ErrorKind::ConflictingFlags {
            command: "kill-switch on",
            first: "teardown",
            second: "scale-to-zero"
        }
    );
    assert_eq!(
        kind("kill-switch off --teardown"),
        ErrorKind::FlagNotAccepted {
            command: "kill-switch off",
            flag: "--teardown".into()
        }
    );
    assert_eq!(
        kind("kill-switch on db outage"),
        ErrorKind::UnexpectedWord {
            command: "kill-switch on",
            word: "outage".into(),
            suggestion: Some("\"db outage\"".into())
        }
    );
    assert_eq!(
        kind("kill-switch status collect#1"),
        ErrorKind::UnexpectedWord {
            command: "kill-switch status",
            word: "collect#1".into(),
            suggestion: None
        }
    );
    assert_eq!(
        kind("kill-switch off restore"),
        ErrorKind::UnexpectedWord {
            command: "kill-switch off",
            word: "restore".into(),
            suggestion: Some("--restore".into())
        }
    );
    assert_eq!(bad_argument("kill-switch on \"a\nb\"").0, "REASON");
    assert_eq!(
        bad_argument(&format!("kill-switch on \"{}\"", "r".repeat(201))).2,
        "a reason has at most 200 characters, this one has 201"
    );
}

#[test]
fn help_topic_limit() {
    assert!(parse(&format!("help {}", "a".repeat(64))).is_ok());
    assert_eq!(
        kind(&format!("help {}", "a".repeat(65))),
        ErrorKind::UnknownCommand {
            word: "a".repeat(65),
            suggestion: None
        }
    );
    assert_eq!(
        parse("help kill-switch"),
        Ok(cmd(
            Action::Help {
                topic: Some("kill-switch".into())
            },
            None
        ))
    );
}

#[test]
fn max_ttl() {
    let options = ParseOptions {
        max_ttl: Some(Duration::from_secs(7 * 86400)),
    };
    assert_eq!(
        parse_with("up --ttl 7d", &options),
        Ok(cmd(Action::Up { ttl: hours(168) }, None))
    );
    assert_eq!(
        parse_with("up collect#1 --ttl 10d", &options)
            .unwrap_err()
            .kind(),
        &ErrorKind::OverLimit {
            command: "up",
            word: "--ttl 10d".into(),
            limit: Duration::from_secs(7 * 86400)
        }
    );
    assert_eq!(
        parse_with("up --ttl=169h", &options).unwrap_err().kind(),
        &ErrorKind::OverLimit {
            command: "up",
            word: "--ttl 169h".into(),
            limit: Duration::from_secs(7 * 86400)
        }
    );
    assert_eq!(
        parse_with("extend web 8d", &options).unwrap_err().kind(),
        &ErrorKind::OverLimit {
            command: "extend",
            word: "8d".into(),
            limit: Duration::from_secs(7 * 86400)
        }
    );
    // Without options only the grammar's own cap applies.
    assert!(parse("up --ttl 10d").is_ok());
    assert!(parse_with("extend 365d", &ParseOptions::default()).is_ok());
    assert!(
        parse_line_with("/preview up --ttl 8d", "/preview", &options)
            .unwrap()
            .is_err()
    );
    assert!(
        parse_line("/preview up --ttl 8d", "/preview")
            .unwrap()
            .is_ok()
    );
    let got = commands_in_comment_with(
        "/preview extend 8d\n/preview extend 2d",
        "/preview",
        &options,
    );
    assert!(got[0].is_err());
    assert!(got[1].is_ok());
}

#[test]
fn new_commands_in_comments() {
    let body = "Please:\n/preview point payments=pr-42\n```\n/preview kill-switch on\n```\n\
                > /preview kill-switch on\n/preview seed demo\n/preview logs worker --tail 20\n";
    assert_eq!(
        commands_in_comment(body, "/preview"),
        vec![
            parse("point payments=pr-42"),
            parse("seed demo"),
            parse("logs worker --tail 20")
        ]
    );
    // A configurable prefix.
    assert_eq!(
        commands_in_comment("/pv pin\n/preview pin", "/pv"),
        vec![parse("pin")]
    );
}

#[test]
fn new_display_is_canonical() {
    for (text, canonical) in [
        ("point web PR-42 API=#1", ""),
        ("point web pr-42 api=#1 db=Staging", ""),
        (
            "point web pr-42 api=#1 db=staging",
            "point web#42 api=pr-1 db=staging",
        ),
        ("seed   web   demo", "seed web demo"),
        ("logs worker --tail=0050", "logs worker --tail 50"),
        ("extend 90m", "extend 1h30m"),
        ("unpin https://github.com/a/b/pull/3", "unpin a/b#3"),
        (
            "kill-switch ON --scale-to-zero \"INC-1 db\"",
            "kill-switch on \"INC-1 db\" --scale-to-zero",
        ),
        ("kill-switch on \"-x\"", "kill-switch on \"-x\""),
        ("kill-switch off", "kill-switch off"),
        ("up web@feature/x", "up web@feature/x"),
    ] {
        let Ok(command) = parse(text) else {
            assert_eq!(canonical, "", "{text}");
            continue;
        };
        assert_eq!(command.to_string(), canonical, "{text}");
        assert_eq!(parse(canonical), Ok(command));
    }
}
