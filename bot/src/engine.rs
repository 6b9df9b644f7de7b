//! The preview operations behind every command and event: up (create or update), down and
//! status. Operations on one preview never interleave (a lock per preview); different previews
//! deploy in parallel up to `bot.max_parallel_deploys`.

use crate::audit::Auditor;
use crate::clock::{Clock, SystemClock};
use crate::killswitch;
use crate::killswitch_view::KillSwitchView;
use crate::lifetime::Policy as LifetimePolicy;
use crate::metrics::Metrics;
use crate::notify::{DeploymentState, Notifier};
use crate::origin::Origin;
use crate::policy::Policy;
use crate::source::SourceProvider;
use crate::supersede::{Ticket, Tickets};
use crate::{messages, replies};
use chrono::{DateTime, Utc};
use preview_commands::{Destination, Route};
use preview_config::{AppConfig, Config, SeedConfig};
use preview_deploy::cluster::{DeployError, Teardown};
use preview_deploy::dependencies;
use preview_deploy::ops::{KillSwitchState, OpsStore};
use preview_deploy::plan::{self, PlanInputs};
use preview_deploy::render::Rendered;
use preview_deploy::seed;
use preview_deploy::sources::KustomizeProgram;
use preview_deploy::transform::{self, PreviewContext, Transformed};
use preview_deploy::upstreams;
use preview_deploy::{Cluster, Phase, PreviewId, PreviewRecord, Subject};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long an `up` waits for a namespace that is still being deleted.
const TERMINATING_WAIT: Duration = Duration::from_secs(120);
/// How long `kubectl kustomize` may take.
const KUSTOMIZE_TIMEOUT: Duration = Duration::from_secs(60);
/// Beyond the seed's own deadline (`activeDeadlineSeconds`), for the Job to report it.
const SEED_GRACE: Duration = Duration::from_secs(30);
/// Log lines shown with a seed's outcome.
const SEED_LOG_LINES: i64 = 20;
/// How long a change of the kill switch waits for this replica's watch to show it.
const KILL_SWITCH_VIEW_PATIENCE: Duration = Duration::from_secs(3);
/// Log lines `logs` shows without `--tail`, and the most it shows.
const DEFAULT_LOG_LINES: u32 = 50;
const MAX_LOG_LINES: u32 = 500;

/// One preview a command or event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewRef {
    pub app: String,
    pub owner: String,
    pub repo: String,
    /// The PR, or the branch of a branch preview.
    pub subject: Subject,
}

impl PreviewRef {
    pub fn id(&self) -> PreviewId {
        PreviewId {
            app: self.app.clone(),
            subject: self.subject.clone(),
        }
    }

    /// The preview a record describes.
    pub fn of(record: &PreviewRecord) -> PreviewRef {
        let (owner, repo) = record.repo.split_once('/').unwrap_or((&record.repo, ""));
        PreviewRef {
            app: record.id.app.clone(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            subject: record.id.subject.clone(),
        }
    }
}

/// `app#N, app#M` for logs.
pub fn ids(previews: &[PreviewRef]) -> String {
    previews
        .iter()
        .map(|p| p.id().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The commit an `up` deploys and where it comes from.
struct Head {
    sha: String,
    /// The PR's author; empty for a branch (whoever asked owns the preview).
    author: String,
    branch: String,
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

/// How a deploy started, for its first reports.
struct DeployStart {
    /// Who asked.
    actor: String,
    /// The preview was asleep and this deploy woke it.
    woke: bool,
}

/// A deploy rendered and transformed, nothing applied yet.
struct Rendering {
    /// The namespace's policies (quota, default requests) and the copied Secrets.
    policies: Vec<serde_json::Value>,
    dependencies: Vec<serde_json::Value>,
    /// Every dependency is built in: its pods ask for their resources and pull public images,
    /// so they need neither the default requests nor the copied Secrets first.
    dependencies_self_contained: bool,
    app: Transformed,
}

/// A deploy whose first wave (policies, copied Secrets, dependencies) is applied.
struct Prepared {
    applied: Vec<preview_deploy::cluster::AppliedRef>,
    app: Transformed,
}

/// Options of an `up`.
#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    pub ttl: Option<Duration>,
    /// Deploy this commit instead of asking GitHub for the PR's head (push events carry it).
    pub sha: Option<String>,
    /// Only redeploy an existing preview (a push to a PR without a preview does nothing).
    pub only_if_exists: bool,
    /// Restart the workloads even where their spec is unchanged (`redeploy`).
    pub restart: bool,
}

pub struct Engine {
    pub config: Arc<Config>,
    pub cluster: Arc<Cluster>,
    pub source: SourceProvider,
    pub notifier: Notifier,
    /// The kill switch and audit log in the bot's namespace.
    pub ops: OpsStore,
    pub audit: Auditor,
    pub policy: Policy,
    pub metrics: Arc<Metrics>,
    locks: Mutex<HashMap<PreviewId, Arc<tokio::sync::Mutex<()>>>>,
    /// The newest `up`/`down` per preview: an older running deploy stops for it.
    tickets: Arc<Tickets>,
    /// This replica's watch of the kill switch; without one (or out of sync) it is read.
    kill_switch_view: Option<KillSwitchView>,
    /// Previews with a seed running (a second one is refused, not queued).
    seeding: Mutex<std::collections::HashSet<PreviewId>>,
    deploy_slots: Semaphore,
    clock: Arc<dyn Clock>,
}

impl Engine {
    pub fn new(
        config: Arc<Config>,
        cluster: Arc<Cluster>,
        source: SourceProvider,
        notifier: Notifier,
    ) -> Engine {
        let slots = config.bot.max_parallel_deploys;
        cluster.protect(&config.bot.namespace);
        // Audit Events name the replica that reported them.
        let instance = std::env::var("HOSTNAME").unwrap_or_else(|_| "preview-bot".into());
        let ops = OpsStore::new(cluster.client().clone(), &config.bot.namespace, &instance);
        let policy = Policy::new(
            config.clone(),
            cluster.clone(),
            notifier.slack().cloned(),
            source.github().cloned(),
        );
        let metrics = Arc::new(Metrics::new());
        Engine {
            audit: Auditor::new(ops.clone()),
            ops,
            policy,
            config,
            cluster,
            source,
            notifier: notifier.with_metrics(metrics.clone()),
            metrics,
            locks: Mutex::new(HashMap::new()),
            tickets: Arc::new(Tickets::default()),
            kill_switch_view: None,
            seeding: Mutex::new(std::collections::HashSet::new()),
            deploy_slots: Semaphore::new(slots),
            clock: Arc::new(SystemClock),
        }
    }

    /// Counts into `metrics` (shared with the Kubernetes client's error counter).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Engine {
        self.notifier = self.notifier.with_metrics(metrics.clone());
        self.metrics = metrics;
        self
    }

    /// The same engine on another clock (tests move time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Engine {
        self.clock = clock;
        self
    }

    /// Answers [`Engine::kill_switch`] from `view` while it is in sync. The view should stop
    /// this engine's deploys when it sees the switch go on: see [`Engine::deploy_stopper`], or
    /// [`Engine::watching_kill_switch`] that does both.
    pub fn with_kill_switch_view(mut self, view: KillSwitchView) -> Engine {
        self.kill_switch_view = Some(view);
        self
    }

    /// Starts this replica's watch of the kill switch in the bot's namespace (until `stop`):
    /// deploys ask it instead of the API, and a kill switch turned on anywhere stops this
    /// engine's running deploys. Needs a Tokio runtime.
    pub fn watching_kill_switch(
        self,
        stop: tokio_util::sync::CancellationToken,
    ) -> (Engine, tokio::task::JoinHandle<()>) {
        let (view, task) = KillSwitchView::start(
            self.cluster.client().clone(),
            &self.config.bot.namespace,
            stop,
            self.deploy_stopper(),
        );
        (self.with_kill_switch_view(view), task)
    }

    pub fn kill_switch_view(&self) -> Option<&KillSwitchView> {
        self.kill_switch_view.as_ref()
    }

    /// What [`Engine::stop_running_deploys`] does, without holding the engine (a watch of the
    /// kill switch calls it; holding the engine would keep it alive forever).
    pub fn deploy_stopper(&self) -> impl Fn() + Send + Sync + 'static {
        let tickets = self.tickets.clone();
        move || tickets.supersede_all()
    }

    /// The kill switch as this replica's watch sees it, or read from the state ConfigMap while
    /// there is no watch in sync (unknown never means off).
    pub async fn kill_switch(&self) -> Result<KillSwitchState, DeployError> {
        if let Some(state) = self
            .kill_switch_view
            .as_ref()
            .and_then(KillSwitchView::current)
        {
            return Ok(state);
        }
        self.ops.kill_switch().await
    }

    /// Saves a change of the kill switch (see [`OpsStore::update_kill_switch`]), then waits
    /// briefly until this replica's watch shows it, so that whatever this replica does next
    /// (the `up` right after `off`, say) sees the switch as saved.
    pub async fn update_kill_switch(
        &self,
        change: impl FnMut(&mut KillSwitchState) -> bool,
    ) -> Result<KillSwitchState, DeployError> {
        let saved = self.ops.update_kill_switch(change).await?;
        if let Some(view) = &self.kill_switch_view
            && !view.until_shows(&saved, KILL_SWITCH_VIEW_PATIENCE).await
        {
            tracing::warn!(
                "the watch of the kill switch did not show the saved state in time; it answers for the next deploys once it does"
            );
        }
        Ok(saved)
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The idle policy of `[schedule]`.
    pub fn policy(&self) -> LifetimePolicy {
        LifetimePolicy::new(&self.config.schedule)
    }

    pub(crate) async fn lock(&self, id: &PreviewId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(id.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// The preview's lock if nobody holds it: scheduled work skips a preview that is busy
    /// (and so in use) instead of waiting behind a deploy.
    pub(crate) fn try_lock(&self, id: &PreviewId) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(id.clone()).or_default().clone()
        };
        lock.try_lock_owned().ok()
    }

    /// How commands are parsed under this config (the `max_ttl` bound).
    pub fn parse_options(&self) -> preview_commands::ParseOptions {
        preview_commands::ParseOptions {
            max_ttl: Some(self.config.schedule.max_ttl.get()),
        }
    }

    /// Stops every deploy this replica runs at its next safe point (the kill switch going on).
    pub fn stop_running_deploys(&self) {
        self.tickets.supersede_all();
    }

    /// The refusal of a change while the kill switch is on; an unreadable switch refuses too
    /// (an incident is no time to fail open).
    pub async fn frozen(&self, what: &str) -> Option<Outcome> {
        match self.kill_switch().await {
            Ok(state) if state.active => Some(Outcome::refused(killswitch::frozen_message(
                &state,
                what,
                &self.config.bot.command_prefix,
            ))),
            Ok(_) => None,
            Err(e) => Some(Outcome::refused(format!(
                "{what} was not changed: the kill switch could not be read ({e}). Try again."
            ))),
        }
    }

    pub(crate) fn app(&self, name: &str) -> Option<&AppConfig> {
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
        let ticket = self.tickets.take(&id);
        let _guard = self.lock(&id).await;
        if ticket.superseded() {
            // A newer push or command came in while this one waited: that one deploys.
            return (!options.only_if_exists)
                .then(|| Outcome::ok(replies::superseded_before_start(&id)));
        }
        let Some(app) = self.app(&target.app) else {
            return Some(Outcome::refused(replies::unknown_app(&target.app)));
        };
        let ns = id.namespace(&self.config.bot.namespace_prefix);
        let repo_name = format!("{}/{}", target.owner, target.repo);
        // What an `up` reads, at once: the record and, for a command (which may create the
        // preview), the head and the running previews for the caps. A push reads the head
        // only once it knows the preview exists, and a redeploy never creates one.
        // The Secrets to copy are read then too: they do not depend on the preview.
        let may_create = !options.only_if_exists;
        let (existing, head, running, copies) = tokio::join!(
            self.cluster.get_record(&ns),
            async {
                match may_create {
                    true => Some(self.head(target, &repo_name).await),
                    false => None,
                }
            },
            async {
                match may_create && !options.restart {
                    true => Some(self.cluster.inventory().await),
                    false => None,
                }
            },
            async {
                match may_create {
                    true => Some(self.secret_copies().await),
                    false => None,
                }
            },
        );
        let mut existing = match existing {
            Ok(record) => record,
            Err(e) => return Some(Outcome::refused(replies::cannot_deploy(&id, &e))),
        };
        // The read above is the guard against a foreign namespace of the preview's name.
        let mut checked_absent = existing.is_none();
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
            checked_absent = false;
        }
        if existing.is_none() {
            if options.only_if_exists {
                return None;
            }
            if let Some(refusal) = self.over_cap(&id, app, running).await {
                return Some(refusal);
            }
        }
        if let Some(refusal) = self.frozen(&format!("`{id}`")).await {
            return Some(refusal);
        }
        let head = match head {
            Some(head) => head,
            None => self.head(target, &repo_name).await,
        };
        let head = match head {
            Ok(head) => head,
            Err(refusal) => return Some(Outcome::refused(refusal)),
        };
        let sha = options.sha.clone().unwrap_or_else(|| head.sha.clone());
        let now = self.now();
        let created = existing.is_none();
        let mut record = existing.unwrap_or_else(|| {
            let owner = if head.author.is_empty() {
                origin.actor()
            } else {
                head.author.clone()
            };
            PreviewRecord::new(id.clone(), ns.clone(), &repo_name, &owner, &sha, now)
        });
        record.head_sha = sha.clone();
        record.branch = Some(head.branch.clone());
        record.phase = Phase::Deploying;
        record.message = None;
        crate::lifecycle::touch(&mut record, now);
        if let Some(ttl) = options.ttl {
            record.deadline = chrono::Duration::from_std(ttl).ok().map(|d| now + d);
        }
        if options.restart && !created {
            record.restarted_at = Some(now);
        }
        if record.slack_channel.is_none() {
            record.slack_channel = app
                .slack_channel
                .clone()
                .or_else(|| origin.slack_channel().map(str::to_string));
        }
        let ctx = PreviewContext::for_id(&self.config, &id, app, &sha, Some(&head.branch));
        // A sleeping preview wakes: its workloads get their replica counts back before the
        // redeploy (an HPA-managed workload gets no replicas from the apply). The counts leave
        // the record only once restored, so a crash in between loses nothing.
        let asleep = std::mem::take(&mut record.sleeping_replicas);
        if !asleep.is_empty()
            && let Err(e) = self.cluster.restore_scale(&ns, &asleep).await
        {
            return Some(Outcome::refused(replies::cannot_deploy(&id, &e)));
        }
        let save = async {
            if checked_absent {
                self.cluster.create_record(&record).await
            } else {
                self.cluster.save_record(&record).await
            }
        };
        let start = DeployStart {
            actor: origin.actor(),
            woke: !asleep.is_empty(),
        };

        // With no check to wait for and a deploy slot free, the namespace is saved while the
        // manifests render (neither needs the other), and the start is announced while the
        // first wave goes out: Slack and GitHub are not on the deploy's path. Otherwise the
        // start is announced first, then the deploy waits for CI and for a slot.
        let free_slot = match app.wait_for_check {
            None => self.deploy_slots.try_acquire().ok(),
            Some(_) => None,
        };
        let result = match free_slot {
            Some(_slot) => {
                let started = std::time::Instant::now();
                let (saved, rendered) =
                    tokio::join!(save, self.render(&record, &ctx, app, created, copies));
                if let Err(e) = saved {
                    return Some(Outcome::refused(replies::cannot_deploy(&id, &e)));
                }
                let deployed = self
                    .deploy(&mut record, rendered, app, &ticket, &start, true)
                    .await;
                self.metrics
                    .deploy_finished(&id.app, deployed.is_ok(), started.elapsed());
                deployed
            }
            None => {
                if let Err(e) = save.await {
                    return Some(Outcome::refused(replies::cannot_deploy(&id, &e)));
                }
                self.announce(&mut record, &start).await;
                self.save_quietly(&record).await;
                match self.await_check(&mut record, app, &ticket).await {
                    Ok(()) => {
                        let _slot = self.deploy_slots.acquire().await;
                        let started = std::time::Instant::now();
                        let rendered = self.render(&record, &ctx, app, created, copies).await;
                        let deployed = self
                            .deploy(&mut record, rendered, app, &ticket, &start, false)
                            .await;
                        self.metrics
                            .deploy_finished(&id.app, deployed.is_ok(), started.elapsed());
                        deployed
                    }
                    Err(reason) => Err(reason),
                }
            }
        };
        record.last_activity = self.now();
        if result.is_err() && ticket.superseded() {
            let frozen = self.kill_switch().await.is_ok_and(|s| s.active);
            let text = if frozen {
                // Nothing newer follows: the preview stays as far as it got, and says so.
                record.phase = Phase::Failed;
                replies::stopped_by_kill_switch(&id, &sha)
            } else {
                replies::superseded(&id, &sha)
            };
            record.message = frozen.then(|| text.clone());
            self.save_quietly(&record).await;
            self.notifier.progress(&mut record, &text).await;
            self.notifier
                .deployment_state(
                    &record,
                    DeploymentState::Inactive,
                    "Superseded by a newer request",
                )
                .await;
            self.save_quietly(&record).await;
            return Some(Outcome::ok(text));
        }
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
        // The outcome is saved while it is reported; a second save keeps what the reports
        // added (a new Slack thread, comment or check run), when they added anything.
        let outcome_record = record.clone();
        let report = async {
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
        };
        // Unless a seed follows, this is the outcome: the audit entry is written meanwhile.
        if !self.seeds_after(app, &outcome_record, &outcome) {
            crate::audit::outcome_known(&outcome);
        }
        tokio::join!(self.save_quietly(&outcome_record), report);
        if record != outcome_record {
            self.save_quietly(&record).await;
        }
        let mut outcome = outcome;
        if self.seeds_after(app, &record, &outcome)
            && let Some(seed_config) = &app.seed
        {
            self.seeding_lock().insert(id.clone());
            let seeded = self
                .run_seed(&mut record, app, seed_config, None, origin)
                .await;
            self.seeding_lock().remove(&id);
            self.save_quietly(&record).await;
            outcome = Outcome {
                ok: seeded.ok,
                text: format!("{}\n{}", outcome.text, seeded.text),
            };
        }
        Some(outcome)
    }

    /// Whether the creation seed runs after a deploy with this outcome: until one succeeded
    /// (a first deploy that failed is seeded by the next good one).
    fn seeds_after(&self, app: &AppConfig, record: &PreviewRecord, outcome: &Outcome) -> bool {
        outcome.ok
            && record.seeded_at.is_none()
            && app.seed.as_ref().is_some_and(|seed| seed.on_create)
    }

    /// The refusal when a new preview would exceed `bot.max_previews` or the app's
    /// `max_previews`. Previews already being torn down do not count. `running` is the
    /// inventory read with the record, when it was.
    async fn over_cap(
        &self,
        id: &PreviewId,
        app: &AppConfig,
        running: Option<Result<Arc<preview_deploy::cluster::Inventory>, DeployError>>,
    ) -> Option<Outcome> {
        let inventory = match running {
            Some(inventory) => inventory,
            None => self.cluster.inventory().await,
        };
        let inventory = match inventory {
            Ok(inventory) => inventory,
            Err(e) => return Some(Outcome::refused(replies::cannot_deploy(id, &e))),
        };
        let live: Vec<_> = inventory
            .previews
            .iter()
            .filter(|r| r.phase != Phase::Terminating)
            .collect();
        let of_app = live.iter().filter(|r| r.id.app == id.app).count();
        let prefix = &self.config.bot.command_prefix;
        if live.len() >= self.config.bot.max_previews {
            return Some(Outcome::refused(replies::too_many_previews(
                id,
                live.len(),
                self.config.bot.max_previews,
                prefix,
            )));
        }
        if app.max_previews.is_some_and(|cap| of_app >= cap) {
            return Some(Outcome::refused(replies::too_many_app_previews(
                id, of_app, prefix,
            )));
        }
        None
    }

    /// The first reports of a deploy: woken (when it was asleep), the GitHub Deployment and
    /// check run, "deploying" in the thread, the sticky comment.
    async fn announce(&self, record: &mut PreviewRecord, start: &DeployStart) {
        if start.woke {
            let woken = replies::woken(&record.id, &start.actor);
            self.notifier.progress(record, &woken).await;
        }
        self.notifier.deployment_started(record).await;
        let deploying = replies::deploying(&record.head_sha, &start.actor);
        self.notifier.progress(record, &deploying).await;
        self.notifier.sync(record).await;
    }

    /// Applies the first wave (policies, copied Secrets, dependencies) of what `render` made,
    /// waits for the dependencies, applies the app and waits for it. With `announce`, the
    /// start is reported meanwhile. The error is the user-facing reason.
    async fn deploy(
        &self,
        record: &mut PreviewRecord,
        rendered: Result<Rendering, String>,
        app: &AppConfig,
        ticket: &Ticket,
        start: &DeployStart,
        announce: bool,
    ) -> Result<Transformed, String> {
        let ns = record.namespace.clone();
        let timeout = self.config.ready_timeout();
        // The reports go to a copy of the record, in their order: the start (unless made
        // before), then "starting dependencies" once they are applied. The deploy does not
        // wait for them until the app wave; their handles then join the record.
        let mut reported = record.clone();
        let (dependencies_applied, applied_signal) = tokio::sync::oneshot::channel();
        let reports = async {
            if announce {
                self.announce(&mut reported, start).await;
            }
            if applied_signal.await == Ok(true) {
                let starting = replies::starting_dependencies(&app.dependencies);
                self.notifier.progress(&mut reported, &starting).await;
            }
        };
        let first_wave = async {
            // `shared` dependencies are only a URL: nothing to start or wait for.
            let has_dependencies = rendered.as_ref().is_ok_and(|r| !r.dependencies.is_empty());
            let prepared = match rendered {
                Ok(rendered) => self.apply_first_wave(&ns, rendered).await,
                Err(reason) => Err(reason),
            };
            let _ = dependencies_applied.send(prepared.is_ok() && has_dependencies);
            let prepared = prepared?;
            if has_dependencies {
                until_superseded(
                    ticket,
                    self.cluster.wait_ready(&ns, &prepared.applied, timeout),
                )
                .await?
                .map_err(|e| replies::dependencies_not_ready(&e))?;
            }
            Ok::<_, String>(prepared)
        };
        let ((), prepared) = tokio::join!(reports, first_wave);
        record.adopt_notification_handles(&reported);
        let Prepared {
            mut applied,
            app: mut transformed,
        } = prepared?;
        if ticket.superseded() {
            return Err(SUPERSEDED.into());
        }
        // A kill switch turned on since this deploy started, should the watch have missed it
        // (without a watch in sync, this reads the switch).
        if self.kill_switch().await.is_ok_and(|s| s.active) {
            return Err(replies::stopped_by_kill_switch(
                &record.id,
                &record.head_sha,
            ));
        }
        // Kept on every later apply too: dropping it would roll the pods again.
        if let Some(at) = record.restarted_at {
            let at = at.to_rfc3339();
            for object in &mut transformed.objects {
                transform::stamp_restart(object, &at);
            }
        }
        let app_wave = self
            .cluster
            .apply(&ns, &transformed.objects)
            .await
            .map_err(|e| e.to_string())?;
        // The dependencies were waited for before the app wave: only the app's own workloads
        // are left to wait for.
        let app_workloads = app_wave.clone();
        applied.extend(app_wave);
        // What this render applied is saved before the previous render's leftovers are
        // pruned (a crash in between prunes them next time), while the app rolls out.
        let previous = std::mem::replace(
            &mut record.applied,
            applied.iter().map(|a| a.key()).collect(),
        );
        let record = &*record;
        let persist = async {
            self.save_quietly(record).await;
            self.cluster
                .prune(&ns, &previous, &applied)
                .await
                .map_err(|e| e.to_string())
        };
        let rollout = async {
            until_superseded(
                ticket,
                self.cluster.wait_ready(&ns, &app_workloads, timeout),
            )
            .await?
            .map_err(|e| e.to_string())
        };
        let (pruned, _) = tokio::try_join!(persist, rollout)?;
        if !pruned.is_empty() {
            tracing::info!(preview = %record.id, ?pruned, "pruned objects the new render no longer has");
        }
        Ok(transformed)
    }

    /// The Secrets of `deploy.copy_secrets`, as they are in their namespaces.
    async fn secret_copies(&self) -> Result<Vec<Rendered>, String> {
        let reads = self
            .config
            .deploy
            .copy_secrets
            .iter()
            .map(|source| async move {
                let copy = self
                    .cluster
                    .secret_copy(&source.namespace, &source.name)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(Rendered {
                    source: format!("deploy.copy_secrets {}/{}", source.namespace, source.name),
                    object: copy,
                })
            });
        futures::future::try_join_all(reads).await
    }

    /// The two waves of a deploy, rendered and transformed: the copied Secrets (`copies` when
    /// read already), the repository at this commit and the passwords of dependencies
    /// deployed before are read at once, then the dependencies and the app are rendered.
    /// Writes nothing, so a broken manifest changes nothing.
    async fn render(
        &self,
        record: &PreviewRecord,
        ctx: &PreviewContext,
        app: &AppConfig,
        created: bool,
        copies: Option<Result<Vec<Rendered>, String>>,
    ) -> Result<Rendering, String> {
        let ns = &record.namespace;
        let copies = async {
            let copies = match copies {
                Some(copies) => copies?,
                None => self.secret_copies().await?,
            };
            if copies.is_empty() {
                return Ok(Vec::new());
            }
            Ok(transform::transform(copies, ctx)
                .map_err(|e| e.to_string())?
                .objects)
        };
        let (owner, repo) = record.repo.split_once('/').unwrap_or((&record.repo, ""));
        let fetch_tree = async {
            self.source
                .tree(owner, repo, &record.head_sha)
                .await
                .map_err(|e| format!("cannot get the repository at this commit: {e}"))
        };
        // A namespace created by this `up` has no dependency Secrets yet.
        let passwords = async {
            if created || app.dependencies.is_empty() {
                Ok(HashMap::new())
            } else {
                self.existing_passwords(ns, app).await
            }
        };
        let (copies, tree, passwords) =
            futures::future::try_join3(copies, fetch_tree, passwords).await?;
        let plan = {
            let (config, app, ctx) = (self.config.clone(), app.clone(), ctx.clone());
            let pointers = self.pointer_hosts(record);
            tokio::task::spawn_blocking(move || {
                let inputs = PlanInputs {
                    pointers: &pointers,
                    existing_password: &|name: &str| passwords.get(name).cloned(),
                    kustomize: &KustomizeProgram::default(),
                    kustomize_timeout: KUSTOMIZE_TIMEOUT,
                };
                plan::plan(&config, &app, &ctx, tree.root(), &inputs)
            })
            .await
            .map_err(|e| format!("rendering crashed: {e}"))??
        };
        let mut policies = plan::policies(&self.config, ctx)?;
        policies.extend(copies);
        let first_wave: Vec<_> = policies.iter().chain(&plan.dependencies).cloned().collect();
        if let Some(clash) = name_clash(&first_wave, &plan.app.objects) {
            return Err(replies::dependency_clash(&clash));
        }
        Ok(Rendering {
            policies,
            dependencies: plan.dependencies,
            dependencies_self_contained: app.dependencies.values().all(|d| d.manifests.is_none()),
            app: plan.app,
        })
    }

    /// The namespace's policies (quota, default requests, copied Secrets) and the
    /// dependencies: in one wave when the dependencies are all built in, otherwise the
    /// policies first (a team's template may rely on the default requests or pull with a
    /// copied Secret).
    async fn apply_first_wave(
        &self,
        ns: &preview_deploy::PreviewNamespace,
        rendered: Rendering,
    ) -> Result<Prepared, String> {
        let waves = if rendered.dependencies_self_contained {
            vec![[rendered.policies, rendered.dependencies].concat()]
        } else {
            vec![rendered.policies, rendered.dependencies]
        };
        let mut applied = Vec::new();
        for wave in waves.iter().filter(|w| !w.is_empty()) {
            applied.extend(
                self.cluster
                    .apply(ns, wave)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(Prepared {
            applied,
            app: rendered.app,
        })
    }

    /// Waits for the app's `wait_for_check` on the record's commit to succeed (SPEC 4 step 2);
    /// the error names the check, its conclusion and its link.
    async fn await_check(
        &self,
        record: &mut PreviewRecord,
        app: &AppConfig,
        ticket: &Ticket,
    ) -> Result<(), String> {
        let Some(name) = &app.wait_for_check else {
            return Ok(());
        };
        let (owner, repo) = record.repo.split_once('/').unwrap_or((&record.repo, ""));
        let (owner, repo) = (owner.to_string(), repo.to_string());
        let deadline = tokio::time::Instant::now() + app.check_timeout.get();
        let mut announced = false;
        loop {
            match self
                .source
                .check_run(&owner, &repo, &record.head_sha, name)
                .await
            {
                Ok(Some(run)) if run.status == "completed" => {
                    return match run.conclusion.as_deref() {
                        Some("success") => Ok(()),
                        conclusion => Err(replies::check_failed(
                            name,
                            conclusion.unwrap_or("none"),
                            run.html_url.as_deref(),
                        )),
                    };
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, check = %name, "reading the check run failed; retrying")
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(replies::check_timed_out(name, app.check_timeout));
            }
            if !announced {
                announced = true;
                self.notifier
                    .progress(record, &replies::waiting_for_check(name, &record.head_sha))
                    .await;
            }
            until_superseded(
                ticket,
                tokio::time::sleep(self.config.github.check_poll_interval.get()),
            )
            .await?;
        }
    }

    /// Passwords of dependency Secrets that already exist, so a redeploy keeps the password the
    /// database was initialised with.
    async fn existing_passwords(
        &self,
        ns: &preview_deploy::PreviewNamespace,
        app: &AppConfig,
    ) -> Result<HashMap<String, String>, String> {
        let reads = app.dependencies.keys().map(|name| async move {
            let secret_name = dependencies::credentials_secret_name(name);
            let secret = self
                .cluster
                .secret(ns, &secret_name)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(
                secret
                    .as_ref()
                    .and_then(dependencies::password_from_secret)
                    .map(|password| (secret_name, password)),
            )
        });
        let found = futures::future::try_join_all(reads).await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// What an `up` deploys: the open PR's head, or the branch's head; the refusal otherwise.
    async fn head(&self, target: &PreviewRef, repo_name: &str) -> Result<Head, String> {
        let id = target.id();
        match &target.subject {
            Subject::Pr(pr) => {
                let pull = self
                    .source
                    .pull_request(&target.owner, &target.repo, *pr)
                    .await
                    .map_err(|e| replies::pull_request_unreadable(&id, repo_name, *pr, &e))?;
                if !pull.open {
                    return Err(replies::pull_request_closed(&id, repo_name, *pr));
                }
                Ok(Head {
                    sha: pull.head_sha,
                    author: pull.author,
                    branch: pull.head_ref,
                })
            }
            Subject::Branch(branch) => {
                match self
                    .source
                    .branch_head(&target.owner, &target.repo, branch)
                    .await
                {
                    Ok(Some(sha)) => Ok(Head {
                        sha,
                        author: String::new(),
                        branch: branch.clone(),
                    }),
                    Ok(None) => Err(replies::no_such_branch(&id, repo_name, branch)),
                    Err(e) => Err(replies::branch_unreadable(&id, repo_name, branch, &e)),
                }
            }
        }
    }

    pub(crate) async fn save_quietly(&self, record: &PreviewRecord) {
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
        // A deploy running for this preview stops at its next safe point: `down` wins.
        let _ticket = self.tickets.take(&id);
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
                record.last_activity = self.now();
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
                    self.policy().describe(&record).as_deref(),
                ))
            }
            Ok(None) => Outcome::ok(replies::no_preview(&id, &self.config.bot.command_prefix)),
            Err(e) => Outcome::refused(replies::cannot_read(&id, &e)),
        }
    }

    /// The last `tail` log lines of a workload of the preview (default: the workload named like
    /// the app, else the first Deployment or StatefulSet the bot applied), with the log link.
    pub async fn logs(
        &self,
        target: &PreviewRef,
        component: Option<&str>,
        tail: Option<u32>,
    ) -> Outcome {
        let id = target.id();
        let ns = id.namespace(&self.config.bot.namespace_prefix);
        let record = match self.cluster.get_record(&ns).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                return Outcome::ok(replies::no_preview(&id, &self.config.bot.command_prefix));
            }
            Err(e) => return Outcome::refused(replies::cannot_read(&id, &e)),
        };
        let workloads: Vec<String> = record
            .applied
            .iter()
            .filter_map(|k| preview_deploy::cluster::AppliedRef::from_key(k))
            .filter(|a| matches!(a.kind.as_str(), "Deployment" | "StatefulSet"))
            .map(|a| a.name)
            .collect();
        let workload = match component {
            Some(c) => c.to_string(),
            None if workloads.contains(&target.app) => target.app.clone(),
            None => match workloads.first() {
                Some(first) => first.clone(),
                None => return Outcome::refused(replies::no_workloads(&id)),
            },
        };
        let lines = i64::from(tail.unwrap_or(DEFAULT_LOG_LINES).min(MAX_LOG_LINES));
        match self
            .cluster
            .workload_logs(&ns, &workload, None, lines)
            .await
        {
            Ok(Some(pods)) => Outcome::ok(replies::logs(
                &id,
                &workload,
                &pods,
                self.notifier.log_url(&record).as_deref(),
            )),
            Ok(None) => Outcome::refused(replies::unknown_workload(&id, &workload, &workloads)),
            Err(e) => Outcome::refused(replies::cannot_read(&id, &e)),
        }
    }

    /// `point SVC=DEST ...`: repoints upstream Services of the preview to other previews (which
    /// must exist and be ready) or back to staging; only DNS changes, the app keeps running.
    pub async fn point(&self, target: &PreviewRef, routes: &[Route], origin: &Origin) -> Outcome {
        let id = target.id();
        let _guard = self.lock(&id).await;
        let Some(app) = self.app(&target.app) else {
            return Outcome::refused(replies::unknown_app(&target.app));
        };
        if let Some(refusal) = self.frozen(&format!("`{id}`")).await {
            return refusal;
        }
        let prefix = &self.config.bot.namespace_prefix;
        let ns = id.namespace(prefix);
        let mut record = match self.cluster.get_record(&ns).await {
            Ok(Some(record)) if record.phase != Phase::Terminating => record,
            Ok(_) => {
                return Outcome::refused(replies::no_preview(&id, &self.config.bot.command_prefix));
            }
            Err(e) => return Outcome::refused(replies::cannot_read(&id, &e)),
        };
        // (service, `APP#N` or None for staging, host)
        let mut changes: Vec<(String, Option<String>, String)> = Vec::new();
        for route in routes {
            let service = route.service.as_str();
            let Some(staging) = app.upstreams.get(service) else {
                return Outcome::refused(replies::unknown_upstream(&id, service, &app.upstreams));
            };
            let dest = match &route.destination {
                Destination::Staging | Destination::Default => {
                    changes.push((service.to_string(), None, staging.clone()));
                    continue;
                }
                Destination::Pr(pr) => PreviewId::new(service, pr.get()),
                Destination::AppPr { app, pr } => PreviewId::new(app.as_str(), pr.get()),
                Destination::AppBranch { app, branch } => {
                    PreviewId::branch(app.as_str(), branch.as_str())
                }
            };
            if !self.config.apps.contains_key(&dest.app) {
                return Outcome::refused(replies::point_unknown_app(service, &dest.app));
            }
            let dest_ns = dest.namespace(prefix);
            match self.cluster.get_record(&dest_ns).await {
                Ok(Some(r)) if r.phase == Phase::Ready => {}
                Ok(Some(r)) => {
                    return Outcome::refused(replies::point_target_not_ready(&dest, r.phase));
                }
                Ok(None) => {
                    return Outcome::refused(replies::point_target_missing(
                        &dest,
                        &self.config.bot.command_prefix,
                    ));
                }
                Err(e) => return Outcome::refused(replies::cannot_read(&dest, &e)),
            }
            changes.push((
                service.to_string(),
                Some(dest.to_string()),
                upstreams::preview_host(service, &dest_ns),
            ));
        }
        let ctx = PreviewContext::for_id(
            &self.config,
            &target.id(),
            app,
            &record.head_sha,
            record.branch.as_deref(),
        );
        let rendered = changes
            .iter()
            .map(|(service, _, host)| Rendered {
                source: format!("upstream `{service}`"),
                object: upstreams::service_object(service, host),
            })
            .collect();
        let applied = match transform::transform(rendered, &ctx) {
            Ok(services) => self
                .cluster
                .apply(&ns, &services.objects)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = applied {
            return Outcome::refused(replies::cannot_point(&id, &e));
        }
        for (service, destination, _) in &changes {
            match destination {
                Some(dest) => record.pointers.insert(service.clone(), dest.clone()),
                None => record.pointers.remove(service),
            };
        }
        crate::lifecycle::touch(&mut record, self.now());
        let summary: Vec<(String, Option<String>)> =
            changes.into_iter().map(|(s, d, _)| (s, d)).collect();
        let text = replies::pointed(&id, &summary, &origin.actor());
        self.save_quietly(&record).await;
        self.notifier.progress(&mut record, &text).await;
        self.notifier.sync(&mut record).await;
        self.save_quietly(&record).await;
        Outcome::ok(text)
    }

    /// The hosts the preview's pointed upstreams resolve to, from its record.
    fn pointer_hosts(&self, record: &PreviewRecord) -> BTreeMap<String, String> {
        record
            .pointers
            .iter()
            .filter_map(|(service, dest)| {
                // `APP#N` or `APP@BRANCH`, as `point` recorded it.
                let id = match dest.split_once('#') {
                    Some((app, pr)) => PreviewId::new(app, pr.parse().ok()?),
                    None => {
                        let (app, branch) = dest.split_once('@')?;
                        PreviewId::branch(app, branch)
                    }
                };
                let ns = id.namespace(&self.config.bot.namespace_prefix);
                Some((service.clone(), upstreams::preview_host(service, &ns)))
            })
            .collect()
    }

    /// `seed [DATASET]`: runs the app's seed Job in the preview and reports the outcome with the
    /// last log lines. A second seed while one runs is refused, not queued.
    pub async fn seed(
        &self,
        target: &PreviewRef,
        dataset: Option<&str>,
        origin: &Origin,
    ) -> Outcome {
        let id = target.id();
        let Some(app) = self.app(&target.app) else {
            return Outcome::refused(replies::unknown_app(&target.app));
        };
        let Some(seed) = &app.seed else {
            return Outcome::refused(replies::no_seed_configured(&id));
        };
        if let Some(dataset) = dataset
            && !seed.datasets.is_empty()
            && !seed.datasets.iter().any(|d| d == dataset)
        {
            return Outcome::refused(replies::unknown_dataset(&id, dataset, &seed.datasets));
        }
        if let Some(refusal) = self.frozen(&format!("`{id}`")).await {
            return refusal;
        }
        if !self.seeding_lock().insert(id.clone()) {
            return Outcome::refused(replies::seed_already_running(&id, None));
        }
        let outcome = async {
            let _guard = self.lock(&id).await;
            let ns = id.namespace(&self.config.bot.namespace_prefix);
            let mut record = match self.cluster.get_record(&ns).await {
                // Its databases are scaled to zero too: a seed would only time out.
                Ok(Some(record)) if record.phase == Phase::Sleeping => {
                    return Outcome::refused(replies::asleep(&id, &self.config.bot.command_prefix));
                }
                Ok(Some(record)) if record.phase != Phase::Terminating => record,
                Ok(_) => {
                    return Outcome::refused(replies::no_preview(
                        &id,
                        &self.config.bot.command_prefix,
                    ));
                }
                Err(e) => return Outcome::refused(replies::cannot_read(&id, &e)),
            };
            match self.cluster.running_seed(&ns).await {
                Ok(Some(job)) => {
                    return Outcome::refused(replies::seed_already_running(&id, Some(&job)));
                }
                Ok(None) => {}
                Err(e) => return Outcome::refused(replies::cannot_read(&id, &e)),
            }
            let outcome = self.run_seed(&mut record, app, seed, dataset, origin).await;
            self.save_quietly(&record).await;
            outcome
        }
        .await;
        self.seeding_lock().remove(&id);
        outcome
    }

    fn seeding_lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<PreviewId>> {
        self.seeding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies the seed Job with the app's variables (dependency URLs included), waits for it and
    /// reports in the thread.
    async fn run_seed(
        &self,
        record: &mut PreviewRecord,
        app: &AppConfig,
        seed_config: &SeedConfig,
        dataset: Option<&str>,
        origin: &Origin,
    ) -> Outcome {
        let id = record.id.clone();
        let mut ctx = PreviewContext::for_id(
            &self.config,
            &id,
            app,
            &record.head_sha,
            record.branch.as_deref(),
        );
        // Only the variables: the dependency objects themselves are already running.
        dependencies::plan(&ctx, &app.dependencies, &|_: &str| None).inject_into(&mut ctx);
        let vars = ctx.template_vars(&self.config.domains.base);
        let image = vars.render(
            seed_config
                .image
                .as_ref()
                .or(app.image_template.as_ref())
                .map_or("", |s| s.as_str()),
        );
        let name = seed::job_name(&record.head_sha, Utc::now().timestamp());
        let timeout = seed_config.timeout.get();
        let job = seed::job(
            &name,
            &image,
            &seed_config.command,
            dataset,
            timeout.as_secs(),
        );
        self.notifier
            .progress(record, &replies::seeding(&name, dataset, &origin.actor()))
            .await;
        let applied = match transform::transform(vec![job], &ctx) {
            Ok(job) => self
                .cluster
                .apply(&record.namespace, &job.objects)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let result = match applied {
            Ok(applied) => self
                .cluster
                .wait_ready(&record.namespace, &applied, timeout + SEED_GRACE)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let logs = self
            .cluster
            .job_logs(&record.namespace, &name, SEED_LOG_LINES)
            .await;
        let log_url = self.notifier.log_url(record);
        if result.is_ok() && record.seeded_at.is_none() {
            record.seeded_at = Some(self.now());
        }
        let outcome = match result {
            Ok(()) => Outcome::ok(replies::seed_succeeded(
                &id,
                &name,
                &logs,
                log_url.as_deref(),
            )),
            Err(reason) => Outcome::refused(replies::seed_failed(
                &id,
                &name,
                &reason,
                &logs,
                log_url.as_deref(),
            )),
        };
        crate::lifecycle::touch(record, self.now());
        self.notifier.progress(record, &outcome.text).await;
        outcome
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

/// The error of a deploy step stopped for a newer request (never shown: `up` reports the
/// supersession itself).
const SUPERSEDED: &str = "superseded by a newer request";

/// Runs `step` unless a newer request arrives first.
async fn until_superseded<T>(
    ticket: &Ticket,
    step: impl std::future::Future<Output = T>,
) -> Result<T, String> {
    tokio::select! {
        out = step => Ok(out),
        () = ticket.until_superseded() => Err(SUPERSEDED.into()),
    }
}

/// An object of the first wave (policies, copied Secrets, dependencies) and an app object of the
/// same kind and name would overwrite each other.
fn name_clash(first_wave: &[serde_json::Value], app: &[serde_json::Value]) -> Option<String> {
    let key = |object: &serde_json::Value| {
        Some((
            object.get("kind")?.as_str()?.to_string(),
            object.pointer("/metadata/name")?.as_str()?.to_string(),
        ))
    };
    let taken: std::collections::HashSet<_> = first_wave.iter().filter_map(key).collect();
    app.iter()
        .filter_map(key)
        .find(|k| taken.contains(k))
        .map(|(kind, name)| format!("{kind} `{name}`"))
}
