//! End-to-end benchmarks of the bot against the fake Kubernetes, Slack and GitHub servers
//! (issue 9). Run with
//!
//! ```text
//! cargo bench -p preview-testkit --bench preview -- --kube-latency-ms 5 --previews 1000
//! ```
//!
//! Every Kubernetes request waits `--kube-latency-ms` (default 5 ms) in the fake API server
//! before it is handled, standing in for the network and API-server time of a real cluster. The
//! figures are printed as Markdown (see BENCHMARKS.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use axum::body::Body;
use axum::serve::ListenerExt;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use preview_bot::schedule::leader::Leadership;
use preview_bot::schedule::{Job, Scheduler};
use preview_deploy::labels;
use preview_testkit::github_api::PullSpec;
use preview_testkit::kube_api::{FakeKube, FakeKubeOptions, RecordedRequest};
use preview_testkit::slack_api::{self, SlashCommand};
use serde_json::Value;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::*;

/// The benchmark app: 30 objects and two dependencies.
const BENCH_REPO: &str = "Bench";
const BENCH_SHA: &str = "be7cbe7cbe7cbe7cbe7cbe7cbe7cbe7cbe7cbe7c";
const BENCH_SERVICES: usize = 10;
const BENCH_CONFIG: &str = r#"
[apps.bench]
repo = "Codertocat/Bench"
slack_channel = "C0HELLO"
manifests = { dir = "deploy" }

[apps.bench.dependencies.db]
kind = "postgres"

[apps.bench.dependencies.cache]
kind = "redis"
"#;

/// Long enough for the simulated controllers to finish what a replay started.
const CONTROLLER_SETTLE: Duration = Duration::from_millis(400);

/// First PR number of the seeded previews (clear of the scenario's PR 2).
const SEEDED_FROM: u64 = 10_000;

struct Args {
    kube_latency: Duration,
    previews: usize,
    commands: usize,
    rounds: usize,
    ups: usize,
    webhooks: usize,
    controller_delay: Duration,
    /// `--only up|ack|webhook|many`: one measurement, for quick iterations.
    only: Option<String>,
}

impl Args {
    fn parse() -> Args {
        let mut args = Args {
            kube_latency: Duration::from_millis(5),
            previews: 1000,
            commands: 100,
            rounds: 5,
            ups: 5,
            webhooks: 20,
            controller_delay: Duration::from_millis(50),
            only: None,
        };
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < argv.len() {
            let value = || -> f64 {
                argv.get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{} needs a number", argv[i]))
            };
            match argv[i].as_str() {
                "--kube-latency-ms" => args.kube_latency = Duration::from_secs_f64(value() / 1e3),
                "--controller-delay-ms" => {
                    args.controller_delay = Duration::from_secs_f64(value() / 1e3)
                }
                "--previews" => args.previews = value() as usize,
                "--commands" => args.commands = value() as usize,
                "--rounds" => args.rounds = value() as usize,
                "--ups" => args.ups = value() as usize,
                "--webhooks" => args.webhooks = value() as usize,
                "--only" => {
                    let what = argv.get(i + 1).cloned().unwrap_or_default();
                    assert!(
                        ["up", "ack", "webhook", "many"].contains(&what.as_str()),
                        "--only takes up, ack, webhook or many"
                    );
                    args.only = Some(what);
                }
                // `cargo bench` passes `--bench`; anything else unknown is refused.
                "--bench" => {
                    i += 1;
                    continue;
                }
                other => panic!(
                    "unknown argument {other}; known: --kube-latency-ms, --controller-delay-ms, \
                     --previews, --commands, --rounds, --ups, --webhooks, --only"
                ),
            }
            i += 2;
        }
        args
    }
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(args));
}

/// The `q` quantile (0..=1) of `samples`, nearest rank.
fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// Markdown rows, printed as they come and collected for the summary.
struct Report {
    rows: Vec<String>,
}

impl Report {
    fn row(&mut self, what: &str, figure: String, goal: &str, ok: bool) {
        let row = format!("| {what} | {figure} | {goal} | {} |", verdict(ok));
        println!("{row}");
        self.rows.push(row);
    }
}

/// A fresh scenario world with the benchmark app: every measurement starts from the same small
/// simulated cluster (the fake's controller does work in proportion to what the cluster holds).
async fn fresh_world(args: &Args) -> (World, FakeKube) {
    let world = World::start_with_options(WorldOptions {
        extra_config: BENCH_CONFIG.to_string(),
        kube: Some(FakeKubeOptions {
            controller_delay: args.controller_delay,
            ..FakeKubeOptions::default()
        }),
        max_previews: Some(args.previews + args.ups + 10),
        ..WorldOptions::default()
    })
    .await;
    let kube = world
        .kube
        .clone()
        .expect("the benchmarks run against the simulated cluster");
    add_bench_app(&world, args.ups + 1);
    kube.set_latency(args.kube_latency);
    (world, kube)
}

async fn run(args: Args) {
    println!(
        "kube latency {} per request, simulated controllers react after {}, {} cores",
        ms(args.kube_latency),
        ms(args.controller_delay),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut report = Report { rows: Vec::new() };
    let runs = |what: &str| args.only.as_deref().is_none_or(|only| only == what);

    if runs("up") {
        up_benchmark(&args, &mut report).await;
    }
    if runs("ack") {
        let (world, _kube) = fresh_world(&args).await;
        slack_ack_benchmark(&world, &args, &mut report).await;
    }
    if runs("webhook") {
        let (world, _kube) = fresh_world(&args).await;
        webhook_benchmark(&world, &args, &mut report).await;
    }
    if runs("many") {
        let (world, kube) = fresh_world(&args).await;
        many_previews_benchmark(&world, &kube, &args, &mut report).await;
        binary_memory_benchmark(&world, &kube, &args, &mut report).await;
    }

    println!("\n## Summary\n");
    println!("| measurement | figure | goal | |");
    println!("| --- | --- | --- | --- |");
    for row in &report.rows {
        println!("{row}");
    }
}

/// The 30-object manifest of the benchmark app: ConfigMap, Deployment and Service per service.
fn bench_manifest() -> String {
    let mut docs = Vec::new();
    for i in 0..BENCH_SERVICES {
        let name = format!("svc-{i:02}");
        docs.push(format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}-config}}\ndata: {{GREETING: hi, INDEX: \"{i}\"}}\n"
        ));
        docs.push(format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n        - name: {name}\n          image: ghcr.io/codertocat/bench:latest\n          ports: [{{containerPort: 8080}}]\n          envFrom: [{{configMapRef: {{name: {name}-config}}}}]\n"
        ));
        docs.push(format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
        ));
    }
    docs.join("---\n")
}

fn add_bench_app(world: &World, prs: usize) {
    let github = &world.github;
    github.add_repo(OWNER, BENCH_REPO);
    github.set_permission(OWNER, BENCH_REPO, "Codertocat", "write");
    github.add_commit_tree(
        OWNER,
        BENCH_REPO,
        BENCH_SHA,
        vec![("deploy/app.yaml".into(), bench_manifest().into_bytes())],
    );
    for pr in 1..=prs as u64 {
        github.add_pull(PullSpec::new(
            OWNER,
            BENCH_REPO,
            pr,
            BENCH_SHA,
            "bench",
            "Codertocat",
        ));
    }
}

/// A server-side apply of one object (not the namespace record).
fn is_object_apply(r: &RecordedRequest, ns: &str) -> bool {
    r.method == "PATCH"
        && r.content_type.contains("apply-patch")
        && r.path.contains(&format!("/namespaces/{ns}/"))
}

/// How long the bot waited for the cluster to roll the waves out. A wave's wait starts with
/// the list of a workload kind in `ns` and ends at the bot's first request after that kind's
/// last watch (the watch that saw the workloads ready). Requests the bot made meanwhile (the
/// record saved while the app rolls out) do not end it; waits that overlap count once.
fn readiness_waits(log: &[RecordedRequest], ns: &str) -> Duration {
    let mut sorted: Vec<&RecordedRequest> = log.iter().collect();
    sorted.sort_by_key(|r| r.at);
    let workloads = [
        format!("/apis/apps/v1/namespaces/{ns}/"),
        format!("/apis/batch/v1/namespaces/{ns}/"),
    ];
    let watching = |r: &RecordedRequest| {
        matches!(r.verb(), "LIST" | "WATCH") && workloads.iter().any(|w| r.path.starts_with(w))
    };
    let mut intervals = Vec::new();
    for (i, list) in sorted.iter().enumerate() {
        if !(watching(list) && list.verb() == "LIST") {
            continue;
        }
        // This kind's requests up to its next list (the next wave).
        let last_watch = sorted[i + 1..]
            .iter()
            .take_while(|r| !(r.verb() == "LIST" && r.path == list.path))
            .filter(|r| r.path == list.path)
            .map(|r| r.at)
            .max()
            .unwrap_or(list.at);
        let end = sorted
            .iter()
            .find(|r| r.at > last_watch && !watching(r))
            .map_or(last_watch, |r| r.at);
        intervals.push((list.at, end));
    }
    intervals.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (start, end) in intervals {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

/// Sends the recorded applies again with `client`, into namespace `to` instead of `from`:
/// the namespace first, then each wave concurrently (`concurrent`) or everything one at a time.
async fn replay(
    client: &kube::Client,
    namespace: &RecordedRequest,
    waves: &[Vec<RecordedRequest>],
    from: &str,
    to: &str,
    concurrent: bool,
) -> Duration {
    let send = |r: &RecordedRequest| {
        let uri = format!("{}?{}", r.path.replace(from, to), r.query);
        let request = Request::builder()
            .method(r.method.as_str())
            .uri(uri)
            .header(http::header::CONTENT_TYPE, r.content_type.as_str())
            .body(r.body.replace(from, to).into_bytes())
            .unwrap();
        let client = client.clone();
        async move { client.request_text(request).await.unwrap() }
    };
    let started = Instant::now();
    send(namespace).await;
    for wave in waves {
        if concurrent {
            futures::future::join_all(wave.iter().map(send)).await;
        } else {
            for r in wave {
                send(r).await;
            }
        }
    }
    started.elapsed()
}

/// Measurement 3: an `up` of the 30-object app with two dependencies, against the floor and
/// the one-at-a-time apply of the same objects; Kubernetes requests per `up`.
async fn up_benchmark(args: &Args, report: &mut Report) {
    println!("\n## 3. `up` of a 30-object app with two dependencies\n");
    let mut ups = Vec::new();
    let mut waits = Vec::new();
    let mut floors = Vec::new();
    let mut serials = Vec::new();
    let mut last_log = Vec::new();
    let mut objects = 0;
    for pr in 1..=args.ups as u64 {
        // Each `up` in a world of its own, after a first one (not counted) that warmed the
        // bot's discovery cache and connections, as in a bot that has been running.
        let (world, kube) = fresh_world(args).await;
        let world = &world;
        let prefix = world.config.bot.namespace_prefix.clone();
        let warm = args.ups as u64 + 1;
        world
            .slack_command(CHANNEL, "U0BENCH", &format!("up bench#{warm}"))
            .await;
        world.settle().await;
        let ns = format!("{prefix}bench-pr-{pr}");
        kube.clear_requests();
        let started = Instant::now();
        let (status, ack) = world
            .slack_command(CHANNEL, "U0BENCH", &format!("up bench#{pr}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{ack}");
        world.settle().await;
        let elapsed = started.elapsed();
        let log = kube.requests();
        let record = world.namespace(&ns).await.expect("the bench preview");
        assert_eq!(
            World::annotation(&record, labels::annotations::PHASE).as_deref(),
            Some("ready"),
            "{:?}",
            World::annotation(&record, labels::annotations::MESSAGE)
        );
        ups.push(elapsed);
        waits.push(readiness_waits(&log, &ns));

        // The same objects, applied directly: the namespace, the dependency wave (policies,
        // copied Secret, postgres, redis) then the app wave.
        let namespace_apply = log
            .iter()
            .find(|r| r.method == "PATCH" && r.path == format!("/api/v1/namespaces/{ns}"))
            .expect("the namespace apply")
            .clone();
        let mut applies: BTreeMap<String, RecordedRequest> = BTreeMap::new();
        for r in log.iter().filter(|r| is_object_apply(r, &ns)) {
            applies.insert(r.path.clone(), r.clone());
        }
        let (app, deps): (Vec<_>, Vec<_>) = applies
            .into_values()
            .partition(|r| r.path.rsplit('/').next().unwrap_or("").starts_with("svc-"));
        assert_eq!(app.len(), 3 * BENCH_SERVICES, "the app wave");
        objects = app.len() + deps.len();
        let waves = [deps, app];
        // The floor is measured on warm connections, as the bot's `up` is: a first replay
        // (not counted) opens them; the simulated controllers then finish rolling its
        // workloads out, so they do not compete with the measured replay.
        let warm_ns = format!("warm-{pr}");
        replay(&world.client, &namespace_apply, &waves, &ns, &warm_ns, true).await;
        tokio::time::sleep(CONTROLLER_SETTLE).await;
        let floor_ns = format!("floor-{pr}");
        floors.push(
            replay(
                &world.client,
                &namespace_apply,
                &waves,
                &ns,
                &floor_ns,
                true,
            )
            .await,
        );
        tokio::time::sleep(CONTROLLER_SETTLE).await;
        let serial_ns = format!("serial-{pr}");
        serials.push(
            replay(
                &world.client,
                &namespace_apply,
                &waves,
                &ns,
                &serial_ns,
                false,
            )
            .await,
        );
        last_log = log;
    }
    let up = quantile(&ups, 0.5);
    let bot_side: Vec<Duration> = ups.iter().zip(&waits).map(|(u, w)| *u - *w).collect();
    let bot = quantile(&bot_side, 0.5);
    let floor = quantile(&floors, 0.5);
    let serial = quantile(&serials, 0.5);
    println!(
        "{} ups (each a new preview), medians: up {} (min {}, max {}), of which waiting for the \
         simulated cluster to roll out {}, bot-side {}; floor {}, one at a time {}; {} objects \
         (+ the namespace)\n",
        args.ups,
        ms(up),
        ms(*ups.iter().min().unwrap()),
        ms(*ups.iter().max().unwrap()),
        ms(quantile(&waits, 0.5)),
        ms(bot),
        ms(floor),
        ms(serial),
        objects
    );
    for (i, ((u, w), (f, s))) in ups
        .iter()
        .zip(&waits)
        .zip(floors.iter().zip(&serials))
        .enumerate()
    {
        println!(
            "  up {}: {} (waiting {}, bot-side {}), floor {}, one at a time {}",
            i + 1,
            ms(*u),
            ms(*w),
            ms(*u - *w),
            ms(*f),
            ms(*s)
        );
    }
    println!();

    // Requests of the last `up`, by verb and path.
    let mut by_verb: BTreeMap<String, usize> = BTreeMap::new();
    let mut reads: BTreeMap<String, usize> = BTreeMap::new();
    for r in &last_log {
        *by_verb.entry(r.verb().to_string()).or_default() += 1;
        if matches!(r.verb(), "GET" | "LIST") {
            let query = if r.query.is_empty() {
                String::new()
            } else {
                format!("?{}", r.query)
            };
            *reads
                .entry(format!("{} {}{query}", r.verb(), r.path))
                .or_default() += 1;
        }
    }
    println!(
        "Kubernetes requests of one `up`: {} ({})",
        last_log.len(),
        by_verb
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if std::env::var_os("PREVIEW_BENCH_TRACE").is_some()
        && let Some(first) = last_log.iter().map(|r| r.at).min()
    {
        let mut sorted: Vec<&RecordedRequest> = last_log.iter().collect();
        sorted.sort_by_key(|r| r.at);
        println!("Timeline of the last `up` (ms since its first Kubernetes request):");
        for r in sorted {
            println!(
                "  {:7.1} {} {}",
                (r.at - first).as_secs_f64() * 1e3,
                r.verb(),
                r.path
            );
        }
    }
    println!("Reads:");
    for (read, n) in &reads {
        println!("  {n} x {read}");
    }
    let repeated: usize = reads.values().filter(|n| **n > 1).map(|n| n - 1).sum();
    println!();
    report.row(
        "3. `up`, 30 objects + 2 deps, bot-side (without rollout waits) vs floor (a)",
        format!(
            "{} vs {} = {:.2}x (whole `up` {})",
            ms(bot),
            ms(floor),
            bot.as_secs_f64() / floor.as_secs_f64(),
            ms(up)
        ),
        "<= 1.5x",
        bot.as_secs_f64() <= 1.5 * floor.as_secs_f64(),
    );
    report.row(
        "3. `up`: one-at-a-time apply (b) vs bot-side",
        format!(
            "{} vs {} = {:.2}x",
            ms(serial),
            ms(bot),
            serial.as_secs_f64() / bot.as_secs_f64()
        ),
        ">= 2x",
        serial.as_secs_f64() >= 2.0 * bot.as_secs_f64(),
    );
    report.row(
        "3. Kubernetes requests per `up`",
        format!(
            "{} ({}), {repeated} repeated reads",
            last_log.len(),
            by_verb
                .iter()
                .map(|(v, n)| format!("{v} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "no redundant reads",
        repeated == 0,
    );
}

/// Measurement 1: acknowledgement latency of slash commands, `--commands` at once, over TCP.
async fn slack_ack_benchmark(world: &World, args: &Args, report: &mut Report) {
    println!(
        "\n## 1. Slack slash-command acknowledgement, {} concurrent\n",
        args.commands
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = world.router.clone();
    // As `preview-bot serve` does.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let client: HttpClient<_, Full<Bytes>> = HttpClient::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.commands)
        .build(connector);
    let texts = ["status bench#1", "up bench#1", "list", "help up"];
    let mut samples = Vec::new();
    // Round 0 warms the connection pool and is not counted.
    for round in 0..=args.rounds {
        let requests: Vec<Request<Full<Bytes>>> = (0..args.commands)
            .map(|i| {
                signed_slash_request(
                    world,
                    &format!("http://{addr}"),
                    texts[i % texts.len()],
                    &format!("ack-{round}-{i}"),
                )
            })
            .collect();
        let round_samples = futures::future::join_all(requests.into_iter().map(|request| {
            let client = client.clone();
            async move {
                let started = Instant::now();
                let response = client.request(request).await.unwrap();
                let status = response.status();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                let elapsed = started.elapsed();
                assert_eq!(status, StatusCode::OK, "{body:?}");
                elapsed
            }
        }))
        .await;
        if round > 0 {
            samples.extend(round_samples);
        }
        world.settle().await;
    }
    server.abort();
    let p50 = quantile(&samples, 0.5);
    let p99 = quantile(&samples, 0.99);
    println!(
        "{} samples ({} rounds of {} at once; `status`, `up`, `list`, `help` mixed): p50 {}, p99 {}, max {}\n",
        samples.len(),
        args.rounds,
        args.commands,
        ms(p50),
        ms(p99),
        ms(quantile(&samples, 1.0))
    );
    report.row(
        &format!("1. slash-command ack, {} concurrent: p50", args.commands),
        ms(p50),
        "-",
        true,
    );
    report.row(
        &format!("1. slash-command ack, {} concurrent: p99", args.commands),
        ms(p99),
        "< 50 ms",
        p99 < Duration::from_millis(50),
    );
}

/// Waits (polling every 200 us) until `done` holds; the time since `since`.
async fn time_until(since: Instant, mut done: impl FnMut() -> bool) -> Duration {
    let deadline = since + Duration::from_secs(10);
    loop {
        if done() {
            return since.elapsed();
        }
        assert!(Instant::now() < deadline, "no GitHub status within 10 s");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// Measurement 2: from a GitHub webhook to the bot's first GitHub status (a reaction on a
/// `/preview up` comment; the Deployment and its `in_progress` status for a `preview` label).
async fn webhook_benchmark(world: &World, args: &Args, report: &mut Report) {
    println!("\n## 2. GitHub webhook to the first GitHub status\n");
    let mut reactions = Vec::new();
    let mut deployments = Vec::new();
    for i in 0..args.webhooks {
        let comment_id = 900_000 + i as u64;
        world
            .github
            .add_comment(OWNER, REPO, PR, comment_id, "Codertocat", "/preview up");
        let payload = pr_comment_payload(comment_id, "/preview up");
        let started = Instant::now();
        let (status, body) = world.github_event("issue_comment", &payload).await;
        assert!(status.is_success(), "{status} {body}");
        reactions
            .push(time_until(started, || !world.github.reactions(comment_id).is_empty()).await);
        world.settle().await;

        let statuses = |world: &World| {
            world
                .github
                .deployments(OWNER, REPO)
                .iter()
                .map(|d| {
                    world
                        .github
                        .deployment_statuses(d.id)
                        .iter()
                        .filter(|s| s.state == "in_progress")
                        .count()
                })
                .sum::<usize>()
        };
        let before = statuses(world);
        let started = Instant::now();
        let (status, body) = world.github_event("pull_request", &labeled_payload()).await;
        assert!(status.is_success(), "{status} {body}");
        deployments.push(time_until(started, || statuses(world) > before).await);
        world.settle().await;
    }
    let r50 = quantile(&reactions, 0.5);
    let r99 = quantile(&reactions, 0.99);
    let d50 = quantile(&deployments, 0.5);
    let d99 = quantile(&deployments, 0.99);
    println!(
        "{} of each: comment -> reaction p50 {}, max {}; label -> Deployment in_progress p50 {}, max {}\n",
        args.webhooks,
        ms(r50),
        ms(r99),
        ms(d50),
        ms(d99)
    );
    report.row(
        "2. webhook (`/preview up` comment) to reaction, max",
        format!("{} (p50 {})", ms(r99), ms(r50)),
        "< 300 ms",
        r99 < Duration::from_millis(300),
    );
    report.row(
        "2. webhook (`preview` label) to Deployment `in_progress`, max",
        format!("{} (p50 {})", ms(d99), ms(d50)),
        "< 300 ms",
        d99 < Duration::from_millis(300),
    );
}

/// A signed `/preview TEXT` from `U0BENCH` in the app's channel, for the bot served at `base`;
/// its later replies go to the fake Slack's response URL `response_id`.
fn signed_slash_request(
    world: &World,
    base: &str,
    text: &str,
    response_id: &str,
) -> Request<Full<Bytes>> {
    let mut command = SlashCommand::new(CHANNEL, "U0BENCH", text);
    command.response_url = world.slack.response_url(response_id);
    let (body, headers) = slack_api::signed_slash_command(
        SLACK_SIGNING_SECRET,
        chrono::Utc::now().timestamp(),
        &command,
    );
    let mut request = Request::post(format!("{base}/slack/commands"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.body(Full::new(Bytes::from(body))).unwrap()
}

/// The resident set of this process (`VmRSS`, `VmHWM` in KiB).
fn memory() -> (u64, u64) {
    memory_of(std::process::id())
}

/// Runs `op` three times; the median time and the Kubernetes requests of the last run.
async fn measure<F, Fut>(kube: &FakeKube, mut op: F) -> (Duration, Vec<RecordedRequest>)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::new();
    let mut log = Vec::new();
    for run in 0..3 {
        kube.clear_requests();
        let started = Instant::now();
        op(run).await;
        times.push(started.elapsed());
        log = kube.requests();
    }
    (quantile(&times, 0.5), log)
}

/// Measurement 4: idle sweep, `list`, status page, digest and orphan sweep over `--previews`
/// previews; the list requests they make (and GitHub requests of the last two) and the resident
/// memory.
async fn many_previews_benchmark(world: &World, kube: &FakeKube, args: &Args, report: &mut Report) {
    println!("\n## 4. {} running previews\n", args.previews);
    let (rss_before, _) = memory();
    world.seed_previews(SEEDED_FROM, args.previews);
    let (rss_seeded, _) = memory();
    let scheduler = Scheduler::new(world.engine(), Leadership::always());
    let lists = |log: &[RecordedRequest]| log.iter().filter(|r| r.verb() == "LIST").count();
    let mut rows: Vec<(String, Duration, Vec<RecordedRequest>, String)> = Vec::new();

    let (time, log) = measure(kube, |_| {
        let scheduler = scheduler.clone();
        async move {
            let run = scheduler.run_job(Job::IdleSweep, chrono::Utc::now()).await;
            assert!(!run.summary.starts_with("failed"), "{run:?}");
        }
    })
    .await;
    rows.push(("idle sweep".into(), time, log, String::new()));

    let listed = Cell::new(0);
    let (time, log) = measure(kube, |run| {
        let id = format!("list-{run}");
        let listed = &listed;
        async move {
            let mut command = SlashCommand::new(CHANNEL, "U0BENCH", "list");
            command.response_url = world.slack.response_url(&id);
            let (status, _) = world
                .slack_signed(
                    &command,
                    chrono::Utc::now().timestamp(),
                    SLACK_SIGNING_SECRET,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            world.settle().await;
            let responses = world.slack.responses(&id);
            listed.set(
                responses
                    .iter()
                    .map(|r| r["text"].as_str().unwrap_or_default().lines().count())
                    .sum(),
            );
        }
    })
    .await;
    rows.push((
        "`/preview list` (ack to reply posted)".into(),
        time,
        log,
        format!("{} lines", listed.get()),
    ));

    let shown = Cell::new(0);
    let (time, log) = measure(kube, |_| {
        let shown = &shown;
        async move {
            let request = Request::get("/previews")
                .header("accept", "application/json")
                .body(Body::empty())
                .unwrap();
            let (status, body) = world.send(request).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let page: Value = serde_json::from_str(&body).unwrap();
            shown.set(page["previews"].as_array().map_or(0, Vec::len));
            let request = Request::get("/previews").body(Body::empty()).unwrap();
            let (status, _) = world.send(request).await;
            assert_eq!(status, StatusCode::OK);
        }
    })
    .await;
    rows.push((
        "status page `/previews` (JSON + HTML)".into(),
        time,
        log,
        format!("{} previews", shown.get()),
    ));

    let calls_before = world.github.calls().len();
    let base = chrono::Utc::now();
    let (time, log) = measure(kube, |run| {
        let scheduler = scheduler.clone();
        async move {
            let slot = base + chrono::Duration::days(run as i64 + 1);
            let run = scheduler.run_job(Job::Digest, slot).await;
            assert!(run.acted, "{run:?}");
        }
    })
    .await;
    let github_calls = (world.github.calls().len() - calls_before) / 3;
    rows.push((
        "daily digest".into(),
        time,
        log,
        format!("{github_calls} GitHub requests"),
    ));

    // Every PR is open: the sweep finds nothing (and claims no slot), after asking GitHub for
    // the open PRs of the one repository, a page per 100.
    let calls_before = world.github.calls().len();
    let (time, log) = measure(kube, |_| {
        let scheduler = scheduler.clone();
        async move {
            let run = scheduler
                .run_job(Job::OrphanSweep, chrono::Utc::now())
                .await;
            assert_eq!(run.summary, "no orphans", "{run:?}");
        }
    })
    .await;
    let github_calls = (world.github.calls().len() - calls_before) / 3;
    rows.push((
        "orphan sweep".into(),
        time,
        log,
        format!("{github_calls} GitHub requests"),
    ));

    for (what, time, log, note) in &rows {
        let list_count = lists(log);
        let note = if note.is_empty() {
            String::new()
        } else {
            format!(", {note}")
        };
        report.row(
            &format!("4. {what}, {} previews", args.previews),
            format!(
                "{} ({} Kubernetes requests, {list_count} LIST{note})",
                ms(*time),
                log.len()
            ),
            "< 1 s, O(1) LIST",
            *time < Duration::from_secs(1) && list_count <= 3,
        );
    }
    let (rss, hwm) = memory();
    println!(
        "\nresident memory of the bench process (bot + fakes): before seeding {} MiB, seeded {} MiB, now {} MiB, peak {} MiB\n",
        rss_before / 1024,
        rss_seeded / 1024,
        rss / 1024,
        hwm / 1024
    );
    report.row(
        "4. resident memory, bench process (bot and all three fakes), peak",
        format!("{} MiB (now {} MiB)", hwm / 1024, rss / 1024),
        "- (see the next row)",
        true,
    );
}

/// `VmRSS` and `VmHWM` of process `pid`, in KiB.
fn memory_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Measurement 4, memory: the real `preview-bot serve` (built by
/// `cargo build --release -p preview-bot`, found beside this bench's executable) against the
/// same fakes and the `--previews` previews: 100 concurrent commands, `list`, the status page
/// and one `up`, then its peak resident set.
async fn binary_memory_benchmark(world: &World, kube: &FakeKube, args: &Args, report: &mut Report) {
    println!("\n## 4. Resident memory of `preview-bot serve`\n");
    let exe = std::env::current_exe().unwrap();
    let Some(binary) = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("preview-bot"))
        .filter(|b| b.exists())
    else {
        println!("skipped: build the bot first (`cargo build --release -p preview-bot`)\n");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    kube.write_kubeconfig(&kubeconfig).unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut text = config_text(
        &world.slack.api_url(),
        &world.github.url(),
        &world.config.bot.namespace_prefix,
        "image_template = \"ghcr.io/codertocat/hello-world:{sha}\"",
    )
    .replace(
        "max_previews = 2\n",
        &format!(
            "max_previews = {}\nlisten = \"127.0.0.1:{port}\"\n",
            args.previews + args.ups + 10
        ),
    );
    text.push_str(BENCH_CONFIG);
    let config = dir.path().join("preview-bot.toml");
    std::fs::write(&config, text).unwrap();
    let mut child = tokio::process::Command::new(&binary)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env("KUBECONFIG", &kubeconfig)
        .env("SLACK_SIGNING_SECRET", SLACK_SIGNING_SECRET)
        .env(
            "SLACK_BOT_TOKEN",
            preview_testkit::slack_api::SLACK_BOT_TOKEN,
        )
        .env("GITHUB_WEBHOOK_SECRET", GITHUB_WEBHOOK_SECRET)
        .env("GITHUB_TOKEN", preview_testkit::github_api::GITHUB_TOKEN)
        .env("RUST_LOG", "error")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let client: HttpClient<_, Full<Bytes>> = HttpClient::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.commands)
        .build(connector);
    let base = format!("http://127.0.0.1:{port}");
    let get = |path: &str, json: bool| {
        let mut request = Request::get(format!("{base}{path}"));
        if json {
            request = request.header("accept", "application/json");
        }
        let request = request.body(Full::new(Bytes::new())).unwrap();
        let client = client.clone();
        async move {
            match client.request(request).await {
                Ok(response) => {
                    let status = response.status();
                    let body = response.into_body().collect().await.unwrap().to_bytes();
                    Some((status, body))
                }
                Err(_) => None,
            }
        }
    };
    let up_since = Instant::now();
    while get("/healthz", false).await.is_none() {
        assert!(
            up_since.elapsed() < Duration::from_secs(30),
            "the bot did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (idle_rss, _) = memory_of(pid);
    let slash = |text: &str, id: String| {
        let request = signed_slash_request(world, &base, text, &id);
        let client = client.clone();
        async move {
            let response = client.request(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    };
    // 100 commands at once, then `list` and the status page over all previews.
    let texts = ["status bench#1", "list", "status hello#2", "help"];
    futures::future::join_all(
        (0..args.commands).map(|i| slash(texts[i % texts.len()], format!("mem-{i}"))),
    )
    .await;
    slash("list", "mem-list".into()).await;
    for _ in 0..3 {
        let (status, body) = get("/previews", true).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body:?}");
        let (status, _) = get("/previews", false).await.unwrap();
        assert_eq!(status, StatusCode::OK);
    }
    // One `up` of the 30-object app (a PR of its own), to its end.
    let pr = args.ups as u64 + 2;
    world.github.add_pull(PullSpec::new(
        OWNER,
        BENCH_REPO,
        pr,
        BENCH_SHA,
        "bench",
        "Codertocat",
    ));
    slash(&format!("up bench#{pr}"), "mem-up".into()).await;
    let ns = format!("{}bench-pr-{pr}", world.config.bot.namespace_prefix);
    let since = Instant::now();
    loop {
        let phase = world
            .namespace(&ns)
            .await
            .and_then(|n| World::annotation(&n, preview_deploy::labels::annotations::PHASE));
        if matches!(phase.as_deref(), Some("ready" | "failed")) {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "the up did not finish: {phase:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the last replies go out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss, hwm) = memory_of(pid);
    let _ = child.kill().await;
    println!(
        "`preview-bot serve` (pid {pid}), {} previews: {} MiB after start, {} MiB at the end, peak {} MiB\n",
        args.previews,
        idle_rss / 1024,
        rss / 1024,
        hwm / 1024
    );
    report.row(
        &format!(
            "4. resident memory of `preview-bot serve`, {} previews, peak",
            args.previews
        ),
        format!(
            "{:.1} MB (after start {:.1} MB, at the end {:.1} MB)",
            hwm as f64 * 1024.0 / 1e6,
            idle_rss as f64 * 1024.0 / 1e6,
            rss as f64 * 1024.0 / 1e6
        ),
        "< 64 MB",
        hwm * 1024 < 64_000_000,
    );
}
