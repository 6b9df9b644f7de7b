//! The operator's HTTP surface: `GET /readyz`, `GET /metrics`, the status page `GET /previews`
//! (HTML and JSON) and the logs page `GET /previews/{namespace}/logs` with its access rules,
//! through the bot's real router against the simulated cluster.
#![allow(clippy::unwrap_used)]

mod support;

use axum::body::Body;
use http::{Request, StatusCode};
use preview_bot::engine::Engine;
use preview_bot::{Bot, http as bot_http};
use preview_config::{Secret, StatusAccess};
use preview_deploy::labels::annotations;
use preview_testkit::kube_api::{Fault, FaultResponse};
use serde_json::Value;
use std::sync::Arc;
use support::*;
use tower::ServiceExt;

/// A hostile "owner" as a record could carry it: the pages must show it as text.
pub const HOSTILE_OWNER: &str = "<img src=x onerror=alert(1)>";
pub const LOG_LINES: &str = "listening on :8080\n<b>GET /health</b> 200 & done";

async fn get(router: &axum::Router, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The world's engine under `[status] public = access`, with `token` as the status token.
pub fn router_with(world: &World, access: StatusAccess, token: Option<&str>) -> axum::Router {
    let engine = &world.bot.engine;
    let mut config = (*engine.config).clone();
    config.status.public = access;
    let engine = Engine::new(
        Arc::new(config),
        engine.cluster.clone(),
        engine.source.clone(),
        engine.notifier.clone(),
    );
    let mut bot = Bot::new(Arc::new(engine), None, None);
    bot.status_token = token.map(Secret::new);
    bot_http::router(Arc::new(bot))
}

/// A ready hello#2 whose record names a hostile owner and whose pods log `LOG_LINES`.
pub async fn ready_preview() -> World {
    let world = World::start().await;
    if let Some(kube) = &world.kube {
        kube.set_pod_logs(&world.ns, "hello", LOG_LINES);
    }
    world.label_at(HEAD_SHA).await;
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(world.client.clone());
    let patch =
        serde_json::json!({"metadata": {"annotations": {annotations::OWNER: HOSTILE_OWNER}}});
    namespaces
        .patch(
            &world.ns,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    world
}

#[tokio::test]
async fn readyz_says_ready_and_why_not() {
    let world = World::start().await;
    let (status, body) = get(&world.router, "/readyz", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Kubernetes API reachable"), "{body}");
    let Some(kube) = &world.kube else { return };
    kube.inject_fault(Fault::new("/version", 0, FaultResponse::Status(500)));
    let (status, body) = get(&world.router, "/readyz", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.starts_with("not ready: "), "{body}");
    kube.clear_faults();
    kube.inject_fault(Fault::new("/version", 0, FaultResponse::Hang));
    let (status, body) = get(&world.router, "/readyz", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("did not answer within 3s"), "{body}");
    // The liveness probe does not depend on the cluster.
    assert_eq!(get(&world.router, "/healthz", &[]).await.0, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_what_happened_and_read_previews_from_the_cluster() {
    let world = World::start().await;
    world.label_at(HEAD_SHA).await;
    world
        .slack_command(CHANNEL, "U0DEV", "status hello#2")
        .await;
    world.slack_command(CHANNEL, "U0DEV", "upp hello#2").await;
    world.settle().await;
    // A forged delivery.
    let forged = Request::post("/github/webhook")
        .header("x-github-event", "ping")
        .header("x-hub-signature-256", "sha256=00")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(world.send(forged).await.0, StatusCode::UNAUTHORIZED);

    let response = world
        .router
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    for expected in [
        r#"preview_bot_previews{app="hello",phase="ready"} 1"#,
        r#"preview_bot_previews{app="shop",phase="ready"} 0"#,
        r#"preview_bot_previews{app="hello",phase="failed"} 0"#,
        r#"preview_bot_commands_total{command="status",outcome="ok",source="slack"} 1"#,
        r#"preview_bot_commands_total{command="unparsed",outcome="invalid",source="slack"} 1"#,
        r#"preview_bot_deploy_duration_seconds_count{app="hello",outcome="ready"} 1"#,
        r#"preview_bot_signature_failures_total{service="github"} 1"#,
        "preview_bot_kill_switch 0",
        "# TYPE preview_bot_deploy_duration_seconds histogram",
        "# EOF",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert!(
        text.lines()
            .all(|l| l.starts_with('#') || l.starts_with("preview_bot_")),
        "{text}"
    );
    // The gauge follows the cluster's state, whichever replica flipped it.
    world
        .bot
        .engine
        .ops
        .update_kill_switch(|state| {
            state.active = true;
            true
        })
        .await
        .unwrap();
    let (_, text) = get(&world.router, "/metrics", &[]).await;
    assert!(text.contains("preview_bot_kill_switch 1"), "{text}");
}

#[tokio::test]
async fn the_status_page_lists_previews_as_html_and_json() {
    let world = ready_preview().await;
    let (status, json) = get(
        &world.router,
        "/previews",
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let page: Value = serde_json::from_str(&json).unwrap();
    let previews = page["previews"].as_array().unwrap();
    assert_eq!(previews.len(), 1, "{json}");
    let row = &previews[0];
    assert_eq!(row["namespace"], world.ns.as_str());
    assert_eq!(row["app"], "hello");
    assert_eq!(row["pr"], PR);
    assert_eq!(row["phase"], "ready");
    assert_eq!(row["owner"], HOSTILE_OWNER);
    assert_eq!(row["commit"], &HEAD_SHA[..7]);
    assert_eq!(
        row["pr_url"],
        format!("https://github.com/{OWNER}/{REPO}/pull/{PR}")
    );
    assert_eq!(
        row["logs_url"],
        format!("https://preview-bot.example.com/previews/{}/logs", world.ns)
    );
    assert!(
        row["log_link"]
            .as_str()
            .unwrap()
            .starts_with("https://grafana.example.com/")
    );
    assert!(row["age_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(
        row["url"],
        format!("https://hello-pr-{PR}.preview.example.com")
    );

    let (status, html) = get(&world.router, "/previews", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(
        !html.contains("<img"),
        "markup from a record is escaped: {html}"
    );
    assert!(!html.contains("<script"), "no script on the page");
    assert!(
        html.contains(&format!("href=\"previews/{}/logs\"", world.ns)),
        "{html}"
    );

    // `public = "none"`: the list needs the token too.
    let closed = router_with(&world, StatusAccess::None, Some("t0ken"));
    let (status, body) = get(&closed, "/previews", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = get(&closed, "/previews", &[("authorization", "Bearer t0ken")]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_logs_page_needs_a_token_and_reads_only_managed_previews() {
    let world = ready_preview().await;
    let path = format!("/previews/{}/logs", world.ns);
    // Default `public = "list"`, no token configured: the logs page is closed and says why.
    let (status, body) = get(&world.router, &path, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("PREVIEW_BOT_STATUS_TOKEN"), "{body}");

    let router = router_with(&world, StatusAccess::List, Some("t0ken"));
    let (status, _) = get(&router, &path, &[("authorization", "Bearer wrong")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let auth = [("authorization", "Bearer t0ken")];
    let (status, html) = get(&router, &path, &auth).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("data-workload=\"hello\""), "{html}");
    if world.simulated() {
        assert!(
            html.contains("&lt;b&gt;GET /health&lt;/b&gt; 200 &amp; done"),
            "{html}"
        );
        assert!(!html.contains("<b>"), "{html}");
    }
    let (status, json) = get(
        &router,
        &format!("{path}?tail=1"),
        &[auth[0], ("accept", "application/json")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(page["tail"], 1);
    assert_eq!(page["preview"], format!("hello#{PR}"));
    let pods = page["workloads"][0]["pods"].as_array().unwrap();
    assert!(!pods.is_empty(), "{json}");
    if world.simulated() {
        assert_eq!(
            pods[0]["lines"],
            serde_json::json!(["<b>GET /health</b> 200 & done"])
        );
    }

    // Nothing outside the prefix is read at all; unmanaged and missing namespaces are 404.
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(world.client.clone());
    let foreign = world.ns.replace("hello-pr-2", "foreign-pr-1");
    let namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": foreign}})).unwrap();
    namespaces
        .create(&Default::default(), &namespace)
        .await
        .unwrap();
    if let Some(kube) = &world.kube {
        kube.clear_requests();
    }
    for (namespace, reads) in [
        ("kube-system", false),
        ("default", false),
        ("..%2F..%2Fapi", false),
        (foreign.as_str(), true),
        (world.ns.replace("pr-2", "pr-99").as_str(), true),
    ] {
        let (status, body) = get(&router, &format!("/previews/{namespace}/logs"), &auth).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{namespace}: {body}");
        if let Some(kube) = &world.kube {
            let read = kube.requests().iter().any(|r| r.path.contains(namespace));
            assert_eq!(read, reads, "{namespace} read: {:?}", kube.requests());
            assert!(
                kube.requests().iter().all(|r| !r.path.contains("/secrets")),
                "the logs page never reads a Secret"
            );
        }
    }
}

/// Headless Chromium, or `None` with a printed reason. `.ci/run` installs it and sets
/// `PREVIEW_BOT_REQUIRE_BROWSER=1` when it could, so CI never skips silently.
fn browser() -> Option<std::path::PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        assert!(
            std::env::var_os("PREVIEW_BOT_REQUIRE_BROWSER").is_none(),
            "PREVIEW_BOT_REQUIRE_BROWSER is set but no chromium is on PATH"
        );
        eprintln!(
            "SKIPPED: the browser test needs headless Chromium (Debian: apt-get install chromium); .ci/run installs it"
        );
    }
    found
}

/// The DOM as Chromium builds it from `url` (after parsing; no script runs on these pages).
async fn dump_dom(chromium: &std::path::Path, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(90),
        tokio::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--dump-dom")
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium answered within 90 s")
    .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `href` of the first `<a>` whose text is `text`.
fn link_to(dom: &str, text: &str) -> Option<String> {
    let end = dom.find(&format!(">{text}</a>"))?;
    let start = dom[..end].rfind("<a href=\"")? + "<a href=\"".len();
    Some(dom[start..end].trim_end_matches('"').replace("&amp;", "&"))
}

#[tokio::test]
async fn a_person_sees_the_previews_and_their_logs_in_a_browser() {
    let Some(chromium) = browser() else { return };
    let world = ready_preview().await;
    // The documented setup for people clicking log links: behind an authenticating proxy.
    let router = router_with(&world, StatusAccess::All, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dom = dump_dom(&chromium, &format!("{base}/previews")).await;
    assert!(dom.contains("<h1>Previews</h1>"), "{dom}");
    assert_eq!(dom.matches("<tr data-namespace=").count(), 1, "{dom}");
    let row_start = dom
        .find(&format!("<tr data-namespace=\"{}\"", world.ns))
        .unwrap();
    let row = &dom[row_start..row_start + dom[row_start..].find("</tr>").unwrap()];
    assert!(row.contains(&format!("<td>hello#{PR}</td>")), "{row}");
    assert!(row.contains(">ready</td>"), "{row}");
    assert_eq!(
        link_to(row, &format!("{OWNER}/{REPO}#{PR}")).as_deref(),
        Some(format!("https://github.com/{OWNER}/{REPO}/pull/{PR}").as_str()),
        "{row}"
    );
    let url = format!("https://hello-pr-{PR}.preview.example.com");
    assert_eq!(link_to(row, &url).as_deref(), Some(url.as_str()), "{row}");
    // The hostile owner is text on the page, not an element.
    assert!(
        row.contains("<td>&lt;img src=x onerror=alert(1)&gt;</td>"),
        "{row}"
    );
    assert!(!dom.contains("<img"), "{dom}");

    // Follow the logs link as a person would.
    let logs = link_to(row, "logs").unwrap();
    let logs_url = url::Url::parse(&format!("{base}/previews"))
        .unwrap()
        .join(&logs)
        .unwrap();
    assert_eq!(logs_url.path(), format!("/previews/{}/logs", world.ns));
    let dom = dump_dom(&chromium, logs_url.as_str()).await;
    assert!(
        dom.contains(&format!("<h1>Logs of hello#{PR}</h1>")),
        "{dom}"
    );
    assert!(dom.contains("<h2>hello</h2>"), "{dom}");
    if world.simulated() {
        assert!(
            dom.contains("listening on :8080\n&lt;b&gt;GET /health&lt;/b&gt; 200 &amp; done</pre>"),
            "{dom}"
        );
        assert!(!dom.contains("<b>"), "{dom}");
    }
    let back = url::Url::parse(logs_url.as_str())
        .unwrap()
        .join(&link_to(&dom, "All previews").unwrap())
        .unwrap();
    assert_eq!(back.path(), "/previews");
}

#[tokio::test]
async fn failed_kubernetes_calls_are_counted_by_the_clients_layer() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = preview_testkit::kube_api::FakeKube::start().await;
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&fake.kubeconfig_yaml()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let metrics = Arc::new(preview_bot::metrics::Metrics::new());
    let client = preview_bot::kube_client::client(
        config,
        metrics.clone(),
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    let cluster = preview_deploy::Cluster::new(client, "preview-");
    let bot_config = preview_config::Config::parse(
        "[bot]\npublic_url = \"https://b.example.com\"\n[domains]\nbase = \"example.com\"\n\
         [apps.web]\nrepo = \"acme/web\"\nmanifests = { dir = \"deploy\" }\n",
        "t.toml",
    )
    .unwrap();
    let errors = |text: &str| {
        text.lines()
            .find(|l| l.starts_with(r#"preview_bot_api_errors_total{service="kubernetes"}"#))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    // Successes and an expected 404 are not errors.
    cluster.inventory().await.unwrap();
    let missing = preview_deploy::PreviewNamespace::for_preview("preview-", "web", 1);
    assert!(cluster.get_record(&missing).await.unwrap().is_none());
    assert_eq!(errors(&metrics.render(&bot_config, &cluster).await), None);
    // A 403 (RBAC) is.
    fake.inject_fault(
        Fault::new("/api/v1/namespaces", 1, FaultResponse::Status(403)).method("GET"),
    );
    assert!(cluster.inventory().await.is_err());
    assert_eq!(
        errors(&metrics.render(&bot_config, &cluster).await).as_deref(),
        Some("1")
    );
}
