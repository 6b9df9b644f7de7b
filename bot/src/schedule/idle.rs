//! The idle sweep: warn previews nearing their expiry, then tear down (or put to sleep) those
//! whose announced expiry has come.

use crate::engine::Engine;
use crate::lifetime::Due;
use preview_deploy::DeployError;

/// One pass over every preview. `(acted, summary)`: whether anything was posted or done.
pub async fn sweep(engine: &Engine) -> Result<(bool, String), DeployError> {
    let inventory = engine.cluster.inventory().await?;
    let policy = engine.policy();
    let now = engine.now();
    let (mut warned, mut expired, mut failed) = (0, 0, 0);
    for record in &inventory.previews {
        let result = match policy.due(record, now) {
            Due::Nothing => continue,
            Due::Warn(at) => engine.warn_idle(&record.id, at, now).await.map(|done| {
                warned += usize::from(done);
            }),
            Due::Act(at) => engine.expire(&record.id, at, now).await.map(|done| {
                expired += usize::from(done);
            }),
        };
        if let Err(e) = result {
            failed += 1;
            tracing::error!(preview = %record.id, error = %e, "idle sweep failed for a preview");
        }
    }
    Ok((
        warned + expired > 0,
        format!("{warned} warned, {expired} expired, {failed} failed"),
    ))
}
