use crate::access::{AccessConfig, OncallConfig};
use crate::duration::ConfigDuration;
use crate::template;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The whole config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub bot: BotConfig,
    #[serde(default)]
    pub slack: SlackConfig,
    #[serde(default)]
    pub github: GitHubConfig,
    pub domains: DomainsConfig,
    #[serde(default)]
    pub deploy: DeployConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub access: AccessConfig,
    #[serde(default)]
    pub oncall: OncallConfig,
    #[serde(default)]
    pub status: crate::status::StatusConfig,
    #[serde(default)]
    pub apps: BTreeMap<String, AppConfig>,
}

/// `[schedule]`: preview lifetimes, the sweeps and the digest (SPEC section 6).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// The longest `--ttl` or `extend` anyone may ask for.
    #[serde(default = "default_max_ttl")]
    pub max_ttl: ConfigDuration,
    /// IANA time zone the cron expressions and the times in messages are in.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Cron (5 fields) of the idle sweep: warnings and idle teardown.
    #[serde(default = "default_idle_sweep")]
    pub idle_sweep: String,
    /// Cron (5 fields) of the daily digest.
    #[serde(default = "default_digest")]
    pub digest: String,
    /// Cron (5 fields) of the orphan sweep.
    #[serde(default = "default_orphan_sweep")]
    pub orphan_sweep: String,
    /// A preview without activity for this long is torn down (or put to sleep).
    #[serde(default = "default_idle_ttl")]
    pub idle_ttl: ConfigDuration,
    /// How long before the teardown the warning is posted.
    #[serde(default = "default_warn_before")]
    pub warn_before: ConfigDuration,
    /// What happens to an idle preview.
    #[serde(default)]
    pub idle_action: IdleAction,
    /// Pinned previews per app (pinned previews are exempt from idle teardown).
    #[serde(default = "default_max_pinned_per_app")]
    pub max_pinned_per_app: usize,
    /// At most this many orphans are torn down per sweep, so a bad day never deletes everything.
    #[serde(default = "default_max_orphans_per_sweep")]
    pub max_orphans_per_sweep: usize,
    /// The furthest `extend` pushes the deadline from now (default: `max_ttl`).
    pub max_extend: Option<ConfigDuration>,
    /// Price of one CPU core requested for an hour, for the digest's estimate.
    #[serde(default)]
    pub cpu_hour: f64,
    /// Price of one GiB of memory requested for an hour.
    #[serde(default)]
    pub gib_hour: f64,
    /// Shown with the cost estimate.
    #[serde(default = "default_currency")]
    pub currency: String,
}

/// `idle_action`: delete the namespace, or scale its workloads to zero until the next `up`/push.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdleAction {
    #[default]
    Teardown,
    Sleep,
}

/// `cost = { cpu_hour = 0.031, gib_hour = 0.004 }`: per-app prices (default `[schedule]`'s).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CostConfig {
    pub cpu_hour: Option<f64>,
    pub gib_hour: Option<f64>,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            max_ttl: default_max_ttl(),
            timezone: default_timezone(),
            idle_sweep: default_idle_sweep(),
            digest: default_digest(),
            orphan_sweep: default_orphan_sweep(),
            idle_ttl: default_idle_ttl(),
            warn_before: default_warn_before(),
            idle_action: IdleAction::default(),
            max_pinned_per_app: default_max_pinned_per_app(),
            max_orphans_per_sweep: default_max_orphans_per_sweep(),
            max_extend: None,
            cpu_hour: 0.0,
            gib_hour: 0.0,
            currency: default_currency(),
        }
    }
}

impl ScheduleConfig {
    /// The configured time zone (validated at load time; UTC if somehow not).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Tz::UTC)
    }

    /// `(key, expression)` of every schedule, for validation and the scheduler.
    pub fn crons(&self) -> [(&'static str, &str); 3] {
        [
            ("schedule.idle_sweep", &self.idle_sweep),
            ("schedule.digest", &self.digest),
            ("schedule.orphan_sweep", &self.orphan_sweep),
        ]
    }

    /// The furthest `extend` may push a deadline from now.
    pub fn max_extend(&self) -> Duration {
        self.max_extend
            .unwrap_or(self.max_ttl)
            .get()
            .min(self.max_ttl.get())
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let err = |key: &str, problem: String| Err((key.to_string(), problem));
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return err(
                "schedule.timezone",
                format!(
                    "{:?} is not an IANA time zone like \"Europe/Amsterdam\" or \"UTC\"",
                    self.timezone
                ),
            );
        }
        for (key, expr) in self.crons() {
            if let Err(e) = crate::cron::CronSchedule::parse(expr) {
                return err(key, e);
            }
        }
        if self.warn_before >= self.idle_ttl {
            return err(
                "schedule.warn_before",
                format!(
                    "{} must be shorter than `schedule.idle_ttl` ({})",
                    self.warn_before, self.idle_ttl
                ),
            );
        }
        if let Some(max_extend) = self.max_extend
            && max_extend > self.max_ttl
        {
            return err(
                "schedule.max_extend",
                format!(
                    "{max_extend} is longer than `schedule.max_ttl` ({})",
                    self.max_ttl
                ),
            );
        }
        if self.max_orphans_per_sweep == 0 {
            return err(
                "schedule.max_orphans_per_sweep",
                "must be at least 1 (orphans would never be removed)".into(),
            );
        }
        for (key, price) in [
            ("schedule.cpu_hour", self.cpu_hour),
            ("schedule.gib_hour", self.gib_hour),
        ] {
            if !price.is_finite() || price < 0.0 {
                return err(key, format!("{price} must be a price of zero or more"));
            }
        }
        if self.currency.trim().is_empty() || self.currency.len() > 8 {
            return err(
                "schedule.currency",
                "must be a short symbol or code like \"USD\"".into(),
            );
        }
        Ok(())
    }
}

/// `[bot]`: the bot process itself.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where people reach the bot: log links and the status page are built from it.
    pub public_url: String,
    /// Namespace the bot runs in (Lease, state ConfigMap).
    #[serde(default = "default_bot_namespace")]
    pub namespace: String,
    #[serde(default = "default_prefix")]
    pub namespace_prefix: String,
    #[serde(default = "default_max_previews")]
    pub max_previews: usize,
    #[serde(default = "default_max_parallel_deploys")]
    pub max_parallel_deploys: usize,
    /// The command prefix in PR comments (Slack's is the slash command itself).
    #[serde(default = "default_command_prefix")]
    pub command_prefix: String,
    /// Largest request body accepted on the webhook endpoints.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How long one Kubernetes API call may take (watches excepted) before it counts as failed.
    #[serde(default = "default_kubernetes_timeout")]
    pub kubernetes_timeout: ConfigDuration,
}

/// `[slack]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    #[serde(default = "default_slack_api")]
    pub api_url: String,
    /// Channels where slash commands are accepted; empty means any channel.
    #[serde(default)]
    pub allowed_channels: Vec<String>,
    pub digest_channel: Option<String>,
    pub ops_channel: Option<String>,
    /// How long one Slack Web API call may take before it counts as failed (and, where safe,
    /// is retried).
    #[serde(default = "default_api_timeout")]
    pub timeout: ConfigDuration,
    /// How Slack delivers slash commands and button presses.
    #[serde(default)]
    pub mode: SlackMode,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            api_url: default_slack_api(),
            allowed_channels: Vec::new(),
            digest_channel: None,
            ops_channel: None,
            timeout: default_api_timeout(),
            mode: SlackMode::default(),
        }
    }
}

/// `slack.mode`: Slack calls the bot's request URLs (`http`), or the bot opens a WebSocket to
/// Slack and receives them there (`socket`, Slack's Socket Mode: no public URL needed; the
/// app-level token comes from `SLACK_APP_TOKEN`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlackMode {
    #[default]
    Http,
    Socket,
}

/// `[github]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubConfig {
    #[serde(default = "default_github_api")]
    pub api_url: String,
    /// Adding this label to a PR starts its preview.
    #[serde(default = "default_trigger_label")]
    pub trigger_label: String,
    /// How often a `wait_for_check` is polled.
    #[serde(default = "default_check_poll")]
    pub check_poll_interval: ConfigDuration,
    /// Web URL used for PR links (differs from the API on GitHub Enterprise).
    #[serde(default = "default_github_web")]
    pub web_url: String,
    /// How long GitHub may stay silent on one call before it counts as failed (and, where
    /// safe, is retried).
    #[serde(default = "default_api_timeout")]
    pub timeout: ConfigDuration,
}

impl Default for GitHubConfig {
    fn default() -> Self {
        GitHubConfig {
            api_url: default_github_api(),
            trigger_label: default_trigger_label(),
            check_poll_interval: default_check_poll(),
            web_url: default_github_web(),
            timeout: default_api_timeout(),
        }
    }
}

/// `[domains]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainsConfig {
    pub base: String,
    #[serde(default = "default_host_template")]
    pub host_template: String,
    /// The host of a branch preview (`APP@BRANCH`), which has no `{pr}`.
    #[serde(default = "default_branch_host_template")]
    pub branch_host_template: String,
    /// `https` unless previews are served over plain HTTP.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    pub log_url_template: Option<String>,
}

/// `[deploy]`: how previews are applied and awaited.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout: ConfigDuration,
    /// Upper bound on replicas of any workload in a preview.
    #[serde(default = "default_max_replicas")]
    pub max_replicas: u32,
    /// Namespaced kinds a manifest may contain (`Kind` or `group/Kind`); empty means any
    /// namespaced kind. Cluster-scoped kinds are always refused.
    #[serde(default)]
    pub allowed_kinds: Vec<String>,
    /// `spec.hard` of a ResourceQuota in every preview (`{ "requests.cpu" = "4", pods = "30" }`).
    #[serde(default)]
    pub quota: BTreeMap<String, String>,
    /// Container requests a LimitRange gives containers that set none (`{ cpu = "50m" }`).
    #[serde(default)]
    pub default_requests: BTreeMap<String, String>,
    /// Container limits a LimitRange gives containers that set none.
    #[serde(default)]
    pub default_limits: BTreeMap<String, String>,
    /// Added to every pod of a preview (spot or preview node pools).
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// Added to every Ingress (an auth proxy, external-dns, a cert issuer).
    #[serde(default)]
    pub ingress_annotations: BTreeMap<String, String>,
    /// Secrets copied into every preview before anything else (registry credentials, API keys
    /// for staging): `[{ namespace = "preview-bot", name = "ghcr-pull" }]`.
    #[serde(default)]
    pub copy_secrets: Vec<SecretSource>,
}

/// A Secret to copy into each preview.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    pub namespace: String,
    pub name: String,
}

/// A pod toleration, as in the Kubernetes API.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Toleration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            ready_timeout: default_ready_timeout(),
            max_replicas: default_max_replicas(),
            allowed_kinds: Vec::new(),
            quota: BTreeMap::new(),
            default_requests: BTreeMap::new(),
            default_limits: BTreeMap::new(),
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            ingress_annotations: BTreeMap::new(),
            copy_secrets: Vec::new(),
        }
    }
}

/// `[apps.NAME]`: one deployable application.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// `OWNER/REPO`.
    pub repo: String,
    pub slack_channel: Option<String>,
    pub manifests: ManifestsConfig,
    /// The app's own image at the commit, e.g. `ghcr.io/acme/collect:{sha}`; containers whose
    /// image repository matches are pinned to it.
    pub image_template: Option<String>,
    /// Overrides `domains.host_template` for this app.
    pub host_template: Option<String>,
    /// Extra environment variables for every container (values may use templates).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A check run on the commit (the image build) that must succeed before deploying.
    pub wait_for_check: Option<String>,
    /// Running previews of this app at most (on top of `bot.max_previews`).
    pub max_previews: Option<usize>,
    /// How long to wait for `wait_for_check`.
    #[serde(default = "default_check_timeout")]
    pub check_timeout: ConfigDuration,
    /// Services this app calls, by the name it calls them, and where they live by default
    /// (staging): `{ payments = "payments.staging.svc.cluster.local" }`. Each becomes an
    /// ExternalName Service in the preview that `/preview point` can repoint.
    #[serde(default)]
    pub upstreams: BTreeMap<String, String>,
    /// The seed job: migrations and seed data, run by `/preview seed` and optionally on creation.
    pub seed: Option<SeedConfig>,
    /// Throw-away dependencies created in each preview before the app (`[apps.NAME.dependencies.X]`).
    #[serde(default)]
    pub dependencies: BTreeMap<String, DependencyConfig>,
    /// Prices for the digest's cost estimate (default: `[schedule]`'s).
    pub cost: Option<CostConfig>,
}

impl AppConfig {
    /// `(cpu_hour, gib_hour)` for this app: its own prices, else the `[schedule]` ones.
    pub fn prices(&self, schedule: &ScheduleConfig) -> (f64, f64) {
        let cost = self.cost.unwrap_or(CostConfig {
            cpu_hour: None,
            gib_hour: None,
        });
        (
            cost.cpu_hour.unwrap_or(schedule.cpu_hour),
            cost.gib_hour.unwrap_or(schedule.gib_hour),
        )
    }
}

/// `seed = { image = "...", command = [...], on_create = true }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedConfig {
    /// Image of the seed Job (templates allowed); default: the app's `image_template`.
    pub image: Option<String>,
    /// Command and arguments; the dataset arrives as `PREVIEW_SEED_DATASET`.
    pub command: Vec<String>,
    /// Run once after the preview is first created.
    #[serde(default)]
    pub on_create: bool,
    #[serde(default = "default_seed_timeout")]
    pub timeout: ConfigDuration,
    /// Datasets `/preview seed DATASET` accepts; empty means any.
    #[serde(default)]
    pub datasets: Vec<String>,
}

/// The kinds of dependency the bot can create per preview, or a shared one it only points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DependencyKind {
    Postgres,
    Mysql,
    Redis,
    Mongodb,
    /// An existing service (staging database, ...): nothing is created, `url` is injected.
    Shared,
    /// The team's own manifests (a search engine, a queue, a stub of a partner API) from the
    /// app's repository, applied and awaited before the app; its `outputs` become the app's
    /// variables.
    Template,
}

impl DependencyKind {
    /// The variable the app gets when `env` is not set.
    pub fn default_env(self) -> &'static str {
        match self {
            DependencyKind::Postgres | DependencyKind::Mysql => "DATABASE_URL",
            DependencyKind::Redis => "REDIS_URL",
            DependencyKind::Mongodb => "MONGODB_URL",
            DependencyKind::Shared | DependencyKind::Template => "",
        }
    }

    /// The official image's default tag when `version` is not set.
    pub fn default_version(self) -> &'static str {
        match self {
            DependencyKind::Postgres => "16",
            DependencyKind::Mysql => "8.4",
            DependencyKind::Redis => "7",
            DependencyKind::Mongodb => "7",
            DependencyKind::Shared | DependencyKind::Template => "",
        }
    }
}

/// `[apps.NAME.dependencies.X]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependencyConfig {
    pub kind: DependencyKind,
    /// Image tag of the official image (`postgres:16`).
    pub version: Option<String>,
    /// The variable carrying the connection URL into the app (default per kind, e.g. `DATABASE_URL`).
    pub env: Option<String>,
    /// For `shared`: the URL injected as is.
    pub url: Option<String>,
    /// For `template`: a directory of YAML in the app's repository (templates like `{namespace}`
    /// are filled in string values).
    pub manifests: Option<String>,
    /// For `template`: the app's variables it provides, each a text (templates allowed, e.g.
    /// `"http://search.{namespace}.svc:9200"`) or `{ secret = "NAME", key = "KEY" }` of a
    /// Secret the template creates.
    #[serde(default)]
    pub outputs: BTreeMap<String, DependencyOutput>,
}

/// One output of a `template` dependency.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum DependencyOutput {
    Text(String),
    SecretKey { secret: String, key: String },
}

impl DependencyConfig {
    pub fn env_name(&self) -> &str {
        self.env.as_deref().unwrap_or(self.kind.default_env())
    }

    pub fn version(&self) -> &str {
        self.version
            .as_deref()
            .unwrap_or(self.kind.default_version())
    }
}

/// `manifests = { dir = "..." }`: where the app's manifests live in its repository.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestsConfig {
    pub dir: Option<String>,
    pub kustomize: Option<String>,
    pub image: Option<String>,
    pub port: Option<u16>,
}

/// The one manifest source a `ManifestsConfig` names (checked at load time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestSource {
    Dir(String),
    Kustomize(String),
    Image { image: String, port: u16 },
}

impl ManifestsConfig {
    pub fn source(&self) -> Result<ManifestSource, String> {
        match (&self.dir, &self.kustomize, &self.image, self.port) {
            (Some(dir), None, None, None) => Ok(ManifestSource::Dir(dir.clone())),
            (None, Some(k), None, None) => Ok(ManifestSource::Kustomize(k.clone())),
            (None, None, Some(image), Some(port)) => Ok(ManifestSource::Image {
                image: image.clone(),
                port,
            }),
            (None, None, Some(_), None) => Err("`image` needs a `port`".into()),
            _ => Err(
                "give exactly one of { dir = \"PATH\" }, { kustomize = \"PATH\" } or { image = \"IMAGE\", port = N }"
                    .into(),
            ),
        }
    }
}

impl AppConfig {
    /// `(owner, repo)` of `repo` (validated at load time).
    pub fn owner_repo(&self) -> (&str, &str) {
        self.repo
            .split_once('/')
            .unwrap_or((self.repo.as_str(), ""))
    }
}

impl Config {
    /// The apps whose `repo` is `owner/repo` (case-insensitive, as GitHub names are).
    pub fn apps_for_repo<'a>(
        &'a self,
        owner: &'a str,
        repo: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a AppConfig)> + 'a {
        self.apps.iter().filter_map(move |(name, app)| {
            let (o, r) = app.owner_repo();
            (o.eq_ignore_ascii_case(owner) && r.eq_ignore_ascii_case(repo))
                .then_some((name.as_str(), app))
        })
    }

    pub fn ready_timeout(&self) -> Duration {
        self.deploy.ready_timeout.get()
    }

    /// A human summary for `check-config`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "bot: listens on {}, public URL {}, namespace prefix {:?}, at most {} previews\n",
            self.bot.listen, self.bot.public_url, self.bot.namespace_prefix, self.bot.max_previews
        ));
        out.push_str(&format!(
            "hosts: {} (base {})\n",
            self.domains.host_template, self.domains.base
        ));
        out.push_str(&format!(
            "github: {} (trigger label {:?})\nslack: {}{}\n",
            self.github.api_url,
            self.github.trigger_label,
            self.slack.api_url,
            match self.slack.mode {
                SlackMode::Http => "",
                SlackMode::Socket => " over Socket Mode (SLACK_APP_TOKEN)",
            }
        ));
        let schedule = &self.schedule;
        out.push_str(&format!(
            "schedules ({}): idle sweep `{}`, digest `{}` to {}, orphan sweep `{}`; idle previews are {} after {}, warned {} ahead\n",
            schedule.timezone,
            schedule.idle_sweep,
            schedule.digest,
            self.slack.digest_channel.as_deref().unwrap_or("nowhere (no slack.digest_channel)"),
            schedule.orphan_sweep,
            match schedule.idle_action {
                IdleAction::Teardown => "torn down",
                IdleAction::Sleep => "put to sleep",
            },
            schedule.idle_ttl,
            schedule.warn_before,
        ));
        out.push_str(&format!("apps ({}):\n", self.apps.len()));
        for (name, app) in &self.apps {
            let source = match app.manifests.source() {
                Ok(ManifestSource::Dir(d)) => format!("plain YAML in {d}"),
                Ok(ManifestSource::Kustomize(k)) => format!("kustomize {k}"),
                Ok(ManifestSource::Image { image, port }) => format!("image {image} port {port}"),
                Err(e) => e,
            };
            out.push_str(&format!(
                "  {name}: {} — {source}{}\n",
                app.repo,
                app.slack_channel
                    .as_deref()
                    .map(|c| format!(", Slack {c}"))
                    .unwrap_or_default()
            ));
        }
        out
    }

    /// Semantic checks serde cannot express; the error is `(key, problem)`.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        let err = |key: &str, problem: String| Err((key.to_string(), problem));
        crate::access::validate(&self.access, &self.oncall)?;
        if !is_dns_label_prefix(&self.bot.namespace_prefix) {
            return err(
                "bot.namespace_prefix",
                format!(
                    "{:?} must be 1-20 lowercase letters, digits or '-', starting with a letter",
                    self.bot.namespace_prefix
                ),
            );
        }
        if !is_dns_label(&self.bot.namespace) {
            return err(
                "bot.namespace",
                format!("{:?} is not a valid namespace name", self.bot.namespace),
            );
        }
        if self.bot.listen.parse::<std::net::SocketAddr>().is_err() {
            return err(
                "bot.listen",
                format!("{:?} is not an address like 0.0.0.0:8080", self.bot.listen),
            );
        }
        for (key, url) in [
            ("bot.public_url", &self.bot.public_url),
            ("slack.api_url", &self.slack.api_url),
            ("github.api_url", &self.github.api_url),
            ("github.web_url", &self.github.web_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return err(key, format!("{url:?} must be an http(s) URL"));
            }
        }
        if self.bot.max_parallel_deploys == 0 {
            return err("bot.max_parallel_deploys", "must be at least 1".into());
        }
        if !self.bot.command_prefix.starts_with('/') || self.bot.command_prefix.contains(' ') {
            return err(
                "bot.command_prefix",
                format!(
                    "{:?} must start with '/' and have no spaces",
                    self.bot.command_prefix
                ),
            );
        }
        if self.github.trigger_label.trim().is_empty() {
            return err("github.trigger_label", "must not be empty".into());
        }
        if self.domains.base.is_empty() || self.domains.base.contains(['/', ':', ' ']) {
            return err(
                "domains.base",
                format!(
                    "{:?} must be a DNS domain like preview.example.com",
                    self.domains.base
                ),
            );
        }
        if !matches!(self.domains.scheme.as_str(), "http" | "https") {
            return err("domains.scheme", "must be \"http\" or \"https\"".into());
        }
        let host_vars = &["app", "pr", "short_sha", "branch", "namespace", "base"];
        if let Err(e) = template::validate(&self.domains.branch_host_template, host_vars) {
            return err("domains.branch_host_template", e);
        }
        if let Err(e) = template::validate(&self.domains.host_template, host_vars) {
            return err("domains.host_template", e);
        }
        if let Some(t) = &self.domains.log_url_template
            && let Err(e) = template::validate(t, template::PLACEHOLDERS)
        {
            return err("domains.log_url_template", e);
        }
        for source in &self.deploy.copy_secrets {
            if !is_dns_label(&source.namespace) || !is_dns_name(&source.name) {
                return err(
                    "deploy.copy_secrets",
                    format!(
                        "{:?}/{:?} is not a namespace and Secret name",
                        source.namespace, source.name
                    ),
                );
            }
            if source.namespace.starts_with(&self.bot.namespace_prefix) {
                return err(
                    "deploy.copy_secrets",
                    format!(
                        "`{}` is a preview namespace; copy from a namespace outside the prefix",
                        source.namespace
                    ),
                );
            }
        }
        for t in &self.deploy.tolerations {
            if !matches!(t.operator.as_deref(), None | Some("Equal" | "Exists")) {
                return err(
                    "deploy.tolerations",
                    "`operator` is \"Equal\" or \"Exists\"".into(),
                );
            }
            if !matches!(
                t.effect.as_deref(),
                None | Some("NoSchedule" | "PreferNoSchedule" | "NoExecute")
            ) {
                return err(
                    "deploy.tolerations",
                    "`effect` is \"NoSchedule\", \"PreferNoSchedule\" or \"NoExecute\"".into(),
                );
            }
        }
        for (key, values) in [
            ("deploy.quota", &self.deploy.quota),
            ("deploy.default_requests", &self.deploy.default_requests),
            ("deploy.default_limits", &self.deploy.default_limits),
        ] {
            if let Some((name, _)) = values
                .iter()
                .find(|(k, v)| k.is_empty() || v.trim().is_empty())
            {
                return err(
                    key,
                    format!("`{name}` needs a quantity like \"500m\" or \"1Gi\""),
                );
            }
        }
        if self.deploy.max_replicas == 0 {
            return err("deploy.max_replicas", "must be at least 1".into());
        }
        self.schedule.validate()?;
        if self.apps.is_empty() {
            return err("apps", "configure at least one app ([apps.NAME])".into());
        }
        for (name, app) in &self.apps {
            let key = |field: &str| format!("apps.{name}.{field}");
            if !is_app_name(name) {
                return err(
                    &format!("apps.{name}"),
                    "an app name must be 1-40 lowercase letters, digits or '-', starting with a letter".into(),
                );
            }
            match app.repo.split_once('/') {
                Some((o, r)) if is_github_name(o) && is_github_name(r) => {}
                _ => {
                    return err(
                        &key("repo"),
                        format!("{:?} must be OWNER/REPO, e.g. \"acme/collect\"", app.repo),
                    );
                }
            }
            if let Err(e) = app.manifests.source() {
                return err(&key("manifests"), e);
            }
            if let Ok(ManifestSource::Dir(path) | ManifestSource::Kustomize(path)) =
                app.manifests.source()
                && !is_relative_repo_path(&path)
            {
                return err(
                    &key("manifests"),
                    format!("{path:?} must be a relative path inside the repository"),
                );
            }
            for (field, value) in [
                ("image_template", &app.image_template),
                ("host_template", &app.host_template),
            ] {
                if let Some(t) = value
                    && let Err(e) = template::validate(t, template::PLACEHOLDERS)
                {
                    return err(&key(field), e);
                }
            }
            if let Some(cost) = &app.cost {
                for price in [cost.cpu_hour, cost.gib_hour].into_iter().flatten() {
                    if !price.is_finite() || price < 0.0 {
                        return err(
                            &key("cost"),
                            format!("{price} must be a price of zero or more"),
                        );
                    }
                }
            }
            if let Some(check) = &app.wait_for_check
                && (check.trim().is_empty() || check.len() > 200)
            {
                return err(
                    &key("wait_for_check"),
                    "must name a check run, e.g. \"build-image\"".into(),
                );
            }
            if let Some(seed) = &app.seed {
                let key = format!("apps.{name}.seed");
                if seed.command.is_empty() || seed.command.iter().any(|c| c.is_empty()) {
                    return err(&key, "`command` needs at least one non-empty word".into());
                }
                match seed.image.as_ref().or(app.image_template.as_ref()) {
                    None => {
                        return err(&key, "give `image` (or the app's `image_template`)".into());
                    }
                    Some(image) => {
                        if let Err(e) = template::validate(image, template::PLACEHOLDERS) {
                            return err(&key, e);
                        }
                    }
                }
                if let Some(bad) = seed.datasets.iter().find(|d| !is_dns_label(d)) {
                    return err(
                        &key,
                        format!("dataset {bad:?} must be lowercase letters, digits or '-'"),
                    );
                }
            }
            for (service, host) in &app.upstreams {
                let key = format!("apps.{name}.upstreams.{service}");
                if !is_dns_label(service) {
                    return err(
                        &key,
                        "an upstream name must be a DNS label (it becomes a Service name)".into(),
                    );
                }
                if !is_dns_name(host) {
                    return err(
                        &key,
                        format!(
                            "{host:?} is not a DNS name like payments.staging.svc.cluster.local"
                        ),
                    );
                }
                if app.dependencies.contains_key(service) {
                    return err(
                        &key,
                        format!("`{service}` is also a dependency of this app"),
                    );
                }
            }
            let mut injected: Vec<&str> = Vec::new();
            for (dep, spec) in &app.dependencies {
                let dep_key = format!("apps.{name}.dependencies.{dep}");
                if !is_dns_label(dep) || dep.len() > 40 {
                    return err(
                        &dep_key,
                        "a dependency name must be 1-40 lowercase letters, digits or '-'".into(),
                    );
                }
                if spec.kind == DependencyKind::Template {
                    check_template_dependency(&dep_key, spec, &mut injected)?;
                    continue;
                }
                if spec.manifests.is_some() || !spec.outputs.is_empty() {
                    return err(
                        &dep_key,
                        "`manifests` and `outputs` are only for `kind = \"template\"`".into(),
                    );
                }
                match (spec.kind, &spec.url) {
                    (DependencyKind::Shared, None) => {
                        return err(&dep_key, "a `shared` dependency needs `url`".into());
                    }
                    (DependencyKind::Shared, Some(_)) if spec.env.is_none() => {
                        return err(
                            &dep_key,
                            "a `shared` dependency needs `env`, the variable to set".into(),
                        );
                    }
                    (kind, Some(_)) if kind != DependencyKind::Shared => {
                        return err(
                            &dep_key,
                            "`url` is only for `kind = \"shared\"`; the bot creates this one"
                                .into(),
                        );
                    }
                    _ => {}
                }
                if let Some(version) = &spec.version
                    && (version.is_empty()
                        || !version
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')))
                {
                    return err(
                        &dep_key,
                        format!("`version` {version:?} is not an image tag"),
                    );
                }
                if !is_env_name(spec.env_name()) {
                    return err(
                        &dep_key,
                        format!(
                            "`env` {:?} is not an environment variable name",
                            spec.env_name()
                        ),
                    );
                }
                if injected.contains(&spec.env_name()) {
                    return err(
                        &dep_key,
                        format!("`{}` is already set by another dependency", spec.env_name()),
                    );
                }
                injected.push(spec.env_name());
            }
            for (var, value) in &app.env {
                if !is_env_name(var) {
                    return err(
                        &key("env"),
                        format!("{var:?} is not an environment variable name"),
                    );
                }
                if let Err(e) = template::validate(value, template::PLACEHOLDERS) {
                    return err(&key(&format!("env.{var}")), e);
                }
            }
        }
        Ok(())
    }
}

/// A `template` dependency: its manifests directory and outputs (names unique across the app's
/// dependencies, values valid templates or Secret references).
fn check_template_dependency<'a>(
    key: &str,
    spec: &'a DependencyConfig,
    injected: &mut Vec<&'a str>,
) -> Result<(), (String, String)> {
    let err = |problem: String| Err((key.to_string(), problem));
    if spec.version.is_some() || spec.url.is_some() || spec.env.is_some() {
        return err(
            "a `template` dependency takes `manifests` and `outputs`, not `version`, `url` or `env`"
                .into(),
        );
    }
    match spec.manifests.as_deref() {
        None => {
            return err(
                "a `template` dependency needs `manifests`, a directory of YAML in the repository"
                    .into(),
            );
        }
        Some(dir) if !is_relative_repo_path(dir) => {
            return err(format!(
                "`manifests` {dir:?} must be a relative path inside the repository"
            ));
        }
        Some(_) => {}
    }
    for (name, output) in &spec.outputs {
        if !is_env_name(name) {
            return err(format!(
                "output {name:?} is not an environment variable name"
            ));
        }
        if injected.contains(&name.as_str()) {
            return err(format!("`{name}` is already set by another dependency"));
        }
        injected.push(name);
        match output {
            DependencyOutput::Text(text) => {
                if let Err(e) = template::validate(text, template::PLACEHOLDERS) {
                    return err(format!("output `{name}`: {e}"));
                }
            }
            DependencyOutput::SecretKey { secret, key } => {
                if !is_dns_name(secret) || key.is_empty() {
                    return err(format!(
                        "output `{name}`: `secret` must be a Secret name and `key` one of its keys"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_name(s: &str) -> bool {
    s.len() <= 253 && !s.is_empty() && s.split('.').all(is_dns_label)
}

fn is_dns_label_prefix(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 20
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// App names become part of namespace and host names.
pub fn is_app_name(s: &str) -> bool {
    is_dns_label(s) && s.len() <= 40 && s.as_bytes()[0].is_ascii_lowercase()
}

fn is_github_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s != "."
        && s != ".."
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_relative_repo_path(p: &str) -> bool {
    !p.starts_with('/') && !p.split('/').any(|part| part == "..")
}

fn default_listen() -> String {
    "0.0.0.0:8080".into()
}
fn default_bot_namespace() -> String {
    "preview-bot".into()
}
fn default_prefix() -> String {
    "preview-".into()
}
fn default_max_previews() -> usize {
    50
}
fn default_max_parallel_deploys() -> usize {
    4
}
fn default_command_prefix() -> String {
    "/preview".into()
}
fn default_max_body_bytes() -> usize {
    1024 * 1024
}
fn default_slack_api() -> String {
    "https://slack.com/api/".into()
}
fn default_github_api() -> String {
    "https://api.github.com/".into()
}
fn default_kubernetes_timeout() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(30))
}
fn default_api_timeout() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(20))
}
fn default_github_web() -> String {
    "https://github.com".into()
}
fn default_trigger_label() -> String {
    "preview".into()
}
fn default_branch_host_template() -> String {
    "{namespace}.{base}".into()
}
fn default_host_template() -> String {
    "{app}-pr-{pr}.{base}".into()
}
fn default_scheme() -> String {
    "https".into()
}
fn default_ready_timeout() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(600))
}
fn default_check_timeout() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(20 * 60))
}
fn default_check_poll() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(10))
}
fn default_seed_timeout() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(600))
}
fn default_max_ttl() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(7 * 24 * 3600))
}
fn default_timezone() -> String {
    "UTC".into()
}
fn default_idle_sweep() -> String {
    "*/5 * * * *".into()
}
fn default_digest() -> String {
    "0 9 * * 1-5".into()
}
fn default_orphan_sweep() -> String {
    "0 * * * *".into()
}
fn default_idle_ttl() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(24 * 3600))
}
fn default_warn_before() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(3600))
}
fn default_max_pinned_per_app() -> usize {
    3
}
fn default_max_orphans_per_sweep() -> usize {
    5
}
fn default_currency() -> String {
    "USD".into()
}
fn default_max_replicas() -> u32 {
    2
}
