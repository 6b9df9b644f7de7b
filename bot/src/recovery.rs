//! Picking up after a restart (SPEC section 8): the cluster records what was in flight, so the
//! bot resumes every preview it finds mid-deploy (telling its thread), finishes an idle
//! teardown or sleep that the sweep had claimed but not done, and finishes a kill switch's
//! scale-down or teardown that a crash interrupted.

use crate::engine::{Engine, PreviewRef, UpOptions};
use crate::origin::Origin;
use crate::{killswitch, replies};
use futures::StreamExt;
use preview_deploy::cluster::Teardown;
use preview_deploy::ops::{AuditOutcome, FreezeLevel};
use preview_deploy::{Phase, PreviewRecord};

/// How many claimed teardowns and sleeps are checked at once.
const CLAIM_CHECKS_AT_ONCE: usize = 16;

/// What a recovery pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Previews found mid-deploy and deployed again.
    pub resumed: usize,
    /// Previews found mid-deploy that could not be finished (now `failed`, with the reason).
    pub failed: usize,
    /// Teardowns and sleeps that were claimed in the record but not done, now done.
    pub finished: usize,
}

/// Resumes interrupted work; run once at start (by the leader when several replicas run).
pub async fn recover(engine: &Engine) -> Recovered {
    let mut recovered = Recovered::default();
    let inventory = match engine.cluster.inventory().await {
        Ok(inventory) => inventory,
        Err(e) => {
            tracing::error!(error = %e, "recovery: listing the previews failed; nothing resumed");
            return recovered;
        }
    };
    let interrupted: Vec<&PreviewRecord> = inventory
        .previews
        .iter()
        .filter(|r| r.phase == Phase::Deploying)
        .collect();
    let resumes = interrupted.iter().map(|record| resume(engine, record));
    for finished in futures::future::join_all(resumes).await {
        if finished {
            recovered.resumed += 1;
        } else {
            recovered.failed += 1;
        }
    }
    // A few at a time: a thousand sleeping previews are a thousand scale checks.
    // Boxed futures rather than a closure over the stream: keeps the future `Send`.
    let mut claimed: Vec<futures::future::BoxFuture<'_, bool>> = Vec::new();
    for record in &inventory.previews {
        if matches!(record.phase, Phase::Terminating | Phase::Sleeping) {
            claimed.push(Box::pin(finish_claimed(engine, record)));
        }
    }
    let mut checks = futures::stream::iter(claimed).buffer_unordered(CLAIM_CHECKS_AT_ONCE);
    while let Some(finished) = checks.next().await {
        recovered.finished += usize::from(finished);
    }
    match engine.ops.kill_switch().await {
        Ok(state) if state.active && state.level != FreezeLevel::Freeze => {
            // Scaling and teardown skip what is already done, so running them again finishes
            // exactly what the crash left.
            killswitch::finish_interrupted(engine, state.level).await;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "recovery: the kill switch could not be read"),
    }
    if recovered != Recovered::default() {
        tracing::info!(?recovered, "recovery finished");
    }
    recovered
}

/// An idle sweep claims a teardown or a sleep in the record before it acts: a crash in between
/// leaves a record saying `terminating` on a live namespace, or `sleeping` with workloads still
/// running. Both acts are idempotent, so they are simply done again. True when something was
/// left to do.
async fn finish_claimed(engine: &Engine, record: &PreviewRecord) -> bool {
    // A command working on the preview right now knows better.
    let Some(_guard) = engine.try_lock(&record.id) else {
        return false;
    };
    let result = match record.phase {
        Phase::Terminating => match engine.cluster.teardown(&record.namespace).await {
            Ok(Teardown::Deleted) => Ok(true),
            Ok(Teardown::AlreadyGone) => Ok(false),
            Err(e) => Err(e),
        },
        Phase::Sleeping => match engine.cluster.scale_to_zero(&record.namespace).await {
            Ok(counts) if counts.is_empty() => Ok(false),
            Ok(counts) => {
                let mut record = record.clone();
                for (workload, replicas) in counts {
                    record.sleeping_replicas.entry(workload).or_insert(replicas);
                }
                engine.save_quietly(&record).await;
                Ok(true)
            }
            Err(e) => Err(e),
        },
        _ => return false,
    };
    let action = match record.phase {
        Phase::Terminating => "resume teardown",
        _ => "resume sleep",
    };
    match result {
        Ok(false) => false,
        Ok(true) => {
            tracing::info!(preview = %record.id, action, "recovery finished a claimed action");
            engine
                .audit
                .record(
                    &Origin::Bot,
                    action,
                    &record.id.to_string(),
                    AuditOutcome::Succeeded,
                    "claimed before a restart, done now",
                )
                .await;
            true
        }
        Err(e) => {
            tracing::error!(preview = %record.id, action, error = %e, "recovery could not finish a claimed action; the next sweep or command repeats it");
            false
        }
    }
}

/// Deploys an interrupted preview again at the commit its record names; true when it ended
/// ready (or was superseded meanwhile).
async fn resume(engine: &Engine, record: &PreviewRecord) -> bool {
    let preview = PreviewRef::of(record);
    let mut noted = record.clone();
    engine
        .notifier
        .progress(&mut noted, &replies::resuming(&record.head_sha))
        .await;
    if noted.slack_thread_ts != record.slack_thread_ts
        && let Err(e) = engine.cluster.save_record(&noted).await
    {
        tracing::warn!(preview = %record.id, error = %e, "recovery: saving the thread failed");
    }
    let options = UpOptions {
        sha: Some(record.head_sha.clone()),
        only_if_exists: true,
        ..UpOptions::default()
    };
    let outcome = engine.up(&preview, &Origin::Bot, options).await;
    let (ok, text) = match &outcome {
        Some(outcome) => (outcome.ok, outcome.text.clone()),
        None => (true, "the preview is gone".to_string()),
    };
    engine
        .audit
        .record(
            &Origin::Bot,
            "resume deploy",
            &record.id.to_string(),
            if ok {
                AuditOutcome::Succeeded
            } else {
                AuditOutcome::Refused
            },
            &text,
        )
        .await;
    if !ok {
        mark_failed_if_stuck(engine, record, &text).await;
    }
    ok
}

/// A resume refused before it started (PR closed, kill switch on, GitHub unreachable) leaves the
/// record saying `deploying`; say `failed` and why instead, so nobody waits for it.
async fn mark_failed_if_stuck(engine: &Engine, record: &PreviewRecord, reason: &str) {
    let Ok(Some(mut current)) = engine.cluster.get_record(&record.namespace).await else {
        return;
    };
    if current.phase != Phase::Deploying {
        return;
    }
    current.phase = Phase::Failed;
    current.message = Some(reason.lines().next().unwrap_or(reason).to_string());
    engine.notifier.progress(&mut current, reason).await;
    engine.notifier.sync(&mut current).await;
    if let Err(e) = engine.cluster.save_record(&current).await {
        tracing::warn!(preview = %record.id, error = %e, "recovery: marking the preview failed did not save");
    }
}
