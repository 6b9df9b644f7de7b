//! HTTP layer: authentication, request log, fault injection, routing, lists, watches and logs.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::ops::{self, DeleteOpts, FieldValidation, PatchType, WriteCtx};
use super::resources::{self, ResourceDef};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{ApiError, json_body, json_response};
use super::store::{Change, Store, name_of, ns_of};
use super::table;
use super::{Fault, FaultResponse, Inner, RecordedRequest};

type Query = HashMap<String, String>;

fn q<'a>(query: &'a Query, k: &str) -> Option<&'a str> {
    query.get(k).map(String::as_str)
}

fn truthy(v: Option<&str>) -> bool {
    matches!(v, Some("true") | Some("1") | Some("True"))
}

/// The single entry point (an axum fallback handler).
pub(crate) async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or_default().to_string();
    let content_type = header(header::CONTENT_TYPE);
    let accept = header(header::ACCEPT);
    let user_agent = header(header::USER_AGENT);
    let auth = header(header::AUTHORIZATION);
    let mut record = RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query: raw_query.clone(),
        content_type: (!content_type.is_empty()).then(|| content_type.clone()),
        accept: (!accept.is_empty()).then(|| accept.clone()),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        status: 0,
    };

    let authorized = auth
        .strip_prefix("Bearer ")
        .is_some_and(|t| t.trim() == inner.token);
    let response = if !authorized {
        ApiError::unauthorized().into_response()
    } else {
        let fault = take_fault(&inner, &method, &path, &raw_query);
        match fault {
            Some(FaultResponse::Hang) => {
                inner.record(record);
                std::future::pending::<()>().await;
                return StatusCode::GATEWAY_TIMEOUT.into_response();
            }
            Some(FaultResponse::Delay(d)) => {
                tokio::time::sleep(d).await;
                None
            }
            Some(other) => Some(fault_response(other, &path)),
            None => None,
        }
        .unwrap_or_else(|| {
            let query: Query = serde_urlencoded::from_str::<Vec<(String, String)>>(&raw_query)
                .unwrap_or_default()
                .into_iter()
                .collect();
            let req = Req {
                method: &method,
                path: &path,
                query: &query,
                content_type: &content_type,
                accept: &accept,
                user_agent: &user_agent,
                body: &bytes,
            };
            route(&inner, &req).unwrap_or_else(IntoResponse::into_response)
        })
    };
    record.status = response.status().as_u16();
    inner.record(record);
    response
}

fn take_fault(inner: &Inner, method: &Method, path: &str, query: &str) -> Option<FaultResponse> {
    let target = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let mut faults = inner.faults.lock().unwrap_or_else(|e| e.into_inner());
    let idx = faults.iter().position(|f: &Fault| {
        f.method.as_ref().is_none_or(|m| m == method) && target.contains(&f.path_contains)
    })?;
    let response = faults[idx].response.clone();
    if faults[idx].times > 0 {
        faults[idx].times -= 1;
        if faults[idx].times == 0 {
            faults.remove(idx);
        }
    }
    Some(response)
}

fn fault_response(f: FaultResponse, path: &str) -> Response {
    match f {
        FaultResponse::Status(code) => ApiError::for_code(code, None).into_response(),
        FaultResponse::TooManyRequests { retry_after_secs } => {
            let mut e = ApiError::for_code(429, None);
            e.retry_after = Some(retry_after_secs);
            e.into_response()
        }
        FaultResponse::Conflict => {
            let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
            let (plural, name) = match segs.len() {
                n if n >= 2 => (segs[n - 2], segs[n - 1]),
                _ => ("objects", "unknown"),
            };
            let res = format!("{plural} \"{name}\"");
            ApiError::new(
                409,
                "Conflict",
                format!("Operation cannot be fulfilled on {res}: the object has been modified; please apply your changes to the latest version and try again"),
            )
            .with_details(json!({"name": name, "kind": plural}))
            .into_response()
        }
        FaultResponse::Hang | FaultResponse::Delay(_) => StatusCode::GATEWAY_TIMEOUT.into_response(),
    }
}

struct Req<'a> {
    method: &'a Method,
    path: &'a str,
    query: &'a Query,
    content_type: &'a str,
    accept: &'a str,
    user_agent: &'a str,
    body: &'a [u8],
}

enum Route {
    Version,
    CoreVersions,
    Groups,
    Group(String),
    ResourceList(String, String),
    Collection {
        r: &'static ResourceDef,
        ns: Option<String>,
    },
    Object {
        r: &'static ResourceDef,
        ns: String,
        name: String,
        sub: Option<String>,
    },
}

fn parse_route(path: &str) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["api"] => return Ok(Route::CoreVersions),
        ["apis"] => return Ok(Route::Groups),
        ["apis", g] => return Ok(Route::Group((*g).to_string())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::no_route()),
    };
    if !resources::serves_group_version(group, version) {
        return Err(ApiError::no_route());
    }
    let find = |plural: &str| resources::by_gv_plural(group, version, plural);
    let check_sub = |r: &'static ResourceDef, sub: &str| {
        if r.subresources.contains(&sub) {
            Ok(Some(sub.to_string()))
        } else {
            Err(ApiError::no_route())
        }
    };
    match rest {
        [] => Ok(Route::ResourceList(group.into(), version.into())),
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some_and(|r| r.namespaced) => {
            let r = find(plural).ok_or_else(ApiError::no_route)?;
            match tail {
                [] => Ok(Route::Collection {
                    r,
                    ns: Some((*ns).to_string()),
                }),
                [name] => Ok(Route::Object {
                    r,
                    ns: (*ns).to_string(),
                    name: (*name).to_string(),
                    sub: None,
                }),
                [name, sub] => Ok(Route::Object {
                    r,
                    ns: (*ns).to_string(),
                    name: (*name).to_string(),
                    sub: check_sub(r, sub)?,
                }),
                _ => Err(ApiError::no_route()),
            }
        }
        [plural] => {
            let r = find(plural).ok_or_else(ApiError::no_route)?;
            Ok(Route::Collection { r, ns: None })
        }
        [plural, name] => {
            let r = find(plural).ok_or_else(ApiError::no_route)?;
            if r.namespaced {
                return Err(ApiError::no_route());
            }
            Ok(Route::Object {
                r,
                ns: String::new(),
                name: (*name).to_string(),
                sub: None,
            })
        }
        [plural, name, sub] => {
            let r = find(plural).ok_or_else(ApiError::no_route)?;
            if r.namespaced {
                return Err(ApiError::no_route());
            }
            Ok(Route::Object {
                r,
                ns: String::new(),
                name: (*name).to_string(),
                sub: check_sub(r, sub)?,
            })
        }
        _ => Err(ApiError::no_route()),
    }
}

fn wants_aggregated(accept: &str) -> Option<&'static str> {
    let first = accept.split(',').next().unwrap_or_default();
    if !first.contains("as=APIGroupDiscoveryList") {
        return None;
    }
    if first.contains("v=v2beta1") {
        Some("v2beta1")
    } else {
        Some("v2")
    }
}

fn aggregated_response(core: bool, version: &str) -> Response {
    let av = format!("apidiscovery.k8s.io/{version}");
    let mut r = json_body(&resources::aggregated(core, &av));
    if let Ok(ct) = HeaderValue::from_str(&format!(
        "application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
    )) {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    r
}

fn route(inner: &Arc<Inner>, req: &Req<'_>) -> Result<Response, ApiError> {
    if req.path.starts_with("/openapi") {
        return Err(ApiError::no_route());
    }
    let route = parse_route(req.path)?;
    let get_only = |resp: Response| {
        if req.method == Method::GET {
            Ok(resp)
        } else {
            Err(ApiError::method_not_allowed())
        }
    };
    match route {
        Route::Version => get_only(json_body(&resources::version())),
        Route::CoreVersions => get_only(match wants_aggregated(req.accept) {
            Some(v) => aggregated_response(true, v),
            None => json_body(&resources::core_versions()),
        }),
        Route::Groups => get_only(match wants_aggregated(req.accept) {
            Some(v) => aggregated_response(false, v),
            None => json_body(&resources::group_list()),
        }),
        Route::Group(g) => {
            let list = resources::group_list();
            let found = list["groups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|x| x["name"] == json!(g)))
                .cloned()
                .ok_or_else(ApiError::no_route)?;
            let mut v = found;
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            get_only(json_body(&v))
        }
        Route::ResourceList(g, v) => get_only(json_body(&resources::resource_list(&g, &v))),
        Route::Collection { r, ns } => collection(inner, req, r, ns),
        Route::Object { r, ns, name, sub } => object(inner, req, r, &ns, &name, sub.as_deref()),
    }
}

fn write_ctx(req: &Req<'_>, apply: bool) -> Result<WriteCtx, ApiError> {
    let manager = match q(req.query, "fieldManager") {
        Some(m) => m.to_string(),
        None if apply => String::new(),
        None => {
            let prefix = req.user_agent.split('/').next().unwrap_or_default().trim();
            if prefix.is_empty() {
                "unknown".to_string()
            } else {
                prefix.to_string()
            }
        }
    };
    let validation = match q(req.query, "fieldValidation") {
        None | Some("") => FieldValidation::Default,
        Some("Strict") => FieldValidation::Strict,
        Some("Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}"
            )));
        }
    };
    let dry_run = match q(req.query, "dryRun") {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid dry run value: {other}: supported values: \"All\""
            )));
        }
    };
    Ok(WriteCtx {
        manager,
        dry_run,
        force: truthy(q(req.query, "force")),
        validation,
        warnings: Vec::new(),
    })
}

fn with_warnings(mut resp: Response, ctx: &WriteCtx) -> Response {
    for w in &ctx.warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - {w:?}")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

fn object_response(code: u16, obj: &Value, req: &Req<'_>, r: &ResourceDef, rv: &str) -> Response {
    if table::wants_table(req.accept) {
        let include = q(req.query, "includeObject").unwrap_or("Metadata");
        return json_response(
            code,
            &table::table(r, std::slice::from_ref(obj), rv, include),
        );
    }
    json_response(code, obj)
}

fn selectors(query: &Query) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(q(query, "labelSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(q(query, "fieldSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn collection(
    inner: &Arc<Inner>,
    req: &Req<'_>,
    r: &'static ResourceDef,
    ns: Option<String>,
) -> Result<Response, ApiError> {
    let m = req.method;
    if *m == Method::GET {
        if truthy(q(req.query, "watch")) {
            return watch(inner, req, r, ns);
        }
        return list(inner, req, r, ns.as_deref());
    }
    if *m == Method::POST {
        let ns = match (&ns, r.namespaced) {
            (Some(ns), true) => ns.clone(),
            (None, false) => String::new(),
            _ => return Err(ApiError::method_not_allowed()),
        };
        let body = ops::parse_body(req.body, false)?;
        let mut ctx = write_ctx(req, false)?;
        let mut store = inner.lock();
        let created = ops::create(&mut store, r, &ns, body, &mut ctx)?;
        let rv = store.rv.to_string();
        drop(store);
        return Ok(with_warnings(object_response(201, &created, req, r, &rv), &ctx));
    }
    if *m == Method::DELETE {
        if r.namespaced && ns.is_none() {
            return Err(ApiError::method_not_allowed());
        }
        let (labels, fields) = selectors(req.query)?;
        let opts = delete_opts(req)?;
        let mut store = inner.lock();
        let targets: Vec<Value> = store
            .list(r, ns.as_deref())
            .into_iter()
            .filter(|o| labels.matches(o) && fields.matches(o))
            .collect();
        let mut items = Vec::new();
        for t in targets {
            match ops::delete(&mut store, r, ns_of(&t), name_of(&t), &opts) {
                Ok(ops::Deleted::Gone(v)) | Ok(ops::Deleted::Pending(v)) => items.push(v),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let rv = store.rv.to_string();
        drop(store);
        return Ok(json_body(&json!({
            "kind": format!("{}List", r.kind),
            "apiVersion": r.api_version(),
            "metadata": {"resourceVersion": rv},
            "items": items
        })));
    }
    Err(ApiError::method_not_allowed())
}

fn list(
    inner: &Arc<Inner>,
    req: &Req<'_>,
    r: &'static ResourceDef,
    ns: Option<&str>,
) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(req.query)?;
    let store = inner.lock();
    let rv = store.rv.to_string();
    let all: Vec<Value> = store
        .list(r, ns)
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .collect();
    drop(store);
    let limit = q(req.query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let start = match q(req.query, "continue").filter(|c| !c.is_empty()) {
        None => 0,
        Some(token) => all
            .iter()
            .position(|o| format!("{}/{}", ns_of(o), name_of(o)).as_str() > token)
            .unwrap_or(all.len()),
    };
    let end = limit.map_or(all.len(), |l| (start + l).min(all.len()));
    let items: Vec<Value> = all[start..end].to_vec();
    let mut metadata = json!({"resourceVersion": rv});
    if end < all.len() {
        if let Some(last) = items.last() {
            metadata["continue"] = json!(format!("{}/{}", ns_of(last), name_of(last)));
            metadata["remainingItemCount"] = json!(all.len() - end);
        }
    }
    if table::wants_table(req.accept) {
        let include = q(req.query, "includeObject").unwrap_or("Metadata");
        let mut t = table::table(r, &items, &rv, include);
        t["metadata"] = metadata;
        return Ok(json_body(&t));
    }
    Ok(json_body(&json!({
        "kind": format!("{}List", r.kind),
        "apiVersion": r.api_version(),
        "metadata": metadata,
        "items": items
    })))
}

fn delete_opts(req: &Req<'_>) -> Result<DeleteOpts, ApiError> {
    let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(req.body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let mut policy = body
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| q(req.query, "propagationPolicy").map(str::to_string));
    if policy.is_none() {
        let orphan = body
            .get("orphanDependents")
            .and_then(Value::as_bool)
            .or_else(|| q(req.query, "orphanDependents").map(|v| v == "true"));
        policy = orphan.map(|o| if o { "Orphan" } else { "Background" }.to_string());
    }
    if let Some(p) = &policy {
        if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
            return Err(ApiError::bad_request(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            )));
        }
    }
    let dry = body
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
        || q(req.query, "dryRun") == Some("All");
    Ok(DeleteOpts {
        policy,
        grace_seconds: body
            .get("gracePeriodSeconds")
            .and_then(Value::as_i64)
            .or_else(|| q(req.query, "gracePeriodSeconds").and_then(|g| g.parse().ok())),
        precondition_uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run: dry,
    })
}

fn object(
    inner: &Arc<Inner>,
    req: &Req<'_>,
    r: &'static ResourceDef,
    ns: &str,
    name: &str,
    sub: Option<&str>,
) -> Result<Response, ApiError> {
    let m = req.method;
    if *m == Method::GET {
        let store = inner.lock();
        let obj = store
            .get(r, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(r, name))?;
        let rv = store.rv.to_string();
        if sub == Some("log") {
            return pod_logs(&store, &obj, req.query);
        }
        drop(store);
        if sub == Some("scale") {
            return Ok(json_body(&ops::scale_of(r, &obj)));
        }
        return Ok(object_response(200, &obj, req, r, &rv));
    }
    if sub == Some("log") || sub == Some("finalize") && *m != Method::PUT {
        return Err(ApiError::method_not_allowed());
    }
    if *m == Method::PUT {
        let body = ops::parse_body(req.body, false)?;
        let mut ctx = write_ctx(req, false)?;
        let sub = if sub == Some("finalize") { None } else { sub };
        let mut store = inner.lock();
        let obj = ops::replace(&mut store, r, ns, name, body, sub, &mut ctx)?;
        let rv = store.rv.to_string();
        drop(store);
        return Ok(with_warnings(object_response(200, &obj, req, r, &rv), &ctx));
    }
    if *m == Method::PATCH {
        let pt = PatchType::from_content_type(req.content_type)
            .ok_or_else(|| ApiError::unsupported_media_type(req.content_type))?;
        let mut ctx = write_ctx(req, pt == PatchType::Apply)?;
        let mut store = inner.lock();
        let (code, obj) = ops::patch(&mut store, r, ns, name, pt, req.body, sub, &mut ctx)?;
        let rv = store.rv.to_string();
        drop(store);
        return Ok(with_warnings(object_response(code, &obj, req, r, &rv), &ctx));
    }
    if *m == Method::DELETE {
        if sub.is_some() {
            return Err(ApiError::method_not_allowed());
        }
        let opts = delete_opts(req)?;
        let mut store = inner.lock();
        let result = ops::delete(&mut store, r, ns, name, &opts)?;
        drop(store);
        return Ok(json_body(&ops::delete_answer(r, &result)));
    }
    Err(ApiError::method_not_allowed())
}

fn pod_logs(store: &Store, pod: &Value, query: &Query) -> Result<Response, ApiError> {
    let name = name_of(pod);
    let ns = ns_of(pod);
    let containers: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let container = match q(query, "container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !containers.iter().any(|x| x == c) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.to_string()
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let status = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(container.as_str()))
        });
    let waiting = status
        .and_then(|s| s.pointer("/state/waiting/reason"))
        .and_then(Value::as_str);
    let started = status.is_some_and(|s| {
        s.pointer("/state/running").is_some()
            || s.pointer("/state/terminated").is_some()
            || s.pointer("/lastState/terminated").is_some()
    });
    if !started {
        let why = match waiting {
            Some("ImagePullBackOff") | Some("ErrImagePull") => {
                "trying and failing to pull image".to_string()
            }
            Some(r) => r.to_string(),
            None => "ContainerCreating".to_string(),
        };
        return Err(ApiError::bad_request(format!(
            "container {container:?} in pod {name:?} is waiting to start: {why}"
        )));
    }
    let custom = store
        .pod_logs
        .iter()
        .rev()
        .find(|(lns, prefix, _)| lns == ns && name.starts_with(prefix.as_str()))
        .map(|(_, _, lines)| lines.clone());
    let mut lines = custom.unwrap_or_else(|| {
        let ts = pod
            .pointer("/status/startTime")
            .and_then(Value::as_str)
            .unwrap_or("1970-01-01T00:00:00Z");
        vec![
            format!("{ts} {container} starting (pod {ns}/{name})"),
            format!("{ts} {container} listening on :8080"),
            format!("{ts} {container} ready"),
        ]
    });
    if let Some(n) = q(query, "tailLines").and_then(|t| t.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    if let Some(limit) = q(query, "limitBytes").and_then(|l| l.parse::<usize>().ok()) {
        text.truncate(limit);
    }
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
        text,
    )
        .into_response())
}

fn watch_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn bookmark(r: &ResourceDef, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": r.kind, "apiVersion": r.api_version(), "metadata": meta})
}

/// The watch event (if any) a change produces for a filtered watch.
fn translate(
    change: &Change,
    r: &ResourceDef,
    ns: Option<&str>,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> Option<(&'static str, Value)> {
    if change.res.group != r.group || change.res.plural != r.plural {
        return None;
    }
    if let Some(ns) = ns {
        if r.namespaced && change.namespace != ns {
            return None;
        }
    }
    let matches = |o: &Value| labels.matches(o) && fields.matches(o);
    match change.kind {
        "MODIFIED" => {
            let now = matches(&change.object);
            let before = change.old.as_ref().is_some_and(matches);
            match (before, now) {
                (true, true) => Some(("MODIFIED", change.object.clone())),
                (false, true) => Some(("ADDED", change.object.clone())),
                (true, false) => Some(("DELETED", change.object.clone())),
                (false, false) => None,
            }
        }
        k => matches(&change.object).then(|| (k, change.object.clone())),
    }
}

fn watch(
    inner: &Arc<Inner>,
    req: &Req<'_>,
    r: &'static ResourceDef,
    ns: Option<String>,
) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(req.query)?;
    let rv_param = q(req.query, "resourceVersion").unwrap_or_default().to_string();
    let bookmarks = truthy(q(req.query, "allowWatchBookmarks"));
    let send_initial = truthy(q(req.query, "sendInitialEvents"));
    let timeout = q(req.query, "timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));

    let mut initial: Vec<Bytes> = Vec::new();
    let store = inner.lock();
    let mut rx = store.tx.subscribe();
    let last_rv = store.rv;
    let ns_ref = ns.as_deref();
    if send_initial || rv_param.is_empty() || rv_param == "0" {
        for o in store.list(r, ns_ref) {
            if labels.matches(&o) && fields.matches(&o) {
                initial.push(watch_line("ADDED", &o));
            }
        }
        if send_initial {
            initial.push(watch_line("BOOKMARK", &bookmark(r, last_rv, true)));
        }
    } else {
        let Ok(from) = rv_param.parse::<u64>() else {
            return Err(ApiError::bad_request(format!(
                "invalid resource version: {rv_param}"
            )));
        };
        if from < store.compacted_rv {
            let gone = ApiError::new(
                410,
                "Expired",
                format!("too old resource version: {from} ({})", store.compacted_rv + 1),
            );
            initial.push(watch_line("ERROR", &gone.body()));
        } else {
            for change in store.log.iter().filter(|c| c.rv > from) {
                if let Some((kind, obj)) = translate(change, r, ns_ref, &labels, &fields) {
                    initial.push(watch_line(kind, &obj));
                }
            }
        }
    }
    drop(store);
    let expired = initial
        .first()
        .is_some_and(|b| b.starts_with(b"{\"type\":\"ERROR\""))
        || initial.iter().any(|b| b.starts_with(b"{\"object\"") && b.windows(8).any(|w| w == b"\"ERROR\"}"));

    let (tx, out_rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let bookmark_every = inner.opts.watch_bookmark_interval;
    tokio::spawn(async move {
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        if expired {
            return;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(bookmark_every);
        tick.tick().await;
        let mut seen_rv = last_rv;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = tick.tick(), if bookmarks => {
                    if tx.send(watch_line("BOOKMARK", &bookmark(r, seen_rv, false))).await.is_err() {
                        return;
                    }
                }
                msg = rx.recv() => match msg {
                    Ok(change) => {
                        if change.rv <= last_rv {
                            continue;
                        }
                        seen_rv = change.rv;
                        if let Some((kind, obj)) = translate(&change, r, ns.as_deref(), &labels, &fields) {
                            if tx.send(watch_line(kind, &obj)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                },
            }
        }
    });
    let stream = futures::stream::unfold(out_rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, Infallible>(b), rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::TRANSFER_ENCODING,
        HeaderValue::from_static("chunked"),
    );
    Ok(resp)
}
