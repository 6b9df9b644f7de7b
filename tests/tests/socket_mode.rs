//! Slack Socket Mode (`slack.mode = "socket"`): slash commands and button presses arrive as
//! envelopes over the WebSocket the bot opened to the fake Slack, are acknowledged with their
//! envelope id (and a slash command's immediate answer), and do exactly what the same delivery
//! to the request URLs does. Same world as the scenarios.
#![allow(clippy::unwrap_used)]

mod support;

use preview_bot::slack::SlackApi;
use preview_bot::slack_socket::SocketMode;
use preview_config::Secret;
use preview_deploy::labels::annotations;
use preview_testkit::slack_api::{self, SlashCommand};
use serde_json::json;
use std::time::Duration;
use support::*;

async fn socket_world() -> World {
    World::start_with_options(WorldOptions {
        socket_mode: true,
        ..WorldOptions::default()
    })
    .await
}

async fn phase(world: &World) -> Option<String> {
    let ns = world.preview().await?;
    World::annotation(&ns, annotations::PHASE)
}

#[tokio::test]
async fn a_slash_command_over_socket_mode_deploys_like_one_over_http() {
    let world = socket_world().await;
    let ack = world
        .socket_command(CHANNEL, "U0DEV", "up hello#2", "env-up-1")
        .await;
    assert_eq!(ack["envelope_id"], "env-up-1", "{ack}");
    assert_eq!(ack["payload"]["response_type"], "ephemeral", "{ack}");
    let answer = ack["payload"]["text"].as_str().unwrap();
    assert!(
        answer.contains("On it") && answer.contains("hello#2"),
        "{answer}"
    );
    world.settle().await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    let ns = world.preview().await.unwrap();
    assert_eq!(
        World::annotation(&ns, annotations::SLACK_CHANNEL).as_deref(),
        Some(CHANNEL)
    );
    let over_socket = thread_texts(&world);
    assert!(
        over_socket.iter().any(|t| t.contains(URL)),
        "{over_socket:?}"
    );

    // The same command to the request URL: the same answer and the same thread.
    let http = World::start().await;
    let (status, answer) = http.slack_command(CHANNEL, "U0DEV", "up hello#2").await;
    assert_eq!(status, http::StatusCode::OK);
    assert_eq!(answer, ack["payload"], "the same immediate answer");
    http.settle().await;
    assert_eq!(phase(&http).await.as_deref(), Some("ready"));
    assert_eq!(thread_texts(&http), over_socket, "the same thread replies");

    // A status over the socket answers on the response_url like the HTTP path.
    world
        .socket_command(CHANNEL, "U0DEV", "status hello#2", "env-status-1")
        .await;
    world.settle().await;
    let responses = world.slack.responses("env-status-1");
    assert_eq!(responses.len(), 1, "{responses:?}");
    let text = responses[0]["text"].as_str().unwrap();
    assert!(text.contains("ready") && text.contains(URL), "{text}");
    // One connection, opened with the app-level token from `apps.connections.open`.
    let opens = world.slack.calls_to("apps.connections.open");
    assert_eq!(opens.len(), 1);
    assert_eq!(
        opens[0].header("authorization"),
        Some(format!("Bearer {}", slack_api::SLACK_APP_TOKEN).as_str())
    );
    assert_eq!(world.slack.socket_connections_opened(), 1);
}

#[tokio::test]
async fn the_teardown_confirmation_button_works_over_socket_mode() {
    let world = socket_world().await;
    world.label_at(HEAD_SHA).await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    world
        .socket_command(
            OPS_CHANNEL,
            ONCALL_USER,
            "kill-switch on INC-9 --teardown",
            "env-kill",
        )
        .await;
    world.settle().await;
    let answer = world.slack.responses("env-kill")[0].clone();
    let button = &answer["blocks"][1]["elements"][0];
    assert_eq!(
        button["action_id"], "kill_switch_confirm_teardown",
        "{answer}"
    );

    let press = |user: &str, response_id: &str, envelope_id: &str| {
        slack_api::interactive_envelope(
            envelope_id,
            confirm_teardown_press(&world, user, response_id),
        )
    };
    // Not on call: refused, nothing torn down.
    let ack = world
        .socket_deliver(&press("U0DEV", "dev-press", "env-press-1"))
        .await;
    assert_eq!(ack, json!({"envelope_id": "env-press-1"}));
    world.settle().await;
    let refused = world.slack.responses("dev-press")[0]["text"].to_string();
    assert!(refused.contains("on-call only"), "{refused}");
    assert!(
        world
            .preview()
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );

    let ack = world
        .socket_deliver(&press(ONCALL_USER, "oncall-press", "env-press-2"))
        .await;
    assert_eq!(ack, json!({"envelope_id": "env-press-2"}));
    world.settle().await;
    let done = world.slack.responses("oncall-press")[0]["text"].to_string();
    assert!(done.contains("Tore down 1 preview(s)"), "{done}");
    world.wait_namespace_gone(&world.ns.clone()).await;
}

#[tokio::test]
async fn a_disconnect_or_a_dropped_connection_is_replaced_with_a_fresh_url() {
    let world = socket_world().await;
    assert!(world.slack.wait_for_socket(1, Duration::from_secs(5)).await);

    // Slack asks for a new connection: the bot opens one at once, with a new URL.
    assert!(world.slack.socket_disconnect("refresh_requested"));
    assert!(
        world.slack.wait_for_socket(2, Duration::from_secs(5)).await,
        "no new connection after `disconnect`"
    );
    let ack = world
        .socket_command(CHANNEL, "U0DEV", "help", "env-help-1")
        .await;
    assert!(
        ack["payload"]["text"].as_str().unwrap().contains("up"),
        "{ack}"
    );

    // The connection breaks without a word: reconnected after a short, jittered backoff.
    assert_eq!(world.slack.socket_drop(), 1);
    assert!(
        world.slack.wait_for_socket(3, Duration::from_secs(5)).await,
        "no new connection after a drop"
    );
    world
        .socket_command(CHANNEL, "U0DEV", "status hello#2", "env-status-2")
        .await;
    world.settle().await;
    assert_eq!(world.slack.responses("env-status-2").len(), 1);

    // The connection goes silent (no pongs to the bot's pings): replaced after three ping
    // intervals (200 ms in this world).
    assert!(world.slack.socket_freeze());
    assert!(
        world.slack.wait_for_socket(4, Duration::from_secs(5)).await,
        "a silent connection was kept"
    );
    assert_eq!(
        world.slack.socket_drop(),
        2,
        "the silent one and the new one"
    );
    assert!(world.slack.wait_for_socket(5, Duration::from_secs(5)).await);
    world
        .socket_command(CHANNEL, "U0DEV", "help", "env-help-3")
        .await;
    assert_eq!(world.slack.calls_to("apps.connections.open").len(), 5);
    assert_eq!(world.slack.socket_connections_refused(), 0, "no URL reused");
    assert_eq!(world.slack.socket_connections_live(), 1, "one at a time");

    let engine = world.engine();
    let metrics = engine.metrics.render(&engine.config, &engine.cluster).await;
    assert!(
        metrics.contains("preview_bot_slack_socket_connected 1\n")
            && metrics.contains("preview_bot_slack_socket_connections_total 5\n"),
        "{metrics}"
    );

    // Stopping the bot closes the connection.
    world.socket_stop.cancel();
    for _ in 0..100 {
        if world.slack.socket_connections_live() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(world.slack.socket_connections_live(), 0);
    let metrics = engine.metrics.render(&engine.config, &engine.cluster).await;
    assert!(
        metrics.contains("preview_bot_slack_socket_connected 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_redelivered_envelope_is_acknowledged_again_but_runs_once() {
    let world = socket_world().await;
    let command = SlashCommand::new(CHANNEL, "U0DEV", "up hello#2")
        .with_response_url(world.slack.response_url("env-dup"));
    let envelope = slack_api::slash_command_envelope("env-dup", &command);
    let first = world.socket_deliver(&envelope).await;
    world.settle().await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    let writes = world.kube_writes();
    let messages = world.slack.messages(CHANNEL).len();
    let responses = world.slack.responses("env-dup").len();

    let again = world
        .socket_deliver(&slack_api::redelivered(&envelope, 1))
        .await;
    assert_eq!(again, first, "acknowledged with the same answer");
    world.settle().await;
    assert_eq!(world.kube_writes(), writes, "no second deploy");
    assert_eq!(world.slack.messages(CHANNEL).len(), messages);
    assert_eq!(world.slack.responses("env-dup").len(), responses);

    // Malformed deliveries are acknowledged (when they have an id) or ignored; the connection
    // keeps working.
    assert!(world.slack.socket_send_raw("{not json"));
    let missing_fields = json!({
        "envelope_id": "env-bad",
        "type": "slash_commands",
        "accepts_response_payload": true,
        "payload": {"text": "up hello#2"}
    });
    assert_eq!(
        world.socket_deliver(&missing_fields).await,
        json!({"envelope_id": "env-bad"})
    );
    let no_payload = json!({"envelope_id": "env-empty", "type": "interactive"});
    assert_eq!(
        world.socket_deliver(&no_payload).await,
        json!({"envelope_id": "env-empty"})
    );
    let ack = world
        .socket_command(CHANNEL, "U0DEV", "help", "env-help-2")
        .await;
    assert!(ack["payload"]["text"].is_string(), "{ack}");
    assert_eq!(
        world.slack.socket_connections_opened(),
        1,
        "never reconnected"
    );
    world.settle().await;
    assert_eq!(world.kube_writes(), writes);
}

#[tokio::test]
async fn an_app_token_slack_refuses_is_a_clear_start_up_error() {
    let world = World::start().await;
    let start = |token: &str| {
        let app = SlackApi::from_config(&world.config.slack, &Secret::new(token)).unwrap();
        SocketMode::new(world.bot.clone(), app).start(world.socket_stop.clone())
    };
    let error = start("xapp-1-revoked").await.unwrap_err().to_string();
    assert!(
        error.contains("invalid_auth") && error.contains("SLACK_APP_TOKEN"),
        "{error}"
    );
    let error = start(slack_api::SLACK_BOT_TOKEN)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not_allowed_token_type"), "{error}");
    assert_eq!(world.slack.socket_connections_opened(), 0);

    // The right token connects.
    let task = start(slack_api::SLACK_APP_TOKEN).await.unwrap();
    assert!(world.slack.wait_for_socket(1, Duration::from_secs(5)).await);
    world.socket_stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the client stops")
        .unwrap();
}
