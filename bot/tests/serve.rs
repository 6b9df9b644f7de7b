//! `preview-bot serve` as it runs in production: configured by a file and environment variables,
//! talking TLS to the (simulated) Kubernetes API from KUBECONFIG, answering signed webhooks over
//! real HTTP, and shutting down gracefully on SIGTERM.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use preview_testkit::github_api::{self, FakeGitHub, PullSpec};
use preview_testkit::kube_api::FakeKube;
use preview_testkit::slack_api::{self, FakeSlack};
use std::process::{Command, Stdio};
use std::time::Duration;

const SECRET: &str = "webhook-secret";
const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const MANIFEST: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: ghcr.io/codertocat/hello-world:latest}]\n";

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

async fn send(client: &Client, request: http::Request<Full<Bytes>>) -> (u16, String) {
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The fakes, the config file and the kubeconfig a `serve` process is started with.
struct Served {
    kube: FakeKube,
    _github: FakeGitHub,
    slack: FakeSlack,
    dir: tempfile::TempDir,
    port: u16,
    client: Client,
}

impl Served {
    async fn new() -> Served {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let kube = FakeKube::start().await;
        let github = FakeGitHub::start().await;
        let slack = FakeSlack::start().await;
        github.add_repo("Codertocat", "Hello-World");
        github.add_pull(PullSpec::new(
            "Codertocat",
            "Hello-World",
            2,
            SHA,
            "changes",
            "Codertocat",
        ));
        github.add_commit_tree(
            "Codertocat",
            "Hello-World",
            SHA,
            vec![("deploy/app.yaml".into(), MANIFEST.as_bytes().to_vec())],
        );
        // The bot's own namespace, as its install manifests create it (audit log, state).
        let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
            kube::Api::all(kube.client().await);
        let own = serde_json::from_value(serde_json::json!({"metadata": {"name": "preview-bot"}}))
            .unwrap();
        namespaces.create(&Default::default(), &own).await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), kube.kubeconfig_yaml()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            dir.path().join("preview-bot.toml"),
            format!(
                "[bot]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
                 [slack]\napi_url = \"{}\"\n[github]\napi_url = \"{}\"\n[domains]\nbase = \"preview.example.com\"\n\
                 [apps.hello]\nrepo = \"Codertocat/Hello-World\"\nmanifests = {{ dir = \"deploy\" }}\n",
                slack.api_url(),
                github.url()
            ),
        )
        .unwrap();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        Served {
            kube,
            _github: github,
            slack,
            dir,
            port,
            client,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `preview-bot serve` with the environment of a production install.
    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_preview-bot"));
        command
            .args(["serve", "--config"])
            .arg(self.dir.path().join("preview-bot.toml"))
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("SLACK_SIGNING_SECRET", "slack-secret")
            .env("SLACK_BOT_TOKEN", slack_api::SLACK_BOT_TOKEN)
            .env("GITHUB_WEBHOOK_SECRET", SECRET)
            .env("GITHUB_TOKEN", github_api::GITHUB_TOKEN)
            .env_remove("GITHUB_APP_ID")
            .env_remove("SLACK_APP_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Switches the config to Slack Socket Mode.
    fn use_socket_mode(&self) {
        let path = self.dir.path().join("preview-bot.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("[slack]\n", "[slack]\nmode = \"socket\"\n"),
        )
        .unwrap();
    }

    /// Starts `preview-bot serve` and waits until it answers `/healthz`.
    async fn spawn(&self) -> std::process::Child {
        self.spawn_with(self.command()).await
    }

    async fn spawn_with(&self, mut command: Command) -> std::process::Child {
        let mut child = command.spawn().unwrap();
        for _ in 0..100 {
            let request = http::Request::get(format!("{}/healthz", self.base()))
                .body(Full::default())
                .unwrap();
            if let Ok(response) = self.client.request(request).await
                && response.status() == 200
            {
                return child;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve never answered /healthz");
    }

    /// The signed `labeled` delivery with the trigger label.
    fn labeled(&self, secret: &str) -> http::Request<Full<Bytes>> {
        let mut payload = preview_testkit::fixtures::json("github/pull_request.labeled.json");
        payload["label"]["name"] = "preview".into();
        let body = serde_json::to_string(&payload).unwrap();
        let mut request = http::Request::post(format!("{}/github/webhook", self.base()));
        for (name, value) in github_api::signed_webhook(secret, "pull_request", &body) {
            request = request.header(name, value);
        }
        request.body(Full::new(Bytes::from(body))).unwrap()
    }

    fn phase(&self) -> Option<String> {
        self.kube
            .object("v1", "Namespace", None, "preview-hello-pr-2")
            .and_then(|ns| {
                ns["metadata"]["annotations"]["preview-bot.dev/phase"]
                    .as_str()
                    .map(str::to_string)
            })
    }

    async fn wait_for_phase(&self, wanted: &str) -> Option<String> {
        for _ in 0..150 {
            if self.phase().as_deref() == Some(wanted) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.phase()
    }
}

#[tokio::test]
async fn serve_deploys_on_a_signed_label_event_and_drains_on_sigterm() {
    let served = Served::new().await;
    let child = served.spawn().await;
    let readyz = http::Request::get(format!("{}/readyz", served.base()))
        .body(Full::default())
        .unwrap();
    let (status, body) = send(&served.client, readyz).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = send(&served.client, served.labeled(SECRET)).await;
    assert_eq!(status, 202);
    assert_eq!(
        served.wait_for_phase("ready").await.as_deref(),
        Some("ready")
    );

    let metrics = http::Request::get(format!("{}/metrics", served.base()))
        .body(Full::default())
        .unwrap();
    let (_, text) = send(&served.client, metrics).await;
    assert!(
        text.contains(r#"preview_bot_previews{app="hello",phase="ready"} 1"#)
            && text.contains(
                r#"preview_bot_deploy_duration_seconds_count{app="hello",outcome="ready"} 1"#
            ),
        "{text}"
    );

    // The only replica takes the scheduler's Lease.
    let holder = || {
        served
            .kube
            .object(
                "coordination.k8s.io/v1",
                "Lease",
                Some("preview-bot"),
                "preview-bot-scheduler",
            )
            .and_then(|lease| lease["spec"]["holderIdentity"].as_str().map(str::to_string))
    };
    let mut held = None;
    for _ in 0..150 {
        held = holder();
        if held.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(held.is_some(), "serve never took the scheduler Lease");

    // A wrong signature over real HTTP is refused.
    assert_eq!(send(&served.client, served.labeled("nope")).await.0, 401);

    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.status.success(),
        "serve exited badly: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let logs = String::from_utf8_lossy(&status.stderr);
    assert!(logs.contains("preview-bot serving"), "{logs}");
    // JSON logs; the event's work carries its span: what, which previews, who.
    let handled: serde_json::Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "pull request event handled")
        .unwrap_or_else(|| panic!("no `handled` line in {logs}"));
    assert_eq!(handled["span"]["name"], "pull_request", "{handled}");
    assert_eq!(handled["span"]["previews"], "hello#2", "{handled}");
    assert_eq!(handled["span"]["actor"], "Codertocat", "{handled}");
    // Shutdown stopped the schedules and released the Lease for the next replica.
    assert_eq!(holder(), None, "the Lease is released on shutdown");
}

/// The bot killed (SIGKILL, no draining) at several points of a deploy, restarted each time:
/// the restarted process finishes the preview from what the cluster recorded, once.
#[tokio::test]
async fn serve_killed_mid_deploy_converges_after_restarts() {
    use preview_testkit::kube_api::{Fault, FaultResponse};
    let served = Served::new().await;
    let ns_path = "/namespaces/preview-hello-pr-2";
    // Where each run hangs until it is killed: applying the app, then waiting for readiness.
    let hang_points = [
        Fault::new(
            &format!("{ns_path}/deployments/web"),
            0,
            FaultResponse::Hang,
        )
        .method("PATCH"),
        Fault::new(&format!("{ns_path}/deployments"), 0, FaultResponse::Hang).method("GET"),
    ];
    for (round, fault) in hang_points.into_iter().enumerate() {
        served.kube.inject_fault(fault.clone());
        let mut child = served.spawn().await;
        if round == 0 {
            let (status, _) = send(&served.client, served.labeled(SECRET)).await;
            assert_eq!(status, 202);
        }
        let mut stuck = false;
        for _ in 0..100 {
            stuck = served.kube.requests().iter().any(|r| {
                r.status == 0
                    && r.method == fault.method.clone().unwrap_or_default()
                    && r.path.contains(&fault.path_contains)
            });
            if stuck {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            stuck,
            "round {round}: the bot never reached {}",
            fault.path_contains
        );
        assert_eq!(
            served.phase().as_deref(),
            Some("deploying"),
            "round {round}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        served.kube.clear_faults();
    }
    let mut child = served.spawn().await;
    assert_eq!(
        served.wait_for_phase("ready").await.as_deref(),
        Some("ready"),
        "the restarted bot finished the deploy"
    );
    let deployments = served
        .kube
        .objects("apps/v1", "Deployment", Some("preview-hello-pr-2"));
    assert_eq!(deployments.len(), 1, "applied once, not duplicated");
    // The audit entry follows the record's last save.
    let resumed = || {
        served
            .kube
            .objects("events.k8s.io/v1", "Event", Some("preview-bot"))
            .into_iter()
            .filter(|e| e["action"] == "resume deploy")
            .count()
    };
    for _ in 0..50 {
        if resumed() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resumed = resumed();
    // The second process resumed too (it reached the readiness wait without any webhook) but
    // was killed before its audit entry; the last one finished and recorded it.
    assert_eq!(resumed, 1);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Sends SIGTERM and returns the exit status and the logs.
async fn terminate(child: std::process::Child) -> (std::process::ExitStatus, String) {
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `slack.mode = "socket"`: the real process opens the Socket Mode connection with
/// SLACK_APP_TOKEN (no signing secret needed), answers a slash command on it, and closes it on
/// SIGTERM.
#[tokio::test]
async fn serve_in_socket_mode_takes_slash_commands_over_the_websocket() {
    let served = Served::new().await;
    served.use_socket_mode();
    let mut command = served.command();
    command
        .env_remove("SLACK_SIGNING_SECRET")
        .env("SLACK_APP_TOKEN", slack_api::SLACK_APP_TOKEN);
    let child = served.spawn_with(command).await;
    assert!(
        served
            .slack
            .wait_for_socket(1, Duration::from_secs(10))
            .await,
        "no Socket Mode connection"
    );
    let help = slack_api::SlashCommand::new("C0HELLO", "U0DEV", "help");
    assert!(
        served
            .slack
            .socket_send(&slack_api::slash_command_envelope("env-1", &help))
    );
    let acks = served
        .slack
        .wait_for_acks("env-1", 1, Duration::from_secs(10))
        .await;
    assert_eq!(acks.len(), 1, "no ack");
    assert_eq!(
        acks[0]["payload"]["response_type"], "ephemeral",
        "{}",
        acks[0]
    );
    assert!(
        acks[0]["payload"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("/preview up")),
        "{}",
        acks[0]
    );

    let metrics = http::Request::get(format!("{}/metrics", served.base()))
        .body(Full::default())
        .unwrap();
    let (_, text) = send(&served.client, metrics).await;
    assert!(
        text.contains("preview_bot_slack_socket_connected 1\n"),
        "{text}"
    );
    // The request URLs are off without a signing secret.
    let unsigned = http::Request::post(format!("{}/slack/commands", served.base()))
        .body(Full::new(Bytes::from("command=%2Fpreview&text=help")))
        .unwrap();
    assert_eq!(send(&served.client, unsigned).await.0, 404);

    let (status, logs) = terminate(child).await;
    assert!(status.success(), "serve exited badly: {logs}");
    assert!(logs.contains("Slack Socket Mode: connected"), "{logs}");
    assert_eq!(
        served.slack.socket_connections_live(),
        0,
        "closed on shutdown"
    );
}

/// An app-level token Slack refuses stops `serve` at start with Slack's reason.
#[tokio::test]
async fn serve_in_socket_mode_refuses_to_start_with_a_token_slack_refuses() {
    let served = Served::new().await;
    served.use_socket_mode();
    let mut command = served.command();
    command.env("SLACK_APP_TOKEN", "xapp-1-A0-1-revoked");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{logs}");
    assert!(
        logs.contains("error: Slack Socket Mode")
            && logs.contains("invalid_auth")
            && logs.contains("SLACK_APP_TOKEN"),
        "{logs}"
    );
    assert_eq!(served.slack.socket_connections_opened(), 0);

    // Without any app token the start names the missing variable.
    let mut command = served.command();
    command.env_remove("SLACK_SIGNING_SECRET");
    let output = command.output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{logs}");
    assert!(logs.contains("SLACK_APP_TOKEN"), "{logs}");
    assert!(!logs.contains("SLACK_SIGNING_SECRET"), "{logs}");
}
