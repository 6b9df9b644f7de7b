//! Every object the bot applies in a preview's life is valid against the official Kubernetes
//! schemas (`kubernetes-validate --strict`, PyPI), not merely accepted by our fake.
#![allow(clippy::unwrap_used)]

mod support;

use support::*;

const SCHEMA_VERSION: &str = "1.33.0";

#[tokio::test]
async fn every_applied_object_passes_strict_schema_validation() {
    let Some(validator) = which("kubernetes-validate") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubernetes-validate is not installed (pip install kubernetes-validate); .ci/run installs it"
        );
        eprintln!(
            "SKIPPED: kubernetes-validate is not installed (pip install kubernetes-validate)"
        );
        return;
    };
    let world = World::start().await;
    world.github_event("pull_request", &labeled_payload()).await;
    world.settle().await;
    world.github.set_head(OWNER, REPO, PR, SECOND_SHA);
    world
        .github_event("pull_request", &push_payload(SECOND_SHA))
        .await;
    world.settle().await;
    // The kustomize app with its postgres and redis dependencies.
    world.slack_command(CHANNEL, "U0DEV", "up shop#7").await;
    world.settle().await;
    // The kill switch's state ConfigMap (created, then replaced) and audit Events.
    world
        .slack_command(
            OPS_CHANNEL,
            ONCALL_USER,
            "kill-switch on drill --scale-to-zero",
        )
        .await;
    world.settle().await;
    world
        .slack_command(OPS_CHANNEL, ONCALL_USER, "kill-switch off --restore")
        .await;
    world.settle().await;
    // Lifetime changes rewrite the record; the digest creates the schedules' ConfigMap.
    world
        .slack_command(CHANNEL, "U0DEV", "extend hello#2 30h")
        .await;
    world.slack_command(CHANNEL, "U0DEV", "pin shop#7").await;
    world.settle().await;
    let scheduler = preview_bot::schedule::Scheduler::new(
        world.engine(),
        preview_bot::schedule::leader::Leadership::always(),
    );
    let digest = scheduler
        .run_job(preview_bot::schedule::Job::Digest, chrono::Utc::now())
        .await;
    assert!(digest.acted, "{digest:?}");

    let Some(kube) = &world.kube else {
        eprintln!(
            "SKIPPED on a real cluster: the applied objects are read from the simulated API server's log"
        );
        return;
    };
    // Server-side applies, and whole objects created or replaced (state, audit Events).
    let applied: Vec<_> = kube
        .requests()
        .into_iter()
        .filter(|r| {
            (r.method == "PATCH" && r.content_type.contains("apply-patch"))
                || ((r.method == "POST" || r.method == "PUT")
                    && serde_json::from_str::<serde_json::Value>(&r.body)
                        .is_ok_and(|b| b.get("kind").is_some_and(|k| k != "DeleteOptions")))
        })
        .collect();
    for kind in ["ConfigMap", "Event"] {
        assert!(
            applied
                .iter()
                .any(|r| r.body.contains(&format!("\"kind\":\"{kind}\""))),
            "a {kind} was written"
        );
    }
    assert!(
        applied.iter().any(|r| r.path.ends_with("/configmaps")),
        "the schedules' ConfigMap was created"
    );
    assert!(
        applied.iter().any(|r| r.path.ends_with("/statefulsets/db"))
            && applied
                .iter()
                .any(|r| r.path.ends_with("/secrets/cache-credentials")),
        "the dependency objects were applied"
    );
    assert!(
        applied.len() >= 12,
        "expected the namespaces, the apps' and the dependencies' objects, got {}",
        applied.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (index, request) in applied.iter().enumerate() {
        let object: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        let path = dir.path().join(format!("{index:03}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&object).unwrap()).unwrap();
        files.push(path);
    }
    let output = std::process::Command::new(validator)
        .args(["--strict", "--quiet", "-k", SCHEMA_VERSION])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubernetes-validate refused objects the bot applied:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}
