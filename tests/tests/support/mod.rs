//! The scenario world: the bot's real router and clients wired to the fake Kubernetes API server
//! (TLS), the fake Slack Web API and the fake GitHub REST API. Requests go through the real
//! router with real signatures.
#![allow(clippy::unwrap_used, dead_code)]

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use preview_bot::clock::Clock;
use preview_bot::engine::Engine;
use preview_bot::github::GitHubApi;
use preview_bot::notify::Notifier;
use preview_bot::slack::SlackApi;
use preview_bot::slack_socket::{SocketMode, SocketTiming};
use preview_bot::source::SourceProvider;
use preview_bot::{Bot, http as bot_http};
use preview_config::{Config, GitHubAuth, Secret};
use preview_deploy::Cluster;
use preview_testkit::github_api::{self, FakeGitHub, PullSpec};
use preview_testkit::kube_api::{FakeKube, FakeKubeOptions};
use preview_testkit::slack_api::{self, FakeSlack, SlashCommand};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

pub const SLACK_SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const GITHUB_WEBHOOK_SECRET: &str = "It's a Secret to Everybody";
pub const OWNER: &str = "Codertocat";
pub const REPO: &str = "Hello-World";
/// The PR of the published payloads.
pub const PR: u64 = 2;
pub const HEAD_SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
pub const SECOND_SHA: &str = "5d4c2f4f5e1d5b3a2a6c7b8d9e0f1a2b3c4d5e6f";
pub const BAD_IMAGE_SHA: &str = "baadbaadbaadbaadbaadbaadbaadbaadbaadbaad";
/// Commits of a hostile repository: one with cluster-scoped objects and a Namespace beside the
/// app, one that names foreign namespaces on its own objects.
pub const HOSTILE_SHA: &str = "0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad";
pub const FOREIGN_NS_SHA: &str = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0";
pub const HOSTILE_EXTRA: &str = "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: take-over}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: default, namespace: default}]\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system-2}\n";

/// A commit whose app container crashes at start.
pub const CRASH_SHA: &str = "dead0dead0dead0dead0dead0dead0dead0dead0";
/// The image and command of containers that print two lines and exit 3 (real clusters run them;
/// the simulated one is told to behave the same way).
pub const CRASHING_IMAGE: &str = "docker.io/library/busybox:1.36.1";
pub const CRASH_COMMAND: &str =
    r#"["sh", "-c", "echo starting; echo FATAL: missing DATABASE_URL; exit 3"]"#;

/// A commit whose manifests dropped the ConfigMap (and its use): a redeploy prunes it.
pub const PRUNED_SHA: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";
pub const CHANNEL: &str = "C0HELLO";
pub const DIGEST_CHANNEL: &str = "C0DIGEST";
/// Where kill-switch uses and orphan removals are announced.
pub const OPS_CHANNEL: &str = "C0OPS";
/// `bot.namespace` on the simulated cluster: the Lease, the schedules' and the kill switch's
/// ConfigMaps and the audit Events live there.
pub const BOT_NAMESPACE: &str = "preview-bot";
/// On call by name, through a Slack user group, and through a GitHub team.
pub const ONCALL_USER: &str = "U0ONCALL1";
pub const ONCALL_GROUP: &str = "S0ONCALL";
pub const ONCALL_TEAM: &str = "sre";
pub const ADMIN_TOKEN: &str = "admin-token-for-tests-0123456789";
pub const URL: &str = "https://hello-pr-2.preview.example.com";
/// Set to a kubeconfig path to run the scenarios against a real cluster (kind, ...) instead of
/// the simulated one; Slack and GitHub stay fakes.
pub const REAL_CLUSTER_ENV: &str = "PREVIEW_BOT_TEST_KUBECONFIG";
/// An image no registry serves: its pods never start.
pub const UNPULLABLE_IMAGE: &str = "registry.invalid/preview-bot/unpullable:1";

/// The app's manifests as they would sit in its repository.
pub const APP_MANIFEST: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: hello-config
data:
  GREETING: hi
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: 5
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      containers:
        - name: hello
          image: IMAGE
          ports: [{containerPort: 8080}]
          envFrom: [{configMapRef: {name: hello-config}}]
---
apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  selector: {app: hello}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: hello
spec:
  tls:
    - hosts: [hello.example.com]
      secretName: hello-tls
  rules:
    - host: hello.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: hello, port: {number: 80}}}
"#;

/// A third repository: the payments service that hello calls (`upstreams`).
pub const PAYMENTS_REPO: &str = "Payments";
pub const PAYMENTS_PR: u64 = 42;
pub const PAYMENTS_SHA: &str = "9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a";

/// Payments commits whose `build-image` check fails, is still running, or never appears.
pub const CHECK_FAILED_SHA: &str = "cfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcf";
pub const CHECK_PENDING_SHA: &str = "cececececececececececececececececececece";
pub const CHECK_MISSING_SHA: &str = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

pub fn payments_manifest(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: payments}}\nspec:\n  selector: {{matchLabels: {{app: payments}}}}\n  template:\n    metadata: {{labels: {{app: payments}}}}\n    spec:\n      containers: [{{name: payments, image: \"{image}\"}}]\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: payments}}\nspec:\n  selector: {{app: payments}}\n  ports: [{{port: 80}}]\n"
    )
}

/// A second repository: a kustomize app with a postgres and a redis dependency.
pub const SHOP_REPO: &str = "Shop";
pub const SHOP_PR: u64 = 7;
pub const SHOP_SHA: &str = "5b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b";

/// The shop's kustomize base and preview overlay (replicas and a label patched in).
pub fn shop_tree(image: &str) -> Vec<(String, Vec<u8>)> {
    let files = [
        ("k8s/base/kustomization.yaml", "resources:\n- deployment.yaml\n- service.yaml\n".to_string()),
        (
            "k8s/base/deployment.yaml",
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {{app: shop}}\n  template:\n    metadata:\n      labels: {{app: shop}}\n    spec:\n      containers:\n      - name: shop\n        image: {image}\n        ports: [{{containerPort: 3000}}]\n"
            ),
        ),
        (
            "k8s/base/service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: shop\nspec:\n  selector: {app: shop}\n  ports: [{port: 80, targetPort: 3000}]\n".to_string(),
        ),
        (
            "k8s/overlays/preview/kustomization.yaml",
            "resources:\n- ../../base\nlabels:\n- pairs: {tier: preview}\npatches:\n- target: {kind: Deployment, name: shop}\n  patch: |-\n    - op: replace\n      path: /spec/replicas\n      value: 1\n".to_string(),
        ),
    ];
    files
        .into_iter()
        .map(|(p, t)| (p.to_string(), t.into_bytes()))
        .collect()
}

/// Where the Secret copied into every preview lives.
pub const SHARED_NAMESPACE: &str = "ci-shared";
pub const SHARED_SECRET: &str = "registry-token";

/// Creates a namespace if missing.
pub async fn create_namespace(client: &kube::Client, name: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
    let namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    let _ = namespaces.create(&Default::default(), &namespace).await;
}

/// Creates the shared namespace and Secret if missing (tests may share a real cluster).
async fn seed_shared_secret(client: &kube::Client) {
    use k8s_openapi::api::core::v1::{Namespace, Secret};
    let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
    let namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": SHARED_NAMESPACE}}))
            .unwrap();
    let _ = namespaces.create(&Default::default(), &namespace).await;
    let secrets: kube::Api<Secret> = kube::Api::namespaced(client.clone(), SHARED_NAMESPACE);
    let secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": SHARED_SECRET},
        "type": "Opaque",
        "stringData": {"token": "s3cr3t-registry-token"},
    }))
    .unwrap();
    let _ = secrets.create(&Default::default(), &secret).await;
}

/// How a world differs from the default one.
#[derive(Default)]
pub struct WorldOptions {
    /// The bot authenticates as a GitHub App (JWT -> installation token) instead of a token.
    pub github_app: bool,
    /// Lines of a `[schedule]` section.
    pub schedule: String,
    /// The engine's clock (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
    /// TOML tables appended to the scenario config (e.g. `[access]`).
    pub extra_config: String,
    /// `slack.mode = "socket"`: the bot also takes Slack's deliveries over Socket Mode from the
    /// fake Slack (the request URLs keep working).
    pub socket_mode: bool,
    /// Options of the simulated cluster (default: [`FakeKubeOptions::default`]).
    pub kube: Option<FakeKubeOptions>,
    /// `bot.max_previews` (default 2).
    pub max_previews: Option<usize>,
    /// `bot.max_parallel_deploys` (default: the bot's).
    pub max_parallel_deploys: Option<usize>,
}

pub struct World {
    /// The simulated cluster; `None` when running against a real one.
    pub kube: Option<FakeKube>,
    /// This world's preview namespace (unique per test on a shared real cluster).
    pub ns: String,
    pub slack: FakeSlack,
    pub github: FakeGitHub,
    pub bot: Arc<Bot>,
    pub router: Router,
    pub client: kube::Client,
    pub config: Arc<Config>,
    github_auth: GitHubAuth,
    /// Stops the Socket Mode client (when there is one) as the world ends.
    pub socket_stop: tokio_util::sync::CancellationToken,
    /// Stops the replicas' watches of the kill switch as the world ends.
    pub kill_switch_view_stop: tokio_util::sync::CancellationToken,
}

impl Drop for World {
    fn drop(&mut self) {
        self.socket_stop.cancel();
        self.kill_switch_view_stop.cancel();
    }
}

/// Gives `engine` its watch of the kill switch, as `serve` does, and waits until it is in sync
/// (a world starts from a known state).
pub async fn watching_kill_switch(
    engine: Engine,
    stop: &tokio_util::sync::CancellationToken,
) -> Engine {
    let (engine, _task) = engine.watching_kill_switch(stop.clone());
    let view = engine.kill_switch_view().expect("a view").clone();
    tokio::time::timeout(Duration::from_secs(10), view.until_synced())
        .await
        .expect("the watch of the kill switch syncs");
    engine
}

pub fn config_text(
    slack_api: &str,
    github_api: &str,
    prefix: &str,
    image_template: &str,
) -> String {
    format!(
        r#"
[bot]
public_url = "https://preview-bot.example.com"
namespace_prefix = "{prefix}"
namespace = "{bot_namespace}"
max_previews = 2
# A hung Kubernetes call fails quickly in the fault scenarios.
kubernetes_timeout = "5s"

[slack]
api_url = "{slack_api}"
allowed_channels = ["{CHANNEL}", "C0OTHER"]
digest_channel = "{DIGEST_CHANNEL}"
ops_channel = "{OPS_CHANNEL}"
# A hung call fails (and is retried where safe) quickly in the fault scenarios.
timeout = "2s"

[oncall]
slack_users = ["{ONCALL_USER}"]
slack_usergroups = ["{ONCALL_GROUP}"]
github_teams = ["{OWNER}/{ONCALL_TEAM}"]

[github]
api_url = "{github_api}"
trigger_label = "preview"
check_poll_interval = "100ms"
timeout = "2s"

[domains]
base = "preview.example.com"
log_url_template = "https://grafana.example.com/explore?namespace={{namespace}}&workload={{workload}}"

[deploy]
ready_timeout = "{ready_timeout}"
copy_secrets = [{{ namespace = "{SHARED_NAMESPACE}", name = "{SHARED_SECRET}" }}]
quota = {{ "requests.cpu" = "8", "requests.memory" = "16Gi", pods = "40" }}
default_requests = {{ cpu = "50m", memory = "64Mi" }}
default_limits = {{ cpu = "1", memory = "512Mi" }}
ingress_annotations = {{ "nginx.ingress.kubernetes.io/auth-url" = "https://auth.example.com/oauth2/auth" }}
{placement}

[apps.hello]
repo = "{OWNER}/{REPO}"
slack_channel = "{CHANNEL}"
manifests = {{ dir = "deploy/preview" }}
upstreams = {{ payments = "payments.staging.svc.cluster.local" }}
{image_template}
{seed}

[apps.payments]
repo = "{OWNER}/{PAYMENTS_REPO}"
slack_channel = "{CHANNEL}"
manifests = {{ dir = "deploy" }}
wait_for_check = "build-image"
check_timeout = "2s"
seed = {{ image = "{CRASHING_IMAGE}", command = {CRASH_COMMAND} }}

[apps.shop]
repo = "{OWNER}/{SHOP_REPO}"
slack_channel = "{CHANNEL}"
manifests = {{ kustomize = "k8s/overlays/preview" }}

[apps.shop.dependencies.db]
kind = "postgres"

[apps.shop.dependencies.cache]
kind = "redis"
version = "7.2"
"#,
        // Tests sharing a real cluster each get their own Lease and schedule state.
        bot_namespace = if prefix == "preview-" {
            BOT_NAMESPACE.to_string()
        } else {
            format!("bot-{}", prefix.trim_end_matches('-'))
        },
        placement = if image_template.is_empty() {
            // A real cluster's nodes do not carry the preview pool's label.
            ""
        } else {
            "node_selector = { \"preview-bot.dev/pool\" = \"previews\" }\ntolerations = [{ key = \"previews\", operator = \"Exists\", effect = \"NoSchedule\" }]"
        },
        seed = if image_template.is_empty() {
            // A real cluster needs an image that exists and exits.
            "seed = { image = \"docker.io/library/busybox:1.36\", command = [\"sh\", \"-c\", \"echo seeded $PREVIEW_SEED_DATASET\"], datasets = [\"demo\"] }"
        } else {
            "seed = { command = [\"./bin/seed\"], datasets = [\"demo\"] }"
        },
        ready_timeout = if std::env::var_os(REAL_CLUSTER_ENV).is_some() {
            "120s"
        } else {
            "5s"
        },
    )
}

impl World {
    pub async fn start() -> World {
        World::start_with(false).await
    }

    /// `github_app`: the bot authenticates as a GitHub App (JWT -> installation token) instead
    /// of with a token.
    pub async fn start_with(github_app: bool) -> World {
        World::start_with_options(WorldOptions {
            github_app,
            ..WorldOptions::default()
        })
        .await
    }

    /// `extra_config`: TOML tables appended to the scenario config (e.g. `[access]`).
    pub async fn start_configured(github_app: bool, extra_config: &str) -> World {
        World::start_with_options(WorldOptions {
            github_app,
            extra_config: extra_config.to_string(),
            ..WorldOptions::default()
        })
        .await
    }

    pub async fn start_with_options(options: WorldOptions) -> World {
        let github_app = options.github_app;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (kube, kube_config, prefix, image, image_template) =
            match std::env::var_os(REAL_CLUSTER_ENV) {
                None => {
                    let kube = FakeKube::start_with(options.kube.clone().unwrap_or_default()).await;
                    kube.set_unpullable_image(UNPULLABLE_IMAGE);
                    kube.set_crashing_image(
                        CRASHING_IMAGE,
                        3,
                        vec!["starting".into(), "FATAL: missing DATABASE_URL".into()],
                    );
                    let kube_config = kube.config().await.unwrap();
                    let template = "image_template = \"ghcr.io/codertocat/hello-world:{sha}\"";
                    (
                        Some(kube),
                        kube_config,
                        "preview-".to_string(),
                        "ghcr.io/codertocat/hello-world:latest",
                        template,
                    )
                }
                Some(path) => {
                    let kubeconfig = kube::config::Kubeconfig::read_from(path).unwrap();
                    let config =
                        kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                            .await
                            .unwrap();
                    // Tests share the cluster: a prefix of their own keeps them apart.
                    let prefix = format!("pbt{:05}-", rand_suffix());
                    (None, config, prefix, "registry.k8s.io/pause:3.10", "")
                }
            };
        // The tests' own view of the cluster; the bot gets its client (with its deadline) below.
        let client = kube::Client::try_from(kube_config.clone()).unwrap();
        seed_shared_secret(&client).await;
        let manifest = APP_MANIFEST.replace("IMAGE", image);
        let unpullable = APP_MANIFEST.replace("IMAGE", UNPULLABLE_IMAGE);
        let hostile = format!("{manifest}{HOSTILE_EXTRA}");
        let foreign_namespaces = manifest
            .replace(
                "  name: hello-config\n",
                "  name: hello-config\n  namespace: default\n",
            )
            .replace(
                "  name: hello\nspec:\n  replicas",
                "  name: hello\n  namespace: kube-system\nspec:\n  replicas",
            );
        assert!(
            foreign_namespaces.contains("namespace: kube-system")
                && foreign_namespaces.contains("namespace: default"),
            "the foreign-namespace commit must name foreign namespaces"
        );
        let crashing = APP_MANIFEST.replace(
            "image: IMAGE",
            &format!("image: {CRASHING_IMAGE}\n          command: {CRASH_COMMAND}"),
        );
        let without_config_map = manifest
            .split("\n---\n")
            .filter(|doc| !doc.contains("kind: ConfigMap"))
            .collect::<Vec<_>>()
            .join("\n---\n")
            .replace(
                "          envFrom: [{configMapRef: {name: hello-config}}]\n",
                "",
            );
        let slack = FakeSlack::start().await;
        let app_key = github_app.then(|| github_api::generate_app_key(1024).unwrap());
        let github = FakeGitHub::start_with(github_api::GitHubOptions {
            app_public_key_pem: app_key.as_ref().map(|k| k.public_pem.clone()),
            ..github_api::GitHubOptions::default()
        })
        .await;
        github.add_installation(github_api::GITHUB_INSTALLATION_ID, OWNER);
        github.add_repo(OWNER, REPO);
        // The published payloads' sender maintains the repositories.
        for repo in [REPO, PAYMENTS_REPO, SHOP_REPO] {
            github.set_permission(OWNER, repo, "Codertocat", "write");
        }
        for (sha, text) in [
            (HEAD_SHA, &manifest),
            (SECOND_SHA, &manifest),
            (BAD_IMAGE_SHA, &unpullable),
            (PRUNED_SHA, &without_config_map),
            (CRASH_SHA, &crashing),
            (HOSTILE_SHA, &hostile),
            (FOREIGN_NS_SHA, &foreign_namespaces),
        ] {
            github.add_commit_tree(
                OWNER,
                REPO,
                sha,
                vec![("deploy/preview/app.yaml".into(), text.as_bytes().to_vec())],
            );
        }
        github.add_pull(PullSpec::new(
            OWNER,
            REPO,
            PR,
            HEAD_SHA,
            "changes",
            "Codertocat",
        ));
        github.add_repo(OWNER, PAYMENTS_REPO);
        github.add_pull(PullSpec::new(
            OWNER,
            PAYMENTS_REPO,
            PAYMENTS_PR,
            PAYMENTS_SHA,
            "refunds",
            "Codertocat",
        ));
        for sha in [
            PAYMENTS_SHA,
            CHECK_FAILED_SHA,
            CHECK_PENDING_SHA,
            CHECK_MISSING_SHA,
        ] {
            github.add_commit_tree(
                OWNER,
                PAYMENTS_REPO,
                sha,
                vec![(
                    "deploy/app.yaml".into(),
                    payments_manifest(image).into_bytes(),
                )],
            );
        }
        github.add_check_run(
            OWNER,
            PAYMENTS_REPO,
            PAYMENTS_SHA,
            "build-image",
            "completed",
            Some("success"),
        );
        github.add_check_run(
            OWNER,
            PAYMENTS_REPO,
            CHECK_FAILED_SHA,
            "build-image",
            "completed",
            Some("failure"),
        );
        github.add_repo(OWNER, SHOP_REPO);
        github.add_pull(PullSpec::new(
            OWNER,
            SHOP_REPO,
            SHOP_PR,
            SHOP_SHA,
            "checkout",
            "Codertocat",
        ));
        let shop_image = if kube.is_some() {
            "ghcr.io/codertocat/shop:latest"
        } else {
            image
        };
        github.add_commit_tree(OWNER, SHOP_REPO, SHOP_SHA, shop_tree(shop_image));

        let mut text = config_text(&slack.api_url(), &github.url(), &prefix, image_template);
        if options.socket_mode {
            text = text.replacen("[slack]\n", "[slack]\nmode = \"socket\"\n", 1);
        }
        if let Some(parallel) = options.max_parallel_deploys {
            text = text.replace(
                "max_previews = 2\n",
                &format!("max_previews = 2\nmax_parallel_deploys = {parallel}\n"),
            );
        }
        if let Some(max) = options.max_previews {
            text = text.replace("max_previews = 2\n", &format!("max_previews = {max}\n"));
        }
        if !options.schedule.is_empty() {
            text.push_str(&format!("\n[schedule]\n{}\n", options.schedule));
        }
        text.push_str(&options.extra_config);
        let config = Arc::new(Config::parse(&text, "scenario.toml").unwrap());
        create_namespace(&client, &config.bot.namespace).await;
        let ns = format!("{prefix}hello-pr-{PR}");
        let bot_client = preview_bot::kube_client::client(
            kube_config,
            Arc::new(preview_bot::metrics::Metrics::new()),
            config.bot.kubernetes_timeout.get(),
        )
        .unwrap();
        let cluster = Arc::new(Cluster::new(bot_client, &config.bot.namespace_prefix));
        let slack_api =
            SlackApi::from_config(&config.slack, &Secret::new(slack_api::SLACK_BOT_TOKEN)).unwrap();
        let auth = match &app_key {
            Some(key) => GitHubAuth::App {
                app_id: github_api::GITHUB_APP_ID,
                private_key: Secret::new(key.private_pem.clone()),
            },
            None => GitHubAuth::Token(Secret::new(github_api::GITHUB_TOKEN)),
        };
        let github_api = GitHubApi::from_config(&config.github, &auth).unwrap();
        let notifier = Notifier::new(
            config.clone(),
            Some(slack_api),
            Some(github_api.clone()),
            None,
        );
        let mut engine = Engine::new(
            config.clone(),
            cluster,
            SourceProvider::GitHub(github_api),
            notifier,
        );
        if let Some(clock) = options.clock {
            engine = engine.with_clock(clock);
        }
        let kill_switch_view_stop = tokio_util::sync::CancellationToken::new();
        let engine = Arc::new(watching_kill_switch(engine, &kill_switch_view_stop).await);
        let bot = Arc::new(
            Bot::new(
                engine,
                Some(Secret::new(SLACK_SIGNING_SECRET)),
                Some(Secret::new(GITHUB_WEBHOOK_SECRET)),
            )
            .with_admin_token(Some(Secret::new(ADMIN_TOKEN))),
        );
        let router = bot_http::router(bot.clone());
        let socket_stop = tokio_util::sync::CancellationToken::new();
        if options.socket_mode {
            let app =
                SlackApi::from_config(&config.slack, &Secret::new(slack.app_token())).unwrap();
            SocketMode::new(bot.clone(), app)
                .with_timing(SocketTiming {
                    ping_interval: Duration::from_millis(200),
                    backoff_base: Duration::from_millis(50),
                    backoff_max: Duration::from_millis(500),
                    ..SocketTiming::default()
                })
                .start(socket_stop.clone())
                .await
                .unwrap();
        }
        World {
            socket_stop,
            kill_switch_view_stop,
            kube,
            ns,
            slack,
            github,
            bot,
            router,
            client,
            config,
            github_auth: auth,
        }
    }

    pub fn engine(&self) -> Arc<Engine> {
        self.bot.engine.clone()
    }

    /// A second bot replica: its own engine and clients, the same config, cluster and fakes
    /// (without a watch of the kill switch: [`World::another_watching_replica`] has one).
    pub fn another_replica(&self, clock: Arc<dyn Clock>) -> Arc<Engine> {
        Arc::new(self.another_engine(clock))
    }

    /// A second bot replica with its own watch of the kill switch, in sync, as `serve` runs it.
    pub async fn another_watching_replica(&self) -> Arc<Engine> {
        let engine = self.another_engine(Arc::new(preview_bot::clock::SystemClock));
        Arc::new(watching_kill_switch(engine, &self.kill_switch_view_stop).await)
    }

    fn another_engine(&self, clock: Arc<dyn Clock>) -> Engine {
        let slack_api =
            SlackApi::from_config(&self.config.slack, &Secret::new(slack_api::SLACK_BOT_TOKEN))
                .unwrap();
        let github_api = GitHubApi::from_config(&self.config.github, &self.github_auth).unwrap();
        let notifier = Notifier::new(
            self.config.clone(),
            Some(slack_api),
            Some(github_api.clone()),
            None,
        );
        let cluster = Arc::new(Cluster::new(
            self.client.clone(),
            &self.config.bot.namespace_prefix,
        ));
        Engine::new(
            self.config.clone(),
            cluster,
            SourceProvider::GitHub(github_api),
            notifier,
        )
        .with_clock(clock)
    }

    /// Sends a request through the bot's router.
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// A signed GitHub delivery.
    pub async fn github_event(&self, event: &str, body: &Value) -> (StatusCode, String) {
        let body = serde_json::to_string(body).unwrap();
        let mut request = Request::post("/github/webhook");
        for (name, value) in github_api::signed_webhook(GITHUB_WEBHOOK_SECRET, event, &body) {
            request = request.header(name, value);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// A signed slash command typed by `user` in `channel`; returns the immediate answer.
    pub async fn slack_command(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> (StatusCode, Value) {
        let mut command = SlashCommand::new(channel, user, text);
        command.response_url = self
            .slack
            .response_url(&format!("{user}-{}", self.slack.calls().len()));
        self.slack_signed(
            &command,
            chrono::Utc::now().timestamp(),
            SLACK_SIGNING_SECRET,
        )
        .await
    }

    /// A signed slash command typed by `user` in `channel`, once the bot has finished with it:
    /// the immediate answer, then what arrived on its response_url, one per line.
    pub async fn slack_conversation(&self, channel: &str, user: &str, text: &str) -> String {
        let id = format!("{user}-{}", self.slack.calls().len());
        let mut command = SlashCommand::new(channel, user, text);
        command.response_url = self.slack.response_url(&id);
        let (status, ack) = self
            .slack_signed(
                &command,
                chrono::Utc::now().timestamp(),
                SLACK_SIGNING_SECRET,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{ack}");
        self.settle().await;
        let mut texts = vec![ack["text"].as_str().unwrap_or_default().to_string()];
        texts.extend(
            self.slack
                .responses(&id)
                .iter()
                .map(|r| r["text"].as_str().unwrap_or_default().to_string()),
        );
        texts.join("\n")
    }

    /// A slash command typed by `user` in `channel`, delivered over Socket Mode as envelope
    /// `envelope_id` (its response_url is the fake's `response_url(envelope_id)`); returns the
    /// bot's ack once it arrived.
    pub async fn socket_command(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        envelope_id: &str,
    ) -> Value {
        let command = SlashCommand::new(channel, user, text)
            .with_response_url(self.slack.response_url(envelope_id));
        let envelope = slack_api::slash_command_envelope(envelope_id, &command);
        self.socket_deliver(&envelope).await
    }

    /// Delivers an envelope over Socket Mode and returns the bot's latest ack of it.
    pub async fn socket_deliver(&self, envelope: &Value) -> Value {
        let id = envelope["envelope_id"].as_str().unwrap();
        let before = self.slack.acks_of(id).len();
        assert!(
            self.slack.wait_for_socket(1, Duration::from_secs(10)).await,
            "no Socket Mode connection"
        );
        assert!(
            self.slack.socket_send(envelope),
            "no Socket Mode connection"
        );
        let acks = self
            .slack
            .wait_for_acks(id, before + 1, Duration::from_secs(5))
            .await;
        assert_eq!(acks.len(), before + 1, "envelope {id} was not acknowledged");
        acks[before].clone()
    }

    pub async fn slack_signed(
        &self,
        command: &SlashCommand,
        timestamp: i64,
        secret: &str,
    ) -> (StatusCode, Value) {
        let (body, headers) = slack_api::signed_slash_command(secret, timestamp, command);
        let mut request = Request::post("/slack/commands");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let (status, text) = self.send(request.body(Body::from(body)).unwrap()).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Labels the PR `preview` while its head is `sha`, and waits for the bot to finish.
    pub async fn label_at(&self, sha: &str) {
        self.github.set_head(OWNER, REPO, PR, sha);
        let mut payload = labeled_payload();
        payload["pull_request"]["head"]["sha"] = sha.into();
        self.github_event("pull_request", &payload).await;
        self.settle().await;
    }

    /// Waits until the bot has finished all background work.
    pub async fn settle(&self) {
        tokio::time::timeout(Duration::from_secs(60), self.bot.background.wait_idle())
            .await
            .expect("the bot's background work did not finish in 60 s");
    }

    /// Waits until the namespace is gone (deletion is asynchronous, as on a real cluster).
    pub async fn wait_namespace_gone(&self, name: &str) {
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
            kube::Api::all(self.client.clone());
        for _ in 0..100 {
            if api.get_opt(name).await.unwrap().is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("namespace {name} still exists");
    }

    pub async fn namespace(&self, name: &str) -> Option<k8s_openapi::api::core::v1::Namespace> {
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
            kube::Api::all(self.client.clone());
        api.get_opt(name).await.unwrap()
    }

    pub fn annotation(ns: &k8s_openapi::api::core::v1::Namespace, key: &str) -> Option<String> {
        ns.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key).cloned())
    }

    /// Kubernetes writes the bot made (everything but reads and watches); `None` on a real
    /// cluster, where the request log is not visible (tests then check the cluster's state).
    /// The bot's bookkeeping of GitHub delivery ids (in its state ConfigMap) is left out: it
    /// records that a request arrived, not an effect of it.
    pub fn kube_writes(&self) -> Option<usize> {
        let bookkeeping = format!(
            "/namespaces/{}/configmaps",
            self.bot.engine.config.bot.namespace
        );
        self.kube.as_ref().map(|k| {
            k.mutating_requests()
                .iter()
                .filter(|r| {
                    !(r.path.contains(&bookkeeping) && r.body.contains("github-deliveries"))
                })
                .count()
        })
    }

    /// Comments the bot wrote on the PR (the sticky status comment and replies), oldest first.
    pub fn bot_comments(&self) -> Vec<github_api::GitHubComment> {
        self.github
            .comments(OWNER, REPO, PR)
            .into_iter()
            .filter(|c| c.author == github_api::BOT_LOGIN)
            .collect()
    }

    /// Asserts the preview's phase is `failed` and returns why, from its record.
    pub async fn failure_message(&self) -> String {
        let ns = self.preview().await.expect("the preview namespace");
        assert_eq!(
            World::annotation(&ns, preview_deploy::labels::annotations::PHASE).as_deref(),
            Some("failed")
        );
        World::annotation(&ns, preview_deploy::labels::annotations::MESSAGE)
            .expect("a failure message")
    }

    pub fn simulated(&self) -> bool {
        self.kube.is_some()
    }

    /// The preview namespace, if it exists.
    pub async fn preview(&self) -> Option<k8s_openapi::api::core::v1::Namespace> {
        self.namespace(&self.ns).await
    }

    /// Seeds `count` ready previews of `hello` (PRs `from`, `from + 1`, ...) straight into the
    /// simulated cluster, as the bot records them (the namespace with its record, one running
    /// pod each), and their open PRs on GitHub. Nothing on a real cluster.
    pub fn seed_previews(&self, from: u64, count: usize) {
        use preview_deploy::labels;
        let Some(kube) = &self.kube else { return };
        let prefix = &self.config.bot.namespace_prefix;
        let now = chrono::Utc::now();
        for i in 0..count as u64 {
            let pr = from + i;
            let id = preview_deploy::PreviewId::new("hello", pr);
            let ns = id.namespace(prefix);
            let owner = format!("dev{}", i % 37);
            let mut record = preview_deploy::PreviewRecord::new(
                id,
                ns.clone(),
                &format!("{OWNER}/{REPO}"),
                &owner,
                HEAD_SHA,
                now - chrono::Duration::minutes(i as i64 % 600),
            );
            record.phase = preview_deploy::Phase::Ready;
            record.url = Some(format!("https://hello-pr-{pr}.preview.example.com"));
            record.slack_channel = Some(CHANNEL.to_string());
            record.applied = vec!["apps/v1 Deployment hello".into()];
            kube.put_object(record.namespace_manifest());
            kube.put_object(serde_json::json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": format!("hello-{pr}"),
                    "namespace": ns.as_str(),
                    "labels": {
                        "app": "hello",
                        labels::MANAGED_BY: labels::MANAGED_BY_VALUE,
                        labels::PREVIEW: ns.as_str(),
                    },
                },
                "spec": {
                    "nodeName": "node-1",
                    "containers": [{
                        "name": "hello",
                        "image": "ghcr.io/codertocat/hello-world:latest",
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                    }],
                },
                "status": {"phase": "Running"},
            }));
            self.github.add_pull(PullSpec::new(
                OWNER,
                REPO,
                pr,
                HEAD_SHA,
                &format!("branch-{pr}"),
                &owner,
            ));
        }
    }
}

impl World {
    /// A simulated world with `previews` ready previews of `hello` (PRs `from`, `from + 1`, ...)
    /// behind `newer` open PRs without previews (from PR 1000 on), for the orphan checks; None
    /// on a real cluster, where previews are not seeded.
    pub async fn with_previews_behind_open_pulls(
        from: u64,
        previews: usize,
        newer: usize,
    ) -> Option<World> {
        let world = World::start_with_options(WorldOptions {
            max_previews: Some(50),
            ..WorldOptions::default()
        })
        .await;
        world.kube.as_ref()?;
        world.add_open_pulls(1000, newer);
        world.seed_previews(from, previews);
        Some(world)
    }

    /// Starts `up shop#7` with a database that never starts (its image cannot be pulled) and
    /// returns the shop's namespace once its deploy waits for the database, where it stays
    /// until its timeout or until it is stopped. Simulated cluster only.
    pub async fn start_shop_stuck_on_its_database(&self, kube: &FakeKube) -> String {
        kube.set_unpullable_image("library/postgres");
        let (status, _) = self.slack_command(CHANNEL, "U0DEV", "up shop#7").await;
        assert_eq!(status, http::StatusCode::OK);
        let shop = self.ns.replace("hello-pr-2", "shop-pr-7");
        let statefulsets: kube::Api<k8s_openapi::api::apps::v1::StatefulSet> =
            kube::Api::namespaced(self.client.clone(), &shop);
        let waiting = async {
            while statefulsets
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .is_empty()
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the shop's deploy waits for its database");
        shop
    }

    /// `count` open pull requests `from`, `from + 1`, ... in the fake GitHub without previews
    /// (what a busy repository has besides its previews).
    pub fn add_open_pulls(&self, from: u64, count: usize) {
        for pr in from..from + count as u64 {
            self.github.add_pull(PullSpec::new(
                OWNER,
                REPO,
                pr,
                HEAD_SHA,
                &format!("branch-{pr}"),
                "octocat",
            ));
        }
    }

    /// The namespace of preview `hello#pr`.
    pub fn hello_ns(&self, pr: u64) -> String {
        preview_deploy::PreviewId::new("hello", pr)
            .namespace(&self.config.bot.namespace_prefix)
            .to_string()
    }
}

/// The `block_actions` payload of `user` pressing the kill switch's teardown confirmation
/// button in the ops channel, answered on `response_id`.
pub fn confirm_teardown_press(world: &World, user: &str, response_id: &str) -> Value {
    serde_json::json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0001"},
        "channel": {"id": OPS_CHANNEL, "name": "ops"},
        "response_url": world.slack.response_url(response_id),
        "actions": [{
            "type": "button",
            "action_id": "kill_switch_confirm_teardown",
            "block_id": "b1",
            "value": "confirm",
            "action_ts": "1700000000.000100"
        }]
    })
}

/// Every message posted in `channel`, roots and replies, one after another.
pub fn channel_text(world: &World, channel: &str) -> String {
    world
        .slack
        .messages(channel)
        .into_iter()
        .map(|m| m.text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The texts of the first preview's Slack thread in the app's channel (root message first).
pub fn thread_texts(world: &World) -> Vec<String> {
    let messages = world.slack.messages(CHANNEL);
    let Some(root) = messages.iter().find(|m| m.thread_ts.is_none()) else {
        return Vec::new();
    };
    world
        .slack
        .thread(CHANNEL, &root.ts)
        .into_iter()
        .map(|m| m.text)
        .collect()
}

/// A published payload with the trigger label instead of `bug`.
pub fn labeled_payload() -> Value {
    let mut body = preview_testkit::fixtures::json("github/pull_request.labeled.json");
    body["label"]["name"] = "preview".into();
    body["pull_request"]["labels"][0]["name"] = "preview".into();
    body
}

/// The published synchronize payload moved to `sha`.
pub fn push_payload(sha: &str) -> Value {
    let mut body = preview_testkit::fixtures::json("github/pull_request.synchronize.json");
    body["pull_request"]["head"]["sha"] = sha.into();
    body["after"] = sha.into();
    body
}

/// The published closed payload, merged (GitHub published no merged example).
pub fn merged_payload() -> Value {
    let mut body = preview_testkit::fixtures::json("github/pull_request.closed.json");
    body["pull_request"]["merged"] = true.into();
    body
}

/// The published issue comment moved onto PR 2 (GitHub published none on a PR) with `text`.
pub fn pr_comment_payload(comment_id: u64, text: &str) -> Value {
    let mut body = preview_testkit::fixtures::json("github/issue_comment.created.json");
    body["issue"]["number"] = PR.into();
    body["issue"]["pull_request"] = serde_json::json!({
        "url": format!("https://api.github.com/repos/{OWNER}/{REPO}/pulls/{PR}"),
        "html_url": format!("https://github.com/{OWNER}/{REPO}/pull/{PR}"),
    });
    body["comment"]["id"] = comment_id.into();
    body["comment"]["body"] = text.into();
    body
}

fn rand_suffix() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    (nanos ^ std::process::id().rotate_left(16)) % 100_000
}
