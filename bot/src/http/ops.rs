//! `GET /readyz` and `GET /metrics`.

use super::text;
use crate::bot::Bot;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

/// Kubernetes must answer within this for the bot to count as ready.
const READY_TIMEOUT: Duration = Duration::from_secs(3);

/// Ready when the config is loaded (it is, or the process would not serve) and the Kubernetes
/// API answers `GET /version`; 503 with the reason otherwise.
pub(super) async fn readyz(State(bot): State<Arc<Bot>>) -> Response {
    let engine = &bot.engine;
    let apps = engine.config.apps.len();
    match tokio::time::timeout(READY_TIMEOUT, engine.cluster.ping()).await {
        Ok(Ok(())) => text(
            StatusCode::OK,
            format!("ready: config loaded ({apps} apps), Kubernetes API reachable\n"),
        ),
        Ok(Err(e)) => {
            engine.metrics.api_error("kubernetes");
            text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n"))
        }
        Err(_) => {
            engine.metrics.api_error("kubernetes");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "not ready: the Kubernetes API did not answer within {}s\n",
                    READY_TIMEOUT.as_secs()
                ),
            )
        }
    }
}

pub(super) async fn metrics(State(bot): State<Arc<Bot>>) -> Response {
    let engine = &bot.engine;
    // The switch is global state (another replica may have flipped it): read it per scrape.
    if let Ok(state) = engine.ops.kill_switch().await {
        engine.metrics.set_kill_switch(state.active);
    }
    let body = engine.metrics.render(&engine.config, &engine.cluster).await;
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body).into_response()
}
