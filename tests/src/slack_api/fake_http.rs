//! Machinery shared by the fake Slack and GitHub servers: an axum server on a loopback port,
//! an ordered record of every request, and injected faults.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Largest request body the fakes read.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What an injected fault answers instead of the fake's normal behaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultResponse {
    /// This HTTP status with a short body in the service's error style.
    Status(u16),
    /// HTTP 429 with a `Retry-After` header (Slack: no body, as Slack documents).
    RateLimited { retry_after_secs: u64 },
    /// Never answers; the client has to time out.
    Hang,
    /// Exactly this status, these headers and this body.
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

/// One request as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedCall {
    /// Position among all calls to this fake, from 0.
    pub seq: usize,
    pub method: String,
    /// The raw path, as sent (not normalised).
    pub path: String,
    /// The raw query string without `?`, empty when none.
    pub query: String,
    /// Every request header, names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as (lossy) UTF-8 text.
    pub body: String,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    /// The body parsed as `application/x-www-form-urlencoded`, when it is a form.
    pub form: Option<Vec<(String, String)>>,
    /// The status answered; `None` while unanswered (or hung by a fault).
    pub status: Option<u16>,
    /// Whether an injected fault answered this call.
    pub faulted: bool,
}

impl RecordedCall {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query-string parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A parameter from the JSON body, the form body or the query string, in that order
    /// (JSON strings are returned bare, other JSON values as JSON text).
    pub fn param(&self, name: &str) -> Option<String> {
        if let Some(v) = self.json.as_ref().and_then(|j| j.get(name)) {
            return Some(match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
        if let Some(v) = self
            .form
            .as_ref()
            .and_then(|f| f.iter().find(|(k, _)| k == name))
        {
            return Some(v.1.clone());
        }
        self.query_param(name)
    }

    /// `"METHOD /path"`, what fault patterns are matched against.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A fault to inject: the next `times` requests whose method matches (any when `None`) and
/// whose path (with `?query` when there is one) contains `path_contains` get `response`
/// instead of the fake's normal answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// `Some("POST")` restricts the fault to that method (case-insensitive).
    pub method: Option<String>,
    /// A substring of `"/path?query"`; empty matches every path.
    pub path_contains: String,
    /// How many matching requests get the fault.
    pub times: usize,
    pub response: FaultResponse,
}

impl Fault {
    /// `times` requests of any method whose path contains `path_contains`.
    pub fn new(path_contains: impl Into<String>, times: usize, response: FaultResponse) -> Self {
        Fault {
            method: None,
            path_contains: path_contains.into(),
            times,
            response,
        }
    }

    /// Restricts the fault to one HTTP method.
    pub fn with_method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    fn matches(&self, incoming: &Incoming) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(incoming.method.as_str()));
        let target = if incoming.query.is_empty() {
            incoming.path.clone()
        } else {
            format!("{}?{}", incoming.path, incoming.query)
        };
        method_ok && target.contains(&self.path_contains)
    }
}

/// Calls and faults of one fake server.
#[derive(Default)]
pub(crate) struct Recorder {
    calls: Mutex<Vec<RecordedCall>>,
    faults: Mutex<Vec<Fault>>,
}

/// Locks a mutex, recovering the data from a poisoned one (a panicking test must not wedge
/// the fake for the others).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Recorder {
    pub(crate) fn record(&self, incoming: &Incoming) -> usize {
        let mut calls = lock(&self.calls);
        let seq = calls.len();
        calls.push(RecordedCall {
            seq,
            method: incoming.method.to_string(),
            path: incoming.path.clone(),
            query: incoming.query.clone(),
            headers: incoming
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: incoming.text(),
            json: incoming.json(),
            form: incoming.form(),
            status: None,
            faulted: false,
        });
        seq
    }

    pub(crate) fn finish(&self, seq: usize, status: u16, faulted: bool) {
        if let Some(call) = lock(&self.calls).get_mut(seq) {
            call.status = Some(status);
            call.faulted = faulted;
        }
    }

    pub(crate) fn mark_faulted(&self, seq: usize) {
        if let Some(call) = lock(&self.calls).get_mut(seq) {
            call.faulted = true;
        }
    }

    pub(crate) fn calls(&self) -> Vec<RecordedCall> {
        lock(&self.calls).clone()
    }

    pub(crate) fn clear_calls(&self) {
        lock(&self.calls).clear();
    }

    pub(crate) fn inject(&self, fault: Fault) {
        lock(&self.faults).push(fault);
    }

    pub(crate) fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// The first armed fault matching the request; uses one shot.
    pub(crate) fn take_fault(&self, incoming: &Incoming) -> Option<FaultResponse> {
        let mut faults = lock(&self.faults);
        let fault = faults
            .iter_mut()
            .find(|f| f.times > 0 && f.matches(incoming))?;
        fault.times -= 1;
        Some(fault.response.clone())
    }
}

/// A request read whole.
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Incoming {
    pub(crate) async fn read(req: Request) -> Result<Incoming, Response> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response())?;
        Ok(Incoming {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            headers: parts.headers,
            body,
        })
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn content_type(&self) -> String {
        self.header("content-type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> Option<Value> {
        if self.body.is_empty() {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }

    pub(crate) fn form(&self) -> Option<Vec<(String, String)>> {
        if self.content_type() != "application/x-www-form-urlencoded" {
            return None;
        }
        Some(
            url::form_urlencoded::parse(&self.body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Path segments with empty ones (from `//` or a trailing `/`) dropped, percent-decoded.
    pub(crate) fn segments(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect()
    }
}

/// Decodes `%XX` escapes (not `+`, which is literal in a path).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = [bytes[i + 1], bytes[i + 2]];
            let value = std::str::from_utf8(&hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = value {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Binds `addr` (port 0 picks a free port).
pub(crate) async fn bind(
    addr: SocketAddr,
) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves `router` on `listener` on a background task (it ends with the runtime).
pub(crate) fn spawn(listener: tokio::net::TcpListener, router: Router) {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!("fake server stopped: {e}");
        }
    });
}

/// A loopback address with an OS-chosen port.
pub(crate) fn any_loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Answers a hang fault: waits forever (the connection stays open until the client gives up).
pub(crate) async fn hang() -> Response {
    std::future::pending::<()>().await;
    StatusCode::GATEWAY_TIMEOUT.into_response()
}

/// Records `req`, applies a fault when one matches, else lets `handler` answer; records status.
pub(crate) async fn dispatch<F, Fut>(
    recorder: &Arc<Recorder>,
    req: Request,
    fault_response: fn(&FaultResponse) -> Response,
    handler: F,
) -> Response
where
    F: FnOnce(Incoming) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let incoming = match Incoming::read(req).await {
        Ok(incoming) => incoming,
        Err(response) => return response,
    };
    let seq = recorder.record(&incoming);
    if let Some(fault) = recorder.take_fault(&incoming) {
        if fault == FaultResponse::Hang {
            recorder.mark_faulted(seq);
            return hang().await;
        }
        let response = match &fault {
            FaultResponse::Raw {
                status,
                headers,
                body,
            } => raw_response(*status, headers, body),
            other => fault_response(other),
        };
        recorder.finish(seq, response.status().as_u16(), true);
        return response;
    }
    let response = handler(incoming).await;
    recorder.finish(seq, response.status().as_u16(), false);
    response
}

/// A JSON response with `application/json; charset=utf-8`.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A response with exactly this status, headers and body.
pub(crate) fn raw_response(status: u16, headers: &[(String, String)], body: &str) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// A plain-text response.
pub(crate) fn text_response(status: StatusCode, text: &str) -> Response {
    let mut response = Response::new(Body::from(text.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Hex HMAC-SHA256 of `message` under `key`.
pub(crate) fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    // HMAC accepts keys of any length, so this never fails.
    match <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}
