//! Request signatures, checked in constant time on the raw body before anything is parsed
//! (SPEC section 8): Slack's v0 scheme and GitHub's `X-Hub-Signature-256`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Slack's replay window.
pub const SLACK_MAX_AGE_SECS: i64 = 5 * 60;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("malformed {0} header")]
    Malformed(&'static str),
    #[error("request timestamp outside the 5-minute window")]
    Stale,
    #[error("signature mismatch")]
    Mismatch,
}

/// Verifies a Slack request: `v0=` + hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}")), with the
/// timestamp no more than five minutes from `now` (unix seconds).
pub fn verify_slack(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing("X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(SignatureError::Missing("X-Slack-Signature"))?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed("X-Slack-Request-Timestamp"))?;
    if (now - ts).abs() > SLACK_MAX_AGE_SECS {
        return Err(SignatureError::Stale);
    }
    let expected = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Malformed("X-Slack-Signature"))?;
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Mismatch)?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Verifies a GitHub delivery: `sha256=` + hex(HMAC-SHA256(secret, body)).
pub fn verify_github(
    secret: &str,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::Missing("X-Hub-Signature-256"))?;
    let expected = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Malformed("X-Hub-Signature-256"))?;
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Whether an `Authorization` header carries `Bearer {expected}`, compared in constant time
/// (as HMACs of both, so neither content nor length leaks through timing).
pub fn bearer_matches(expected: &str, authorization: &str) -> bool {
    let Some(given) = authorization.strip_prefix("Bearer ") else {
        return false;
    };
    let Ok(mut given_mac) = HmacSha256::new_from_slice(given.trim().as_bytes()) else {
        return false;
    };
    given_mac.update(b"preview-bot bearer");
    let Ok(mut expected_mac) = HmacSha256::new_from_slice(expected.as_bytes()) else {
        return false;
    };
    expected_mac.update(b"preview-bot bearer");
    expected_mac
        .verify_slice(&given_mac.finalize().into_bytes())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The published test vectors of shared/fixtures (GitHub Docs; Slack's docs via its SDK).
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_vector() {
        assert_eq!(
            verify_github(GITHUB_SECRET, Some(GITHUB_SIGNATURE), b"Hello, World!"),
            Ok(())
        );
        assert_eq!(
            verify_github(GITHUB_SECRET, Some(GITHUB_SIGNATURE), b"Hello, World?"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_github(GITHUB_SECRET, None, b"x"),
            Err(SignatureError::Missing("X-Hub-Signature-256"))
        );
        assert_eq!(
            verify_github(GITHUB_SECRET, Some("sha1=abc"), b"x"),
            Err(SignatureError::Malformed("X-Hub-Signature-256"))
        );
    }

    #[test]
    fn slack_window() {
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=x";
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(b"v0:1000:token=x");
        let sig = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            verify_slack(secret, Some("1000"), Some(&sig), body, 1000 + 299),
            Ok(())
        );
        assert_eq!(
            verify_slack(secret, Some("1000"), Some(&sig), body, 1000 + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_slack(secret, Some("1000"), Some(&sig), b"token=y", 1000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn bearer_tokens_match_exactly() {
        assert!(bearer_matches("s3cret", "Bearer s3cret"));
        assert!(!bearer_matches("s3cret", "Bearer s3cre"));
        assert!(!bearer_matches("s3cret", "Bearer s3cret2"));
        assert!(!bearer_matches("s3cret", "Basic s3cret"));
        assert!(!bearer_matches("s3cret", "s3cret"));
    }
}
