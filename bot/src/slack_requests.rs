//! What Slack sends the bot, however it arrives: slash commands and button presses, delivered to
//! the request URLs (`POST /slack/commands`, `POST /slack/interactions`, verified by signature)
//! or over Socket Mode (`slack_socket`, authenticated by the connection). Both paths parse their
//! transport and hand the same fields to the functions here, which answer at once with the
//! immediate (ephemeral) reply and run the work in the background.

use crate::bot::Bot;
use crate::dispatch::{self, needs_target};
use crate::killswitch::{self, CONFIRM_TEARDOWN_ACTION};
use crate::metrics::{CommandOutcome, Source};
use crate::origin::Origin;
use preview_commands::{Action, Command, FreezeMode, KillSwitch};
use serde::Deserialize;
use serde_json::json;
use tracing::Instrument;

/// The fields of a slash command the bot uses (a form over HTTP, a JSON object over Socket
/// Mode; the same names either way).
#[derive(Debug, Deserialize)]
pub struct SlashCommand {
    pub command: String,
    #[serde(default)]
    pub text: String,
    pub channel_id: String,
    pub user_id: String,
    #[serde(default)]
    pub response_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Id {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct ActionTaken {
    pub action_id: String,
}

/// The fields of an interaction payload (`block_actions`, ...) the bot uses.
#[derive(Debug, Deserialize)]
pub struct Interaction {
    #[serde(rename = "type")]
    pub kind: String,
    pub user: Id,
    #[serde(default)]
    pub channel: Option<Id>,
    #[serde(default)]
    pub response_url: Option<String>,
    #[serde(default)]
    pub actions: Vec<ActionTaken>,
}

/// The body of an immediate answer only the user who typed the command sees.
pub fn ephemeral(message: impl Into<String>) -> serde_json::Value {
    json!({ "response_type": "ephemeral", "text": message.into() })
}

/// Handles a slash command: checks what can be checked at once, starts the work in the
/// background and returns the immediate answer's text (Slack wants one within 3 s).
pub fn slash_command(bot: &Bot, form: SlashCommand) -> String {
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
            return e.render(prefix);
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
        return format!(
            "Previews can't be managed from this channel. Use {}.",
            config
                .slack
                .allowed_channels
                .iter()
                .map(|c| format!("<#{c}>"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Action::Help { topic } = &command.action {
        let metrics = &bot.engine.metrics;
        metrics.command(name, CommandOutcome::Ok, Source::Slack);
        return preview_commands::help(topic.as_deref(), prefix);
    }
    let previews = if needs_target(&command.action) {
        match dispatch::resolve(config, command.target.as_ref(), None) {
            Ok(previews) => previews,
            Err(message) => {
                let metrics = &bot.engine.metrics;
                metrics.command(name, CommandOutcome::Invalid, Source::Slack);
                return message;
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
    ack
}

/// Handles a button press. The one the bot offers is the confirmation of a kill-switch
/// `--teardown`; pressing it runs the same command again, through the same authorization and
/// audit as typing it. Returns the immediate answer's text, `None` for an interaction the bot
/// did not offer (ignored).
pub fn interaction(bot: &Bot, interaction: Interaction) -> Option<String> {
    let confirms_teardown = interaction.kind == "block_actions"
        && interaction
            .actions
            .iter()
            .any(|a| a.action_id == CONFIRM_TEARDOWN_ACTION);
    if !confirms_teardown {
        tracing::info!(kind = %interaction.kind, "slack interaction ignored: nothing the bot offered");
        return None;
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
    Some("Confirmation received; tearing down…".to_string())
}
