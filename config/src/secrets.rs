use crate::error::ConfigError;
use crate::model::SlackMode;
use std::fmt;

/// A secret value: never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the bot authenticates to GitHub.
#[derive(Clone, Debug)]
pub enum GitHubAuth {
    Token(Secret),
    App { app_id: u64, private_key: Secret },
}

/// The secrets of SPEC section 9, read from the environment (never from the config file).
#[derive(Clone, Debug)]
pub struct Secrets {
    pub slack_signing_secret: Option<Secret>,
    pub slack_bot_token: Option<Secret>,
    /// Slack's app-level token (`xapp-...`, scope `connections:write`), for Socket Mode.
    pub slack_app_token: Option<Secret>,
    pub github_webhook_secret: Option<Secret>,
    pub github: Option<GitHubAuth>,
    pub admin_token: Option<Secret>,
    /// Bearer token that opens the status and logs pages (`PREVIEW_BOT_STATUS_TOKEN`).
    pub status_token: Option<Secret>,
}

impl Secrets {
    /// Reads the process environment.
    pub fn from_env() -> Result<Secrets, ConfigError> {
        Secrets::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads secrets through `lookup` (the environment in production, a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Secrets, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let secret = |name: &str| get(name).map(Secret);
        let github = match (get("GITHUB_APP_ID"), get("GITHUB_TOKEN")) {
            (Some(id), _) => {
                let app_id = id.trim().parse::<u64>().map_err(|_| ConfigError::Secret {
                    variable: "GITHUB_APP_ID".into(),
                    problem: "must be the numeric GitHub App id".into(),
                })?;
                let private_key = match (
                    get("GITHUB_APP_PRIVATE_KEY"),
                    get("GITHUB_APP_PRIVATE_KEY_PATH"),
                ) {
                    (Some(pem), _) => pem,
                    (None, Some(path)) => {
                        std::fs::read_to_string(&path).map_err(|e| ConfigError::Secret {
                            variable: "GITHUB_APP_PRIVATE_KEY_PATH".into(),
                            problem: format!("cannot read {path}: {e}"),
                        })?
                    }
                    (None, None) => {
                        return Err(ConfigError::Secret {
                            variable: "GITHUB_APP_PRIVATE_KEY".into(),
                            problem: "GITHUB_APP_ID is set, so GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH is required".into(),
                        });
                    }
                };
                if !private_key.contains("PRIVATE KEY") {
                    return Err(ConfigError::Secret {
                        variable: "GITHUB_APP_PRIVATE_KEY".into(),
                        problem: "is not a PEM private key".into(),
                    });
                }
                Some(GitHubAuth::App {
                    app_id,
                    private_key: Secret(private_key),
                })
            }
            (None, Some(token)) => Some(GitHubAuth::Token(Secret(token))),
            (None, None) => None,
        };
        Ok(Secrets {
            slack_signing_secret: secret("SLACK_SIGNING_SECRET"),
            slack_bot_token: secret("SLACK_BOT_TOKEN"),
            slack_app_token: secret("SLACK_APP_TOKEN"),
            github_webhook_secret: secret("GITHUB_WEBHOOK_SECRET"),
            github,
            admin_token: secret("PREVIEW_BOT_ADMIN_TOKEN"),
            status_token: secret("PREVIEW_BOT_STATUS_TOKEN"),
        })
    }

    /// What `serve` cannot run without; names every missing variable at once. Slack's request
    /// URLs need the signing secret; Socket Mode needs the app-level token instead.
    pub fn require_for_serving(&self, slack: SlackMode) -> Result<(), ConfigError> {
        let mut missing = Vec::new();
        match slack {
            SlackMode::Http if self.slack_signing_secret.is_none() => {
                missing.push("SLACK_SIGNING_SECRET");
            }
            SlackMode::Socket => match &self.slack_app_token {
                None => missing.push("SLACK_APP_TOKEN (slack.mode = \"socket\")"),
                Some(token) if !token.expose().starts_with("xapp-") => {
                    return Err(ConfigError::Secret {
                        variable: "SLACK_APP_TOKEN".into(),
                        problem: "must be an app-level token (`xapp-...`, scope `connections:write`), not a bot token or signing secret".into(),
                    });
                }
                Some(_) => {}
            },
            SlackMode::Http => {}
        }
        if self.slack_bot_token.is_none() {
            missing.push("SLACK_BOT_TOKEN");
        }
        if self.github_webhook_secret.is_none() {
            missing.push("GITHUB_WEBHOOK_SECRET");
        }
        if self.github.is_none() {
            missing.push("GITHUB_TOKEN (or GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY)");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Secret {
                variable: missing.join(", "),
                problem: "not set".into(),
            })
        }
    }
}
