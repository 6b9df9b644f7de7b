//! Kubernetes `Status` error bodies.

use super::resources::Res;
use serde_json::{Value, json};

/// An API error, rendered as a `Status` body.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

fn details(res: &Res, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": res.plural});
    if !res.group.is_empty() {
        d["group"] = json!(res.group);
    }
    d
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn not_found(res: &Res, name: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{name}\" not found", res.group_resource()),
            details: Some(details(res, name)),
        }
    }

    pub fn namespace_not_found(ns: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("namespaces \"{ns}\" not found"),
            details: Some(json!({"name": ns, "kind": "namespaces"})),
        }
    }

    pub fn no_route() -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".into(),
            details: Some(json!({})),
        }
    }

    pub fn already_exists(res: &Res, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} \"{name}\" already exists", res.group_resource()),
            details: Some(details(res, name)),
        }
    }

    pub fn stale(res: &Res, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                res.group_resource()
            ),
            details: Some(details(res, name)),
        }
    }

    pub fn terminating(res: &Res, name: &str, ns: &str) -> Self {
        let mut d = details(res, name);
        d["causes"] = json!([{
            "reason": "NamespaceTerminating",
            "message": format!("namespace {ns} is being terminated"),
            "field": "metadata.namespace"
        }]);
        ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                res.group_resource()
            ),
            details: Some(d),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn invalid(res: &Res, name: &str, field: &str, detail: &str) -> Self {
        let mut d = details(res, name);
        d["causes"] = json!([{"reason": "FieldValueInvalid", "message": detail, "field": field}]);
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!(
                "{}{} \"{name}\" is invalid: {field}: {detail}",
                res.kind,
                if res.group.is_empty() {
                    String::new()
                } else {
                    format!(".{}", res.group)
                }
            ),
            details: Some(d),
        }
    }

    /// 422 with several field causes, worded like the API server.
    pub fn invalid_causes(res: &Res, name: &str, causes: &[(String, String)]) -> Self {
        let kind = if res.group.is_empty() {
            res.kind.to_string()
        } else {
            format!("{}.{}", res.kind, res.group)
        };
        let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let message = if text.len() == 1 {
            format!("{kind} \"{name}\" is invalid: {}", text[0])
        } else {
            format!("{kind} \"{name}\" is invalid: [{}]", text.join(", "))
        };
        let mut d = details(res, name);
        d["causes"] = Value::Array(
            causes
                .iter()
                .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
                .collect(),
        );
        ApiError {
            code: 422,
            reason: "Invalid",
            message,
            details: Some(d),
        }
    }

    pub fn unauthorized() -> Self {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// The `Status` body.
    pub fn status_json(&self) -> Value {
        status_body(self.code, self.reason, &self.message, self.details.clone())
    }
}

/// A failure `Status` body.
pub(crate) fn status_body(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut v = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code
    });
    if let Some(d) = details {
        v["details"] = d;
    }
    v
}

/// The reason a bare status code stands for.
pub(crate) fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}
