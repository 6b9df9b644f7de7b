//! A fake GitHub REST API: pull requests, repository tarballs (with GitHub's redirect to an
//! archive host), issue comments, reactions, Deployments and their statuses, check runs,
//! collaborator permissions and the GitHub App installation-token flow. Answers are derived from
//! the untouched fixtures in `shared/fixtures/github/api`; every request is recorded and faults
//! can be injected.
//!
//! Point octocrab at it with `Octocrab::builder().base_uri(fake.url())?.personal_token(GITHUB_TOKEN)`.

mod app;
mod routes;
mod signing;
mod tarball;

pub use crate::slack_api::fake_http::{Fault, FaultResponse, RecordedCall};
pub use app::{AppKey, generate_app_key};
pub use signing::{signed_webhook, webhook_signature};

use crate::slack_api::fake_http::{self, Recorder, lock};
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// The personal access token the fake accepts unless told otherwise.
pub const GITHUB_TOKEN: &str = "ghp-test-token";
/// The GitHub App id the fake accepts JWTs for unless told otherwise.
pub const GITHUB_APP_ID: u64 = 4242;
/// The installation every repository belongs to unless others are added.
pub const GITHUB_INSTALLATION_ID: u64 = 1;
/// The login the bot's comments, reactions, deployments and statuses are attributed to.
pub const BOT_LOGIN: &str = "preview-bot[bot]";

/// Start-up options of [`FakeGitHub::start_with`].
#[derive(Clone, Debug)]
pub struct GitHubOptions {
    /// Personal access token accepted as `Bearer` or `token`.
    pub token: String,
    /// App whose JWTs (`iss`) are accepted on `/app/...` and `/repos/{o}/{r}/installation`.
    pub app_id: u64,
    /// When set, JWT RS256 signatures are checked against this public key (PKCS#1 or SPKI PEM).
    pub app_public_key_pem: Option<String>,
    /// Login of the token's user.
    pub bot_login: String,
    /// Whether tarballs start with GitHub's `pax_global_header` entry (`comment=<sha>`).
    pub tarball_pax_header: bool,
    /// Whether check runs need an installation token (GitHub's rule) or also take the PAT.
    pub check_runs_need_app: bool,
}

impl Default for GitHubOptions {
    fn default() -> Self {
        GitHubOptions {
            token: GITHUB_TOKEN.to_string(),
            app_id: GITHUB_APP_ID,
            app_public_key_pem: None,
            bot_login: BOT_LOGIN.to_string(),
            tarball_pax_header: true,
            check_runs_need_app: false,
        }
    }
}

/// A pull request to seed with [`FakeGitHub::add_pull`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullSpec {
    pub owner: String,
    pub repo: String,
    pub number: u64,
    pub head_sha: String,
    pub head_ref: String,
    pub author: String,
    /// Default `main`.
    pub base_ref: String,
    /// Default `Pull request #{number}`.
    pub title: String,
    pub body: String,
    /// Label names.
    pub labels: Vec<String>,
    pub draft: bool,
    /// `open` (default) or `closed`.
    pub state: String,
    pub merged: bool,
    /// Head repository `owner/name` when the PR comes from a fork (default: the base repo).
    pub head_repo_full_name: Option<String>,
}

impl PullSpec {
    pub fn new(
        owner: &str,
        repo: &str,
        number: u64,
        head_sha: &str,
        head_ref: &str,
        author: &str,
    ) -> Self {
        PullSpec {
            owner: owner.to_string(),
            repo: repo.to_string(),
            number,
            head_sha: head_sha.to_string(),
            head_ref: head_ref.to_string(),
            author: author.to_string(),
            base_ref: "main".to_string(),
            title: format!("Pull request #{number}"),
            body: String::new(),
            labels: Vec::new(),
            draft: false,
            state: "open".to_string(),
            merged: false,
            head_repo_full_name: None,
        }
    }

    pub fn with_labels<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.labels = labels.into_iter().map(Into::into).collect();
        self
    }

    pub fn with_title(mut self, title: &str) -> Self {
        self.title = title.to_string();
        self
    }

    pub fn draft(mut self, draft: bool) -> Self {
        self.draft = draft;
        self
    }

    /// A PR from a fork: head repository `full_name` (`owner/name`).
    pub fn from_fork(mut self, full_name: &str) -> Self {
        self.head_repo_full_name = Some(full_name.to_string());
        self
    }
}

/// One file of a commit's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeFile {
    /// Relative path with `/` separators.
    pub path: String,
    pub contents: Vec<u8>,
    pub executable: bool,
}

/// An issue or pull-request comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitHubComment {
    pub id: u64,
    pub body: String,
    pub author: String,
    pub issue_number: u64,
    /// Successful edits (PATCH, or POST as octocrab's `update_comment` sends).
    pub edits: usize,
    pub(crate) owner: String,
    pub(crate) repo: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reaction {
    pub(crate) id: u64,
    pub(crate) content: String,
    pub(crate) user: String,
    pub(crate) created_at: String,
}

/// A Deployment as created.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment {
    pub id: u64,
    pub environment: String,
    /// The commit `ref` resolved to.
    pub sha: String,
    /// `transient_environment`.
    pub transient: bool,
    /// `production_environment`.
    pub production: bool,
    /// The `ref` sent.
    pub ref_name: String,
    pub task: String,
    pub description: Option<String>,
    pub payload: Value,
    /// The whole request body.
    pub request: Value,
    pub(crate) owner: String,
    pub(crate) repo: String,
    pub(crate) created_at: String,
    pub(crate) creator: String,
}

/// A Deployment status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentStatus {
    pub id: u64,
    pub state: String,
    pub environment_url: Option<String>,
    pub log_url: Option<String>,
    pub description: Option<String>,
    pub environment: String,
    /// Added by GitHub's `auto_inactive` rather than by a request.
    pub automatic: bool,
    pub(crate) created_at: String,
    pub(crate) creator: String,
}

/// A check run (latest version after updates).
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub details_url: Option<String>,
    pub external_id: Option<String>,
    pub output: Value,
    pub updates: usize,
    pub(crate) owner: String,
    pub(crate) repo: String,
    pub(crate) started_at: Option<String>,
    pub(crate) completed_at: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Pull {
    pub(crate) spec: PullSpec,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) closed_at: Option<String>,
    pub(crate) merged_at: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Repo {
    pub(crate) owner: String,
    pub(crate) name: String,
    pub(crate) id: u64,
    pub(crate) pulls: BTreeMap<u64, Pull>,
    pub(crate) issues: BTreeSet<u64>,
    pub(crate) trees: BTreeMap<String, Vec<TreeFile>>,
    pub(crate) branches: BTreeMap<String, String>,
}

impl Repo {
    /// A ref (full sha, unique sha prefix of 7+, branch, `refs/heads/branch`, pull head ref) to
    /// its commit.
    pub(crate) fn resolve(&self, reference: &str) -> Option<String> {
        let reference = reference.strip_prefix("refs/heads/").unwrap_or(reference);
        let mut known: BTreeSet<&str> = self.trees.keys().map(String::as_str).collect();
        known.extend(self.pulls.values().map(|p| p.spec.head_sha.as_str()));
        known.extend(self.branches.values().map(String::as_str));
        if known.contains(reference) {
            return Some(reference.to_string());
        }
        if let Some(sha) = self.branches.get(reference) {
            return Some(sha.clone());
        }
        if let Some(pull) = self
            .pulls
            .values()
            .rev()
            .find(|p| p.spec.head_ref == reference && p.spec.state == "open")
            .or_else(|| {
                self.pulls
                    .values()
                    .rev()
                    .find(|p| p.spec.head_ref == reference)
            })
        {
            return Some(pull.spec.head_sha.clone());
        }
        if reference.len() >= 7 && reference.chars().all(|c| c.is_ascii_hexdigit()) {
            let matches: Vec<&str> = known
                .into_iter()
                .filter(|s| s.starts_with(reference))
                .collect();
            if let [only] = matches.as_slice() {
                return Some(only.to_string());
            }
        }
        None
    }
}

#[derive(Clone, Debug)]
pub(crate) struct IssuedToken {
    pub(crate) installation_id: u64,
    pub(crate) expires_at: DateTime<Utc>,
}

pub(crate) struct GitHubState {
    pub(crate) options: GitHubOptions,
    pub(crate) tokens: BTreeSet<String>,
    pub(crate) installation_tokens: BTreeMap<String, IssuedToken>,
    /// installation id -> account login (`*`: every account)
    pub(crate) installations: BTreeMap<u64, String>,
    /// key: lower-case `owner/repo`
    pub(crate) repos: BTreeMap<String, Repo>,
    pub(crate) comments: BTreeMap<u64, GitHubComment>,
    pub(crate) reactions: BTreeMap<u64, Vec<Reaction>>,
    pub(crate) deployments: BTreeMap<u64, Deployment>,
    pub(crate) statuses: BTreeMap<u64, Vec<DeploymentStatus>>,
    pub(crate) check_runs: BTreeMap<u64, CheckRun>,
    /// key: (lower-case `owner/repo`, lower-case user) -> role
    pub(crate) permissions: BTreeMap<(String, String), String>,
    pub(crate) default_role: String,
    /// (org, team slug, user), all lower-case -> membership state (`active` or `pending`)
    pub(crate) team_members: BTreeMap<(String, String, String), String>,
    pub(crate) next_id: u64,
    /// List pages link to the next page only, as cursor-paged GitHub endpoints do.
    pub(crate) links_without_last: bool,
}

impl GitHubState {
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn repo(&self, owner: &str, repo: &str) -> Option<&Repo> {
        self.repos.get(&repo_key(owner, repo))
    }

    pub(crate) fn repo_mut(&mut self, owner: &str, repo: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&repo_key(owner, repo))
    }

    pub(crate) fn ensure_repo(&mut self, owner: &str, repo: &str) -> &mut Repo {
        let key = repo_key(owner, repo);
        if !self.repos.contains_key(&key) {
            let id = 100_000 + self.next_id();
            self.repos.insert(
                key.clone(),
                Repo {
                    owner: owner.to_string(),
                    name: repo.to_string(),
                    id,
                    ..Repo::default()
                },
            );
        }
        self.repos.entry(key).or_default()
    }

    /// The installation covering `owner`, if any.
    pub(crate) fn installation_for(&self, owner: &str) -> Option<u64> {
        self.installations
            .iter()
            .find(|(_, account)| account.eq_ignore_ascii_case(owner))
            .or_else(|| self.installations.iter().find(|(_, a)| a.as_str() == "*"))
            .map(|(id, _)| *id)
    }
}

pub(crate) fn repo_key(owner: &str, repo: &str) -> String {
    format!(
        "{}/{}",
        owner.to_ascii_lowercase(),
        repo.to_ascii_lowercase()
    )
}

pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn now() -> String {
    timestamp(Utc::now())
}

pub(crate) struct Inner {
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) state: Mutex<GitHubState>,
    pub(crate) url: String,
}

/// Handle on a running fake GitHub; clones share the same server and state.
#[derive(Clone)]
pub struct FakeGitHub {
    inner: Arc<Inner>,
    addr: SocketAddr,
}

impl std::fmt::Debug for FakeGitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGitHub")
            .field("url", &self.inner.url)
            .finish()
    }
}

impl FakeGitHub {
    /// Starts on `127.0.0.1` with a free port and default options.
    pub async fn start() -> Self {
        Self::start_with(GitHubOptions::default()).await
    }

    /// Starts on `127.0.0.1` with a free port.
    pub async fn start_with(options: GitHubOptions) -> Self {
        Self::start_on(fake_http::any_loopback(), options)
            .await
            .unwrap_or_else(|e| panic!("fake GitHub cannot bind a loopback port: {e}"))
    }

    /// Starts on a given address (port 0 picks a free one).
    pub async fn start_on(addr: SocketAddr, options: GitHubOptions) -> std::io::Result<Self> {
        let (listener, bound) = fake_http::bind(addr).await?;
        let inner = Arc::new(Inner {
            recorder: Arc::new(Recorder::default()),
            state: Mutex::new(GitHubState {
                tokens: BTreeSet::from([options.token.clone()]),
                options,
                installation_tokens: BTreeMap::new(),
                installations: BTreeMap::from([(GITHUB_INSTALLATION_ID, "*".to_string())]),
                repos: BTreeMap::new(),
                comments: BTreeMap::new(),
                reactions: BTreeMap::new(),
                deployments: BTreeMap::new(),
                statuses: BTreeMap::new(),
                check_runs: BTreeMap::new(),
                permissions: BTreeMap::new(),
                default_role: "none".to_string(),
                team_members: BTreeMap::new(),
                next_id: 1000,
                links_without_last: false,
            }),
            url: format!("http://{bound}"),
        });
        let router = Router::new()
            .fallback(routes::handle)
            .with_state(inner.clone());
        fake_http::spawn(listener, router);
        Ok(FakeGitHub { inner, addr: bound })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash: octocrab's `base_uri`.
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn state(&self) -> MutexGuard<'_, GitHubState> {
        lock(&self.inner.state)
    }

    // ---- auth -------------------------------------------------------------------------------

    /// Accepts another personal access token.
    pub fn add_token(&self, token: &str) {
        self.state().tokens.insert(token.to_string());
    }

    /// Stops accepting a token (also an issued installation token).
    pub fn revoke_token(&self, token: &str) {
        let mut state = self.state();
        state.tokens.remove(token);
        state.installation_tokens.remove(token);
    }

    /// Replaces the default "installation 1 covers every account" with explicit installations
    /// (call once per installation).
    pub fn add_installation(&self, installation_id: u64, account: &str) {
        let mut state = self.state();
        if state
            .installations
            .get(&GITHUB_INSTALLATION_ID)
            .map(String::as_str)
            == Some("*")
        {
            state.installations.clear();
        }
        state
            .installations
            .insert(installation_id, account.to_string());
    }

    /// Installation tokens issued so far (valid or not).
    pub fn installation_tokens(&self) -> Vec<String> {
        self.state().installation_tokens.keys().cloned().collect()
    }

    /// Expires every issued installation token now (the next use gets 401).
    pub fn expire_installation_tokens(&self) {
        let past = Utc::now() - chrono::Duration::seconds(1);
        for token in self.state().installation_tokens.values_mut() {
            token.expires_at = past;
        }
    }

    /// Whether check runs need an installation token (GitHub: "You must authenticate via a
    /// GitHub App") or also accept the personal token (the default here).
    pub fn set_check_runs_need_app(&self, need_app: bool) {
        self.state().options.check_runs_need_app = need_app;
    }

    // ---- seeding ----------------------------------------------------------------------------

    /// A repository (idempotent).
    pub fn add_repo(&self, owner: &str, repo: &str) {
        self.state().ensure_repo(owner, repo);
    }

    /// A branch pointing at `sha`.
    pub fn set_branch(&self, owner: &str, repo: &str, branch: &str, sha: &str) {
        self.state()
            .ensure_repo(owner, repo)
            .branches
            .insert(branch.to_string(), sha.to_string());
    }

    /// Deletes a branch (its commits stay readable by sha).
    pub fn delete_branch(&self, owner: &str, repo: &str, branch: &str) {
        self.state()
            .ensure_repo(owner, repo)
            .branches
            .remove(branch);
    }

    /// A plain issue (comments on it are accepted).
    pub fn add_issue(&self, owner: &str, repo: &str, number: u64) {
        self.state().ensure_repo(owner, repo).issues.insert(number);
    }

    /// A pull request, its repository created if needed (replaces one with the same number).
    pub fn add_pull(&self, spec: PullSpec) {
        let at = now();
        let closed = spec.state != "open";
        let merged = spec.merged;
        let mut state = self.state();
        let repo = state.ensure_repo(&spec.owner, &spec.repo);
        repo.pulls.insert(
            spec.number,
            Pull {
                created_at: at.clone(),
                updated_at: at.clone(),
                closed_at: closed.then(|| at.clone()),
                merged_at: (closed && merged).then(|| at.clone()),
                spec,
            },
        );
    }

    /// Moves a pull request's head to a new commit (a push). Returns false if unknown.
    pub fn set_head(&self, owner: &str, repo: &str, number: u64, head_sha: &str) -> bool {
        self.with_pull(owner, repo, number, |pull| {
            pull.spec.head_sha = head_sha.to_string();
        })
    }

    /// Closes a pull request, merged or not. Returns false if unknown.
    pub fn close_pull(&self, owner: &str, repo: &str, number: u64, merged: bool) -> bool {
        self.with_pull(owner, repo, number, |pull| {
            let at = now();
            pull.spec.state = "closed".to_string();
            pull.spec.merged = merged;
            pull.closed_at = Some(at.clone());
            pull.merged_at = merged.then_some(at);
        })
    }

    /// With `true`, list pages name only the next page in `Link` (no `rel="last"`), as
    /// GitHub's cursor-paged endpoints do: a client must follow them one by one.
    pub fn set_links_without_last(&self, without: bool) {
        self.state().links_without_last = without;
    }

    /// Reopens a closed pull request. Returns false if unknown.
    pub fn reopen_pull(&self, owner: &str, repo: &str, number: u64) -> bool {
        self.with_pull(owner, repo, number, |pull| {
            pull.spec.state = "open".to_string();
            pull.spec.merged = false;
            pull.closed_at = None;
            pull.merged_at = None;
        })
    }

    /// Replaces a pull request's labels. Returns false if unknown.
    pub fn set_labels(&self, owner: &str, repo: &str, number: u64, labels: &[&str]) -> bool {
        self.with_pull(owner, repo, number, |pull| {
            pull.spec.labels = labels.iter().map(|l| l.to_string()).collect();
        })
    }

    fn with_pull(&self, owner: &str, repo: &str, number: u64, f: impl FnOnce(&mut Pull)) -> bool {
        let mut state = self.state();
        let Some(pull) = state
            .repo_mut(owner, repo)
            .and_then(|r| r.pulls.get_mut(&number))
        else {
            return false;
        };
        f(pull);
        pull.updated_at = now();
        true
    }

    /// The source tree of commit `sha` (paths relative, `/`-separated), served as a tarball.
    pub fn add_commit_tree(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
        files: Vec<(String, Vec<u8>)>,
    ) {
        let files = files
            .into_iter()
            .map(|(path, contents)| TreeFile {
                path: path.trim_start_matches('/').to_string(),
                contents,
                executable: false,
            })
            .collect();
        self.add_tree_files(owner, repo, sha, files);
    }

    /// The source tree of commit `sha` from `TreeFile`s (to set executable bits).
    pub fn add_tree_files(&self, owner: &str, repo: &str, sha: &str, files: Vec<TreeFile>) {
        self.state()
            .ensure_repo(owner, repo)
            .trees
            .insert(sha.to_string(), files);
    }

    /// The source tree of commit `sha` read from a local directory (skipping `.git`, keeping
    /// executable bits).
    pub fn add_commit_dir(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
        dir: &Path,
    ) -> std::io::Result<()> {
        let files = tarball::read_dir_tree(dir)?;
        self.add_tree_files(owner, repo, sha, files);
        Ok(())
    }

    /// The role (`admin`, `maintain`, `write`, `triage`, `read` or `none`) of `user` on a repo,
    /// answered by `GET /repos/{o}/{r}/collaborators/{user}/permission`.
    pub fn set_permission(&self, owner: &str, repo: &str, user: &str, role: &str) {
        let mut state = self.state();
        state.ensure_repo(owner, repo);
        state.permissions.insert(
            (repo_key(owner, repo), user.to_ascii_lowercase()),
            role.to_string(),
        );
    }

    /// Makes `user` a member of the team `org/slug`, `active` or `pending` (an invitation not
    /// yet accepted), answered by `GET /orgs/{org}/teams/{slug}/memberships/{user}`.
    pub fn add_team_member(&self, org: &str, slug: &str, user: &str, membership_state: &str) {
        self.state().team_members.insert(
            (
                org.to_ascii_lowercase(),
                slug.to_ascii_lowercase(),
                user.to_ascii_lowercase(),
            ),
            membership_state.to_string(),
        );
    }

    /// The role of users without one set (default `none`).
    pub fn set_default_permission(&self, role: &str) {
        self.state().default_role = role.to_string();
    }

    /// A comment by someone else with a chosen id (e.g. the `/preview` command a webhook
    /// announces), so the bot can react to it or read it.
    pub fn add_comment(
        &self,
        owner: &str,
        repo: &str,
        issue_number: u64,
        id: u64,
        author: &str,
        body: &str,
    ) {
        let mut state = self.state();
        state.ensure_repo(owner, repo).issues.insert(issue_number);
        let at = now();
        state.comments.insert(
            id,
            GitHubComment {
                id,
                body: body.to_string(),
                author: author.to_string(),
                issue_number,
                edits: 0,
                owner: owner.to_string(),
                repo: repo.to_string(),
                created_at: at.clone(),
                updated_at: at,
            },
        );
    }

    // ---- faults and calls -------------------------------------------------------------------

    /// Arms a fault, e.g. `inject_fault(Fault::new("/deployments", 1,
    /// FaultResponse::Status(502)).with_method("POST"))`. Beware: octocrab retries 5xx and 429
    /// answers up to 3 times by default.
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

    // ---- observations -----------------------------------------------------------------------

    /// Comments on issue/PR `number`, oldest first.
    pub fn comments(&self, owner: &str, repo: &str, number: u64) -> Vec<GitHubComment> {
        let key = repo_key(owner, repo);
        let mut comments: Vec<GitHubComment> = self
            .state()
            .comments
            .values()
            .filter(|c| repo_key(&c.owner, &c.repo) == key && c.issue_number == number)
            .cloned()
            .collect();
        comments.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        comments
    }

    /// One comment by id.
    pub fn comment(&self, comment_id: u64) -> Option<GitHubComment> {
        self.state().comments.get(&comment_id).cloned()
    }

    /// Reaction contents (`+1`, `eyes`, ...) on a comment, oldest first.
    pub fn reactions(&self, comment_id: u64) -> Vec<String> {
        self.state()
            .reactions
            .get(&comment_id)
            .map(|r| r.iter().map(|r| r.content.clone()).collect())
            .unwrap_or_default()
    }

    /// Deployments of a repository, oldest first.
    pub fn deployments(&self, owner: &str, repo: &str) -> Vec<Deployment> {
        let key = repo_key(owner, repo);
        self.state()
            .deployments
            .values()
            .filter(|d| repo_key(&d.owner, &d.repo) == key)
            .cloned()
            .collect()
    }

    /// Statuses of a deployment, oldest first (including `auto_inactive` ones).
    pub fn deployment_statuses(&self, deployment_id: u64) -> Vec<DeploymentStatus> {
        self.state()
            .statuses
            .get(&deployment_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Check runs of a repository, oldest first.
    /// Seeds a check run on a commit (what CI would create), returning its id.
    pub fn add_check_run(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
        name: &str,
        status: &str,
        conclusion: Option<&str>,
    ) -> u64 {
        let mut state = self.state();
        let id = state
            .check_runs
            .keys()
            .next_back()
            .copied()
            .unwrap_or(7_000_000)
            + 1;
        let run = CheckRun {
            id,
            name: name.to_string(),
            head_sha: sha.to_string(),
            status: status.to_string(),
            conclusion: conclusion.map(str::to_string),
            details_url: Some(format!("https://github.com/{owner}/{repo}/runs/{id}")),
            external_id: None,
            output: serde_json::json!({}),
            updates: 0,
            owner: owner.to_string(),
            repo: repo.to_string(),
            started_at: None,
            completed_at: None,
        };
        state.check_runs.insert(id, run);
        id
    }

    /// Moves a seeded check run on (`completed` with a conclusion, for example).
    pub fn set_check_run(&self, id: u64, status: &str, conclusion: Option<&str>) {
        if let Some(run) = self.state().check_runs.get_mut(&id) {
            run.status = status.to_string();
            run.conclusion = conclusion.map(str::to_string);
        }
    }

    pub fn check_runs(&self, owner: &str, repo: &str) -> Vec<CheckRun> {
        let key = repo_key(owner, repo);
        self.state()
            .check_runs
            .values()
            .filter(|c| repo_key(&c.owner, &c.repo) == key)
            .cloned()
            .collect()
    }

    /// Polls `condition` every 20ms until it holds or `timeout` passes; returns whether it held.
    pub async fn wait_until<F>(&self, timeout: std::time::Duration, condition: F) -> bool
    where
        F: Fn(&FakeGitHub) -> bool,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if condition(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
