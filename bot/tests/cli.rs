//! The command-line entry points other than `serve`: `check-config` and `render`.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn preview_bot(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_preview-bot"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/demo/preview-bot.toml"
);
const EXAMPLE_REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/demo/repo");

#[test]
fn check_config_summarizes_a_good_file() {
    let (ok, out, err) = preview_bot(&["check-config", "--config", EXAMPLE]);
    assert!(ok, "{err}");
    assert!(
        out.contains("demo: example/demo — plain YAML in deploy"),
        "{out}"
    );
    assert!(out.ends_with("config OK\n"), "{out}");
}

#[test]
fn check_config_names_file_key_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replace("repo = \"example/demo\"", "repo = \"demo\"");
    std::fs::write(&path, text).unwrap();
    let (ok, _, err) = preview_bot(&["check-config", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("bad.toml") && err.contains("apps.demo.repo") && err.contains("OWNER/REPO"),
        "{err}"
    );

    let (ok, _, err) = preview_bot(&["check-config", "--config", "/nonexistent/preview-bot.toml"]);
    assert!(!ok);
    assert!(
        err.contains("/nonexistent/preview-bot.toml") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn render_prints_what_an_up_would_apply() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let (ok, out, err) = preview_bot(&[
        "render",
        "--config",
        EXAMPLE,
        "--app",
        "demo",
        "--pr",
        "7",
        "--repo-dir",
        EXAMPLE_REPO,
        "--sha",
        sha,
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("\"namespace\": \"preview-demo-pr-7\""),
        "{out}"
    );
    assert!(
        out.contains(&format!("ghcr.io/example/demo:{sha}")),
        "{out}"
    );
    assert!(out.contains("demo-pr-7.preview.example.com"), "{out}");

    let (ok, _, err) = preview_bot(&[
        "render",
        "--config",
        EXAMPLE,
        "--app",
        "nope",
        "--pr",
        "7",
        "--repo-dir",
        EXAMPLE_REPO,
    ]);
    assert!(!ok);
    assert!(err.contains("no app `nope`"), "{err}");
}

#[test]
fn render_prints_every_wave_of_an_image_app_with_a_database_and_an_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("waves.toml");
    let text = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replace("[deploy]\n", "[deploy]\nquota = { pods = \"30\" }\n")
        + r#"
[apps.api]
repo = "example/api"
manifests = { image = "ghcr.io/example/api:{sha}", port = 8080 }
upstreams = { payments = "payments.staging.svc.cluster.local" }
[apps.api.dependencies.db]
kind = "postgres"
"#;
    std::fs::write(&path, text).unwrap();
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let (ok, out, err) = preview_bot(&[
        "render",
        "--config",
        path.to_str().unwrap(),
        "--app",
        "api",
        "--branch",
        "feature/login",
        "--repo-dir",
        EXAMPLE_REPO,
        "--sha",
        sha,
    ]);
    assert!(ok, "{err}");
    let order: Vec<usize> = [
        "# namespace guardrails",
        "\"kind\": \"ResourceQuota\"",
        "# dependencies",
        "\"kind\": \"StatefulSet\"",
        "# the app",
        "\"externalName\": \"payments.staging.svc.cluster.local\"",
    ]
    .iter()
    .map(|needle| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing:\n{out}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "waves out of order:\n{out}"
    );
    assert!(out.contains(&format!("ghcr.io/example/api:{sha}")), "{out}");
    assert!(out.contains("\"name\": \"DATABASE_URL\""), "{out}");
    assert!(out.contains("preview-api-br-feature-login-"), "{out}");

    let (ok, _, err) = preview_bot(&[
        "render",
        "--config",
        EXAMPLE,
        "--app",
        "demo",
        "--repo-dir",
        EXAMPLE_REPO,
    ]);
    assert!(!ok);
    assert!(err.contains("--pr"), "{err}");
}
