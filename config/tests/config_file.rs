#![allow(clippy::unwrap_used)]

use preview_config::{Config, ConfigError, GitHubAuth, ManifestSource, Secrets, SlackMode};
use std::collections::HashMap;

const MINIMAL: &str = r#"
[bot]
public_url = "https://preview-bot.example.com"

[domains]
base = "preview.example.com"

[apps.collect]
repo = "acme/collect"
manifests = { dir = "deploy/preview" }
image_template = "ghcr.io/acme/collect:{sha}"
"#;

fn invalid(text: &str) -> (String, String) {
    match Config::parse(text, "preview-bot.toml") {
        Err(ConfigError::Invalid { key, problem, .. }) => (key, problem),
        other => panic!("expected a semantic error, got {other:?}"),
    }
}

#[test]
fn minimal_config_gets_defaults() {
    let config = Config::parse(MINIMAL, "preview-bot.toml").unwrap();
    assert_eq!(config.bot.namespace_prefix, "preview-");
    assert_eq!(config.github.trigger_label, "preview");
    assert_eq!(config.domains.host_template, "{app}-pr-{pr}.{base}");
    assert_eq!(
        config.apps["collect"].manifests.source().unwrap(),
        ManifestSource::Dir("deploy/preview".into())
    );
    assert_eq!(config.apps_for_repo("Acme", "Collect").count(), 1);
    assert!(
        config
            .summary()
            .contains("collect: acme/collect — plain YAML in deploy/preview")
    );
}

#[test]
fn unknown_key_is_an_error_naming_file_and_key() {
    let text = MINIMAL.replace("[domains]", "[domains]\nhost_templat = \"x\"");
    let err = Config::parse(&text, "preview-bot.toml")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("preview-bot.toml:"), "{err}");
    assert!(err.contains("host_templat"), "{err}");
}

#[test]
fn semantic_errors_name_the_key() {
    let (key, problem) = invalid(&MINIMAL.replace("acme/collect", "collect"));
    assert_eq!(key, "apps.collect.repo");
    assert!(problem.contains("OWNER/REPO"));

    let (key, _) = invalid(&MINIMAL.replace("{sha}", "{commit}"));
    assert_eq!(key, "apps.collect.image_template");

    let (key, _) = invalid(&MINIMAL.replace(
        "manifests = { dir = \"deploy/preview\" }",
        "manifests = { dir = \"a\", kustomize = \"b\" }",
    ));
    assert_eq!(key, "apps.collect.manifests");

    let (key, _) = invalid(&MINIMAL.replace("deploy/preview", "../../etc"));
    assert_eq!(key, "apps.collect.manifests");

    let (key, _) = invalid(&MINIMAL.replace("[apps.collect]", "[apps.Collect]"));
    assert_eq!(key, "apps.Collect");
}

#[test]
fn slack_mode_is_http_unless_socket_is_asked_for() {
    let config = Config::parse(MINIMAL, "preview-bot.toml").unwrap();
    assert_eq!(config.slack.mode, SlackMode::Http);
    let socket = format!("{MINIMAL}\n[slack]\nmode = \"socket\"\n");
    let config = Config::parse(&socket, "preview-bot.toml").unwrap();
    assert_eq!(config.slack.mode, SlackMode::Socket);
    assert!(
        config.summary().contains("over Socket Mode"),
        "{}",
        config.summary()
    );
    let err = Config::parse(&socket.replace("\"socket\"", "\"websocket\""), "f.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("websocket") && err.contains("socket"), "{err}");
}

#[test]
fn bad_duration_is_a_syntax_error_with_the_value() {
    let text = format!("{MINIMAL}\n[deploy]\nready_timeout = \"soon\"\n");
    let err = Config::parse(&text, "f.toml").unwrap_err().to_string();
    assert!(
        err.contains("soon") && err.contains("ready_timeout"),
        "{err}"
    );
}

#[test]
fn secrets_come_from_the_environment_and_never_print() {
    let env: HashMap<&str, &str> = [
        ("SLACK_SIGNING_SECRET", "s3cr3t"),
        ("SLACK_BOT_TOKEN", "xoxb-1"),
        ("GITHUB_WEBHOOK_SECRET", "whs"),
        ("GITHUB_TOKEN", "ghp_x"),
    ]
    .into();
    let secrets = Secrets::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
    secrets.require_for_serving(SlackMode::Http).unwrap();
    assert!(matches!(secrets.github, Some(GitHubAuth::Token(_))));
    let debug = format!("{secrets:?}");
    assert!(
        !debug.contains("s3cr3t") && !debug.contains("ghp_x"),
        "{debug}"
    );

    let missing = Secrets::from_lookup(|_| None).unwrap();
    let err = missing
        .require_for_serving(SlackMode::Http)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SLACK_SIGNING_SECRET") && err.contains("GITHUB_TOKEN"),
        "{err}"
    );

    // Socket Mode needs the app-level token instead of the signing secret.
    let err = secrets
        .require_for_serving(SlackMode::Socket)
        .unwrap_err()
        .to_string();
    assert!(err.contains("SLACK_APP_TOKEN"), "{err}");
    assert!(!err.contains("SLACK_SIGNING_SECRET"), "{err}");
    let socket_env = |token: &'static str| {
        let mut env = env.clone();
        env.remove("SLACK_SIGNING_SECRET");
        env.insert("SLACK_APP_TOKEN", token);
        Secrets::from_lookup(move |k| env.get(k).map(|v| v.to_string())).unwrap()
    };
    socket_env("xapp-1-A0-1-abc")
        .require_for_serving(SlackMode::Socket)
        .unwrap();
    let err = socket_env("xoxb-not-an-app-token")
        .require_for_serving(SlackMode::Socket)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SLACK_APP_TOKEN") && err.contains("app-level token"),
        "{err}"
    );
    assert!(!err.contains("xoxb-not-an-app-token"), "{err}");

    let app_without_key = Secrets::from_lookup(|k| (k == "GITHUB_APP_ID").then(|| "12".into()));
    assert!(
        app_without_key
            .unwrap_err()
            .to_string()
            .contains("GITHUB_APP_PRIVATE_KEY")
    );
}

#[test]
fn dependencies_are_checked() {
    let with = |deps: &str| format!("{MINIMAL}{deps}");
    let ok = Config::parse(
        &with("[apps.collect.dependencies.db]\nkind = \"postgres\"\n[apps.collect.dependencies.cache]\nkind = \"redis\"\nversion = \"7.2\"\n"),
        "f.toml",
    )
    .unwrap();
    let deps = &ok.apps["collect"].dependencies;
    assert_eq!(deps["db"].env_name(), "DATABASE_URL");
    assert_eq!(deps["db"].version(), "16");
    assert_eq!(deps["cache"].env_name(), "REDIS_URL");

    let (key, problem) = invalid(&with(
        "[apps.collect.dependencies.db]\nkind = \"shared\"\nenv = \"X\"\n",
    ));
    assert_eq!(key, "apps.collect.dependencies.db");
    assert!(problem.contains("url"), "{problem}");
    let (_, problem) = invalid(&with(
        "[apps.collect.dependencies.a]\nkind = \"postgres\"\n[apps.collect.dependencies.b]\nkind = \"mysql\"\n",
    ));
    assert!(problem.contains("DATABASE_URL"), "{problem}");
    let (_, problem) = invalid(&with(
        "[apps.collect.dependencies.db]\nkind = \"postgres\"\nversion = \"16; rm -rf\"\n",
    ));
    assert!(problem.contains("image tag"), "{problem}");
    let err = Config::parse(
        &with("[apps.collect.dependencies.db]\nkind = \"oracle\"\n"),
        "f.toml",
    )
    .unwrap_err();
    assert!(err.to_string().contains("oracle"), "{err}");
}

#[test]
fn upstreams_are_checked() {
    let with = |text: &str| format!("{MINIMAL}upstreams = {{ {text} }}\n");
    let ok = Config::parse(
        &with("payments = \"payments.staging.svc.cluster.local\""),
        "f.toml",
    )
    .unwrap();
    assert_eq!(
        ok.apps["collect"].upstreams["payments"],
        "payments.staging.svc.cluster.local"
    );
    let (key, problem) = invalid(&with("payments = \"http://payments\""));
    assert_eq!(key, "apps.collect.upstreams.payments");
    assert!(problem.contains("DNS name"), "{problem}");
    let (_, problem) = invalid(&with("Payments = \"payments.staging\""));
    assert!(problem.contains("DNS label"), "{problem}");
}

#[test]
fn seeds_are_checked() {
    let with = |text: &str| format!("{MINIMAL}seed = {{ {text} }}\n");
    let ok = Config::parse(
        &with("command = [\"./bin/seed\"], on_create = true, datasets = [\"demo\"]"),
        "f.toml",
    )
    .unwrap();
    let seed = ok.apps["collect"].seed.as_ref().unwrap();
    assert!(seed.on_create && seed.image.is_none());
    assert_eq!(seed.timeout.get(), std::time::Duration::from_secs(600));
    let (key, problem) = invalid(&with("command = []"));
    assert_eq!(key, "apps.collect.seed");
    assert!(problem.contains("command"), "{problem}");
    let (_, problem) = invalid(&with("command = [\"x\"], datasets = [\"Big Data\"]"));
    assert!(problem.contains("dataset"), "{problem}");
    let no_image = MINIMAL.replace("image_template = \"ghcr.io/acme/collect:{sha}\"\n", "");
    let (_, problem) = invalid(&format!("{no_image}seed = {{ command = [\"x\"] }}\n"));
    assert!(problem.contains("image"), "{problem}");
}

#[test]
fn copied_secrets_must_come_from_outside_the_previews() {
    let with = |from: &str| {
        format!(
            "{MINIMAL}\n[deploy]\ncopy_secrets = [{{ namespace = \"{from}\", name = \"ghcr-pull\" }}]\n"
        )
    };
    let ok = Config::parse(&with("platform"), "f.toml").unwrap();
    assert_eq!(ok.deploy.copy_secrets[0].name, "ghcr-pull");
    let (key, problem) = invalid(&with("preview-collect-pr-1"));
    assert_eq!(key, "deploy.copy_secrets");
    assert!(problem.contains("preview namespace"), "{problem}");
    let (_, problem) = invalid(&with("Not A Namespace"));
    assert!(problem.contains("is not a namespace"), "{problem}");
}
