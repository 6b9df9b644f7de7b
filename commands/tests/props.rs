//! Property tests: the parser never panics, and canonical text round-trips.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use preview_commands::{
    Action, AppName, Command, DEFAULT_PREFIX, Destination, ErrorKind, FreezeMode, KillSwitch,
    ParseOptions, PrNumber, Route, ServiceName, Target, commands_in_comment, help, parse,
    parse_duration, parse_line, parse_with,
};
use proptest::prelude::*;

fn app_name() -> impl Strategy<Value = AppName> {
    "[a-z]([a-z0-9-]{0,38}[a-z0-9])?".prop_map(|s| AppName::new(&s).unwrap())
}

fn pr_number() -> impl Strategy<Value = PrNumber> {
    (1u64..=1_000_000_000).prop_map(|n| PrNumber::new(n).unwrap())
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        (app_name(), pr_number()).prop_map(|(app, pr)| Target::AppPr { app, pr }),
        (
            "[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?",
            "[A-Za-z0-9._-]{1,100}".prop_filter("not . or ..", |r| r != "." && r != ".."),
            pr_number()
        )
            .prop_map(|(owner, repo, pr)| Target::RepoPr { owner, repo, pr }),
        app_name().prop_map(|app| Target::App { app }),
        (app_name(), branch()).prop_map(|(app, branch)| Target::Branch { app, branch }),
    ]
}

/// Git-like branch names within the grammar's rules.
fn branch() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9._-]{0,40}(/[A-Za-z0-9_][A-Za-z0-9._-]{0,20}){0,3}"
        .prop_filter("ref rules", |b| {
            !b.contains("..") && !b.ends_with('.') && !b.ends_with(".lock")
        })
}

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
}

fn route() -> impl Strategy<Value = Route> {
    let destination = prop_oneof![
        pr_number().prop_map(Destination::Pr),
        (app_name(), pr_number()).prop_map(|(app, pr)| Destination::AppPr { app, pr }),
        Just(Destination::Staging),
        Just(Destination::Default),
    ];
    (label(), destination).prop_map(|(s, destination)| Route {
        service: ServiceName::new(&s).unwrap(),
        destination,
    })
}

/// 1 to 20 routes, each service once.
fn routes() -> impl Strategy<Value = Vec<Route>> {
    proptest::collection::vec(route(), 1..=20).prop_map(|mut routes| {
        let mut seen = std::collections::HashSet::new();
        routes.retain(|r| seen.insert(r.service.clone()));
        routes
    })
}

/// REASONs: quotes, backslashes, spaces, leading dashes, any non-control text.
fn reason() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 \"“”\\\\#@=/é-]{1,200}",
        "\\PC{1,200}",
        Just("INC-123 db outage".to_string()),
        Just("say \"hi\" \\ “there”".to_string()),
    ]
    .prop_filter("non-empty, no control", |r| {
        !r.is_empty() && !r.chars().any(char::is_control)
    })
}

/// `pr-N`: a pull request, never a DATASET or COMPONENT.
fn is_pr_word(w: &str) -> bool {
    w.strip_prefix("pr-")
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

fn not_bare_app(target: &Option<Target>) -> bool {
    !matches!(target, Some(Target::App { .. }))
}

fn ttl() -> impl Strategy<Value = Duration> {
    (1u64..=365 * 24 * 60).prop_map(|m| Duration::from_secs(m * 60))
}

fn command() -> impl Strategy<Value = Command> {
    let targeted = prop_oneof![
        proptest::option::of(ttl()).prop_map(|ttl| Action::Up { ttl }),
        Just(Action::Down),
        Just(Action::Redeploy),
        Just(Action::Status),
        routes().prop_map(|routes| Action::Point { routes }),
        proptest::option::of(ttl()).prop_map(|by| Action::Extend { by }),
        Just(Action::Pin),
        Just(Action::Unpin),
    ];
    let mode = prop_oneof![
        Just(FreezeMode::Freeze),
        Just(FreezeMode::ScaleToZero),
        Just(FreezeMode::Teardown),
    ];
    let kill_switch = prop_oneof![
        (proptest::option::of(reason()), mode)
            .prop_map(|(reason, mode)| KillSwitch::On { reason, mode }),
        any::<bool>().prop_map(|restore| KillSwitch::Off { restore }),
        Just(KillSwitch::Status),
    ];
    prop_oneof![
        (targeted, proptest::option::of(target()))
            .prop_map(|(action, target)| Command { action, target }),
        // A bare app on seed or logs needs the DATASET or COMPONENT after it.
        (
            proptest::option::of(
                "[a-z0-9][a-z0-9_-]{0,62}".prop_filter("not pr-N", |d| !is_pr_word(d))
            ),
            proptest::option::of(target())
        )
            .prop_filter("bare app needs a dataset", |(d, t)| d.is_some()
                || not_bare_app(t))
            .prop_map(|(dataset, target)| Command {
                action: Action::Seed { dataset },
                target
            }),
        (
            proptest::option::of(label().prop_filter("not digits or pr-N", |c| {
                !c.bytes().all(|b| b.is_ascii_digit()) && !is_pr_word(c)
            })),
            proptest::option::of(1u32..=5000),
            proptest::option::of(target())
        )
            .prop_filter("bare app needs a component", |(c, _, t)| c.is_some()
                || not_bare_app(t))
            .prop_map(|(component, tail, target)| Command {
                action: Action::Logs { component, tail },
                target
            }),
        kill_switch.prop_map(|k| Command {
            action: Action::KillSwitch(k),
            target: None
        }),
        // Commands on whole previews take several targets, each once.
        (
            prop_oneof![
                proptest::option::of(ttl()).prop_map(|ttl| Action::Up { ttl }),
                Just(Action::Down),
                Just(Action::Redeploy),
                Just(Action::Status),
                Just(Action::Pin),
                Just(Action::Unpin),
            ],
            proptest::collection::vec(target(), 2..=10)
        )
            .prop_filter_map("distinct targets", |(action, mut targets)| {
                let mut seen = Vec::new();
                targets.retain(|t| {
                    let new = !seen.contains(t);
                    seen.push(t.clone());
                    new
                });
                (targets.len() >= 2).then_some(Command {
                    action,
                    target: Some(Target::Many(targets)),
                })
            }),
        (any::<bool>(), proptest::option::of(app_name())).prop_map(|(mine, app)| Command {
            action: Action::List { mine, app },
            target: None
        }),
        proptest::option::of("\\PC{1,64}").prop_map(|topic| Command {
            action: Action::Help { topic },
            target: None
        }),
    ]
}

/// Words from the grammar glued with noise, to reach deep into the parser.
fn commandish() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("up".to_string()),
        Just("list".to_string()),
        Just("help".to_string()),
        Just("point".to_string()),
        Just("seed".to_string()),
        Just("logs".to_string()),
        Just("extend".to_string()),
        Just("kill-switch".to_string()),
        Just("on".to_string()),
        Just("off".to_string()),
        Just("--tail".to_string()),
        Just("--teardown".to_string()),
        Just("--scale-to-zero".to_string()),
        Just("--restore".to_string()),
        Just("=".to_string()),
        Just("@".to_string()),
        Just("staging".to_string()),
        "[a-z]{1,6}=[a-z#0-9-]{0,8}",
        "[a-z]{1,6}@[A-Za-z0-9./_-]{0,10}",
        Just("--ttl".to_string()),
        Just("--app".to_string()),
        Just("--mine".to_string()),
        Just("—ttl=".to_string()),
        Just("pr-".to_string()),
        Just("#".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("https://github.com/".to_string()),
        Just("/pull/".to_string()),
        Just("<".to_string()),
        "[0-9]{1,25}",
        "[a-zA-Z/.#-]{1,8}",
        "[0-9]{1,3}[dhms]",
        any::<String>(),
    ];
    proptest::collection::vec(
        (
            word,
            prop_oneof![Just(""), Just(" "), Just("\n"), Just("\u{a0}")],
        ),
        0..12,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(w, sep)| format!("{w}{sep}"))
            .collect()
    })
}

proptest! {
    #[test]
    fn parse_never_panics(text in any::<String>()) {
        if let Err(e) = parse(&text) {
            let _ = e.render(DEFAULT_PREFIX);
        }
    }

    #[test]
    fn commandish_never_panics(text in commandish()) {
        match parse(&text) {
            Ok(cmd) => {
                // Whatever parses has a canonical form that parses back to it.
                prop_assert_eq!(parse(&cmd.to_string()), Ok(cmd));
            }
            Err(e) => {
                let msg = e.render("/pv");
                prop_assert!(msg.ends_with("Run `/pv help` for all commands."));
            }
        }
        let _ = parse_line(&text, DEFAULT_PREFIX);
        let _ = parse_duration(&text);
        let _ = help(Some(&text), DEFAULT_PREFIX);
    }

    #[test]
    fn comments_never_panic(body in proptest::collection::vec(
        prop_oneof![
            Just("/preview ".to_string()),
            Just("```".to_string()),
            Just("~~~".to_string()),
            Just("> ".to_string()),
            Just("\r\n".to_string()),
            Just("\n".to_string()),
            any::<String>(),
        ],
        0..30,
    ).prop_map(|v| v.concat())) {
        let _ = commands_in_comment(&body, DEFAULT_PREFIX);
    }

    #[test]
    fn valid_commands_round_trip(cmd in command()) {
        prop_assert_eq!(parse(&cmd.to_string()), Ok(cmd.clone()));
        prop_assert_eq!(parse_line(&format!("{DEFAULT_PREFIX} {cmd}"), DEFAULT_PREFIX), Some(Ok(cmd)));
    }

    #[test]
    fn max_ttl_caps(d in ttl(), limit in ttl(), extend in any::<bool>()) {
        let text = if extend {
            format!("extend {}", preview_commands::format_duration(d))
        } else {
            format!("up --ttl {}", preview_commands::format_duration(d))
        };
        let options = ParseOptions { max_ttl: Some(limit) };
        let got = parse_with(&text, &options);
        if d <= limit {
            prop_assert_eq!(got, parse(&text));
        } else {
            let over = matches!(got.as_ref().map_err(|e| e.kind()), Err(ErrorKind::OverLimit { .. }));
            prop_assert!(over);
        }
    }

    #[test]
    fn durations_round_trip(d in ttl()) {
        prop_assert_eq!(parse_duration(&preview_commands::format_duration(d)), Ok(d));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Bounded fuzzing over random UTF-8 (and random bytes made valid) through every entry point.
    #[test]
    fn fuzz_random_utf8(bytes in proptest::collection::vec(any::<u8>(), 0..600), text in "\\PC{0,300}") {
        let lossy = String::from_utf8_lossy(&bytes);
        for input in [lossy.as_ref(), text.as_str()] {
            let _ = parse(input).map_err(|e| e.render(DEFAULT_PREFIX));
            let _ = parse_line(input, DEFAULT_PREFIX);
            let _ = commands_in_comment(input, DEFAULT_PREFIX);
            let _ = parse_duration(input);
            let _ = help(Some(input), DEFAULT_PREFIX);
        }
    }
}
