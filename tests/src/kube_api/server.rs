//! HTTP routing and request handling.

use super::errors::{ApiError, reason_for, status_body};
use super::resources::{self, Res};
use super::schema;
use super::selectors::{self, FieldReq, LabelReq};
use super::state::{Event, Key, WriteOpts, meta_str};
use super::{FaultResponse, Inner, RecordedRequest, table};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Largest request body read.
const MAX_BODY: usize = 32 * 1024 * 1024;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

fn json_response(code: u16, v: &Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.status_json())
}

fn text_response(code: u16, text: String) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    r
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Parsed query parameters.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: &str) -> Query {
        Query(serde_urlencoded::from_str(q).unwrap_or_default())
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
}

/// Everything a handler needs about the request.
struct Req {
    method: String,
    content_type: String,
    accept: String,
    query: Query,
    body: Bytes,
}

async fn handle(AxState(inner): AxState<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let content_type = header_str(&parts.headers, header::CONTENT_TYPE);
    let at = std::time::Instant::now();
    let latency = inner
        .latency_micros
        .load(std::sync::atomic::Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_micros(latency)).await;
    }
    let index = {
        let mut s = inner.lock();
        s.requests.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            query: raw_query.clone(),
            content_type: content_type.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            status: 0,
            at,
        });
        s.requests.len() - 1
    };
    let response = respond(
        &inner,
        &parts.headers,
        &method,
        &path,
        &raw_query,
        content_type,
        body,
    )
    .await;
    {
        let mut s = inner.lock();
        if let Some(r) = s.requests.get_mut(index)
            && r.path == path
        {
            r.status = response.status().as_u16();
        }
    }
    response
}

async fn respond(
    inner: &Arc<Inner>,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    raw_query: &str,
    content_type: String,
    body: Bytes,
) -> Response {
    let expected = format!("Bearer {}", inner.token);
    if header_str(headers, header::AUTHORIZATION) != expected {
        return error_response(&ApiError::unauthorized());
    }
    if let Some(fault) = take_fault(inner, method, path, raw_query) {
        return match fault {
            FaultResponse::Hang => std::future::pending().await,
            FaultResponse::Status(code) => json_response(
                code,
                &status_body(
                    code,
                    reason_for(code),
                    &format!("injected fault ({code})"),
                    None,
                ),
            ),
            FaultResponse::TooManyRequests { retry_after_secs } => {
                let mut r = json_response(
                    429,
                    &status_body(
                        429,
                        "TooManyRequests",
                        "Too many requests, please try again later.",
                        Some(json!({"retryAfterSeconds": retry_after_secs})),
                    ),
                );
                if let Ok(v) = header::HeaderValue::from_str(&retry_after_secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
        };
    }
    let req = Req {
        method: method.to_string(),
        content_type,
        accept: header_str(headers, header::ACCEPT),
        query: Query::parse(raw_query),
        body,
    };
    route(inner, path, req)
}

fn take_fault(inner: &Inner, method: &str, path: &str, query: &str) -> Option<FaultResponse> {
    let verb = super::verb_of(method, path, query);
    let mut s = inner.lock();
    let idx = s.faults.iter().position(|f| {
        f.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method) || m.eq_ignore_ascii_case(verb))
            && path.contains(&f.path_contains)
    })?;
    let fault = s.faults[idx].clone();
    if fault.times > 0 {
        if fault.times == 1 {
            s.faults.remove(idx);
        } else {
            s.faults[idx].times -= 1;
        }
    }
    Some(fault.response)
}

fn route(inner: &Arc<Inner>, path: &str, req: Req) -> Response {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let get_only = |v: Option<Value>| -> Response {
        if req.method != "GET" {
            return error_response(&ApiError::method_not_allowed());
        }
        match v {
            Some(v) => json_response(200, &v),
            None => error_response(&ApiError::no_route()),
        }
    };
    let server_address = inner.url.trim_start_matches("https://").to_string();
    match segs.as_slice() {
        ["version"] => get_only(Some(resources::version_doc())),
        ["healthz"] | ["livez"] | ["readyz"] => text_response(200, "ok".into()),
        ["api"] => get_only(Some(resources::api_versions(&server_address))),
        ["apis"] => get_only(Some(resources::api_group_list())),
        ["api", "v1"] => get_only(resources::api_resource_list("", "v1")),
        ["apis", group] => get_only(resources::api_group(group)),
        ["apis", group, version] => get_only(resources::api_resource_list(group, version)),
        ["api", "v1", rest @ ..] => resource_request(inner, "", "v1", rest, req),
        ["apis", group, version, rest @ ..] => resource_request(inner, group, version, rest, req),
        _ => error_response(&ApiError::no_route()),
    }
}

/// A resolved resource path.
struct Target<'a> {
    res: &'static Res,
    ns: Option<&'a str>,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

fn resolve<'a>(group: &str, version: &str, rest: &[&'a str]) -> Option<Target<'a>> {
    let namespaced_path = rest.len() >= 3
        && rest[0] == "namespaces"
        && resources::find(group, version, rest[2]).is_some_and(|r| r.namespaced);
    let (ns, plural, name, sub, extra) = if namespaced_path {
        (
            Some(rest[1]),
            rest[2],
            rest.get(3),
            rest.get(4),
            rest.len() > 5,
        )
    } else {
        (
            None,
            *rest.first()?,
            rest.get(1),
            rest.get(2),
            rest.len() > 3,
        )
    };
    if extra {
        return None;
    }
    let res = resources::find(group, version, plural)?;
    if !res.namespaced && ns.is_some() {
        return None;
    }
    if res.namespaced && ns.is_none() && name.is_some() {
        return None;
    }
    let sub = sub.copied();
    if let Some(s) = sub
        && !res.has_sub(s)
    {
        return None;
    }
    Some(Target {
        res,
        ns,
        name: name.copied(),
        sub,
    })
}

fn resource_request(
    inner: &Arc<Inner>,
    group: &str,
    version: &str,
    rest: &[&str],
    req: Req,
) -> Response {
    let Some(t) = resolve(group, version, rest) else {
        return error_response(&ApiError::no_route());
    };
    let result = match (req.method.as_str(), t.name, t.sub) {
        ("GET", None, _) => {
            if req.query.flag("watch") {
                return watch(inner, &t, &req);
            }
            list(inner, &t, &req)
        }
        ("GET", Some(name), Some("log")) => return logs(inner, &t, name, &req),
        ("GET", Some(name), Some("scale")) => get_scale(inner, &t, name),
        ("GET", Some(name), _) => get(inner, &t, name, &req),
        ("POST", None, None) => create(inner, &t, &req),
        ("PUT", Some(name), Some("scale")) | ("PATCH", Some(name), Some("scale")) => {
            write_scale(inner, &t, name, &req)
        }
        ("PUT", Some(name), _) => replace(inner, &t, name, &req),
        ("PATCH", Some(name), _) => patch(inner, &t, name, &req),
        ("DELETE", Some(name), None) => delete(inner, &t, name, &req),
        ("DELETE", None, None) => delete_collection(inner, &t, &req),
        _ => Err(ApiError::method_not_allowed()),
    };
    match result {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

type Answer = Result<(u16, Value), ApiError>;

fn selectors(q: &Query) -> Result<(Vec<LabelReq>, Vec<FieldReq>), ApiError> {
    let labels = selectors::parse_labels(q.get("labelSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let fields = selectors::parse_fields(q.get("fieldSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn matches(labels: &[LabelReq], fields: &[FieldReq], obj: &Value) -> bool {
    selectors::matches_labels(labels, obj) && selectors::matches_fields(fields, obj)
}

fn list(inner: &Arc<Inner>, t: &Target, req: &Req) -> Answer {
    let (labels, fields) = selectors(&req.query)?;
    let (items, rv) = {
        let s = inner.lock();
        let items: Vec<(Key, Value)> = s
            .list(t.res, t.ns)
            .into_iter()
            .filter(|(_, v)| matches(&labels, &fields, v))
            .collect();
        (items, s.rv)
    };
    // pagination: the continue token is "<namespace>/<name>" of the last item returned
    let start = req.query.get("continue").filter(|c| !c.is_empty());
    let mut items: Vec<(Key, Value)> = match start {
        Some(token) => {
            let (ns, name) = token.split_once('/').unwrap_or(("", token));
            items
                .into_iter()
                .filter(|(k, _)| (k.ns.as_str(), k.name.as_str()) > (ns, name))
                .collect()
        }
        None => items,
    };
    let limit: usize = req
        .query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if items.len() > limit {
        let remaining = items.len() - limit;
        items.truncate(limit);
        if let Some((k, _)) = items.last() {
            metadata["continue"] = json!(format!("{}/{}", k.ns, k.name));
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    let items: Vec<Value> = items.into_iter().map(|(_, v)| v).collect();
    if table::wants_table(&req.accept) {
        return Ok((200, table::table(t.res, &items, metadata, &req.query)));
    }
    Ok((
        200,
        json!({
            "kind": format!("{}List", t.res.kind),
            "apiVersion": t.res.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    ))
}

fn get(inner: &Arc<Inner>, t: &Target, name: &str, req: &Req) -> Answer {
    let obj = inner
        .lock()
        .get(&Key::new(t.res, t.ns, name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(t.res, name))?;
    if table::wants_table(&req.accept) {
        let rv = meta_str(&obj, "resourceVersion").unwrap_or("").to_string();
        return Ok((
            200,
            table::table(
                t.res,
                std::slice::from_ref(&obj),
                json!({"resourceVersion": rv}),
                &req.query,
            ),
        ));
    }
    Ok((200, obj))
}

fn parse_body(req: &Req, yaml_ok: bool) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(&req.body)
        .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(json_err) if yaml_ok => serde_saphyr::from_str::<Value>(text).map_err(|e| {
            ApiError::bad_request(format!("error decoding YAML: {e} (as JSON: {json_err})"))
        }),
        Err(e) => Err(ApiError::bad_request(format!(
            "couldn't get version/kind; json parse error: {e}"
        ))),
    }
}

fn write_opts(req: &Req, sub: Option<&str>, default_manager: &str) -> WriteOpts {
    WriteOpts {
        manager: req
            .query
            .get("fieldManager")
            .map(str::to_string)
            .unwrap_or_else(|| default_manager.to_string()),
        force: req.query.flag("force"),
        dry_run: req.query.get("dryRun").is_some_and(|d| !d.is_empty()),
        sub: sub.map(str::to_string),
    }
}

/// Rejects (Strict) or drops (Warn, Ignore) fields the schema lacks; `apply` words the error
/// like server-side apply does.
fn field_validation(req: &Req, res: &Res, body: &mut Value, apply: bool) -> Result<(), ApiError> {
    let mode = req.query.get("fieldValidation").unwrap_or("Warn");
    match mode {
        "Strict" => {
            let unknown = schema::unknown_fields(res, body);
            if unknown.is_empty() {
                return Ok(());
            }
            let message = if apply {
                let name = meta_str(body, "name").unwrap_or("");
                let ns = meta_str(body, "namespace").unwrap_or("");
                format!(
                    "failed to create typed patch object ({ns}/{name}; {}, Kind={}): {}",
                    res.api_version(),
                    res.kind,
                    unknown
                        .iter()
                        .map(|u| format!(".{u}: field not declared in schema"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!(
                    "strict decoding error: {}",
                    unknown
                        .iter()
                        .map(|u| format!("unknown field \"{u}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            Err(ApiError::bad_request(message))
        }
        "Warn" | "Ignore" => {
            schema::prune_unknown(res, body);
            Ok(())
        }
        other => Err(ApiError::bad_request(format!(
            "fieldValidation: Invalid value: \"{other}\": must be one of Ignore, Warn or Strict"
        ))),
    }
}

fn create(inner: &Arc<Inner>, t: &Target, req: &Req) -> Answer {
    let mut body = parse_body(req, false)?;
    field_validation(req, t.res, &mut body, false)?;
    let opts = write_opts(req, None, "unknown");
    let obj = inner.mutate(|s| s.create(t.res, t.ns, body, &opts))?;
    Ok((201, obj))
}

fn replace(inner: &Arc<Inner>, t: &Target, name: &str, req: &Req) -> Answer {
    let mut body = parse_body(req, false)?;
    field_validation(req, t.res, &mut body, false)?;
    let sub = t.sub.filter(|s| *s == "status");
    let opts = write_opts(req, sub, "unknown");
    let obj = inner.mutate(|s| s.replace(t.res, t.ns, name, body, &opts))?;
    Ok((200, obj))
}

fn patch(inner: &Arc<Inner>, t: &Target, name: &str, req: &Req) -> Answer {
    let sub = t.sub.filter(|s| *s == "status");
    let ct = req
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
            let mut body = parse_body(req, true)?;
            field_validation(req, t.res, &mut body, true)?;
            let opts = write_opts(req, sub, "");
            let (obj, created) = inner.mutate(|s| s.apply(t.res, t.ns, name, body, &opts))?;
            Ok((if created { 201 } else { 200 }, obj))
        }
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            if req.query.get("force").is_some() {
                return Err(ApiError::bad_request(
                    "force: Forbidden: may not be specified for non-apply patch",
                ));
            }
            let mut body = parse_body(req, false)?;
            field_validation(req, t.res, &mut body, false)?;
            let opts = write_opts(req, sub, "unknown");
            let obj = inner.mutate(|s| s.patch(t.res, t.ns, name, &body, false, &opts))?;
            Ok((200, obj))
        }
        "application/json-patch+json" => {
            let body = parse_body(req, false)?;
            let opts = write_opts(req, sub, "unknown");
            let obj = inner.mutate(|s| s.patch(t.res, t.ns, name, &body, true, &opts))?;
            Ok((200, obj))
        }
        other => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
            ),
        )),
    }
}

/// What a DELETE asks for.
struct DeleteOpts {
    policy: Option<String>,
    grace: Option<Duration>,
    dry_run: bool,
}

/// propagationPolicy, gracePeriodSeconds and dryRun from the query or a DeleteOptions body.
fn delete_options(req: &Req) -> Result<DeleteOpts, ApiError> {
    let mut grace = req
        .query
        .get("gracePeriodSeconds")
        .and_then(|g| g.parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut policy = req.query.get("propagationPolicy").map(str::to_string);
    let mut dry_run = req.query.get("dryRun").is_some_and(|d| !d.is_empty());
    if !req.body.is_empty() {
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
        if let Some(g) = body.get("gracePeriodSeconds").and_then(Value::as_u64) {
            grace = Some(Duration::from_secs(g));
        }
        if let Some(p) = body.get("propagationPolicy").and_then(Value::as_str) {
            policy = Some(p.to_string());
        }
        if body
            .get("orphanDependents")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            policy = Some("Orphan".into());
        }
        if body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            dry_run = true;
        }
    }
    match policy.as_deref() {
        None | Some("Orphan" | "Background" | "Foreground") => Ok(DeleteOpts {
            policy,
            grace,
            dry_run,
        }),
        Some(other) => Err(ApiError::bad_request(format!(
            "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
        ))),
    }
}

fn delete(inner: &Arc<Inner>, t: &Target, name: &str, req: &Req) -> Answer {
    let o = delete_options(req)?;
    let obj =
        inner.mutate(|s| s.delete(t.res, t.ns, name, o.policy.as_deref(), o.grace, o.dry_run))?;
    Ok((200, obj))
}

fn delete_collection(inner: &Arc<Inner>, t: &Target, req: &Req) -> Answer {
    let o = delete_options(req)?;
    let (labels, fields) = selectors(&req.query)?;
    let (items, rv) = inner.mutate(|s| {
        let keys: Vec<Key> = s
            .list(t.res, t.ns)
            .into_iter()
            .filter(|(_, v)| matches(&labels, &fields, v))
            .map(|(k, _)| k)
            .collect();
        let mut items = Vec::new();
        for k in keys {
            let ns = (!k.ns.is_empty()).then_some(k.ns.as_str());
            if let Ok(v) = s.delete(t.res, ns, &k.name, o.policy.as_deref(), o.grace, o.dry_run) {
                items.push(v);
            }
        }
        (items, s.rv)
    });
    Ok((
        200,
        json!({
            "kind": format!("{}List", t.res.kind),
            "apiVersion": t.res.api_version(),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items,
        }),
    ))
}

fn scale_of(obj: &Value) -> Value {
    let replicas = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let status_replicas = obj
        .pointer("/status/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": replicas},
        "status": {"replicas": status_replicas, "selector": selector}
    })
}

fn get_scale(inner: &Arc<Inner>, t: &Target, name: &str) -> Answer {
    let obj = inner
        .lock()
        .get(&Key::new(t.res, t.ns, name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(t.res, name))?;
    Ok((200, scale_of(&obj)))
}

fn write_scale(inner: &Arc<Inner>, t: &Target, name: &str, req: &Req) -> Answer {
    let body = parse_body(req, true)?;
    let ct = req.content_type.to_ascii_lowercase();
    let opts = write_opts(req, Some("scale"), "unknown");
    let key = Key::new(t.res, t.ns, name);
    inner.mutate(|s| {
        let live = s
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(t.res, name))?;
        let mut scale = scale_of(&live);
        if ct.starts_with("application/json-patch+json") {
            super::fields::json_patch(&mut scale, &body)
                .map_err(|e| ApiError::new(422, "Invalid", e))?;
        } else if req.method == "PUT" {
            scale = body;
        } else {
            super::fields::merge_patch(&mut scale, &body);
        }
        let Some(replicas) = scale.pointer("/spec/replicas").and_then(Value::as_i64) else {
            return Err(ApiError::invalid(
                t.res,
                name,
                "spec.replicas",
                "Required value",
            ));
        };
        if replicas < 0 {
            return Err(ApiError::invalid(
                t.res,
                name,
                "spec.replicas",
                "Invalid value: must be greater than or equal to 0",
            ));
        }
        let mut new = live.clone();
        new["spec"]["replicas"] = json!(replicas);
        let stored = if opts.dry_run {
            new
        } else {
            s.update_internal(&key, new, &opts.manager, Some("scale"))
        };
        Ok((200, scale_of(&stored)))
    })
}

fn logs(inner: &Arc<Inner>, t: &Target, name: &str, req: &Req) -> Response {
    let result = (|| -> Result<String, ApiError> {
        let s = inner.lock();
        let pod = s
            .get(&Key::new(t.res, t.ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(t.res, name))?;
        let containers: Vec<String> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let container = match req.query.get("container") {
            Some(c) if !c.is_empty() => {
                if !containers.iter().any(|x| x == c) {
                    return Err(ApiError::bad_request(format!(
                        "container {c} is not valid for pod {name}"
                    )));
                }
                c.to_string()
            }
            _ if containers.len() == 1 => containers[0].clone(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                )));
            }
        };
        // As the kubelet picks the container whose log to serve.
        let status = pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("name").and_then(Value::as_str) == Some(container.as_str()))
            })
            .cloned();
        let state = |ptr: &str| status.as_ref().and_then(|st| st.pointer(ptr));
        let last_run = state("/lastState/terminated").filter(|term| {
            term.get("containerID")
                .and_then(Value::as_str)
                .is_some_and(|id| !id.is_empty())
        });
        if req.query.flag("previous") {
            if last_run.is_none() {
                return Err(ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                )));
            }
        } else if state("/state/running").is_none()
            && state("/state/terminated").is_none()
            && last_run.is_none()
            && let Some(w) = state("/state/waiting")
        {
            let reason = w.get("reason").and_then(Value::as_str).unwrap_or("");
            let why = if reason.contains("Image") {
                "trying and failing to pull image"
            } else if reason.is_empty() {
                "ContainerCreating"
            } else {
                reason
            };
            return Err(ApiError::bad_request(format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: {why}"
            )));
        }
        let ns = t.ns.unwrap_or("");
        let image = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("name").and_then(Value::as_str) == Some(container.as_str()))
            })
            .and_then(|c| c.get("image").and_then(Value::as_str))
            .unwrap_or("");
        // Every run of a crashing image prints its lines.
        let crashed = s
            .crashing_image(image)
            .map(|c| c.lines.iter().map(|l| format!("{l}\n")).collect::<String>());
        let custom = crashed.or_else(|| {
            s.pod_logs
                .iter()
                .rev()
                .find(|(n, prefix, _)| n == ns && name.starts_with(prefix.as_str()))
                .map(|(_, _, text)| text.clone())
        });
        let text = custom.unwrap_or_else(|| {
            let started = pod
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .unwrap_or("1970-01-01T00:00:00Z")
                .to_string();
            (1..=20)
                .map(|i| format!("{started} INFO [{container}] pod {name}: fake log line {i}\n"))
                .collect()
        });
        let mut lines: Vec<&str> = text.lines().collect();
        if let Some(n) = req
            .query
            .get("tailLines")
            .and_then(|n| n.parse::<usize>().ok())
            && lines.len() > n
        {
            lines = lines.split_off(lines.len() - n);
        }
        let mut out = String::new();
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
        if let Some(limit) = req
            .query
            .get("limitBytes")
            .and_then(|n| n.parse::<usize>().ok())
            && out.len() > limit
        {
            let mut cut = limit;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
        }
        Ok(out)
    })();
    match result {
        Ok(text) => text_response(200, text),
        Err(e) => error_response(&e),
    }
}

/// Renders one logged event for a watcher, or None when the watcher does not see it.
fn render_event(
    ev: &Event,
    res: &Res,
    ns: Option<&str>,
    labels: &[LabelReq],
    fields: &[FieldReq],
) -> Option<Value> {
    if ev.group != res.group || ev.plural != res.plural {
        return None;
    }
    if let Some(ns) = ns
        && res.namespaced
        && ev.ns != ns
    {
        return None;
    }
    let now_matches = matches(labels, fields, &ev.new);
    let kind = match ev.kind {
        "MODIFIED" => {
            let before = ev.old.as_ref().is_some_and(|o| matches(labels, fields, o));
            match (before, now_matches) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return None,
            }
        }
        other => {
            if !now_matches {
                return None;
            }
            other
        }
    };
    Some(json!({"type": kind, "object": ev.new}))
}

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

fn watch(inner: &Arc<Inner>, t: &Target, req: &Req) -> Response {
    let (labels, mut fields) = match selectors(&req.query) {
        Ok(x) => x,
        Err(e) => return error_response(&e),
    };
    if let Some(name) = t.name {
        fields.push(("metadata.name".into(), true, name.to_string()));
    }
    let res = t.res;
    let ns = t.ns.map(str::to_string);
    let send_initial = req.query.flag("sendInitialEvents");
    let bookmarks = req.query.flag("allowWatchBookmarks");
    let timeout = req
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .unwrap_or(1800);
    let requested_rv = req.query.get("resourceVersion").unwrap_or("").to_string();
    let from_rv: Option<u64> = if requested_rv.is_empty() || requested_rv == "0" || send_initial {
        None
    } else {
        match requested_rv.parse() {
            Ok(rv) => Some(rv),
            Err(_) => {
                return error_response(&ApiError::bad_request(format!(
                    "resourceVersion: Invalid value: \"{requested_rv}\": must be an integer"
                )));
            }
        }
    };
    let mut rv_rx = inner.rv_tx.subscribe();
    let mut breaks = inner.watch_breaks.subscribe();
    // the initial state and the starting point under the same lock
    let (initial, start, expired) = {
        let s = inner.lock();
        match from_rv {
            None => {
                let items: Vec<Value> = s
                    .list(res, ns.as_deref())
                    .into_iter()
                    .map(|(_, v)| v)
                    .filter(|v| matches(&labels, &fields, v))
                    .collect();
                (items, s.rv, false)
            }
            Some(rv) => (Vec::new(), rv, rv < s.log_floor),
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let inner = Arc::clone(inner);
    tokio::spawn(async move {
        if expired {
            let status = status_body(
                410,
                "Expired",
                &format!("too old resource version: {start}"),
                None,
            );
            let _ = tx
                .send(line(&json!({"type": "ERROR", "object": status})))
                .await;
            return;
        }
        for obj in initial {
            if tx
                .send(line(&json!({"type": "ADDED", "object": obj})))
                .await
                .is_err()
            {
                return;
            }
        }
        let bookmark = |rv: u64, end: bool| {
            let mut meta = json!({"resourceVersion": rv.to_string()});
            if end {
                meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            line(&json!({"type": "BOOKMARK", "object": {
                "kind": res.kind, "apiVersion": res.api_version(), "metadata": meta
            }}))
        };
        if send_initial && tx.send(bookmark(start, true)).await.is_err() {
            return;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.tick().await;
        let mut last = start;
        loop {
            let (events, current, floor) = {
                let s = inner.lock();
                let from = s.log.partition_point(|e| e.rv <= last);
                let events: Vec<Arc<Event>> = s.log.range(from..).cloned().collect();
                (events, s.rv, s.log_floor)
            };
            if last < floor {
                let status = status_body(410, "Expired", "too old resource version", None);
                let _ = tx
                    .send(line(&json!({"type": "ERROR", "object": status})))
                    .await;
                return;
            }
            for ev in events {
                if let Some(v) = render_event(&ev, res, ns.as_deref(), &labels, &fields)
                    && tx.send(line(&v)).await.is_err()
                {
                    return;
                }
            }
            last = last.max(current);
            tokio::select! {
                changed = rv_rx.changed() => if changed.is_err() { return },
                _ = breaks.changed() => return,
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tx.closed() => return,
                _ = tick.tick(), if bookmarks => {
                    if tx.send(bookmark(last, false)).await.is_err() { return }
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, Infallible>(b), rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}
