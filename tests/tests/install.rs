//! The install artifacts (`install/`): the kustomize base renders, every object passes
//! `kubernetes-validate --strict` and applies to the API server, the shipped config is one
//! `check-config` accepts, and the RBAC it ships allows every API call the bot makes in the
//! scenario flows while granting nothing unused beyond a documented list.
#![allow(clippy::unwrap_used)]

mod install_kit;
mod support;

use install_kit::*;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use std::collections::BTreeSet;
use support::*;

const SCHEMA_VERSION: &str = "1.33.0";

#[tokio::test]
async fn install_manifests_render_validate_and_apply() {
    let Some(objects) = render_install() else {
        return;
    };
    let kinds: BTreeSet<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    ] {
        assert!(kinds.contains(kind), "install/ ships a {kind}");
    }

    if let Some(validator) = required_tool("kubernetes-validate", "pip install kubernetes-validate")
    {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<_> = objects
            .iter()
            .enumerate()
            .map(|(i, object)| {
                let path = dir.path().join(format!("{i:02}.json"));
                std::fs::write(&path, serde_json::to_string_pretty(object).unwrap()).unwrap();
                path
            })
            .collect();
        let output = std::process::Command::new(validator)
            .args(["--strict", "--quiet", "-k", SCHEMA_VERSION])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kubernetes-validate refused install/:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // The Deployment runs `serve` on the shipped config, non-root, with both probes.
    let deployment = kind_named(&objects, "Deployment", "preview-bot");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(
        container["args"],
        serde_json::json!(["serve", "--config", "/etc/preview-bot/preview-bot.toml"])
    );
    assert_eq!(pod["serviceAccountName"], "preview-bot");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    let config_map_name = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|v| v["configMap"]["name"].as_str())
        .unwrap();
    let config_map = kind_named(&objects, "ConfigMap", config_map_name);
    let config_text = config_map["data"]["preview-bot.toml"].as_str().unwrap();
    let config = preview_config::Config::parse(config_text, "install/preview-bot.toml").unwrap();
    assert_eq!(
        config.bot.namespace,
        deployment["metadata"]["namespace"].as_str().unwrap(),
        "the shipped config names the namespace the bot is installed in"
    );
    let port = config.bot.listen.rsplit(':').next().unwrap();
    assert_eq!(container["ports"][0]["containerPort"].to_string(), port);

    // The probes' paths are routes of the bot that answer (not 404).
    let world = World::start().await;
    for probe in ["livenessProbe", "readinessProbe"] {
        let path = container[probe]["httpGet"]["path"].as_str().unwrap();
        let (status, body) = world
            .send(
                http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(status.is_success(), "{probe} {path}: {status} {body}");
    }
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    for (object, path) in [
        (
            kind_named(&objects, "Service", "preview-bot"),
            "/spec/selector",
        ),
        (
            kind_named(&objects, "PodDisruptionBudget", "preview-bot"),
            "/spec/selector/matchLabels",
        ),
    ] {
        assert_eq!(
            object.pointer(path).unwrap(),
            selector,
            "{path} selects the bot's pods"
        );
    }

    // Applied in order to the API server (server-side apply, strict field validation).
    let Some(kube) = &world.kube else {
        return;
    };
    let client = kube.client().await;
    let params = PatchParams {
        field_validation: Some(kube::api::ValidationDirective::Strict),
        ..PatchParams::apply("install-test").force()
    };
    for object in &objects {
        let api_version = object["apiVersion"].as_str().unwrap();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, object["kind"].as_str().unwrap());
        let (resource, capabilities) = kube::discovery::pinned_kind(&client, &gvk).await.unwrap();
        let api: Api<DynamicObject> = match capabilities.scope {
            kube::discovery::Scope::Namespaced => Api::namespaced_with(
                client.clone(),
                object["metadata"]["namespace"].as_str().unwrap(),
                &resource,
            ),
            kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        let name = object["metadata"]["name"].as_str().unwrap();
        api.patch(name, &params, &Patch::Apply(object))
            .await
            .unwrap_or_else(|e| panic!("applying {} {name}: {e}", gvk.kind));
    }
}

/// Kinds the ClusterRole grants (get, patch, delete) although no scenario app ships them: the
/// kinds apps commonly bring. README "Security model" lists them; trim them in an overlay.
const COMMON_APP_KINDS: &[(&str, &str)] = &[
    ("", "serviceaccounts"),
    ("", "persistentvolumeclaims"),
    ("batch", "cronjobs"),
    ("networking.k8s.io", "networkpolicies"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("policy", "poddisruptionbudgets"),
];

/// What the Role in the bot's namespace grants for work that lands separately (kill-switch state
/// ConfigMap, leader-election Lease, audit Events): not exercised by these scenarios yet.
/// (kube-lease-manager also lists, watches and updates Leases on paths a short test does not
/// reach: taking over an expired Lease.)
const BOT_NAMESPACE_GRANTS: &[(&str, &str)] = &[("coordination.k8s.io", "leases"), ("", "events")];

/// The scenario flows that between them make every kind of API call the bot has: create,
/// redeploy, prune, dependencies, copied Secrets, failures with diagnosis, seed jobs, logs,
/// point, status, list, the HTTP pages (readiness, metrics, status and logs) and teardown.
async fn run_flows(world: &World) {
    world.label_at(HEAD_SHA).await;
    world.github.set_head(OWNER, REPO, PR, PRUNED_SHA);
    world
        .github_event("pull_request", &push_payload(PRUNED_SHA))
        .await;
    world.settle().await;
    for command in [
        "up shop#7",
        "up payments#42",
        "seed hello#2 demo",
        "seed payments#42",
        "logs hello#2 --tail 5",
        "point hello#2 payments=pr-42",
        "status hello#2",
        "list",
    ] {
        world.slack_command(CHANNEL, "U0DEV", command).await;
        world.settle().await;
    }
    // The kill switch: its state ConfigMap, the scale subresource both ways, audit Events.
    for command in [
        "kill-switch on drill --scale-to-zero",
        "kill-switch status",
        "kill-switch off --restore",
    ] {
        world.slack_command(OPS_CHANNEL, ONCALL_USER, command).await;
        world.settle().await;
    }
    // A replica starting: its watch of the kill switch lists, then watches, the state ConfigMap
    // (the world's own replica did so before the request log was cleared).
    let _replica = world.another_watching_replica().await;
    // The schedules: each job once (digest and orphan sweep claim their slot in a ConfigMap),
    // and the leader election's Lease taken and released.
    world
        .slack_command(CHANNEL, "U0DEV", "extend hello#2 2h")
        .await;
    world.slack_command(CHANNEL, "U0DEV", "pin shop#7").await;
    world.settle().await;
    let scheduler = preview_bot::schedule::Scheduler::new(
        world.engine(),
        preview_bot::schedule::leader::Leadership::always(),
    );
    for job in preview_bot::schedule::Job::ALL {
        scheduler.run_job(job, chrono::Utc::now()).await;
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let leadership = preview_bot::schedule::leader::Leadership::lease(
        world.client.clone(),
        &world.bot.engine.config.bot.namespace,
        "rbac-check",
        preview_bot::schedule::leader::LeaseTiming::default(),
        stop.clone(),
    );
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        leadership.wait_until_leader(),
    )
    .await
    .expect("the Lease was taken");
    stop.cancel();
    leadership.stopped().await;
    world.github.set_head(OWNER, REPO, PR, CRASH_SHA);
    world
        .github_event("pull_request", &push_payload(CRASH_SHA))
        .await;
    world.settle().await;
    let mut bot = preview_bot::Bot::new(world.bot.engine.clone(), None, None);
    bot.status_token = Some(preview_config::Secret::new("status-token"));
    let router = preview_bot::http::router(std::sync::Arc::new(bot));
    let logs_page = format!("/previews/{}/logs", world.ns);
    for path in ["/readyz", "/metrics", "/previews", logs_page.as_str()] {
        let request = http::Request::get(path)
            .header("authorization", "Bearer status-token")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(router.clone(), request)
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    world
        .github_event("issue_comment", &pr_comment_payload(9901, "/preview down"))
        .await;
    world.settle().await;
}

#[tokio::test]
async fn the_shipped_rbac_allows_every_call_the_bot_makes_and_little_else() {
    let Some(objects) = render_install() else {
        return;
    };
    let grants = Grants::from_install(&objects);
    let world = World::start().await;
    let Some(kube) = &world.kube else {
        eprintln!("SKIPPED on a real cluster: the request log is the simulated API server's");
        return;
    };
    kube.clear_requests();
    run_flows(&world).await;

    let requests = kube.requests();
    let accesses: BTreeSet<Access> = requests.iter().flat_map(accesses_of).collect();
    assert!(accesses.len() > 20, "the flows made calls: {accesses:?}");
    let denied: Vec<String> = accesses
        .iter()
        .filter(|a| !grants.allows(a))
        .map(|a| a.to_string())
        .collect();
    assert!(
        denied.is_empty(),
        "install/ RBAC denies calls the bot makes:\n{}",
        denied.join("\n")
    );

    // Nothing granted goes unused, except the documented kinds.
    let used: BTreeSet<(String, String, String)> = accesses
        .iter()
        .map(|a| (a.group.clone(), a.resource.clone(), a.verb.clone()))
        .collect();
    let applied_kinds: BTreeSet<(String, String)> = used
        .iter()
        .filter(|(_, _, verb)| verb == "create")
        .map(|(g, r, _)| (g.clone(), r.clone()))
        .collect();
    let mut unused = Vec::new();
    for (rules, documented) in [
        (&grants.cluster, COMMON_APP_KINDS),
        (&grants.local, BOT_NAMESPACE_GRANTS),
    ] {
        for rule in rules {
            for group in &rule.groups {
                for resource in &rule.resources {
                    for verb in &rule.verbs {
                        assert!(
                            group != "*" && resource != "*" && verb != "*",
                            "no wildcards"
                        );
                        let key = (group.clone(), resource.clone());
                        let justified = used.contains(&(group.clone(), resource.clone(), verb.clone()))
                            || documented.iter().any(|(g, r)| (*g, *r) == (group.as_str(), resource.as_str()))
                            // What the bot creates by applying it also updates, reads back and prunes.
                            || (applied_kinds.contains(&key)
                                && matches!(verb.as_str(), "patch" | "get" | "delete"))
                            // Waiting lists, then watches only when not ready yet (timing).
                            || (verb == "watch"
                                && used.contains(&(group.clone(), resource.clone(), "list".into())));
                        if !justified {
                            unused.push(format!("{verb} {group}/{resource}"));
                        }
                    }
                }
            }
        }
    }
    assert!(
        unused.is_empty(),
        "install/ grants what the bot never uses:\n{}",
        unused.join("\n")
    );
    eprintln!(
        "{} distinct API accesses checked:\n{}",
        accesses.len(),
        accesses
            .iter()
            .map(|a| format!("{} {}/{}", a.verb, a.group, a.resource))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The Slack and GitHub App manifests point at the bot's routes under the installed config's
/// `public_url`, and ask for exactly the scopes, permissions and events the bot uses.
#[tokio::test]
async fn the_app_manifests_name_the_bots_routes_and_only_what_it_uses() {
    let root = repo_root().join("install");
    let config = preview_config::Config::load(&root.join("preview-bot.toml")).unwrap();
    let public = config.bot.public_url.trim_end_matches('/');

    let slack: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root.join("slack-app-manifest.yaml")).unwrap(),
    )
    .unwrap();
    let commands = slack["features"]["slash_commands"].as_array().unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0]["command"], config.bot.command_prefix.as_str());
    assert_eq!(commands[0]["url"], format!("{public}/slack/commands"));
    assert_eq!(
        slack["settings"]["interactivity"]["request_url"],
        format!("{public}/slack/interactions")
    );
    let scopes: BTreeSet<&str> = slack["oauth_config"]["scopes"]["bot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    // chat.postMessage and chat.update; the slash command; on-call user groups (kill switch).
    assert_eq!(
        scopes,
        BTreeSet::from(["chat:write", "commands", "usergroups:read"])
    );
    assert!(
        slack["oauth_config"]["scopes"].get("user").is_none(),
        "no user scopes"
    );
    assert_eq!(slack["settings"]["socket_mode_enabled"], false);

    // The Socket Mode variant: the same app and scopes, Socket Mode on and no request URLs.
    let socket: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root.join("slack-app-manifest.socket.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(socket["settings"]["socket_mode_enabled"], true);
    assert_eq!(socket["settings"]["interactivity"]["is_enabled"], true);
    assert_eq!(socket["oauth_config"], slack["oauth_config"]);
    assert_eq!(socket["display_information"], slack["display_information"]);
    let socket_commands = socket["features"]["slash_commands"].as_array().unwrap();
    assert_eq!(socket_commands.len(), 1);
    assert_eq!(socket_commands[0]["command"], commands[0]["command"]);
    let text = std::fs::read_to_string(root.join("slack-app-manifest.socket.yaml")).unwrap();
    assert!(
        !text.contains("url:") && !text.contains(public),
        "no request URLs in Socket Mode:\n{text}"
    );

    let github: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("github-app-manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        github["hook_attributes"]["url"],
        format!("{public}/github/webhook")
    );
    assert_eq!(github["hook_attributes"]["active"], true);
    assert_eq!(
        github["default_permissions"],
        serde_json::json!({
            "metadata": "read",       // every App has it; collaborator permission checks
            "pull_requests": "read",  // GET /repos/{o}/{r}/pulls/{n}
            "contents": "read",       // the tarball of the PR's commit
            "issues": "write",        // PR comments (sticky, replies) and reactions
            "deployments": "write",   // preview/{app}-pr-{N} Deployments and statuses
            "checks": "write",        // wait_for_check; a check run per deploy
            "members": "read",        // on-call GitHub teams (kill switch)
        })
    );
    let events: BTreeSet<&str> = github["default_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    // `push` redeploys branch previews (`APP@BRANCH`).
    assert_eq!(
        events,
        BTreeSet::from(["pull_request", "issue_comment", "push"])
    );

    // The routes the manifests name exist: unsigned requests are refused (401), not unknown.
    let world = World::start().await;
    for path in ["/slack/commands", "/github/webhook"] {
        let (status, body) = world
            .send(
                http::Request::post(path)
                    .body(axum::body::Body::from("x=1"))
                    .unwrap(),
            )
            .await;
        assert_eq!(status, 401, "{path}: {body}");
    }
}

/// The image the Dockerfile builds is the one install/ runs: same user, same command, a Rust
/// new enough for the workspace, the release binary without the try-out mode, and `kubectl` for
/// kustomize apps. (Building it needs a Docker daemon; the kind workflow is the place for that.)
#[test]
fn the_dockerfile_builds_what_the_deployment_runs() {
    let root = repo_root();
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let stages: Vec<&str> = dockerfile.split("\nFROM ").skip(1).collect();
    assert!(stages.len() >= 2, "multi-stage");
    let build = stages[0];
    let last = stages.last().unwrap();

    let rust: Vec<u32> = build
        .strip_prefix("rust:")
        .unwrap()
        .split(['-', ' '])
        .next()
        .unwrap()
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let wanted: Vec<u32> = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .unwrap()
        .trim_end_matches('"')
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        rust >= wanted,
        "rust:{rust:?} builds rust-version {wanted:?}"
    );
    assert!(
        build.contains("cargo build --release --locked -p preview-bot --no-default-features"),
        "{build}"
    );

    assert!(last.starts_with("gcr.io/distroless/"), "{last}");
    assert!(
        last.contains("/usr/local/bin/kubectl"),
        "kubectl for kustomize apps"
    );
    let user = last
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the final stage sets USER");
    let entrypoint: Vec<String> = serde_json::from_str(
        last.lines()
            .find_map(|l| l.strip_prefix("ENTRYPOINT "))
            .unwrap(),
    )
    .unwrap();
    let cmd: serde_json::Value =
        serde_json::from_str(last.lines().find_map(|l| l.strip_prefix("CMD ")).unwrap()).unwrap();
    assert_eq!(entrypoint, ["/usr/local/bin/preview-bot"]);

    let Some(objects) = render_install() else {
        return;
    };
    let pod = &kind_named(&objects, "Deployment", "preview-bot")["spec"]["template"]["spec"];
    let context = &pod["securityContext"];
    assert_eq!(
        user,
        format!("{}:{}", context["runAsUser"], context["runAsGroup"]),
        "the image's user is the pod's"
    );
    assert_eq!(
        pod["containers"][0]["args"], cmd,
        "the image's default command"
    );
    assert!(
        pod["containers"][0].get("command").is_none(),
        "the entrypoint is kept"
    );
}
