//! Prometheus metrics (`GET /metrics`), all named `preview_bot_*`. Counters and the deploy
//! histogram are kept as things happen; the previews gauge is computed from one inventory list
//! at scrape time, so it is never stale and costs one API call per scrape.

use preview_config::Config;
use preview_deploy::{Cluster, Phase};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// The content type of the text exposition format `render` produces.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Deploy durations: 5 s to about 21 min.
const DEPLOY_BUCKETS: [f64; 9] = [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PreviewLabels {
    app: String,
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    command: String,
    outcome: String,
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeployLabels {
    app: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
}

/// Where a command came from (a bounded label: never user text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Slack,
    GitHub,
    Console,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Slack => "slack",
            Source::GitHub => "github",
            Source::Console => "console",
        }
    }
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Every operation it ran succeeded.
    Ok,
    /// It ran and at least one operation was refused or failed.
    Failed,
    /// It did not parse or named nothing that exists; nothing ran.
    Invalid,
}

impl CommandOutcome {
    fn as_str(self) -> &'static str {
        match self {
            CommandOutcome::Ok => "ok",
            CommandOutcome::Failed => "failed",
            CommandOutcome::Invalid => "invalid",
        }
    }

    /// The outcome of a command that ran, from the answers of its operations.
    pub fn of(all_ok: bool) -> CommandOutcome {
        if all_ok {
            CommandOutcome::Ok
        } else {
            CommandOutcome::Failed
        }
    }
}

pub struct Metrics {
    registry: Registry,
    previews: Family<PreviewLabels, Gauge>,
    unreadable: Gauge,
    commands: Family<CommandLabels, Counter>,
    deploys: Family<DeployLabels, Histogram>,
    api_errors: Family<ServiceLabels, Counter>,
    signature_failures: Family<ServiceLabels, Counter>,
    kill_switch: Gauge,
    slack_socket_connected: Gauge,
    slack_socket_connections: Counter,
    /// One scrape at a time: the previews gauge is rebuilt per scrape.
    scrape: tokio::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("preview_bot");
        let previews = Family::<PreviewLabels, Gauge>::default();
        let unreadable = Gauge::default();
        let commands = Family::<CommandLabels, Counter>::default();
        let deploys = Family::<DeployLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(DEPLOY_BUCKETS)) as fn() -> Histogram,
        );
        let api_errors = Family::<ServiceLabels, Counter>::default();
        let signature_failures = Family::<ServiceLabels, Counter>::default();
        let kill_switch = Gauge::default();
        let slack_socket_connected = Gauge::default();
        let slack_socket_connections = Counter::default();
        registry.register(
            "previews",
            "Previews by app and phase, from the cluster at scrape time",
            previews.clone(),
        );
        registry.register(
            "unreadable_previews",
            "Managed namespaces whose preview record cannot be read",
            unreadable.clone(),
        );
        registry.register(
            "commands",
            "Commands handled, by command, outcome and source",
            commands.clone(),
        );
        registry.register(
            "deploy_duration_seconds",
            "Time from the start of a deploy to ready or failed, by app and outcome",
            deploys.clone(),
        );
        registry.register(
            "api_errors",
            "Failed calls to Kubernetes, GitHub and Slack, by service",
            api_errors.clone(),
        );
        registry.register(
            "signature_failures",
            "Requests refused for a missing or wrong signature, by service",
            signature_failures.clone(),
        );
        registry.register(
            "kill_switch",
            "1 while the kill switch is on, else 0",
            kill_switch.clone(),
        );
        registry.register(
            "slack_socket_connected",
            "1 while a Slack Socket Mode connection is open (slack.mode = \"socket\"), else 0",
            slack_socket_connected.clone(),
        );
        registry.register(
            "slack_socket_connections",
            "Slack Socket Mode connections opened (Slack's hello received)",
            slack_socket_connections.clone(),
        );
        Metrics {
            registry,
            slack_socket_connected,
            slack_socket_connections,
            previews,
            unreadable,
            commands,
            deploys,
            api_errors,
            signature_failures,
            kill_switch,
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts one command; `command` is the command word from the grammar, never user text.
    pub fn command(&self, command: &str, outcome: CommandOutcome, source: Source) {
        self.commands
            .get_or_create(&CommandLabels {
                command: command.to_string(),
                outcome: outcome.as_str().to_string(),
                source: source.as_str().to_string(),
            })
            .inc();
    }

    pub fn deploy_finished(&self, app: &str, ok: bool, took: Duration) {
        self.deploys
            .get_or_create(&DeployLabels {
                app: app.to_string(),
                outcome: if ok { "ready" } else { "failed" }.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// `service`: `kubernetes`, `github` or `slack`.
    pub fn api_error(&self, service: &str) {
        self.api_errors
            .get_or_create(&ServiceLabels {
                service: service.to_string(),
            })
            .inc();
    }

    /// `service`: `slack` or `github`.
    pub fn signature_failure(&self, service: &str) {
        self.signature_failures
            .get_or_create(&ServiceLabels {
                service: service.to_string(),
            })
            .inc();
    }

    pub fn set_kill_switch(&self, on: bool) {
        self.kill_switch.set(i64::from(on));
    }

    /// A Slack Socket Mode connection was opened (`true`, Slack said hello) or ended.
    pub fn slack_socket(&self, connected: bool) {
        if connected {
            self.slack_socket_connections.inc();
        }
        self.slack_socket_connected.set(i64::from(connected));
    }

    /// The text exposition of every metric, with the previews gauge read from the cluster now
    /// (configured apps get a zero for every phase, so dashboards see no gaps).
    pub async fn render(&self, config: &Config, cluster: &Cluster) -> String {
        let _one_at_a_time = self.scrape.lock().await;
        self.previews.clear();
        match cluster.inventory().await {
            Ok(inventory) => {
                for app in config.apps.keys() {
                    for phase in [
                        Phase::Deploying,
                        Phase::Ready,
                        Phase::Failed,
                        Phase::Terminating,
                    ] {
                        self.previews
                            .get_or_create(&PreviewLabels {
                                app: app.clone(),
                                phase: phase.as_str().to_string(),
                            })
                            .set(0);
                    }
                }
                for record in &inventory.previews {
                    self.previews
                        .get_or_create(&PreviewLabels {
                            app: record.id.app.clone(),
                            phase: record.phase.as_str().to_string(),
                        })
                        .inc();
                }
                self.unreadable
                    .set(i64::try_from(inventory.unreadable.len()).unwrap_or(i64::MAX));
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: listing previews failed");
                self.api_error("kubernetes");
            }
        }
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "metrics: encoding failed");
        }
        text
    }
}
