//! Talking to the cluster: the namespace record, server-side apply, waiting for readiness,
//! teardown and the inventory of previews. Every write is idempotent, so a retry or a restart is
//! always safe.

use crate::labels::{self, FIELD_MANAGER};
use crate::naming::PreviewNamespace;
use crate::record::{PreviewRecord, UnreadableRecord};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams,
    ValidationDirective,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Scope, pinned_group, pinned_kind};
use kube::runtime::wait::Condition;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// How many objects are applied at once: a whole wave of a typical app goes out together (the
/// API server handles far more; each request is a connection of the client's pool).
const APPLY_CONCURRENCY: usize = 32;

#[derive(Debug, Error)]
pub enum DeployError {
    #[error("Kubernetes: {action}: {message}")]
    Kube { action: String, message: String },
    #[error("namespace `{0}` exists but is not managed by preview-bot; it is left untouched")]
    NotManaged(String),
    #[error("namespace `{0}` is still being deleted; try again in a minute")]
    Terminating(String),
    #[error("{kind} `{name}` is cluster-scoped; previews may only contain namespaced objects")]
    ClusterScoped { kind: String, name: String },
    #[error("the cluster does not know {kind} ({api_version}): {message}")]
    UnknownKind {
        api_version: String,
        kind: String,
        message: String,
    },
    #[error("not ready after {timeout}: {report}")]
    NotReady {
        timeout: String,
        report: ReadyReport,
    },
    #[error("{report}")]
    Failed { report: ReadyReport },
    #[error("the record of namespace `{}` is unreadable: {}", .0.namespace, .0.problem)]
    Unreadable(UnreadableRecord),
}

impl DeployError {
    pub(crate) fn kube(action: impl Into<String>, error: kube::Error) -> DeployError {
        let message = match &error {
            kube::Error::Api(status) => {
                format!("{} ({} {})", status.message, status.code, status.reason)
            }
            other => other.to_string(),
        };
        DeployError::Kube {
            action: action.into(),
            message,
        }
    }
}

pub(crate) fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// One object the bot applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl AppliedRef {
    /// `apiVersion Kind name`: the entry kept in the record's applied set.
    pub fn key(&self) -> String {
        format!("{} {} {}", self.api_version, self.kind, self.name)
    }

    pub fn from_key(key: &str) -> Option<AppliedRef> {
        let mut parts = key.split(' ');
        let (api_version, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
        (parts.next().is_none() && !name.is_empty()).then(|| AppliedRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
        })
    }
}

/// Readiness of each workload of a preview, for the chat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadyReport {
    pub workloads: Vec<WorkloadState>,
    /// Recent warning events in the namespace.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadState {
    pub kind: String,
    pub name: String,
    pub ready: bool,
    pub detail: String,
    /// The last log lines of the failing container, when it ran at all.
    pub logs: Vec<String>,
}

impl fmt::Display for ReadyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .workloads
            .iter()
            .filter(|w| !w.ready)
            .map(|w| {
                let mut part = format!("{} `{}`: {}", w.kind, w.name, w.detail);
                if !w.logs.is_empty() {
                    part.push_str("; last log lines:\n");
                    part.push_str(
                        &w.logs
                            .iter()
                            .map(|l| format!("    {l}"))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    );
                    part.push('\n');
                }
                part
            })
            .collect();
        if parts.is_empty() {
            f.write_str("all workloads ready")?;
        } else {
            f.write_str(&parts.join("; "))?;
        }
        if !self.warnings.is_empty() {
            write!(f, " (events: {})", self.warnings.join("; "))?;
        }
        Ok(())
    }
}

/// Every preview the cluster records, and the managed namespaces whose record is unreadable.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub previews: Vec<PreviewRecord>,
    pub unreadable: Vec<UnreadableRecord>,
}

/// What `teardown` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Teardown {
    Deleted,
    AlreadyGone,
}

/// The bot's handle on one cluster.
pub struct Cluster {
    client: Client,
    prefix: String,
    kinds: Mutex<HashMap<GroupVersionKind, (ApiResource, Scope)>>,
    /// Namespaces never listed as previews nor deleted, whatever their labels (the bot's own:
    /// `preview-bot` sits inside the default prefix `preview-`).
    protected: Mutex<std::collections::BTreeSet<String>>,
    /// The resourceVersion of each preview namespace as this bot last read or wrote it: a
    /// record save sends it as a precondition instead of reading the namespace first.
    versions: Mutex<HashMap<String, String>>,
    /// The last inventory and the number of the list it came from: callers that asked while a
    /// list was under way share the next one instead of each listing (and holding) everything.
    last_inventory: tokio::sync::Mutex<Option<(u64, Arc<Inventory>)>>,
    /// How many inventory lists have started.
    lists_started: AtomicU64,
}

impl Cluster {
    pub fn new(client: Client, namespace_prefix: &str) -> Cluster {
        Cluster {
            client,
            prefix: namespace_prefix.to_string(),
            kinds: Mutex::new(HashMap::new()),
            protected: Mutex::new(std::collections::BTreeSet::new()),
            versions: Mutex::new(HashMap::new()),
            last_inventory: tokio::sync::Mutex::new(None),
            lists_started: AtomicU64::new(0),
        }
    }

    /// Remembers (or, with `None`, forgets) the namespace's resourceVersion.
    fn remember_version(&self, ns: &PreviewNamespace, version: Option<String>) {
        let mut versions = self.versions.lock().unwrap_or_else(|p| p.into_inner());
        match version {
            Some(version) => versions.insert(ns.as_str().to_string(), version),
            None => versions.remove(ns.as_str()),
        };
    }

    fn known_version(&self, ns: &PreviewNamespace) -> Option<String> {
        self.versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(ns.as_str())
            .cloned()
    }

    /// Never list or delete `namespace` (the bot's own), even if it looks like a preview's.
    pub fn protect(&self, namespace: &str) {
        self.protected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(namespace.to_string());
    }

    fn is_protected(&self, namespace: &str) -> bool {
        self.protected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(namespace)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn namespaces(&self) -> Api<Namespace> {
        Api::all(self.client.clone())
    }

    /// Checks the API server answers (for readiness and start-up).
    pub async fn ping(&self) -> Result<(), DeployError> {
        self.client
            .apiserver_version()
            .await
            .map(|_| ())
            .map_err(|e| DeployError::kube("reach the API server", e))
    }

    /// The preview's record, `None` when its namespace does not exist. A namespace that exists
    /// but is not the bot's is an error: it is never touched.
    pub async fn get_record(
        &self,
        ns: &PreviewNamespace,
    ) -> Result<Option<PreviewRecord>, DeployError> {
        let Some(namespace) = self
            .namespaces()
            .get_opt(ns.as_str())
            .await
            .map_err(|e| DeployError::kube(format!("read namespace {ns}"), e))?
        else {
            self.remember_version(ns, None);
            return Ok(None);
        };
        if !is_managed(&namespace) {
            return Err(DeployError::NotManaged(ns.to_string()));
        }
        let live = namespace.metadata.deletion_timestamp.is_none();
        self.remember_version(
            ns,
            namespace.metadata.resource_version.clone().filter(|_| live),
        );
        PreviewRecord::from_namespace(&namespace, &self.prefix)
            .map(Some)
            .map_err(DeployError::Unreadable)
    }

    /// Every managed namespace, read with one list request. Callers at the same moment share
    /// one list, always one that started after they asked (so it sees every write made before).
    pub async fn inventory(&self) -> Result<Arc<Inventory>, DeployError> {
        let asked = self.lists_started.load(Ordering::SeqCst);
        let mut last = self.last_inventory.lock().await;
        if let Some((started, inventory)) = last.as_ref()
            && *started > asked
        {
            return Ok(inventory.clone());
        }
        let started = self.lists_started.fetch_add(1, Ordering::SeqCst) + 1;
        match self.list_inventory().await {
            Ok(inventory) => {
                let inventory = Arc::new(inventory);
                *last = Some((started, inventory.clone()));
                Ok(inventory)
            }
            Err(e) => {
                *last = None;
                Err(e)
            }
        }
    }

    async fn list_inventory(&self) -> Result<Inventory, DeployError> {
        let list = self
            .namespaces()
            .list(&ListParams::default().labels(&labels::managed_selector()))
            .await
            .map_err(|e| DeployError::kube("list preview namespaces", e))?;
        let mut inventory = Inventory::default();
        // The list is the freshest view of every preview's resourceVersion (and bounds the
        // map by the previews that exist).
        let mut versions = HashMap::new();
        for namespace in list.items {
            let name = namespace.name_any();
            if !name.starts_with(&self.prefix) || self.is_protected(&name) {
                continue;
            }
            if namespace.metadata.deletion_timestamp.is_none()
                && let Some(version) = namespace.metadata.resource_version.clone()
            {
                versions.insert(name.clone(), version);
            }
            match PreviewRecord::from_namespace(&namespace, &self.prefix) {
                Ok(record) => inventory.previews.push(record),
                // One already being deleted is on its way out: nothing left to report.
                Err(unreadable) if namespace.metadata.deletion_timestamp.is_none() => {
                    inventory.unreadable.push(unreadable)
                }
                Err(_) => {}
            }
        }
        inventory.previews.sort_by(|a, b| a.id.cmp(&b.id));
        *self.versions.lock().unwrap_or_else(|p| p.into_inner()) = versions;
        Ok(inventory)
    }

    /// Creates the namespace or updates its record (server-side apply of the whole record).
    /// Refuses a namespace that exists without the managed-by label, or is being deleted.
    ///
    /// When this bot read or wrote the namespace last, the apply carries that resourceVersion
    /// as a precondition and needs no read first; if anything else changed the namespace since
    /// (a deletion, another replica, a foreign namespace of the same name), the API server
    /// answers 409 and the save checks the namespace as on a first save.
    pub async fn save_record(&self, record: &PreviewRecord) -> Result<(), DeployError> {
        let ns = &record.namespace;
        if let Some(version) = self.known_version(ns) {
            let mut manifest = record.namespace_manifest();
            manifest["metadata"]["resourceVersion"] = Value::String(version);
            match self
                .namespaces()
                .patch(ns.as_str(), &apply_params(), &Patch::Apply(manifest))
                .await
            {
                Ok(saved) => {
                    self.remember_version(ns, saved.metadata.resource_version);
                    return Ok(());
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    self.remember_version(ns, None);
                }
                Err(e) => {
                    self.remember_version(ns, None);
                    return Err(DeployError::kube(format!("apply namespace {ns}"), e));
                }
            }
        }
        if let Some(existing) = self
            .namespaces()
            .get_opt(ns.as_str())
            .await
            .map_err(|e| DeployError::kube(format!("read namespace {ns}"), e))?
        {
            if !is_managed(&existing) {
                return Err(DeployError::NotManaged(ns.to_string()));
            }
            if existing.metadata.deletion_timestamp.is_some() {
                return Err(DeployError::Terminating(ns.to_string()));
            }
        }
        self.apply_record(record).await
    }

    /// Creates the namespace of a preview whose record `get_record` found absent just before
    /// (nothing but other reads in between): that read is the guard against a foreign
    /// namespace of the same name, so this is one apply and no second read.
    pub async fn create_record(&self, record: &PreviewRecord) -> Result<(), DeployError> {
        self.apply_record(record).await
    }

    /// The whole record, applied with no precondition.
    async fn apply_record(&self, record: &PreviewRecord) -> Result<(), DeployError> {
        let ns = &record.namespace;
        let saved = self
            .namespaces()
            .patch(
                ns.as_str(),
                &apply_params(),
                &Patch::Apply(record.namespace_manifest()),
            )
            .await
            .map_err(|e| DeployError::kube(format!("apply namespace {ns}"), e))?;
        self.remember_version(ns, saved.metadata.resource_version);
        Ok(())
    }

    /// Waits until a Terminating namespace is gone (an `up` right after a `down`, SPEC 8a).
    pub async fn wait_until_gone(
        &self,
        ns: &PreviewNamespace,
        timeout: Duration,
    ) -> Result<(), DeployError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let current = self
                .namespaces()
                .get_opt(ns.as_str())
                .await
                .map_err(|e| DeployError::kube(format!("read namespace {ns}"), e))?;
            match current {
                None => return Ok(()),
                Some(n) if n.metadata.deletion_timestamp.is_none() => return Ok(()),
                Some(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(DeployError::Terminating(ns.to_string()));
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, Scope), DeployError> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if let Some(found) = self.kinds.lock().ok().and_then(|k| k.get(&gvk).cloned()) {
            return Ok(found);
        }
        // One discovery request per group-version, whatever the number of kinds applied from
        // it: every kind it serves is remembered.
        let gv = kube::core::GroupVersion::gv(group, version);
        if let Ok(found) = pinned_group(&self.client, &gv).await
            && let Ok(mut kinds) = self.kinds.lock()
        {
            for (resource, capabilities) in found.versioned_resources(version) {
                let key = GroupVersionKind::gvk(group, version, &resource.kind);
                kinds.insert(key, (resource, capabilities.scope));
            }
        }
        if let Some(found) = self.kinds.lock().ok().and_then(|k| k.get(&gvk).cloned()) {
            return Ok(found);
        }
        // Not served (or discovery failed): ask for the kind itself, for the API server's
        // own explanation.
        let (resource, capabilities) =
            pinned_kind(&self.client, &gvk)
                .await
                .map_err(|e| DeployError::UnknownKind {
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                    message: match e {
                        kube::Error::Api(s) => s.message,
                        other => other.to_string(),
                    },
                })?;
        let found = (resource, capabilities.scope);
        if let Ok(mut kinds) = self.kinds.lock() {
            kinds.insert(gvk, found.clone());
        }
        Ok(found)
    }

    /// Server-side applies every object into `ns` (field manager `preview-bot`, strict field
    /// validation), a few at a time. Cluster-scoped kinds are refused before anything is written.
    pub async fn apply(
        &self,
        ns: &PreviewNamespace,
        objects: &[Value],
    ) -> Result<Vec<AppliedRef>, DeployError> {
        let mut resolved = Vec::with_capacity(objects.len());
        for object in objects {
            let api_version = str_at(object, "/apiVersion");
            let kind = str_at(object, "/kind");
            let name = str_at(object, "/metadata/name");
            let (resource, scope) = self.resolve(&api_version, &kind).await?;
            if matches!(scope, Scope::Cluster) {
                return Err(DeployError::ClusterScoped { kind, name });
            }
            resolved.push((
                resource,
                AppliedRef {
                    api_version,
                    kind,
                    name,
                },
                object,
            ));
        }
        // Boxed futures rather than a closure over the stream: keeps the future `Send` for any lifetime.
        let mut applies: Vec<futures::future::BoxFuture<'_, Result<AppliedRef, DeployError>>> =
            Vec::new();
        for (resource, applied, object) in resolved {
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), ns.as_str(), &resource);
            applies.push(Box::pin(async move {
                api.patch(&applied.name, &apply_params(), &Patch::Apply(object))
                    .await
                    .map_err(|e| {
                        DeployError::kube(format!("apply {} `{}`", applied.kind, applied.name), e)
                    })?;
                Ok(applied)
            }));
        }
        futures::stream::iter(applies)
            .buffer_unordered(APPLY_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Waits until every Deployment and StatefulSet has finished its rollout and every Job has
    /// completed, up to `timeout`; on failure or timeout explains why per workload.
    pub async fn wait_ready(
        &self,
        ns: &PreviewNamespace,
        applied: &[AppliedRef],
        timeout: Duration,
    ) -> Result<ReadyReport, DeployError> {
        // One watch per kind for the whole wave, not one per workload.
        let named = |kind: &str| -> Vec<String> {
            applied
                .iter()
                .filter(|a| a.kind == kind)
                .map(|a| a.name.clone())
                .collect()
        };
        let all = async {
            // Boxed: the three watches are large futures, and this one runs inside every
            // deploy's.
            let (deployments, statefulsets, jobs) = futures::future::try_join3(
                Box::pin(await_kind::<Deployment>(
                    self.client.clone(),
                    ns.as_str(),
                    "Deployment",
                    named("Deployment"),
                    deployment_rolled_out(),
                    |_| true,
                )),
                Box::pin(await_kind::<StatefulSet>(
                    self.client.clone(),
                    ns.as_str(),
                    "StatefulSet",
                    named("StatefulSet"),
                    statefulset_rolled_out(),
                    |_| true,
                )),
                Box::pin(await_kind::<Job>(
                    self.client.clone(),
                    ns.as_str(),
                    "Job",
                    named("Job"),
                    job_finished(),
                    |job| !job_condition(job, "Failed"),
                )),
            )
            .await?;
            Ok::<_, String>([deployments, statefulsets, jobs].concat())
        };
        match tokio::time::timeout(timeout, all).await {
            // Every workload got where it should: the states the waits ended on are the report,
            // with no further reads.
            Ok(Ok(results)) if results.iter().all(|(ok, _)| *ok) => Ok(ReadyReport {
                workloads: results.into_iter().map(|(_, state)| state).collect(),
                warnings: Vec::new(),
            }),
            Ok(Ok(_)) => Err(DeployError::Failed {
                report: self.report(ns, applied).await?,
            }),
            Ok(Err(message)) => Err(DeployError::Kube {
                action: "watch the rollout".into(),
                message,
            }),
            Err(_) => Err(DeployError::NotReady {
                timeout: humanize(timeout),
                report: self.report(ns, applied).await?,
            }),
        }
    }

    /// The state of each workload applied, with the waiting reasons of pods that are not ready
    /// and the namespace's recent warning events.
    pub async fn report(
        &self,
        ns: &PreviewNamespace,
        applied: &[AppliedRef],
    ) -> Result<ReadyReport, DeployError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns.as_str());
        let pods = pods
            .list(&ListParams::default())
            .await
            .map_err(|e| DeployError::kube(format!("list pods in {ns}"), e))?
            .items;
        let mut report = ReadyReport::default();
        for a in applied {
            let api_of = |kind: &str| -> Api<DynamicObject> {
                let resource = match kind {
                    "Deployment" => ApiResource::erase::<Deployment>(&()),
                    "StatefulSet" => ApiResource::erase::<StatefulSet>(&()),
                    _ => ApiResource::erase::<Job>(&()),
                };
                Api::namespaced_with(self.client.clone(), ns.as_str(), &resource)
            };
            if !matches!(a.kind.as_str(), "Deployment" | "StatefulSet" | "Job") {
                continue;
            }
            let object = api_of(&a.kind)
                .get_opt(&a.name)
                .await
                .map_err(|e| DeployError::kube(format!("read {} {}", a.kind, a.name), e))?;
            let Some(object) = object else {
                report.workloads.push(WorkloadState {
                    kind: a.kind.clone(),
                    name: a.name.clone(),
                    ready: false,
                    detail: "missing".into(),
                    logs: Vec::new(),
                });
                continue;
            };
            let value = serde_json::to_value(&object).unwrap_or_default();
            let (ready, mut detail) = workload_state(&a.kind, value.clone());
            let mut logs = Vec::new();
            if !ready {
                let selector = value
                    .pointer("/spec/selector/matchLabels")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let problem = pods
                    .iter()
                    .filter(|pod| !selector.is_empty() && selects(&selector, pod))
                    .find_map(pod_problem);
                if let Some(problem) = problem {
                    detail = format!("{detail}, {}", problem.text);
                    if let Some((container, previous)) = &problem.logs_from {
                        logs = self
                            .log_tail(ns, &problem.pod, container, *previous, 10)
                            .await;
                    }
                }
            }
            report.workloads.push(WorkloadState {
                kind: a.kind.clone(),
                name: a.name.clone(),
                ready,
                detail,
                logs,
            });
        }
        if report.workloads.iter().any(|w| !w.ready) {
            let events: Api<Event> = Api::namespaced(self.client.clone(), ns.as_str());
            if let Ok(list) = events.list(&ListParams::default()).await {
                let mut warnings: Vec<&Event> = list
                    .items
                    .iter()
                    .filter(|e| e.type_.as_deref() == Some("Warning"))
                    .collect();
                warnings.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
                report.warnings = warnings
                    .iter()
                    .rev()
                    .take(3)
                    .map(|e| {
                        format!(
                            "{} {}: {}",
                            e.involved_object.name.clone().unwrap_or_default(),
                            e.reason.clone().unwrap_or_default(),
                            e.message.clone().unwrap_or_default()
                        )
                    })
                    .collect();
            }
        }
        Ok(report)
    }

    /// A seed Job of the preview that has not finished yet, by name.
    pub async fn running_seed(&self, ns: &PreviewNamespace) -> Result<Option<String>, DeployError> {
        let api: Api<Job> = Api::namespaced(self.client.clone(), ns.as_str());
        let jobs = api
            .list(&ListParams::default().labels(&format!("{}=true", crate::seed::SEED_LABEL)))
            .await
            .map_err(|e| DeployError::kube(format!("list seed jobs in {ns}"), e))?;
        Ok(jobs
            .items
            .iter()
            .find(|job| serde_json::to_value(job).is_ok_and(|v| crate::seed::is_running(&v)))
            .map(|job| job.name_any()))
    }

    /// The last `lines` log lines of a Job's newest pod.
    pub async fn job_logs(&self, ns: &PreviewNamespace, job: &str, lines: i64) -> Vec<String> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns.as_str());
        let Ok(list) = pods
            .list(&ListParams::default().labels(&format!("job-name={job}")))
            .await
        else {
            return Vec::new();
        };
        let newest = list
            .items
            .iter()
            .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
        let Some(pod) = newest else { return Vec::new() };
        let Some(container) = pod.spec.as_ref().and_then(|s| s.containers.first()) else {
            return Vec::new();
        };
        self.log_tail(ns, &pod.name_any(), &container.name, false, lines)
            .await
    }

    /// Reads a Secret outside the previews (for `deploy.copy_secrets`) and returns the copy to
    /// apply in a preview: name, type, data and nothing of the original's identity.
    pub async fn secret_copy(&self, namespace: &str, name: &str) -> Result<Value, DeployError> {
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(self.client.clone(), namespace);
        let secret = api
            .get_opt(name)
            .await
            .map_err(|e| DeployError::kube(format!("read secret {namespace}/{name} to copy"), e))?
            .ok_or_else(|| DeployError::Kube {
                action: format!("copy secret {namespace}/{name}"),
                message: "it does not exist".into(),
            })?;
        let mut copy = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "data": secret.data.map(|d| serde_json::to_value(d).unwrap_or_default()).unwrap_or_default(),
        });
        if let Some(kind) = secret.type_ {
            copy["type"] = Value::String(kind);
        }
        Ok(copy)
    }

    /// A Secret of the preview as JSON, `None` when it does not exist.
    pub async fn secret(
        &self,
        ns: &PreviewNamespace,
        name: &str,
    ) -> Result<Option<Value>, DeployError> {
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(self.client.clone(), ns.as_str());
        let secret = api
            .get_opt(name)
            .await
            .map_err(|e| DeployError::kube(format!("read secret {name}"), e))?;
        Ok(secret.and_then(|s| serde_json::to_value(s).ok()))
    }

    /// The last `lines` log lines of one container (empty when there are none to read).
    pub async fn log_tail(
        &self,
        ns: &PreviewNamespace,
        pod: &str,
        container: &str,
        previous: bool,
        lines: i64,
    ) -> Vec<String> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns.as_str());
        let params = LogParams {
            container: Some(container.to_string()),
            previous,
            tail_lines: Some(lines),
            ..LogParams::default()
        };
        match pods.logs(pod, &params).await {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(e) => {
                tracing::debug!(error = %e, pod, container, "no logs");
                Vec::new()
            }
        }
    }

    /// The last `lines` lines of each pod of a Deployment or StatefulSet (first container unless
    /// `container` is given), oldest pod first; `None` when the workload does not exist.
    pub async fn workload_logs(
        &self,
        ns: &PreviewNamespace,
        workload: &str,
        container: Option<&str>,
        lines: i64,
    ) -> Result<Option<Vec<(String, Vec<String>)>>, DeployError> {
        let mut selector = None;
        for resource in [
            ApiResource::erase::<Deployment>(&()),
            ApiResource::erase::<StatefulSet>(&()),
        ] {
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), ns.as_str(), &resource);
            if let Some(object) = api
                .get_opt(workload)
                .await
                .map_err(|e| DeployError::kube(format!("read workload {workload}"), e))?
            {
                selector = object
                    .data
                    .pointer("/spec/selector/matchLabels")
                    .and_then(Value::as_object)
                    .map(|labels| {
                        labels
                            .iter()
                            .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
                            .collect::<Vec<_>>()
                            .join(",")
                    });
                break;
            }
        }
        let Some(selector) = selector.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns.as_str());
        let mut list = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| DeployError::kube(format!("list pods of {workload}"), e))?
            .items;
        list.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
        let mut out = Vec::new();
        for pod in &list {
            let Some(first) = pod.spec.as_ref().and_then(|s| s.containers.first()) else {
                continue;
            };
            let container = container.unwrap_or(&first.name);
            let lines = self
                .log_tail(ns, &pod.name_any(), container, false, lines)
                .await;
            out.push((pod.name_any(), lines));
        }
        Ok(Some(out))
    }

    /// Deletes what the previous deploy applied and this one no longer renders, but only objects
    /// that still carry the bot's labels for this preview (SPEC 8a: never "everything not
    /// rendered"). Returns the keys pruned.
    pub async fn prune(
        &self,
        ns: &PreviewNamespace,
        previous: &[String],
        current: &[AppliedRef],
    ) -> Result<Vec<String>, DeployError> {
        let keep: Vec<String> = current.iter().map(AppliedRef::key).collect();
        let mut pruned = Vec::new();
        for key in previous.iter().filter(|k| !keep.contains(k)) {
            let Some(gone) = AppliedRef::from_key(key) else {
                continue;
            };
            let Ok((resource, Scope::Namespaced)) =
                self.resolve(&gone.api_version, &gone.kind).await
            else {
                continue;
            };
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), ns.as_str(), &resource);
            let Some(live) = api
                .get_opt(&gone.name)
                .await
                .map_err(|e| DeployError::kube(format!("read {} `{}`", gone.kind, gone.name), e))?
            else {
                continue;
            };
            let labels = live.labels();
            let ours = labels.get(labels::MANAGED_BY).map(String::as_str)
                == Some(labels::MANAGED_BY_VALUE)
                && labels.get(labels::PREVIEW).map(String::as_str) == Some(ns.as_str());
            if !ours {
                continue;
            }
            match api.delete(&gone.name, &DeleteParams::background()).await {
                Ok(_) => pruned.push(key.clone()),
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(DeployError::kube(
                        format!("prune {} `{}`", gone.kind, gone.name),
                        e,
                    ));
                }
            }
        }
        Ok(pruned)
    }

    /// Deletes the preview's namespace, and with it everything in it; only a namespace with the
    /// managed-by label and the prefix is ever deleted.
    pub async fn teardown(&self, ns: &PreviewNamespace) -> Result<Teardown, DeployError> {
        let Some(existing) = self
            .namespaces()
            .get_opt(ns.as_str())
            .await
            .map_err(|e| DeployError::kube(format!("read namespace {ns}"), e))?
        else {
            self.remember_version(ns, None);
            return Ok(Teardown::AlreadyGone);
        };
        self.remember_version(ns, None);
        if !is_managed(&existing)
            || !ns.as_str().starts_with(&self.prefix)
            || self.is_protected(ns.as_str())
        {
            return Err(DeployError::NotManaged(ns.to_string()));
        }
        if existing.metadata.deletion_timestamp.is_some() {
            // A second DELETE of a terminating namespace is a 409 on a real API server.
            return Ok(Teardown::AlreadyGone);
        }
        match self
            .namespaces()
            .delete(ns.as_str(), &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(Teardown::Deleted),
            Err(e) if is_not_found(&e) => Ok(Teardown::AlreadyGone),
            Err(e) => Err(DeployError::kube(format!("delete namespace {ns}"), e)),
        }
    }

    /// The workloads running in a preview, `(kind, name, ready, desired)`, for `status`.
    pub async fn workloads(
        &self,
        ns: &PreviewNamespace,
    ) -> Result<Vec<WorkloadState>, DeployError> {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns.as_str());
        let list = api
            .list(&ListParams::default().labels(&labels::managed_selector()))
            .await
            .map_err(|e| DeployError::kube(format!("list deployments in {ns}"), e))?;
        Ok(list
            .items
            .iter()
            .map(|d| {
                let (ready, detail) = deployment_state(d);
                WorkloadState {
                    kind: "Deployment".into(),
                    name: d.name_any(),
                    ready,
                    detail,
                    logs: Vec::new(),
                }
            })
            .collect())
    }
}

fn apply_params() -> PatchParams {
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.field_validation = Some(ValidationDirective::Strict);
    params
}

pub(crate) fn is_managed(namespace: &Namespace) -> bool {
    namespace
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::MANAGED_BY))
        .is_some_and(|v| v == labels::MANAGED_BY_VALUE)
}

fn str_at(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// Waits for the workloads `names` of one kind in `ns` to meet `done` (nothing to do for none)
/// and returns `(succeeded, state)` of each as last seen; `succeeded` tells a finished Job
/// that failed from one that completed.
async fn await_kind<K>(
    client: Client,
    ns: &str,
    kind: &str,
    names: Vec<String>,
    done: impl Condition<K>,
    succeeded: fn(&K) -> bool,
) -> Result<Vec<(bool, WorkloadState)>, String>
where
    K: Clone
        + fmt::Debug
        + Send
        + serde::Serialize
        + serde::de::DeserializeOwned
        + kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + 'static,
    K::DynamicType: Default,
{
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let seen = await_all(Api::<K>::namespaced(client, ns), &names, done).await?;
    Ok(names
        .iter()
        .map(|name| {
            let object = seen.get(name);
            let (ready, detail) = match object.and_then(|o| serde_json::to_value(o).ok()) {
                Some(value) => workload_state(kind, value),
                None => (false, "missing".to_string()),
            };
            let state = WorkloadState {
                kind: kind.to_string(),
                name: name.clone(),
                ready,
                detail,
                logs: Vec::new(),
            };
            (object.is_some_and(succeeded), state)
        })
        .collect())
}

/// Waits until every object of `names` meets `done`, with one watch of the kind in the
/// namespace; returns the objects as last seen. A watch error ends the wait.
async fn await_all<K>(
    api: Api<K>,
    names: &[String],
    done: impl Condition<K>,
) -> Result<HashMap<String, K>, String>
where
    K: Clone + fmt::Debug + Send + serde::de::DeserializeOwned + kube::Resource + 'static,
{
    let mut seen: HashMap<String, K> = HashMap::new();
    let mut listed = false;
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
    while let Some(event) = events.try_next().await.map_err(|e| e.to_string())? {
        match event {
            watcher::Event::Init => {
                seen.clear();
                listed = false;
            }
            watcher::Event::InitDone => listed = true,
            watcher::Event::InitApply(object) | watcher::Event::Apply(object) => {
                let name = object.name_any();
                if names.contains(&name) {
                    seen.insert(name, object);
                }
            }
            watcher::Event::Delete(object) => {
                seen.remove(&object.name_any());
            }
        }
        if listed && names.iter().all(|name| done.matches_object(seen.get(name))) {
            return Ok(seen);
        }
    }
    Err("the watch ended".into())
}

/// A rollout is finished only when the controller has seen the newest generation and updated,
/// ready and available replicas all equal the desired count, with no old pods left (SPEC 8a).
pub fn deployment_rolled_out() -> impl Condition<Deployment> {
    |object: Option<&Deployment>| {
        let Some(d) = object else { return false };
        let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let Some(status) = &d.status else {
            return false;
        };
        let generation = d.metadata.generation.unwrap_or(0);
        status.observed_generation.unwrap_or(0) >= generation
            && status.updated_replicas.unwrap_or(0) == desired
            && status.ready_replicas.unwrap_or(0) == desired
            && status.available_replicas.unwrap_or(0) == desired
            && status.replicas.unwrap_or(0) == desired
    }
}

pub fn statefulset_rolled_out() -> impl Condition<StatefulSet> {
    |object: Option<&StatefulSet>| {
        let Some(s) = object else { return false };
        let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let Some(status) = &s.status else {
            return false;
        };
        status.observed_generation.unwrap_or(0) >= s.metadata.generation.unwrap_or(0)
            && status.ready_replicas.unwrap_or(0) == desired
            && status.updated_replicas.unwrap_or(0) == desired
            && status.replicas == desired
    }
}

fn job_condition(job: &Job, kind: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == kind && c.status == "True"))
}

fn job_finished() -> impl Condition<Job> {
    |object: Option<&Job>| {
        object.is_some_and(|j| job_condition(j, "Complete") || job_condition(j, "Failed"))
    }
}

/// Why a pod is not serving, and where its logs are (if its container ran at all).
struct PodProblem {
    pod: String,
    text: String,
    /// `(container, previous)`: previous is the crashed instance of a restarting container.
    logs_from: Option<(String, bool)>,
}

fn selects(selector: &serde_json::Map<String, Value>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    selector.iter().all(|(k, v)| {
        v.as_str()
            .is_some_and(|v| labels.get(k).map(String::as_str) == Some(v))
    })
}

/// "pod web-abc: ImagePullBackOff: Back-off pulling image ..." for a pod that is not running.
fn pod_problem(pod: &Pod) -> Option<PodProblem> {
    let name = pod.name_any();
    let status = pod.status.as_ref()?;
    let statuses = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for container in statuses {
        if let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            let reason = waiting.reason.clone().unwrap_or_else(|| "Waiting".into());
            if reason == "PodInitializing" || reason == "ContainerCreating" {
                continue;
            }
            let message = waiting.message.clone().unwrap_or_default();
            // A crash-looping container has logs from its previous run; one that never started has none.
            let logs_from = (reason == "CrashLoopBackOff" || container.restart_count > 0)
                .then(|| (container.name.clone(), true));
            return Some(PodProblem {
                text: format!("pod {name}: {reason}: {message}"),
                pod: name,
                logs_from,
            });
        }
        if let Some(terminated) = container.state.as_ref().and_then(|s| s.terminated.as_ref())
            && terminated.exit_code != 0
        {
            return Some(PodProblem {
                text: format!(
                    "pod {name}: container {} exited with {}{}",
                    container.name,
                    terminated.exit_code,
                    terminated
                        .reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                pod: name,
                logs_from: Some((container.name.clone(), false)),
            });
        }
    }
    let unschedulable = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    Some(PodProblem {
        text: format!(
            "pod {name}: Pending: {}",
            unschedulable
                .message
                .clone()
                .unwrap_or_else(|| "not scheduled".into())
        ),
        pod: name,
        logs_from: None,
    })
}

/// Whether a Deployment finished its rollout, and `available/desired`.
fn deployment_state(d: &Deployment) -> (bool, String) {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let available = d
        .status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    (
        deployment_rolled_out().matches_object(Some(d)),
        format!("{available}/{desired} available"),
    )
}

/// Ready or not, and a short description, of a Deployment, StatefulSet or Job.
fn workload_state(kind: &str, value: Value) -> (bool, String) {
    match kind {
        "Deployment" => match serde_json::from_value::<Deployment>(value) {
            Ok(d) => deployment_state(&d),
            Err(e) => (false, format!("unreadable: {e}")),
        },
        "StatefulSet" => match serde_json::from_value::<StatefulSet>(value) {
            Ok(s) => {
                let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let ready = s
                    .status
                    .as_ref()
                    .and_then(|s| s.ready_replicas)
                    .unwrap_or(0);
                (
                    statefulset_rolled_out().matches_object(Some(&s)),
                    format!("{ready}/{desired} ready"),
                )
            }
            Err(e) => (false, format!("unreadable: {e}")),
        },
        _ => match serde_json::from_value::<Job>(value) {
            Ok(j) if job_condition(&j, "Complete") => (true, "complete".into()),
            Ok(j) if job_condition(&j, "Failed") => (false, "failed".into()),
            Ok(_) => (false, "running".into()),
            Err(e) => (false, format!("unreadable: {e}")),
        },
    }
}
