//! "Now" and "wait until then" for the engine and the scheduler. Production uses the system
//! clock; tests use `ManualClock` and move time (warnings, teardown, the 09:00 digest, DST).

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Resolves once `now() >= at`.
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'_, ()>;
}

/// The system clock.
pub struct SystemClock;

/// Longest single sleep: the wall clock can jump (NTP, suspend), so the target is re-checked.
const MAX_SLEEP: Duration = Duration::from_secs(60);

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            loop {
                let left = at - Utc::now();
                let Ok(left) = left.to_std() else { return };
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left.min(MAX_SLEEP)).await;
            }
        })
    }
}

/// A clock that only moves when told to; sleepers wake when it passes their time.
pub struct ManualClock {
    now: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            now: watch::Sender::new(start),
        })
    }

    pub fn set(&self, at: DateTime<Utc>) {
        self.now.send_replace(at);
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.now.send_modify(|now| *now += by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'_, ()> {
        let mut now = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as `self`, so `wait_for` only ends when time has come.
            let _ = now.wait_for(|now| *now >= at).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_moved_past_their_time() {
        let start = Utc::now();
        let clock = ManualClock::new(start);
        let woke = {
            let clock = clock.clone();
            tokio::spawn(async move {
                clock.sleep_until(start + chrono::Duration::hours(1)).await;
                clock.now()
            })
        };
        clock.advance(chrono::Duration::minutes(59));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!woke.is_finished(), "woke too early");
        clock.advance(chrono::Duration::minutes(2));
        let at = tokio::time::timeout(Duration::from_secs(5), woke)
            .await
            .expect("woke")
            .expect("task");
        assert_eq!(at, start + chrono::Duration::minutes(61));
    }

    #[tokio::test]
    async fn the_system_clock_does_not_sleep_for_the_past() {
        let clock = SystemClock;
        tokio::time::timeout(
            Duration::from_secs(1),
            clock.sleep_until(Utc::now() - chrono::Duration::hours(1)),
        )
        .await
        .expect("returns at once");
    }
}
