//! HTTP ingress: Slack slash commands, GitHub webhooks, health, readiness, metrics and the status
//! pages. Signatures are verified on the raw body before anything is parsed; oversize bodies get
//! 413.

mod admin;
mod github;
mod ops;
mod slack;
mod slack_interactions;
mod status;

use crate::bot::Bot;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use std::sync::Arc;

pub fn router(bot: Arc<Bot>) -> Router {
    let limit = bot.engine.config.bot.max_body_bytes;
    Router::new()
        .route("/slack/commands", post(slack::commands))
        .route(
            "/slack/interactions",
            post(slack_interactions::interactions),
        )
        .route("/github/webhook", post(github::webhook))
        .route("/admin/kill-switch", post(admin::kill_switch))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/previews", get(status::previews))
        .route("/previews/{namespace}/logs", get(status::logs))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(bot)
}

/// A plain-text error answer.
fn text(status: StatusCode, message: impl Into<String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, message.into()).into_response()
}

fn header<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
