//! The audit log (SPEC section 7): every state-changing action, who asked, from where, on what
//! and how it ended, as a structured log line and as an Event in the bot's namespace.

use crate::engine::Outcome;
use crate::origin::Origin;
use chrono::Utc;
use preview_deploy::ops::{AuditEntry, AuditOutcome, OpsStore};
use std::future::Future;

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

tokio::task_local! {
    /// Where an operation that knows its final outcome before it has finished (an `up` that
    /// still saves and reports it) says so, so its audit entry is written meanwhile.
    static EARLY_OUTCOME: std::cell::RefCell<Option<tokio::sync::oneshot::Sender<Outcome>>>;
}

/// Tells the command being audited (if any, and only the first time) that its outcome is
/// final: its audit entry need not wait for the rest of the work.
pub fn outcome_known(outcome: &Outcome) {
    let _ = EARLY_OUTCOME.try_with(|sender| {
        if let Some(sender) = sender.borrow_mut().take() {
            let _ = sender.send(outcome.clone());
        }
    });
}

/// Runs `work` (which returns the outcomes) and records its audit entry with `record`: as
/// soon as `work` calls [`outcome_known`], concurrently with the rest of it, or else once it
/// has finished, from what it returned.
pub async fn while_running<W, R, F>(work: W, record: R) -> Vec<Outcome>
where
    W: Future<Output = Vec<Outcome>>,
    R: Fn(Vec<Outcome>) -> F,
    F: Future<Output = ()>,
{
    let (sender, early) = tokio::sync::oneshot::channel();
    let work = EARLY_OUTCOME.scope(std::cell::RefCell::new(Some(sender)), work);
    let early = async {
        match early.await {
            Ok(outcome) => {
                record(vec![outcome]).await;
                true
            }
            // `work` ended without saying.
            Err(_) => false,
        }
    };
    let (outcomes, recorded) = tokio::join!(work, early);
    if !recorded {
        record(outcomes.clone()).await;
    }
    outcomes
}

/// Outcome texts can be long (diagnoses, log tails); the log keeps their first line.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_string()
}
