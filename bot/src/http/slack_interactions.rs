//! `POST /slack/interactions`: buttons pressed in the bot's Slack messages, over Slack's request
//! URL. The signature is checked and the form parsed here; the press is handled by
//! [`crate::slack_requests::interaction`], like one arriving over Socket Mode.

use super::header;
use super::slack::{ephemeral, signature_refusal};
use crate::bot::Bot;
use crate::slack_requests::{self, Interaction};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

/// The form Slack posts: one field, `payload`, holding JSON.
#[derive(Deserialize)]
struct Form {
    payload: String,
}

pub(super) async fn interactions(
    State(bot): State<Arc<Bot>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = signature_refusal(&bot, &headers, &body) {
        return refused;
    }
    if header(&headers, "x-slack-retry-num").is_some() {
        return StatusCode::OK.into_response();
    }
    let interaction = match serde_urlencoded::from_bytes::<Form>(&body)
        .map_err(|e| e.to_string())
        .and_then(|form| {
            serde_json::from_str::<Interaction>(&form.payload).map_err(|e| e.to_string())
        }) {
        Ok(interaction) => interaction,
        Err(e) => {
            return super::text(
                StatusCode::BAD_REQUEST,
                format!("malformed interaction payload: {e}"),
            );
        }
    };
    match slack_requests::interaction(&bot, interaction) {
        Some(answer) => ephemeral(answer),
        None => StatusCode::OK.into_response(),
    }
}
