//! A fake Slack Web API (`/api/{method}`) and `response_url` endpoint (`/response/{id}`), answering
//! like Slack from the untouched fixtures in `shared/fixtures/slack/api`, with in-memory channels,
//! threads, an ordered call record and fault injection; and Socket Mode (`apps.connections.open`
//! and the WebSocket it points to, see `socket_mode`).
//!
//! Point slack-morphism at [`FakeSlack::api_url`] with
//! `SlackClientHyperConnector::with_connector(http_or_https).with_slack_api_url(&fake.api_url())`.

pub(crate) mod fake_http;
mod signing;
mod socket_mode;

pub use fake_http::{Fault, FaultResponse, RecordedCall};
pub use signing::{SlashCommand, signed_slash_command, slack_signature};
pub use socket_mode::{
    APP_ID, SLACK_APP_TOKEN, interactive_envelope, redelivered, slash_command_envelope,
};

use crate::fixtures;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use fake_http::{Incoming, Recorder, json_response, lock, text_response};
use regex::Regex;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

/// The bot token the fake accepts unless told otherwise.
pub const SLACK_BOT_TOKEN: &str = "xoxb-test-token";
/// Same as [`SLACK_BOT_TOKEN`].
pub const DEFAULT_BOT_TOKEN: &str = SLACK_BOT_TOKEN;

/// Start-up options of [`FakeSlack::start_with`].
#[derive(Clone, Debug)]
pub struct SlackOptions {
    /// The accepted `Authorization: Bearer` token.
    pub bot_token: String,
    /// `None`: any id matching `^[CDG][A-Z0-9]+$` is a channel; `Some`: exactly these.
    pub channels: Option<Vec<String>>,
    /// `usergroups.users.list` members per usergroup id (others answer the fixture's).
    pub usergroups: Vec<(String, Vec<String>)>,
}

impl Default for SlackOptions {
    fn default() -> Self {
        SlackOptions {
            bot_token: SLACK_BOT_TOKEN.to_string(),
            channels: None,
            usergroups: Vec::new(),
        }
    }
}

/// The first `ts` handed out is `1700000000.000100`; each next one is 100µs later.
const TS_BASE_SECS: u64 = 1_700_000_000;

/// A message as the fake stores it (the latest version after edits).
#[derive(Clone, Debug, PartialEq)]
pub struct SlackMessage {
    pub channel: String,
    pub ts: String,
    /// The thread's parent ts for a reply; `None` for a top-level message.
    pub thread_ts: Option<String>,
    /// `text` as sent (empty when only blocks/attachments were sent).
    pub text: String,
    pub blocks: Option<Value>,
    pub attachments: Option<Value>,
    /// How many successful `chat.update` calls changed it.
    pub edits: usize,
    /// Every parameter of the `chat.postMessage` call that created it.
    pub posted: Value,
}

/// A `chat.postEphemeral` message (never part of the channel history).
#[derive(Clone, Debug, PartialEq)]
pub struct EphemeralMessage {
    pub channel: String,
    pub user: String,
    pub message_ts: String,
    pub thread_ts: Option<String>,
    pub text: String,
    pub blocks: Option<Value>,
}

#[derive(Default)]
struct SlackState {
    bot_token: String,
    /// `None`: any id matching `^[CDG][A-Z0-9]+$` is a channel.
    channels: Option<BTreeSet<String>>,
    messages: BTreeMap<String, Vec<SlackMessage>>,
    ephemerals: BTreeMap<String, Vec<EphemeralMessage>>,
    responses: BTreeMap<String, Vec<Value>>,
    usergroups: BTreeMap<String, Vec<String>>,
    user_names: BTreeMap<String, String>,
    ts_counter: u64,
}

impl SlackState {
    fn next_ts(&mut self) -> String {
        self.ts_counter += 1;
        let micros = self.ts_counter * 100;
        format!(
            "{}.{:06}",
            TS_BASE_SECS + micros / 1_000_000,
            micros % 1_000_000
        )
    }

    fn channel_exists(&self, channel: &str) -> bool {
        match &self.channels {
            Some(set) => set.contains(channel),
            None => channel_id_pattern().is_match(channel),
        }
    }

    fn find_message(&self, channel: &str, ts: &str) -> Option<&SlackMessage> {
        self.messages.get(channel)?.iter().find(|m| m.ts == ts)
    }
}

fn channel_id_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[CDG][A-Z0-9]+$").unwrap_or_else(|e| panic!("{e}")))
}

fn user_id_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[UWB][A-Z0-9]+$").unwrap_or_else(|e| panic!("{e}")))
}

struct Inner {
    recorder: Arc<Recorder>,
    state: Mutex<SlackState>,
    url: String,
    socket: Arc<socket_mode::SocketServer>,
}

/// Handle on a running fake Slack; clones share the same server and state.
#[derive(Clone)]
pub struct FakeSlack {
    inner: Arc<Inner>,
    addr: SocketAddr,
}

impl std::fmt::Debug for FakeSlack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSlack")
            .field("url", &self.inner.url)
            .finish()
    }
}

impl FakeSlack {
    /// Starts on `127.0.0.1` with a free port and default options.
    pub async fn start() -> Self {
        Self::start_with(SlackOptions::default()).await
    }

    /// Starts on `127.0.0.1` with a free port.
    pub async fn start_with(options: SlackOptions) -> Self {
        Self::start_on(fake_http::any_loopback(), options)
            .await
            .unwrap_or_else(|e| panic!("fake Slack cannot bind a loopback port: {e}"))
    }

    /// Starts on a given address (port 0 picks a free one).
    pub async fn start_on(addr: SocketAddr, options: SlackOptions) -> std::io::Result<Self> {
        let (listener, bound) = fake_http::bind(addr).await?;
        let socket = socket_mode::SocketServer::start(bound.ip()).await?;
        let inner = Arc::new(Inner {
            socket,
            recorder: Arc::new(Recorder::default()),
            state: Mutex::new(SlackState {
                bot_token: options.bot_token,
                channels: options.channels.map(|c| c.into_iter().collect()),
                usergroups: options.usergroups.into_iter().collect(),
                ..SlackState::default()
            }),
            url: format!("http://{bound}"),
        });
        let router = Router::new().fallback(handle).with_state(inner.clone());
        fake_http::spawn(listener, router);
        Ok(FakeSlack { inner, addr: bound })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `{url}/api/`, the Slack api url to configure (slack-morphism then requests
    /// `/api//chat.postMessage`, which the fake accepts like `/api/chat.postMessage`).
    pub fn api_url(&self) -> String {
        format!("{}/api/", self.inner.url)
    }

    /// A `response_url` for a slash command; what is POSTed there shows in [`Self::responses`].
    pub fn response_url(&self, id: &str) -> String {
        format!("{}/response/{id}", self.inner.url)
    }

    /// The accepted bot token (default [`DEFAULT_BOT_TOKEN`]).
    pub fn bot_token(&self) -> String {
        lock(&self.inner.state).bot_token.clone()
    }

    pub fn set_bot_token(&self, token: &str) {
        lock(&self.inner.state).bot_token = token.to_string();
    }

    /// Restricts the known channels to exactly these ids (others get `channel_not_found`).
    pub fn set_channels<I, S>(&self, channels: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        lock(&self.inner.state).channels = Some(channels.into_iter().map(Into::into).collect());
    }

    /// Adds a known channel (switching to an explicit channel set if none was set).
    pub fn add_channel(&self, channel: &str) {
        lock(&self.inner.state)
            .channels
            .get_or_insert_with(BTreeSet::new)
            .insert(channel.to_string());
    }

    /// Members answered by `usergroups.users.list` for `usergroup` (unset groups answer the
    /// fixture's members).
    pub fn set_usergroup_members<I, S>(&self, usergroup: &str, users: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        lock(&self.inner.state).usergroups.insert(
            usergroup.to_string(),
            users.into_iter().map(Into::into).collect(),
        );
    }

    /// The `name` (and display/real name) `users.info` answers for `user_id`.
    pub fn set_user_name(&self, user_id: &str, name: &str) {
        lock(&self.inner.state)
            .user_names
            .insert(user_id.to_string(), name.to_string());
    }

    /// Arms a fault, e.g. `inject_fault(Fault::new("chat.postMessage", 1,
    /// FaultResponse::RateLimited { retry_after_secs: 1 }))`. Rate limiting answers 429 with
    /// `Retry-After` and no body; `Status(n)` answers `n` with a short text body.
    pub fn inject_fault(&self, fault: Fault) {
        self.inner.recorder.inject(fault);
    }

    pub fn clear_faults(&self) {
        self.inner.recorder.clear_faults();
    }

    /// Every request so far, in arrival order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.inner.recorder.calls()
    }

    /// Calls whose `"METHOD /path"` contains `pattern`.
    pub fn calls_to(&self, pattern: &str) -> Vec<RecordedCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.line().contains(pattern))
            .collect()
    }

    pub fn clear_calls(&self) {
        self.inner.recorder.clear_calls();
    }

    /// All messages of a channel (top-level and replies) in ts order.
    pub fn messages(&self, channel: &str) -> Vec<SlackMessage> {
        lock(&self.inner.state)
            .messages
            .get(channel)
            .cloned()
            .unwrap_or_default()
    }

    /// The top-level messages of a channel.
    pub fn top_level_messages(&self, channel: &str) -> Vec<SlackMessage> {
        self.messages(channel)
            .into_iter()
            .filter(|m| m.thread_ts.is_none())
            .collect()
    }

    /// The replies in the thread rooted at `ts` (excluding the root), oldest first.
    pub fn thread(&self, channel: &str, ts: &str) -> Vec<SlackMessage> {
        self.messages(channel)
            .into_iter()
            .filter(|m| m.ts != ts && m.thread_ts.as_deref() == Some(ts))
            .collect()
    }

    /// One message by ts.
    pub fn message(&self, channel: &str, ts: &str) -> Option<SlackMessage> {
        lock(&self.inner.state).find_message(channel, ts).cloned()
    }

    /// Ephemeral messages posted to a channel.
    pub fn ephemerals(&self, channel: &str) -> Vec<EphemeralMessage> {
        lock(&self.inner.state)
            .ephemerals
            .get(channel)
            .cloned()
            .unwrap_or_default()
    }

    /// JSON bodies POSTed to [`Self::response_url`]`(id)`, in order.
    pub fn responses(&self, id: &str) -> Vec<Value> {
        lock(&self.inner.state)
            .responses
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// Waits (up to `timeout`) until `responses(id)` has at least `count` entries.
    pub async fn wait_for_responses(
        &self,
        id: &str,
        count: usize,
        timeout: std::time::Duration,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.responses(id);
            if got.len() >= count || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits (up to `timeout`) until the channel holds at least `count` messages.
    pub async fn wait_for_messages(
        &self,
        channel: &str,
        count: usize,
        timeout: std::time::Duration,
    ) -> Vec<SlackMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.messages(channel);
            if got.len() >= count || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

fn fault_response(fault: &FaultResponse) -> Response {
    match fault {
        FaultResponse::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            text_response(status, status.canonical_reason().unwrap_or("error"))
        }
        // As documented (fixture `conversations.info.ratelimited.http`): status line and
        // Retry-After, no body.
        FaultResponse::RateLimited { retry_after_secs } => fake_http::raw_response(
            429,
            &[("Retry-After".to_string(), retry_after_secs.to_string())],
            "",
        ),
        FaultResponse::Hang | FaultResponse::Raw { .. } => {
            text_response(StatusCode::INTERNAL_SERVER_ERROR, "unreachable fault")
        }
    }
}

async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let recorder = inner.recorder.clone();
    fake_http::dispatch(&recorder, req, fault_response, |incoming| async move {
        route(&inner, incoming)
    })
    .await
}

fn route(inner: &Inner, incoming: Incoming) -> Response {
    let segments = incoming.segments();
    match segments.as_slice() {
        [api, method] if api == "api" => api_call(inner, method, &incoming),
        [response, id] if response == "response" => response_url_call(inner, id, &incoming),
        _ => text_response(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// Slack's error envelope (HTTP 200).
fn slack_error(code: &str) -> Response {
    json_response(StatusCode::OK, &json!({ "ok": false, "error": code }))
}

/// The method's parameters: query string, then the form or JSON body on top.
fn parameters(incoming: &Incoming) -> Result<Map<String, Value>, &'static str> {
    let mut params = Map::new();
    for (k, v) in incoming.query_pairs() {
        params.insert(k, Value::String(v));
    }
    if incoming.body.is_empty() {
        return Ok(params);
    }
    match incoming.content_type().as_str() {
        "application/json" => match serde_json::from_slice::<Value>(&incoming.body) {
            Ok(Value::Object(body)) => {
                // Slack ignores a token inside a JSON body (it must come as a header).
                params.extend(body.into_iter().filter(|(k, _)| k != "token"));
                Ok(params)
            }
            Ok(_) => Err("json_not_object"),
            Err(_) => Err("invalid_json"),
        },
        "application/x-www-form-urlencoded" | "" => {
            for (k, v) in url::form_urlencoded::parse(&incoming.body) {
                params.insert(k.into_owned(), Value::String(v.into_owned()));
            }
            Ok(params)
        }
        "multipart/form-data" => Ok(params),
        _ => Err("invalid_form_data"),
    }
}

fn str_param<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A structured parameter (`blocks`, `attachments`): a JSON value in a JSON body, or a JSON
/// string in a form.
fn structured_param(params: &Map<String, Value>, name: &str) -> Result<Option<Value>, ()> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| ()),
        Some(other) => Ok(Some(other.clone())),
    }
}

const KNOWN_METHODS: &[&str] = &[
    "apps.connections.open",
    "auth.test",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "users.info",
    "usergroups.users.list",
    "conversations.info",
];

fn api_call(inner: &Inner, method: &str, incoming: &Incoming) -> Response {
    if !KNOWN_METHODS.contains(&method) {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({ "ok": false, "error": "unknown_method", "req_method": method }),
        );
    }
    let params = match parameters(incoming) {
        Ok(p) => p,
        Err(code) => return slack_error(code),
    };
    let header_token = incoming
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let token = header_token.or_else(|| str_param(&params, "token"));
    if method == "apps.connections.open" {
        // Only the app-level token opens connections; a bot token is the wrong type.
        let bot_token = lock(&inner.state).bot_token.clone();
        return match token {
            None => slack_error("not_authed"),
            Some(t) if t == inner.socket.app_token() => json_response(
                StatusCode::OK,
                &json!({ "ok": true, "url": inner.socket.issue_url() }),
            ),
            Some(t) if t == bot_token => slack_error("not_allowed_token_type"),
            Some(_) => slack_error("invalid_auth"),
        };
    }
    let mut state = lock(&inner.state);
    match token {
        None => return slack_error("not_authed"),
        Some(t) if t != state.bot_token => return slack_error("invalid_auth"),
        Some(_) => {}
    }
    match method {
        "auth.test" => json_response(
            StatusCode::OK,
            &json!({
                "ok": true,
                "url": "https://fake-workspace.slack.com/",
                "team": "Fake Workspace",
                "user": "preview-bot",
                "team_id": "T0FAKE0001",
                "user_id": "U0PREVIEWBOT",
                "bot_id": "B0PREVIEWBOT",
                "is_enterprise_install": false
            }),
        ),
        "chat.postMessage" => post_message(&mut state, &params),
        "chat.update" => update_message(&mut state, &params),
        "chat.postEphemeral" => post_ephemeral(&mut state, &params),
        "users.info" => users_info(&state, &params),
        "usergroups.users.list" => usergroup_members(&state, &params),
        "conversations.info" => conversations_info(&state, &params),
        _ => slack_error("unknown_method"),
    }
}

fn post_message(state: &mut SlackState, params: &Map<String, Value>) -> Response {
    let Some(channel) = str_param(params, "channel").map(str::to_string) else {
        return slack_error("channel_not_found");
    };
    if !state.channel_exists(&channel) {
        return slack_error("channel_not_found");
    }
    let Ok(blocks) = structured_param(params, "blocks") else {
        return slack_error("invalid_blocks_format");
    };
    if blocks.as_ref().is_some_and(|b| !b.is_array()) {
        return slack_error("invalid_blocks_format");
    }
    let Ok(attachments) = structured_param(params, "attachments") else {
        return slack_error("invalid_attachments");
    };
    let text = str_param(params, "text").unwrap_or_default().to_string();
    let has_blocks = blocks
        .as_ref()
        .and_then(Value::as_array)
        .is_some_and(|b| !b.is_empty());
    let has_attachments = attachments
        .as_ref()
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if text.is_empty() && !has_blocks && !has_attachments {
        return slack_error("no_text");
    }
    // A reply to a reply joins the parent's thread, as in Slack.
    let thread_ts = str_param(params, "thread_ts").map(|ts| {
        state
            .find_message(&channel, ts)
            .and_then(|m| m.thread_ts.clone())
            .unwrap_or_else(|| ts.to_string())
    });
    let ts = state.next_ts();
    let message = SlackMessage {
        channel: channel.clone(),
        ts: ts.clone(),
        thread_ts: thread_ts.clone(),
        text: text.clone(),
        blocks: blocks.clone(),
        attachments: attachments.clone(),
        edits: 0,
        posted: Value::Object(params.clone()),
    };
    state
        .messages
        .entry(channel.clone())
        .or_default()
        .push(message);

    let mut answer = fixtures::json("slack/api/chat.postMessage.ok.json");
    answer["channel"] = json!(channel);
    answer["ts"] = json!(ts);
    let msg = &mut answer["message"];
    msg["ts"] = json!(ts);
    msg["text"] = json!(text);
    if let Some(obj) = msg.as_object_mut() {
        obj.remove("attachments");
        if let Some(blocks) = blocks {
            obj.insert("blocks".into(), blocks);
        }
        if let Some(attachments) = attachments {
            obj.insert("attachments".into(), attachments);
        }
        if let Some(thread_ts) = thread_ts {
            obj.insert("thread_ts".into(), json!(thread_ts));
        }
    }
    json_response(StatusCode::OK, &answer)
}

fn update_message(state: &mut SlackState, params: &Map<String, Value>) -> Response {
    let Some(channel) = str_param(params, "channel").map(str::to_string) else {
        return slack_error("channel_not_found");
    };
    if !state.channel_exists(&channel) {
        return slack_error("channel_not_found");
    }
    let Some(ts) = str_param(params, "ts").map(str::to_string) else {
        return slack_error("message_not_found");
    };
    let Ok(blocks) = structured_param(params, "blocks") else {
        return slack_error("invalid_blocks_format");
    };
    let Ok(attachments) = structured_param(params, "attachments") else {
        return slack_error("invalid_attachments");
    };
    let text = str_param(params, "text").map(str::to_string);
    let Some(message) = state
        .messages
        .get_mut(&channel)
        .and_then(|msgs| msgs.iter_mut().find(|m| m.ts == ts))
    else {
        return slack_error("message_not_found");
    };
    if let Some(text) = &text {
        message.text = text.clone();
    }
    if blocks.is_some() {
        message.blocks = blocks.clone();
    }
    if attachments.is_some() {
        message.attachments = attachments;
    }
    message.edits += 1;
    let thread_ts = message.thread_ts.clone();
    let current_text = message.text.clone();
    let current_blocks = message.blocks.clone();

    let mut answer = fixtures::json("slack/api/chat.update.ok.json");
    answer["channel"] = json!(channel);
    answer["ts"] = json!(ts);
    answer["text"] = json!(current_text);
    answer["message"]["text"] = json!(current_text);
    answer["message"]["user"] = json!("U0PREVIEWBOT");
    if let (Some(obj), Some(blocks)) = (answer["message"].as_object_mut(), current_blocks) {
        obj.insert("blocks".into(), blocks);
    }
    if let Some(thread_ts) = thread_ts {
        answer["thread_ts"] = json!(thread_ts);
    }
    json_response(StatusCode::OK, &answer)
}

fn post_ephemeral(state: &mut SlackState, params: &Map<String, Value>) -> Response {
    let Some(channel) = str_param(params, "channel").map(str::to_string) else {
        return slack_error("channel_not_found");
    };
    if !state.channel_exists(&channel) {
        return slack_error("channel_not_found");
    }
    let Some(user) = str_param(params, "user").map(str::to_string) else {
        return slack_error("user_not_found");
    };
    if !user_id_pattern().is_match(&user) && !state.user_names.contains_key(&user) {
        return slack_error("user_not_found");
    }
    let Ok(blocks) = structured_param(params, "blocks") else {
        return slack_error("invalid_blocks_format");
    };
    let text = str_param(params, "text").unwrap_or_default().to_string();
    if text.is_empty() && blocks.is_none() {
        return slack_error("no_text");
    }
    let message_ts = state.next_ts();
    state
        .ephemerals
        .entry(channel.clone())
        .or_default()
        .push(EphemeralMessage {
            channel,
            user,
            message_ts: message_ts.clone(),
            thread_ts: str_param(params, "thread_ts").map(str::to_string),
            text,
            blocks,
        });
    json_response(
        StatusCode::OK,
        &json!({ "ok": true, "message_ts": message_ts }),
    )
}

fn users_info(state: &SlackState, params: &Map<String, Value>) -> Response {
    let Some(user) = str_param(params, "user") else {
        return json_response(
            StatusCode::OK,
            &fixtures::json("slack/api/users.info.error-user_not_found.json"),
        );
    };
    let name = state.user_names.get(user);
    if name.is_none() && !user_id_pattern().is_match(user) {
        return json_response(
            StatusCode::OK,
            &fixtures::json("slack/api/users.info.error-user_not_found.json"),
        );
    }
    let mut answer = fixtures::json("slack/api/users.info.ok.json");
    answer["user"]["id"] = json!(user);
    if let Some(name) = name {
        answer["user"]["name"] = json!(name);
        answer["user"]["real_name"] = json!(name);
        let profile = &mut answer["user"]["profile"];
        for key in [
            "display_name",
            "display_name_normalized",
            "real_name",
            "real_name_normalized",
        ] {
            profile[key] = json!(name);
        }
    }
    json_response(StatusCode::OK, &answer)
}

fn usergroup_members(state: &SlackState, params: &Map<String, Value>) -> Response {
    let Some(group) = str_param(params, "usergroup") else {
        return slack_error("no_such_subteam");
    };
    let mut answer = fixtures::json("slack/api/usergroups.users.list.ok.json");
    if let Some(members) = state.usergroups.get(group) {
        answer["users"] = json!(members);
    }
    json_response(StatusCode::OK, &answer)
}

fn conversations_info(state: &SlackState, params: &Map<String, Value>) -> Response {
    let Some(channel) = str_param(params, "channel") else {
        return slack_error("channel_not_found");
    };
    if !state.channel_exists(channel) {
        return json_response(
            StatusCode::OK,
            &fixtures::json("slack/api/conversations.info.error-channel_not_found.json"),
        );
    }
    let is_im = channel.starts_with('D');
    json_response(
        StatusCode::OK,
        &json!({
            "ok": true,
            "channel": {
                "id": channel,
                "name": format!("channel-{}", channel.to_ascii_lowercase()),
                "created": TS_BASE_SECS,
                "creator": "U0PREVIEWBOT",
                "is_channel": !is_im,
                "is_group": channel.starts_with('G'),
                "is_im": is_im,
                "is_private": channel.starts_with('G'),
                "is_archived": false,
                "is_general": false,
                "is_member": true
            }
        }),
    )
}

fn response_url_call(inner: &Inner, id: &str, incoming: &Incoming) -> Response {
    if incoming.method != Method::POST {
        return text_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    }
    let body: Value = match serde_json::from_slice(&incoming.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return text_response(StatusCode::BAD_REQUEST, "invalid_payload"),
    };
    let has_content = ["text", "blocks", "attachments", "delete_original"]
        .iter()
        .any(|k| body.get(k).is_some_and(|v| !v.is_null()));
    if !has_content {
        return text_response(StatusCode::BAD_REQUEST, "no_text");
    }
    lock(&inner.state)
        .responses
        .entry(id.to_string())
        .or_default()
        .push(body);
    text_response(StatusCode::OK, "ok")
}
