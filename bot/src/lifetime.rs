//! When an idle preview goes (SPEC section 6): from its last activity, `extend`, `--ttl` and pin,
//! under the `[schedule]` config. Pure, so the sweep, `status` and the sticky comment agree.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use preview_config::{IdleAction, ScheduleConfig};
use preview_deploy::{Phase, PreviewRecord};

#[derive(Clone, Debug)]
pub struct Policy {
    pub idle_ttl: chrono::Duration,
    pub warn_before: chrono::Duration,
    pub max_extend: chrono::Duration,
    pub action: IdleAction,
    pub tz: Tz,
}

/// What the idle sweep should do with one preview now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    Nothing,
    /// Post the warning announcing the teardown (or sleep) at this time.
    Warn(DateTime<Utc>),
    /// The announced time has come.
    Act(DateTime<Utc>),
}

fn duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Policy {
    pub fn new(schedule: &ScheduleConfig) -> Policy {
        Policy {
            idle_ttl: duration(schedule.idle_ttl.get()),
            warn_before: duration(schedule.warn_before.get()),
            max_extend: duration(schedule.max_extend()),
            action: schedule.idle_action,
            tz: schedule.tz(),
        }
    }

    /// When the preview is torn down (or put to sleep) if nothing happens; `None` when it is
    /// pinned, asleep or already going.
    pub fn expires_at(&self, record: &PreviewRecord) -> Option<DateTime<Utc>> {
        if record.pinned || matches!(record.phase, Phase::Sleeping | Phase::Terminating) {
            return None;
        }
        let idle = record.last_activity + self.idle_ttl;
        let idle = record.keep_until.map_or(idle, |keep| idle.max(keep));
        Some(record.deadline.map_or(idle, |deadline| idle.min(deadline)))
    }

    /// Warn once `warn_before` ahead; act only at the time a warning announced. A warning that
    /// would give less than half of `warn_before` notice (the bot was down) announces
    /// `warn_before` from now instead. Activity or `extend` after a warning moves the expiry
    /// past the announced time, and the next warning is for the new expiry.
    pub fn due(&self, record: &PreviewRecord, now: DateTime<Utc>) -> Due {
        if !matches!(record.phase, Phase::Ready | Phase::Failed) {
            return Due::Nothing;
        }
        let Some(expires) = self.expires_at(record) else {
            return Due::Nothing;
        };
        match record.warned_for {
            Some(announced) if announced >= expires => {
                if now >= announced {
                    Due::Act(announced)
                } else {
                    Due::Nothing
                }
            }
            _ if now >= expires - self.warn_before => {
                // Less than half the notice left means the warning is late: full notice instead.
                if expires - now < self.warn_before / 2 {
                    Due::Warn(now + self.warn_before)
                } else {
                    Due::Warn(expires)
                }
            }
            _ => Due::Nothing,
        }
    }

    /// The new keep-until of `extend [by]`: at least `by` from now (default one idle period),
    /// never shortening the current expiry and never further than `max_extend` from now. The
    /// same command twice gives the same answer. The bool says whether the cap applied.
    pub fn extended(
        &self,
        record: &PreviewRecord,
        by: Option<std::time::Duration>,
        now: DateTime<Utc>,
    ) -> (DateTime<Utc>, bool) {
        let wanted = now + by.map_or(self.idle_ttl, duration);
        let cap = now + self.max_extend;
        let granted = wanted.min(cap);
        let current = self.expires_at(record).unwrap_or(granted);
        (granted.max(current), wanted > cap)
    }

    /// `2026-11-23 14:00 CET`: a time as people in the configured zone read it.
    pub fn local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// The lifetime line of `status` and the sticky comment.
    pub fn describe(&self, record: &PreviewRecord) -> Option<String> {
        if record.phase == Phase::Terminating {
            return None;
        }
        if record.phase == Phase::Sleeping {
            return Some("asleep (scaled to zero); `up` or a push wakes it".into());
        }
        if record.pinned {
            return Some("pinned: kept until unpinned".into());
        }
        let expires = self.expires_at(record)?;
        let verb = match self.action {
            IdleAction::Teardown => "torn down",
            IdleAction::Sleep => "put to sleep",
        };
        Some(format!("{verb} at {} unless used", self.local(expires)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use preview_deploy::PreviewId;

    fn policy() -> Policy {
        Policy::new(&ScheduleConfig {
            timezone: "Europe/Amsterdam".into(),
            ..ScheduleConfig::default()
        })
    }

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0)
            .single()
            .expect("time")
    }

    fn record() -> PreviewRecord {
        let id = PreviewId::new("collect", 42);
        let ns = id.namespace("preview-");
        let mut r = PreviewRecord::new(id, ns, "acme/collect", "octocat", "a", t(0, 0));
        r.phase = Phase::Ready;
        r.last_activity = t(1, 0) - chrono::Duration::hours(24) + chrono::Duration::hours(12);
        r
    }

    #[test]
    fn idle_previews_are_warned_then_acted_on_at_the_announced_time() {
        let p = policy();
        let mut r = record();
        let expires = p.expires_at(&r).expect("expires");
        assert_eq!(expires, t(13, 0));
        assert_eq!(p.due(&r, t(11, 59)), Due::Nothing);
        assert_eq!(p.due(&r, t(12, 0)), Due::Warn(expires));
        r.warned_for = Some(expires);
        assert_eq!(p.due(&r, t(12, 30)), Due::Nothing);
        assert_eq!(p.due(&r, t(13, 0)), Due::Act(expires));
        // Activity after the warning moves the expiry: a new warning, no action.
        r.last_activity = t(12, 45);
        assert_eq!(p.due(&r, t(13, 5)), Due::Nothing);
        // A warning posted late still gives the full notice.
        let mut late = record();
        assert_eq!(p.due(&late, t(15, 0)), Due::Warn(t(16, 0)));
        late.warned_for = Some(t(16, 0));
        assert_eq!(p.due(&late, t(15, 5)), Due::Nothing);
        assert_eq!(p.due(&late, t(16, 0)), Due::Act(t(16, 0)));
        // A shorter `--ttl` after the warning never acts before the announced time.
        late.deadline = Some(t(15, 10));
        assert_eq!(p.due(&late, t(15, 30)), Due::Nothing);
        assert_eq!(p.due(&late, t(16, 0)), Due::Act(t(16, 0)));
    }

    #[test]
    fn pinned_sleeping_and_deploying_previews_are_left_alone() {
        let p = policy();
        for change in [
            |r: &mut PreviewRecord| r.pinned = true,
            |r: &mut PreviewRecord| r.phase = Phase::Sleeping,
            |r: &mut PreviewRecord| r.phase = Phase::Deploying,
            |r: &mut PreviewRecord| r.phase = Phase::Terminating,
        ] {
            let mut r = record();
            change(&mut r);
            assert_eq!(p.due(&r, t(23, 0)), Due::Nothing, "{r:?}");
        }
    }

    #[test]
    fn a_ttl_deadline_comes_first_and_extend_moves_both() {
        let p = policy();
        let mut r = record();
        r.deadline = Some(t(9, 0));
        assert_eq!(p.expires_at(&r), Some(t(9, 0)));
        let four_hours = Some(std::time::Duration::from_secs(4 * 3600));
        let (keep, capped) = p.extended(&r, four_hours, t(8, 30));
        assert_eq!((keep, capped), (t(12, 30), false));
        r.keep_until = Some(keep);
        r.deadline = Some(keep);
        assert_eq!(p.expires_at(&r), Some(t(12, 30)));
        // The same command again changes nothing; a shorter one never shortens.
        assert_eq!(p.extended(&r, four_hours, t(8, 30)), (t(12, 30), false));
        let one_hour = Some(std::time::Duration::from_secs(3600));
        assert_eq!(p.extended(&r, one_hour, t(8, 30)), (t(12, 30), false));
        // Extending past max_extend (default max_ttl, 7 days) is capped.
        let (keep, capped) = p.extended(
            &r,
            Some(std::time::Duration::from_secs(30 * 86400)),
            t(8, 30),
        );
        assert!(capped);
        assert_eq!(keep, t(8, 30) + chrono::Duration::days(7));
        // Without a duration: one idle period from now.
        assert_eq!(
            p.extended(&record(), None, t(12, 30)).0,
            t(12, 30) + chrono::Duration::hours(24)
        );
    }

    #[test]
    fn times_are_shown_in_the_configured_zone() {
        let p = policy();
        assert_eq!(p.local(t(13, 0)), "2026-11-23 14:00 CET");
        let summer = Utc
            .with_ymd_and_hms(2026, 7, 1, 12, 0, 0)
            .single()
            .expect("t");
        assert_eq!(p.local(summer), "2026-07-01 14:00 CEST");
        assert_eq!(
            p.describe(&record()).as_deref(),
            Some("torn down at 2026-11-23 14:00 CET unless used")
        );
    }
}
