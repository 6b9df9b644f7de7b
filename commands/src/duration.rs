//! `DUR` values: `30m`, `4h`, `2d`, `1h30m`.
//!
//! Units are `d`, `h` and `m` (case-insensitive), each at most once, largest first. Seconds are
//! not accepted: nothing in preview-bot is finer than a minute. The total must be more than zero
//! and at most [`MAX_DURATION`] (a year), so that a deadline computed from it can never overflow
//! downstream; policy caps (`max_ttl`) belong to the config.

use std::time::Duration;

/// The longest duration [`parse_duration`] accepts: 365 days.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

const MAX_MINUTES: u64 = 365 * 24 * 60;

/// Parses `30m`, `4h`, `2d`, `1h30m`, `2d12h`. The error is a short reason for the user.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("the duration is empty".to_string());
    }
    let mut rest = s;
    let mut minutes: u64 = 0;
    let mut last_rank = u8::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        // ASCII digits are one byte each, so `digits` is a char boundary.
        let (number, after) = rest.split_at(digits);
        let Some(unit) = after.chars().next() else {
            return Err(format!("`{number}` has no unit; use `m`, `h` or `d`"));
        };
        if number.is_empty() {
            return Err(format!(
                "expected a number before `{}`",
                crate::error::sanitize(&unit.to_string())
            ));
        }
        let (per_unit, rank) = match unit.to_ascii_lowercase() {
            'd' => (24 * 60, 3),
            'h' => (60, 2),
            'm' => (1, 1),
            's' => return Err("seconds are too short; the smallest unit is `m`".to_string()),
            other => {
                return Err(format!(
                    "unknown unit `{}`; use `m`, `h` or `d`",
                    crate::error::sanitize(&other.to_string())
                ));
            }
        };
        if rank >= last_rank {
            return Err("units go from largest to smallest, each once, like `1h30m`".to_string());
        }
        last_rank = rank;
        let too_long = || "that is too long; the most is `365d`".to_string();
        let n: u64 = number.parse().map_err(|_| too_long())?;
        minutes = n
            .checked_mul(per_unit)
            .and_then(|m| minutes.checked_add(m))
            .ok_or_else(too_long)?;
        if minutes > MAX_MINUTES {
            return Err(too_long());
        }
        rest = after.get(unit.len_utf8()..).unwrap_or_default();
    }
    if minutes == 0 {
        return Err("the duration must be longer than zero".to_string());
    }
    Ok(Duration::from_secs(minutes * 60))
}

/// The canonical text of a duration, the form [`parse_duration`] reads back: `4h`, `1h30m`,
/// `2d`. Parts of a minute round up; zero is `0m`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let mut minutes = secs / 60;
    if !secs.is_multiple_of(60) || d.subsec_nanos() != 0 {
        minutes += 1;
    }
    if minutes == 0 {
        return "0m".to_string();
    }
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let mut out = String::new();
    for (n, unit) in [(days, 'd'), (hours, 'h'), (mins, 'm')] {
        if n != 0 {
            out.push_str(&n.to_string());
            out.push(unit);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mins(m: u64) -> Result<Duration, String> {
        Ok(Duration::from_secs(m * 60))
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(parse_duration("30m"), mins(30));
        assert_eq!(parse_duration("4h"), mins(240));
        assert_eq!(parse_duration("2d"), mins(2880));
        assert_eq!(parse_duration("1h30m"), mins(90));
        assert_eq!(parse_duration("2d12h"), mins(3600));
        assert_eq!(parse_duration("1d2h3m"), mins(1440 + 123));
        assert_eq!(parse_duration("90m"), mins(90));
        assert_eq!(parse_duration("4H"), mins(240));
        assert_eq!(parse_duration("0h30m"), mins(30));
        assert_eq!(parse_duration("007m"), mins(7));
        assert_eq!(parse_duration("365d"), Ok(MAX_DURATION));
    }

    #[test]
    fn rejected_forms() {
        let err = |s: &str| parse_duration(s).err().unwrap_or_default();
        assert_eq!(err(""), "the duration is empty");
        assert_eq!(err("0m"), "the duration must be longer than zero");
        assert_eq!(err("0d0h"), "the duration must be longer than zero");
        assert_eq!(err("30"), "`30` has no unit; use `m`, `h` or `d`");
        assert_eq!(err("4x"), "unknown unit `x`; use `m`, `h` or `d`");
        assert_eq!(err("4é"), "unknown unit `é`; use `m`, `h` or `d`");
        assert_eq!(
            err("30s"),
            "seconds are too short; the smallest unit is `m`"
        );
        assert_eq!(err("h"), "expected a number before `h`");
        assert_eq!(err("1hh"), "expected a number before `h`");
        assert_eq!(
            err("30m1h"),
            "units go from largest to smallest, each once, like `1h30m`"
        );
        assert_eq!(
            err("1h1h"),
            "units go from largest to smallest, each once, like `1h30m`"
        );
        assert_eq!(err("366d"), "that is too long; the most is `365d`");
        assert_eq!(
            err("99999999999999999999999m"),
            "that is too long; the most is `365d`"
        );
        assert_eq!(
            err("18446744073709551615d"),
            "that is too long; the most is `365d`"
        );
        assert_eq!(err("-5m"), "expected a number before `-`");
    }

    #[test]
    fn format_round_trips() {
        for m in [1, 59, 60, 61, 90, 1440, 1441, 3600, MAX_MINUTES] {
            let d = Duration::from_secs(m * 60);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{m}");
        }
        assert_eq!(format_duration(Duration::from_secs(90 * 60)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(2 * 86400)), "2d");
        assert_eq!(format_duration(Duration::from_secs(61)), "2m");
        assert_eq!(format_duration(Duration::ZERO), "0m");
    }
}
