//! The resource table (one line per kind) and the legacy discovery documents built from it.

use serde_json::{Value, json};

/// One API resource the fake serves.
#[derive(Debug)]
pub(crate) struct Res {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Subresources: "status", "scale", "log", "finalize".
    pub subresources: &'static [&'static str],
    /// Whether `metadata.generation` is maintained (spec-bearing workload kinds).
    pub generation: bool,
    /// Member of the `all` category (`kubectl get all`).
    pub all: bool,
}

#[allow(clippy::too_many_arguments)]
const fn r(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    subresources: &'static [&'static str],
    generation: bool,
    all: bool,
) -> Res {
    Res {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        subresources,
        generation,
        all,
    }
}

const NS: bool = true;
const CLUSTER: bool = false;
const ST: &[&str] = &["status"];
const ST_SCALE: &[&str] = &["status", "scale"];

/// Every resource the fake knows. Adding a kind is one line.
#[rustfmt::skip]
pub(crate) const RESOURCES: &[Res] = &[
    r("", "v1", "namespaces", "namespace", "Namespace", CLUSTER, &["ns"], &["status", "finalize"], false, false),
    r("", "v1", "configmaps", "configmap", "ConfigMap", NS, &["cm"], &[], false, false),
    r("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", NS, &["quota"], ST, false, false),
    r("", "v1", "limitranges", "limitrange", "LimitRange", NS, &["limits"], &[], false, false),
    r("", "v1", "secrets", "secret", "Secret", NS, &[], &[], false, false),
    r("", "v1", "services", "service", "Service", NS, &["svc"], ST, false, true),
    r("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", NS, &["sa"], &[], false, false),
    r("", "v1", "pods", "pod", "Pod", NS, &["po"], &["status", "log"], false, true),
    r("", "v1", "events", "event", "Event", NS, &["ev"], &[], false, false),
    r("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", NS, &["pvc"], ST, false, false),
    r("", "v1", "endpoints", "endpoints", "Endpoints", NS, &["ep"], &[], false, false),
    r("", "v1", "nodes", "node", "Node", CLUSTER, &["no"], ST, false, false),
    r("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", CLUSTER, &["pv"], ST, false, false),
    r("apps", "v1", "deployments", "deployment", "Deployment", NS, &["deploy"], ST_SCALE, true, true),
    r("apps", "v1", "statefulsets", "statefulset", "StatefulSet", NS, &["sts"], ST_SCALE, true, true),
    r("apps", "v1", "replicasets", "replicaset", "ReplicaSet", NS, &["rs"], ST_SCALE, true, true),
    r("apps", "v1", "daemonsets", "daemonset", "DaemonSet", NS, &["ds"], ST, true, true),
    r("batch", "v1", "jobs", "job", "Job", NS, &[], ST, true, true),
    r("batch", "v1", "cronjobs", "cronjob", "CronJob", NS, &["cj"], ST, true, true),
    r("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", NS, &["ing"], ST, true, false),
    r("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", NS, &["netpol"], &[], true, false),
    r("coordination.k8s.io", "v1", "leases", "lease", "Lease", NS, &[], &[], false, false),
    r("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", NS, &[], &[], false, false),
    r("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", NS, &[], &[], false, false),
    r("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", CLUSTER, &[], &[], false, false),
    r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", CLUSTER, &[], &[], false, false),
    r("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", NS, &["hpa"], ST, false, true),
    r("events.k8s.io", "v1", "events", "event", "Event", NS, &[], &[], false, false),
    r("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", NS, &["pdb"], ST, true, false),
];

impl Res {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps` or `pods`, as in error messages.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether writes through the main endpoint ignore `status`.
    pub fn has_status(&self) -> bool {
        self.subresources.contains(&"status")
    }

    /// Whether `sub` is a known subresource.
    pub fn has_sub(&self, sub: &str) -> bool {
        self.subresources.contains(&sub)
    }
}

/// The resource served at `group`/`version` with plural `plural`.
pub(crate) fn find(group: &str, version: &str, plural: &str) -> Option<&'static Res> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource for an `apiVersion` and `kind`.
pub(crate) fn by_kind(api_version: &str, kind: &str) -> Option<&'static Res> {
    let (group, version) = split_api_version(api_version);
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// `apps/v1` -> ("apps", "v1"); `v1` -> ("", "v1").
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// The non-core groups, in table order, each with its versions.
fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for res in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == res.group) {
            Some((_, versions)) => {
                if !versions.contains(&res.version) {
                    versions.push(res.version);
                }
            }
            None => out.push((res.group, vec![res.version])),
        }
    }
    out
}

/// `GET /version`.
pub(crate) fn version_doc() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "gitVersion": "v1.33.0",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `GET /api`.
pub(crate) fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

/// `GET /apis`.
pub(crate) fn api_group_list() -> Value {
    let groups: Vec<Value> = groups()
        .into_iter()
        .map(|(name, versions)| {
            let vs: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
                .collect();
            let preferred = vs.first().cloned().unwrap_or(Value::Null);
            json!({"name": name, "versions": vs, "preferredVersion": preferred})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}` (APIGroup), or None when the group is unknown.
pub(crate) fn api_group(group: &str) -> Option<Value> {
    let (name, versions) = groups().into_iter().find(|(g, _)| *g == group)?;
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    Some(
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": vs, "preferredVersion": preferred}),
    )
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// `GET /api/v1` or `GET /apis/{group}/{version}`, or None when unknown.
pub(crate) fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for res in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut entry = json!({
            "name": res.plural,
            "singularName": res.singular,
            "namespaced": res.namespaced,
            "kind": res.kind,
            "verbs": VERBS,
        });
        if !res.short_names.is_empty() {
            entry["shortNames"] = json!(res.short_names);
        }
        if res.all {
            entry["categories"] = json!(["all"]);
        }
        resources.push(entry);
        for sub in res.subresources {
            let entry = match *sub {
                "scale" => json!({
                    "name": format!("{}/scale", res.plural), "singularName": "", "namespaced": res.namespaced,
                    "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]
                }),
                "log" => json!({
                    "name": format!("{}/log", res.plural), "singularName": "", "namespaced": res.namespaced,
                    "kind": res.kind, "verbs": ["get"]
                }),
                "finalize" => json!({
                    "name": format!("{}/finalize", res.plural), "singularName": "", "namespaced": res.namespaced,
                    "kind": res.kind, "verbs": ["update"]
                }),
                other => json!({
                    "name": format!("{}/{other}", res.plural), "singularName": "", "namespaced": res.namespaced,
                    "kind": res.kind, "verbs": ["get", "patch", "update"]
                }),
            };
            resources.push(entry);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources
    }))
}
