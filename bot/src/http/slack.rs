//! `POST /slack/commands`: the `/preview` slash command over Slack's request URL. The signature
//! is checked and the form parsed here; the command is handled by [`crate::slack_requests`],
//! like one arriving over Socket Mode.

use super::{header, text};
use crate::bot::Bot;
use crate::signature::verify_slack;
use crate::slack_requests::{self, SlashCommand};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Checks a Slack request's signature on the raw body before anything is parsed; `Some` is the
/// refusal to answer (404 without a signing secret, 401 for a bad signature).
pub(super) fn signature_refusal(bot: &Bot, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
    let Some(secret) = &bot.slack_signing_secret else {
        return Some(text(
            StatusCode::NOT_FOUND,
            "Slack is not configured (SLACK_SIGNING_SECRET is unset)",
        ));
    };
    let error = verify_slack(
        secret.expose(),
        header(headers, "x-slack-request-timestamp"),
        header(headers, "x-slack-signature"),
        body,
        (bot.now)(),
    )
    .err()?;
    tracing::warn!(error = %error, "slack request refused");
    bot.engine.metrics.signature_failure("slack");
    Some(text(
        StatusCode::UNAUTHORIZED,
        format!("invalid Slack signature: {error}"),
    ))
}

pub(super) fn ephemeral(message: impl Into<String>) -> Response {
    Json(slack_requests::ephemeral(message)).into_response()
}

pub(super) async fn commands(
    State(bot): State<Arc<Bot>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = signature_refusal(&bot, &headers, &body) {
        return refused;
    }
    if header(&headers, "x-slack-retry-num").is_some() {
        // Slack retries only when our first answer was late; that one is being handled.
        return StatusCode::OK.into_response();
    }
    let form: SlashCommand = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("malformed slash command: {e}"),
            );
        }
    };
    ephemeral(slack_requests::slash_command(&bot, form))
}
