//! `preview-bot exec`: one command from a terminal against the configured cluster (KUBECONFIG to
//! the simulated API server over TLS) and GitHub, printing what the chat would get.
#![allow(clippy::unwrap_used)]

use preview_testkit::github_api::{self, FakeGitHub, PullSpec};
use preview_testkit::kube_api::FakeKube;

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const MANIFEST: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: hello}\nspec:\n  selector: {matchLabels: {app: hello}}\n  template:\n    metadata: {labels: {app: hello}}\n    spec:\n      containers: [{name: hello, image: ghcr.io/codertocat/hello-world:latest}]\n";

struct Setup {
    kube: FakeKube,
    _github: FakeGitHub,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kube = FakeKube::start().await;
    let github = FakeGitHub::start().await;
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
    let dir = tempfile::tempdir().unwrap();
    kube.write_kubeconfig(&dir.path().join("kubeconfig"))
        .unwrap();
    std::fs::write(
        dir.path().join("preview-bot.toml"),
        format!(
            "[bot]\npublic_url = \"https://preview-bot.example.com\"\n\
             [github]\napi_url = \"{}\"\n[domains]\nbase = \"preview.example.com\"\n\
             [deploy]\nready_timeout = \"20s\"\n\
             [apps.hello]\nrepo = \"Codertocat/Hello-World\"\nmanifests = {{ dir = \"deploy\" }}\n",
            github.url()
        ),
    )
    .unwrap();
    Setup {
        kube,
        _github: github,
        dir,
    }
}

/// Runs `preview-bot exec`; (exit code, stdout, stderr).
async fn exec(setup: &Setup, command: &str, with_github: bool) -> (i32, String, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_preview-bot"));
    child
        .args(["exec", "--config"])
        .arg(setup.dir.path().join("preview-bot.toml"))
        .arg(command)
        .env("KUBECONFIG", setup.dir.path().join("kubeconfig"))
        .env_remove("GITHUB_APP_ID")
        .env_remove("SLACK_BOT_TOKEN");
    if with_github {
        child.env("GITHUB_TOKEN", github_api::GITHUB_TOKEN);
    } else {
        child.env_remove("GITHUB_TOKEN");
    }
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), child.output())
        .await
        .unwrap()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn exec_runs_one_command_and_prints_the_chat_answer() {
    let setup = setup().await;
    let (code, out, err) = exec(&setup, "/preview up hello#2", true).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("[hello#2] Deploying `ec26c3e` (requested by console)")
            && out.contains("Preview hello#2 is ready (commit `ec26c3e`)"),
        "{out}"
    );
    let phase = setup
        .kube
        .object("v1", "Namespace", None, "preview-hello-pr-2")
        .unwrap()["metadata"]["annotations"]["preview-bot.dev/phase"]
        .clone();
    assert_eq!(phase, "ready");

    // Without a configured log tool the log link is the bot's own logs page.
    let (code, out, _) = exec(&setup, "status hello#2", true).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("https://preview-bot.example.com/previews/preview-hello-pr-2/logs"),
        "{out}"
    );

    // Without the leading `/preview` too.
    let (code, out, _) = exec(&setup, "list", true).await;
    assert_eq!(code, 0);
    assert!(out.contains("hello#2"), "{out}");
}

#[tokio::test]
async fn exec_refuses_bad_input_without_touching_anything() {
    let setup = setup().await;
    let (code, out, _) = exec(&setup, "/preview upp hello#2", true).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("Did you mean `up`?"), "{out}");
    let (code, out, _) = exec(&setup, "/preview down nosuch#1", true).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("Unknown app `nosuch`"), "{out}");
    // A command that runs needs GitHub credentials, as `serve` does; it says so.
    let (code, _, err) = exec(&setup, "/preview status hello#2", false).await;
    assert_eq!(code, 1);
    assert!(err.contains("GITHUB_TOKEN"), "{err}");
    assert!(
        setup.kube.mutating_requests().is_empty(),
        "{:?}",
        setup.kube.mutating_requests()
    );
}
