//! The GitHub REST API through octocrab: pull requests, repository archives, reactions, the
//! sticky status comment and Deployments. Calls go through `octocrab.get/post/patch` with our own
//! small response types, which keeps us independent of octocrab's models where they lag GitHub.

use crate::retry::{RetryPolicy, Verdict, retry};
use futures::{StreamExt, TryStreamExt};
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

impl PullResponse {
    fn into_pull_request(self) -> PullRequest {
        PullRequest {
            number: self.number,
            head_sha: self.head.sha,
            head_ref: self.head.reference,
            author: self.user.map(|u| u.login).unwrap_or_default(),
            open: self.state == "open",
            merged: self.merged,
            html_url: self.html_url,
        }
    }
}

/// Pages of open pull requests read at most: 10,000 PRs.
pub const MAX_PULL_PAGES: usize = 100;
/// Pages of a list read at once once the first names the last.
const PAGES_AT_ONCE: usize = 8;

/// The `page` parameter of a `Link` URL.
fn page_number(uri: &http::Uri) -> Option<usize> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("page="))?
        .parse()
        .ok()
}

/// A repository's open pull requests, newest first (GitHub's order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenPulls {
    /// As listed; a listed PR has no `merged` (false here), it is open.
    pub pulls: Vec<PullRequest>,
    /// False when there were more than [`MAX_PULL_PAGES`] pages: a PR missing from `pulls` may
    /// still be open.
    pub complete: bool,
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
        GitHubApi::with_timeout(api_url, auth, Duration::from_secs(60))
    }

    /// The client `[github]` describes: its API URL and call timeout.
    pub fn from_config(
        config: &preview_config::GitHubConfig,
        auth: &GitHubAuth,
    ) -> anyhow::Result<GitHubApi> {
        GitHubApi::with_timeout(&config.api_url, auth, config.timeout.get())
    }

    /// `read_timeout`: how long GitHub may stay silent before the call fails (and, where safe,
    /// is retried).
    fn with_timeout(
        api_url: &str,
        auth: &GitHubAuth,
        read_timeout: Duration,
    ) -> anyhow::Result<GitHubApi> {
        let builder = Octocrab::builder()
            .base_uri(api_url)?
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(read_timeout));
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
            .get_retrying(format!("/repos/{owner}/{repo}/installation"), None::<&()>)
            .await?;
        let client = self.root.installation(InstallationId(installation.id))?;
        if let Ok(mut map) = self.installations.lock() {
            map.insert(key, client.clone());
        }
        Ok(client)
    }

    /// The user's permission on the repository: `admin`, `write`, `read` or `none` (GitHub
    /// reports `maintain` as `write` and `triage` as `read`). Read through our own type: see
    /// DEPENDENCIES.md on octocrab's `get_contributor_permission`.
    pub async fn permission(&self, owner: &str, repo: &str, user: &str) -> anyhow::Result<String> {
        #[derive(Deserialize)]
        struct Permission {
            permission: String,
        }
        if !is_login(user) {
            return Ok("none".into());
        }
        let answer: Result<Permission, _> = self
            .client(owner, repo)
            .await?
            .get_retrying(
                format!("/repos/{owner}/{repo}/collaborators/{user}/permission"),
                None::<&()>,
            )
            .await;
        match answer {
            Ok(p) => Ok(p.permission),
            // Not a user GitHub knows, or not visible: no access.
            Err(e) if status_of(&e) == Some(404) => Ok("none".into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether `user` is an active member of the team `org/slug` (a pending invitation is not).
    pub async fn team_member(&self, org: &str, slug: &str, user: &str) -> anyhow::Result<bool> {
        #[derive(Deserialize)]
        struct Membership {
            state: String,
        }
        if !is_login(user) {
            return Ok(false);
        }
        let answer: Result<Membership, _> = self
            .org_client(org)
            .await?
            .get_retrying(
                format!("/orgs/{org}/teams/{slug}/memberships/{user}"),
                None::<&()>,
            )
            .await;
        match answer {
            Ok(m) => Ok(m.state == "active"),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The client acting for an organization (its installation when running as an App).
    async fn org_client(&self, org: &str) -> anyhow::Result<Octocrab> {
        if !self.is_app {
            return Ok(self.root.clone());
        }
        let key = format!("org:{}", org.to_ascii_lowercase());
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
            .get_retrying(format!("/orgs/{org}/installation"), None::<&()>)
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
            .get_retrying(format!("/repos/{owner}/{repo}/pulls/{number}"), None::<&()>)
            .await?;
        Ok(pr.into_pull_request())
    }

    /// The open pull requests of `owner/repo`: `GET /pulls?state=open&per_page=100` (at most
    /// [`MAX_PULL_PAGES`] pages; `complete` says whether the list ended there). One request per
    /// 100 open PRs, where reading them one by one costs one per PR. When the first page's
    /// `Link` names the last page, the others are read [`PAGES_AT_ONCE`] at a time; otherwise
    /// the list follows `rel="next"` page by page.
    pub async fn open_pull_requests(&self, owner: &str, repo: &str) -> anyhow::Result<OpenPulls> {
        let client = self.client(owner, repo).await?;
        let first_route = format!("/repos/{owner}/{repo}/pulls?state=open&per_page=100");
        let mut first: octocrab::Page<PullResponse> =
            client.get_retrying(&first_route, None::<&()>).await?;
        let mut pulls: Vec<PullRequest> = first
            .take_items()
            .into_iter()
            .map(PullResponse::into_pull_request)
            .collect();
        if let Some(last) = first.last.as_ref().and_then(page_number) {
            let pages = last.min(MAX_PULL_PAGES);
            let reads = (2..=pages).map(|page| {
                let (client, route) = (&client, format!("{first_route}&page={page}"));
                async move {
                    let page: octocrab::Page<PullResponse> =
                        client.get_retrying(&route, None::<&()>).await?;
                    anyhow::Ok(page.items)
                }
            });
            let rest: Vec<Vec<PullResponse>> = futures::stream::iter(reads)
                .buffered(PAGES_AT_ONCE)
                .try_collect()
                .await?;
            pulls.extend(
                rest.into_iter()
                    .flatten()
                    .map(PullResponse::into_pull_request),
            );
            return Ok(OpenPulls {
                pulls,
                complete: last <= MAX_PULL_PAGES,
            });
        }
        let mut next = first.next;
        for _ in 1..MAX_PULL_PAGES {
            // Only the path and query of the next page's URL are taken, relative to the
            // configured API URL: the token never goes to another host.
            let Some(route) = next.as_ref().and_then(|n| n.path_and_query()) else {
                return Ok(OpenPulls {
                    pulls,
                    complete: true,
                });
            };
            let mut page: octocrab::Page<PullResponse> =
                client.get_retrying(route.as_str(), None::<&()>).await?;
            pulls.extend(
                page.take_items()
                    .into_iter()
                    .map(PullResponse::into_pull_request),
            );
            next = page.next;
        }
        Ok(OpenPulls {
            complete: next.is_none(),
            pulls,
        })
    }

    /// The head commit of `branch`, or None when the repository has no such branch.
    pub async fn branch_head(
        &self,
        owner: &str,
        repo: &str,
        branch: &str,
    ) -> anyhow::Result<Option<String>> {
        #[derive(Deserialize)]
        struct Commit {
            sha: String,
        }
        #[derive(Deserialize)]
        struct Branch {
            commit: Commit,
        }
        let answer: Result<Branch, _> = self
            .client(owner, repo)
            .await?
            .get_retrying(
                format!("/repos/{owner}/{repo}/branches/{}", branch_path(branch)),
                None::<&()>,
            )
            .await;
        match answer {
            Ok(b) => Ok(Some(b.commit.sha)),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(e.into()),
        }
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
            .get_retrying(
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
            .post_repeatable(
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
            .post_once(
                format!("/repos/{owner}/{repo}/issues/{pr}/comments"),
                Some(&json!({ "body": body })),
            )
            .await?;
        Ok(created.id)
    }

    /// The body of comment `comment_id`.
    pub async fn comment_body(
        &self,
        owner: &str,
        repo: &str,
        comment_id: u64,
    ) -> anyhow::Result<String> {
        #[derive(Deserialize)]
        struct Comment {
            #[serde(default)]
            body: Option<String>,
        }
        let comment: Comment = self
            .client(owner, repo)
            .await?
            .get_retrying(
                format!("/repos/{owner}/{repo}/issues/comments/{comment_id}"),
                None::<&()>,
            )
            .await?;
        Ok(comment.body.unwrap_or_default())
    }

    /// The first comment on issue/PR `number` whose body `matches` (the first 1,000 comments).
    pub async fn find_comment(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        matches: impl Fn(&str) -> bool,
    ) -> anyhow::Result<Option<u64>> {
        #[derive(Deserialize)]
        struct Comment {
            id: u64,
            #[serde(default)]
            body: Option<String>,
        }
        let client = self.client(owner, repo).await?;
        for page in 1..=10u32 {
            let comments: Vec<Comment> = client
                .get_retrying(
                    format!(
                        "/repos/{owner}/{repo}/issues/{number}/comments?per_page=100&page={page}"
                    ),
                    None::<&()>,
                )
                .await?;
            if let Some(found) = comments
                .iter()
                .find(|c| c.body.as_deref().is_some_and(&matches))
            {
                return Ok(Some(found.id));
            }
            if comments.len() < 100 {
                break;
            }
        }
        Ok(None)
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
            .patch_retrying(
                format!("/repos/{owner}/{repo}/issues/comments/{comment_id}"),
                Some(&json!({ "body": body })),
            )
            .await?;
        Ok(())
    }

    /// Whether this client acts as a GitHub App (check runs need one).
    pub fn is_app(&self) -> bool {
        self.is_app
    }

    /// Starts a check run `name` on `sha` (in progress); its id.
    pub async fn create_check_run(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
        name: &str,
        report: &CheckReport<'_>,
    ) -> anyhow::Result<u64> {
        let mut body = report.body();
        body["name"] = json!(name);
        body["head_sha"] = json!(sha);
        let created: WithId = self
            .client(owner, repo)
            .await?
            .post_once(format!("/repos/{owner}/{repo}/check-runs"), Some(&body))
            .await?;
        Ok(created.id)
    }

    /// Updates check run `id` (a conclusion completes it).
    pub async fn update_check_run(
        &self,
        owner: &str,
        repo: &str,
        id: u64,
        report: &CheckReport<'_>,
    ) -> anyhow::Result<()> {
        let _: Value = self
            .client(owner, repo)
            .await?
            .patch_retrying(
                format!("/repos/{owner}/{repo}/check-runs/{id}"),
                Some(&report.body()),
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
            .post_once(
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

    /// Whether check run `id` is still queued or in progress.
    pub async fn check_run_open(&self, owner: &str, repo: &str, id: u64) -> anyhow::Result<bool> {
        let run: CheckRun = self
            .client(owner, repo)
            .await?
            .get_retrying(
                format!("/repos/{owner}/{repo}/check-runs/{id}"),
                None::<&()>,
            )
            .await?;
        Ok(run.status != "completed")
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
            .post_repeatable(
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

/// The HTTP status of a GitHub error answer.
fn status_of(error: &octocrab::Error) -> Option<u16> {
    match error {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    }
}

/// A GitHub login (apps end in `[bot]`): anything else never reaches a URL path.
fn is_login(user: &str) -> bool {
    let name = user.strip_suffix("[bot]").unwrap_or(user);
    !name.is_empty()
        && name.len() <= 39
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Octocrab calls with our bounded retries (octocrab's own are turned off: they repeat POSTs
/// on a 5xx, which can duplicate a comment).
trait Retrying {
    /// GET: safe to repeat on rate limits, 5xx and broken connections.
    async fn get_retrying<R, A, P>(&self, route: A, params: Option<&P>) -> octocrab::Result<R>
    where
        R: octocrab::FromResponse,
        A: AsRef<str>,
        P: serde::Serialize + ?Sized;
    /// PATCH of a whole field (a comment body): repeating it changes nothing.
    async fn patch_retrying<R, A, B>(&self, route: A, body: Option<&B>) -> octocrab::Result<R>
    where
        R: octocrab::FromResponse,
        A: AsRef<str>,
        B: serde::Serialize + ?Sized;
    /// A POST that creates something: repeated only when GitHub said it did not process it.
    async fn post_once<R, A, B>(&self, route: A, body: Option<&B>) -> octocrab::Result<R>
    where
        R: octocrab::FromResponse,
        A: AsRef<str>,
        B: serde::Serialize + ?Sized;
    /// A POST whose repetition is harmless (a reaction, a deployment status).
    async fn post_repeatable<R, A, B>(&self, route: A, body: Option<&B>) -> octocrab::Result<R>
    where
        R: octocrab::FromResponse,
        A: AsRef<str>,
        B: serde::Serialize + ?Sized;
}

impl Retrying for Octocrab {
    async fn get_retrying<R, A, P>(&self, route: A, params: Option<&P>) -> octocrab::Result<R>
    where
        R: octocrab::FromResponse,
        A: AsRef<str>,
        P: serde::Serialize + ?Sized,
    {
        let route = route.as_ref();
        retrying(route, true, || self.get(route, params)).await
    }

    async fn patch_retrying<R, A, B>(&self, route: A, body: Option<&B>) -> octocrab::Result<R>
    where
        R: octocrab::FromResponse,
        A: AsRef<str>,
        B: serde::Serialize + ?Sized,
    {
        let route = route.as_ref();
        retrying(route, true, || self.patch(route, body)).await
    }

    async fn post_once<R, A, B>(&self, route: A, body: Option<&B>) -> octocrab::Result<R>
    where
        R: octocrab::FromResponse,
        A: AsRef<str>,
        B: serde::Serialize + ?Sized,
    {
        let route = route.as_ref();
        retrying(route, false, || self.post(route, body)).await
    }

    async fn post_repeatable<R, A, B>(&self, route: A, body: Option<&B>) -> octocrab::Result<R>
    where
        R: octocrab::FromResponse,
        A: AsRef<str>,
        B: serde::Serialize + ?Sized,
    {
        let route = route.as_ref();
        retrying(route, true, || self.post(route, body)).await
    }
}

/// One GitHub call under the bounded retry policy.
async fn retrying<R, F, Fut>(route: &str, idempotent: bool, call: F) -> octocrab::Result<R>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = octocrab::Result<R>>,
{
    retry(RetryPolicy::default(), route, call, |e| {
        classify(e, idempotent)
    })
    .await
}

/// Rate limits (429; 403 with `Retry-After` or an exhausted quota: GitHub's secondary limits)
/// are always retried after the time GitHub names; 5xx and broken connections only when the
/// call may be repeated.
fn classify(error: &octocrab::Error, idempotent: bool) -> Verdict {
    match error {
        octocrab::Error::GitHub { source, .. } => {
            let header = |name: &str| {
                source
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let retry_after = header("retry-after")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let quota_gone = header("x-ratelimit-remaining").as_deref() == Some("0");
            let reset = header("x-ratelimit-reset")
                .and_then(|s| s.parse::<i64>().ok())
                .map(|at| {
                    Duration::from_secs(
                        u64::try_from(at - chrono::Utc::now().timestamp())
                            .unwrap_or(0)
                            .max(1),
                    )
                });
            let secondary = source
                .message
                .to_ascii_lowercase()
                .contains("secondary rate limit");
            match source.status_code.as_u16() {
                429 => Verdict::Retry {
                    after: retry_after.or(reset),
                },
                403 if retry_after.is_some() || quota_gone || secondary => Verdict::Retry {
                    after: retry_after.or(reset).or(Some(Duration::from_secs(60))),
                },
                500..=599 if idempotent => Verdict::Retry { after: None },
                _ => Verdict::Fail,
            }
        }
        octocrab::Error::Hyper { .. }
        | octocrab::Error::Service { .. }
        | octocrab::Error::Http { .. }
            if idempotent =>
        {
            Verdict::Retry { after: None }
        }
        _ => Verdict::Fail,
    }
}

/// A branch name as a path: `/` stays (GitHub's branch routes take it as is), everything that
/// is not a safe URL character is percent-encoded.
fn branch_path(branch: &str) -> String {
    let mut out = String::with_capacity(branch.len());
    for byte in branch.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// What a preview's check run says: in progress without a conclusion, completed with one.
pub struct CheckReport<'a> {
    /// `success`, `failure`, `cancelled`...; None while in progress.
    pub conclusion: Option<&'a str>,
    pub details_url: Option<&'a str>,
    pub title: &'a str,
    pub summary: &'a str,
}

impl CheckReport<'_> {
    fn body(&self) -> Value {
        let mut body = json!({
            "output": {
                "title": truncate(self.title, 250),
                // GitHub's limit is 65535 characters.
                "summary": truncate(self.summary, 60_000),
            },
        });
        match self.conclusion {
            Some(conclusion) => {
                body["status"] = json!("completed");
                body["conclusion"] = json!(conclusion);
            }
            None => body["status"] = json!("in_progress"),
        }
        if let Some(url) = self
            .details_url
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        {
            body["details_url"] = json!(url);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::page_number;

    #[test]
    fn the_page_of_a_link_url_is_its_page_parameter() {
        let uri = |text: &str| text.parse::<http::Uri>().unwrap();
        let last = "https://api.github.com/repositories/1/pulls?state=open&per_page=100&page=11";
        assert_eq!(page_number(&uri(last)), Some(11));
        let first = "https://api.github.com/repos/o/r/pulls?page=1&per_page=100";
        assert_eq!(page_number(&uri(first)), Some(1));
        // `per_page` is not `page`, and a link without one names no page.
        assert_eq!(page_number(&uri("https://x/pulls?per_page=100")), None);
        assert_eq!(page_number(&uri("https://x/pulls")), None);
        assert_eq!(page_number(&uri("https://x/pulls?page=last")), None);
    }
}
