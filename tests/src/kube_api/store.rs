//! The object store: objects as JSON keyed by (group, plural, namespace, name), the global
//! resourceVersion counter, the watch event log and its broadcast channel.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};

use super::resources::{self, ResourceDef};

/// (group, plural, namespace or "", name).
pub(crate) type Key = (String, String, String, String);

/// One change, as logged for watch replay.
#[derive(Debug)]
pub(crate) struct Change {
    pub rv: u64,
    pub res: &'static ResourceDef,
    pub namespace: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub object: Value,
    /// The previous state for `MODIFIED` (lets filtered watches turn it into ADDED/DELETED).
    pub old: Option<Value>,
}

/// Knobs the store needs.
#[derive(Clone, Debug)]
pub(crate) struct Timing {
    pub namespace_deletion_delay: Duration,
    pub pod_termination_delay: Duration,
}

/// The whole cluster state (behind one mutex).
pub(crate) struct Store {
    pub rv: u64,
    pub objects: BTreeMap<Key, Value>,
    pub log: VecDeque<Arc<Change>>,
    pub log_capacity: usize,
    /// Changes at or below this resourceVersion have been dropped from `log`.
    pub compacted_rv: u64,
    pub tx: broadcast::Sender<Arc<Change>>,
    pub wake: Arc<Notify>,
    rng: u64,
    pub timing: Timing,
    pub ca_pem: String,
    pub unpullable: Vec<String>,
    pub crashing: Vec<String>,
    /// (namespace, pod-name prefix, lines).
    pub pod_logs: Vec<(String, String, Vec<String>)>,
    /// Objects whose final removal is due at a given instant (terminating pods, namespaces).
    pub deadlines: BTreeMap<Key, Instant>,
    /// When the simulated kubelet first saw a pod (by uid).
    pub first_seen: HashMap<String, Instant>,
    next_ip: u32,
}

/// RFC 3339 "now", second precision, as Kubernetes writes `metav1.Time`.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The key of an object of resource `r`.
pub(crate) fn key(r: &ResourceDef, ns: &str, name: &str) -> Key {
    (
        r.group.to_string(),
        r.plural.to_string(),
        if r.namespaced {
            ns.to_string()
        } else {
            String::new()
        },
        name.to_string(),
    )
}

pub(crate) fn name_of(v: &Value) -> &str {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(crate) fn ns_of(v: &Value) -> &str {
    v.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(crate) fn uid_of(v: &Value) -> &str {
    v.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Sets `metadata.<k>` (creating `metadata` if needed).
pub(crate) fn set_meta(v: &mut Value, k: &str, val: Value) {
    if !v.get("metadata").is_some_and(Value::is_object) {
        v["metadata"] = json!({});
    }
    v["metadata"][k] = val;
}

/// Whether two objects differ outside `metadata` and `status` (generation bumps).
pub(crate) fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("metadata");
            o.remove("status");
            o.remove("apiVersion");
            o.remove("kind");
        }
        v
    };
    strip(old) != strip(new)
}

impl Store {
    pub fn new(timing: Timing, log_capacity: usize, ca_pem: String, wake: Arc<Notify>) -> Self {
        let (tx, _) = broadcast::channel(4096);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x1234_5678)
            ^ (std::process::id() as u64) << 32;
        Store {
            rv: 1000,
            objects: BTreeMap::new(),
            log: VecDeque::new(),
            log_capacity,
            compacted_rv: 1000,
            tx,
            wake,
            rng: seed | 1,
            timing,
            ca_pem,
            unpullable: Vec::new(),
            crashing: Vec::new(),
            pod_logs: Vec::new(),
            deadlines: BTreeMap::new(),
            first_seen: HashMap::new(),
            next_ip: 10,
        }
    }

    /// splitmix64.
    pub fn rand(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random UUID-shaped uid.
    pub fn uid(&mut self) -> String {
        let a = self.rand();
        let b = self.rand();
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }

    /// `n` characters from Kubernetes' safe alphabet (as in generated names).
    pub fn suffix(&mut self, n: usize) -> String {
        const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..n)
            .map(|_| ALPHA[(self.rand() % ALPHA.len() as u64) as usize] as char)
            .collect()
    }

    /// A fresh pod/service IP.
    pub fn ip(&mut self, prefix: &str) -> String {
        self.next_ip += 1;
        format!("{prefix}.{}.{}", self.next_ip / 250, self.next_ip % 250 + 2)
    }

    pub fn get(&self, r: &ResourceDef, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&key(r, ns, name))
    }

    /// Objects of one resource, optionally restricted to a namespace, in key order.
    pub fn list(&self, r: &ResourceDef, ns: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((g, p, n, _), _)| {
                g == r.group && p == r.plural && ns.is_none_or(|ns| !r.namespaced || n == ns)
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The namespace object, if any.
    pub fn namespace(&self, name: &str) -> Option<&Value> {
        resources::by_plural("", "namespaces").and_then(|r| self.get(r, "", name))
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        self.log.push_back(change.clone());
        while self.log.len() > self.log_capacity {
            if let Some(old) = self.log.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
        let _ = self.tx.send(change);
        self.wake.notify_one();
    }

    fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Stores a new object (metadata already complete except resourceVersion); emits ADDED.
    pub fn insert(&mut self, r: &'static ResourceDef, mut obj: Value) -> Value {
        let rv = self.bump();
        set_meta(&mut obj, "resourceVersion", json!(rv.to_string()));
        obj["apiVersion"] = json!(r.api_version());
        obj["kind"] = json!(r.kind);
        let ns = ns_of(&obj).to_string();
        let k = key(r, &ns, name_of(&obj));
        self.objects.insert(k, obj.clone());
        self.record(Change {
            rv,
            res: r,
            namespace: ns,
            kind: "ADDED",
            object: obj.clone(),
            old: None,
        });
        obj
    }

    /// Replaces an object; a no-op (returns `old`) when nothing changed. Bumps `generation` when
    /// anything outside metadata/status changed. Completes a pending deletion whose finalizers are
    /// gone.
    pub fn replace(&mut self, r: &'static ResourceDef, old: &Value, mut obj: Value) -> Value {
        obj["apiVersion"] = json!(r.api_version());
        obj["kind"] = json!(r.kind);
        set_meta(
            &mut obj,
            "resourceVersion",
            old.pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null),
        );
        if obj == *old {
            return obj;
        }
        if spec_changed(old, &obj) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            set_meta(&mut obj, "generation", json!(g + 1));
        }
        let rv = self.bump();
        set_meta(&mut obj, "resourceVersion", json!(rv.to_string()));
        let ns = ns_of(&obj).to_string();
        let k = key(r, &ns, name_of(&obj));
        self.objects.insert(k.clone(), obj.clone());
        self.record(Change {
            rv,
            res: r,
            namespace: ns.clone(),
            kind: "MODIFIED",
            object: obj.clone(),
            old: Some(old.clone()),
        });
        let deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
        let finalizers_empty = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if deleting
            && finalizers_empty
            && !self.deadlines.contains_key(&k)
            && r.plural != "namespaces"
        {
            self.remove(r, &ns, name_of(&obj).to_string().as_str());
        }
        obj
    }

    /// Removes an object now; emits DELETED (with a fresh resourceVersion).
    pub fn remove(&mut self, r: &'static ResourceDef, ns: &str, name: &str) -> Option<Value> {
        let k = key(r, ns, name);
        let mut obj = self.objects.remove(&k)?;
        self.deadlines.remove(&k);
        self.first_seen.remove(uid_of(&obj));
        let rv = self.bump();
        set_meta(&mut obj, "resourceVersion", json!(rv.to_string()));
        self.record(Change {
            rv,
            res: r,
            namespace: ns_of(&obj).to_string(),
            kind: "DELETED",
            object: obj.clone(),
            old: None,
        });
        Some(obj)
    }

    /// Every stored object whose ownerReferences name `uid`: (resource, namespace, name).
    pub fn dependents(&self, uid: &str) -> Vec<(&'static ResourceDef, String, String)> {
        self.objects
            .iter()
            .filter(|(_, v)| {
                v.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|o| o.get("uid").and_then(Value::as_str) == Some(uid))
                    })
            })
            .filter_map(|((g, p, n, name), _)| {
                resources::by_plural(g, p).map(|r| (r, n.clone(), name.clone()))
            })
            .collect()
    }
}
