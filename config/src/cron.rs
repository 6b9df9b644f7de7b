//! Cron expressions as people write them (5 fields, `0 9 * * 1-5` = Monday to Friday, 0 and 7 =
//! Sunday), translated to what the `cron` crate needs: a leading seconds field and day-of-week
//! numbers 1 = Sunday ... 7 = Saturday (DEPENDENCIES.md). The only place that knows the difference.

use chrono::{DateTime, TimeZone};
use std::fmt;
use std::str::FromStr;

/// A parsed 5-field cron expression.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    text: String,
    schedule: cron::Schedule,
}

impl CronSchedule {
    /// Parses `minute hour day-of-month month day-of-week`; the error says what is wrong.
    pub fn parse(expr: &str) -> Result<CronSchedule, String> {
        let translated = translate(expr)?;
        let schedule = cron::Schedule::from_str(&translated)
            .map_err(|e| format!("{expr:?} is not a valid cron expression: {e}"))?;
        if schedule.upcoming(chrono::Utc).next().is_none() {
            return Err(format!("{expr:?} never fires"));
        }
        Ok(CronSchedule {
            text: expr.trim().to_string(),
            schedule,
        })
    }

    /// The first fire time strictly after `after`, in `after`'s time zone (DST-aware: a time
    /// that does not exist that day is skipped, one that exists twice fires once).
    pub fn next_after<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        self.schedule.after(after).next()
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `*/5 * * * *` -> `0 */5 * * * *`, with the day-of-week field renumbered.
fn translate(expr: &str) -> Result<String, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "{expr:?} has {} fields; write the 5 fields `minute hour day-of-month month day-of-week`, e.g. \"0 9 * * 1-5\"",
            fields.len()
        ));
    }
    let dow = translate_day_of_week(fields[4])
        .map_err(|e| format!("{expr:?}: day-of-week {:?}: {e}", fields[4]))?;
    Ok(format!(
        "0 {} {} {} {} {dow}",
        fields[0], fields[1], fields[2], fields[3]
    ))
}

/// Renumbers day-of-week numbers (0-7, 0 and 7 = Sunday) to the crate's 1 = Sunday ... 7 =
/// Saturday. Numeric ranges and steps are expanded into lists, so `5-7` (Friday to Sunday) and
/// `*/2` mean what they mean in crontab. Names (`Mon-Fri`) pass through unchanged.
fn translate_day_of_week(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let mut out: Vec<String> = Vec::new();
    for item in field.split(',') {
        if item.bytes().any(|b| b.is_ascii_alphabetic()) {
            out.push(item.to_string());
            continue;
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("step {step:?} must be a positive number"))?;
                (range, step)
            }
            None => (item, 1),
        };
        let (first, last) = match range {
            "*" => (0, 6),
            _ => match range.split_once('-') {
                Some((a, b)) => (day_number(a)?, day_number(b)?),
                None if step > 1 => (day_number(range)?, 6),
                None => {
                    let day = day_number(range)?;
                    (day, day)
                }
            },
        };
        if first > last {
            return Err(format!("range {range:?} runs backwards"));
        }
        for day in (first..=last).step_by(step as usize) {
            let crate_day = (day % 7) + 1;
            let text = crate_day.to_string();
            if !out.contains(&text) {
                out.push(text);
            }
        }
    }
    Ok(out.join(","))
}

fn day_number(text: &str) -> Result<u32, String> {
    text.parse::<u32>()
        .ok()
        .filter(|d| *d <= 7)
        .ok_or_else(|| format!("{text:?} is not a day number 0-7 (0 and 7 are Sunday)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Utc, Weekday};
    use chrono_tz::Europe::Amsterdam;
    use chrono_tz::Tz;

    fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Tz> {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .expect("a local time")
    }

    fn fires(expr: &str, from: DateTime<Tz>, n: usize) -> Vec<DateTime<Tz>> {
        let schedule = CronSchedule::parse(expr).expect("parses");
        let mut out = Vec::new();
        let mut t = from;
        for _ in 0..n {
            t = schedule.next_after(&t).expect("fires");
            out.push(t);
        }
        out
    }

    #[test]
    fn five_fields_are_translated() {
        assert_eq!(translate("*/5 * * * *").unwrap(), "0 */5 * * * *");
        assert_eq!(translate("0 9 * * 1-5").unwrap(), "0 0 9 * * 2,3,4,5,6");
        assert_eq!(translate("0 9 * * 0").unwrap(), "0 0 9 * * 1");
        assert_eq!(translate("0 9 * * 7").unwrap(), "0 0 9 * * 1");
        assert_eq!(translate("0 9 * * 5-7").unwrap(), "0 0 9 * * 6,7,1");
        assert_eq!(translate("0 9 * * */2").unwrap(), "0 0 9 * * 1,3,5,7");
        assert_eq!(translate("0 9 * * Mon-Fri").unwrap(), "0 0 9 * * Mon-Fri");
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let errors = [
            "*/5 * * *",
            "0 */5 * * * *",
            "0 9 * * 8",
            "0 9 * * 5-1",
            "0 9 * * */0",
            "61 * * * *",
            "0 9 31 2 *",
        ]
        .map(|e| CronSchedule::parse(e).expect_err(e));
        assert!(errors[0].contains("has 4 fields"), "{}", errors[0]);
        assert!(errors[1].contains("has 6 fields"), "{}", errors[1]);
        assert!(errors[2].contains("0-7"), "{}", errors[2]);
        assert!(errors[3].contains("backwards"), "{}", errors[3]);
        assert!(errors[4].contains("positive"), "{}", errors[4]);
        assert!(errors[5].contains("not a valid cron"), "{}", errors[5]);
        assert!(errors[6].contains("never fires"), "{}", errors[6]);
    }

    #[test]
    fn weekdays_mean_monday_to_friday() {
        // Sunday 2026-11-22 08:00: the next five digests are Monday to Friday at 09:00.
        let got = fires("0 9 * * 1-5", at(Amsterdam, 2026, 11, 22, 8, 0), 6);
        let days: Vec<Weekday> = got.iter().map(|t| t.weekday()).collect();
        assert_eq!(
            days,
            [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Mon
            ]
        );
        assert!(got.iter().all(|t| t.format("%H:%M").to_string() == "09:00"));
        let sundays = fires("0 9 * * 0", at(Amsterdam, 2026, 11, 22, 10, 0), 1);
        assert_eq!(sundays[0].weekday(), Weekday::Sun);
        let sundays = fires("0 9 * * 7", at(Amsterdam, 2026, 11, 22, 10, 0), 1);
        assert_eq!(sundays[0].weekday(), Weekday::Sun);
    }

    #[test]
    fn the_digest_stays_at_nine_local_across_both_dst_changes() {
        // Last Sunday of March 2026 is the 29th: Friday 27th 09:00 CET = 08:00 UTC, Monday
        // 30th 09:00 CEST = 07:00 UTC.
        let spring = fires("0 9 * * 1-5", at(Amsterdam, 2026, 3, 27, 8, 0), 2);
        let utc: Vec<String> = spring
            .iter()
            .map(|t| t.with_timezone(&Utc).format("%a %d %H:%M").to_string())
            .collect();
        assert_eq!(utc, ["Fri 27 08:00", "Mon 30 07:00"]);
        // Last Sunday of October 2026 is the 25th: back from CEST to CET.
        let autumn = fires("0 9 * * 1-5", at(Amsterdam, 2026, 10, 23, 8, 0), 2);
        let utc: Vec<String> = autumn
            .iter()
            .map(|t| t.with_timezone(&Utc).format("%a %d %H:%M").to_string())
            .collect();
        assert_eq!(utc, ["Fri 23 07:00", "Mon 26 08:00"]);
    }

    #[test]
    fn sweeps_keep_their_rhythm_through_the_changed_hours() {
        // Spring: the hour 02:00-03:00 does not exist; every 5 minutes stays every 5 minutes.
        let spring = fires("*/5 * * * *", at(Amsterdam, 2026, 3, 29, 1, 0), 36);
        for pair in spring.windows(2) {
            let gap = pair[1].with_timezone(&Utc) - pair[0].with_timezone(&Utc);
            assert_eq!(
                gap,
                chrono::Duration::minutes(5),
                "{} -> {}",
                pair[0],
                pair[1]
            );
        }
        // Autumn: wall times 02:00-03:00 happen twice and fire once (the first time), so the
        // sweep pauses for the repeated hour once a year instead of running twice.
        let autumn = fires("*/5 * * * *", at(Amsterdam, 2026, 10, 25, 1, 0), 36);
        let mut long_gaps = 0;
        for pair in autumn.windows(2) {
            let gap = pair[1].with_timezone(&Utc) - pair[0].with_timezone(&Utc);
            assert!(gap > chrono::Duration::zero(), "{} -> {}", pair[0], pair[1]);
            if gap > chrono::Duration::minutes(5) {
                long_gaps += 1;
                assert_eq!(gap, chrono::Duration::minutes(65));
                assert_eq!(pair[0].format("%H:%M %Z").to_string(), "02:55 CEST");
                assert_eq!(pair[1].format("%H:%M %Z").to_string(), "03:00 CET");
            }
        }
        assert_eq!(long_gaps, 1);
    }

    #[test]
    fn a_daily_time_that_does_not_exist_is_skipped_not_doubled() {
        // 02:30 does not exist on 2026-03-29 in Amsterdam and exists twice on 2026-10-25.
        let spring = fires("30 2 * * *", at(Amsterdam, 2026, 3, 28, 12, 0), 2);
        assert_eq!(spring[0].day(), 30, "{spring:?}");
        let autumn = fires("30 2 * * *", at(Amsterdam, 2026, 10, 24, 12, 0), 2);
        assert_eq!((autumn[0].day(), autumn[1].day()), (25, 26), "{autumn:?}");
    }
}
