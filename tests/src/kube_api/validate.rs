//! Server-side defaulting and the validation rules a bot is most likely to trip over
//! (names, labels, selector/template agreement, required containers, immutable fields).

use serde_json::{Map, Value, json};

use super::fields;
use super::resources::Res;

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Checks a name the way the API server does for this resource; returns the cause message.
pub(crate) fn name_problem(r: &Res, name: &str) -> Option<String> {
    let (ok, max, msg) = match r.plural {
        "namespaces" => (is_label(name), 63, LABEL_MSG),
        "services" => (
            is_label(name) && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase),
            63,
            DNS1035_MSG,
        ),
        _ => (name.split('.').all(is_label), 253, SUBDOMAIN_MSG),
    };
    if name.len() > max {
        return Some(format!(
            "Invalid value: {name:?}: must be no more than {max} characters"
        ));
    }
    (!ok).then(|| format!("Invalid value: {name:?}: {msg}"))
}

fn label_value_ok(v: &str) -> bool {
    let b = v.as_bytes();
    b.is_empty()
        || (b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric())
}

fn go_map(m: Option<&Value>) -> String {
    let items: Vec<String> = m
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    format!(
                        "{k:?}:{}",
                        v.as_str().map(|s| format!("{s:?}")).unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!("map[string]string{{{}}}", items.join(", "))
}

fn selector_matches(selector: &Value, labels: Option<&Value>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let ml_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| get(k) == v.as_str()));
    let me_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|exprs| {
            exprs.iter().all(|e| {
                let k = e.get("key").and_then(Value::as_str).unwrap_or_default();
                let vals: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match e.get("operator").and_then(Value::as_str) {
                    Some("In") => get(k).is_some_and(|x| vals.contains(&x)),
                    Some("NotIn") => get(k).is_none_or(|x| !vals.contains(&x)),
                    Some("Exists") => get(k).is_some(),
                    Some("DoesNotExist") => get(k).is_none(),
                    _ => false,
                }
            })
        });
    ml_ok && me_ok
}

fn validate_pod_spec(spec: Option<&Value>, prefix: &str, causes: &mut Vec<(String, String)>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    match containers {
        None => causes.push((format!("{prefix}.containers"), "Required value".into())),
        Some(cs) if cs.is_empty() => {
            causes.push((format!("{prefix}.containers"), "Required value".into()))
        }
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                if c.get("name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    causes.push((
                        format!("{prefix}.containers[{i}].name"),
                        "Required value".into(),
                    ));
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    causes.push((
                        format!("{prefix}.containers[{i}].image"),
                        "Required value".into(),
                    ));
                }
            }
        }
    }
}

/// Validates `obj` (and, for updates, immutability against `old`); returns field causes.
pub(crate) fn validate(r: &Res, obj: &Value, old: Option<&Value>) -> Vec<(String, String)> {
    let mut causes = Vec::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if old.is_none() {
        if name.is_empty() {
            causes.push((
                "metadata.name".into(),
                "Required value: name or generateName is required".into(),
            ));
        } else if let Some(p) = name_problem(r, name) {
            causes.push(("metadata.name".into(), p));
        }
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            match v.as_str() {
                Some(s) if s.len() > 63 => causes.push((
                    "metadata.labels".into(),
                    format!("Invalid value: {s:?}: must be no more than 63 characters"),
                )),
                Some(s) if !label_value_ok(s) => causes.push((
                    "metadata.labels".into(),
                    format!("Invalid value: {s:?}: {LABEL_VALUE_MSG}"),
                )),
                Some(_) => {}
                None => causes.push((
                    format!("metadata.labels.{k}"),
                    "Invalid value: label values must be strings".into(),
                )),
            }
        }
    }
    match r.plural {
        "deployments" | "statefulsets" | "replicasets" | "daemonsets" => {
            let selector = obj.pointer("/spec/selector");
            let labels = obj.pointer("/spec/template/metadata/labels");
            match selector {
                None => causes.push(("spec.selector".into(), "Required value".into())),
                Some(sel) => {
                    if !selector_matches(sel, labels) {
                        causes.push((
                            "spec.template.metadata.labels".into(),
                            format!(
                                "Invalid value: {}: `selector` does not match template `labels`",
                                go_map(labels)
                            ),
                        ));
                    }
                    if let Some(old_sel) = old.and_then(|o| o.pointer("/spec/selector"))
                        && old_sel != sel
                    {
                        {
                            causes.push((
                                "spec.selector".into(),
                                format!(
                                    "Invalid value: v1.LabelSelector{{MatchLabels:{}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}: field is immutable",
                                    go_map(sel.get("matchLabels"))
                                ),
                            ));
                        }
                    }
                }
            }
            validate_pod_spec(
                obj.pointer("/spec/template/spec"),
                "spec.template.spec",
                &mut causes,
            );
        }
        "jobs" => {
            validate_pod_spec(
                obj.pointer("/spec/template/spec"),
                "spec.template.spec",
                &mut causes,
            );
            let rp = obj
                .pointer("/spec/template/spec/restartPolicy")
                .and_then(Value::as_str);
            if !matches!(rp, Some("Never") | Some("OnFailure")) {
                causes.push((
                    "spec.template.spec.restartPolicy".into(),
                    match rp {
                        None => "Required value: valid values: \"OnFailure\", \"Never\"".into(),
                        Some(v) => format!(
                            "Unsupported value: {v:?}: supported values: \"OnFailure\", \"Never\""
                        ),
                    },
                ));
            }
            if let Some(old) = old {
                let mut a = old
                    .pointer("/spec/template")
                    .cloned()
                    .unwrap_or(Value::Null);
                let mut b = obj
                    .pointer("/spec/template")
                    .cloned()
                    .unwrap_or(Value::Null);
                fields::strip_nulls(&mut a);
                fields::strip_nulls(&mut b);
                if a != b {
                    causes.push((
                        "spec.template".into(),
                        "Invalid value: core.PodTemplateSpec{...}: field is immutable".into(),
                    ));
                }
            }
        }
        "cronjobs" => {
            if obj
                .pointer("/spec/schedule")
                .and_then(Value::as_str)
                .is_none()
            {
                causes.push(("spec.schedule".into(), "Required value".into()));
            }
            validate_pod_spec(
                obj.pointer("/spec/jobTemplate/spec/template/spec"),
                "spec.jobTemplate.spec.template.spec",
                &mut causes,
            );
        }
        "pods" => validate_pod_spec(obj.get("spec"), "spec", &mut causes),
        "services" => {
            let svc_type = obj
                .pointer("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
            if svc_type != "ExternalName"
                && obj.pointer("/spec/clusterIP").and_then(Value::as_str) != Some("None")
                && ports.is_none_or(Vec::is_empty)
            {
                causes.push(("spec.ports".into(), "Required value".into()));
            }
            if let (Some(old_ip), Some(new_ip)) = (
                old.and_then(|o| o.pointer("/spec/clusterIP")),
                obj.pointer("/spec/clusterIP"),
            ) && old_ip != new_ip
            {
                {
                    causes.push((
                        "spec.clusterIPs[0]".into(),
                        format!("Invalid value: []string{{{new_ip}}}: may not change once set"),
                    ));
                }
            }
        }
        _ => {}
    }
    causes
}

fn default_in(m: &mut Map<String, Value>, k: &str, v: Value) {
    if !m.contains_key(k) {
        m.insert(k.into(), v);
    }
}

fn obj_at<'a>(v: &'a mut Value, k: &str) -> Option<&'a mut Map<String, Value>> {
    let o = v.as_object_mut()?;
    if !o.get(k).is_some_and(Value::is_object) {
        o.insert(k.into(), json!({}));
    }
    o.get_mut(k)?.as_object_mut()
}

/// Applies the server-side defaults (idempotent: runs on every write).
pub(crate) fn apply_defaults(
    r: &Res,
    obj: &mut Value,
    old: Option<&Value>,
    new_ip: &mut dyn FnMut() -> String,
) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match r.plural {
        "namespaces" => {
            if let Some(labels) = obj_at(&mut obj["metadata"], "labels") {
                labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            if let Some(spec) = obj_at(obj, "spec") {
                default_in(spec, "finalizers", json!(["kubernetes"]));
            }
            if let Some(status) = obj_at(obj, "status") {
                default_in(status, "phase", json!("Active"));
            }
        }
        "deployments" | "statefulsets" | "replicasets" => {
            if let Some(spec) = obj_at(obj, "spec") {
                default_in(spec, "replicas", json!(1));
                default_in(spec, "revisionHistoryLimit", json!(10));
                match r.plural {
                    "deployments" => {
                        default_in(spec, "progressDeadlineSeconds", json!(600));
                        default_in(
                            spec,
                            "strategy",
                            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
                        );
                    }
                    "statefulsets" => {
                        default_in(spec, "podManagementPolicy", json!("OrderedReady"));
                        default_in(
                            spec,
                            "updateStrategy",
                            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                        );
                    }
                    _ => {}
                }
            }
        }
        "jobs" => {
            let uid = obj
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true);
            if let Some(spec) = obj_at(obj, "spec") {
                default_in(spec, "completions", json!(1));
                default_in(spec, "parallelism", json!(1));
                default_in(spec, "backoffLimit", json!(6));
                default_in(spec, "completionMode", json!("NonIndexed"));
                default_in(spec, "suspend", json!(false));
                if !manual && !uid.is_empty() {
                    default_in(
                        spec,
                        "selector",
                        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
                    );
                }
            }
            if !manual
                && !uid.is_empty()
                && let Some(labels) = obj
                    .pointer_mut("/spec/template")
                    .and_then(|t| obj_at(t, "metadata"))
                    .and_then(|m| {
                        if !m.get("labels").is_some_and(Value::is_object) {
                            m.insert("labels".into(), json!({}));
                        }
                        m.get_mut("labels").and_then(Value::as_object_mut)
                    })
            {
                for (k, v) in [
                    ("batch.kubernetes.io/controller-uid", uid.as_str()),
                    ("batch.kubernetes.io/job-name", name.as_str()),
                    ("controller-uid", uid.as_str()),
                    ("job-name", name.as_str()),
                ] {
                    default_in(labels, k, json!(v));
                }
            }
        }
        "services" => {
            let old_ip = old.and_then(|o| o.pointer("/spec/clusterIP")).cloned();
            let needs_ip = obj.pointer("/spec/clusterIP").is_none();
            let ip = if needs_ip {
                Some(old_ip.unwrap_or_else(|| json!(new_ip())))
            } else {
                None
            };
            if let Some(spec) = obj_at(obj, "spec") {
                default_in(spec, "type", json!("ClusterIP"));
                if let Some(ip) = ip {
                    spec.insert("clusterIP".into(), ip);
                }
                if let Some(ip) = spec.get("clusterIP").cloned() {
                    spec.insert("clusterIPs".into(), json!([ip]));
                }
                default_in(spec, "sessionAffinity", json!("None"));
                default_in(spec, "ipFamilies", json!(["IPv4"]));
                default_in(spec, "ipFamilyPolicy", json!("SingleStack"));
                default_in(spec, "internalTrafficPolicy", json!("Cluster"));
                if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        default_in(p, "protocol", json!("TCP"));
                        if let Some(port) = p.get("port").cloned() {
                            default_in(p, "targetPort", port);
                        }
                    }
                }
            }
            if let Some(status) = obj_at(obj, "status") {
                default_in(status, "loadBalancer", json!({}));
            }
        }
        "secrets" => {
            if let Some(o) = obj.as_object_mut() {
                default_in(o, "type", json!("Opaque"));
                if let Some(Value::Object(sd)) = o.remove("stringData") {
                    if !o.get("data").is_some_and(Value::is_object) {
                        o.insert("data".into(), json!({}));
                    }
                    if let Some(data) = o.get_mut("data").and_then(Value::as_object_mut) {
                        for (k, v) in sd {
                            let s = v.as_str().unwrap_or_default();
                            data.insert(k, json!(super::state::base64(s.as_bytes())));
                        }
                    }
                }
            }
        }
        "pods" => {
            if let Some(spec) = obj_at(obj, "spec") {
                default_in(spec, "restartPolicy", json!("Always"));
                default_in(spec, "dnsPolicy", json!("ClusterFirst"));
                default_in(spec, "schedulerName", json!("default-scheduler"));
                default_in(spec, "terminationGracePeriodSeconds", json!(30));
                default_in(spec, "serviceAccountName", json!("default"));
            }
        }
        _ => {}
    }
}
