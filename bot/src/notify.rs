//! Reporting back (SPEC section 5): the Slack root message and its thread, the sticky PR comment,
//! reactions and GitHub Deployments, or the console in the try-out mode. A failed notification is
//! logged and never fails the preview operation itself.

use crate::github::{CheckReport, DeploymentStatus, GitHubApi};
use crate::messages;
use crate::metrics::Metrics;
use crate::origin::Origin;
use crate::slack::SlackApi;
use preview_config::Config;
use preview_deploy::PreviewRecord;
use preview_deploy::transform::TemplateVars;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// GitHub reactions the bot uses.
pub mod reaction {
    pub const SEEN: &str = "eyes";
    pub const SUCCESS: &str = "rocket";
    pub const FAILURE: &str = "confused";
}

/// GitHub Deployment states the bot reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeploymentState {
    InProgress,
    Success,
    Failure,
    Inactive,
}

impl DeploymentState {
    fn as_str(self) -> &'static str {
        match self {
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
            DeploymentState::Inactive => "inactive",
        }
    }
}

#[derive(Clone)]
pub struct Notifier {
    config: Arc<Config>,
    slack: Option<SlackApi>,
    github: Option<GitHubApi>,
    console: Option<UnboundedSender<String>>,
    /// Failed Slack and GitHub calls are counted here (the engine's metrics once it owns this).
    metrics: Arc<Metrics>,
    /// One lock per (repository, PR) whose sticky comment several apps share.
    sticky_locks: StickyLocks,
}

type StickyLocks = Arc<std::sync::Mutex<HashMap<(String, u64), Arc<tokio::sync::Mutex<()>>>>>;

impl Notifier {
    pub fn new(
        config: Arc<Config>,
        slack: Option<SlackApi>,
        github: Option<GitHubApi>,
        console: Option<UnboundedSender<String>>,
    ) -> Notifier {
        Notifier {
            config,
            slack,
            github,
            console,
            metrics: Arc::new(Metrics::new()),
            sticky_locks: StickyLocks::default(),
        }
    }

    /// Counts failed calls in `metrics`.
    pub(crate) fn with_metrics(mut self, metrics: Arc<Metrics>) -> Notifier {
        self.metrics = metrics;
        self
    }

    fn console(&self, text: &str) {
        if let Some(console) = &self.console {
            let _ = console.send(text.to_string());
        }
    }

    pub fn slack(&self) -> Option<&SlackApi> {
        self.slack.as_ref()
    }

    /// A message for the team running the bot: `slack.ops_channel` (when set) and the console.
    pub async fn announce_ops(&self, text: &str) {
        match self.config.slack.ops_channel.clone() {
            Some(channel) => {
                self.announce(&channel, text, None).await;
            }
            None => self.console(text),
        }
    }

    /// The preview's log link from `domains.log_url_template`.
    pub fn log_url(&self, record: &PreviewRecord) -> Option<String> {
        // Without a configured log tool, the bot's own logs page (SPEC 5).
        let Some(template) = self.config.domains.log_url_template.as_deref() else {
            return Some(crate::status_page::logs_url(
                &self.config,
                record.namespace.as_str(),
            ));
        };
        let vars = TemplateVars {
            app: &record.id.app,
            pr: record.id.pr(),
            sha: &record.head_sha,
            branch: record.branch.as_deref(),
            namespace: record.namespace.as_str(),
            base: &self.config.domains.base,
        };
        Some(vars.render(&template.replace("{workload}", &record.id.app)))
    }

    /// A direct answer to whoever sent the command: Slack ephemeral reply, PR comment, console.
    pub async fn reply(&self, origin: &Origin, text: &str) {
        match origin {
            Origin::Slack {
                response_url: Some(url),
                ..
            } => {
                if let Some(slack) = &self.slack
                    && let Err(e) = slack.respond(url, text).await
                {
                    self.metrics.api_error("slack");
                    tracing::warn!(error = %e, "slack response_url failed");
                }
            }
            Origin::Slack {
                response_url: None, ..
            } => {}
            Origin::GitHub {
                owner, repo, pr, ..
            } => {
                if let Some(github) = &self.github
                    && let Err(e) = github.comment(owner, repo, *pr, text).await
                {
                    self.metrics.api_error("github");
                    tracing::warn!(error = %e, "github reply comment failed");
                }
            }
            Origin::Console => self.console(text),
            // The admin endpoint answers in its HTTP response; a push has nobody to answer.
            Origin::Admin { .. } | Origin::Bot | Origin::Push { .. } => {}
        }
    }

    /// Like [`Notifier::reply`], with Block Kit blocks (buttons) where the answer goes to Slack.
    pub async fn reply_blocks(&self, origin: &Origin, text: &str, blocks: &serde_json::Value) {
        match (origin, &self.slack) {
            (
                Origin::Slack {
                    response_url: Some(url),
                    ..
                },
                Some(slack),
            ) => {
                if let Err(e) = slack.respond_blocks(url, text, blocks).await {
                    tracing::warn!(error = %e, "slack response_url failed");
                }
            }
            _ => self.reply(origin, text).await,
        }
    }

    /// A reaction on the command's PR comment, if it came from one.
    pub async fn react(&self, origin: &Origin, content: &str) {
        if let (
            Origin::GitHub {
                owner,
                repo,
                comment_id: Some(id),
                ..
            },
            Some(github),
        ) = (origin, &self.github)
            && let Err(e) = github.react(owner, repo, *id, content).await
        {
            self.metrics.api_error("github");
            tracing::warn!(error = %e, "github reaction failed");
        }
    }

    /// A progress line in the preview's Slack thread (created on first use) and on the console.
    /// Returns whether it reached someone: the thread, or the console where there is no Slack.
    pub async fn progress(&self, record: &mut PreviewRecord, text: &str) -> bool {
        self.console(&format!("[{}] {text}", record.id));
        let Some(slack) = &self.slack else {
            return self.console.is_some();
        };
        let Some(channel) = record.slack_channel.clone() else {
            return false;
        };
        if record.slack_thread_ts.is_none() {
            match slack
                .post(&channel, None, &messages::summary_line(record))
                .await
            {
                Ok(ts) => record.slack_thread_ts = Some(ts),
                Err(e) => {
                    self.metrics.api_error("slack");
                    tracing::warn!(error = %e, %channel, "slack root message failed");
                    return false;
                }
            }
        }
        let Some(ts) = &record.slack_thread_ts else {
            return false;
        };
        match slack.post(&channel, Some(ts), text).await {
            Ok(_) => true,
            Err(e) => {
                self.metrics.api_error("slack");
                tracing::warn!(error = %e, %channel, "slack thread reply failed");
                false
            }
        }
    }

    /// A comment on the preview's pull request (the idle warning).
    /// Returns whether the comment was created.
    pub async fn pr_comment(&self, record: &PreviewRecord, text: &str) -> bool {
        let Some(github) = &self.github else {
            return false;
        };
        let (Some((owner, repo)), Some(pr)) = (record.repo.split_once('/'), record.id.pr()) else {
            return false;
        };
        match github.comment(owner, repo, pr, text).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, preview = %record.id, "github comment failed");
                false
            }
        }
    }

    /// A top-level message in a channel (digest, orphan reports); blocks when given. Returns
    /// whether it was posted.
    pub async fn announce(
        &self,
        channel: &str,
        text: &str,
        blocks: Option<&serde_json::Value>,
    ) -> bool {
        self.console(text);
        let Some(slack) = &self.slack else {
            return self.console.is_some();
        };
        let result = match blocks {
            Some(blocks) => slack.post_blocks(channel, text, blocks).await,
            None => slack.post(channel, None, text).await,
        };
        match result {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, %channel, "slack announcement failed");
                false
            }
        }
    }

    /// Brings the Slack root message and the sticky PR comment up to date with the record.
    pub async fn sync(&self, record: &mut PreviewRecord) {
        if let (Some(slack), Some(channel), Some(ts)) = (
            &self.slack,
            record.slack_channel.clone(),
            record.slack_thread_ts.clone(),
        ) && let Err(e) = slack
            .update(&channel, &ts, &messages::summary_line(record))
            .await
        {
            self.metrics.api_error("slack");
            tracing::warn!(error = %e, "slack root update failed");
        }
        let Some(github) = &self.github else { return };
        let Some((owner, repo)) = record
            .repo
            .split_once('/')
            .map(|(o, r)| (o.to_string(), r.to_string()))
        else {
            return;
        };
        // A branch preview has no PR to comment on: Slack and the Deployment carry it.
        let Some(pr) = record.id.pr() else { return };
        let lifetime = crate::lifetime::Policy::new(&self.config.schedule).describe(record);
        let section = messages::sticky_comment(
            record,
            self.log_url(record).as_deref(),
            &self.config.bot.command_prefix,
            lifetime.as_deref(),
        );
        let shared = self.config.apps_for_repo(&owner, &repo).count() > 1;
        let result = if shared {
            // Several apps of one repository share the PR's one sticky comment, a section
            // each: read, merge, write, one app at a time.
            let lock = self.sticky_lock(&record.repo, pr);
            let _turn = lock.lock().await;
            self.merge_into_sticky(github, record, &owner, &repo, pr, &section)
                .await
        } else {
            match record.github_comment_id {
                Some(id) => github.edit_comment(&owner, &repo, id, &section).await,
                None => github.comment(&owner, &repo, pr, &section).await.map(|id| {
                    record.github_comment_id = Some(id);
                }),
            }
        };
        if let Err(e) = result {
            self.metrics.api_error("github");
            tracing::warn!(error = %e, "github sticky comment failed");
        }
    }

    /// Writes `section` into the PR's shared sticky comment, finding it first when this app has
    /// not written to it yet (another app of the repository may have created it).
    async fn merge_into_sticky(
        &self,
        github: &GitHubApi,
        record: &mut PreviewRecord,
        owner: &str,
        repo: &str,
        pr: u64,
        section: &str,
    ) -> anyhow::Result<()> {
        let existing = match record.github_comment_id {
            Some(id) => Some(id),
            None => {
                github
                    .find_comment(owner, repo, pr, messages::is_sticky)
                    .await?
            }
        };
        match existing {
            Some(id) => {
                let current = github.comment_body(owner, repo, id).await?;
                let body = messages::merge_sticky(&current, &record.id.app, section);
                github.edit_comment(owner, repo, id, &body).await?;
                record.github_comment_id = Some(id);
            }
            None => {
                let body = messages::merge_sticky("", &record.id.app, section);
                record.github_comment_id = Some(github.comment(owner, repo, pr, &body).await?);
            }
        }
        Ok(())
    }

    /// Serializes updates of one PR's shared sticky comment within this process.
    fn sticky_lock(&self, repo: &str, pr: u64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .sticky_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry((repo.to_string(), pr)).or_default().clone()
    }

    /// Starts a GitHub Deployment for the record's commit (in_progress) and, as a GitHub App,
    /// a check run on the commit.
    pub async fn deployment_started(&self, record: &mut PreviewRecord) {
        let Some(github) = &self.github else { return };
        let Some((owner, repo)) = record.repo.split_once('/') else {
            return;
        };
        record.github_check_run_id = None;
        if github.is_app() {
            let summary = format!(
                "Deploying `{}` into namespace `{}`.",
                messages::short_sha(&record.head_sha),
                record.namespace
            );
            let status_page = format!(
                "{}/previews",
                self.config.bot.public_url.trim_end_matches('/')
            );
            let report = CheckReport {
                conclusion: None,
                details_url: Some(&status_page),
                title: "Deploying",
                summary: &summary,
            };
            match github
                .create_check_run(
                    owner,
                    repo,
                    &record.head_sha,
                    &check_run_name(record),
                    &report,
                )
                .await
            {
                Ok(id) => record.github_check_run_id = Some(id),
                Err(e) => {
                    self.metrics.api_error("github");
                    tracing::warn!(error = %e, "github check run failed");
                }
            }
        }
        let environment = format!("preview/{}-{}", record.id.app, record.id.slug());
        match github
            .create_deployment(
                owner,
                repo,
                &record.head_sha,
                &environment,
                &format!("Preview {}", record.id),
            )
            .await
        {
            Ok(id) => {
                record.github_deployment_id = Some(id);
                self.deployment_state(record, DeploymentState::InProgress, "Deploying")
                    .await;
            }
            Err(e) => {
                self.metrics.api_error("github");
                tracing::warn!(error = %e, "github deployment failed");
            }
        }
    }

    /// Reports a state on the record's current GitHub Deployment.
    pub async fn deployment_state(
        &self,
        record: &PreviewRecord,
        state: DeploymentState,
        description: &str,
    ) {
        let log_url = self.log_url(record);
        self.check_run_state(record, state, description, log_url.as_deref())
            .await;
        let (Some(github), Some(id)) = (&self.github, record.github_deployment_id) else {
            return;
        };
        let Some((owner, repo)) = record.repo.split_once('/') else {
            return;
        };
        let environment_url = match state {
            DeploymentState::Inactive => None,
            _ => record.url.as_deref(),
        };
        let status = DeploymentStatus {
            state: state.as_str(),
            environment_url,
            log_url: log_url.as_deref(),
            description,
        };
        if let Err(e) = github.deployment_status(owner, repo, id, &status).await {
            self.metrics.api_error("github");
            tracing::warn!(error = %e, "github deployment status failed");
        }
    }

    /// Completes the deploy's check run: success with the preview's URL, failure with why and
    /// the log link; a deploy stopped before either (superseded, torn down) is `cancelled`.
    async fn check_run_state(
        &self,
        record: &PreviewRecord,
        state: DeploymentState,
        description: &str,
        log_url: Option<&str>,
    ) {
        let (Some(github), Some(id)) = (&self.github, record.github_check_run_id) else {
            return;
        };
        let Some((owner, repo)) = record.repo.split_once('/') else {
            return;
        };
        let failure = record.message.as_deref().unwrap_or(description).to_string();
        let (conclusion, title, summary, details_url) = match state {
            DeploymentState::InProgress => return,
            DeploymentState::Success => (
                "success",
                "Preview ready",
                match &record.url {
                    Some(url) => format!("{description}: {url}"),
                    None => description.to_string(),
                },
                record.url.as_deref(),
            ),
            DeploymentState::Failure => ("failure", "Preview failed", failure, log_url),
            DeploymentState::Inactive => {
                match github.check_run_open(owner, repo, id).await {
                    Ok(true) => {}
                    // Already completed (or unreadable): its verdict stands.
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "github check run read failed");
                        return;
                    }
                }
                ("cancelled", "Stopped", description.to_string(), None)
            }
        };
        let report = CheckReport {
            conclusion: Some(conclusion),
            details_url,
            title,
            summary: &summary,
        };
        if let Err(e) = github.update_check_run(owner, repo, id, &report).await {
            self.metrics.api_error("github");
            tracing::warn!(error = %e, "github check run update failed");
        }
    }
}

/// The check run of a preview: one per app, so a monorepo PR shows each.
fn check_run_name(record: &PreviewRecord) -> String {
    format!("preview / {}", record.id.app)
}
