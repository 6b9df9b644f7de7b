//! The scheduled work of SPEC section 6: the idle sweep, the daily digest and the orphan sweep,
//! each on its cron expression in `schedule.timezone`, run only by the holder of the Lease.
//!
//! Every job is also safe to run twice: warnings and teardowns are claimed in the preview's
//! record, the digest and the orphan sweep claim their time slot in a ConfigMap, so two
//! replicas that both believe they lead (a Lease handover) still post once.

pub mod digest;
pub mod idle;
pub mod leader;
pub mod orphans;

use crate::engine::Engine;
use chrono::{DateTime, Utc};
use leader::Leadership;
use preview_config::CronSchedule;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// One kind of scheduled work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Job {
    IdleSweep,
    Digest,
    OrphanSweep,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::IdleSweep, Job::Digest, Job::OrphanSweep];

    pub fn name(self) -> &'static str {
        match self {
            Job::IdleSweep => "idle-sweep",
            Job::Digest => "digest",
            Job::OrphanSweep => "orphan-sweep",
        }
    }

    fn expression(self, engine: &Engine) -> &str {
        let schedule = &engine.config.schedule;
        match self {
            Job::IdleSweep => &schedule.idle_sweep,
            Job::Digest => &schedule.digest,
            Job::OrphanSweep => &schedule.orphan_sweep,
        }
    }
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one run did, for logs and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub job: Job,
    /// The fire time the run was for.
    pub slot: DateTime<Utc>,
    /// Whether this replica did the work (false: not the leader, or another replica did it).
    pub acted: bool,
    pub summary: String,
}

pub struct Scheduler {
    engine: Arc<Engine>,
    leadership: Leadership,
    runs: broadcast::Sender<Run>,
    /// The fire time each job waits for.
    next: watch::Sender<BTreeMap<Job, DateTime<Utc>>>,
}

impl Scheduler {
    pub fn new(engine: Arc<Engine>, leadership: Leadership) -> Arc<Scheduler> {
        let (runs, _) = broadcast::channel(64);
        Arc::new(Scheduler {
            engine,
            leadership,
            runs,
            next: watch::Sender::new(BTreeMap::new()),
        })
    }

    /// Every finished run, as it happens.
    pub fn subscribe(&self) -> broadcast::Receiver<Run> {
        self.runs.subscribe()
    }

    /// The fire time each running job waits for (logs, status, and tests that move time).
    pub fn next_runs(&self) -> watch::Receiver<BTreeMap<Job, DateTime<Utc>>> {
        self.next.subscribe()
    }

    pub fn leadership(&self) -> &Leadership {
        &self.leadership
    }

    /// Runs every job on its schedule until `cancel`; returns when all loops have stopped.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let mut loops = Vec::new();
        for job in Job::ALL {
            let expression = job.expression(&self.engine).to_string();
            let schedule = match CronSchedule::parse(&expression) {
                Ok(schedule) => schedule,
                Err(e) => {
                    // Config validation makes this unreachable; never panic over it.
                    tracing::error!(%job, error = %e, "schedule not started");
                    continue;
                }
            };
            let me = self.clone();
            let cancel = cancel.clone();
            loops.push(tokio::spawn(async move {
                me.job_loop(job, schedule, cancel).await
            }));
        }
        for handle in loops {
            let _ = handle.await;
        }
    }

    async fn job_loop(&self, job: Job, schedule: CronSchedule, cancel: CancellationToken) {
        let tz = self.engine.policy().tz;
        let clock = self.engine.clock().clone();
        loop {
            let now = clock.now().with_timezone(&tz);
            let Some(next) = schedule.next_after(&now) else {
                tracing::warn!(%job, "schedule never fires again");
                return;
            };
            let slot = next.with_timezone(&Utc);
            self.next.send_modify(|next| {
                next.insert(job, slot);
            });
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = clock.sleep_until(slot) => {}
            }
            let run = if self.leadership.is_leader() {
                self.run_job(job, slot).await
            } else {
                Run {
                    job,
                    slot,
                    acted: false,
                    summary: "not the leader".into(),
                }
            };
            if run.acted {
                tracing::info!(job = %run.job, slot = %run.slot, summary = %run.summary, "scheduled run");
            } else {
                tracing::debug!(job = %run.job, slot = %run.slot, summary = %run.summary, "scheduled run");
            }
            let _ = self.runs.send(run);
        }
    }

    /// Runs `job` for the fire time `slot` now (leadership is the caller's business).
    pub async fn run_job(&self, job: Job, slot: DateTime<Utc>) -> Run {
        let result = match job {
            Job::IdleSweep => idle::sweep(&self.engine).await,
            Job::Digest => digest::post(&self.engine, slot).await,
            Job::OrphanSweep => orphans::sweep(&self.engine, slot).await,
        };
        match result {
            Ok((acted, summary)) => Run {
                job,
                slot,
                acted,
                summary,
            },
            Err(e) => {
                tracing::error!(%job, error = %e, "scheduled run failed");
                Run {
                    job,
                    slot,
                    acted: false,
                    summary: format!("failed: {e}"),
                }
            }
        }
    }
}
