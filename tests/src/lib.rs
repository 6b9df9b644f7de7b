//! Test doubles for preview-bot: a fake Kubernetes API server (TLS, bearer token, real
//! semantics), and fake Slack Web API and GitHub REST servers seeded from `shared/fixtures`.
//! The bot's real clients (kube, slack-morphism, octocrab) talk to them over HTTP.

pub mod fixtures;
pub mod github_api;
pub mod kube_api;
pub mod slack_api;
pub mod tls;
