//! Every object preview-bot generates itself (dependencies, the built-in image template) passes
//! the official Kubernetes schemas (`kubernetes-validate --strict`, PyPI), before and after the
//! preview transform.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use preview_config::Config;
use preview_deploy::dependencies;
use preview_deploy::sources::render_image_app;
use preview_deploy::transform::{PreviewContext, transform};
use serde_json::Value;
use std::path::{Path, PathBuf};

const SCHEMA_VERSION: &str = "1.33.0";

const CONFIG: &str = r#"
[bot]
public_url = "https://preview-bot.example.com"
[domains]
base = "preview.example.com"
[apps.collect]
repo = "acme/collect"
manifests = { image = "ghcr.io/acme/collect:{sha}", port = 8080 }
image_template = "ghcr.io/acme/collect:{sha}"

[apps.collect.dependencies.postgres]
kind = "postgres"
[apps.collect.dependencies.mysql]
kind = "mysql"
env = "MYSQL_URL"
[apps.collect.dependencies.redis]
kind = "redis"
[apps.collect.dependencies.mongo]
kind = "mongodb"
[apps.collect.dependencies.payments]
kind = "shared"
url = "https://payments.staging.example.com"
env = "PAYMENTS_URL"
"#;

#[test]
fn generated_objects_pass_strict_schema_validation() {
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
    let config = Config::parse(CONFIG, "test.toml").expect("config");
    let app = &config.apps["collect"];
    let mut ctx = PreviewContext::new(&config, "collect", app, 42, "0123456789abcdef", None);
    let plan = dependencies::plan(&ctx, &app.dependencies, &|_: &str| None);
    assert_eq!(plan.workloads.len(), 4);
    plan.inject_into(&mut ctx);

    let image = ctx.image.clone().expect("image");
    let template = render_image_app("collect", &image, 8080);
    let plain: Vec<Value> = template.iter().map(|r| r.object.clone()).collect();
    let transformed = transform(template, &ctx).expect("transform");
    assert_eq!(transformed.hosts, ["collect-pr-42.preview.example.com"]);
    assert!(
        transformed.warnings.is_empty(),
        "{:?}",
        transformed.warnings
    );

    let objects: Vec<Value> = plan
        .objects
        .iter()
        .chain(&plain)
        .chain(&transformed.objects)
        .cloned()
        .collect();
    assert_eq!(objects.len(), 12 + 3 + 3);
    let dir = tempfile::tempdir().expect("tmp");
    let files: Vec<PathBuf> = objects
        .iter()
        .enumerate()
        .map(|(index, object)| write_json(dir.path(), &format!("{index:03}"), object))
        .collect();
    let output = validate(&validator, &files);
    assert!(
        output.status.success(),
        "kubernetes-validate refused generated objects:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // The validator is not vacuous: an unknown field in the same objects is refused.
    let mut broken = plan.objects[2].clone();
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["tcpSocket"] =
        serde_json::json!({"port": 1, "hots": "x"});
    let file = write_json(dir.path(), "broken", &broken);
    assert!(!validate(&validator, &[file]).status.success());
}

fn write_json(dir: &Path, name: &str, object: &Value) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(object).unwrap()).unwrap();
    path
}

fn validate(validator: &Path, files: &[PathBuf]) -> std::process::Output {
    std::process::Command::new(validator)
        .args(["--strict", "--quiet", "-k", SCHEMA_VERSION])
        .args(files)
        .output()
        .unwrap()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}
