//! Write operations with API-server semantics: create, replace, patch (merge, strategic, JSON),
//! server-side apply, delete (with garbage collection) and namespace termination.

use std::time::Instant;

use serde_json::{Value, json};

use super::fields::{self, FieldSet, Manager};
use super::resources::{self, ResourceDef};
use super::status::{self, ApiError};
use super::store::{self, Store, name_of, set_meta, uid_of};
use super::validate;

/// `fieldValidation` query parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum FieldValidation {
    Strict,
    Warn,
    Ignore,
    /// Not given: apply treats unknown fields as errors, other writes warn.
    Default,
}

/// Per-request write options.
#[derive(Clone, Debug)]
pub(crate) struct WriteCtx {
    pub manager: String,
    pub dry_run: bool,
    pub force: bool,
    pub validation: FieldValidation,
    /// Filled with `Warning` header texts.
    pub warnings: Vec<String>,
}

/// Protected namespaces that may not be deleted.
const PROTECTED: &[&str] = &["default", "kube-system", "kube-public"];

fn ns_res() -> Result<&'static ResourceDef, ApiError> {
    resources::by_plural("", "namespaces")
        .ok_or_else(|| ApiError::new(500, "InternalError", "namespaces not registered"))
}

/// 404 when the namespace is missing, 403 when it is Terminating.
pub(crate) fn check_namespace(
    store: &Store,
    r: &ResourceDef,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    if !r.namespaced {
        return Ok(());
    }
    let nsr = ns_res()?;
    match store.namespace(ns) {
        None => Err(ApiError::not_found(nsr, ns)),
        Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
            Err(ApiError::namespace_terminating(r, name, ns))
        }
        Some(_) => Ok(()),
    }
}

fn check_type(r: &ResourceDef, body: &Value) -> Result<(), ApiError> {
    if let Some(av) = body.get("apiVersion").and_then(Value::as_str) {
        if av != r.api_version() {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                r.api_version()
            )));
        }
    }
    if let Some(kind) = body.get("kind").and_then(Value::as_str) {
        if kind != r.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                r.kind
            )));
        }
    }
    Ok(())
}

fn check_namespace_field(r: &ResourceDef, body: &Value, ns: &str) -> Result<(), ApiError> {
    if !r.namespaced {
        return Ok(());
    }
    match body.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && n != ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(()),
    }
}

/// Unknown-field check via a typed round trip. `apply` selects the SSA wording and default.
fn check_unknown(
    r: &ResourceDef,
    body: &Value,
    ctx: &mut WriteCtx,
    apply: bool,
) -> Result<(), ApiError> {
    if ctx.validation == FieldValidation::Ignore {
        return Ok(());
    }
    let mut probe = body.clone();
    probe["apiVersion"] = json!(r.api_version());
    probe["kind"] = json!(r.kind);
    let Some(typed) = (r.round_trip)(&probe) else {
        return Ok(());
    };
    let unknown = fields::unknown_fields(&probe, &typed);
    if unknown.is_empty() {
        return Ok(());
    }
    let strict = ctx.validation == FieldValidation::Strict
        || (apply && ctx.validation == FieldValidation::Default);
    if strict {
        let msg = if apply {
            format!(
                "failed to create typed patch object ({}, Kind={}): .{}: field not declared in schema",
                if r.group.is_empty() {
                    format!("/{}", r.version)
                } else {
                    r.api_version()
                },
                r.kind,
                unknown[0]
            )
        } else {
            let list: Vec<String> = unknown
                .iter()
                .map(|u| format!("unknown field {u:?}"))
                .collect();
            format!(
                "{} in version {:?} cannot be handled as a {}: strict decoding error: {}",
                r.kind,
                r.version,
                r.kind,
                list.join(", ")
            )
        };
        return Err(ApiError::bad_request(msg));
    }
    ctx.warnings
        .extend(unknown.iter().map(|u| format!("unknown field {u:?}")));
    Ok(())
}

/// Validates, defaults and stores a new or changed object. `old` is None for a create.
fn commit(
    store: &mut Store,
    r: &'static ResourceDef,
    old: Option<&Value>,
    mut new: Value,
    ctx: &WriteCtx,
) -> Result<Value, ApiError> {
    validate::apply_defaults(r, &mut new, old, store);
    let causes = validate::validate(r, &new, old);
    if !causes.is_empty() {
        return Err(ApiError::invalid(r, name_of(&new), &causes));
    }
    new["apiVersion"] = json!(r.api_version());
    new["kind"] = json!(r.kind);
    if ctx.dry_run {
        return Ok(new);
    }
    Ok(match old {
        None => {
            let created = store.insert(r, new);
            after_create(store, r, &created);
            created
        }
        Some(old) => store.replace(r, old, new),
    })
}

/// Side effects of creation: a namespace gets its `default` ServiceAccount and `kube-root-ca.crt`.
fn after_create(store: &mut Store, r: &'static ResourceDef, obj: &Value) {
    if r.plural != "namespaces" {
        return;
    }
    let ns = name_of(obj).to_string();
    let now = store::now();
    let ca = store.ca_pem.clone();
    if let Some(sa) = resources::by_plural("", "serviceaccounts") {
        let mut v = json!({"metadata": {"name": "default", "namespace": ns}});
        system_create(store, sa, &mut v, "kube-controller-manager", &now);
    }
    if let Some(cm) = resources::by_plural("", "configmaps") {
        let mut v = json!({
            "metadata": {
                "name": "kube-root-ca.crt",
                "namespace": ns,
                "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}
            },
            "data": {"ca.crt": ca}
        });
        system_create(store, cm, &mut v, "kube-controller-manager", &now);
    }
}

/// Creates an object on behalf of a cluster component (no validation, Update-manager `manager`).
pub(crate) fn system_create(
    store: &mut Store,
    r: &'static ResourceDef,
    v: &mut Value,
    manager: &str,
    now: &str,
) -> Option<Value> {
    let ns = store::ns_of(v).to_string();
    if store.get(r, &ns, name_of(v)).is_some() {
        return None;
    }
    let uid = store.uid();
    set_meta(v, "uid", json!(uid));
    set_meta(v, "creationTimestamp", json!(now));
    set_meta(v, "generation", json!(1));
    if !r.namespaced {
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("namespace");
        }
    }
    validate::apply_defaults(r, v, None, store);
    fields::record_update(
        None,
        v,
        manager,
        &r.api_version(),
        None,
        r.has_status(),
        now,
    );
    let created = store.insert(r, v.clone());
    after_create(store, r, &created);
    Some(created)
}

/// Writes a new state of an existing object on behalf of a cluster component.
pub(crate) fn system_update(
    store: &mut Store,
    r: &'static ResourceDef,
    old: &Value,
    mut new: Value,
    manager: &str,
    sub: Option<&str>,
) -> Value {
    let now = store::now();
    validate::apply_defaults(r, &mut new, Some(old), store);
    fields::record_update(
        Some(old),
        &mut new,
        manager,
        &r.api_version(),
        sub,
        r.has_status(),
        &now,
    );
    store.replace(r, old, new)
}

/// Fills the server-owned metadata of a new object (uid, timestamps, generated name).
fn init_metadata(
    store: &mut Store,
    r: &ResourceDef,
    obj: &mut Value,
    ns: &str,
) -> Result<(), ApiError> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        if let Some(prefix) = obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
        {
            let generated = format!("{prefix}{}", store.suffix(5));
            set_meta(obj, "name", json!(generated));
        }
    }
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            m.remove(k);
        }
        if r.namespaced {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
    }
    let uid = store.uid();
    set_meta(obj, "uid", json!(uid));
    set_meta(obj, "creationTimestamp", json!(store::now()));
    set_meta(obj, "generation", json!(1));
    Ok(())
}

/// POST: create.
pub(crate) fn create(
    store: &mut Store,
    r: &'static ResourceDef,
    ns: &str,
    mut body: Value,
    ctx: &mut WriteCtx,
) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    check_type(r, &body)?;
    check_namespace_field(r, &body, ns)?;
    check_unknown(r, &body, ctx, false)?;
    fields::strip_nulls(&mut body);
    init_metadata(store, r, &mut body, ns)?;
    let name = name_of(&body).to_string();
    if !name.is_empty() {
        if let Some(existing) = store.get(r, ns, &name) {
            return Err(
                if existing.pointer("/metadata/deletionTimestamp").is_some() {
                    ApiError::being_deleted(r, &name)
                } else {
                    ApiError::already_exists(r, &name)
                },
            );
        }
    }
    check_namespace(store, r, ns, &name)?;
    if r.has_status() {
        if let Some(o) = body.as_object_mut() {
            o.remove("status");
        }
    }
    let now = store::now();
    fields::record_update(
        None,
        &mut body,
        &ctx.manager,
        &r.api_version(),
        None,
        r.has_status(),
        &now,
    );
    commit(store, r, None, body, ctx)
}

/// Copies the server-owned metadata of `current` into `new`.
fn keep_system_metadata(current: &Value, new: &mut Value) {
    for k in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "resourceVersion",
    ] {
        match current.pointer(&format!("/metadata/{k}")) {
            Some(v) => set_meta(new, k, v.clone()),
            None => {
                if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove(k);
                }
            }
        }
    }
}

/// Restricts a write to what the endpoint may change: `/status` changes status only; the main
/// resource leaves status alone (for kinds with a status subresource).
fn scope_to_subresource(r: &ResourceDef, current: &Value, new: &mut Value, sub: Option<&str>) {
    match sub {
        Some("status") => {
            let status = new.get("status").cloned();
            *new = current.clone();
            match status {
                Some(s) => new["status"] = s,
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        }
        _ if r.has_status() => match current.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        },
        _ => {}
    }
}

fn check_rv(r: &ResourceDef, current: &Value, body: &Value) -> Result<(), ApiError> {
    if let Some(want) = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        let have = current
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !want.is_empty() && want != have {
            return Err(ApiError::stale(r, name_of(current)));
        }
    }
    Ok(())
}

/// PUT: replace (with optimistic concurrency when the body carries a resourceVersion).
pub(crate) fn replace(
    store: &mut Store,
    r: &'static ResourceDef,
    ns: &str,
    name: &str,
    mut body: Value,
    sub: Option<&str>,
    ctx: &mut WriteCtx,
) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    if sub == Some("scale") {
        return write_scale(store, r, ns, name, &body, ctx);
    }
    check_type(r, &body)?;
    check_namespace_field(r, &body, ns)?;
    let body_name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let current = store
        .get(r, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(r, name))?;
    check_rv(r, &current, &body)?;
    check_unknown(r, &body, ctx, false)?;
    fields::strip_nulls(&mut body);
    keep_system_metadata(&current, &mut body);
    scope_to_subresource(r, &current, &mut body, sub);
    let now = store::now();
    fields::record_update(
        Some(&current),
        &mut body,
        &ctx.manager,
        &r.api_version(),
        sub,
        r.has_status(),
        &now,
    );
    commit(store, r, Some(&current), body, ctx)
}

/// The patch flavours (by Content-Type).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum PatchType {
    Merge,
    Strategic,
    Json,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// Parses a body as JSON, or (for apply) YAML.
pub(crate) fn parse_body(bytes: &[u8], yaml_ok: bool) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(v),
        Err(e) if yaml_ok => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
            serde_saphyr::from_str::<Value>(text).map_err(|ye| {
                ApiError::bad_request(format!("error decoding YAML: {ye} (as JSON: {e})"))
            })
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "couldn't get version/kind; json parse error: {e}"
        ))),
    }
}

/// PATCH: merge, strategic-merge (treated as merge), JSON patch or server-side apply.
/// Returns the HTTP status (201 when an apply created the object) and the object.
#[allow(clippy::too_many_arguments)]
pub(crate) fn patch(
    store: &mut Store,
    r: &'static ResourceDef,
    ns: &str,
    name: &str,
    pt: PatchType,
    bytes: &[u8],
    sub: Option<&str>,
    ctx: &mut WriteCtx,
) -> Result<(u16, Value), ApiError> {
    if pt == PatchType::Apply {
        let body = parse_body(bytes, true)?;
        return apply(store, r, ns, name, body, sub, ctx);
    }
    if sub == Some("scale") {
        let current = scale_of(
            r,
            store
                .get(r, ns, name)
                .ok_or_else(|| ApiError::not_found(r, name))?,
        );
        let patched = patch_value(&current, pt, bytes)?;
        return write_scale(store, r, ns, name, &patched, ctx).map(|v| (200, v));
    }
    let current = store
        .get(r, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(r, name))?;
    let mut new = patch_value(&current, pt, bytes)?;
    if pt != PatchType::Json {
        let p = parse_body(bytes, false)?;
        check_rv(r, &current, &p)?;
        check_unknown(r, &p, ctx, false)?;
    } else {
        check_rv(r, &current, &new)?;
    }
    fields::strip_nulls(&mut new);
    keep_system_metadata(&current, &mut new);
    scope_to_subresource(r, &current, &mut new, sub);
    let now = store::now();
    fields::record_update(
        Some(&current),
        &mut new,
        &ctx.manager,
        &r.api_version(),
        sub,
        r.has_status(),
        &now,
    );
    commit(store, r, Some(&current), new, ctx).map(|v| (200, v))
}

fn patch_value(current: &Value, pt: PatchType, bytes: &[u8]) -> Result<Value, ApiError> {
    let mut new = current.clone();
    match pt {
        PatchType::Merge | PatchType::Strategic => {
            let p = parse_body(bytes, false)?;
            if !p.is_object() {
                return Err(ApiError::bad_request("the patch must be a JSON object"));
            }
            fields::merge_patch(&mut new, &p);
        }
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_slice(bytes)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut new, &p).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        PatchType::Apply => {}
    }
    Ok(new)
}

/// Server-side apply with per-manager field ownership and conflict detection.
pub(crate) fn apply(
    store: &mut Store,
    r: &'static ResourceDef,
    ns: &str,
    name: &str,
    mut applied: Value,
    sub: Option<&str>,
    ctx: &mut WriteCtx,
) -> Result<(u16, Value), ApiError> {
    if ctx.manager.is_empty() {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml requests must have a fieldManager query parameter",
        ));
    }
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "the applied configuration must be an object",
        ));
    }
    if sub == Some("scale") {
        return write_scale(store, r, ns, name, &applied, ctx).map(|v| (200, v));
    }
    let av = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = applied
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if av.is_empty() || kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            serde_json::to_string(&applied).unwrap_or_default()
        )));
    }
    check_type(r, &applied)?;
    check_namespace_field(r, &applied, ns)?;
    let body_name = applied
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    check_unknown(r, &applied, ctx, true)?;

    // What this apply talks about: status only on /status, no status on the main resource.
    let has_status = r.has_status();
    if has_status || sub == Some("status") {
        if let Some(o) = applied.as_object_mut() {
            if sub == Some("status") {
                o.retain(|k, _| {
                    matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")
                });
            } else {
                o.remove("status");
            }
        }
    }
    let rv_precondition = applied
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut ownable_src = applied.clone();
    if sub == Some("status") {
        if let Some(m) = ownable_src
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
        {
            m.clear();
        }
    }
    let new_paths: FieldSet = fields::leaf_paths(&ownable_src)
        .into_iter()
        .filter(|p| fields::ownable(p, sub, has_status))
        .collect();
    let now = store::now();

    let Some(current) = store.get(r, ns, name).cloned() else {
        if sub.is_some() {
            return Err(ApiError::not_found(r, name));
        }
        if rv_precondition.is_some() {
            return Err(ApiError::not_found(r, name));
        }
        check_namespace(store, r, ns, name)?;
        let mut obj = applied;
        fields::strip_nulls(&mut obj);
        init_metadata(store, r, &mut obj, ns)?;
        set_meta(&mut obj, "name", json!(name));
        let manager = Manager {
            manager: ctx.manager.clone(),
            operation: "Apply".into(),
            api_version: r.api_version(),
            time: now,
            subresource: None,
            fields: new_paths,
        };
        fields::write_managers(&mut obj, &[manager]);
        return commit(store, r, None, obj, ctx).map(|v| (201, v));
    };
    if let Some(want) = &rv_precondition {
        if current
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            != Some(want)
        {
            return Err(ApiError::stale(r, name));
        }
    }

    let mut managers = fields::read_managers(&current);
    let me = |m: &Manager| m.same_identity(&ctx.manager, "Apply", sub);

    // Conflicts: a field this apply sets to a different value that someone else owns.
    let mut conflicts: Vec<(usize, Vec<String>)> = Vec::new();
    for p in &new_paths {
        let have = fields::get(&current, p);
        if have.is_none() || have == fields::get(&applied, p) {
            continue;
        }
        for (i, m) in managers.iter().enumerate() {
            if me(m) {
                continue;
            }
            for owned in &m.fields {
                if fields::overlaps(owned, p) {
                    let shown = if owned.len() >= p.len() {
                        owned.clone()
                    } else {
                        p.clone()
                    };
                    if !conflicts.iter().any(|(j, q)| *j == i && *q == shown) {
                        conflicts.push((i, shown));
                    }
                }
            }
        }
    }
    if !conflicts.is_empty() {
        if !ctx.force {
            return Err(conflict_error(&managers, &conflicts, r, name));
        }
        for (i, path) in &conflicts {
            if let Some(m) = managers.get_mut(*i) {
                m.fields.retain(|f| !fields::overlaps(f, path));
            }
        }
    }

    let old_paths: FieldSet = managers
        .iter()
        .find(|m| me(m))
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    let mut obj = current.clone();
    for p in old_paths.difference(&new_paths) {
        let owned_elsewhere = managers.iter().any(|m| {
            !me(m)
                && m.fields
                    .iter()
                    .any(|f| fields::overlaps(f, p) && f.len() <= p.len())
        });
        if !owned_elsewhere {
            fields::remove(&mut obj, p);
        }
    }
    let mut patch = applied.clone();
    if sub == Some("status") {
        if let Some(o) = patch.as_object_mut() {
            o.remove("metadata");
        }
    }
    if let Some(m) = patch.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "name",
            "namespace",
            "resourceVersion",
            "uid",
            "managedFields",
            "creationTimestamp",
            "generation",
        ] {
            m.remove(k);
        }
    }
    merge_applied(&mut obj, &patch);
    fields::strip_nulls(&mut obj);

    match managers.iter_mut().find(|m| me(m)) {
        Some(m) => {
            if m.fields != new_paths {
                m.fields = new_paths;
                m.time = now.clone();
            }
            m.api_version = r.api_version();
        }
        None => managers.push(Manager {
            manager: ctx.manager.clone(),
            operation: "Apply".into(),
            api_version: r.api_version(),
            time: now.clone(),
            subresource: sub.map(str::to_string),
            fields: new_paths,
        }),
    }
    // Fields removed from the object are owned by nobody.
    let present = fields::leaf_paths(&obj);
    for m in managers.iter_mut() {
        m.fields.retain(|f| present.contains(f));
    }
    fields::write_managers(&mut obj, &managers);
    commit(store, r, Some(&current), obj, ctx).map(|v| (200, v))
}

/// Deep-merges an applied configuration: maps merge key by key, anything else replaces.
fn merge_applied(target: &mut Value, applied: &Value) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) => {
            for (k, v) in a {
                if v.is_null() {
                    t.remove(k);
                    continue;
                }
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_applied(existing, v)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, a) => *t = a.clone(),
    }
}

fn conflict_error(
    managers: &[Manager],
    conflicts: &[(usize, Vec<String>)],
    r: &ResourceDef,
    name: &str,
) -> ApiError {
    let describe = |i: usize| managers.get(i).map(Manager::describe).unwrap_or_default();
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            describe(conflicts[0].0),
            fields::display(&conflicts[0].1)
        )
    } else {
        let mut by_manager: Vec<(String, Vec<String>)> = Vec::new();
        for (i, p) in conflicts {
            let d = describe(*i);
            match by_manager.iter_mut().find(|(m, _)| *m == d) {
                Some((_, ps)) => ps.push(fields::display(p)),
                None => by_manager.push((d, vec![fields::display(p)])),
            }
        }
        by_manager.sort();
        let mut parts = Vec::new();
        for (m, ps) in by_manager {
            parts.push(format!("conflicts with {m}:"));
            parts.extend(ps.into_iter().map(|p| format!("- {p}")));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            parts.join("\n")
        )
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(i, p)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {}", describe(*i)),
                "field": fields::display(p)
            })
        })
        .collect();
    let mut details = json!({"name": name, "kind": r.plural, "causes": causes});
    if !r.group.is_empty() {
        details["group"] = json!(r.group);
    }
    ApiError::new(409, "Conflict", message).with_details(details)
}

/// The `autoscaling/v1` Scale view of a workload.
pub(crate) fn scale_of(r: &ResourceDef, obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let mut meta = json!({});
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = obj.pointer(&format!("/metadata/{k}")) {
            meta[k] = v.clone();
        }
    }
    let _ = r;
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector
        }
    })
}

fn write_scale(
    store: &mut Store,
    r: &'static ResourceDef,
    ns: &str,
    name: &str,
    body: &Value,
    ctx: &WriteCtx,
) -> Result<Value, ApiError> {
    if !r.subresources.contains(&"scale") {
        return Err(ApiError::no_route());
    }
    let current = store
        .get(r, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(r, name))?;
    check_rv(r, &current, body)?;
    let replicas = body
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("spec.replicas is required"))?;
    let mut new = current.clone();
    new["spec"]["replicas"] = json!(replicas);
    let now = store::now();
    fields::record_update(
        Some(&current),
        &mut new,
        &ctx.manager,
        &r.api_version(),
        Some("scale"),
        r.has_status(),
        &now,
    );
    let stored = commit(store, r, Some(&current), new, ctx)?;
    Ok(scale_of(r, &stored))
}

/// DELETE options (query and/or DeleteOptions body).
#[derive(Clone, Debug, Default)]
pub(crate) struct DeleteOpts {
    pub policy: Option<String>,
    pub grace_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// What a delete did: removed now (Status Success) or pending (object with deletionTimestamp).
pub(crate) enum Deleted {
    Gone(Value),
    Pending(Value),
}

/// DELETE one object, with garbage collection of dependents.
pub(crate) fn delete(
    store: &mut Store,
    r: &'static ResourceDef,
    ns: &str,
    name: &str,
    opts: &DeleteOpts,
) -> Result<Deleted, ApiError> {
    let current = store
        .get(r, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(r, name))?;
    if let Some(uid) = &opts.precondition_uid {
        if uid != uid_of(&current) {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    uid_of(&current)
                ),
            ));
        }
    }
    if let Some(rv) = &opts.precondition_rv {
        let have = current
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if rv != have {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {have}"
                ),
            ));
        }
    }
    if opts.dry_run {
        return Ok(Deleted::Gone(current));
    }
    if r.plural == "namespaces" {
        if PROTECTED.contains(&name) {
            return Err(ApiError::forbidden(
                r,
                name,
                "this namespace may not be deleted",
            ));
        }
        if current.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(Deleted::Pending(current));
        }
        let mut new = current.clone();
        set_meta(&mut new, "deletionTimestamp", json!(store::now()));
        new["status"]["phase"] = json!("Terminating");
        new["status"]["conditions"] = json!([
            {"type": "NamespaceDeletionDiscoveryFailure", "status": "False", "reason": "ResourcesDiscovered", "message": "All resources successfully discovered", "lastTransitionTime": store::now()},
            {"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain", "message": "Some resources are remaining", "lastTransitionTime": store::now()}
        ]);
        let stored = store.replace(r, &current, new);
        let due = Instant::now() + store.timing.namespace_deletion_delay;
        store.deadlines.insert(store::key(r, "", name), due);
        return Ok(Deleted::Pending(stored));
    }
    let policy = opts.policy.clone().unwrap_or_else(|| {
        if r.group == "batch" && r.plural == "jobs" {
            "Orphan".into()
        } else {
            "Background".into()
        }
    });
    let uid = uid_of(&current).to_string();
    if policy == "Orphan" {
        orphan_dependents(store, &uid);
    } else {
        cascade(store, &uid);
    }
    Ok(delete_one(store, r, &current, opts.grace_seconds))
}

fn orphan_dependents(store: &mut Store, uid: &str) {
    for (dr, dns, dname) in store.dependents(uid) {
        if let Some(dep) = store.get(dr, &dns, &dname).cloned() {
            let mut new = dep.clone();
            if let Some(refs) = new
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|o| o.get("uid").and_then(Value::as_str) != Some(uid));
            }
            system_update(store, dr, &dep, new, "kube-controller-manager", None);
        }
    }
}

fn cascade(store: &mut Store, uid: &str) {
    for (dr, dns, dname) in store.dependents(uid) {
        if let Some(dep) = store.get(dr, &dns, &dname).cloned() {
            let dep_uid = uid_of(&dep).to_string();
            cascade(store, &dep_uid);
            delete_one(store, dr, &dep, None);
        }
    }
}

/// Removes or starts removing one object (finalizers and pod grace periods keep it for a while).
pub(crate) fn delete_one(
    store: &mut Store,
    r: &'static ResourceDef,
    current: &Value,
    grace: Option<i64>,
) -> Deleted {
    let ns = store::ns_of(current).to_string();
    let name = name_of(current).to_string();
    let has_finalizers = current
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    let pod_grace = if r.plural == "pods" && r.group.is_empty() {
        match grace {
            Some(0) => None,
            _ => Some(store.timing.pod_termination_delay).filter(|d| !d.is_zero()),
        }
    } else {
        None
    };
    if current.pointer("/metadata/deletionTimestamp").is_some() {
        if grace == Some(0) && !has_finalizers {
            return store
                .remove(r, &ns, &name)
                .map_or(Deleted::Gone(current.clone()), Deleted::Gone);
        }
        return Deleted::Pending(current.clone());
    }
    if has_finalizers || pod_grace.is_some() {
        let mut new = current.clone();
        set_meta(&mut new, "deletionTimestamp", json!(store::now()));
        set_meta(
            &mut new,
            "deletionGracePeriodSeconds",
            json!(grace.unwrap_or(if pod_grace.is_some() { 30 } else { 0 })),
        );
        if let Some(d) = pod_grace {
            store
                .deadlines
                .insert(store::key(r, &ns, &name), Instant::now() + d);
        }
        let stored = store.replace(r, current, new);
        return Deleted::Pending(stored);
    }
    match store.remove(r, &ns, &name) {
        Some(v) => Deleted::Gone(v),
        None => Deleted::Gone(current.clone()),
    }
}

/// Finishes due deletions: terminating pods and Terminating namespaces (contents first).
pub(crate) fn finish_deadlines(store: &mut Store) {
    let now = Instant::now();
    let due: Vec<store::Key> = store
        .deadlines
        .iter()
        .filter(|(_, t)| **t <= now)
        .map(|(k, _)| k.clone())
        .collect();
    for (g, p, ns, name) in due {
        let Some(r) = resources::by_plural(&g, &p) else {
            store.deadlines.remove(&(g, p, ns, name));
            continue;
        };
        if r.plural == "namespaces" && r.group.is_empty() {
            let contents: Vec<(String, String, String)> = store
                .objects
                .keys()
                .filter(|(_, _, n, _)| *n == name)
                .map(|(g, p, _, nm)| (g.clone(), p.clone(), nm.clone()))
                .collect();
            for (cg, cp, cname) in contents {
                if let Some(cr) = resources::by_plural(&cg, &cp) {
                    if cr.namespaced {
                        store.remove(cr, &name, &cname);
                    }
                }
            }
            store.remove(r, "", &name);
        } else {
            let has_finalizers = store
                .get(r, &ns, &name)
                .and_then(|v| v.pointer("/metadata/finalizers"))
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            store
                .deadlines
                .remove(&(g.clone(), p.clone(), ns.clone(), name.clone()));
            if !has_finalizers {
                store.remove(r, &ns, &name);
            }
        }
    }
}

/// The answer body of a delete.
pub(crate) fn delete_answer(r: &ResourceDef, d: &Deleted) -> Value {
    match d {
        Deleted::Gone(v) => status::success(r, name_of(v), uid_of(v)),
        Deleted::Pending(v) => v.clone(),
    }
}
