//! The preview operations behind every command and event: up (create or update), down and
//! status. Operations on one preview never interleave (a lock per preview); different previews
//! deploy in parallel up to `bot.max_parallel_deploys`.

use crate::notify::{DeploymentState, Notifier};
use crate::origin::Origin;
use crate::source::SourceProvider;
use crate::{messages, replies};
use chrono::Utc;
use preview_config::{AppConfig, Config, ManifestSource};
use preview_deploy::cluster::{DeployError, Teardown};
use preview_deploy::render::{self, RenderError};
use preview_deploy::transform::{self, PreviewContext, Transformed};
use preview_deploy::{Cluster, Phase, PreviewId, PreviewRecord};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long an `up` waits for a namespace that is still being deleted.
const TERMINATING_WAIT: Duration = Duration::from_secs(120);

/// One preview a command or event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewRef {
    pub app: String,
    pub owner: String,
    pub repo: String,
    pub pr: u64,
}

impl PreviewRef {
    pub fn id(&self) -> PreviewId {
        PreviewId::new(self.app.clone(), self.pr)
    }
}

/// What an operation tells the person who asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub text: String,
}

impl Outcome {
    pub fn ok(text: impl Into<String>) -> Outcome {
        Outcome {
            ok: true,
            text: text.into(),
        }
    }
    pub fn refused(text: impl Into<String>) -> Outcome {
        Outcome {
            ok: false,
            text: text.into(),
        }
    }
}

/// Options of an `up`.
#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    pub ttl: Option<Duration>,
    /// Deploy this commit instead of asking GitHub for the PR's head (push events carry it).
    pub sha: Option<String>,
    /// Only redeploy an existing preview (a push to a PR without a preview does nothing).
    pub only_if_exists: bool,
}

pub struct Engine {
    pub config: Arc<Config>,
    pub cluster: Arc<Cluster>,
    pub source: SourceProvider,
    pub notifier: Notifier,
    locks: Mutex<HashMap<PreviewId, Arc<tokio::sync::Mutex<()>>>>,
    deploy_slots: Semaphore,
}

impl Engine {
    pub fn new(
        config: Arc<Config>,
        cluster: Arc<Cluster>,
        source: SourceProvider,
        notifier: Notifier,
    ) -> Engine {
        let slots = config.bot.max_parallel_deploys;
        Engine {
            config,
            cluster,
            source,
            notifier,
            locks: Mutex::new(HashMap::new()),
            deploy_slots: Semaphore::new(slots),
        }
    }

    async fn lock(&self, id: &PreviewId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(id.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }

    fn app(&self, name: &str) -> Option<&AppConfig> {
        self.config.apps.get(name)
    }

    /// Creates or updates the preview at the PR's head commit (or `options.sha`).
    /// Returns `None` when there was nothing to do (a push to a PR without a preview).
    pub async fn up(
        &self,
        target: &PreviewRef,
        origin: &Origin,
        options: UpOptions,
    ) -> Option<Outcome> {
        let id = target.id();
        let _guard = self.lock(&id).await;
        let Some(app) = self.app(&target.app) else {
            return Some(Outcome::refused(replies::unknown_app(&target.app)));
        };
        let ns = id.namespace(&self.config.bot.namespace_prefix);
        let repo_name = format!("{}/{}", target.owner, target.repo);
        let mut existing = match self.cluster.get_record(&ns).await {
            Ok(record) => record,
            Err(e) => return Some(Outcome::refused(replies::cannot_deploy(&id, &e))),
        };
        if existing
            .as_ref()
            .is_some_and(|r| r.phase == Phase::Terminating)
        {
            if options.only_if_exists {
                return None;
            }
            self.notifier
                .reply(origin, &replies::waiting_for_teardown(&id))
                .await;
            if let Err(e) = self.cluster.wait_until_gone(&ns, TERMINATING_WAIT).await {
                return Some(Outcome::refused(replies::cannot_deploy(&id, &e)));
            }
            existing = None;
        }
        if existing.is_none() {
            if options.only_if_exists {
                return None;
            }
            match self.cluster.inventory().await {
                Ok(inventory) if inventory.previews.len() >= self.config.bot.max_previews => {
                    return Some(Outcome::refused(replies::too_many_previews(
                        &id,
                        inventory.previews.len(),
                        self.config.bot.max_previews,
                        &self.config.bot.command_prefix,
                    )));
                }
                Ok(_) => {}
                Err(e) => return Some(Outcome::refused(replies::cannot_deploy(&id, &e))),
            }
        }
        let pull = match self
            .source
            .pull_request(&target.owner, &target.repo, target.pr)
            .await
        {
            Ok(pull) => pull,
            Err(e) => {
                return Some(Outcome::refused(replies::pull_request_unreadable(
                    &id, &repo_name, target.pr, &e,
                )));
            }
        };
        if !pull.open {
            return Some(Outcome::refused(replies::pull_request_closed(
                &id, &repo_name, target.pr,
            )));
        }
        let sha = options.sha.clone().unwrap_or_else(|| pull.head_sha.clone());
        let now = Utc::now();
        let mut record = existing.unwrap_or_else(|| {
            let owner = if pull.author.is_empty() {
                origin.actor()
            } else {
                pull.author.clone()
            };
            PreviewRecord::new(id.clone(), ns.clone(), &repo_name, &owner, &sha, now)
        });
        record.head_sha = sha.clone();
        record.branch = Some(pull.head_ref.clone());
        record.phase = Phase::Deploying;
        record.message = None;
        record.last_activity = now;
        if let Some(ttl) = options.ttl {
            record.deadline = chrono::Duration::from_std(ttl).ok().map(|d| now + d);
        }
        if record.slack_channel.is_none() {
            record.slack_channel = app
                .slack_channel
                .clone()
                .or_else(|| origin.slack_channel().map(str::to_string));
        }
        let ctx = PreviewContext::new(
            &self.config,
            &target.app,
            app,
            target.pr,
            &sha,
            Some(&pull.head_ref),
        );
        if let Err(e) = self.cluster.save_record(&record).await {
            return Some(Outcome::refused(replies::cannot_deploy(&id, &e)));
        }
        self.notifier.deployment_started(&mut record).await;
        self.notifier
            .progress(&mut record, &replies::deploying(&sha, &origin.actor()))
            .await;
        self.notifier.sync(&mut record).await;
        self.save_quietly(&record).await;

        let result = {
            let _slot = self.deploy_slots.acquire().await;
            self.deploy(&mut record, &ctx, app).await
        };
        record.last_activity = Utc::now();
        let outcome = match result {
            Ok(transformed) => {
                record.phase = Phase::Ready;
                record.url = transformed
                    .hosts
                    .first()
                    .map(|host| format!("{}://{host}", self.config.domains.scheme));
                Outcome::ok(replies::ready(
                    &id,
                    record.url.as_deref(),
                    &sha,
                    &transformed.warnings,
                ))
            }
            Err(message) => {
                record.phase = Phase::Failed;
                record.message = Some(message.clone());
                Outcome::refused(replies::failed(&id, &sha, &message))
            }
        };
        self.save_quietly(&record).await;
        self.notifier.progress(&mut record, &outcome.text).await;
        let (state, description) = if outcome.ok {
            (DeploymentState::Success, "Preview ready")
        } else {
            (DeploymentState::Failure, "Preview failed")
        };
        self.notifier
            .deployment_state(&record, state, description)
            .await;
        self.notifier.sync(&mut record).await;
        self.save_quietly(&record).await;
        Some(outcome)
    }

    /// Fetches, renders, transforms, applies and waits; the error is the user-facing reason.
    async fn deploy(
        &self,
        record: &mut PreviewRecord,
        ctx: &PreviewContext,
        app: &AppConfig,
    ) -> Result<Transformed, String> {
        let (owner, repo) = record.repo.split_once('/').unwrap_or((&record.repo, ""));
        let tree = self
            .source
            .tree(owner, repo, &record.head_sha)
            .await
            .map_err(|e| format!("cannot get the repository at this commit: {e}"))?;
        let rendered = match app.manifests.source() {
            Ok(ManifestSource::Dir(dir)) => {
                tokio::task::spawn_blocking(move || render::render_dir(tree.root(), &dir))
                    .await
                    .map_err(|e| format!("rendering crashed: {e}"))?
            }
            Ok(ManifestSource::Kustomize(_)) => Err(RenderError::Unsupported(
                "kustomize manifests (use `manifests = { dir = ... }` for now)".into(),
            )),
            Ok(ManifestSource::Image { .. }) => Err(RenderError::Unsupported(
                "image-only apps (use `manifests = { dir = ... }` for now)".into(),
            )),
            Err(e) => Err(RenderError::Unsupported(e)),
        }
        .map_err(|e| e.to_string())?;
        let transformed = transform::transform(rendered, ctx).map_err(|e| e.to_string())?;
        let applied = self
            .cluster
            .apply(&record.namespace, &transformed.objects)
            .await
            .map_err(|e| e.to_string())?;
        // Remember what this render applied before pruning what the previous one had.
        let previous = std::mem::replace(
            &mut record.applied,
            applied.iter().map(|a| a.key()).collect(),
        );
        self.save_quietly(record).await;
        let pruned = self
            .cluster
            .prune(&record.namespace, &previous, &applied)
            .await
            .map_err(|e| e.to_string())?;
        if !pruned.is_empty() {
            tracing::info!(preview = %record.id, ?pruned, "pruned objects the new render no longer has");
        }
        self.cluster
            .wait_ready(&record.namespace, &applied, self.config.ready_timeout())
            .await
            .map_err(|e| e.to_string())?;
        Ok(transformed)
    }

    async fn save_quietly(&self, record: &PreviewRecord) {
        if let Err(e) = self.cluster.save_record(record).await {
            tracing::error!(preview = %record.id, error = %e, "saving the preview record failed");
        }
    }

    /// Tears the preview down. `quiet_if_missing` is for PR closes: no preview, no message.
    pub async fn down(
        &self,
        target: &PreviewRef,
        origin: &Origin,
        quiet_if_missing: bool,
    ) -> Option<Outcome> {
        let id = target.id();
        let _guard = self.lock(&id).await;
        let ns = id.namespace(&self.config.bot.namespace_prefix);
        let mut record = match self.cluster.get_record(&ns).await {
            Ok(Some(record)) => record,
            Ok(None) if quiet_if_missing => return None,
            Ok(None) => {
                return Some(Outcome::refused(replies::nothing_to_tear_down(&id)));
            }
            Err(e) => return Some(Outcome::refused(replies::cannot_tear_down(&id, &e))),
        };
        match self.cluster.teardown(&ns).await {
            Ok(Teardown::Deleted) | Ok(Teardown::AlreadyGone) => {
                record.phase = Phase::Terminating;
                record.last_activity = Utc::now();
                let text = replies::torn_down(&id, &origin.actor(), &ns);
                self.notifier.progress(&mut record, &text).await;
                self.notifier
                    .deployment_state(&record, DeploymentState::Inactive, "Preview torn down")
                    .await;
                self.notifier.sync(&mut record).await;
                Some(Outcome::ok(text))
            }
            Err(e @ DeployError::NotManaged(_)) => {
                Some(Outcome::refused(replies::refusing_teardown(&id, &e)))
            }
            Err(e) => Some(Outcome::refused(replies::teardown_failed(&id, &e))),
        }
    }

    /// Phase, URL, commit, age, activity, workloads and log link of one preview.
    pub async fn status(&self, target: &PreviewRef) -> Outcome {
        let id = target.id();
        let ns = id.namespace(&self.config.bot.namespace_prefix);
        match self.cluster.get_record(&ns).await {
            Ok(Some(record)) => {
                let workloads = if record.phase == Phase::Terminating {
                    Vec::new()
                } else {
                    self.cluster.workloads(&ns).await.unwrap_or_default()
                };
                Outcome::ok(messages::status_text(
                    &record,
                    &workloads,
                    self.notifier.log_url(&record).as_deref(),
                ))
            }
            Ok(None) => Outcome::ok(replies::no_preview(&id, &self.config.bot.command_prefix)),
            Err(e) => Outcome::refused(replies::cannot_read(&id, &e)),
        }
    }

    /// One line per running preview.
    pub async fn list(&self, app: Option<&str>, mine: Option<&str>) -> Outcome {
        match self.cluster.inventory().await {
            Ok(inventory) => {
                let lines: Vec<String> = inventory
                    .previews
                    .iter()
                    .filter(|r| app.is_none_or(|a| r.id.app == a))
                    .filter(|r| mine.is_none_or(|m| r.owner == m))
                    .map(messages::summary_line)
                    .collect();
                if lines.is_empty() {
                    Outcome::ok(replies::no_previews_running())
                } else {
                    Outcome::ok(lines.join("\n"))
                }
            }
            Err(e) => Outcome::refused(replies::cannot_list(&e)),
        }
    }
}
