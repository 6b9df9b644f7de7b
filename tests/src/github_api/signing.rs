//! Signed webhook deliveries, as GitHub sends them.

use crate::slack_api::fake_http::hmac_sha256_hex;
use std::sync::atomic::{AtomicU64, Ordering};

/// `sha256=` + hex(HMAC-SHA256(secret, body)): GitHub's `X-Hub-Signature-256`.
pub fn webhook_signature(secret: &str, body: &str) -> String {
    format!(
        "sha256={}",
        hmac_sha256_hex(secret.as_bytes(), body.as_bytes())
    )
}

/// A fresh GUID-shaped delivery id (`X-GitHub-Delivery`).
fn delivery_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let hex = format!("{:016x}{:016x}", nanos, n ^ 0x5eed_0000_0000_0000);
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// The headers of a signed delivery of `body` for `event` (`X-GitHub-Event`):
/// `Content-Type: application/json`, `X-GitHub-Event`, `X-GitHub-Delivery` (fresh each call),
/// `X-Hub-Signature-256`.
pub fn signed_webhook(secret: &str, event: &str, body: &str) -> Vec<(String, String)> {
    vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("X-GitHub-Event".to_string(), event.to_string()),
        ("X-GitHub-Delivery".to_string(), delivery_id()),
        (
            "X-Hub-Signature-256".to_string(),
            webhook_signature(secret, body),
        ),
    ]
}
