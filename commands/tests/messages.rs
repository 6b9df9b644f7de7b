//! Pins every distinct user-visible message: help, and each kind of error.
#![allow(clippy::unwrap_used)]

use insta::assert_snapshot;
use preview_commands::{DEFAULT_PREFIX, commands_in_comment, help, parse};

fn error(text: &str) -> String {
    parse(text).unwrap_err().render(DEFAULT_PREFIX)
}

#[test]
fn help_overview() {
    assert_snapshot!(help(None, DEFAULT_PREFIX));
}

#[test]
fn help_per_command() {
    for name in ["up", "down", "redeploy", "status", "list", "help"] {
        assert_snapshot!(format!("help_{name}"), help(Some(name), DEFAULT_PREFIX));
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
        ("unexpected_word", "down collect#1 collect#2"),
        ("unexpected_word_duration", "up collect#42 4h"),
        ("unexpected_word_pr", "up collect 42"),
        ("unterminated_quote", "help \"up"),
        ("empty_quotes", "help \"\""),
        ("sanitized_echo", "up `<!channel>`#1"),
    ] {
        assert_snapshot!(format!("error_{name}"), error(text));
    }
    assert_snapshot!("error_too_long", error(&"x".repeat(4001)));
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

/// The table drives both help and the parser: every example in help parses.
#[test]
fn help_examples_parse() {
    for name in ["up", "down", "redeploy", "status", "list", "help"] {
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
    // Likewise every usage line in the overview names a command the parser knows.
    for line in help(None, DEFAULT_PREFIX)
        .lines()
        .filter_map(|l| l.strip_prefix("- `/preview "))
    {
        let word = line
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches(['`', ':']);
        assert!(parse(word).is_ok(), "{word}");
    }
}
