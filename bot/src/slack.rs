//! The Slack Web API through slack-morphism: root messages, thread replies and their updates.

use crate::retry::{RetryPolicy, Verdict, retry};
use preview_config::Secret;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::sync::Arc;

type Connector = SlackClientHyperConnector<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
>;

/// A Slack bot session: the real client pointed at `slack.api_url`.
#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackClient<Connector>>,
    token: SlackApiToken,
    /// One call's limit (a hung call is a failed one).
    timeout: std::time::Duration,
}

impl SlackApi {
    /// `api_url` is Slack's (`https://slack.com/api/`) or a test server's; plain http is accepted
    /// only for loopback test servers.
    pub fn new(api_url: &str, token: &Secret) -> anyhow::Result<SlackApi> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots();
        let https = if is_loopback_http(api_url) {
            builder.https_or_http().enable_http1().build()
        } else {
            builder.https_only().enable_http1().enable_http2().build()
        };
        // slack-morphism joins `{api_url}/{method}`: a trailing slash would give `//chat.postMessage`.
        let api_url = api_url.trim_end_matches('/');
        let connector =
            SlackClientHyperConnector::with_connector(https).with_slack_api_url(api_url);
        Ok(SlackApi {
            client: Arc::new(SlackClient::new(connector)),
            token: SlackApiToken::new(token.expose().to_string().into()),
            timeout: std::time::Duration::from_secs(20),
        })
    }

    /// The client `[slack]` describes: its API URL and call timeout.
    pub fn from_config(
        config: &preview_config::SlackConfig,
        token: &Secret,
    ) -> anyhow::Result<SlackApi> {
        let mut api = SlackApi::new(&config.api_url, token)?;
        api.timeout = config.timeout.get();
        Ok(api)
    }

    /// Posts a message (a thread reply when `thread_ts` is given); returns its ts.
    pub async fn post(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) -> anyhow::Result<String> {
        let session = self.client.open_session(&self.token);
        let mut request = SlackApiChatPostMessageRequest::new(
            channel.to_string().into(),
            SlackMessageContent::new().with_text(text.to_string()),
        );
        if let Some(ts) = thread_ts {
            request = request.with_thread_ts(ts.to_string().into());
        }
        // Not idempotent: repeated only when Slack said it did not process it (429).
        let response = call("chat.postMessage", false, self.timeout, || {
            session.chat_post_message(&request)
        })
        .await?;
        Ok(response.ts.to_string())
    }

    /// Posts a top-level message with Block Kit `blocks` (a JSON array) and `text` as the
    /// notification fallback; returns its ts.
    pub async fn post_blocks(
        &self,
        channel: &str,
        text: &str,
        blocks: &serde_json::Value,
    ) -> anyhow::Result<String> {
        let blocks: Vec<SlackBlock> = serde_json::from_value(blocks.clone())?;
        let session = self.client.open_session(&self.token);
        let request = SlackApiChatPostMessageRequest::new(
            channel.to_string().into(),
            SlackMessageContent::new()
                .with_text(text.to_string())
                .with_blocks(blocks),
        );
        let response = call("chat.postMessage", false, self.timeout, || {
            session.chat_post_message(&request)
        })
        .await?;
        Ok(response.ts.to_string())
    }

    /// Replaces the text of an earlier message (the preview's root message).
    pub async fn update(&self, channel: &str, ts: &str, text: &str) -> anyhow::Result<()> {
        let session = self.client.open_session(&self.token);
        let request = SlackApiChatUpdateRequest::new(
            channel.to_string().into(),
            SlackMessageContent::new().with_text(text.to_string()),
            ts.to_string().into(),
        );
        call("chat.update", true, self.timeout, || {
            session.chat_update(&request)
        })
        .await?;
        Ok(())
    }

    /// The user ids in a user group (`usergroups.users.list`, scope `usergroups:read`).
    pub async fn usergroup_members(&self, usergroup: &str) -> anyhow::Result<Vec<String>> {
        let session = self.client.open_session(&self.token);
        let request = SlackApiUserGroupsUsersListRequest::new(usergroup.to_string().into());
        let response = call("usergroups.users.list", true, self.timeout, || {
            session.usergroups_users_list(&request)
        })
        .await?;
        Ok(response.users.into_iter().map(|u| u.to_string()).collect())
    }

    /// Answers a slash command through its `response_url` (ephemeral: only the user sees it).
    pub async fn respond(&self, response_url: &str, text: &str) -> anyhow::Result<()> {
        self.respond_with(
            response_url,
            SlackMessageContent::new().with_text(text.to_string()),
        )
        .await
    }

    /// Answers through a `response_url` with Block Kit blocks (`text` is the fallback).
    pub async fn respond_blocks(
        &self,
        response_url: &str,
        text: &str,
        blocks: &serde_json::Value,
    ) -> anyhow::Result<()> {
        let blocks: Vec<SlackBlock> = serde_json::from_value(blocks.clone())?;
        let content = SlackMessageContent::new()
            .with_text(text.to_string())
            .with_blocks(blocks);
        self.respond_with(response_url, content).await
    }

    /// `apps.connections.open` (this client's token must be the app-level `xapp-` one): a
    /// fresh Socket Mode WebSocket URL, valid for one connection.
    pub async fn open_socket_connection(&self) -> Result<String, OpenSocketError> {
        let session = self.client.open_session(&self.token);
        let request = SlackApiAppsConnectionOpenRequest::new();
        match call_raw("apps.connections.open", true, self.timeout, || {
            session.apps_connections_open(&request)
        })
        .await
        {
            Ok(response) => Ok(response.url.value().to_string()),
            Err(SlackClientError::ApiError(e)) => Err(OpenSocketError::Refused(e.code)),
            Err(e) => Err(OpenSocketError::Unreachable(e.to_string())),
        }
    }

    async fn respond_with(
        &self,
        response_url: &str,
        content: SlackMessageContent,
    ) -> anyhow::Result<()> {
        let url: url::Url = response_url.parse()?;
        let request = SlackApiPostWebhookMessageRequest::new(content);
        let url = SlackResponseUrl::new(url);
        call("response_url", false, self.timeout, || {
            self.client.respond_to_event(&url, &request)
        })
        .await?;
        Ok(())
    }
}

/// Why `apps.connections.open` gave no URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenSocketError {
    /// Slack answered `ok: false` with this code (`invalid_auth`, `not_allowed_token_type`, ...).
    #[error("Slack refused apps.connections.open: {0}")]
    Refused(String),
    /// No answer (network, timeouts, 5xx after retries).
    #[error("Slack apps.connections.open failed: {0}")]
    Unreachable(String),
}

impl OpenSocketError {
    /// A refusal that a retry cannot fix: the token or the app's settings are wrong.
    pub fn is_permanent(&self) -> bool {
        match self {
            OpenSocketError::Refused(code) => !matches!(
                code.as_str(),
                "ratelimited"
                    | "internal_error"
                    | "fatal_error"
                    | "service_unavailable"
                    | "request_timeout"
            ),
            OpenSocketError::Unreachable(_) => false,
        }
    }
}

/// [`call_raw`] with the error as text naming the method.
async fn call<T, F, Fut>(
    method: &str,
    idempotent: bool,
    timeout: std::time::Duration,
    attempt: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ClientResult<T>>,
{
    call_raw(method, idempotent, timeout, attempt)
        .await
        .map_err(|e| anyhow::anyhow!("Slack {method}: {e}"))
}

/// One Slack Web API call with bounded retries: a 429 (honouring `Retry-After`) always, a 5xx or
/// a broken connection only for `idempotent` calls.
async fn call_raw<T, F, Fut>(
    method: &str,
    idempotent: bool,
    timeout: std::time::Duration,
    mut attempt: F,
) -> ClientResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ClientResult<T>>,
{
    let timed = || {
        let call = attempt();
        async move {
            tokio::time::timeout(timeout, call)
                .await
                .unwrap_or_else(|_| {
                    Err(SlackClientError::SystemError(
                        slack_morphism::errors::SlackClientSystemError::new()
                            .with_message(format!("no answer within {}s", timeout.as_secs_f32())),
                    ))
                })
        }
    };
    let classify = |error: &SlackClientError| match error {
        SlackClientError::RateLimitError(limit) => Verdict::Retry {
            after: limit.retry_after,
        },
        SlackClientError::HttpError(e) if idempotent && e.status_code.is_server_error() => {
            Verdict::Retry { after: None }
        }
        SlackClientError::HttpProtocolError(_) | SlackClientError::SystemError(_) if idempotent => {
            Verdict::Retry { after: None }
        }
        _ => Verdict::Fail,
    };
    retry(RetryPolicy::default(), method, timed, classify).await
}

pub(crate) fn is_loopback_http(url: &str) -> bool {
    url.strip_prefix("http://").is_some_and(|rest| {
        rest.starts_with("127.") || rest.starts_with("localhost") || rest.starts_with("[::1]")
    })
}
