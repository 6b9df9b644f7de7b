//! The GitHub REST API through octocrab: pull requests, repository archives, reactions, the
//! sticky status comment and Deployments. Calls go through `octocrab.get/post/patch` with our own
//! small response types, which keeps us independent of octocrab's models where they lag GitHub.

use http_body_util::BodyExt;
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use preview_config::GitHubAuth;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest repository archive downloaded.
const MAX_ARCHIVE_BYTES: usize = 200 * 1024 * 1024;

/// What the bot needs of a pull request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub head_sha: String,
    pub head_ref: String,
    pub author: String,
    pub open: bool,
    /// Closed by merging.
    pub merged: bool,
    pub html_url: String,
}

#[derive(Deserialize)]
struct PullResponse {
    number: u64,
    state: String,
    #[serde(default)]
    merged: bool,
    html_url: String,
    user: Option<Login>,
    head: Head,
}

#[derive(Deserialize)]
struct Head {
    sha: String,
    #[serde(rename = "ref")]
    reference: String,
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct WithId {
    id: u64,
}

/// A GitHub client for a personal/installation token, or a GitHub App that acts through the
/// installation of each repository.
#[derive(Clone)]
pub struct GitHubApi {
    root: Octocrab,
    is_app: bool,
    installations: Arc<Mutex<HashMap<String, Octocrab>>>,
}

impl GitHubApi {
    pub fn new(api_url: &str, auth: &GitHubAuth) -> anyhow::Result<GitHubApi> {
        let builder = Octocrab::builder()
            .base_uri(api_url)?
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(60)));
        let (root, is_app) = match auth {
            GitHubAuth::Token(token) => (
                builder.personal_token(token.expose().to_string()).build()?,
                false,
            ),
            GitHubAuth::App {
                app_id,
                private_key,
            } => (
                builder
                    .app_from_rsa_pem(AppId(*app_id), private_key.expose().as_bytes())?
                    .build()?,
                true,
            ),
        };
        Ok(GitHubApi {
            root,
            is_app,
            installations: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Remembers the installation a webhook named for a repository (saves a lookup).
    pub fn note_installation(
        &self,
        owner: &str,
        repo: &str,
        installation_id: u64,
    ) -> anyhow::Result<()> {
        if self.is_app {
            let client = self.root.installation(InstallationId(installation_id))?;
            if let Ok(mut map) = self.installations.lock() {
                map.insert(repo_key(owner, repo), client);
            }
        }
        Ok(())
    }

    /// The client acting for `owner/repo`.
    async fn client(&self, owner: &str, repo: &str) -> anyhow::Result<Octocrab> {
        if !self.is_app {
            return Ok(self.root.clone());
        }
        let key = repo_key(owner, repo);
        if let Some(client) = self
            .installations
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(client);
        }
        let installation: WithId = self
            .root
            .get(format!("/repos/{owner}/{repo}/installation"), None::<&()>)
            .await?;
        let client = self.root.installation(InstallationId(installation.id))?;
        if let Ok(mut map) = self.installations.lock() {
            map.insert(key, client.clone());
        }
        Ok(client)
    }

    pub async fn pull_request(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
    ) -> anyhow::Result<PullRequest> {
        let pr: PullResponse = self
            .client(owner, repo)
            .await?
            .get(format!("/repos/{owner}/{repo}/pulls/{number}"), None::<&()>)
            .await?;
        Ok(PullRequest {
            number: pr.number,
            head_sha: pr.head.sha,
            head_ref: pr.head.reference,
            author: pr.user.map(|u| u.login).unwrap_or_default(),
            open: pr.state == "open",
            merged: pr.merged,
            html_url: pr.html_url,
        })
    }

    /// The repository at `sha` as a gzip'd tarball (GitHub redirects to its archive host).
    pub async fn tarball(&self, owner: &str, repo: &str, sha: &str) -> anyhow::Result<Vec<u8>> {
        let response = self
            .client(owner, repo)
            .await?
            .repos(owner, repo)
            .download_tarball(sha.to_string())
            .await?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("GitHub answered {status} for the archive of {owner}/{repo}@{sha}");
        }
        let body = http_body_util::Limited::new(response.into_body(), MAX_ARCHIVE_BYTES);
        let bytes = body
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("downloading the archive of {owner}/{repo}@{sha}: {e}"))?
            .to_bytes();
        Ok(bytes.to_vec())
    }

    /// The newest check run called `name` on `sha`, if any.
    pub async fn check_run(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
        name: &str,
    ) -> anyhow::Result<Option<CheckRun>> {
        #[derive(Deserialize)]
        struct List {
            check_runs: Vec<CheckRun>,
        }
        let list: List = self
            .client(owner, repo)
            .await?
            .get(
                format!("/repos/{owner}/{repo}/commits/{sha}/check-runs"),
                Some(&[("check_name", name), ("filter", "latest")]),
            )
            .await?;
        Ok(list.check_runs.into_iter().next())
    }

    pub async fn react(
        &self,
        owner: &str,
        repo: &str,
        comment_id: u64,
        content: &str,
    ) -> anyhow::Result<()> {
        let _: Value = self
            .client(owner, repo)
            .await?
            .post(
                format!("/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
                Some(&json!({ "content": content })),
            )
            .await?;
        Ok(())
    }

    pub async fn comment(
        &self,
        owner: &str,
        repo: &str,
        pr: u64,
        body: &str,
    ) -> anyhow::Result<u64> {
        let created: WithId = self
            .client(owner, repo)
            .await?
            .post(
                format!("/repos/{owner}/{repo}/issues/{pr}/comments"),
                Some(&json!({ "body": body })),
            )
            .await?;
        Ok(created.id)
    }

    pub async fn edit_comment(
        &self,
        owner: &str,
        repo: &str,
        comment_id: u64,
        body: &str,
    ) -> anyhow::Result<()> {
        let _: Value = self
            .client(owner, repo)
            .await?
            .patch(
                format!("/repos/{owner}/{repo}/issues/comments/{comment_id}"),
                Some(&json!({ "body": body })),
            )
            .await?;
        Ok(())
    }

    /// Creates a transient, non-production Deployment for `sha` in `environment`; no required
    /// contexts (the preview gates on its own), no auto-merge.
    pub async fn create_deployment(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
        environment: &str,
        description: &str,
    ) -> anyhow::Result<u64> {
        let created: WithId = self
            .client(owner, repo)
            .await?
            .post(
                format!("/repos/{owner}/{repo}/deployments"),
                Some(&json!({
                    "ref": sha,
                    "environment": environment,
                    "description": description,
                    "auto_merge": false,
                    "required_contexts": [],
                    "transient_environment": true,
                    "production_environment": false,
                })),
            )
            .await?;
        Ok(created.id)
    }

    pub async fn deployment_status(
        &self,
        owner: &str,
        repo: &str,
        deployment_id: u64,
        status: &DeploymentStatus<'_>,
    ) -> anyhow::Result<()> {
        let mut body = json!({
            "state": status.state,
            "description": truncate(status.description, 140),
            "auto_inactive": true,
        });
        if let Some(url) = status.environment_url {
            body["environment_url"] = json!(url);
        }
        if let Some(url) = status.log_url {
            body["log_url"] = json!(url);
        }
        let _: Value = self
            .client(owner, repo)
            .await?
            .post(
                format!("/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
                Some(&body),
            )
            .await?;
        Ok(())
    }
}

/// What the bot reads of a check run.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct CheckRun {
    pub status: String,
    pub conclusion: Option<String>,
    pub html_url: Option<String>,
}

/// One Deployment status report.
pub struct DeploymentStatus<'a> {
    /// `in_progress`, `success`, `failure`, `inactive`, ...
    pub state: &'a str,
    pub environment_url: Option<&'a str>,
    pub log_url: Option<&'a str>,
    pub description: &'a str,
}

fn repo_key(owner: &str, repo: &str) -> String {
    format!(
        "{}/{}",
        owner.to_ascii_lowercase(),
        repo.to_ascii_lowercase()
    )
}

/// GitHub limits deployment status descriptions to 140 characters.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}
