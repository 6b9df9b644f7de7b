//! Kubernetes `Status` error bodies with the real reasons and wording.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::resources::ResourceDef;

/// An API error, rendered as a `Status` object.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    fn res_details(r: &ResourceDef, name: &str) -> Value {
        let mut d = json!({"name": name, "kind": r.plural});
        if !r.group.is_empty() {
            d["group"] = json!(r.group);
        }
        d
    }

    /// 404 `deployments.apps "x" not found`.
    pub fn not_found(r: &ResourceDef, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", r.qualified(), name),
        )
        .with_details(Self::res_details(r, name))
    }

    /// 404 for a path that names nothing the server knows.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    /// 409 `configmaps "x" already exists`.
    pub fn already_exists(r: &ResourceDef, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", r.qualified(), name),
        )
        .with_details(Self::res_details(r, name))
    }

    /// 409 `object is being deleted: namespaces "x" already exists`.
    pub fn being_deleted(r: &ResourceDef, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!(
                "object is being deleted: {} \"{}\" already exists",
                r.qualified(),
                name
            ),
        )
        .with_details(Self::res_details(r, name))
    }

    /// 409 optimistic-concurrency conflict.
    pub fn stale(r: &ResourceDef, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                r.qualified(),
                name
            ),
        )
        .with_details(Self::res_details(r, name))
    }

    /// 403 creating content in a Terminating namespace.
    pub fn namespace_terminating(r: &ResourceDef, name: &str, namespace: &str) -> Self {
        let mut details = Self::res_details(r, name);
        details["causes"] = json!([{
            "reason": "NamespaceTerminating",
            "message": format!("namespace {namespace} is being terminated"),
            "field": "metadata.namespace"
        }]);
        Self::new(
            403,
            "Forbidden",
            format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
                r.qualified(),
                name,
                namespace
            ),
        )
        .with_details(details)
    }

    /// 403 with a custom explanation.
    pub fn forbidden(r: &ResourceDef, name: &str, why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("{} \"{}\" is forbidden: {}", r.qualified(), name, why),
        )
        .with_details(Self::res_details(r, name))
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 422 Invalid with field causes `(field, message)`.
    pub fn invalid(r: &ResourceDef, name: &str, causes: &[(String, String)]) -> Self {
        let msgs: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let message = if msgs.len() == 1 {
            format!("{} \"{}\" is invalid: {}", r.kind, name, msgs.join(""))
        } else {
            format!("{} \"{}\" is invalid: [{}]", r.kind, name, msgs.join(", "))
        };
        let mut details = json!({"name": name, "kind": r.kind});
        if !r.group.is_empty() {
            details["group"] = json!(r.group);
        }
        details["causes"] = causes
            .iter()
            .map(|(f, m)| {
                let reason = if m.starts_with("Required value") {
                    "FieldValueRequired"
                } else if m.starts_with("Unsupported value") {
                    "FieldValueNotSupported"
                } else {
                    "FieldValueInvalid"
                };
                json!({"reason": reason, "message": m, "field": f})
            })
            .collect();
        Self::new(422, "Invalid", message).with_details(details)
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 415 for a patch type the fake does not know.
    pub fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml; got {ct}"
            ),
        )
    }

    /// An answer for an arbitrary status code (used by fault injection).
    pub fn for_code(code: u16, message: Option<String>) -> Self {
        let (reason, default_msg) = match code {
            400 => ("BadRequest", "bad request (injected fault)"),
            401 => ("Unauthorized", "Unauthorized"),
            403 => ("Forbidden", "forbidden (injected fault)"),
            404 => (
                "NotFound",
                "the server could not find the requested resource",
            ),
            405 => (
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ),
            409 => ("Conflict", "conflict (injected fault)"),
            410 => (
                "Expired",
                "the resource version is too old (injected fault)",
            ),
            422 => ("Invalid", "invalid (injected fault)"),
            429 => (
                "TooManyRequests",
                "Too many requests, please try again later.",
            ),
            500 => ("InternalError", "Internal error occurred: injected fault"),
            503 => (
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
            504 => (
                "Timeout",
                "the server was unable to return a response in the time allotted, but may still be processing the request",
            ),
            _ => ("", "injected fault"),
        };
        let mut e = Self::new(
            code,
            reason,
            message.unwrap_or_else(|| default_msg.to_string()),
        );
        if code == 500 {
            e.details = Some(json!({"causes": [{"message": "injected fault"}]}));
        }
        e
    }

    /// The `Status` object.
    pub fn body(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        if let Some(secs) = self.retry_after {
            let d = v
                .as_object_mut()
                .and_then(|o| o.get_mut("details"))
                .and_then(Value::as_object_mut);
            match d {
                Some(d) => {
                    d.insert("retryAfterSeconds".into(), json!(secs));
                }
                None => v["details"] = json!({"retryAfterSeconds": secs}),
            }
        }
        if self.reason.is_empty() {
            if let Some(o) = v.as_object_mut() {
                o.remove("reason");
            }
        }
        v
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, json_body(&self.body())).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

/// A JSON body with `Content-Type: application/json`.
pub(crate) fn json_body(v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A JSON response with a given status code.
pub(crate) fn json_response(code: u16, v: &Value) -> Response {
    let mut r = json_body(v);
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r
}

/// `{"kind":"Status","status":"Success",...}` for an immediate delete.
pub(crate) fn success(r: &ResourceDef, name: &str, uid: &str) -> Value {
    let mut details = json!({"name": name, "kind": r.plural, "uid": uid});
    if !r.group.is_empty() {
        details["group"] = json!(r.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
