//! `POST /slack/interactions`: buttons pressed in the bot's Slack messages. The one the bot
//! sends is the confirmation of a kill-switch `--teardown`; pressing it runs the same command
//! again, through the same authorization and audit as typing it.

use super::header;
use super::slack::{ephemeral, signature_refusal};
use crate::bot::Bot;
use crate::dispatch;
use crate::killswitch::CONFIRM_TEARDOWN_ACTION;
use crate::origin::Origin;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use preview_commands::{Action, Command, FreezeMode, KillSwitch};
use serde::Deserialize;
use std::sync::Arc;

/// The form Slack posts: one field, `payload`, holding JSON.
#[derive(Deserialize)]
struct Form {
    payload: String,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
struct ActionTaken {
    action_id: String,
}

/// The fields of a `block_actions` payload the bot uses.
#[derive(Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    user: Id,
    #[serde(default)]
    channel: Option<Id>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    actions: Vec<ActionTaken>,
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
    let confirms_teardown = interaction.kind == "block_actions"
        && interaction
            .actions
            .iter()
            .any(|a| a.action_id == CONFIRM_TEARDOWN_ACTION);
    if !confirms_teardown {
        tracing::info!(kind = %interaction.kind, "slack interaction ignored: nothing the bot offered");
        return StatusCode::OK.into_response();
    }
    let origin = Origin::Slack {
        channel: interaction.channel.map(|c| c.id).unwrap_or_default(),
        user: interaction.user.id,
        response_url: interaction.response_url,
    };
    let command = Command {
        action: Action::KillSwitch(KillSwitch::On {
            reason: None,
            mode: FreezeMode::Teardown,
        }),
        target: None,
    };
    let engine = bot.engine.clone();
    bot.background.spawn(async move {
        for outcome in dispatch::execute(&engine, &command, &[], &origin).await {
            engine.notifier.reply(&origin, &outcome.text).await;
        }
    });
    ephemeral("Confirmation received; tearing down…")
}
