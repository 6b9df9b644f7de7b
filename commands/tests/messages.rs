//! Pins every distinct user-visible message: help, and each kind of error.
#![allow(clippy::unwrap_used)]

use insta::assert_snapshot;
use std::time::Duration;

use preview_commands::{
    DEFAULT_PREFIX, ParseOptions, commands_in_comment, help, parse, parse_with,
};

const ALL: [&str; 13] = [
    "up",
    "down",
    "redeploy",
    "status",
    "list",
    "point",
    "seed",
    "logs",
    "extend",
    "pin",
    "unpin",
    "kill-switch",
    "help",
];

fn error(text: &str) -> String {
    parse(text).unwrap_err().render(DEFAULT_PREFIX)
}

#[test]
fn help_overview() {
    assert_snapshot!(help(None, DEFAULT_PREFIX));
}

#[test]
fn help_per_command() {
    for name in ALL {
        let snapshot = format!("help_{}", name.replace('-', "_"));
        assert_snapshot!(snapshot, help(Some(name), DEFAULT_PREFIX));
    }
}

#[test]
fn help_unknown_topic() {
    assert_snapshot!(help(Some("upp"), DEFAULT_PREFIX));
}

#[test]
fn help_with_custom_prefix() {
    assert_snapshot!(help(Some("/pv list"), "/pv"));
}

#[test]
fn help_topic_forms() {
    let up = help(Some("up"), DEFAULT_PREFIX);
    assert_eq!(help(Some(" UP "), DEFAULT_PREFIX), up);
    assert_eq!(help(Some("/preview up"), DEFAULT_PREFIX), up);
    assert_eq!(help(Some(""), DEFAULT_PREFIX), help(None, DEFAULT_PREFIX));
}

#[test]
fn errors() {
    for (name, text) in [
        ("unknown_command", "upp"),
        ("unknown_command_no_suggestion", "frobnicate"),
        ("missing_command_target", "collect#42"),
        ("missing_command_flag", "--ttl 4h"),
        ("unknown_flag", "up --tll 4h"),
        ("single_dash_flag", "list -mine"),
        ("flag_not_accepted", "down collect#42 --ttl 4h"),
        ("repeated_flag", "up --ttl 4h --ttl 2h"),
        ("missing_flag_value", "up collect#42 --ttl"),
        ("unexpected_flag_value", "list --mine=yes"),
        ("bad_duration", "up collect#42 --ttl 4x"),
        ("bad_duration_order", "up collect#42 --ttl 30m1h"),
        ("bad_app_flag", "list --app My_App"),
        ("bad_target_zero", "up collect#0"),
        ("bad_target_digits", "up collect#abc"),
        ("bad_target_uppercase", "up Collect#1"),
        ("bad_target_path", "up ../x#1"),
        (
            "bad_target_url",
            "up https://gitlab.com/acme/collect/pull/42",
        ),
        (
            "bad_target_not_pr_url",
            "status https://github.com/acme/collect/issues/42",
        ),
        (
            "bad_target_too_long",
            "up aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa#1",
        ),
        ("bad_target_no_app", "up pr-42"),
        ("unexpected_word", "seed collect#1 demo extra"),
        ("target_named_twice", "down collect#1 web collect#1"),
        (
            "too_many_targets",
            "status a#1 a#2 a#3 a#4 a#5 a#6 a#7 a#8 a#9 a#10 a#11",
        ),
        ("unexpected_word_duration", "up collect#42 4h"),
        ("unexpected_word_pr", "up collect 42"),
        ("unterminated_quote", "help \"up"),
        ("empty_quotes", "help \"\""),
        ("sanitized_echo", "up `<!channel>`#1"),
        ("bad_target_branch", "up web@feature..x"),
        ("bad_target_branch_no_app", "status @main"),
        ("point_missing_route", "point collect#42"),
        ("point_bad_destination", "point api=stagin"),
        ("point_bad_service", "point Api=pr-1"),
        ("point_duplicate_service", "point api=pr-1 api=staging"),
        ("point_target_after_routes", "point api=pr-1 collect#42"),
        ("point_not_a_route", "point web#1 api=pr-1 db"),
        ("seed_bad_dataset", "seed Demo"),
        ("logs_bad_tail", "logs --tail 9000"),
        ("logs_numeric_component", "logs 50"),
        ("logs_target_after_component", "logs worker web#42"),
        ("extend_bad_duration", "extend 42"),
        ("kill_switch_missing_subcommand", "kill-switch"),
        ("kill_switch_unknown_subcommand", "kill-switch onn"),
        (
            "kill_switch_conflicting_flags",
            "kill-switch on --scale-to-zero --teardown",
        ),
        ("kill_switch_unquoted_reason", "kill-switch on db outage"),
        ("kill_switch_bad_reason", "kill-switch on \"a\tb\""),
        (
            "kill_switch_flag_not_accepted",
            "kill-switch off --teardown",
        ),
        ("help_topic_too_long", &format!("help {}", "x".repeat(65))),
    ] {
        assert_snapshot!(format!("error_{name}"), error(text));
    }
    assert_snapshot!("error_too_long", error(&"x".repeat(4001)));
}

#[test]
fn error_over_limit() {
    let options = ParseOptions {
        max_ttl: Some(Duration::from_secs(7 * 86400)),
    };
    let render = |text: &str| {
        parse_with(text, &options)
            .unwrap_err()
            .render(DEFAULT_PREFIX)
    };
    assert_snapshot!("error_ttl_over_limit", render("up collect#42 --ttl 10d"));
    assert_snapshot!("error_extend_over_limit", render("extend 240h"));
    assert!(render("up --ttl 10d").starts_with("`--ttl 10d` is longer than the limit of 7d."));
}

#[test]
fn kill_switch_error_with_custom_prefix() {
    assert_snapshot!(parse("kill-switch").unwrap_err().render("/pv"));
}

#[test]
fn error_with_custom_prefix() {
    assert_snapshot!(parse("upp").unwrap_err().render("/pv"));
}

#[test]
fn error_display_uses_default_prefix() {
    let e = parse("upp").unwrap_err();
    assert_eq!(e.to_string(), e.render(DEFAULT_PREFIX));
}

#[test]
fn too_many_commands() {
    let body = "/preview status\n".repeat(11);
    let last = commands_in_comment(&body, DEFAULT_PREFIX).pop().unwrap();
    assert_snapshot!(last.unwrap_err().render(DEFAULT_PREFIX));
}

/// The table drives both help and the parser: every example in help parses to its command, and
/// every usage line in the overview starts with a command (and subcommand) the parser knows.
#[test]
fn help_examples_parse() {
    for name in ALL {
        let text = help(Some(name), DEFAULT_PREFIX);
        let examples: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("- `/preview ")?.strip_suffix('`'))
            .collect();
        assert!(!examples.is_empty(), "{name}");
        for e in examples {
            let command = parse(e).unwrap_or_else(|err| panic!("{e}: {err}"));
            assert_eq!(command.action.name(), name, "{e}");
        }
    }
    let overview = help(None, DEFAULT_PREFIX);
    let mut seen = Vec::new();
    for line in overview
        .lines()
        .filter_map(|l| l.strip_prefix("- `/preview "))
    {
        let words: Vec<&str> = line
            .split(['`', ' '])
            .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.is_empty())
            .collect();
        let command = words.join(" ");
        let parsed = parse(&command).or_else(|_| parse(&format!("{command} a=pr-1")));
        let parsed = parsed.unwrap_or_else(|e| panic!("{command}: {e}"));
        seen.push(parsed.action.name());
    }
    seen.dedup();
    assert_eq!(seen, ALL);
}

/// Every usage line, in help and in errors, is the one the table gives.
#[test]
fn usage_lines() {
    let overview = help(None, DEFAULT_PREFIX);
    for usage in [
        "/preview point [TARGET] SVC=DEST...",
        "/preview seed [TARGET] [DATASET]",
        "/preview logs [TARGET] [COMPONENT] [--tail N]",
        "/preview extend [TARGET] [DUR]",
        "/preview up [TARGET...] [--ttl DUR]",
        "/preview down [TARGET...]",
        "/preview pin [TARGET...]",
        "/preview unpin [TARGET...]",
        "/preview kill-switch on [REASON] [--scale-to-zero | --teardown]",
        "/preview kill-switch off [--restore]",
        "/preview kill-switch status",
    ] {
        assert!(overview.contains(&format!("`{usage}`")), "{usage}");
    }
}
