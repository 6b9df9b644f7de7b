//! `[status]`: who may read the status page (`GET /previews`) and the per-preview logs page.

use serde::Deserialize;

/// `[status]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// What is readable without the bearer token `PREVIEW_BOT_STATUS_TOKEN`.
    #[serde(default)]
    pub public: StatusAccess,
}

/// Pages readable without a token. Log lines can carry secrets, so the logs page is public only
/// when asked for (behind an authenticating proxy).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StatusAccess {
    /// Nothing: both pages need the token.
    None,
    /// The list of previews (what `/preview list` shows in chat); logs need the token.
    #[default]
    List,
    /// Both pages.
    All,
}
