//! The fake's Socket Mode: `apps.connections.open` (with the app-level token) hands out a
//! single-use `ws://127.0.0.1:PORT/link/?ticket=...` URL; a WebSocket connected there is greeted
//! with `hello` like Slack's, gets the envelopes a test pushes, `disconnect` messages or an
//! abrupt drop, and everything it sends (the acks) is recorded.
//!
//! Envelopes as Slack documents them (<https://api.slack.com/apis/socket-mode>):
//! `{"envelope_id", "type": "slash_commands", "accepts_response_payload": true, "payload": {...}}`,
//! the payload holding the slash command's form fields as JSON strings; `interactive` envelopes
//! hold the interaction payload (e.g. `block_actions`) as an object; redeliveries add
//! `retry_attempt` and `retry_reason`.

use super::SlashCommand;
use super::fake_http::lock;
use futures::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

/// The app-level token (`xapp-...`) the fake accepts for `apps.connections.open` unless told
/// otherwise.
pub const SLACK_APP_TOKEN: &str = "xapp-1-A0PREVIEWBOT-1000000001-fakeapptoken0001";
/// The app id in the connection URLs and `hello`.
pub const APP_ID: &str = "A0PREVIEWBOT";

/// A `slash_commands` envelope carrying `command`'s fields, as Socket Mode delivers it.
pub fn slash_command_envelope(envelope_id: &str, command: &SlashCommand) -> Value {
    let payload: Map<String, Value> = command
        .fields()
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    json!({
        "payload": payload,
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": true
    })
}

/// An `interactive` envelope carrying an interaction payload (`block_actions`, ...).
pub fn interactive_envelope(envelope_id: &str, payload: Value) -> Value {
    json!({
        "payload": payload,
        "envelope_id": envelope_id,
        "type": "interactive",
        "accepts_response_payload": false
    })
}

/// The same envelope delivered again, as Slack does when it saw no ack in time.
pub fn redelivered(envelope: &Value, attempt: u32) -> Value {
    let mut envelope = envelope.clone();
    envelope["retry_attempt"] = json!(attempt);
    envelope["retry_reason"] = json!("timeout");
    envelope
}

enum ToClient {
    Text(String),
    Drop,
    /// Stop reading and writing (no pongs either) but keep the TCP connection open: a
    /// connection that went silent.
    Freeze,
}

#[derive(Default)]
struct SocketState {
    app_token: String,
    next_ticket: u64,
    /// Issued, not yet used tickets (each URL connects once).
    tickets: BTreeSet<String>,
    /// WebSocket connections accepted so far.
    opened: usize,
    /// The open ones, oldest first.
    live: Vec<(usize, mpsc::UnboundedSender<ToClient>)>,
    /// Every JSON message the clients sent, in order.
    received: Vec<Value>,
    /// Messages that were not JSON.
    malformed: Vec<String>,
    /// Connection attempts refused (unknown or reused ticket).
    refused: usize,
}

pub(crate) struct SocketServer {
    addr: SocketAddr,
    state: Mutex<SocketState>,
}

impl SocketServer {
    /// Listens on a free port next to the fake's HTTP one.
    pub(crate) async fn start(ip: std::net::IpAddr) -> std::io::Result<Arc<SocketServer>> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let server = Arc::new(SocketServer {
            addr: listener.local_addr()?,
            state: Mutex::new(SocketState {
                app_token: SLACK_APP_TOKEN.to_string(),
                ..SocketState::default()
            }),
        });
        let accepting = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(accepting.clone().serve(stream));
            }
        });
        Ok(server)
    }

    pub(crate) fn app_token(&self) -> String {
        lock(&self.state).app_token.clone()
    }

    pub(crate) fn set_app_token(&self, token: &str) {
        lock(&self.state).app_token = token.to_string();
    }

    /// `apps.connections.open`: a fresh single-use URL.
    pub(crate) fn issue_url(&self) -> String {
        let mut state = lock(&self.state);
        state.next_ticket += 1;
        let ticket = format!("fake-ticket-{:04}", state.next_ticket);
        state.tickets.insert(ticket.clone());
        format!("ws://{}/link/?ticket={ticket}&app_id={APP_ID}", self.addr)
    }

    // The handshake callback's error type is tungstenite's (an HTTP response).
    #[allow(clippy::result_large_err)]
    async fn serve(self: Arc<Self>, stream: tokio::net::TcpStream) {
        let checking = self.clone();
        let check = move |request: &Request, response: Response| {
            let ticket = request.uri().query().and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "ticket")
                    .map(|(_, v)| v.into_owned())
            });
            let mut state = lock(&checking.state);
            match ticket {
                Some(ticket)
                    if request.uri().path() == "/link/" && state.tickets.remove(&ticket) =>
                {
                    Ok(response)
                }
                _ => {
                    state.refused += 1;
                    let mut refusal = ErrorResponse::new(Some("invalid ticket".to_string()));
                    *refusal.status_mut() = http::StatusCode::UNAUTHORIZED;
                    Err(refusal)
                }
            }
        };
        let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
            return;
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (id, connections) = {
            let mut state = lock(&self.state);
            let id = state.opened;
            state.opened += 1;
            state.live.push((id, tx));
            (id, state.live.len())
        };
        let hello = json!({
            "type": "hello",
            "num_connections": connections,
            "debug_info": {
                "host": "applink-fake-1",
                "build_number": 1,
                "approximate_connection_time": 18060
            },
            "connection_info": { "app_id": APP_ID }
        });
        if socket
            .send(Message::Text(hello.to_string().into()))
            .await
            .is_ok()
        {
            loop {
                tokio::select! {
                    command = rx.recv() => match command {
                        Some(ToClient::Text(text)) => {
                            if socket.send(Message::Text(text.into())).await.is_err() {
                                break;
                            }
                        }
                        // Dropping the stream closes the TCP connection without a close frame.
                        Some(ToClient::Drop) | None => break,
                        Some(ToClient::Freeze) => {
                            while let Some(command) = rx.recv().await {
                                if matches!(command, ToClient::Drop) {
                                    break;
                                }
                            }
                            break;
                        }
                    },
                    frame = socket.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            let mut state = lock(&self.state);
                            match serde_json::from_str::<Value>(text.as_str()) {
                                Ok(value) => state.received.push(value),
                                Err(_) => state.malformed.push(text.to_string()),
                            }
                        }
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
        }
        lock(&self.state).live.retain(|(live, _)| *live != id);
    }

    /// Sends `text` on the newest open connection; false when none is open.
    pub(crate) fn send(&self, text: String) -> bool {
        let state = lock(&self.state);
        match state.live.last() {
            Some((_, tx)) => tx.send(ToClient::Text(text)).is_ok(),
            None => false,
        }
    }

    pub(crate) fn drop_all(&self) -> usize {
        let state = lock(&self.state);
        for (_, tx) in &state.live {
            let _ = tx.send(ToClient::Drop);
        }
        state.live.len()
    }

    /// Freezes the newest open connection; false when none is open.
    pub(crate) fn freeze_newest(&self) -> bool {
        let state = lock(&self.state);
        match state.live.last() {
            Some((_, tx)) => tx.send(ToClient::Freeze).is_ok(),
            None => false,
        }
    }

    pub(crate) fn opened(&self) -> usize {
        lock(&self.state).opened
    }

    pub(crate) fn live(&self) -> usize {
        lock(&self.state).live.len()
    }

    pub(crate) fn received(&self) -> Vec<Value> {
        lock(&self.state).received.clone()
    }

    pub(crate) fn malformed(&self) -> Vec<String> {
        lock(&self.state).malformed.clone()
    }

    pub(crate) fn refused(&self) -> usize {
        lock(&self.state).refused
    }
}

impl super::FakeSlack {
    /// The app-level token `apps.connections.open` accepts (default [`SLACK_APP_TOKEN`]).
    pub fn app_token(&self) -> String {
        self.inner.socket.app_token()
    }

    pub fn set_app_token(&self, token: &str) {
        self.inner.socket.set_app_token(token);
    }

    /// Socket Mode connections accepted so far (each `apps.connections.open` URL connects once).
    pub fn socket_connections_opened(&self) -> usize {
        self.inner.socket.opened()
    }

    /// Socket Mode connections open now.
    pub fn socket_connections_live(&self) -> usize {
        self.inner.socket.live()
    }

    /// WebSocket connections refused for an unknown or already used ticket.
    pub fn socket_connections_refused(&self) -> usize {
        self.inner.socket.refused()
    }

    /// Waits (up to `timeout`) until `opened` connections were accepted and one is open.
    pub async fn wait_for_socket(&self, opened: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.socket_connections_opened() >= opened && self.socket_connections_live() > 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Delivers an envelope (or any JSON message) on the newest open connection; false when
    /// none is open.
    pub fn socket_send(&self, message: &Value) -> bool {
        self.inner.socket.send(message.to_string())
    }

    /// Sends a text frame as is (e.g. malformed JSON).
    pub fn socket_send_raw(&self, text: &str) -> bool {
        self.inner.socket.send(text.to_string())
    }

    /// Slack's `disconnect` message (reasons: `warning`, `refresh_requested`, `link_disabled`).
    pub fn socket_disconnect(&self, reason: &str) -> bool {
        let message = json!({
            "type": "disconnect",
            "reason": reason,
            "debug_info": { "host": "applink-fake-1" }
        });
        self.socket_send(&message)
    }

    /// Drops every open connection without a close frame, like a network failure; returns how
    /// many were open.
    pub fn socket_drop(&self) -> usize {
        self.inner.socket.drop_all()
    }

    /// The newest connection goes silent: it stays open but answers nothing, not even pings
    /// (a half-open connection); it still counts as open until [`Self::socket_drop`].
    pub fn socket_freeze(&self) -> bool {
        self.inner.socket.freeze_newest()
    }

    /// Every JSON message the clients sent (their acks), in order.
    pub fn socket_acks(&self) -> Vec<Value> {
        self.inner.socket.received()
    }

    /// Text frames the clients sent that were not JSON.
    pub fn socket_malformed(&self) -> Vec<String> {
        self.inner.socket.malformed()
    }

    /// The acks of one envelope.
    pub fn acks_of(&self, envelope_id: &str) -> Vec<Value> {
        self.socket_acks()
            .into_iter()
            .filter(|a| a["envelope_id"] == envelope_id)
            .collect()
    }

    /// Waits (up to `timeout`) for the `count`-th ack of an envelope and returns them all.
    pub async fn wait_for_acks(
        &self,
        envelope_id: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let acks = self.acks_of(envelope_id);
            if acks.len() >= count || tokio::time::Instant::now() >= deadline {
                return acks;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
