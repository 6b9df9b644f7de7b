//! `POST /admin/kill-switch`: the kill switch for automation (a pager integration), with the
//! bearer token of `PREVIEW_BOT_ADMIN_TOKEN`. JSON in and out; the same semantics as the chat
//! command, audited and announced the same way.

use super::header;
use crate::bot::Bot;
use crate::killswitch;
use crate::origin::Origin;
use crate::signature::bearer_matches;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header as http_header};
use axum::response::{IntoResponse, Response};
use preview_commands::{FreezeMode, KillSwitch};
use preview_deploy::ops::AuditOutcome;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum AdminAction {
    On,
    Off,
    Status,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminRequest {
    action: AdminAction,
    #[serde(default)]
    reason: Option<String>,
    /// `freeze` (default), `scale-to-zero` or `teardown`.
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    restore: bool,
    /// A teardown deletes every preview: automation must say so explicitly.
    #[serde(default)]
    confirm: bool,
    /// Who the caller acts for (the paging service or the responder); shown in the audit log.
    #[serde(default)]
    actor: Option<String>,
}

/// The longest reason kept (the chat command has the same order of limit).
const MAX_REASON: usize = 300;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "ok": false, "error": message.into() })),
    )
        .into_response()
}

pub(super) async fn kill_switch(
    State(bot): State<Arc<Bot>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(expected) = &bot.admin_token else {
        return error(
            StatusCode::NOT_FOUND,
            "the admin endpoint is disabled: PREVIEW_BOT_ADMIN_TOKEN is not set",
        );
    };
    let authorization = header(&headers, "authorization").unwrap_or_default();
    if !bearer_matches(expected.expose(), authorization) {
        tracing::warn!("admin request with a missing or wrong token refused");
        let mut response = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        response.headers_mut().insert(
            http_header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer realm=\"preview-bot\""),
        );
        return response;
    }
    let request: AdminRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "expected JSON like {{\"action\": \"on\", \"reason\": \"INC-123\", \"mode\": \"scale-to-zero\"}}: {e}"
                ),
            );
        }
    };
    let mode = match request.mode.as_deref() {
        None | Some("freeze") => FreezeMode::Freeze,
        Some("scale-to-zero") => FreezeMode::ScaleToZero,
        Some("teardown") => FreezeMode::Teardown,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown mode {other:?}: use \"freeze\", \"scale-to-zero\" or \"teardown\""
                ),
            );
        }
    };
    if mode == FreezeMode::Teardown && !request.confirm {
        return error(
            StatusCode::BAD_REQUEST,
            "\"mode\": \"teardown\" deletes every preview; send \"confirm\": true to mean it. Nothing was changed.",
        );
    }
    if request
        .reason
        .as_ref()
        .is_some_and(|r| r.len() > MAX_REASON)
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("\"reason\" is longer than {MAX_REASON} bytes"),
        );
    }
    let command = match request.action {
        AdminAction::On => KillSwitch::On {
            reason: request.reason.clone(),
            mode,
        },
        AdminAction::Off => KillSwitch::Off {
            restore: request.restore,
        },
        AdminAction::Status => KillSwitch::Status,
    };
    let actor = request
        .actor
        .as_deref()
        .map(|a| a.chars().filter(|c| !c.is_control()).take(64).collect())
        .filter(|a: &String| !a.is_empty())
        .unwrap_or_else(|| "api".to_string());
    let origin = Origin::Admin { actor };
    let engine = &bot.engine;
    let outcome = killswitch::run(engine, &command, &origin, request.confirm).await;
    if !matches!(command, KillSwitch::Status) {
        let action = match &command {
            KillSwitch::On { .. } => "kill-switch on",
            _ => "kill-switch off",
        };
        let audit_outcome = if outcome.ok {
            AuditOutcome::Succeeded
        } else {
            AuditOutcome::Refused
        };
        engine
            .audit
            .record(
                &origin,
                action,
                "all previews",
                audit_outcome,
                &outcome.text,
            )
            .await;
    }
    let state = engine.ops.kill_switch().await.ok();
    let status = if outcome.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "ok": outcome.ok,
            "message": outcome.text,
            "kill_switch": state,
        })),
    )
        .into_response()
}
