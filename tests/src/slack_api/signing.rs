//! Signed slash-command requests, as Slack sends them to an app's request URL.

use super::fake_http::hmac_sha256_hex;

/// The fields of a slash-command delivery (`application/x-www-form-urlencoded`), in the order
/// Slack sends them. `None` fields are left out of the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlashCommand {
    pub token: String,
    pub team_id: String,
    pub team_domain: String,
    pub enterprise_id: Option<String>,
    pub enterprise_name: Option<String>,
    pub channel_id: String,
    pub channel_name: String,
    pub user_id: String,
    pub user_name: String,
    pub command: String,
    pub text: String,
    pub api_app_id: Option<String>,
    pub is_enterprise_install: Option<bool>,
    pub response_url: String,
    pub trigger_id: String,
}

impl SlashCommand {
    /// `/preview <text>` from `user_id` in `channel_id`, with plausible values for the rest
    /// (set `response_url` to a fake's [`super::FakeSlack::response_url`] to see the answers).
    pub fn new(channel_id: &str, user_id: &str, text: &str) -> Self {
        SlashCommand {
            token: "gIkuvaNzQIHg97ATvDxqgjtO".to_string(),
            team_id: "T0FAKE0001".to_string(),
            team_domain: "fake-workspace".to_string(),
            enterprise_id: None,
            enterprise_name: None,
            channel_id: channel_id.to_string(),
            channel_name: format!("channel-{}", channel_id.to_ascii_lowercase()),
            user_id: user_id.to_string(),
            user_name: format!("user-{}", user_id.to_ascii_lowercase()),
            command: "/preview".to_string(),
            text: text.to_string(),
            api_app_id: Some("A0PREVIEWBOT".to_string()),
            is_enterprise_install: Some(false),
            response_url: format!(
                "https://hooks.slack.com/commands/T0FAKE0001/1000000001/{}",
                "fakeResponseUrlToken0001"
            ),
            trigger_id: "1000000001.1000000002.0123456789abcdef0123456789abcdef".to_string(),
        }
    }

    pub fn with_response_url(mut self, response_url: impl Into<String>) -> Self {
        self.response_url = response_url.into();
        self
    }

    pub fn with_command(mut self, command: impl Into<String>) -> Self {
        self.command = command.into();
        self
    }

    /// The fields in delivery order.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("token", self.token.clone()),
            ("team_id", self.team_id.clone()),
            ("team_domain", self.team_domain.clone()),
        ];
        if let Some(v) = &self.enterprise_id {
            fields.push(("enterprise_id", v.clone()));
        }
        if let Some(v) = &self.enterprise_name {
            fields.push(("enterprise_name", v.clone()));
        }
        fields.extend([
            ("channel_id", self.channel_id.clone()),
            ("channel_name", self.channel_name.clone()),
            ("user_id", self.user_id.clone()),
            ("user_name", self.user_name.clone()),
            ("command", self.command.clone()),
            ("text", self.text.clone()),
        ]);
        if let Some(v) = &self.api_app_id {
            fields.push(("api_app_id", v.clone()));
        }
        if let Some(v) = self.is_enterprise_install {
            fields.push(("is_enterprise_install", v.to_string()));
        }
        fields.extend([
            ("response_url", self.response_url.clone()),
            ("trigger_id", self.trigger_id.clone()),
        ]);
        fields
    }

    /// The percent-encoded form body (`/` as `%2F`, `:` as `%3A`, space as `+`), like a real
    /// delivery.
    pub fn form_body(&self) -> String {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.fields() {
            serializer.append_pair(k, &v);
        }
        serializer.finish()
    }
}

/// `v0=` + hex(HMAC-SHA256(signing_secret, "v0:{timestamp}:{body}")), Slack's
/// `X-Slack-Signature`.
pub fn slack_signature(signing_secret: &str, timestamp: i64, body: &str) -> String {
    let base = format!("v0:{timestamp}:{body}");
    format!(
        "v0={}",
        hmac_sha256_hex(signing_secret.as_bytes(), base.as_bytes())
    )
}

/// The body and headers of a signed slash-command delivery: `Content-Type`,
/// `X-Slack-Request-Timestamp` and `X-Slack-Signature`.
pub fn signed_slash_command(
    signing_secret: &str,
    timestamp: i64,
    fields: &SlashCommand,
) -> (String, Vec<(String, String)>) {
    let body = fields.form_body();
    let headers = vec![
        (
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        (
            "X-Slack-Request-Timestamp".to_string(),
            timestamp.to_string(),
        ),
        (
            "X-Slack-Signature".to_string(),
            slack_signature(signing_secret, timestamp, &body),
        ),
    ];
    (body, headers)
}
