//! Slack Socket Mode (`slack.mode = "socket"`): instead of Slack calling the bot's request URLs,
//! the bot opens a WebSocket to Slack and receives slash commands and button presses there, so
//! it needs no public URL for Slack.
//!
//! The protocol (<https://api.slack.com/apis/socket-mode>): `apps.connections.open` with the
//! app-level token (`xapp-...`) gives a single-use `wss://` URL; Slack greets with `hello`,
//! delivers envelopes (`{"envelope_id", "type": "slash_commands" | "interactive" | ...,
//! "accepts_response_payload", "payload"}`), each of which is acknowledged with
//! `{"envelope_id", "payload"?}` (a slash command's `payload` is its immediate answer, as the body
//! of the HTTP answer would be), and asks for a new connection with `disconnect`. Envelopes are
//! handled by [`crate::slack_requests`], exactly as the request URLs' deliveries are.
//!
//! A lost connection is reopened with a fresh URL after a jittered, bounded backoff; a
//! `disconnect` at once (unless connections keep ending within a ping interval of opening: then
//! with the backoff too), and one that stays silent for three ping intervals is replaced. An
//! envelope Slack redelivers (its ack was lost) is acknowledged again with the same answer but
//! not run twice.

use crate::bot::Bot;
use crate::retry::jittered_backoff;
use crate::slack::{OpenSocketError, SlackApi};
use crate::slack_requests::{self, Interaction, SlashCommand};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How many envelope ids are remembered to recognize redeliveries.
const REMEMBERED_ENVELOPES: usize = 1_000;

/// Time limits of the connection.
#[derive(Clone, Copy, Debug)]
pub struct SocketTiming {
    /// A WebSocket ping is sent this often; a connection that has sent nothing (not even a
    /// pong) for three intervals is considered dead and replaced.
    pub ping_interval: Duration,
    /// Opening a connection (TCP, TLS, WebSocket handshake) may take this long.
    pub connect_timeout: Duration,
    /// Reconnection backoff: the first wait is at most `backoff_base`, doubling per failure in
    /// a row up to `backoff_max`, each uniformly jittered.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for SocketTiming {
    fn default() -> Self {
        SocketTiming {
            ping_interval: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(20),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// The Socket Mode client of one bot.
pub struct SocketMode {
    bot: Arc<Bot>,
    /// A Slack client authenticated with the app-level token.
    app: SlackApi,
    /// Plain `ws://` is accepted only from a loopback test server (like `slack.api_url`).
    allow_loopback_ws: bool,
    timing: SocketTiming,
    handled: Mutex<Handled>,
}

/// Envelope ids already handled, with the answer their ack carried.
#[derive(Default)]
struct Handled {
    order: VecDeque<String>,
    answers: HashMap<String, Option<Value>>,
}

/// How one connection ended.
enum Ended {
    Shutdown,
    /// Slack asked for a new connection (`disconnect`).
    Disconnect {
        reason: String,
        greeted: bool,
    },
    /// The connection broke; `greeted` when it had worked (Slack's `hello` arrived).
    Lost {
        error: String,
        greeted: bool,
    },
}

/// What an incoming text frame asks of the connection.
enum Incoming {
    Nothing,
    Hello,
    Disconnect(String),
    Ack(Value),
}

#[derive(Deserialize)]
struct Envelope {
    envelope_id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    accepts_response_payload: bool,
    #[serde(default)]
    retry_attempt: u32,
}

impl SocketMode {
    /// `app` must be authenticated with the app-level token (`SLACK_APP_TOKEN`).
    pub fn new(bot: Arc<Bot>, app: SlackApi) -> SocketMode {
        let allow_loopback_ws = crate::slack::is_loopback_http(&bot.engine.config.slack.api_url);
        SocketMode {
            bot,
            app,
            allow_loopback_ws,
            timing: SocketTiming::default(),
            handled: Mutex::new(Handled::default()),
        }
    }

    pub fn with_timing(mut self, timing: SocketTiming) -> SocketMode {
        self.timing = timing;
        self
    }

    /// Opens the first connection and then keeps one open in the background until `stop`.
    /// A refusal that retrying cannot fix (a wrong or revoked token, Socket Mode off for the
    /// app) is an error here, so `serve` fails at start with the reason; a Slack that cannot be
    /// reached yet is retried in the background.
    pub async fn start(self, stop: CancellationToken) -> anyhow::Result<JoinHandle<()>> {
        let first = match self.open().await {
            Ok(socket) => Some(socket),
            Err(OpenError::Slack(e)) if e.is_permanent() => {
                anyhow::bail!(
                    "Slack Socket Mode: {e} (SLACK_APP_TOKEN must be the app-level token `xapp-...` \
                     with the `connections:write` scope, and Socket Mode must be enabled in the \
                     Slack app)"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "Slack Socket Mode: cannot connect yet; retrying in the background");
                None
            }
        };
        Ok(tokio::spawn(self.run(first, stop)))
    }

    async fn run(self, mut next: Option<Socket>, stop: CancellationToken) {
        // Failed attempts in a row, for the backoff.
        let mut failures = 0u32;
        loop {
            if stop.is_cancelled() {
                return;
            }
            let socket = match next.take() {
                Some(socket) => socket,
                None => match tokio::select! {
                    _ = stop.cancelled() => return,
                    opened = self.open() => opened,
                } {
                    Ok(socket) => socket,
                    Err(e) => {
                        self.bot.engine.metrics.api_error("slack");
                        failures += 1;
                        let delay = self.backoff(failures);
                        if matches!(&e, OpenError::Slack(e) if e.is_permanent()) {
                            tracing::error!(error = %e, ?delay, "Slack Socket Mode: Slack refused the connection; slash commands are not received until it is fixed");
                        } else {
                            tracing::warn!(error = %e, ?delay, "Slack Socket Mode: cannot connect; retrying");
                        }
                        if self.pause(delay, &stop).await {
                            continue;
                        }
                        return;
                    }
                },
            };
            let opened = Instant::now();
            let ended = self.connection(socket, &stop).await;
            // A connection that worked for a while resets the backoff; one that keeps ending
            // right after it opened backs off like a failed attempt.
            let steady = |greeted: bool| greeted && opened.elapsed() >= self.timing.ping_interval;
            match ended {
                Ended::Shutdown => return,
                Ended::Disconnect { reason, greeted } => {
                    failures = if steady(greeted) { 0 } else { failures + 1 };
                    tracing::info!(%reason, "Slack Socket Mode: Slack asked to reconnect");
                }
                Ended::Lost { error, greeted } => {
                    failures = if steady(greeted) { 1 } else { failures + 1 };
                    tracing::warn!(%error, "Slack Socket Mode: connection lost; reconnecting");
                }
            }
            if failures > 0 {
                let delay = self.backoff(failures);
                tracing::info!(
                    ?delay,
                    failures,
                    "Slack Socket Mode: waiting before reconnecting"
                );
                if !self.pause(delay, &stop).await {
                    return;
                }
            }
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        jittered_backoff(self.timing.backoff_base, self.timing.backoff_max, failures)
    }

    /// Sleeps `delay`; false when `stop` came first.
    async fn pause(&self, delay: Duration, stop: &CancellationToken) -> bool {
        tokio::select! {
            _ = stop.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }

    /// A fresh URL from `apps.connections.open`, connected.
    async fn open(&self) -> Result<Socket, OpenError> {
        let url = self
            .app
            .open_socket_connection()
            .await
            .map_err(OpenError::Slack)?;
        let plain_ok = self.allow_loopback_ws && is_loopback_ws(&url);
        if !(url.starts_with("wss://") || plain_ok) {
            return Err(OpenError::Connect(format!(
                "refusing the WebSocket URL {:?}: only wss:// (or ws:// on loopback for tests)",
                redact(&url)
            )));
        }
        let tls = tls_config().map_err(|e| OpenError::Connect(format!("TLS set-up: {e}")))?;
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            None,
            true,
            Some(tokio_tungstenite::Connector::Rustls(tls)),
        );
        match tokio::time::timeout(self.timing.connect_timeout, connect).await {
            Ok(Ok((socket, _response))) => Ok(socket),
            Ok(Err(e)) => Err(OpenError::Connect(format!(
                "cannot open {}: {e}",
                redact(&url)
            ))),
            Err(_) => Err(OpenError::Connect(format!(
                "no WebSocket connection to {} within {:?}",
                redact(&url),
                self.timing.connect_timeout
            ))),
        }
    }

    /// Serves one connection until it ends.
    async fn connection(&self, socket: Socket, stop: &CancellationToken) -> Ended {
        let ended = self.serve_connection(socket, stop).await;
        self.bot.engine.metrics.slack_socket(false);
        ended
    }

    async fn serve_connection(&self, socket: Socket, stop: &CancellationToken) -> Ended {
        let (mut sink, mut stream) = socket.split();
        let mut ping = tokio::time::interval(self.timing.ping_interval);
        ping.tick().await;
        let mut heard = Instant::now();
        let mut greeted = false;
        let lost = |error: String, greeted: bool| Ended::Lost { error, greeted };
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    let _ = sink.send(Message::Close(None)).await;
                    return Ended::Shutdown;
                }
                _ = ping.tick() => {
                    if heard.elapsed() > self.timing.ping_interval * 3 {
                        return lost(format!("nothing heard for {:?}", heard.elapsed()), greeted);
                    }
                    if let Err(e) = sink.send(Message::Ping(Vec::new().into())).await {
                        return lost(e.to_string(), greeted);
                    }
                }
                frame = stream.next() => {
                    heard = Instant::now();
                    let text = match frame {
                        None => return lost("closed".into(), greeted),
                        Some(Err(e)) => return lost(e.to_string(), greeted),
                        Some(Ok(Message::Close(frame))) => {
                            let why = frame.map(|f| format!("{} {}", f.code, f.reason)).unwrap_or_default();
                            return lost(format!("closed by Slack {why}").trim().to_string(), greeted);
                        }
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(_)) => continue,
                    };
                    match self.incoming(text.as_str()) {
                        Incoming::Nothing => {}
                        Incoming::Hello => {
                            greeted = true;
                            self.bot.engine.metrics.slack_socket(true);
                        }
                        Incoming::Disconnect(reason) => {
                            let _ = sink.send(Message::Close(None)).await;
                            return Ended::Disconnect { reason, greeted };
                        }
                        Incoming::Ack(ack) => {
                            if let Err(e) = sink.send(Message::Text(ack.to_string().into())).await {
                                return lost(e.to_string(), greeted);
                            }
                        }
                    }
                }
            }
        }
    }

    /// What a text frame means; envelopes are handled here and answered with their ack.
    fn incoming(&self, text: &str) -> Incoming {
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(e) => {
                tracing::warn!(error = %e, length = text.len(), "Slack Socket Mode: ignoring a frame that is not JSON");
                return Incoming::Nothing;
            }
        };
        match value.get("type").and_then(Value::as_str) {
            Some("hello") => {
                tracing::info!(
                    connections = value["num_connections"].as_u64().unwrap_or(0),
                    "Slack Socket Mode: connected"
                );
                return Incoming::Hello;
            }
            Some("disconnect") => {
                let reason = value["reason"].as_str().unwrap_or("unknown").to_string();
                if reason == "link_disabled" {
                    tracing::error!(
                        "Slack Socket Mode was turned off for the app (disconnect: link_disabled)"
                    );
                }
                return Incoming::Disconnect(reason);
            }
            _ => {}
        }
        let envelope: Envelope = match serde_json::from_value(value.clone()) {
            Ok(envelope) => envelope,
            Err(e) => {
                // Acknowledged when it can be, so Slack does not deliver it again and again.
                let id = value.get("envelope_id").and_then(Value::as_str);
                tracing::warn!(error = %e, envelope_id = ?id, kind = ?value.get("type"), "Slack Socket Mode: malformed message ignored");
                return match id {
                    Some(id) => Incoming::Ack(json!({ "envelope_id": id })),
                    None => Incoming::Nothing,
                };
            }
        };
        let id = envelope.envelope_id.clone();
        if let Some(answer) = self.answered(&id) {
            tracing::info!(envelope_id = %id, retry_attempt = envelope.retry_attempt, "Slack Socket Mode: redelivered envelope acknowledged again, not run twice");
            return Incoming::Ack(ack(&id, answer));
        }
        let accepts_answer = envelope.accepts_response_payload;
        let answer = self.handle(envelope).filter(|_| accepts_answer);
        self.remember(&id, answer.clone());
        Incoming::Ack(ack(&id, answer))
    }

    /// Runs an envelope through the same handling as the request URLs; the immediate answer.
    fn handle(&self, envelope: Envelope) -> Option<Value> {
        let id = &envelope.envelope_id;
        match envelope.kind.as_str() {
            "slash_commands" => match serde_json::from_value::<SlashCommand>(envelope.payload) {
                Ok(command) => Some(slack_requests::ephemeral(slack_requests::slash_command(
                    &self.bot, command,
                ))),
                Err(e) => {
                    tracing::warn!(envelope_id = %id, error = %e, "Slack Socket Mode: malformed slash command ignored");
                    None
                }
            },
            "interactive" => match serde_json::from_value::<Interaction>(envelope.payload) {
                Ok(interaction) => slack_requests::interaction(&self.bot, interaction)
                    .map(slack_requests::ephemeral),
                Err(e) => {
                    tracing::warn!(envelope_id = %id, error = %e, "Slack Socket Mode: malformed interaction ignored");
                    None
                }
            },
            other => {
                tracing::info!(envelope_id = %id, kind = %other, "Slack Socket Mode: envelope of a kind the bot does not use; acknowledged");
                None
            }
        }
    }

    /// The answer an already handled envelope was acknowledged with.
    fn answered(&self, id: &str) -> Option<Option<Value>> {
        let handled = self.handled.lock().unwrap_or_else(|p| p.into_inner());
        handled.answers.get(id).cloned()
    }

    fn remember(&self, id: &str, answer: Option<Value>) {
        let mut handled = self.handled.lock().unwrap_or_else(|p| p.into_inner());
        if handled.answers.insert(id.to_string(), answer).is_none() {
            handled.order.push_back(id.to_string());
        }
        while handled.order.len() > REMEMBERED_ENVELOPES {
            if let Some(old) = handled.order.pop_front() {
                handled.answers.remove(&old);
            }
        }
    }
}

fn ack(id: &str, answer: Option<Value>) -> Value {
    match answer {
        Some(payload) => json!({ "envelope_id": id, "payload": payload }),
        None => json!({ "envelope_id": id }),
    }
}

#[derive(Debug, thiserror::Error)]
enum OpenError {
    #[error(transparent)]
    Slack(OpenSocketError),
    #[error("{0}")]
    Connect(String),
}

/// The connection URL without its query (the ticket is a credential for one connection).
fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn is_loopback_ws(url: &str) -> bool {
    url.strip_prefix("ws://").is_some_and(|rest| {
        rest.starts_with("127.") || rest.starts_with("localhost") || rest.starts_with("[::1]")
    })
}

/// TLS to Slack with the same trust roots as the Web API client (webpki's), over ring.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_use_plain_websockets() {
        assert!(is_loopback_ws("ws://127.0.0.1:4000/link/?ticket=1"));
        assert!(is_loopback_ws("ws://localhost:4000/"));
        assert!(!is_loopback_ws("ws://wss-primary.slack.com/link/"));
        assert!(!is_loopback_ws("wss://127.0.0.1:4000/"));
        assert_eq!(
            redact("wss://wss-primary.slack.com/link/?ticket=secret&app_id=A1"),
            "wss://wss-primary.slack.com/link/"
        );
    }

    #[test]
    fn acks_carry_the_answer_only_when_there_is_one() {
        assert_eq!(ack("e1", None), json!({"envelope_id": "e1"}));
        assert_eq!(
            ack("e2", Some(json!({"text": "hi"}))),
            json!({"envelope_id": "e2", "payload": {"text": "hi"}})
        );
    }
}
