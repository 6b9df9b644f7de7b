//! Scaling a preview's workloads to zero and back: the sleep of idle previews and the kill
//! switch's `--scale-to-zero` share these two functions.
//!
//! The map they exchange is `Kind/name` -> replicas (`Deployment/web` -> 2), the shape kept in
//! the record annotation `preview-bot.dev/sleeping-replicas`. Writes go through the `scale`
//! subresource, the same path `kubectl scale` and the HorizontalPodAutoscaler use, so they
//! never contend with server-side apply ownership of `spec.replicas` (SPEC 8a). A workload an
//! HPA targets stops being autoscaled while at zero (Kubernetes disables scaling of a target
//! with zero replicas) and is autoscaled again from the restored count.

use crate::cluster::{Cluster, DeployError, is_not_found};
use crate::labels;
use crate::naming::PreviewNamespace;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;
use std::collections::BTreeMap;

/// The kinds that are scaled.
const KINDS: [&str; 2] = ["Deployment", "StatefulSet"];

impl Cluster {
    /// Scales every Deployment and StatefulSet the bot manages in `ns` to zero replicas and
    /// returns what they had, `Kind/name` -> replicas. Workloads already at zero are left out,
    /// so a second call (a kill switch on a sleeping preview) never records zeros over the
    /// counts the first call remembered: merge the maps, keeping existing entries.
    pub async fn scale_to_zero(
        &self,
        ns: &PreviewNamespace,
    ) -> Result<BTreeMap<String, i32>, DeployError> {
        let counts = self.replica_counts(ns).await?;
        for key in counts.keys() {
            self.set_scale(ns, key, 0).await?;
        }
        Ok(counts)
    }

    /// The non-zero replica counts of the Deployments and StatefulSets the bot manages in
    /// `ns`, in `scale_to_zero`'s shape: callers that must not lose them record them first.
    pub async fn replica_counts(
        &self,
        ns: &PreviewNamespace,
    ) -> Result<BTreeMap<String, i32>, DeployError> {
        let mut counts = BTreeMap::new();
        let selector = ListParams::default().labels(&labels::managed_selector());
        let deployments: Api<Deployment> = Api::namespaced(self.client().clone(), ns.as_str());
        for d in deployments
            .list(&selector)
            .await
            .map_err(|e| DeployError::kube(format!("list deployments in {ns}"), e))?
        {
            let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            if replicas > 0 {
                counts.insert(format!("Deployment/{}", d.name_any()), replicas);
            }
        }
        let statefulsets: Api<StatefulSet> = Api::namespaced(self.client().clone(), ns.as_str());
        for s in statefulsets
            .list(&selector)
            .await
            .map_err(|e| DeployError::kube(format!("list statefulsets in {ns}"), e))?
        {
            let replicas = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            if replicas > 0 {
                counts.insert(format!("StatefulSet/{}", s.name_any()), replicas);
            }
        }
        Ok(counts)
    }

    /// Gives each `Kind/name` of `counts` its replica count back (what `scale_to_zero`
    /// returned). Workloads that no longer exist are skipped; unknown kinds are an error.
    pub async fn restore_scale(
        &self,
        ns: &PreviewNamespace,
        counts: &BTreeMap<String, i32>,
    ) -> Result<(), DeployError> {
        for (key, replicas) in counts {
            self.set_scale(ns, key, (*replicas).max(0)).await?;
        }
        Ok(())
    }

    async fn set_scale(
        &self,
        ns: &PreviewNamespace,
        key: &str,
        replicas: i32,
    ) -> Result<(), DeployError> {
        let (kind, name) = key
            .split_once('/')
            .filter(|(kind, name)| KINDS.contains(kind) && !name.is_empty())
            .ok_or_else(|| DeployError::Kube {
                action: format!("scale {key}"),
                message: "expected Deployment/NAME or StatefulSet/NAME".into(),
            })?;
        let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
        let params = PatchParams {
            field_manager: Some(labels::FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let result = match kind {
            "Deployment" => scale::<Deployment>(self, ns, name, &params, &patch).await,
            _ => scale::<StatefulSet>(self, ns, name, &params, &patch).await,
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => {
                tracing::info!(%ns, workload = key, "not scaling a workload that is gone");
                Ok(())
            }
            Err(e) => Err(DeployError::kube(
                format!("scale {kind} `{name}` to {replicas}"),
                e,
            )),
        }
    }
}

async fn scale<K>(
    cluster: &Cluster,
    ns: &PreviewNamespace,
    name: &str,
    params: &PatchParams,
    patch: &Patch<serde_json::Value>,
) -> Result<(), kube::Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(cluster.client().clone(), ns.as_str());
    api.patch_scale(name, params, patch).await.map(|_| ())
}
