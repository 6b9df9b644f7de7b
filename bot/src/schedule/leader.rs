//! Who runs the schedules: the holder of a coordination.k8s.io/v1 Lease in `bot.namespace`
//! (kube-lease-manager). A replica that dies stops renewing; another takes the Lease once it
//! expires. On shutdown the Lease is released so the handover is immediate.

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The Lease's name.
pub const LEASE_NAME: &str = "preview-bot-scheduler";
/// How long to wait before retrying a Lease manager that failed.
const RETRY: Duration = Duration::from_secs(5);

pub struct Leadership {
    state: watch::Receiver<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Timing of the Lease.
#[derive(Clone, Copy, Debug)]
pub struct LeaseTiming {
    /// A holder that has not renewed for this long loses the Lease.
    pub duration_secs: u64,
    /// The holder renews this long before expiry.
    pub grace_secs: u64,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            duration_secs: 30,
            grace_secs: 5,
        }
    }
}

impl Leadership {
    /// Always the leader: a single process with nobody to share with (the try-out mode).
    pub fn always() -> Leadership {
        let (_, state) = watch::channel(true);
        Leadership {
            state,
            task: Mutex::new(None),
        }
    }

    /// Competes for the Lease `LEASE_NAME` in `namespace` as `identity` until `cancel`.
    pub fn lease(
        client: Client,
        namespace: &str,
        identity: &str,
        timing: LeaseTiming,
        cancel: CancellationToken,
    ) -> Leadership {
        let (tx, state) = watch::channel(false);
        let namespace = namespace.to_string();
        let identity = identity.to_string();
        let task = tokio::spawn(async move {
            while !cancel.is_cancelled() {
                let built = LeaseManagerBuilder::new(client.clone(), LEASE_NAME)
                    .with_namespace(namespace.clone())
                    .with_identity(identity.clone())
                    .with_field_manager(format!("preview-bot-lease-{identity}"))
                    .with_duration(timing.duration_secs)
                    .with_grace(timing.grace_secs)
                    .build()
                    .await;
                let manager = match built {
                    Ok(manager) => manager,
                    Err(e) => {
                        tracing::warn!(error = %e, %namespace, "cannot manage the scheduler Lease; retrying");
                        tokio::select! {
                            _ = cancel.cancelled() => break,
                            _ = tokio::time::sleep(RETRY) => continue,
                        }
                    }
                };
                let (mut held, handle) = manager.watch().await;
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        changed = held.changed() => {
                            if changed.is_err() {
                                break;
                            }
                            let leader = *held.borrow_and_update();
                            tracing::info!(%identity, leader, "scheduler leadership changed");
                            tx.send_replace(leader);
                        }
                    }
                }
                tx.send_replace(false);
                // Closing the channel makes the manager release the Lease and stop.
                drop(held);
                match handle.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "the Lease manager stopped"),
                    Err(e) => tracing::warn!(error = %e, "the Lease manager task failed"),
                }
                if !cancel.is_cancelled() {
                    tokio::time::sleep(RETRY).await;
                }
            }
        });
        Leadership {
            state,
            task: Mutex::new(Some(task)),
        }
    }

    pub fn is_leader(&self) -> bool {
        *self.state.borrow()
    }

    /// Resolves when this replica becomes (or is) the leader.
    pub async fn wait_until_leader(&self) {
        let mut state = self.state.clone();
        let _ = state.wait_for(|leader| *leader).await;
    }

    /// Waits for the Lease to be released after the cancel token fired.
    pub async fn stopped(&self) {
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
