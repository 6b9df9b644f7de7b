//! `GET /previews` (every preview) and `GET /previews/{namespace}/logs` (one preview's recent
//! log lines), as HTML or as JSON for `Accept: application/json`.
//!
//! Access (`[status] public`, README "Status page"): the list is public by default (it shows
//! what `/preview list` shows in chat); the logs page needs `Authorization: Bearer
//! $PREVIEW_BOT_STATUS_TOKEN` unless `public = "all"` (for a bot behind an authenticating proxy),
//! because log lines can carry secrets. Neither page reads a Secret, and the logs page reads
//! only namespaces the bot manages under its prefix.

use super::{header, text};
use crate::bot::Bot;
use crate::status_page::{LogsPage, PodLogs, StatusPage, WorkloadLogs};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header as h};
use axum::response::{Html, IntoResponse, Response};
use preview_config::StatusAccess;
use preview_deploy::cluster::AppliedRef;
use preview_deploy::{DeployError, PreviewNamespace};
use serde::Deserialize;
use std::sync::Arc;

/// Log lines per pod without `?tail=`, and the most a page shows.
const DEFAULT_TAIL: i64 = 100;
const MAX_TAIL: i64 = 1000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Page {
    List,
    Logs,
}

fn wants_json(headers: &HeaderMap) -> bool {
    header(headers, "accept").is_some_and(|a| a.contains("application/json"))
}

/// `None` when the page may be shown; else the 401 to send.
fn refusal(bot: &Bot, headers: &HeaderMap, page: Page) -> Option<Response> {
    let public = match bot.engine.config.status.public {
        StatusAccess::All => true,
        StatusAccess::List => page == Page::List,
        StatusAccess::None => false,
    };
    let given = header(headers, "authorization");
    if let (Some(token), Some(given)) = (&bot.status_token, given)
        && crate::signature::bearer_matches(token.expose(), given)
    {
        return None;
    }
    if public {
        return None;
    }
    let problem = match (&bot.status_token, given) {
        (None, _) => {
            "This page is not public and no PREVIEW_BOT_STATUS_TOKEN is set: set the token and send `Authorization: Bearer TOKEN`, or set `[status] public = \"all\"` behind an authenticating proxy."
        }
        (Some(_), Some(_)) => "Wrong bearer token.",
        (Some(_), None) => {
            "This page needs `Authorization: Bearer TOKEN` (PREVIEW_BOT_STATUS_TOKEN)."
        }
    };
    let mut response = text(StatusCode::UNAUTHORIZED, problem);
    response.headers_mut().insert(
        h::WWW_AUTHENTICATE,
        h::HeaderValue::from_static("Bearer realm=\"preview-bot\""),
    );
    Some(response)
}

pub(super) async fn previews(State(bot): State<Arc<Bot>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&bot, &headers, Page::List) {
        return refused;
    }
    let engine = &bot.engine;
    let inventory = match engine.cluster.inventory().await {
        Ok(inventory) => inventory,
        Err(e) => {
            engine.metrics.api_error("kubernetes");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot list previews: {e}"),
            );
        }
    };
    let page = StatusPage::build(&engine.config, &inventory, chrono::Utc::now(), |r| {
        engine.notifier.log_url(r)
    });
    if wants_json(&headers) {
        Json(page).into_response()
    } else {
        Html(page.html()).into_response()
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct LogsQuery {
    tail: Option<i64>,
}

pub(super) async fn logs(
    State(bot): State<Arc<Bot>>,
    Path(namespace): Path<String>,
    Query(query): Query<LogsQuery>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refusal(&bot, &headers, Page::Logs) {
        return refused;
    }
    let engine = &bot.engine;
    let not_a_preview = || {
        text(
            StatusCode::NOT_FOUND,
            format!("`{namespace}` is not a preview namespace of this bot"),
        )
    };
    // Checked before any API call: nothing outside the prefix is ever read.
    let Some(ns) = PreviewNamespace::parse(&namespace, &engine.config.bot.namespace_prefix) else {
        return not_a_preview();
    };
    let record = match engine.cluster.get_record(&ns).await {
        Ok(Some(record)) => record,
        Ok(None) | Err(DeployError::NotManaged(_)) => return not_a_preview(),
        Err(e) => {
            engine.metrics.api_error("kubernetes");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot read {namespace}: {e}"),
            );
        }
    };
    let tail = query.tail.unwrap_or(DEFAULT_TAIL).clamp(1, MAX_TAIL);
    let mut workloads = Vec::new();
    for workload in record
        .applied
        .iter()
        .filter_map(|key| AppliedRef::from_key(key))
        .filter(|a| matches!(a.kind.as_str(), "Deployment" | "StatefulSet"))
    {
        match engine
            .cluster
            .workload_logs(&ns, &workload.name, None, tail)
            .await
        {
            Ok(pods) => workloads.push(WorkloadLogs {
                workload: workload.name,
                pods: pods
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(pod, lines)| PodLogs { pod, lines })
                    .collect(),
            }),
            Err(e) => {
                engine.metrics.api_error("kubernetes");
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("cannot read the logs of {}: {e}", workload.name),
                );
            }
        }
    }
    let page = LogsPage {
        namespace: namespace.clone(),
        preview: record.id.to_string(),
        phase: record.phase.to_string(),
        tail,
        workloads,
    };
    if wants_json(&headers) {
        Json(page).into_response()
    } else {
        Html(page.html()).into_response()
    }
}
