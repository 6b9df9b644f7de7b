//! JSON helpers: field paths in `fieldsV1` form, managed-fields bookkeeping for server-side
//! apply and updates, merge patch (RFC 7386) and JSON patch (RFC 6902).

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// A field path, each element as in `fieldsV1` (`f:spec`, `f:replicas`). Lists are atomic.
pub(crate) type Path = Vec<String>;

/// Metadata fields that nobody owns.
const UNOWNED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
];

/// Which part of an object a write may touch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Part {
    /// Everything but `status` (main endpoint of a kind with a status subresource).
    NoStatus,
    /// Only `status` (the `/status` subresource).
    StatusOnly,
    /// Everything (kinds without a status subresource).
    All,
}

/// The ownable content of `obj`: no apiVersion/kind/server-set metadata, and restricted to `part`.
pub(crate) fn ownable(obj: &Value, part: Part) -> Value {
    let mut out = Map::new();
    if let Value::Object(map) = obj {
        for (k, v) in map {
            if k == "apiVersion" || k == "kind" {
                continue;
            }
            let is_status = k == "status";
            match part {
                Part::NoStatus if is_status => continue,
                Part::StatusOnly if !is_status => continue,
                _ => {}
            }
            if k == "metadata" {
                if let Value::Object(meta) = v {
                    let m: Map<String, Value> = meta
                        .iter()
                        .filter(|(k, _)| !UNOWNED_METADATA.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if !m.is_empty() {
                        out.insert(k.clone(), Value::Object(m));
                    }
                }
                continue;
            }
            out.insert(k.clone(), v.clone());
        }
    }
    let mut v = Value::Object(out);
    strip_nulls(&mut v);
    v
}

/// Removes `null` members of objects, recursively.
pub(crate) fn strip_nulls(v: &mut Value) {
    if let Value::Object(map) = v {
        map.retain(|_, c| !c.is_null());
        for c in map.values_mut() {
            strip_nulls(c);
        }
    }
}

/// The leaf paths of an object: scalars, arrays (atomic) and empty objects.
pub(crate) fn leaf_paths(v: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    let mut prefix = Vec::new();
    collect(v, &mut prefix, &mut out);
    out
}

fn collect(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    if let Value::Object(map) = v {
        for (k, c) in map {
            prefix.push(format!("f:{k}"));
            match c {
                Value::Object(cm) if !cm.is_empty() => collect(c, prefix, out),
                _ => {
                    out.insert(prefix.clone());
                }
            }
            prefix.pop();
        }
    }
}

fn key(elem: &str) -> &str {
    elem.strip_prefix("f:").unwrap_or(elem)
}

/// The value at `path`, if present.
pub(crate) fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for elem in path {
        cur = cur.as_object()?.get(key(elem))?;
    }
    Some(cur)
}

fn get_path_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = v;
    for elem in path {
        cur = cur.as_object_mut()?.get_mut(key(elem))?;
    }
    Some(cur)
}

/// Removes the value at `path` and then any parent object this left empty (but never a
/// top-level field such as `metadata` or `spec`).
pub(crate) fn remove_path(v: &mut Value, path: &[String]) {
    let mut depth = path.len();
    while depth >= 1 {
        let (last, parents) = match path[..depth].split_last() {
            Some(x) => x,
            None => return,
        };
        if depth < path.len() {
            // only prune a parent that is now an empty object, and never a top-level field
            let empty = get_path(v, &path[..depth])
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty);
            if !empty || depth < 2 {
                return;
            }
        }
        match get_path_mut(v, parents).and_then(Value::as_object_mut) {
            Some(m) => {
                m.remove(key(last));
            }
            None => return,
        }
        depth -= 1;
    }
}

/// `.spec.replicas`.
pub(crate) fn display_path(path: &[String]) -> String {
    path.iter().map(|e| format!(".{}", key(e))).collect()
}

/// Nested `fieldsV1` form of a path set.
pub(crate) fn paths_to_fields(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut cur = &mut root;
        for elem in p {
            let entry = cur
                .entry(elem.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry {
                Value::Object(m) => cur = m,
                _ => break,
            }
        }
    }
    Value::Object(root)
}

/// Leaf paths of a nested `fieldsV1` value (`.` markers ignored).
pub(crate) fn fields_to_paths(v: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
        let Value::Object(map) = v else { return };
        let children: Vec<_> = map.iter().filter(|(k, _)| k.as_str() != ".").collect();
        if children.is_empty() {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
            return;
        }
        for (k, c) in children {
            prefix.push(k.clone());
            walk(c, prefix, out);
            prefix.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// One `metadata.managedFields` entry.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub paths: BTreeSet<Path>,
}

impl Entry {
    fn same_identity(&self, manager: &str, operation: &str, sub: Option<&str>) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.as_deref() == sub
    }
}

/// Reads `metadata.managedFields`.
pub(crate) fn read_entries(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| Entry {
            manager: str_of(e, "manager"),
            operation: str_of(e, "operation"),
            api_version: str_of(e, "apiVersion"),
            time: str_of(e, "time"),
            subresource: e
                .get("subresource")
                .and_then(Value::as_str)
                .map(str::to_string),
            paths: e.get("fieldsV1").map(fields_to_paths).unwrap_or_default(),
        })
        .collect()
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Writes `metadata.managedFields` (entries owning nothing are dropped).
pub(crate) fn write_entries(obj: &mut Value, entries: Vec<Entry>) {
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.paths.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": paths_to_fields(&e.paths),
            });
            if let Some(sub) = e.subresource {
                v["subresource"] = Value::String(sub);
            }
            v
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// One field another manager owns with a different value.
#[derive(Debug, Clone)]
pub(crate) struct Conflict {
    pub manager: String,
    pub path: Path,
}

/// Applies `applied` (already restricted to `part`) by `manager` onto `base` (the live object,
/// or the new object's skeleton): conflict check, removal of fields the manager no longer
/// applies, merge, and managed-fields update.
pub(crate) fn apply(
    base: &mut Value,
    applied: &Value,
    part: Part,
    manager: &str,
    force: bool,
    api_version: &str,
    now: &str,
) -> Result<(), Vec<Conflict>> {
    let sub = (part == Part::StatusOnly).then_some("status");
    let body = ownable(applied, part);
    let applied_paths = leaf_paths(&body);
    let mut entries = read_entries(base);
    let mut conflicts = Vec::new();
    for e in &entries {
        if e.same_identity(manager, "Apply", sub) {
            continue;
        }
        for p in applied_paths.intersection(&e.paths) {
            if get_path(base, p) != get_path(&body, p) {
                conflicts.push(Conflict {
                    manager: e.manager.clone(),
                    path: p.clone(),
                });
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(conflicts);
        }
        for c in &conflicts {
            for e in entries.iter_mut() {
                if e.manager == c.manager && !e.same_identity(manager, "Apply", sub) {
                    e.paths.remove(&c.path);
                }
            }
        }
    }
    let previous: BTreeSet<Path> = entries
        .iter()
        .find(|e| e.same_identity(manager, "Apply", sub))
        .map(|e| e.paths.clone())
        .unwrap_or_default();
    for gone in previous.difference(&applied_paths) {
        let shared = entries
            .iter()
            .any(|e| !e.same_identity(manager, "Apply", sub) && e.paths.contains(gone));
        if !shared {
            remove_path(base, gone);
        }
    }
    deep_merge(base, &body);
    match entries
        .iter_mut()
        .find(|e| e.same_identity(manager, "Apply", sub))
    {
        Some(e) => {
            e.paths = applied_paths;
            e.time = now.to_string();
            e.api_version = api_version.to_string();
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: api_version.to_string(),
            time: now.to_string(),
            subresource: sub.map(str::to_string),
            paths: applied_paths,
        }),
    }
    prune_entries(base, &mut entries);
    write_entries(base, entries);
    Ok(())
}

/// Records a non-apply write (create, update, patch) by `manager`: fields changed between `old`
/// and `new` move to the manager's Update entry.
pub(crate) fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    sub: Option<&str>,
    api_version: &str,
    now: &str,
) {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let new_own = ownable(new, Part::All);
    let old_own = old.map(|o| ownable(o, Part::All)).unwrap_or(Value::Null);
    let changed: BTreeSet<Path> = leaf_paths(&new_own)
        .into_iter()
        .filter(|p| get_path(&old_own, p) != get_path(&new_own, p))
        .collect();
    if !changed.is_empty() {
        for e in entries.iter_mut() {
            if !e.same_identity(manager, "Update", sub) {
                e.paths.retain(|p| !changed.contains(p));
            }
        }
        match entries
            .iter_mut()
            .find(|e| e.same_identity(manager, "Update", sub))
        {
            Some(e) => {
                e.paths.extend(changed);
                e.time = now.to_string();
                e.api_version = api_version.to_string();
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now.to_string(),
                subresource: sub.map(str::to_string),
                paths: changed,
            }),
        }
    }
    prune_entries(new, &mut entries);
    write_entries(new, entries);
}

/// Drops owned paths that no longer exist in `obj`.
fn prune_entries(obj: &Value, entries: &mut [Entry]) {
    for e in entries.iter_mut() {
        e.paths.retain(|p| get_path(obj, p).is_some());
    }
}

/// Objects merge recursively; arrays and scalars replace; nulls in `overlay` are skipped.
pub(crate) fn deep_merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    continue;
                }
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if k.starts_with("$") {
                        continue; // strategic-merge directives
                    }
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(ptr: &str) -> Result<Vec<String>, String> {
    if ptr.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = ptr.strip_prefix('/') else {
        return Err(format!("invalid JSON pointer {ptr:?}"));
    };
    Ok(rest.split('/').map(unescape).collect())
}

fn pointer_parent<'a>(
    doc: &'a mut Value,
    tokens: &[String],
) -> Result<(&'a mut Value, String), String> {
    let Some((last, parents)) = tokens.split_last() else {
        return Err("the root cannot be the target".into());
    };
    let mut cur = doc;
    for t in parents {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("missing path element {t:?}"))?,
            Value::Array(a) => {
                let i: usize = t.parse().map_err(|_| format!("bad array index {t:?}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("index {i} out of range"))?
            }
            _ => return Err(format!("cannot descend into a scalar at {t:?}")),
        };
    }
    Ok((cur, last.clone()))
}

fn pointer_add(doc: &mut Value, ptr: &str, value: Value) -> Result<(), String> {
    let tokens = split_pointer(ptr)?;
    if tokens.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = pointer_parent(doc, &tokens)?;
    match parent {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("bad array index {last:?}"))?;
            if i > a.len() {
                return Err(format!("index {i} out of range"));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err("cannot add to a scalar".into()),
    }
}

fn pointer_remove(doc: &mut Value, ptr: &str) -> Result<Value, String> {
    let tokens = split_pointer(ptr)?;
    let (parent, last) = pointer_parent(doc, &tokens)?;
    match parent {
        Value::Object(m) => m
            .remove(&last)
            .ok_or_else(|| format!("path {ptr} does not exist")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("bad array index {last:?}"))?;
            if i >= a.len() {
                return Err(format!("index {i} out of range"));
            }
            Ok(a.remove(i))
        }
        _ => Err("cannot remove from a scalar".into()),
    }
}

/// RFC 6902 JSON patch (add, remove, replace, move, copy, test).
pub(crate) fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let Some(ops) = ops.as_array() else {
        return Err("a JSON patch must be an array of operations".into());
    };
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("operation without a path")?;
        match kind {
            "add" => pointer_add(doc, path, op.get("value").cloned().unwrap_or(Value::Null))?,
            "remove" => {
                pointer_remove(doc, path)?;
            }
            "replace" => {
                pointer_remove(doc, path)?;
                pointer_add(doc, path, op.get("value").cloned().unwrap_or(Value::Null))?;
            }
            "move" | "copy" => {
                let from = op
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or("move/copy without from")?;
                let value = if kind == "move" {
                    pointer_remove(doc, from)?
                } else {
                    doc.pointer(from)
                        .cloned()
                        .ok_or_else(|| format!("path {from} does not exist"))?
                };
                pointer_add(doc, path, value)?;
            }
            "test" => {
                let expected = op.get("value").cloned().unwrap_or(Value::Null);
                if doc.pointer(path) != Some(&expected) {
                    return Err(format!("test failed at {path}"));
                }
            }
            other => return Err(format!("unknown JSON patch operation {other:?}")),
        }
    }
    Ok(())
}
