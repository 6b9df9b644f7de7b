//! Cluster state that makes scheduled work happen once, even with two bot replicas or a restart
//! in between: conditional (resourceVersion-checked) writes of the namespace record, and the
//! last run of each schedule in a ConfigMap in the bot's own namespace.

use crate::cluster::{Cluster, DeployError, is_managed};
use crate::labels::{self, annotations as a};
use crate::naming::PreviewNamespace;
use crate::record::{Phase, PreviewRecord};
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// The ConfigMap in `bot.namespace` holding when each schedule last ran.
pub const SCHEDULE_CONFIG_MAP: &str = "preview-bot-schedules";

/// What a claim changes in the record. Only annotations every record apply also writes, so a
/// later apply always replaces them (no second owner keeps a stale value alive).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Claim {
    pub phase: Option<Phase>,
    pub warned_for: Option<DateTime<Utc>>,
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(labels::FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

impl Cluster {
    /// Reads the record fresh and, if `still_due` holds for it, writes `claim` on the condition
    /// that nothing changed since the read. `None` when it is not due any more or another
    /// writer (a second replica, a command) got there first: the caller then does nothing.
    pub async fn claim_record(
        &self,
        ns: &PreviewNamespace,
        still_due: impl FnOnce(&PreviewRecord) -> bool,
        claim: Claim,
    ) -> Result<Option<PreviewRecord>, DeployError> {
        let namespaces: Api<Namespace> = Api::all(self.client().clone());
        let Some(live) = namespaces
            .get_opt(ns.as_str())
            .await
            .map_err(|e| DeployError::kube(format!("read namespace {ns}"), e))?
        else {
            return Ok(None);
        };
        if !is_managed(&live) {
            return Err(DeployError::NotManaged(ns.to_string()));
        }
        let mut record =
            PreviewRecord::from_namespace(&live, self.prefix()).map_err(DeployError::Unreadable)?;
        if live.metadata.deletion_timestamp.is_some() || !still_due(&record) {
            return Ok(None);
        }
        let mut notes = serde_json::Map::new();
        if let Some(phase) = claim.phase {
            record.phase = phase;
            notes.insert(a::PHASE.into(), json!(phase.as_str()));
        }
        if let Some(at) = claim.warned_for {
            record.warned_for = Some(at);
            notes.insert(a::WARNED_FOR.into(), json!(at.to_rfc3339()));
        }
        let patch = json!({"metadata": {
            "resourceVersion": live.metadata.resource_version,
            "annotations": notes,
        }});
        match namespaces
            .patch(ns.as_str(), &params(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => Ok(Some(record)),
            Err(e) if is_conflict(&e) => {
                tracing::info!(%ns, "the record changed meanwhile; leaving it to the other writer");
                Ok(None)
            }
            Err(e) => Err(DeployError::kube(format!("update namespace {ns}"), e)),
        }
    }

    /// Claims the run of schedule `job` due at `slot`: true for exactly one caller per slot,
    /// across replicas and restarts (the last slot is kept in a ConfigMap in `namespace`).
    pub async fn claim_schedule_slot(
        &self,
        namespace: &str,
        job: &str,
        slot: DateTime<Utc>,
    ) -> Result<bool, DeployError> {
        let api: Api<ConfigMap> = Api::namespaced(self.client().clone(), namespace);
        let key = format!("{job}-last-run");
        for _ in 0..3 {
            let live = api.get_opt(SCHEDULE_CONFIG_MAP).await.map_err(|e| {
                DeployError::kube(format!("read ConfigMap {SCHEDULE_CONFIG_MAP}"), e)
            })?;
            let Some(live) = live else {
                let fresh: ConfigMap = serde_json::from_value(json!({
                    "metadata": {
                        "name": SCHEDULE_CONFIG_MAP,
                        "labels": {labels::MANAGED_BY: labels::MANAGED_BY_VALUE},
                    },
                    "data": {key.clone(): slot.to_rfc3339()},
                }))
                .map_err(|e| DeployError::Kube {
                    action: "build the schedule ConfigMap".into(),
                    message: e.to_string(),
                })?;
                let post = PostParams {
                    field_manager: Some(labels::FIELD_MANAGER.into()),
                    ..PostParams::default()
                };
                match api.create(&post, &fresh).await {
                    Ok(_) => return Ok(true),
                    // Another replica created it first: read it again.
                    Err(e) if is_conflict(&e) => continue,
                    Err(e) => {
                        return Err(DeployError::kube(
                            format!("create ConfigMap {SCHEDULE_CONFIG_MAP} in {namespace}"),
                            e,
                        ));
                    }
                }
            };
            let last = live
                .data
                .as_ref()
                .and_then(|d| d.get(&key))
                .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                .map(|t| t.with_timezone(&Utc));
            if last.is_some_and(|last| last >= slot) {
                return Ok(false);
            }
            let patch = json!({
                "metadata": {"resourceVersion": live.metadata.resource_version},
                "data": {key.clone(): slot.to_rfc3339()},
            });
            match api
                .patch(SCHEDULE_CONFIG_MAP, &params(), &Patch::Merge(patch))
                .await
            {
                Ok(_) => return Ok(true),
                // Someone wrote meanwhile (maybe another schedule's key): read again.
                Err(e) if is_conflict(&e) => continue,
                Err(e) => {
                    return Err(DeployError::kube(
                        format!("update ConfigMap {SCHEDULE_CONFIG_MAP}"),
                        e,
                    ));
                }
            }
        }
        Ok(false)
    }
}
