//! `meta.k8s.io/v1` Table answers for kubectl (`Accept: application/json;as=Table;...`).

use super::resources::Res;
use super::server::Query;
use serde_json::{Value, json};

/// Whether the client asked for a Table.
pub(crate) fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

fn col(name: &str, kind: &str, format: &str, description: &str) -> Value {
    json!({"name": name, "type": kind, "format": format, "description": description, "priority": 0})
}

/// A column shown only with `-o wide`.
fn wide(name: &str, description: &str) -> Value {
    json!({"name": name, "type": "string", "format": "", "description": description, "priority": 1})
}

fn count_map(o: &Value, field: &str) -> i64 {
    o.get(field)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len() as i64)
}

/// Age like kubectl prints it: 5s, 3m, 2h, 4d.
fn age(obj: &Value) -> String {
    obj.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .map_or_else(|| "<unknown>".into(), since)
}

/// How long ago an RFC 3339 timestamp was, as kubectl prints ages.
fn since(ts: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The Restarts cell: `0`, or `3 (25s ago)` after the latest restart.
fn restarts(obj: &Value) -> Value {
    let statuses = obj
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total: i64 = statuses.iter().map(|c| int_at(c, "/restartCount")).sum();
    let last = statuses
        .iter()
        .filter_map(|c| {
            c.pointer("/lastState/terminated/finishedAt")
                .and_then(Value::as_str)
        })
        .max();
    match last {
        Some(ts) if total > 0 => json!(format!("{total} ({} ago)", since(ts))),
        _ => json!(total),
    }
}

fn int_at(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn str_at<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn name_of(obj: &Value) -> String {
    str_at(obj, "/metadata/name").to_string()
}

fn containers_and_images(obj: &Value) -> (String, String) {
    let cs = obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = cs
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let images: Vec<&str> = cs
        .iter()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect();
    (names.join(","), images.join(","))
}

fn pod_status(obj: &Value) -> String {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    let statuses = obj
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &statuses {
        if let Some(reason) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            return reason.to_string();
        }
        if let Some(reason) = c
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
            && str_at(obj, "/status/phase") != "Succeeded"
        {
            return reason.to_string();
        }
    }
    match str_at(obj, "/status/phase") {
        "" => "Pending".into(),
        "Succeeded" => "Completed".into(),
        p => p.to_string(),
    }
}

/// Column definitions and cells for one kind.
/// Renders the cells of one row.
type Cells = fn(&Value) -> Vec<Value>;

fn columns(res: &Res) -> (Vec<Value>, Cells) {
    let name_col = col(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
    );
    let age_col = col(
        "Age",
        "string",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    match (res.group, res.plural) {
        ("", "namespaces") => (
            vec![
                name_col,
                col("Status", "string", "", "The status of the namespace"),
                age_col,
            ],
            |o| {
                vec![
                    json!(name_of(o)),
                    json!(str_at(o, "/status/phase")),
                    json!(age(o)),
                ]
            },
        ),
        ("apps", "deployments") => (
            vec![
                name_col,
                col("Ready", "string", "", "Number of the pod with ready state"),
                col(
                    "Up-to-date",
                    "string",
                    "",
                    "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                ),
                col(
                    "Available",
                    "string",
                    "",
                    "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                ),
                age_col,
                wide("Containers", "Names of each container in the template."),
                wide(
                    "Images",
                    "Images referenced by each container in the template.",
                ),
                wide("Selector", "Label selector for pods."),
            ],
            |o| {
                let (c, i) = containers_and_images(o);
                let selector = o
                    .pointer("/spec/selector/matchLabels")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                vec![
                    json!(name_of(o)),
                    json!(format!(
                        "{}/{}",
                        int_at(o, "/status/readyReplicas"),
                        int_at(o, "/spec/replicas")
                    )),
                    json!(int_at(o, "/status/updatedReplicas")),
                    json!(int_at(o, "/status/availableReplicas")),
                    json!(age(o)),
                    json!(c),
                    json!(i),
                    json!(selector),
                ]
            },
        ),
        ("apps", "statefulsets") => (
            vec![
                name_col,
                col("Ready", "string", "", "Number of the pod with ready state"),
                age_col,
            ],
            |o| {
                vec![
                    json!(name_of(o)),
                    json!(format!(
                        "{}/{}",
                        int_at(o, "/status/readyReplicas"),
                        int_at(o, "/spec/replicas")
                    )),
                    json!(age(o)),
                ]
            },
        ),
        ("", "pods") => (
            vec![
                name_col,
                col(
                    "Ready",
                    "string",
                    "",
                    "The aggregate readiness state of this pod for accepting traffic.",
                ),
                col(
                    "Status",
                    "string",
                    "",
                    "The aggregate status of the containers in this pod.",
                ),
                col(
                    "Restarts",
                    "string",
                    "",
                    "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                ),
                age_col,
                wide("IP", "IP address allocated to the pod."),
                wide("Node", "Name of the Node this pod runs on."),
            ],
            |o| {
                let total = o
                    .pointer("/spec/containers")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let ready = o
                    .pointer("/status/containerStatuses")
                    .and_then(Value::as_array)
                    .map_or(0, |cs| {
                        cs.iter()
                            .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
                            .count()
                    });
                vec![
                    json!(name_of(o)),
                    json!(format!("{ready}/{total}")),
                    json!(pod_status(o)),
                    restarts(o),
                    json!(age(o)),
                    json!(match str_at(o, "/status/podIP") {
                        "" => "<none>",
                        ip => ip,
                    }),
                    json!(match str_at(o, "/spec/nodeName") {
                        "" => "<none>",
                        n => n,
                    }),
                ]
            },
        ),
        ("batch", "jobs") => (
            vec![
                name_col,
                col("Status", "string", "", "Status of the job."),
                col(
                    "Completions",
                    "string",
                    "",
                    "The completion status of the job.",
                ),
                age_col,
            ],
            |o| {
                let done = o
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c.get("type").and_then(Value::as_str) == Some("Complete")
                                && c.get("status").and_then(Value::as_str) == Some("True")
                        })
                    });
                vec![
                    json!(name_of(o)),
                    json!(if done { "Complete" } else { "Running" }),
                    json!(format!(
                        "{}/{}",
                        int_at(o, "/status/succeeded"),
                        o.pointer("/spec/completions")
                            .and_then(Value::as_i64)
                            .unwrap_or(1)
                    )),
                    json!(age(o)),
                ]
            },
        ),
        ("apps", "replicasets") => (
            vec![
                name_col,
                col("Desired", "integer", "", "Number of desired pods."),
                col("Current", "integer", "", "Number of actually running pods."),
                col("Ready", "integer", "", "Number of pods with ready state."),
                age_col,
            ],
            |o| {
                vec![
                    json!(name_of(o)),
                    json!(int_at(o, "/spec/replicas")),
                    json!(int_at(o, "/status/replicas")),
                    json!(int_at(o, "/status/readyReplicas")),
                    json!(age(o)),
                ]
            },
        ),
        ("", "services") => (
            vec![
                name_col,
                col("Type", "string", "", "The type of the service."),
                col("Cluster-IP", "string", "", "The cluster IP of the service."),
                col(
                    "External-IP",
                    "string",
                    "",
                    "The external IP of the service.",
                ),
                col("Port(s)", "string", "", "The ports of the service."),
                age_col,
            ],
            |o| {
                let ports: Vec<String> = o
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .map(|ps| {
                        ps.iter()
                            .map(|p| {
                                format!(
                                    "{}/{}",
                                    p.get("port").and_then(Value::as_i64).unwrap_or(0),
                                    p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                vec![
                    json!(name_of(o)),
                    json!(str_at(o, "/spec/type")),
                    json!(str_at(o, "/spec/clusterIP")),
                    json!("<none>"),
                    json!(if ports.is_empty() {
                        "<none>".to_string()
                    } else {
                        ports.join(",")
                    }),
                    json!(age(o)),
                ]
            },
        ),
        ("", "configmaps") => (
            vec![
                name_col,
                col("Data", "integer", "", "Number of data items."),
                age_col,
            ],
            |o| {
                vec![
                    json!(name_of(o)),
                    json!(count_map(o, "data") + count_map(o, "binaryData")),
                    json!(age(o)),
                ]
            },
        ),
        ("", "secrets") => (
            vec![
                name_col,
                col("Type", "string", "", "The type of the secret."),
                col("Data", "integer", "", "Number of data items."),
                age_col,
            ],
            |o| {
                vec![
                    json!(name_of(o)),
                    json!(str_at(o, "/type")),
                    json!(count_map(o, "data")),
                    json!(age(o)),
                ]
            },
        ),
        ("", "events") => (
            vec![
                col("Last Seen", "string", "", "Time of the last occurrence."),
                col("Type", "string", "", "Type of this event."),
                col("Reason", "string", "", "Why the event happened."),
                col("Object", "string", "", "The object this event is about."),
                col("Message", "string", "", "A human-readable description."),
                wide("Name", "The event's name."),
            ],
            |o| {
                vec![
                    json!(age(o)),
                    json!(str_at(o, "/type")),
                    json!(str_at(o, "/reason")),
                    json!(format!(
                        "{}/{}",
                        str_at(o, "/involvedObject/kind").to_ascii_lowercase(),
                        str_at(o, "/involvedObject/name")
                    )),
                    json!(str_at(o, "/message")),
                    json!(name_of(o)),
                ]
            },
        ),
        _ => (vec![name_col, age_col], |o| {
            vec![json!(name_of(o)), json!(age(o))]
        }),
    }
}

/// A Table of `items`.
pub(crate) fn table(res: &Res, items: &[Value], metadata: Value, query: &Query) -> Value {
    let (defs, cells) = columns(res);
    let include = query
        .get("includeObject")
        .unwrap_or("PartialObjectMetadata");
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let object = match include {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
                }),
            };
            json!({"cells": cells(o), "object": object})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": defs,
        "rows": rows,
    })
}
