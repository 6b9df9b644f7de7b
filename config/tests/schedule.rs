//! `[schedule]`: defaults, every cron expression parses, errors name the key.
#![allow(clippy::unwrap_used)]

use chrono::TimeZone;
use preview_config::{Config, ConfigError, CronSchedule, IdleAction};
use std::time::Duration;

const MINIMAL: &str = r#"
[bot]
public_url = "https://preview-bot.example.com"

[domains]
base = "preview.example.com"

[apps.collect]
repo = "acme/collect"
manifests = { dir = "deploy/preview" }
"#;

fn with_schedule(lines: &str) -> String {
    format!("{MINIMAL}\n[schedule]\n{lines}\n")
}

fn error(text: &str) -> String {
    match Config::parse(text, "preview-bot.toml") {
        Err(e @ ConfigError::Invalid { .. }) => e.to_string(),
        Err(e @ ConfigError::Syntax { .. }) => e.to_string(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn defaults() {
    let config = Config::parse(MINIMAL, "preview-bot.toml").unwrap();
    let s = &config.schedule;
    assert_eq!(s.timezone, "UTC");
    assert_eq!(s.tz(), chrono_tz::Tz::UTC);
    assert_eq!(s.idle_sweep, "*/5 * * * *");
    assert_eq!(s.digest, "0 9 * * 1-5");
    assert_eq!(s.orphan_sweep, "0 * * * *");
    assert_eq!(s.idle_ttl.get(), Duration::from_secs(24 * 3600));
    assert_eq!(s.warn_before.get(), Duration::from_secs(3600));
    assert_eq!(s.idle_action, IdleAction::Teardown);
    assert_eq!(s.max_extend(), s.max_ttl.get());
    assert_eq!(config.apps["collect"].prices(s), (0.0, 0.0));
}

#[test]
fn a_full_schedule_section_and_app_prices() {
    let text = with_schedule(
        r#"timezone = "Europe/Amsterdam"
idle_sweep = "*/10 * * * *"
digest = "30 8 * * Mon-Fri"
orphan_sweep = "15 */2 * * *"
idle_ttl = "8h"
warn_before = "30m"
idle_action = "sleep"
max_pinned_per_app = 1
max_orphans_per_sweep = 2
max_extend = "2d"
cpu_hour = 0.03
gib_hour = 0.004
currency = "EUR""#,
    )
    .replace(
        "manifests = { dir = \"deploy/preview\" }",
        "manifests = { dir = \"deploy/preview\" }\ncost = { cpu_hour = 0.05 }",
    );
    let config = Config::parse(&text, "preview-bot.toml").unwrap();
    let s = &config.schedule;
    assert_eq!(s.tz(), chrono_tz::Europe::Amsterdam);
    assert_eq!(s.idle_action, IdleAction::Sleep);
    assert_eq!(s.max_extend(), Duration::from_secs(2 * 86400));
    assert_eq!(config.apps["collect"].prices(s), (0.05, 0.004));
    assert!(
        config.summary().contains(
            "schedules (Europe/Amsterdam): idle sweep `*/10 * * * *`, digest `30 8 * * Mon-Fri` to nowhere (no slack.digest_channel), orphan sweep `15 */2 * * *`; idle previews are put to sleep after 8h, warned 30m ahead"
        ),
        "{}",
        config.summary()
    );
    // Every configured schedule parses and fires at the local time asked for.
    let monday = chrono_tz::Europe::Amsterdam
        .with_ymd_and_hms(2026, 11, 23, 0, 0, 0)
        .unwrap();
    let expected = ["00:10", "08:30", "00:15"];
    for ((key, expr), want) in s.crons().into_iter().zip(expected) {
        let next = CronSchedule::parse(expr)
            .unwrap_or_else(|e| panic!("{key}: {e}"))
            .next_after(&monday)
            .unwrap();
        assert_eq!(next.format("%H:%M").to_string(), want, "{key}");
    }
}

#[test]
fn errors_name_file_and_key() {
    let cases = [
        (
            "digest = \"0 9 * *\"",
            "preview-bot.toml: `schedule.digest`: \"0 9 * *\" has 4 fields",
        ),
        (
            "idle_sweep = \"*/5 * * * 9\"",
            "preview-bot.toml: `schedule.idle_sweep`: \"*/5 * * * 9\": day-of-week",
        ),
        (
            "orphan_sweep = \"0 25 * * *\"",
            "preview-bot.toml: `schedule.orphan_sweep`: \"0 25 * * *\" is not a valid cron expression",
        ),
        (
            "timezone = \"Mars/Olympus\"",
            "preview-bot.toml: `schedule.timezone`: \"Mars/Olympus\" is not an IANA time zone",
        ),
        (
            "warn_before = \"2d\"",
            "preview-bot.toml: `schedule.warn_before`: 2days must be shorter",
        ),
        (
            "max_extend = \"30d\"",
            "preview-bot.toml: `schedule.max_extend`: 30days is longer than",
        ),
        (
            "max_orphans_per_sweep = 0",
            "preview-bot.toml: `schedule.max_orphans_per_sweep`: must be at least 1",
        ),
        (
            "cpu_hour = -1.0",
            "preview-bot.toml: `schedule.cpu_hour`: -1 must be a price",
        ),
    ];
    for (line, want) in cases {
        let got = error(&with_schedule(line));
        assert!(got.starts_with(want), "{line}: {got}");
    }
    let got = error(&with_schedule("idle_action = \"delete\""));
    assert!(
        got.contains("idle_action") || got.contains("delete"),
        "{got}"
    );
    let got = error(&MINIMAL.replace(
        "manifests = { dir = \"deploy/preview\" }",
        "manifests = { dir = \"deploy/preview\" }\ncost = { gib_hour = -2.0 }",
    ));
    assert!(got.contains("`apps.collect.cost`"), "{got}");
}

#[test]
fn the_default_schedules_fire_as_expected_across_both_dst_changes() {
    let text = with_schedule("timezone = \"Europe/Amsterdam\"");
    let config = Config::parse(&text, "preview-bot.toml").unwrap();
    let tz = config.schedule.tz();
    let utc = |y, mo, d, h, mi| chrono::Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
    let next = |key: &str, after: chrono::DateTime<chrono::Utc>| {
        let (_, expr) = config
            .schedule
            .crons()
            .into_iter()
            .find(|(k, _)| *k == key)
            .unwrap();
        CronSchedule::parse(expr)
            .unwrap()
            .next_after(&after.with_timezone(&tz))
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    // 2026-03-29 01:00 UTC: 02:00 CET becomes 03:00 CEST.
    assert_eq!(
        next("schedule.idle_sweep", utc(2026, 3, 29, 0, 58)),
        utc(2026, 3, 29, 1, 0)
    );
    assert_eq!(
        next("schedule.orphan_sweep", utc(2026, 3, 29, 0, 30)),
        utc(2026, 3, 29, 1, 0)
    );
    // Friday's digest at 09:00 CET, Monday's at 09:00 CEST.
    assert_eq!(
        next("schedule.digest", utc(2026, 3, 27, 7, 0)),
        utc(2026, 3, 27, 8, 0)
    );
    assert_eq!(
        next("schedule.digest", utc(2026, 3, 27, 9, 0)),
        utc(2026, 3, 30, 7, 0)
    );
    // 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET; the repeated hour fires once.
    assert_eq!(
        next("schedule.idle_sweep", utc(2026, 10, 25, 0, 55)),
        utc(2026, 10, 25, 2, 0)
    );
    assert_eq!(
        next("schedule.orphan_sweep", utc(2026, 10, 25, 0, 30)),
        utc(2026, 10, 25, 2, 0)
    );
    assert_eq!(
        next("schedule.digest", utc(2026, 10, 23, 9, 0)),
        utc(2026, 10, 26, 8, 0)
    );
}
