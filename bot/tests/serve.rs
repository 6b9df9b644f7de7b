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

#[tokio::test]
async fn serve_deploys_on_a_signed_label_event_and_drains_on_sigterm() {
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

    // `bot.namespace`, where the scheduler's Lease lives.
    kube.put_object(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "preview-bot"}}));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, kube.kubeconfig_yaml()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("preview-bot.toml");
    std::fs::write(
        &config,
        format!(
            "[bot]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
             [slack]\napi_url = \"{}\"\n[github]\napi_url = \"{}\"\n[domains]\nbase = \"preview.example.com\"\n\
             [apps.hello]\nrepo = \"Codertocat/Hello-World\"\nmanifests = {{ dir = \"deploy\" }}\n",
            slack.api_url(),
            github.url()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_preview-bot"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("KUBECONFIG", &kubeconfig)
        .env("SLACK_SIGNING_SECRET", "slack-secret")
        .env("SLACK_BOT_TOKEN", slack_api::SLACK_BOT_TOKEN)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("GITHUB_TOKEN", github_api::GITHUB_TOKEN)
        .env_remove("GITHUB_APP_ID")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let client: Client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let base = format!("http://127.0.0.1:{port}");
    let mut healthy = false;
    for _ in 0..100 {
        let request = http::Request::get(format!("{base}/healthz"))
            .body(Full::default())
            .unwrap();
        if let Ok(response) = client.request(request).await
            && response.status() == 200
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "serve never answered /healthz");

    let mut payload = preview_testkit::fixtures::json("github/pull_request.labeled.json");
    payload["label"]["name"] = "preview".into();
    let body = serde_json::to_string(&payload).unwrap();
    let mut request = http::Request::post(format!("{base}/github/webhook"));
    for (name, value) in github_api::signed_webhook(SECRET, "pull_request", &body) {
        request = request.header(name, value);
    }
    let (status, _) = send(
        &client,
        request.body(Full::new(Bytes::from(body.clone()))).unwrap(),
    )
    .await;
    assert_eq!(status, 202);

    let mut phase = None;
    for _ in 0..150 {
        phase = kube
            .object("v1", "Namespace", None, "preview-hello-pr-2")
            .and_then(|ns| {
                ns["metadata"]["annotations"]["preview-bot.dev/phase"]
                    .as_str()
                    .map(str::to_string)
            });
        if phase.as_deref() == Some("ready") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(phase.as_deref(), Some("ready"));

    // The only replica takes the scheduler's Lease.
    let holder = || {
        kube.object(
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
    let mut forged = http::Request::post(format!("{base}/github/webhook"));
    for (name, value) in github_api::signed_webhook("nope", "pull_request", &body) {
        forged = forged.header(name, value);
    }
    assert_eq!(
        send(&client, forged.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .0,
        401
    );

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
    // Shutdown stopped the schedules and released the Lease for the next replica.
    assert_eq!(holder(), None, "the Lease is released on shutdown");
}
