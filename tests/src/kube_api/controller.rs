//! The simulated controller-manager and kubelet: Deployments -> ReplicaSets -> Pods,
//! StatefulSets, DaemonSets, Jobs (with backoff limits), HorizontalPodAutoscalers, pod status
//! (with unpullable and crashing images, crash-loop restarts) and Events. Every pass is
//! idempotent: it writes only what differs.

use super::Inner;
use super::resources::{self, Res};
use super::state::{CONTROLLER, Key, State, meta_str, now};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Waits for writes (then `controller_delay`), a due graceful deletion, or a one-second resync,
/// and reconciles.
pub(crate) async fn run(inner: Arc<Inner>) {
    loop {
        let resync = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        let due = inner
            .lock()
            .next_due()
            .map(tokio::time::Instant::from_std)
            .map_or(resync, |d| d.min(resync));
        tokio::select! {
            _ = inner.wake.notified() => tokio::time::sleep(inner.opts.controller_delay).await,
            _ = tokio::time::sleep_until(due) => {}
        }
        inner.mutate(|s| {
            s.reap();
            reconcile(s);
        });
    }
}

/// The namespaces and the node of a fresh cluster.
pub(crate) fn seed_cluster(s: &mut State) {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let _ = s.create_internal(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            CONTROLLER,
        );
    }
    let _ = s.create_internal(
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "fake-node", "labels": {
                "kubernetes.io/hostname": "fake-node", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": ""}},
            "spec": {},
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}, {"type": "Hostname", "address": "fake-node"}],
                "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "nodeInfo": {"kubeletVersion": "v1.33.0", "containerRuntimeVersion": "containerd://2.0.0",
                    "operatingSystem": "linux", "architecture": "amd64", "osImage": "Fake Linux", "kernelVersion": "6.0.0",
                    "kubeProxyVersion": "", "machineID": "fake", "systemUUID": "fake", "bootID": "fake"}
            }
        }),
        "kubelet",
    );
}

fn res(group: &str, plural: &str) -> Option<&'static Res> {
    resources::RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

/// One full pass.
pub(crate) fn reconcile(s: &mut State) {
    hpas(s);
    deployments(s);
    replicasets(s);
    statefulsets(s);
    daemonsets(s);
    jobs(s);
    kubelet(s);
    crash_loops(s);
    replicaset_status(s);
    deployment_status(s);
    statefulset_status(s);
    daemonset_status(s);
    job_status(s);
}

fn live_objects(s: &State, group: &str, plural: &str) -> Vec<(Key, Value)> {
    let Some(r) = res(group, plural) else {
        return Vec::new();
    };
    s.list(r, None)
        .into_iter()
        .filter(|(_, v)| v.pointer("/metadata/deletionTimestamp").is_none())
        .collect()
}

fn uid_of(v: &Value) -> String {
    meta_str(v, "uid").unwrap_or("").to_string()
}

fn owned_by(v: &Value, uid: &str) -> bool {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
        })
}

/// Objects in `ns` of a resource owned by `uid` (terminating ones excluded).
fn children(s: &State, group: &str, plural: &str, ns: &str, uid: &str) -> Vec<(Key, Value)> {
    let Some(r) = res(group, plural) else {
        return Vec::new();
    };
    s.list(r, Some(ns))
        .into_iter()
        .filter(|(_, v)| owned_by(v, uid) && v.pointer("/metadata/deletionTimestamp").is_none())
        .collect()
}

fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner.get("apiVersion").cloned().unwrap_or(Value::Null),
        "kind": owner.get("kind").cloned().unwrap_or(Value::Null),
        "name": meta_str(owner, "name").unwrap_or(""),
        "uid": meta_str(owner, "uid").unwrap_or(""),
        "controller": true,
        "blockOwnerDeletion": true
    })
}

fn int(v: &Value, ptr: &str, default: i64) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(default)
}

/// A stable short hash in the Kubernetes "safe" alphabet.
fn short_hash(v: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in v.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|i| ALPHA[((h >> (i * 6)) % ALPHA.len() as u64) as usize] as char)
        .collect()
}

fn labels_of(v: &Value, ptr: &str) -> Map<String, Value> {
    v.pointer(ptr)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn delete_tree(s: &mut State, key: &Key) {
    s.delete_object(key, None);
}

/// Creates a pod from `template` owned by `owner`.
fn create_pod(
    s: &mut State,
    ns: &str,
    name: &str,
    template: &Value,
    labels: Map<String, Value>,
    owner: &Value,
) {
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    if spec.get("nodeName").is_none() {
        spec["nodeName"] = json!("fake-node");
    }
    if spec.get("serviceAccountName").is_none() {
        spec["serviceAccountName"] = json!("default");
    }
    if spec.get("restartPolicy").is_none() {
        spec["restartPolicy"] = json!("Always");
    }
    limit_range_defaults(s, ns, &mut spec);
    let mut meta = json!({"name": name, "namespace": ns, "labels": labels, "ownerReferences": [owner_ref(owner)]});
    if let Some(a) = template.pointer("/metadata/annotations") {
        meta["annotations"] = a.clone();
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
    let _ = s.create_internal(pod, CONTROLLER);
}

/// The LimitRanger admission plugin: containers without their own requests or limits get the
/// namespace's LimitRange `defaultRequest` and `default` for each resource.
fn limit_range_defaults(s: &State, ns: &str, spec: &mut Value) {
    let Some(r) = res("", "limitranges") else {
        return;
    };
    let mut defaults: Vec<(&str, String, Value)> = Vec::new();
    for (_, range) in s.list(r, Some(ns)) {
        let limits = range.pointer("/spec/limits").and_then(Value::as_array);
        for limit in limits.into_iter().flatten() {
            if limit.get("type").and_then(Value::as_str) != Some("Container") {
                continue;
            }
            for (field, into) in [("defaultRequest", "requests"), ("default", "limits")] {
                if let Some(values) = limit.get(field).and_then(Value::as_object) {
                    for (resource, quantity) in values {
                        defaults.push((into, resource.clone(), quantity.clone()));
                    }
                }
            }
        }
    }
    if defaults.is_empty() {
        return;
    }
    for list in ["containers", "initContainers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers {
            let Some(container) = container.as_object_mut() else {
                continue;
            };
            let resources = container.entry("resources").or_insert_with(|| json!({}));
            for (into, resource, quantity) in &defaults {
                let Some(section) = resources.as_object_mut() else {
                    continue;
                };
                let section = section.entry(*into).or_insert_with(|| json!({}));
                if let Some(section) = section.as_object_mut() {
                    section
                        .entry(resource.clone())
                        .or_insert_with(|| quantity.clone());
                }
            }
        }
    }
}

fn unique_name(s: &mut State, prefix: &str, ns: &str) -> String {
    let Some(pods) = res("", "pods") else {
        return format!("{prefix}-{}", s.suffix());
    };
    loop {
        let name = format!("{prefix}-{}", s.suffix());
        if s.get(&Key::new(pods, Some(ns), &name)).is_none() {
            return name;
        }
    }
}

fn hpas(s: &mut State) {
    for (key, hpa) in live_objects(s, "autoscaling", "horizontalpodautoscalers") {
        let target_kind = hpa
            .pointer("/spec/scaleTargetRef/kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        let target_name = hpa
            .pointer("/spec/scaleTargetRef/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let plural = match target_kind {
            "Deployment" => "deployments",
            "StatefulSet" => "statefulsets",
            "ReplicaSet" => "replicasets",
            _ => continue,
        };
        let Some(r) = res("apps", plural) else {
            continue;
        };
        let tkey = Key::new(r, Some(&key.ns), target_name);
        let Some(target) = s.get(&tkey).cloned() else {
            continue;
        };
        let current = int(&target, "/spec/replicas", 1);
        let min = int(&hpa, "/spec/minReplicas", 1);
        let max = int(&hpa, "/spec/maxReplicas", current.max(min));
        // As the real controller: a target scaled to zero is not autoscaled until scaled up.
        let disabled = current == 0 && min != 0;
        let desired = if disabled {
            0
        } else {
            current.clamp(min, max.max(min))
        };
        if desired != current {
            let mut new = target.clone();
            new["spec"]["replicas"] = json!(desired);
            s.update_internal(&tkey, new, CONTROLLER, Some("scale"));
        }
        let mut new = hpa.clone();
        let mut status = json!({"currentReplicas": current, "desiredReplicas": desired});
        let cond = |t: &str, st: &str, reason: &str, msg: &str| json!({"type": t, "status": st, "reason": reason, "message": msg});
        status["conditions"] = merge_conditions(
            hpa.pointer("/status/conditions"),
            vec![
                cond(
                    "AbleToScale",
                    "True",
                    "ReadyForNewScale",
                    "recommended size matches current size",
                ),
                if disabled {
                    cond(
                        "ScalingActive",
                        "False",
                        "ScalingDisabled",
                        "scaling is disabled since the replica count of the target is zero",
                    )
                } else {
                    cond(
                        "ScalingActive",
                        "True",
                        "ValidMetricFound",
                        "the HPA was able to successfully calculate a replica count",
                    )
                },
            ],
        );
        if hpa.get("status") != Some(&status) {
            new["status"] = status;
            s.update_internal(&key, new, CONTROLLER, Some("status"));
        }
    }
}

fn deployments(s: &mut State) {
    let Some(rs_res) = res("apps", "replicasets") else {
        return;
    };
    for (key, d) in live_objects(s, "apps", "deployments") {
        if s.namespace_terminating(&key.ns) {
            continue;
        }
        let uid = uid_of(&d);
        let desired = int(&d, "/spec/replicas", 1);
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = short_hash(&template);
        let rs_name = format!("{}-{hash}", key.name);
        for (k, _) in children(s, "apps", "replicasets", &key.ns, &uid) {
            if k.name != rs_name {
                delete_tree(s, &k);
            }
        }
        let rs_key = Key::new(rs_res, Some(&key.ns), &rs_name);
        match s.get(&rs_key).cloned() {
            None => {
                let mut labels = labels_of(&template, "/metadata/labels");
                labels.insert("pod-template-hash".into(), json!(hash));
                let mut tmpl = template.clone();
                tmpl["metadata"]["labels"] = Value::Object(labels.clone());
                let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
                selector["matchLabels"]["pod-template-hash"] = json!(hash);
                let rs = json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": rs_name, "namespace": key.ns, "labels": labels,
                        "annotations": {"deployment.kubernetes.io/desired-replicas": desired.to_string(),
                            "deployment.kubernetes.io/max-replicas": desired.to_string(),
                            "deployment.kubernetes.io/revision": "1"},
                        "ownerReferences": [owner_ref(&d)]},
                    "spec": {"replicas": desired, "selector": selector, "template": tmpl}
                });
                let _ = s.create_internal(rs, CONTROLLER);
            }
            Some(rs) => {
                if int(&rs, "/spec/replicas", 1) != desired {
                    let mut new = rs.clone();
                    new["spec"]["replicas"] = json!(desired);
                    new["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                        json!(desired.to_string());
                    s.update_internal(&rs_key, new, CONTROLLER, None);
                }
            }
        }
    }
}

fn replicasets(s: &mut State) {
    for (key, rs) in live_objects(s, "apps", "replicasets") {
        if s.namespace_terminating(&key.ns) {
            continue;
        }
        let uid = uid_of(&rs);
        let desired = int(&rs, "/spec/replicas", 1).max(0) as usize;
        let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let pods = children(s, "", "pods", &key.ns, &uid);
        if pods.len() < desired {
            for _ in pods.len()..desired {
                let name = unique_name(s, &key.name, &key.ns);
                let labels = labels_of(&template, "/metadata/labels");
                create_pod(s, &key.ns, &name, &template, labels, &rs);
            }
        } else if pods.len() > desired {
            for (k, _) in pods.iter().skip(desired) {
                s.delete_object(k, None);
            }
        }
    }
}

fn statefulsets(s: &mut State) {
    let (Some(pods_res), Some(pvc_res)) = (res("", "pods"), res("", "persistentvolumeclaims"))
    else {
        return;
    };
    for (key, sts) in live_objects(s, "apps", "statefulsets") {
        if s.namespace_terminating(&key.ns) {
            continue;
        }
        let uid = uid_of(&sts);
        let desired = int(&sts, "/spec/replicas", 1).max(0);
        let template = sts.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let revision = format!("{}-{}", key.name, short_hash(&template));
        for (k, pod) in children(s, "", "pods", &key.ns, &uid) {
            let index = k
                .name
                .rsplit_once('-')
                .and_then(|(_, i)| i.parse::<i64>().ok())
                .unwrap_or(i64::MAX);
            let stale = pod
                .pointer("/metadata/labels/controller-revision-hash")
                .and_then(Value::as_str)
                != Some(revision.as_str());
            if index >= desired || stale {
                s.delete_object(&k, None);
            }
        }
        let claims = sts
            .pointer("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for i in 0..desired {
            let name = format!("{}-{i}", key.name);
            for claim in &claims {
                let claim_name = format!("{}-{name}", meta_str(claim, "name").unwrap_or("data"));
                if s.get(&Key::new(pvc_res, Some(&key.ns), &claim_name))
                    .is_none()
                {
                    let mut labels = labels_of(&template, "/metadata/labels");
                    labels.extend(labels_of(claim, "/metadata/labels"));
                    let pvc = json!({
                        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": claim_name, "namespace": key.ns, "labels": labels},
                        "spec": claim.get("spec").cloned().unwrap_or(json!({})),
                        "status": {"phase": "Bound", "accessModes": claim.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"])),
                            "capacity": {"storage": claim.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("1Gi"))}}
                    });
                    let _ = s.create_internal(pvc, CONTROLLER);
                }
            }
            if s.get(&Key::new(pods_res, Some(&key.ns), &name)).is_none() {
                let mut labels = labels_of(&template, "/metadata/labels");
                labels.insert("controller-revision-hash".into(), json!(revision));
                labels.insert("statefulset.kubernetes.io/pod-name".into(), json!(name));
                labels.insert("apps.kubernetes.io/pod-index".into(), json!(i.to_string()));
                let mut tmpl = template.clone();
                if !claims.is_empty() {
                    let mut volumes = tmpl
                        .pointer("/spec/volumes")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    for claim in &claims {
                        let cname = meta_str(claim, "name").unwrap_or("data");
                        volumes.push(json!({"name": cname, "persistentVolumeClaim": {"claimName": format!("{cname}-{name}")}}));
                    }
                    tmpl["spec"]["volumes"] = json!(volumes);
                }
                if tmpl.get("spec").is_some_and(Value::is_object) {
                    tmpl["spec"]["hostname"] = json!(name);
                }
                create_pod(s, &key.ns, &name, &tmpl, labels, &sts);
            }
        }
    }
}

fn daemonsets(s: &mut State) {
    for (key, ds) in live_objects(s, "apps", "daemonsets") {
        if s.namespace_terminating(&key.ns) {
            continue;
        }
        let uid = uid_of(&ds);
        let template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let revision = short_hash(&template);
        let mut have = 0;
        for (k, pod) in children(s, "", "pods", &key.ns, &uid) {
            let stale = pod
                .pointer("/metadata/labels/controller-revision-hash")
                .and_then(Value::as_str)
                != Some(revision.as_str());
            if stale || have >= 1 {
                s.delete_object(&k, None);
            } else {
                have += 1;
            }
        }
        if have == 0 {
            let name = unique_name(s, &key.name, &key.ns);
            let mut labels = labels_of(&template, "/metadata/labels");
            labels.insert("controller-revision-hash".into(), json!(revision));
            labels.insert(
                "pod-template-generation".into(),
                json!(int(&ds, "/metadata/generation", 1).to_string()),
            );
            create_pod(s, &key.ns, &name, &template, labels, &ds);
        }
    }
}

fn job_condition(job: &Value, kind: &str) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Complete or Failed: the Job controller leaves it alone.
fn job_finished(job: &Value) -> bool {
    job_condition(job, "Complete") || job_condition(job, "Failed")
}

fn pod_phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn jobs(s: &mut State) {
    for (key, job) in live_objects(s, "batch", "jobs") {
        if s.namespace_terminating(&key.ns)
            || job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
            || job_finished(&job)
        {
            continue;
        }
        let uid = uid_of(&job);
        let pods = children(s, "", "pods", &key.ns, &uid);
        let count = |phase: &str| pods.iter().filter(|(_, p)| pod_phase(p) == phase).count();
        let (succeeded, failed) = (count("Succeeded"), count("Failed"));
        let active = pods.len() - succeeded - failed;
        if active == 0
            && succeeded == 0
            && failed as i64 <= int(&job, "/spec/backoffLimit", 6)
            && int(&job, "/status/succeeded", 0) == 0
        {
            let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
            let name = unique_name(s, &key.name, &key.ns);
            let mut labels = labels_of(&template, "/metadata/labels");
            for (k, v) in [
                ("job-name", key.name.clone()),
                ("batch.kubernetes.io/job-name", key.name.clone()),
                ("controller-uid", uid.clone()),
                ("batch.kubernetes.io/controller-uid", uid.clone()),
            ] {
                labels.insert(k.into(), json!(v));
            }
            let mut tmpl = template.clone();
            if tmpl.get("spec").is_some_and(Value::is_object)
                && tmpl.pointer("/spec/restartPolicy").is_none()
            {
                tmpl["spec"]["restartPolicy"] = json!("Never");
            }
            create_pod(s, &key.ns, &name, &tmpl, labels, &job);
        }
    }
}

fn owner_kind(pod: &Value) -> String {
    pod.pointer("/metadata/ownerReferences/0/kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The `restarts`-th crash-loop back-off in seconds: 10 s, doubling, at most 5 min.
fn back_off_secs(restarts: i64) -> i64 {
    let exp = (restarts - 1).clamp(0, 5) as u32;
    (10i64 << exp).min(300)
}

/// A Go duration as the kubelet prints it: `10s`, `1m20s`, `5m0s`.
fn go_duration(secs: i64) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

/// `name_namespace(uid)`, as the kubelet names pods in messages.
fn pod_ref(pod: &Value) -> String {
    format!(
        "{}_{}({})",
        meta_str(pod, "name").unwrap_or(""),
        meta_str(pod, "namespace").unwrap_or(""),
        uid_of(pod)
    )
}

fn back_off_message(restarts: i64, container: &str, pod: &Value) -> String {
    format!(
        "back-off {} restarting failed container={container} pod={}",
        go_duration(back_off_secs(restarts)),
        pod_ref(pod)
    )
}

/// The event `involvedObject` of one container of a pod.
fn container_ref(pod: &Value, container: &str) -> Value {
    json!({"kind": "Pod", "namespace": meta_str(pod, "namespace").unwrap_or(""),
        "name": meta_str(pod, "name").unwrap_or(""), "uid": uid_of(pod), "apiVersion": "v1",
        "fieldPath": format!("spec.containers{{{container}}}")})
}

/// Records an event about `involved`, first and last seen now.
fn record_event(
    s: &mut State,
    involved: Value,
    (kind, reason, message): (&str, &str, String),
    component: &str,
) {
    let ns = involved
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let object = involved
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let (source, instance) = if component == "kubelet" {
        (
            json!({"component": component, "host": "fake-node"}),
            "fake-node",
        )
    } else {
        (json!({"component": component}), "")
    };
    let t = now();
    let name = format!("{object}.{:016x}", s.next_random());
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": involved, "reason": reason, "message": message, "type": kind,
        "source": source, "firstTimestamp": t, "lastTimestamp": t, "count": 1,
        "reportingComponent": component, "reportingInstance": instance
    });
    let _ = s.create_internal(ev, component);
}

/// The kubelet: gives pods without a phase their status.
fn kubelet(s: &mut State) {
    for (key, pod) in live_objects(s, "", "pods") {
        if pod.pointer("/status/phase").is_some() {
            continue;
        }
        let containers = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let unpullable = s.unpullable.clone();
        let bad_image = containers
            .iter()
            .filter_map(|c| c.get("image").and_then(Value::as_str))
            .find(|img| unpullable.iter().any(|u| img.contains(u.as_str())))
            .map(str::to_string);
        let job_pod = owner_kind(&pod) == "Job";
        let restart_policy = pod
            .pointer("/spec/restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Always")
            .to_string();
        let t = now();
        let n = s.next_random();
        let pod_ip = format!("10.244.{}.{}", (n >> 8) % 256, (n % 253) + 1);
        let container_id = format!("containerd://{n:016x}");
        let mut crash_looping = Vec::new();
        let mut statuses = Vec::new();
        for c in &containers {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let bad = unpullable.iter().any(|u| image.contains(u.as_str()));
            let crash = s.crashing_image(image).cloned();
            let mut st = json!({"name": name, "image": image,
                "imageID": if bad { String::new() } else { format!("{image}@sha256:{:064x}", 0) },
                "ready": false, "started": false, "restartCount": 0});
            if bad {
                st["state"] = json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}});
            } else {
                st["containerID"] = json!(container_id);
                if let Some(crash) = crash {
                    let reason = if crash.exit_code == 0 {
                        "Completed"
                    } else {
                        "Error"
                    };
                    let terminated = json!({"exitCode": crash.exit_code, "reason": reason,
                        "startedAt": t, "finishedAt": t, "containerID": container_id});
                    let restarts = match restart_policy.as_str() {
                        "Never" => false,
                        "OnFailure" => crash.exit_code != 0,
                        _ => true,
                    };
                    if restarts {
                        st["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                            "message": back_off_message(1, name, &pod)}});
                        st["lastState"] = json!({"terminated": terminated});
                        st["restartCount"] = json!(1);
                        crash_looping.push(name.to_string());
                    } else {
                        st["state"] = json!({"terminated": terminated});
                    }
                } else if job_pod {
                    st["state"] = json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": t, "finishedAt": t, "containerID": container_id}});
                } else {
                    st["state"] = json!({"running": {"startedAt": t}});
                    st["ready"] = json!(true);
                    st["started"] = json!(true);
                }
            }
            statuses.push(st);
        }
        let is_ready = |st: &Value| st.get("ready").and_then(Value::as_bool) == Some(true);
        let phase = if bad_image.is_some() {
            "Pending"
        } else if statuses.is_empty() {
            if job_pod { "Succeeded" } else { "Running" }
        } else if statuses.iter().any(|st| {
            st.pointer("/state/running").is_some() || st.pointer("/state/waiting").is_some()
        }) {
            "Running"
        } else if statuses.iter().any(|st| {
            st.pointer("/state/terminated/exitCode")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                != 0
        }) {
            "Failed"
        } else {
            "Succeeded"
        };
        let ready = phase == "Running" && statuses.iter().all(is_ready);
        let b = |x: bool| if x { "True" } else { "False" };
        let mut conditions = vec![
            json!({"type": "PodReadyToStartContainers", "status": b(bad_image.is_none()), "lastTransitionTime": t}),
            json!({"type": "Initialized", "status": "True", "lastTransitionTime": t}),
            json!({"type": "Ready", "status": b(ready), "lastTransitionTime": t}),
            json!({"type": "ContainersReady", "status": b(ready), "lastTransitionTime": t}),
            json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": t}),
        ];
        if !ready {
            let reason = match phase {
                "Succeeded" => "PodCompleted",
                "Failed" => "PodFailed",
                _ => "ContainersNotReady",
            };
            let unready: Vec<&str> = statuses
                .iter()
                .filter(|st| bad_image.is_some() || !is_ready(st))
                .filter_map(|st| st.get("name").and_then(Value::as_str))
                .collect();
            for c in conditions
                .iter_mut()
                .filter(|c| matches!(c["type"].as_str(), Some("Ready" | "ContainersReady")))
            {
                c["reason"] = json!(reason);
                if reason == "ContainersNotReady" {
                    c["message"] = json!(format!(
                        "containers with unready status: [{}]",
                        unready.join(" ")
                    ));
                }
            }
        }
        let mut new = pod.clone();
        new["status"] = json!({
            "phase": phase, "conditions": conditions, "hostIP": "10.0.0.10", "hostIPs": [{"ip": "10.0.0.10"}],
            "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": t, "qosClass": "BestEffort",
            "containerStatuses": statuses
        });
        s.update_internal(&key, new, "kubelet", Some("status"));
        if let Some(image) = bad_image {
            let container = containers
                .iter()
                .find(|c| c.get("image").and_then(Value::as_str) == Some(image.as_str()))
                .and_then(|c| c.get("name").and_then(Value::as_str))
                .unwrap_or("")
                .to_string();
            let events = [
                (
                    "Warning",
                    "Failed",
                    format!(
                        "Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": not found"
                    ),
                ),
                ("Warning", "Failed", "Error: ErrImagePull".to_string()),
                (
                    "Normal",
                    "BackOff",
                    format!("Back-off pulling image \"{image}\""),
                ),
                ("Warning", "Failed", "Error: ImagePullBackOff".to_string()),
            ];
            for event in events {
                record_event(s, container_ref(&pod, &container), event, "kubelet");
            }
        }
        for container in crash_looping {
            let message = format!(
                "Back-off restarting failed container {container} in pod {}",
                pod_ref(&pod)
            );
            record_event(
                s,
                container_ref(&pod, &container),
                ("Warning", "BackOff", message),
                "kubelet",
            );
        }
    }
}

/// Restarts crash-looping containers whose back-off has passed (in Job pods at once): the
/// restart count goes up, the run crashes again, and the `BackOff` event counts once more.
fn crash_loops(s: &mut State) {
    let at = chrono::Utc::now();
    for (key, pod) in live_objects(s, "", "pods") {
        if pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
            continue;
        }
        let Some(mut statuses) = pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .cloned()
        else {
            continue;
        };
        let job_pod = owner_kind(&pod) == "Job";
        let mut restarted = Vec::new();
        for st in &mut statuses {
            if st.pointer("/state/waiting/reason").and_then(Value::as_str)
                != Some("CrashLoopBackOff")
            {
                continue;
            }
            let restarts = st.get("restartCount").and_then(Value::as_i64).unwrap_or(1);
            let finished = st
                .pointer("/lastState/terminated/finishedAt")
                .and_then(Value::as_str)
                .and_then(|f| chrono::DateTime::parse_from_rfc3339(f).ok());
            let due = job_pod
                || finished.is_none_or(|f| {
                    (at - f.with_timezone(&chrono::Utc)).num_seconds() >= back_off_secs(restarts)
                });
            if !due {
                continue;
            }
            let name = st
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let t = now();
            let id = format!("containerd://{:016x}", s.next_random());
            st["restartCount"] = json!(restarts + 1);
            st["containerID"] = json!(id);
            if let Some(term) = st.pointer_mut("/lastState/terminated") {
                term["startedAt"] = json!(t);
                term["finishedAt"] = json!(t);
                term["containerID"] = json!(id);
            }
            st["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                "message": back_off_message(restarts + 1, &name, &pod)}});
            restarted.push(name);
        }
        if restarted.is_empty() {
            continue;
        }
        let mut new = pod.clone();
        new["status"]["containerStatuses"] = json!(statuses);
        s.update_internal(&key, new, "kubelet", Some("status"));
        for container in restarted {
            count_back_off_event(s, &pod, &container);
        }
    }
}

/// Counts one more `BackOff` of a container on its event (as the event recorder aggregates).
fn count_back_off_event(s: &mut State, pod: &Value, container: &str) {
    let Some(events) = res("", "events") else {
        return;
    };
    let ns = meta_str(pod, "namespace").unwrap_or("");
    let uid = uid_of(pod);
    let field_path = format!("spec.containers{{{container}}}");
    let found = s.list(events, Some(ns)).into_iter().find(|(_, e)| {
        e.get("reason").and_then(Value::as_str) == Some("BackOff")
            && e.pointer("/involvedObject/uid").and_then(Value::as_str) == Some(uid.as_str())
            && e.pointer("/involvedObject/fieldPath")
                .and_then(Value::as_str)
                == Some(field_path.as_str())
    });
    match found {
        Some((k, e)) => {
            let mut new = e.clone();
            new["count"] = json!(int(&e, "/count", 1) + 1);
            new["lastTimestamp"] = json!(now());
            s.update_internal(&k, new, "kubelet", None);
        }
        None => {
            let message = format!(
                "Back-off restarting failed container {container} in pod {}",
                pod_ref(pod)
            );
            record_event(
                s,
                container_ref(pod, container),
                ("Warning", "BackOff", message),
                "kubelet",
            );
        }
    }
}

fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Inserts non-zero counters only (the API omits zero values).
fn set_count(status: &mut Value, field: &str, n: i64) {
    if n != 0 {
        status[field] = json!(n);
    }
}

/// Keeps timestamps of conditions whose status (and reason) did not change.
fn merge_conditions(old: Option<&Value>, new: Vec<Value>) -> Value {
    let old = old.and_then(Value::as_array).cloned().unwrap_or_default();
    let t = now();
    let out: Vec<Value> = new
        .into_iter()
        .map(|mut c| {
            let prev = old.iter().find(|o| o.get("type") == c.get("type"));
            let same_status = prev.is_some_and(|p| p.get("status") == c.get("status"));
            let same_all = same_status
                && prev.is_some_and(|p| {
                    p.get("reason") == c.get("reason") && p.get("message") == c.get("message")
                });
            let transition = match prev {
                Some(p) if same_status => p.get("lastTransitionTime").cloned().unwrap_or(json!(t)),
                _ => json!(t),
            };
            let update = match prev {
                Some(p) if same_all => p.get("lastUpdateTime").cloned().unwrap_or(json!(t)),
                _ => json!(t),
            };
            c["lastTransitionTime"] = transition;
            if c.get("withUpdateTime").is_some() {
                if let Value::Object(m) = &mut c {
                    m.remove("withUpdateTime");
                }
                c["lastUpdateTime"] = update;
            }
            c
        })
        .collect();
    json!(out)
}

fn write_status(s: &mut State, key: &Key, obj: &Value, status: Value) {
    if obj.get("status") != Some(&status) {
        let mut new = obj.clone();
        new["status"] = status;
        s.update_internal(key, new, CONTROLLER, Some("status"));
    }
}

fn replicaset_status(s: &mut State) {
    for (key, rs) in live_objects(s, "apps", "replicasets") {
        let pods = children(s, "", "pods", &key.ns, &uid_of(&rs));
        let ready = pods.iter().filter(|(_, p)| pod_ready(p)).count() as i64;
        let mut status = json!({"replicas": pods.len(), "observedGeneration": int(&rs, "/metadata/generation", 1)});
        set_count(&mut status, "fullyLabeledReplicas", pods.len() as i64);
        set_count(&mut status, "readyReplicas", ready);
        set_count(&mut status, "availableReplicas", ready);
        write_status(s, &key, &rs, status);
    }
}

/// maxUnavailable of a rolling update (int or percentage, rounded down); 0 for Recreate.
fn max_unavailable(d: &Value, desired: i64) -> i64 {
    if d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") {
        return 0;
    }
    match d.pointer("/spec/strategy/rollingUpdate/maxUnavailable") {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(p)) => p
            .trim_end_matches('%')
            .parse::<i64>()
            .map(|pct| desired * pct / 100)
            .unwrap_or(0),
        _ => desired * 25 / 100,
    }
}

fn deployment_status(s: &mut State) {
    for (key, d) in live_objects(s, "apps", "deployments") {
        let desired = int(&d, "/spec/replicas", 1);
        let rss = children(s, "apps", "replicasets", &key.ns, &uid_of(&d));
        let template_hash = short_hash(&d.pointer("/spec/template").cloned().unwrap_or(json!({})));
        let rs_name = format!("{}-{template_hash}", key.name);
        let mut total = 0i64;
        let mut updated = 0i64;
        let mut ready = 0i64;
        for (k, rs) in &rss {
            let pods = children(s, "", "pods", &key.ns, &uid_of(rs));
            let r = pods.iter().filter(|(_, p)| pod_ready(p)).count() as i64;
            total += pods.len() as i64;
            ready += r;
            if k.name == rs_name {
                updated += pods.len() as i64;
            }
        }
        let available = ready;
        let min_ok = available >= desired - max_unavailable(&d, desired);
        let complete = updated == desired && available == desired && total == desired;
        let mut status = json!({"observedGeneration": int(&d, "/metadata/generation", 1)});
        set_count(&mut status, "replicas", total);
        set_count(&mut status, "updatedReplicas", updated);
        set_count(&mut status, "readyReplicas", ready);
        set_count(&mut status, "availableReplicas", available);
        set_count(
            &mut status,
            "unavailableReplicas",
            (desired - available).max(0),
        );
        let available_cond = if min_ok {
            json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "withUpdateTime": true})
        } else {
            json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability.", "withUpdateTime": true})
        };
        let deadline = int(&d, "/spec/progressDeadlineSeconds", 600);
        let timed_out = !complete
            && d.pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.get("type").and_then(Value::as_str) == Some("Progressing"))
                })
                .is_some_and(|c| {
                    let same_rs = c
                        .get("message")
                        .and_then(Value::as_str)
                        .is_some_and(|m| m.contains(&format!("\"{rs_name}\"")));
                    let since = c
                        .get("lastUpdateTime")
                        .and_then(Value::as_str)
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| {
                            (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds()
                        });
                    same_rs && since.is_some_and(|s| s >= deadline)
                });
        let progressing = if timed_out {
            json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": format!("ReplicaSet \"{rs_name}\" has timed out progressing."), "withUpdateTime": true})
        } else if complete {
            json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{rs_name}\" has successfully progressed."), "withUpdateTime": true})
        } else {
            json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": format!("ReplicaSet \"{rs_name}\" is progressing."), "withUpdateTime": true})
        };
        status["conditions"] = merge_conditions(
            d.pointer("/status/conditions"),
            vec![available_cond, progressing],
        );
        write_status(s, &key, &d, status);
    }
}

fn statefulset_status(s: &mut State) {
    for (key, sts) in live_objects(s, "apps", "statefulsets") {
        let template = sts.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let revision = format!("{}-{}", key.name, short_hash(&template));
        let pods = children(s, "", "pods", &key.ns, &uid_of(&sts));
        let ready = pods.iter().filter(|(_, p)| pod_ready(p)).count() as i64;
        let current = pods
            .iter()
            .filter(|(_, p)| {
                p.pointer("/metadata/labels/controller-revision-hash")
                    .and_then(Value::as_str)
                    == Some(revision.as_str())
            })
            .count() as i64;
        let mut status = json!({
            "observedGeneration": int(&sts, "/metadata/generation", 1),
            "replicas": pods.len(),
            "currentRevision": revision, "updateRevision": revision, "collisionCount": 0
        });
        set_count(&mut status, "readyReplicas", ready);
        set_count(&mut status, "availableReplicas", ready);
        set_count(&mut status, "currentReplicas", current);
        set_count(&mut status, "updatedReplicas", current);
        write_status(s, &key, &sts, status);
    }
}

fn daemonset_status(s: &mut State) {
    for (key, ds) in live_objects(s, "apps", "daemonsets") {
        let pods = children(s, "", "pods", &key.ns, &uid_of(&ds));
        let ready = pods.iter().filter(|(_, p)| pod_ready(p)).count() as i64;
        let mut status = json!({
            "observedGeneration": int(&ds, "/metadata/generation", 1),
            "currentNumberScheduled": pods.len(), "desiredNumberScheduled": 1, "numberMisscheduled": 0,
            "numberReady": ready
        });
        set_count(&mut status, "numberAvailable", ready);
        set_count(&mut status, "numberUnavailable", 1 - ready);
        set_count(&mut status, "updatedNumberScheduled", pods.len() as i64);
        write_status(s, &key, &ds, status);
    }
}

fn job_status(s: &mut State) {
    for (key, job) in live_objects(s, "batch", "jobs") {
        if job_finished(&job) {
            continue;
        }
        let pods = children(s, "", "pods", &key.ns, &uid_of(&job));
        if pods.is_empty() && job.get("status").is_some() {
            continue;
        }
        let count = |phase: &str| pods.iter().filter(|(_, p)| pod_phase(p) == phase).count() as i64;
        let succeeded = count("Succeeded");
        let mut failed = count("Failed");
        let running: Vec<&(Key, Value)> = pods
            .iter()
            .filter(|(_, p)| !matches!(pod_phase(p), "Succeeded" | "Failed"))
            .collect();
        let mut active = running.len() as i64;
        let ready = pods.iter().filter(|(_, p)| pod_ready(p)).count() as i64;
        let completions = int(&job, "/spec/completions", 1);
        let backoff_limit = int(&job, "/spec/backoffLimit", 6);
        // With OnFailure the kubelet restarts in place, and the restarts count.
        let on_failure = job
            .pointer("/spec/template/spec/restartPolicy")
            .and_then(Value::as_str)
            == Some("OnFailure");
        let restarts: i64 = running
            .iter()
            .flat_map(|(_, p)| {
                ["/status/initContainerStatuses", "/status/containerStatuses"]
                    .into_iter()
                    .filter_map(|ptr| p.pointer(ptr).and_then(Value::as_array))
                    .flatten()
            })
            .map(|c| int(c, "/restartCount", 0))
            .sum();
        let exceeded = if on_failure {
            restarts > 0 && restarts >= backoff_limit
        } else {
            failed > backoff_limit
        };
        let start = job
            .pointer("/status/startTime")
            .cloned()
            .unwrap_or(json!(now()));
        let mut status = json!({"startTime": start, "ready": ready, "terminating": 0, "uncountedTerminatedPods": {}});
        if succeeded >= completions
            && pods
                .iter()
                .all(|(_, p)| p.pointer("/status/phase").is_some())
            && succeeded > 0
        {
            status["completionTime"] = json!(now());
            status["conditions"] = merge_conditions(
                None,
                vec![
                    json!({"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": now()}),
                    json!({"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": now()}),
                ],
            );
        } else if exceeded {
            // The pods still running are killed and count as failed.
            for (k, _) in &running {
                s.delete_object(k, None);
            }
            failed += active;
            active = 0;
            status["ready"] = json!(0);
            let message = "Job has reached the specified backoff limit";
            status["conditions"] = merge_conditions(
                None,
                vec![
                    json!({"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": message, "lastProbeTime": now()}),
                    json!({"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": message, "lastProbeTime": now()}),
                ],
            );
            let involved = json!({"kind": "Job", "namespace": key.ns, "name": key.name,
                "uid": uid_of(&job), "apiVersion": "batch/v1"});
            record_event(
                s,
                involved,
                ("Warning", "BackoffLimitExceeded", message.to_string()),
                "job-controller",
            );
        }
        set_count(&mut status, "active", active);
        set_count(&mut status, "succeeded", succeeded);
        set_count(&mut status, "failed", failed);
        write_status(s, &key, &job, status);
    }
}
