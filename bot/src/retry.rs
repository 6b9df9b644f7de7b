//! Bounded retries with exponential backoff and full jitter, honouring a server's
//! `Retry-After`, for the Slack and GitHub calls (the Kubernetes client has its own policy for
//! 429/503/504). What is retried is decided per error by the caller: a rate limit is always safe
//! to repeat (the request was not processed), a 5xx only for idempotent calls.

use rand::Rng;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How hard to try.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first backoff's upper bound; it doubles per attempt up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No retry starts later than this after the first attempt (a `Retry-After` beyond it
    /// gives up at once).
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            budget: Duration::from_secs(60),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Try again, after the server's `Retry-After` if it gave one, else after the backoff.
    Retry { after: Option<Duration> },
    /// Give up with this error.
    Fail,
}

/// Runs `attempt` until it succeeds, `classify` says to stop, or the policy is spent.
pub async fn retry<T, E, F, Fut>(
    policy: RetryPolicy,
    what: &str,
    mut attempt: F,
    classify: impl Fn(&E) -> Verdict,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let Verdict::Retry { after } = classify(&error) else {
            return Err(error);
        };
        if tries >= policy.attempts {
            tracing::warn!(%what, tries, %error, "giving up after retries");
            return Err(error);
        }
        let delay = after.unwrap_or_else(|| backoff(policy, tries));
        if started.elapsed() + delay > policy.budget {
            tracing::warn!(%what, tries, ?delay, %error, "retry would exceed the time budget; giving up");
            return Err(error);
        }
        tracing::info!(%what, tries, ?delay, %error, "retrying");
        tokio::time::sleep(delay).await;
    }
}

/// Full jitter: uniform in `[0, min(max, base * 2^(tries-1))]`, so that many clients that
/// failed together do not retry together.
fn backoff(policy: RetryPolicy, tries: u32) -> Duration {
    jittered_backoff(policy.base_delay, policy.max_delay, tries)
}

/// The wait before attempt `tries + 1`: uniform in `[0, min(max, base * 2^(tries-1))]`, for
/// loops that keep trying (a reconnecting client) rather than give up after a few attempts.
pub fn jittered_backoff(base: Duration, max: Duration, tries: u32) -> Duration {
    let exponent = tries.saturating_sub(1).min(16);
    let ceiling = base.saturating_mul(1 << exponent).min(max);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            budget: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn retries_until_success_within_the_attempts() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, String> = retry(
            quick(),
            "test",
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                if n < 3 {
                    Err(format!("fail {n}"))
                } else {
                    Ok(n)
                }
            },
            |_| Verdict::Retry { after: None },
        )
        .await;
        assert_eq!(result, Ok(3));
        let calls = AtomicU32::new(0);
        let result: Result<u32, String> = retry(
            quick(),
            "test",
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("always".to_string())
            },
            |_| Verdict::Retry { after: None },
        )
        .await;
        assert_eq!(result, Err("always".into()));
        assert_eq!(calls.load(Ordering::SeqCst), 3, "bounded by attempts");
    }

    #[tokio::test]
    async fn fatal_errors_and_long_retry_after_stop_at_once() {
        let calls = AtomicU32::new(0);
        let result: Result<(), String> = retry(
            quick(),
            "test",
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("bad request".to_string())
            },
            |_| Verdict::Fail,
        )
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let started = Instant::now();
        let result: Result<(), String> = retry(
            quick(),
            "test",
            || async { Err("rate limited".to_string()) },
            |_| Verdict::Retry {
                after: Some(Duration::from_secs(3600)),
            },
        )
        .await;
        assert!(result.is_err());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no hour-long wait"
        );
    }

    #[test]
    fn backoff_is_jittered_and_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            ..quick()
        };
        for tries in 1..20 {
            assert!(backoff(policy, tries) <= Duration::from_millis(300));
        }
        let samples: std::collections::HashSet<Duration> =
            (0..50).map(|_| backoff(policy, 3)).collect();
        assert!(samples.len() > 1, "jittered");
    }
}
