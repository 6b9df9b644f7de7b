//! `POST /slack/commands`: the `/preview` slash command.

use super::{header, text};
use crate::bot::Bot;
use crate::dispatch::{self, needs_target};
use crate::killswitch;
use crate::metrics::{CommandOutcome, Source};
use crate::origin::Origin;
use crate::signature::verify_slack;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use preview_commands::{Action, FreezeMode, KillSwitch};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use tracing::Instrument;

/// The fields of Slack's slash-command form the bot uses.
#[derive(Debug, Deserialize)]
struct SlashCommand {
    command: String,
    #[serde(default)]
    text: String,
    channel_id: String,
    user_id: String,
    #[serde(default)]
    response_url: Option<String>,
}

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
    Json(json!({ "response_type": "ephemeral", "text": message.into() })).into_response()
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
    let config = &bot.engine.config;
    let prefix = if form.command.starts_with('/') {
        form.command.as_str()
    } else {
        "/preview"
    };
    let command = match preview_commands::parse_with(&form.text, &bot.engine.parse_options()) {
        Ok(command) => command,
        Err(e) => {
            let metrics = &bot.engine.metrics;
            metrics.command("unparsed", CommandOutcome::Invalid, Source::Slack);
            return ephemeral(e.render(prefix));
        }
    };
    let name = command.action.name();
    // On-call reaches for the kill switch from wherever the incident is discussed; being on
    // call is its gate, not the channel.
    let kill_switch = matches!(command.action, Action::KillSwitch(_));
    if !kill_switch
        && !config.slack.allowed_channels.is_empty()
        && !config.slack.allowed_channels.contains(&form.channel_id)
    {
        return ephemeral(format!(
            "Previews can't be managed from this channel. Use {}.",
            config
                .slack
                .allowed_channels
                .iter()
                .map(|c| format!("<#{c}>"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Action::Help { topic } = &command.action {
        let metrics = &bot.engine.metrics;
        metrics.command(name, CommandOutcome::Ok, Source::Slack);
        return ephemeral(preview_commands::help(topic.as_deref(), prefix));
    }
    let previews = if needs_target(&command.action) {
        match dispatch::resolve(config, command.target.as_ref(), None) {
            Ok(previews) => previews,
            Err(message) => {
                let metrics = &bot.engine.metrics;
                metrics.command(name, CommandOutcome::Invalid, Source::Slack);
                return ephemeral(message);
            }
        }
    } else {
        Vec::new()
    };
    let origin = Origin::Slack {
        channel: form.channel_id.clone(),
        user: form.user_id.clone(),
        response_url: form.response_url.clone(),
    };
    let ack = match &command.action {
        Action::Up { .. } | Action::Redeploy | Action::Down => {
            let names = previews
                .iter()
                .map(|p| p.id().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "On it: `{prefix} {command}` for {names}. Progress goes to the preview's thread."
            )
        }
        _ => format!("Looking that up: `{prefix} {command}`…"),
    };
    let engine = bot.engine.clone();
    // One span per command: every log line of its work carries the command, previews and actor.
    let span = tracing::info_span!(
        "command",
        source = "slack",
        command = name,
        previews = %crate::engine::ids(&previews),
        actor = %origin.actor(),
    );
    let work = async move {
        let outcomes = dispatch::execute(&engine, &command, &previews, &origin).await;
        let outcome = CommandOutcome::of(outcomes.iter().all(|o| o.ok));
        engine.metrics.command(name, outcome, Source::Slack);
        tracing::info!(outcome = ?outcome, "command finished");
        let asks_confirmation = matches!(
            command.action,
            Action::KillSwitch(KillSwitch::On {
                mode: FreezeMode::Teardown,
                ..
            })
        ) && killswitch::teardown_pending(&engine).await;
        for outcome in outcomes {
            if asks_confirmation && outcome.ok {
                let blocks = killswitch::confirm_teardown_blocks(&outcome.text);
                engine
                    .notifier
                    .reply_blocks(&origin, &outcome.text, &blocks)
                    .await;
            } else {
                engine.notifier.reply(&origin, &outcome.text).await;
            }
        }
    };
    bot.background.spawn(work.instrument(span));
    ephemeral(ack)
}
