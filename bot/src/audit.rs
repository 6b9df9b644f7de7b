//! The audit log (SPEC section 7): every state-changing action, who asked, from where, on what
//! and how it ended, as a structured log line and as an Event in the bot's namespace.

use crate::origin::Origin;
use chrono::Utc;
use preview_deploy::ops::{AuditEntry, AuditOutcome, OpsStore};

pub struct Auditor {
    store: OpsStore,
}

impl Auditor {
    pub fn new(store: OpsStore) -> Auditor {
        Auditor { store }
    }

    /// Records one action. The log line is always written; the Event is best effort (an
    /// unreachable API server must not block the action, and is itself logged).
    pub async fn record(
        &self,
        origin: &Origin,
        action: &str,
        target: &str,
        outcome: AuditOutcome,
        detail: &str,
    ) {
        let entry = AuditEntry {
            time: Utc::now(),
            actor: origin.actor(),
            source: origin.source(),
            action: action.to_string(),
            target: target.to_string(),
            outcome,
            detail: first_line(detail),
        };
        tracing::info!(
            target: "preview_bot::audit",
            actor = %entry.actor,
            source = %entry.source,
            action = %entry.action,
            target_previews = %entry.target,
            outcome = entry.outcome.as_str(),
            detail = %entry.detail,
            "audit"
        );
        if let Err(e) = self.store.record_audit(&entry).await {
            tracing::warn!(error = %e, action = %entry.action, "writing the audit Event failed");
        }
    }

    /// The newest entries, newest first.
    pub async fn recent(&self, limit: usize) -> Result<Vec<AuditEntry>, String> {
        self.store
            .recent_audit(limit)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Outcome texts can be long (diagnoses, log tails); the log keeps their first line.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_string()
}
