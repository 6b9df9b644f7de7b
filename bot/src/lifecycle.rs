//! The lifetime commands (`extend`, `pin`, `unpin`) and what the idle sweep does to one preview
//! (warn, then tear down or put to sleep). Sweep actions are claimed in the cluster first
//! (`Cluster::claim_record`), so a second replica or a restart never repeats them.

use crate::engine::{Engine, Outcome, PreviewRef};
use crate::lifetime::Due;
use crate::notify::DeploymentState;
use crate::origin::Origin;
use crate::replies;
use chrono::{DateTime, Utc};
use preview_config::IdleAction;
use preview_deploy::ops::AuditOutcome;
use preview_deploy::schedule_state::Claim;
use preview_deploy::{DeployError, Phase, PreviewId, PreviewRecord};
use std::time::Duration;

/// Activity on the preview: its idle clock restarts and any warning is void.
pub fn touch(record: &mut PreviewRecord, now: DateTime<Utc>) {
    record.last_activity = now;
    record.warned_for = None;
}

/// `1d`, `4h`, `1h30m`: how people write durations in commands.
pub fn compact(d: Duration) -> String {
    let mut secs = d.as_secs().max(60);
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

impl Engine {
    /// A running preview's record, or the answer to give instead.
    async fn running_record(&self, id: &PreviewId) -> Result<PreviewRecord, Outcome> {
        let prefix = &self.config.bot.command_prefix;
        let ns = id.namespace(&self.config.bot.namespace_prefix);
        match self.cluster.get_record(&ns).await {
            Ok(Some(record)) if record.phase == Phase::Terminating => {
                Err(Outcome::refused(replies::no_preview(id, prefix)))
            }
            Ok(Some(record)) => Ok(record),
            Ok(None) => Err(Outcome::refused(replies::no_preview(id, prefix))),
            Err(e) => Err(Outcome::refused(replies::cannot_read(id, &e))),
        }
    }

    /// Saves, tells the thread who did what and refreshes the sticky comment; `answer` is
    /// the same whoever asks and from where.
    async fn record_changed(
        &self,
        record: &mut PreviewRecord,
        answer: String,
        origin: &Origin,
    ) -> Outcome {
        if let Err(e) = self.cluster.save_record(record).await {
            return Outcome::refused(replies::cannot_read(&record.id, &e));
        }
        self.notifier
            .progress(record, &replies::by_whom(&answer, &origin.actor()))
            .await;
        self.notifier.sync(record).await;
        self.save_quietly(record).await;
        Outcome::ok(answer)
    }

    /// `extend [DUR]`: keeps the preview at least DUR from now (default one idle period),
    /// never shortening its current expiry, never further than `schedule.max_extend` from now.
    pub async fn extend(
        &self,
        target: &PreviewRef,
        by: Option<Duration>,
        origin: &Origin,
    ) -> Outcome {
        let id = target.id();
        let _guard = self.lock(&id).await;
        let prefix = &self.config.bot.command_prefix;
        let mut record = match self.running_record(&id).await {
            Ok(record) => record,
            Err(answer) => return answer,
        };
        if record.pinned {
            return Outcome::ok(replies::extend_pinned(&id, prefix));
        }
        if record.phase == Phase::Sleeping {
            return Outcome::refused(replies::asleep(&id, prefix));
        }
        let policy = self.policy();
        let (until, capped) = policy.extended(&record, by, self.now());
        record.keep_until = Some(until);
        if record.deadline.is_some_and(|d| d < until) {
            record.deadline = Some(until);
        }
        // A warning for the old expiry no longer matches the new one; one for an unchanged
        // expiry still holds, so it is not repeated.
        let limit = capped.then(|| compact(self.config.schedule.max_extend()));
        let answer = replies::extended(&id, &policy.local(until), limit.as_deref());
        self.record_changed(&mut record, answer, origin).await
    }

    /// `pin`: exempt from idle teardown, up to `schedule.max_pinned_per_app` per app.
    pub async fn pin(&self, target: &PreviewRef, origin: &Origin) -> Outcome {
        let id = target.id();
        let _guard = self.lock(&id).await;
        let mut record = match self.running_record(&id).await {
            Ok(record) => record,
            Err(answer) => return answer,
        };
        let others: Vec<String> = match self.cluster.inventory().await {
            Ok(inventory) => inventory
                .previews
                .iter()
                .filter(|r| r.id.app == id.app && r.id != id)
                .filter(|r| r.pinned && r.phase != Phase::Terminating)
                .map(|r| r.id.to_string())
                .collect(),
            Err(e) => return Outcome::refused(replies::cannot_list(&e)),
        };
        let limit = self.config.schedule.max_pinned_per_app;
        if record.pinned {
            return Outcome::ok(replies::pinned(&id, others.len() + 1, limit));
        }
        if others.len() >= limit {
            return Outcome::refused(replies::pin_limit(
                &id,
                &id.app,
                limit,
                &others,
                &self.config.bot.command_prefix,
            ));
        }
        record.pinned = true;
        touch(&mut record, self.now());
        let answer = replies::pinned(&id, others.len() + 1, limit);
        self.record_changed(&mut record, answer, origin).await
    }

    /// `unpin`: the preview expires again, counting from now.
    pub async fn unpin(&self, target: &PreviewRef, origin: &Origin) -> Outcome {
        let id = target.id();
        let _guard = self.lock(&id).await;
        let mut record = match self.running_record(&id).await {
            Ok(record) => record,
            Err(answer) => return answer,
        };
        let was_pinned = record.pinned;
        if was_pinned {
            record.pinned = false;
            touch(&mut record, self.now());
        }
        let lifetime = self
            .policy()
            .describe(&record)
            .unwrap_or_else(|| "kept".into());
        let answer = replies::unpinned(&id, &lifetime);
        if !was_pinned {
            return Outcome::ok(answer);
        }
        self.record_changed(&mut record, answer, origin).await
    }

    /// Why a preview expires: its `--ttl` deadline when that comes before the idle expiry
    /// (`extend` included), else idleness.
    fn expiry_reason(&self, record: &PreviewRecord, past: bool) -> String {
        let policy = self.policy();
        let idle = record.last_activity + policy.idle_ttl;
        let idle = record.keep_until.map_or(idle, |keep| idle.max(keep));
        match record.deadline {
            Some(deadline) if deadline < idle => {
                if past {
                    "reached its `--ttl` deadline".into()
                } else {
                    "reaches its `--ttl` deadline".into()
                }
            }
            _ => format!(
                "{} idle since {}",
                if past { "had been" } else { "has been" },
                policy.local(record.last_activity)
            ),
        }
    }

    /// Posts the idle warning announcing the expiry `at`, once: the claim in the record decides
    /// (it must still be due at `now`, the sweep's time).
    /// Returns whether this call posted it (not when a command is busy with the preview: it is
    /// in use, and the next sweep sees its new activity).
    pub async fn warn_idle(
        &self,
        id: &PreviewId,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, DeployError> {
        let Some(_guard) = self.try_lock(id) else {
            return Ok(false);
        };
        let ns = id.namespace(&self.config.bot.namespace_prefix);
        let policy = self.policy();
        let claim = Claim {
            warned_for: Some(at),
            ..Claim::default()
        };
        let Some(mut record) = self
            .cluster
            .claim_record(&ns, |r| policy.due(r, now) == Due::Warn(at), claim)
            .await?
        else {
            return Ok(false);
        };
        let verb = match policy.action {
            IdleAction::Teardown => "torn down",
            IdleAction::Sleep => "put to sleep",
        };
        let text = replies::idle_warning(
            id,
            verb,
            &policy.local(at),
            &self.expiry_reason(&record, false),
            &self.config.bot.command_prefix,
            &compact(
                self.config
                    .schedule
                    .idle_ttl
                    .get()
                    .min(Duration::from_secs(4 * 3600)),
            ),
        );
        let in_thread = self.notifier.progress(&mut record, &text).await;
        let on_pr = self.notifier.pr_comment(&record, &text).await;
        if !in_thread && !on_pr {
            // Nobody was told: no teardown on the strength of this warning. The next sweep
            // warns again, with full notice from then.
            tracing::warn!(preview = %id, "the idle warning reached neither Slack nor GitHub; warning again next sweep");
            record.warned_for = None;
            self.save_quietly(&record).await;
            return Ok(false);
        }
        self.notifier.sync(&mut record).await;
        self.save_quietly(&record).await;
        Ok(true)
    }

    /// Tears down (or puts to sleep) a preview whose announced time `at` has come, once.
    /// Returns whether this call did it.
    pub async fn expire(
        &self,
        id: &PreviewId,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, DeployError> {
        let Some(_guard) = self.try_lock(id) else {
            return Ok(false);
        };
        let ns = id.namespace(&self.config.bot.namespace_prefix);
        let policy = self.policy();
        let phase = match policy.action {
            IdleAction::Teardown => Phase::Terminating,
            IdleAction::Sleep => Phase::Sleeping,
        };
        let claim = Claim {
            phase: Some(phase),
            ..Claim::default()
        };
        let Some(mut record) = self
            .cluster
            .claim_record(&ns, |r| policy.due(r, now) == Due::Act(at), claim)
            .await?
        else {
            return Ok(false);
        };
        let prefix = &self.config.bot.command_prefix;
        let reason = self.expiry_reason(&record, true);
        match policy.action {
            IdleAction::Teardown => {
                if let Err(e) = self.cluster.teardown(&ns).await {
                    record.phase = Phase::Failed;
                    record.message = Some(replies::cannot_expire(id, &e));
                    self.save_quietly(&record).await;
                    return Err(e);
                }
                let text = replies::idle_torn_down(id, &reason, prefix);
                self.notifier.progress(&mut record, &text).await;
                self.notifier
                    .deployment_state(
                        &record,
                        DeploymentState::Inactive,
                        "Preview torn down (idle)",
                    )
                    .await;
                self.notifier.sync(&mut record).await;
            }
            IdleAction::Sleep => {
                // The counts go into the record before anything is scaled: a crash midway
                // still knows what to restore.
                let recorded = match self.cluster.replica_counts(&ns).await {
                    Ok(counts) => counts,
                    Err(e) => {
                        record.phase = Phase::Failed;
                        record.message = Some(replies::cannot_expire(id, &e));
                        self.save_quietly(&record).await;
                        return Err(e);
                    }
                };
                for (workload, replicas) in recorded {
                    record.sleeping_replicas.entry(workload).or_insert(replicas);
                }
                self.save_quietly(&record).await;
                let counts = match self.cluster.scale_to_zero(&ns).await {
                    Ok(counts) => counts,
                    Err(e) => {
                        // Whatever was scaled comes back with the next `up` (it re-applies).
                        record.phase = Phase::Failed;
                        record.message = Some(replies::cannot_expire(id, &e));
                        self.save_quietly(&record).await;
                        return Err(e);
                    }
                };
                for (workload, replicas) in counts {
                    record.sleeping_replicas.entry(workload).or_insert(replicas);
                }
                self.save_quietly(&record).await;
                let text =
                    replies::idle_asleep(id, &reason, record.sleeping_replicas.len(), prefix);
                self.notifier.progress(&mut record, &text).await;
                self.notifier
                    .deployment_state(&record, DeploymentState::Inactive, "Preview asleep (idle)")
                    .await;
                self.notifier.sync(&mut record).await;
                self.save_quietly(&record).await;
            }
        }
        let action = match policy.action {
            IdleAction::Teardown => "idle teardown",
            IdleAction::Sleep => "idle sleep",
        };
        self.audit
            .record(
                &Origin::Bot,
                action,
                &id.to_string(),
                AuditOutcome::Succeeded,
                &reason,
            )
            .await;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::compact;
    use std::time::Duration;

    #[test]
    fn durations_are_written_like_commands() {
        assert_eq!(compact(Duration::from_secs(86_400)), "1d");
        assert_eq!(compact(Duration::from_secs(4 * 3600)), "4h");
        assert_eq!(compact(Duration::from_secs(5400)), "1h30m");
        assert_eq!(compact(Duration::from_secs(1)), "1m");
    }
}
