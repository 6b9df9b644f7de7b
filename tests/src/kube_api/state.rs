//! The object store and the write operations (create, apply, update, patch, delete) with the
//! API server's semantics.

use super::errors::ApiError;
use super::fields::{self, Part};
use super::resources::{self, Res};
use super::validate;
use super::{Fault, RecordedRequest};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Manager name the simulated controllers write as.
pub const CONTROLLER: &str = "kube-controller-manager";

/// Events kept for watch replay; older resourceVersions answer 410 Expired.
const LOG_CAPACITY: usize = 50_000;

/// Store key: (group, plural, namespace or "", name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub group: String,
    pub plural: String,
    pub ns: String,
    pub name: String,
}

impl Key {
    pub fn new(res: &Res, ns: Option<&str>, name: &str) -> Key {
        Key {
            group: res.group.to_string(),
            plural: res.plural.to_string(),
            ns: if res.namespaced {
                ns.unwrap_or("").to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    pub fn res(&self) -> Option<&'static Res> {
        resources::RESOURCES
            .iter()
            .find(|r| r.group == self.group && r.plural == self.plural)
    }
}

/// One logged change.
#[derive(Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub group: String,
    pub plural: String,
    pub ns: String,
    /// "ADDED", "MODIFIED" or "DELETED".
    pub kind: &'static str,
    /// The previous state for MODIFIED.
    pub old: Option<Value>,
    pub new: Value,
}

/// Everything behind the fake's mutex.
pub(crate) struct State {
    pub objects: BTreeMap<Key, Value>,
    pub rv: u64,
    pub log: VecDeque<Arc<Event>>,
    /// Watches from a resourceVersion below this are expired.
    pub log_floor: u64,
    pub requests: Vec<RecordedRequest>,
    pub faults: Vec<Fault>,
    pub unpullable: Vec<String>,
    /// Custom log text per (namespace, pod-name prefix).
    pub pod_logs: Vec<(String, String, String)>,
    /// Images whose containers start, print and exit (the last matching entry wins).
    pub crashing: Vec<CrashingImage>,
    pub rng: u64,
    pub dirty: bool,
    /// Namespaces whose termination timer still has to be started.
    pub terminations: Vec<String>,
    /// Default grace period of pod deletions.
    pub pod_grace: std::time::Duration,
    /// Pods in graceful termination and when they go.
    pub graceful: Vec<(Key, std::time::Instant)>,
}

/// Containers whose image contains `image` print `lines` and exit with `exit_code`.
#[derive(Clone, Debug)]
pub(crate) struct CrashingImage {
    pub image: String,
    pub exit_code: i32,
    pub lines: Vec<String>,
}

/// Common parameters of a write.
#[derive(Clone, Debug, Default)]
pub(crate) struct WriteOpts {
    pub manager: String,
    pub force: bool,
    pub dry_run: bool,
    pub sub: Option<String>,
}

/// RFC 3339 now, second precision.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

pub(crate) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let root = match obj {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    };
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// Standard base64 (for Secret `stringData` and kubeconfig data).
pub(crate) fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Strips everything but the "spec-like" content, for generation comparisons.
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Value::Object(m) = &mut v {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

/// Compares ignoring resourceVersion and managedFields times.
fn same_content(a: &Value, b: &Value) -> bool {
    fn norm(v: &Value) -> Value {
        let mut v = v.clone();
        let meta = meta_mut(&mut v);
        meta.remove("resourceVersion");
        if let Some(Value::Array(list)) = meta.get_mut("managedFields") {
            for e in list {
                if let Value::Object(m) = e {
                    m.remove("time");
                }
            }
        }
        v
    }
    norm(a) == norm(b)
}

impl State {
    pub fn new() -> State {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        State {
            objects: BTreeMap::new(),
            rv: 1000,
            log: VecDeque::new(),
            log_floor: 0,
            requests: Vec::new(),
            faults: Vec::new(),
            unpullable: Vec::new(),
            pod_logs: Vec::new(),
            crashing: Vec::new(),
            rng: seed | 1,
            dirty: false,
            terminations: Vec::new(),
            pod_grace: std::time::Duration::ZERO,
            graceful: Vec::new(),
        }
    }

    /// The crash behaviour of `image`, unless the image cannot be pulled at all.
    pub fn crashing_image(&self, image: &str) -> Option<&CrashingImage> {
        if self.unpullable.iter().any(|u| image.contains(u.as_str())) {
            return None;
        }
        self.crashing
            .iter()
            .rev()
            .find(|c| image.contains(c.image.as_str()))
    }

    /// xorshift64*.
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn uid(&mut self) -> String {
        let a = self.next_random();
        let b = self.next_random();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// Five characters as in generated names.
    pub fn suffix(&mut self) -> String {
        const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..5)
            .map(|_| ALPHA[(self.next_random() % ALPHA.len() as u64) as usize] as char)
            .collect()
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    fn push_event(&mut self, event: Event) {
        self.log.push_back(Arc::new(event));
        while self.log.len() > LOG_CAPACITY {
            if let Some(old) = self.log.pop_front() {
                self.log_floor = old.rv;
            }
        }
        self.dirty = true;
    }

    /// Stores `obj` under `key` with a fresh resourceVersion and logs ADDED/MODIFIED.
    pub fn commit(&mut self, key: Key, mut obj: Value) -> Value {
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let old = self.objects.insert(key.clone(), obj.clone());
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        self.push_event(Event {
            rv: self.rv,
            group: key.group,
            plural: key.plural,
            ns: key.ns,
            kind,
            old,
            new: obj.clone(),
        });
        obj
    }

    /// Removes `key` and logs DELETED.
    pub fn remove(&mut self, key: &Key) -> Option<Value> {
        let mut obj = self.objects.remove(key)?;
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        self.push_event(Event {
            rv: self.rv,
            group: key.group.clone(),
            plural: key.plural.clone(),
            ns: key.ns.clone(),
            kind: "DELETED",
            old: None,
            new: obj.clone(),
        });
        Some(obj)
    }

    /// Objects of one resource (namespace None = all).
    pub fn list(&self, res: &Res, ns: Option<&str>) -> Vec<(Key, Value)> {
        self.objects
            .iter()
            .filter(|(k, _)| {
                k.group == res.group
                    && k.plural == res.plural
                    && (ns.is_none() || !res.namespaced || Some(k.ns.as_str()) == ns)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn namespace_key(ns: &str) -> Key {
        Key {
            group: String::new(),
            plural: "namespaces".into(),
            ns: String::new(),
            name: ns.to_string(),
        }
    }

    /// 404 when the namespace is missing, 403 when it is terminating.
    pub fn check_namespace(&self, res: &Res, ns: &str, name: &str) -> Result<(), ApiError> {
        match self.objects.get(&Self::namespace_key(ns)) {
            None => Err(ApiError::namespace_not_found(ns)),
            Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
                Err(ApiError::terminating(res, name, ns))
            }
            Some(_) => Ok(()),
        }
    }

    pub fn namespace_terminating(&self, ns: &str) -> bool {
        self.objects
            .get(&Self::namespace_key(ns))
            .is_none_or(|n| n.pointer("/metadata/deletionTimestamp").is_some())
    }

    /// Checks apiVersion/kind/name/namespace of a body against the URL.
    fn check_body(
        res: &Res,
        body: &mut Value,
        ns: Option<&str>,
        name: Option<&str>,
        require_type: bool,
    ) -> Result<(), ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        let expected = res.api_version();
        match body.get("apiVersion").and_then(Value::as_str) {
            Some(v) if v != expected => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({expected})"
                )));
            }
            None if require_type => {
                return Err(ApiError::bad_request(
                    "invalid object type: apiVersion and kind are required",
                ));
            }
            _ => {}
        }
        match body.get("kind").and_then(Value::as_str) {
            Some(k) if k != res.kind => {
                return Err(ApiError::bad_request(format!(
                    "{k} in version \"{}\" cannot be handled as a {}: the kind in the data does not match the URL",
                    res.version, res.kind
                )));
            }
            None if require_type => {
                return Err(ApiError::bad_request(
                    "invalid object type: apiVersion and kind are required",
                ));
            }
            _ => {}
        }
        body["apiVersion"] = json!(expected);
        body["kind"] = json!(res.kind);
        let meta = meta_mut(body);
        if let Some(url_name) = name {
            match meta.get("name").and_then(Value::as_str) {
                Some(n) if n != url_name => {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({n}) does not match the name on the URL ({url_name})"
                    )));
                }
                _ => {
                    meta.insert("name".into(), json!(url_name));
                }
            }
        }
        if res.namespaced {
            let url_ns = ns.unwrap_or("");
            match meta.get("namespace").and_then(Value::as_str) {
                Some(n) if n != url_ns && !n.is_empty() => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    meta.insert("namespace".into(), json!(url_ns));
                }
            }
        } else {
            meta.remove("namespace");
        }
        Ok(())
    }

    /// 422 Invalid when the object breaks a validation rule.
    fn validate(res: &Res, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
        let causes = validate::validate(res, obj, old);
        if causes.is_empty() {
            return Ok(());
        }
        let name = meta_str(obj, "name").unwrap_or("");
        Err(ApiError::invalid_causes(res, name, &causes))
    }

    /// API-server defaulting that happens on every write.
    fn defaults(&mut self, res: &Res, obj: &mut Value, old: Option<&Value>) {
        let n = self.next_random();
        let ip = format!("10.96.{}.{}", (n >> 8) % 256, (n % 253) + 1);
        validate::apply_defaults(res, obj, old, &mut || ip.clone());
    }

    /// POST.
    pub fn create(
        &mut self,
        res: &'static Res,
        ns: Option<&str>,
        mut body: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        Self::check_body(res, &mut body, ns, None, false)?;
        let meta = meta_mut(&mut body);
        let name = match meta.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => match meta.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => {
                    let prefix = prefix.to_string();
                    format!("{prefix}{}", self.suffix())
                }
                _ => {
                    return Err(ApiError::invalid(
                        res,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    ));
                }
            },
        };
        meta_mut(&mut body).insert("name".into(), json!(name));
        let key = Key::new(res, ns, &name);
        if res.namespaced {
            self.check_namespace(res, &key.ns, &name)?;
        }
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(res, &name));
        }
        if res.has_status()
            && let Value::Object(m) = &mut body
        {
            m.remove("status");
        }
        let mut obj = body;
        self.finish_new(res, &mut obj)?;
        fields::record_update(
            None,
            &mut obj,
            &opts.manager,
            None,
            &res.api_version(),
            &now(),
        );
        if opts.dry_run {
            return Ok(obj);
        }
        Ok(self.commit_new(res, key, obj))
    }

    /// Server-set metadata and defaults of a new object.
    fn finish_new(&mut self, res: &Res, obj: &mut Value) -> Result<(), ApiError> {
        let uid = self.uid();
        let generation = res.generation;
        let meta = meta_mut(obj);
        for k in [
            "resourceVersion",
            "deletionTimestamp",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(k);
        }
        meta.insert("uid".into(), json!(uid));
        meta.insert("creationTimestamp".into(), json!(now()));
        if generation {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        self.defaults(res, obj, None);
        Self::validate(res, obj, None)
    }

    /// Stores a new object; a namespace also gets its `default` ServiceAccount and
    /// `kube-root-ca.crt` ConfigMap.
    fn commit_new(&mut self, res: &Res, key: Key, obj: Value) -> Value {
        let stored = self.commit(key, obj);
        if res.group.is_empty() && res.plural == "namespaces" {
            let ns = meta_str(&stored, "name").unwrap_or("").to_string();
            self.seed_namespace_content(&ns);
        }
        stored
    }

    fn seed_namespace_content(&mut self, ns: &str) {
        let seeds = [
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": ns,
                "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIfake\n-----END CERTIFICATE-----\n"}}),
        ];
        for obj in seeds {
            let _ = self.create_internal(obj, CONTROLLER);
        }
    }

    /// Creates an object as a controller would (namespace rules apply).
    pub fn create_internal(&mut self, obj: Value, manager: &str) -> Result<Value, ApiError> {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let res = resources::by_kind(api_version, kind)
            .ok_or_else(|| ApiError::bad_request(format!("unknown kind {api_version} {kind}")))?;
        let ns = meta_str(&obj, "namespace").map(str::to_string);
        let opts = WriteOpts {
            manager: manager.to_string(),
            ..WriteOpts::default()
        };
        // Controllers may set status on create (pods etc. get theirs from the kubelet later).
        let status = obj.get("status").cloned();
        let created = self.create(res, ns.as_deref(), obj, &opts)?;
        match status {
            Some(status) if res.has_status() => {
                let key = Key::new(res, ns.as_deref(), meta_str(&created, "name").unwrap_or(""));
                let mut new = created.clone();
                new["status"] = status;
                Ok(self.update_internal(&key, new, manager, Some("status")))
            }
            _ => Ok(created),
        }
    }

    /// Writes `new` over `key` as `manager` (no checks); returns the stored object.
    pub fn update_internal(
        &mut self,
        key: &Key,
        new: Value,
        manager: &str,
        sub: Option<&str>,
    ) -> Value {
        let Some(live) = self.objects.get(key).cloned() else {
            return new;
        };
        let Some(res) = key.res() else { return new };
        self.finish_update(res, key, &live, new, manager, sub, false)
            .unwrap_or(live)
    }

    /// Generation, managed fields, finalizer handling and commit of an update.
    #[allow(clippy::too_many_arguments)]
    fn finish_update(
        &mut self,
        res: &Res,
        key: &Key,
        live: &Value,
        mut new: Value,
        manager: &str,
        sub: Option<&str>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        // immutable metadata
        for k in [
            "uid",
            "creationTimestamp",
            "name",
            "namespace",
            "deletionTimestamp",
            "generation",
        ] {
            match live.get("metadata").and_then(|m| m.get(k)) {
                Some(v) => {
                    meta_mut(&mut new).insert(k.into(), v.clone());
                }
                None => {
                    meta_mut(&mut new).remove(k);
                }
            }
        }
        new["apiVersion"] = json!(res.api_version());
        new["kind"] = json!(res.kind);
        self.defaults(res, &mut new, Some(live));
        Self::validate(res, &new, Some(live))?;
        if res.generation && spec_part(&new) != spec_part(live) {
            let g = live
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        fields::record_update(
            Some(live),
            &mut new,
            manager,
            sub,
            &res.api_version(),
            &now(),
        );
        if same_content(&new, live) {
            return Ok(live.clone());
        }
        if dry_run {
            return Ok(new);
        }
        Ok(self.commit_checked(key, new))
    }

    /// Commits, or removes when a deleting object has no finalizers left.
    fn commit_checked(&mut self, key: &Key, new: Value) -> Value {
        let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
        let finalizers = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let graceful = self.graceful.iter().any(|(k, _)| k == key);
        if deleting && !finalizers && !graceful && key.plural != "namespaces" {
            self.commit(key.clone(), new);
            return self.remove(key).unwrap_or_default();
        }
        self.commit(key.clone(), new)
    }

    fn part_for(res: &Res, sub: Option<&str>) -> Part {
        match sub {
            Some("status") => Part::StatusOnly,
            _ if res.has_status() => Part::NoStatus,
            _ => Part::All,
        }
    }

    /// Server-side apply. Returns the object and whether it was created.
    pub fn apply(
        &mut self,
        res: &'static Res,
        ns: Option<&str>,
        name: &str,
        mut body: Value,
        opts: &WriteOpts,
    ) -> Result<(Value, bool), ApiError> {
        if opts.manager.is_empty() {
            return Err(ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        Self::check_body(res, &mut body, ns, Some(name), true)?;
        let key = Key::new(res, ns, name);
        let sub = opts.sub.as_deref();
        let part = Self::part_for(res, sub);
        let api_version = res.api_version();
        let conflict_err = |conflicts: Vec<fields::Conflict>, live: Option<&Value>| {
            let who = |m: &str| {
                let op = live
                    .map(fields::read_entries)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|e| e.manager == m);
                match op {
                    Some(e) if e.operation == "Update" => {
                        format!("conflict with \"{m}\" using {}", e.api_version)
                    }
                    _ => format!("conflict with \"{m}\""),
                }
            };
            let message = if conflicts.len() == 1 {
                format!(
                    "Apply failed with 1 conflict: {}: {}",
                    who(&conflicts[0].manager),
                    fields::display_path(&conflicts[0].path)
                )
            } else {
                let mut m = format!("Apply failed with {} conflicts:", conflicts.len());
                for c in &conflicts {
                    m.push_str(&format!(
                        " {}: {}",
                        who(&c.manager),
                        fields::display_path(&c.path)
                    ));
                }
                m
            };
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": who(&c.manager), "field": fields::display_path(&c.path)}))
                .collect();
            let mut e = ApiError::new(409, "Conflict", message);
            let mut d = json!({"name": name, "kind": res.plural, "causes": causes});
            if !res.group.is_empty() {
                d["group"] = json!(res.group);
            }
            e.details = Some(d);
            e
        };
        match self.objects.get(&key).cloned() {
            None => {
                if sub.is_some() {
                    return Err(ApiError::not_found(res, name));
                }
                if res.namespaced {
                    self.check_namespace(res, &key.ns, name)?;
                }
                let mut obj = json!({"apiVersion": api_version, "kind": res.kind, "metadata": {"name": name}});
                if res.namespaced {
                    obj["metadata"]["namespace"] = json!(key.ns);
                }
                fields::apply(
                    &mut obj,
                    &body,
                    part,
                    &opts.manager,
                    opts.force,
                    &api_version,
                    &now(),
                )
                .map_err(|c| conflict_err(c, None))?;
                let entries = fields::read_entries(&obj);
                self.finish_new(res, &mut obj)?;
                fields::write_entries(&mut obj, entries);
                if opts.dry_run {
                    return Ok((obj, true));
                }
                Ok((self.commit_new(res, key, obj), true))
            }
            Some(live) => {
                Self::check_rv(res, name, &body, &live)?;
                let mut obj = live.clone();
                fields::apply(
                    &mut obj,
                    &body,
                    part,
                    &opts.manager,
                    opts.force,
                    &api_version,
                    &now(),
                )
                .map_err(|c| conflict_err(c, Some(&live)))?;
                let entries = fields::read_entries(&obj);
                self.defaults(res, &mut obj, Some(&live));
                Self::validate(res, &obj, Some(&live))?;
                if res.generation && spec_part(&obj) != spec_part(&live) {
                    let g = live
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    meta_mut(&mut obj).insert("generation".into(), json!(g + 1));
                }
                fields::write_entries(&mut obj, entries);
                if same_content(&obj, &live) {
                    return Ok((live, false));
                }
                if opts.dry_run {
                    return Ok((obj, false));
                }
                Ok((self.commit_checked(&key, obj), false))
            }
        }
    }

    /// PUT (replace).
    pub fn replace(
        &mut self,
        res: &'static Res,
        ns: Option<&str>,
        name: &str,
        mut body: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        Self::check_body(res, &mut body, ns, Some(name), false)?;
        let key = Key::new(res, ns, name);
        let live = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))?;
        Self::check_rv(res, name, &body, &live)?;
        let sub = opts.sub.as_deref();
        let new = self.restrict(res, sub, &live, body);
        self.finish_update(res, &key, &live, new, &opts.manager, sub, opts.dry_run)
    }

    fn check_rv(res: &Res, name: &str, body: &Value, live: &Value) -> Result<(), ApiError> {
        if let Some(rv) = meta_str(body, "resourceVersion")
            && !rv.is_empty()
            && Some(rv) != meta_str(live, "resourceVersion")
        {
            return Err(ApiError::stale(res, name));
        }
        Ok(())
    }

    /// Keeps only what the endpoint may change, and the live managedFields.
    fn restrict(&self, res: &Res, sub: Option<&str>, live: &Value, mut new: Value) -> Value {
        match sub {
            Some("status") => {
                let mut out = live.clone();
                match new.get("status") {
                    Some(s) => out["status"] = s.clone(),
                    None => {
                        if let Value::Object(m) = &mut out {
                            m.remove("status");
                        }
                    }
                }
                out
            }
            _ => {
                if res.has_status()
                    && let Value::Object(m) = &mut new
                {
                    match live.get("status") {
                        Some(s) => {
                            m.insert("status".into(), s.clone());
                        }
                        None => {
                            m.remove("status");
                        }
                    }
                }
                match live.pointer("/metadata/managedFields") {
                    Some(mf) => {
                        meta_mut(&mut new).insert("managedFields".into(), mf.clone());
                    }
                    None => {
                        meta_mut(&mut new).remove("managedFields");
                    }
                }
                new
            }
        }
    }

    /// PATCH with a merge, strategic-merge or JSON patch.
    pub fn patch(
        &mut self,
        res: &'static Res,
        ns: Option<&str>,
        name: &str,
        patch: &Value,
        json_patch: bool,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let key = Key::new(res, ns, name);
        let live = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))?;
        let mut patched = live.clone();
        if json_patch {
            fields::json_patch(&mut patched, patch).map_err(|e| {
                ApiError::new(422, "Invalid", format!("the JSON patch failed: {e}"))
            })?;
        } else {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            Self::check_rv(res, name, patch, &live)?;
            fields::merge_patch(&mut patched, patch);
        }
        let mut check = patched.clone();
        Self::check_body(res, &mut check, ns, Some(name), false)?;
        let sub = opts.sub.as_deref();
        let new = self.restrict(res, sub, &live, patched);
        self.finish_update(res, &key, &live, new, &opts.manager, sub, opts.dry_run)
    }

    /// Default propagation: Jobs orphan (batch/v1 legacy), everything else Background.
    pub fn default_propagation(res: &Res) -> &'static str {
        if res.group == "batch" && res.plural == "jobs" {
            "Orphan"
        } else {
            "Background"
        }
    }

    /// DELETE of one object.
    pub fn delete(
        &mut self,
        res: &'static Res,
        ns: Option<&str>,
        name: &str,
        propagation: Option<&str>,
        grace: Option<std::time::Duration>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let key = Key::new(res, ns, name);
        let live = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))?;
        if dry_run {
            return Ok(live);
        }
        if res.group.is_empty() && res.plural == "namespaces" {
            if live.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(live);
            }
            let mut new = live.clone();
            meta_mut(&mut new).insert("deletionTimestamp".into(), json!(now()));
            meta_mut(&mut new).insert("deletionGracePeriodSeconds".into(), json!(0));
            new["status"] = json!({"phase": "Terminating"});
            let stored = self.commit(key, new);
            self.terminations.push(name.to_string());
            return Ok(stored);
        }
        let has_finalizers = live
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if live.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(live);
            }
            let mut new = live.clone();
            meta_mut(&mut new).insert("deletionTimestamp".into(), json!(now()));
            meta_mut(&mut new).insert("deletionGracePeriodSeconds".into(), json!(0));
            return Ok(self.commit(key, new));
        }
        let policy = propagation.unwrap_or(Self::default_propagation(res));
        if policy == "Orphan" {
            let removed = self.remove(&key).unwrap_or(live);
            if let Some(uid) = meta_str(&removed, "uid") {
                let uid = uid.to_string();
                self.cascade(&uid, true);
            }
            return Ok(removed);
        }
        Ok(self.delete_object(&key, grace).unwrap_or(live))
    }

    /// Deletes like the API and garbage collector do: a pod with a grace period gets a
    /// deletionTimestamp and goes later; anything else goes now, its dependents with it.
    pub fn delete_object(
        &mut self,
        key: &Key,
        grace: Option<std::time::Duration>,
    ) -> Option<Value> {
        let is_pod = key.group.is_empty() && key.plural == "pods";
        let grace = if is_pod {
            grace.unwrap_or(self.pod_grace)
        } else {
            std::time::Duration::ZERO
        };
        if !grace.is_zero() {
            let live = self.objects.get(key)?.clone();
            if live.pointer("/metadata/deletionTimestamp").is_some() {
                return Some(live);
            }
            let mut new = live;
            let at = chrono::Utc::now()
                + chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::zero());
            let meta = meta_mut(&mut new);
            meta.insert(
                "deletionTimestamp".into(),
                json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            );
            meta.insert(
                "deletionGracePeriodSeconds".into(),
                json!(grace.as_secs_f64().ceil() as u64),
            );
            self.graceful
                .push((key.clone(), std::time::Instant::now() + grace));
            return Some(self.commit(key.clone(), new));
        }
        self.graceful.retain(|(k, _)| k != key);
        let removed = self.remove(key)?;
        if let Some(uid) = meta_str(&removed, "uid") {
            let uid = uid.to_string();
            self.cascade(&uid, false);
        }
        Some(removed)
    }

    /// Removes pods whose grace period has passed.
    pub fn reap(&mut self) {
        let now = std::time::Instant::now();
        let due: Vec<Key> = self
            .graceful
            .iter()
            .filter(|(_, t)| *t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        self.graceful.retain(|(_, t)| *t > now);
        for k in due {
            self.remove(&k);
        }
    }

    /// When the next graceful deletion is due.
    pub fn next_due(&self) -> Option<std::time::Instant> {
        self.graceful.iter().map(|(_, t)| *t).min()
    }

    /// Deletes (or orphans) the dependents of the object with `uid`, recursively.
    pub fn cascade(&mut self, uid: &str, orphan: bool) {
        let dependents: Vec<Key> = self
            .objects
            .iter()
            .filter(|(_, v)| {
                v.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                    })
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in dependents {
            if orphan {
                if let Some(mut obj) = self.objects.get(&key).cloned() {
                    let meta = meta_mut(&mut obj);
                    if let Some(Value::Array(refs)) = meta.get_mut("ownerReferences") {
                        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                        if refs.is_empty() {
                            meta.remove("ownerReferences");
                        }
                    }
                    self.update_internal(&key, obj, CONTROLLER, None);
                }
            } else {
                self.delete_object(&key, None);
            }
        }
    }

    /// Final removal of a terminating namespace and everything in it.
    pub fn finish_namespace(&mut self, ns: &str) {
        let keys: Vec<Key> = self
            .objects
            .keys()
            .filter(|k| k.ns == ns)
            .cloned()
            .collect();
        self.graceful.retain(|(k, _)| k.ns != ns);
        for k in keys {
            self.remove(&k);
        }
        self.remove(&Self::namespace_key(ns));
    }
}

impl State {
    /// Stores `value` as given, filling uid/creationTimestamp/generation when missing.
    pub fn put_raw(&mut self, mut value: Value) -> Option<Value> {
        let api_version = value.get("apiVersion")?.as_str()?.to_string();
        let kind = value.get("kind")?.as_str()?.to_string();
        let res = resources::by_kind(&api_version, &kind)?;
        let name = meta_str(&value, "name")?.to_string();
        let ns = meta_str(&value, "namespace").map(str::to_string);
        let uid = self.uid();
        let meta = meta_mut(&mut value);
        meta.entry("uid").or_insert_with(|| json!(uid));
        meta.entry("creationTimestamp")
            .or_insert_with(|| json!(now()));
        if res.generation {
            meta.entry("generation").or_insert_with(|| json!(1));
        }
        let key = Key::new(res, ns.as_deref(), &name);
        if self.objects.contains_key(&key) {
            Some(self.commit(key, value))
        } else {
            Some(self.commit_new(res, key, value))
        }
    }
}
