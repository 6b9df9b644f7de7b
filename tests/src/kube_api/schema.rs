//! A small slice of the OpenAPI schemas: enough to know which fields exist at the top level,
//! in metadata, in workload specs, pod specs, containers and service specs. Unknown fields are
//! rejected under `fieldValidation=Strict` and dropped otherwise, as the API server does.

use super::resources::Res;
use serde_json::Value;

/// Where in an object a value sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    Any,
    Root,
    Meta,
    PodTemplate,
    PodSpec,
    Container,
    DeploymentSpec,
    StatefulSetSpec,
    DaemonSetSpec,
    ReplicaSetSpec,
    JobSpec,
    JobTemplate,
    CronJobSpec,
    ServiceSpec,
    ServicePort,
}

const META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

const POD_SPEC: &[&str] = &[
    "volumes",
    "initContainers",
    "containers",
    "ephemeralContainers",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "dnsPolicy",
    "nodeSelector",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "nodeName",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "shareProcessNamespace",
    "securityContext",
    "imagePullSecrets",
    "hostname",
    "subdomain",
    "affinity",
    "schedulerName",
    "tolerations",
    "hostAliases",
    "priorityClassName",
    "priority",
    "dnsConfig",
    "readinessGates",
    "runtimeClassName",
    "enableServiceLinks",
    "preemptionPolicy",
    "overhead",
    "topologySpreadConstraints",
    "setHostnameAsFQDN",
    "os",
    "hostUsers",
    "schedulingGates",
    "resourceClaims",
    "resources",
];

const CONTAINER: &[&str] = &[
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "ports",
    "envFrom",
    "env",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
    "targetContainerName",
];

const DEPLOYMENT_SPEC: &[&str] = &[
    "replicas",
    "selector",
    "template",
    "strategy",
    "minReadySeconds",
    "revisionHistoryLimit",
    "paused",
    "progressDeadlineSeconds",
];

const STATEFULSET_SPEC: &[&str] = &[
    "replicas",
    "selector",
    "template",
    "volumeClaimTemplates",
    "serviceName",
    "podManagementPolicy",
    "updateStrategy",
    "revisionHistoryLimit",
    "minReadySeconds",
    "persistentVolumeClaimRetentionPolicy",
    "ordinals",
];

const DAEMONSET_SPEC: &[&str] = &[
    "selector",
    "template",
    "updateStrategy",
    "minReadySeconds",
    "revisionHistoryLimit",
];

const REPLICASET_SPEC: &[&str] = &["replicas", "minReadySeconds", "selector", "template"];

const JOB_SPEC: &[&str] = &[
    "parallelism",
    "completions",
    "activeDeadlineSeconds",
    "podFailurePolicy",
    "successPolicy",
    "backoffLimit",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
    "selector",
    "manualSelector",
    "template",
    "ttlSecondsAfterFinished",
    "completionMode",
    "suspend",
    "podReplacementPolicy",
    "managedBy",
];

const CRONJOB_SPEC: &[&str] = &[
    "schedule",
    "timeZone",
    "startingDeadlineSeconds",
    "concurrencyPolicy",
    "suspend",
    "jobTemplate",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
];

const SERVICE_SPEC: &[&str] = &[
    "ports",
    "selector",
    "clusterIP",
    "clusterIPs",
    "type",
    "externalIPs",
    "sessionAffinity",
    "loadBalancerIP",
    "loadBalancerSourceRanges",
    "externalName",
    "externalTrafficPolicy",
    "healthCheckNodePort",
    "publishNotReadyAddresses",
    "sessionAffinityConfig",
    "ipFamilies",
    "ipFamilyPolicy",
    "allocateLoadBalancerNodePorts",
    "loadBalancerClass",
    "internalTrafficPolicy",
    "trafficDistribution",
];

const SERVICE_PORT: &[&str] = &[
    "name",
    "protocol",
    "appProtocol",
    "port",
    "targetPort",
    "nodePort",
];

/// Top-level fields besides apiVersion/kind/metadata (kinds not listed have spec and status).
fn root_fields(res: &Res) -> &'static [&'static str] {
    if res.group == "events.k8s.io" {
        return &[
            "eventTime",
            "series",
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
            "regarding",
            "related",
            "note",
            "type",
            "deprecatedSource",
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
        ];
    }
    match res.kind {
        "ConfigMap" => &["data", "binaryData", "immutable"],
        "Secret" => &["data", "stringData", "type", "immutable"],
        "ServiceAccount" => &[
            "secrets",
            "imagePullSecrets",
            "automountServiceAccountToken",
        ],
        "Event" => &[
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "type",
            "eventTime",
            "series",
            "action",
            "related",
            "reportingComponent",
            "reportingInstance",
        ],
        "Endpoints" => &["subsets"],
        "Role" => &["rules"],
        "ClusterRole" => &["rules", "aggregationRule"],
        "RoleBinding" | "ClusterRoleBinding" => &["subjects", "roleRef"],
        _ => &["spec", "status"],
    }
}

/// The context of `key` inside `ctx`, or None when the field does not exist.
fn child(res: &Res, ctx: Ctx, key: &str) -> Option<Ctx> {
    let pick = |known: &[&str], f: &dyn Fn(&str) -> Ctx| known.contains(&key).then(|| f(key));
    match ctx {
        Ctx::Any => Some(Ctx::Any),
        Ctx::Root => match key {
            "apiVersion" | "kind" => Some(Ctx::Any),
            "metadata" => Some(Ctx::Meta),
            "spec" if root_fields(res).contains(&"spec") => Some(match res.kind {
                "Deployment" => Ctx::DeploymentSpec,
                "StatefulSet" => Ctx::StatefulSetSpec,
                "DaemonSet" => Ctx::DaemonSetSpec,
                "ReplicaSet" => Ctx::ReplicaSetSpec,
                "Job" => Ctx::JobSpec,
                "CronJob" => Ctx::CronJobSpec,
                "Pod" => Ctx::PodSpec,
                "Service" => Ctx::ServiceSpec,
                _ => Ctx::Any,
            }),
            other => root_fields(res).contains(&other).then_some(Ctx::Any),
        },
        Ctx::Meta => pick(META, &|_| Ctx::Any),
        Ctx::PodTemplate | Ctx::JobTemplate => match key {
            "metadata" => Some(Ctx::Meta),
            "spec" if ctx == Ctx::PodTemplate => Some(Ctx::PodSpec),
            "spec" => Some(Ctx::JobSpec),
            _ => None,
        },
        Ctx::PodSpec => pick(POD_SPEC, &|k| match k {
            "containers" | "initContainers" | "ephemeralContainers" => Ctx::Container,
            _ => Ctx::Any,
        }),
        Ctx::Container => pick(CONTAINER, &|_| Ctx::Any),
        Ctx::DeploymentSpec => pick(DEPLOYMENT_SPEC, &template_or_any),
        Ctx::StatefulSetSpec => pick(STATEFULSET_SPEC, &template_or_any),
        Ctx::DaemonSetSpec => pick(DAEMONSET_SPEC, &template_or_any),
        Ctx::ReplicaSetSpec => pick(REPLICASET_SPEC, &template_or_any),
        Ctx::JobSpec => pick(JOB_SPEC, &template_or_any),
        Ctx::CronJobSpec => pick(CRONJOB_SPEC, &|k| {
            if k == "jobTemplate" {
                Ctx::JobTemplate
            } else {
                Ctx::Any
            }
        }),
        Ctx::ServiceSpec => pick(SERVICE_SPEC, &|k| {
            if k == "ports" {
                Ctx::ServicePort
            } else {
                Ctx::Any
            }
        }),
        Ctx::ServicePort => pick(SERVICE_PORT, &|_| Ctx::Any),
    }
}

fn template_or_any(k: &str) -> Ctx {
    if k == "template" {
        Ctx::PodTemplate
    } else {
        Ctx::Any
    }
}

fn walk(res: &Res, ctx: Ctx, v: &mut Value, path: &str, prune: bool, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match child(res, ctx, &k) {
                    Some(Ctx::Any) => {}
                    Some(next) => {
                        if let Some(c) = map.get_mut(&k) {
                            walk(res, next, c, &here, prune, out);
                        }
                    }
                    None => {
                        out.push(here);
                        if prune {
                            map.remove(&k);
                        }
                    }
                }
            }
        }
        Value::Array(items) if ctx != Ctx::Any => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(res, ctx, item, &format!("{path}[{i}]"), prune, out);
            }
        }
        _ => {}
    }
}

/// Paths (`spec.foo`, `spec.template.spec.containers[0].imagee`) of fields the schema lacks.
pub(crate) fn unknown_fields(res: &Res, obj: &Value) -> Vec<String> {
    let mut copy = obj.clone();
    let mut out = Vec::new();
    walk(res, Ctx::Root, &mut copy, "", false, &mut out);
    out
}

/// Drops fields the schema lacks; returns their paths.
pub(crate) fn prune_unknown(res: &Res, obj: &mut Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(res, Ctx::Root, obj, "", true, &mut out);
    out
}
