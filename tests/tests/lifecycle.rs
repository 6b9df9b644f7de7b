//! SPEC section 6 end to end: idle warnings and teardown, extend and pin, sleep and wake, the
//! daily digest, the orphan sweep and two replicas, on a clock the tests move.
#![allow(clippy::unwrap_used)]

mod support;

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use preview_bot::clock::ManualClock;
use preview_bot::schedule::leader::Leadership;
use preview_bot::schedule::{Job, Run, Scheduler};
use preview_deploy::labels::annotations;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Monday 2026-11-23 07:30 UTC (08:30 in Amsterdam).
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 7, 30, 0)
        .single()
        .unwrap()
}

fn hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}

fn minutes(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

const SCHEDULE: &str = r#"timezone = "Europe/Amsterdam"
idle_ttl = "24h"
warn_before = "1h"
max_pinned_per_app = 1
max_orphans_per_sweep = 1
cpu_hour = 0.04
gib_hour = 0.005
currency = "EUR""#;

async fn world(start: DateTime<Utc>, extra: &str) -> (World, Arc<ManualClock>) {
    let clock = ManualClock::new(start);
    let world = World::start_with_options(WorldOptions {
        schedule: format!("{SCHEDULE}\n{extra}"),
        clock: Some(clock.clone()),
        ..WorldOptions::default()
    })
    .await;
    (world, clock)
}

fn scheduler(world: &World) -> Arc<Scheduler> {
    Scheduler::new(world.engine(), Leadership::always())
}

/// Runs `job` now, as the schedule would.
async fn run(scheduler: &Scheduler, clock: &ManualClock, job: Job) -> Run {
    use preview_bot::clock::Clock;
    scheduler.run_job(job, clock.now()).await
}

/// The next finished run of `job` from the running scheduler.
async fn next_run(runs: &mut broadcast::Receiver<Run>, job: Job) -> Run {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let run = runs.recv().await.unwrap();
            if run.job == job {
                return run;
            }
        }
    })
    .await
    .expect("the scheduled run happened")
}

/// Waits until every job of the running scheduler waits for a fire time after `after`.
async fn armed_after(scheduler: &Scheduler, after: DateTime<Utc>) {
    let mut next = scheduler.next_runs();
    tokio::time::timeout(
        Duration::from_secs(30),
        next.wait_for(|n| n.len() == Job::ALL.len() && n.values().all(|t| *t > after)),
    )
    .await
    .expect("the scheduler armed its jobs")
    .unwrap();
}

fn thread_texts(world: &World) -> Vec<String> {
    world
        .slack
        .messages(CHANNEL)
        .into_iter()
        .filter(|m| m.thread_ts.is_some())
        .map(|m| m.text)
        .collect()
}

fn warnings(texts: &[String]) -> usize {
    texts.iter().filter(|t| t.starts_with("⏰")).count()
}

fn comment_warnings(world: &World) -> usize {
    world
        .bot_comments()
        .iter()
        .filter(|c| c.body.starts_with("⏰"))
        .count()
}

/// How many audit Events record `action` (done by the bot itself).
async fn audited(world: &World, action: &str) -> usize {
    let api: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(world.client.clone(), &world.bot.engine.config.bot.namespace);
    api.list(&kube::api::ListParams::default().labels("preview-bot.dev/audit=true"))
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| e.action.as_deref() == Some(action) && e.reason.as_deref() == Some("Succeeded"))
        .count()
}

async fn phase(world: &World) -> Option<String> {
    let ns = world.preview().await?;
    if ns.metadata.deletion_timestamp.is_some() {
        return Some("deleting".into());
    }
    World::annotation(&ns, annotations::PHASE)
}

async fn hello_replicas(world: &World) -> i32 {
    let api: kube::Api<Deployment> = kube::Api::namespaced(world.client.clone(), &world.ns);
    api.get("hello")
        .await
        .unwrap()
        .spec
        .unwrap()
        .replicas
        .unwrap()
}

fn deployment_states(world: &World) -> Vec<String> {
    let deployments = world.github.deployments(OWNER, REPO);
    world
        .github
        .deployment_statuses(deployments.last().unwrap().id)
        .iter()
        .map(|s| s.state.clone())
        .collect()
}

#[tokio::test]
async fn an_idle_preview_is_warned_once_then_torn_down_on_schedule() {
    let (world, clock) = world(t0(), "").await;
    world.label_at(HEAD_SHA).await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    let sticky = world.bot_comments()[0].body.clone();
    assert!(
        sticky.contains("| Lifetime | torn down at 2026-11-24 08:30 CET unless used |"),
        "{sticky}"
    );

    let scheduler = scheduler(&world);
    let mut runs = scheduler.subscribe();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(scheduler.clone().run(cancel.clone()));
    armed_after(&scheduler, t0()).await;

    // 22 hours later nothing happens yet.
    clock.set(t0() + hours(22));
    let quiet = next_run(&mut runs, Job::IdleSweep).await;
    assert!(!quiet.acted, "{quiet:?}");
    assert_eq!(warnings(&thread_texts(&world)), 0);

    // An hour before the expiry: one warning in the thread and on the PR, in Amsterdam time.
    armed_after(&scheduler, clock_now(&clock)).await;
    clock.set(t0() + hours(23) + minutes(1));
    let warned = next_run(&mut runs, Job::IdleSweep).await;
    assert!(warned.acted, "{warned:?}");
    let texts = thread_texts(&world);
    assert_eq!(warnings(&texts), 1, "{texts:#?}");
    let warning = texts.iter().find(|t| t.starts_with("⏰")).unwrap();
    assert!(
        warning.contains("will be torn down at 2026-11-24 08:30 CET")
            && warning.contains("`/preview extend hello#2 4h`")
            && warning.contains("`/preview pin hello#2`"),
        "{warning}"
    );
    assert_eq!(comment_warnings(&world), 1);
    let ns = world.preview().await.unwrap();
    assert_eq!(
        World::annotation(&ns, annotations::WARNED_FOR).as_deref(),
        Some("2026-11-24T07:30:00+00:00"),
        "the warning is recorded in the namespace"
    );

    // The next sweep (and a restarted bot's) does not warn again.
    armed_after(&scheduler, clock_now(&clock)).await;
    clock.set(t0() + hours(23) + minutes(6));
    let again = next_run(&mut runs, Job::IdleSweep).await;
    assert!(!again.acted, "{again:?}");
    assert_eq!(warnings(&thread_texts(&world)), 1);
    assert_eq!(comment_warnings(&world), 1);

    // At the announced time it is torn down, and the thread, sticky comment and Deployment say so.
    armed_after(&scheduler, clock_now(&clock)).await;
    clock.set(t0() + hours(24) + minutes(1));
    let gone = next_run(&mut runs, Job::IdleSweep).await;
    assert!(gone.acted, "{gone:?}");
    world.wait_namespace_gone(&world.ns).await;
    let texts = thread_texts(&world);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("was torn down: it had been idle since 2026-11-23 08:30 CET")),
        "{texts:#?}"
    );
    let sticky = world.bot_comments()[0].body.clone();
    assert!(sticky.contains("torn down"), "{sticky}");
    assert_eq!(
        deployment_states(&world).last().map(String::as_str),
        Some("inactive")
    );
    assert_eq!(audited(&world, "idle teardown").await, 1);

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the scheduler stops on cancel")
        .unwrap();
}

#[tokio::test]
async fn a_ttl_deadline_is_honoured_and_a_late_warning_still_gives_full_notice() {
    let (world, clock) = world(t0(), "").await;
    world
        .slack_command(CHANNEL, "U0TTL", "up hello#2 --ttl 2h")
        .await;
    world.settle().await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    let scheduler = scheduler(&world);
    clock.set(t0() + hours(1) + minutes(1));
    assert!(run(&scheduler, &clock, Job::IdleSweep).await.acted);
    let texts = thread_texts(&world);
    assert!(
        texts.iter().any(|t| t.contains(
            "reaches its `--ttl` deadline and will be torn down at 2026-11-23 10:30 CET"
        )),
        "{texts:#?}"
    );
    clock.set(t0() + hours(2) + minutes(1));
    assert!(run(&scheduler, &clock, Job::IdleSweep).await.acted);
    world.wait_namespace_gone(&world.ns).await;
    assert!(
        thread_texts(&world)
            .iter()
            .any(|t| t.contains("was torn down: it reached its `--ttl` deadline")),
        "{:#?}",
        thread_texts(&world)
    );

    // A new preview; then the bot is down through its whole warning window.
    clock.set(t0() + hours(3));
    world.slack_command(CHANNEL, "U0TTL", "up hello#2").await;
    world.settle().await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    clock.set(t0() + hours(33));
    assert!(run(&scheduler, &clock, Job::IdleSweep).await.acted);
    let warning = thread_texts(&world)
        .into_iter()
        .rfind(|t| t.starts_with("⏰"))
        .unwrap();
    assert!(
        warning.contains("will be torn down at 2026-11-24 18:30 CET"),
        "a full hour's notice from now: {warning}"
    );
    // Sweeps before the announced time (another replica, a restart) do nothing.
    assert!(!run(&scheduler, &clock, Job::IdleSweep).await.acted);
    clock.set(t0() + hours(33) + minutes(30));
    assert!(!run(&scheduler, &clock, Job::IdleSweep).await.acted);
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    clock.set(t0() + hours(34));
    assert!(run(&scheduler, &clock, Job::IdleSweep).await.acted);
    assert_eq!(phase(&world).await.as_deref(), Some("deleting"));
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    use preview_bot::clock::Clock;
    clock.now()
}

#[tokio::test]
async fn extend_and_pin_keep_an_idle_preview_and_pins_are_capped() {
    let (world, clock) = world(t0(), "").await;
    world.label_at(HEAD_SHA).await;
    let scheduler = scheduler(&world);

    clock.set(t0() + hours(23) + minutes(1));
    assert!(run(&scheduler, &clock, Job::IdleSweep).await.acted);
    assert_eq!(warnings(&thread_texts(&world)), 1);

    // `extend 4h` on the PR: kept four hours from now, answered on the PR, in the thread and
    // in the sticky comment.
    let reply = pr_command(&world, PR, 9001, "/preview extend 4h").await;
    assert_eq!(
        reply,
        "Preview hello#2 is kept until at least 2026-11-24 11:31 CET."
    );
    assert_eq!(
        thread_texts(&world).last().unwrap(),
        &format!("{reply} (by Codertocat)")
    );
    assert!(
        world.bot_comments()[0]
            .body
            .contains("| Lifetime | torn down at 2026-11-24 11:31 CET unless used |"),
        "{}",
        world.bot_comments()[0].body
    );
    clock.set(t0() + hours(24) + minutes(5));
    let run1 = run(&scheduler, &clock, Job::IdleSweep).await;
    assert!(!run1.acted, "{run1:?}");
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    assert_eq!(warnings(&thread_texts(&world)), 1);
    // The extended expiry gets its own warning an hour ahead.
    clock.set(t0() + hours(26) + minutes(5));
    assert!(run(&scheduler, &clock, Job::IdleSweep).await.acted);
    assert_eq!(warnings(&thread_texts(&world)), 2);

    // Pinned: no teardown however long it idles; the sticky comment says so.
    let (_, answer) = world.slack_command(CHANNEL, "U0PIN", "pin hello#2").await;
    assert_eq!(answer["response_type"], "ephemeral", "{answer}");
    world.settle().await;
    let ns = world.preview().await.unwrap();
    assert_eq!(
        World::annotation(&ns, annotations::PINNED).as_deref(),
        Some("true")
    );
    clock.set(t0() + hours(24 * 6));
    let pinned_run = run(&scheduler, &clock, Job::IdleSweep).await;
    assert!(!pinned_run.acted, "{pinned_run:?}");
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    assert_eq!(warnings(&thread_texts(&world)), 2);
    assert!(
        world.bot_comments()[0]
            .body
            .contains("| Lifetime | pinned: kept until unpinned |"),
        "{}",
        world.bot_comments()[0].body
    );

    // A second pinned preview of the same app is refused (max_pinned_per_app = 1).
    world.github.add_pull(github_pull(3));
    pr_command(&world, 3, 9002, "/preview up").await;
    let refusal = pr_command(&world, 3, 9003, "/preview pin").await;
    assert!(
        refusal.contains("already has 1 pinned preview (`hello#2`)"),
        "{refusal}"
    );
    let other = world
        .namespace(&preview_ns(&world, "hello-pr-3"))
        .await
        .unwrap();
    assert_eq!(
        World::annotation(&other, annotations::PINNED).as_deref(),
        Some("false")
    );

    // Unpinned, it expires a full idle period from now.
    let reply = pr_command(&world, PR, 9004, "/preview unpin").await;
    assert_eq!(
        reply,
        "Preview hello#2 is not pinned; it will be torn down at 2026-11-30 08:30 CET unless used."
    );
    assert_eq!(
        thread_texts(&world).last().unwrap(),
        &format!("{reply} (by Codertocat)")
    );
}

fn github_pull(number: u64) -> github_api_spec::PullSpec {
    github_api_spec::PullSpec::new(OWNER, REPO, number, HEAD_SHA, "more", "Codertocat")
}

mod github_api_spec {
    pub use preview_testkit::github_api::PullSpec;
}

/// A `/preview ...` comment on PR `pr`; returns the bot's replies to it.
async fn pr_command(world: &World, pr: u64, comment_id: u64, line: &str) -> String {
    let before: Vec<u64> = world
        .github
        .comments(OWNER, REPO, pr)
        .iter()
        .map(|c| c.id)
        .collect();
    world
        .github
        .add_comment(OWNER, REPO, pr, comment_id, "Codertocat", line);
    world
        .github_event(
            "issue_comment",
            &pr_comment_payload_on(pr, comment_id, line),
        )
        .await;
    world.settle().await;
    world
        .github
        .comments(OWNER, REPO, pr)
        .iter()
        .filter(|c| c.author == preview_testkit::github_api::BOT_LOGIN && !before.contains(&c.id))
        .map(|c| c.body.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

fn pr_comment_payload_on(pr: u64, comment_id: u64, text: &str) -> serde_json::Value {
    let mut body = pr_comment_payload(comment_id, text);
    body["issue"]["number"] = pr.into();
    body["issue"]["pull_request"]["url"] =
        format!("https://api.github.com/repos/{OWNER}/{REPO}/pulls/{pr}").into();
    body["issue"]["pull_request"]["html_url"] =
        format!("https://github.com/{OWNER}/{REPO}/pull/{pr}").into();
    body
}

#[tokio::test]
async fn an_idle_preview_sleeps_and_wakes_with_its_replica_counts() {
    let (world, clock) = world(t0(), "idle_action = \"sleep\"").await;
    world.label_at(HEAD_SHA).await;
    assert_eq!(hello_replicas(&world).await, 2);
    let scheduler = scheduler(&world);

    clock.set(t0() + hours(23) + minutes(1));
    assert!(run(&scheduler, &clock, Job::IdleSweep).await.acted);
    let texts = thread_texts(&world);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("will be put to sleep at 2026-11-24 08:30 CET")),
        "{texts:#?}"
    );
    clock.set(t0() + hours(24) + minutes(1));
    assert!(run(&scheduler, &clock, Job::IdleSweep).await.acted);
    assert_eq!(phase(&world).await.as_deref(), Some("sleeping"));
    assert_eq!(hello_replicas(&world).await, 0);
    let ns = world.preview().await.unwrap();
    assert_eq!(
        World::annotation(&ns, annotations::SLEEPING_REPLICAS).as_deref(),
        Some(r#"{"Deployment/hello":2}"#)
    );
    assert!(
        thread_texts(&world)
            .iter()
            .any(|t| t.starts_with("😴 Preview hello#2 is asleep")),
        "{:#?}",
        thread_texts(&world)
    );
    assert_eq!(
        deployment_states(&world).last().map(String::as_str),
        Some("inactive")
    );
    // Asleep, it is neither warned nor torn down.
    clock.set(t0() + hours(24 * 3));
    assert!(!run(&scheduler, &clock, Job::IdleSweep).await.acted);
    assert_eq!(phase(&world).await.as_deref(), Some("sleeping"));
    // Its databases sleep too: seeding or extending it is refused with the way out.
    let refusal = pr_command(&world, PR, 9301, "/preview seed demo").await;
    assert_eq!(
        refusal,
        "Preview hello#2 is asleep (scaled to zero); `/preview up hello#2` wakes it first."
    );
    assert_eq!(
        pr_command(&world, PR, 9302, "/preview extend").await,
        refusal
    );
    assert_eq!(hello_replicas(&world).await, 0);

    // A push wakes it: replica counts restored, then the new commit deployed.
    world.github.set_head(OWNER, REPO, PR, SECOND_SHA);
    world
        .github_event("pull_request", &push_payload(SECOND_SHA))
        .await;
    world.settle().await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    assert_eq!(hello_replicas(&world).await, 2);
    let ns = world.preview().await.unwrap();
    assert_eq!(World::annotation(&ns, annotations::SLEEPING_REPLICAS), None);
    assert!(
        thread_texts(&world)
            .iter()
            .any(|t| t.contains("was asleep; waking it up")),
        "{:#?}",
        thread_texts(&world)
    );

    // Asleep again, `up` from Slack wakes it too.
    let woke_at = clock_now(&clock);
    clock.set(woke_at + hours(23) + minutes(1));
    assert!(run(&scheduler, &clock, Job::IdleSweep).await.acted);
    clock.set(woke_at + hours(24) + minutes(1));
    assert!(run(&scheduler, &clock, Job::IdleSweep).await.acted);
    assert_eq!(hello_replicas(&world).await, 0);
    world.slack_command(CHANNEL, "U0WAKE", "up hello#2").await;
    world.settle().await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    assert_eq!(hello_replicas(&world).await, 2);
}

async fn wait_replicas(world: &World, n: i32) {
    for _ in 0..100 {
        if hello_replicas(world).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("hello never had {n} replicas");
}

/// A commit of hello whose Deployment an HorizontalPodAutoscaler scales (at least 2).
const HPA_SHA: &str = "4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a";

#[tokio::test]
async fn an_autoscaled_preview_sleeps_without_fighting_its_hpa_and_wakes_at_its_size() {
    let (world, clock) = world(t0(), "idle_action = \"sleep\"").await;
    if !world.simulated() {
        // A real autoscaler needs metrics-server to act at all.
        eprintln!("SKIPPED on a real cluster");
        return;
    }
    let manifest = format!(
        "{}\n---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: hello}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: hello}}\n  minReplicas: 2\n  maxReplicas: 4\n",
        APP_MANIFEST.replace("IMAGE", "ghcr.io/codertocat/hello-world:latest")
    );
    world.github.add_commit_tree(
        OWNER,
        REPO,
        HPA_SHA,
        vec![("deploy/preview/app.yaml".into(), manifest.into_bytes())],
    );
    world.label_at(HPA_SHA).await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    // The autoscaler brings it to its minimum on its own schedule.
    wait_replicas(&world, 2).await;
    let scheduler = scheduler(&world);
    clock.set(t0() + hours(23) + minutes(1));
    assert!(run(&scheduler, &clock, Job::IdleSweep).await.acted);
    clock.set(t0() + hours(24) + minutes(1));
    assert!(run(&scheduler, &clock, Job::IdleSweep).await.acted);
    // Asleep: zero replicas, and the autoscaler leaves it there.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hello_replicas(&world).await, 0);
    // The redeploy does not set replicas of an autoscaled workload: only the restore does.
    world.slack_command(CHANNEL, "U0WAKE", "up hello#2").await;
    world.settle().await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    assert_eq!(hello_replicas(&world).await, 2);
}

#[tokio::test]
async fn the_digest_lists_previews_costs_and_orphans_at_nine_local_time() {
    // The sweeps run at night here, so they cannot change what the digest shows.
    let (world, clock) = world(
        t0(),
        "idle_sweep = \"*/5 3 * * *\"\norphan_sweep = \"30 3 * * *\"",
    )
    .await;
    world.label_at(HEAD_SHA).await;
    // The shop (postgres and redis with resource requests) deployed from Slack an hour later.
    clock.set(t0() + hours(1));
    world.slack_command(CHANNEL, "U0SHOP", "up shop#7").await;
    world.settle().await;
    // A managed namespace whose record is unreadable.
    let ghost = preview_ns(&world, "ghost-pr-1");
    broken_namespace(&world, &ghost).await;

    let scheduler = scheduler(&world);
    let mut runs = scheduler.subscribe();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(scheduler.clone().run(cancel.clone()));
    armed_after(&scheduler, clock_now(&clock)).await;
    if let Some(kube) = &world.kube {
        kube.clear_requests();
    }
    // Tuesday 09:00 in Amsterdam is 08:00 UTC.
    let nine = Utc
        .with_ymd_and_hms(2026, 11, 24, 8, 0, 0)
        .single()
        .unwrap();
    assert_eq!(scheduler.next_runs().borrow()[&Job::Digest], nine);
    clock.set(nine + chrono::Duration::seconds(30));
    let digest = next_run(&mut runs, Job::Digest).await;
    assert!(digest.acted, "{digest:?}");
    assert_eq!(digest.slot, nine);

    let posted = world.slack.messages(DIGEST_CHANNEL);
    assert_eq!(posted.len(), 1, "{posted:#?}");
    // Names, requests and so costs differ on a real cluster: the content is pinned on the
    // simulated one.
    if let Some(kube) = &world.kube {
        // The cost comes from one list of pods across namespaces, not a request per preview.
        let pod_lists: Vec<String> = kube
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/pods"))
            .map(|r| format!("{}?{}", r.path, r.query))
            .collect();
        assert_eq!(pod_lists.len(), 1, "{pod_lists:?}");
        assert!(pod_lists[0].starts_with("/api/v1/pods?"), "{pod_lists:?}");
        insta::assert_snapshot!(
            "digest_blocks",
            serde_json::to_string_pretty(&posted[0].blocks).unwrap()
        );
    }
    assert!(
        posted[0].text.starts_with("Previews on Tue 2026-11-24"),
        "{}",
        posted[0].text
    );

    // The same slot again (a restart, a second replica) posts nothing.
    let again = scheduler.run_job(Job::Digest, nine).await;
    assert!(!again.acted, "{again:?}");
    assert_eq!(world.slack.messages(DIGEST_CHANNEL).len(), 1);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn the_digest_follows_the_clocks_across_summer_time() {
    // Friday 2026-03-27, the last working day before the clocks go forward.
    let friday = Utc.with_ymd_and_hms(2026, 3, 27, 6, 0, 0).single().unwrap();
    let (world, clock) = world(friday, "").await;
    let scheduler = scheduler(&world);
    let mut runs = scheduler.subscribe();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(scheduler.clone().run(cancel.clone()));
    armed_after(&scheduler, friday).await;
    // 09:00 CET is 08:00 UTC; after the weekend 09:00 CEST is 07:00 UTC.
    let expected = [
        Utc.with_ymd_and_hms(2026, 3, 27, 8, 0, 0).single().unwrap(),
        Utc.with_ymd_and_hms(2026, 3, 30, 7, 0, 0).single().unwrap(),
    ];
    for slot in expected {
        assert_eq!(scheduler.next_runs().borrow()[&Job::Digest], slot);
        clock.set(slot + chrono::Duration::seconds(1));
        let run = next_run(&mut runs, Job::Digest).await;
        assert_eq!(run.slot, slot);
        armed_after(&scheduler, slot + chrono::Duration::seconds(1)).await;
    }
    assert_eq!(world.slack.messages(DIGEST_CHANNEL).len(), 2);
    cancel.cancel();
    task.await.unwrap();
}

/// `preview-NAME` under this world's prefix (tests on a shared real cluster have their own).
fn preview_ns(world: &World, name: &str) -> String {
    format!("{}{name}", world.config.bot.namespace_prefix)
}

/// A namespace with the bot's label and prefix whose record cannot be read.
async fn broken_namespace(world: &World, name: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    let api: kube::Api<Namespace> = kube::Api::all(world.client.clone());
    let ns = serde_json::from_value(serde_json::json!({"metadata": {
        "name": name,
        "labels": {"app.kubernetes.io/managed-by": "preview-bot", "preview-bot.dev/app": "ghost", "preview-bot.dev/pr": "one"},
    }}))
    .unwrap();
    api.create(&Default::default(), &ns).await.unwrap();
}

#[tokio::test]
async fn the_orphan_sweep_removes_a_merged_prs_preview_a_few_at_a_time() {
    let (world, clock) = world(t0(), "").await;
    world.label_at(HEAD_SHA).await;
    let ghost = preview_ns(&world, "ghost-pr-1");
    broken_namespace(&world, &ghost).await;
    // Not the bot's: never touched, whatever its name.
    let foreign = preview_ns(&world, "hello-pr-77");
    create_namespace(&world.client, &foreign).await;
    // Merged while the bot missed the webhook.
    world.github.close_pull(OWNER, REPO, PR, true);
    let scheduler = scheduler(&world);

    // max_orphans_per_sweep = 1: one now, one on the next sweep.
    let first = run(&scheduler, &clock, Job::OrphanSweep).await;
    assert!(first.acted, "{first:?}");
    assert!(first.summary.contains("1 more orphan"), "{}", first.summary);
    clock.set(t0() + hours(1));
    let second = run(&scheduler, &clock, Job::OrphanSweep).await;
    assert!(second.acted, "{second:?}");
    world.wait_namespace_gone(&world.ns).await;
    world.wait_namespace_gone(&ghost).await;
    assert!(world.namespace(&foreign).await.is_some());

    let all = channel_text(&world, OPS_CHANNEL);
    assert!(
        all.contains(&format!(
            "`{}`: pull request Codertocat/Hello-World#2 was merged",
            world.ns
        )),
        "{all}"
    );
    assert!(
        all.contains("`preview-ghost-pr-1`: its record is unreadable"),
        "{all}"
    );
    assert!(
        thread_texts(&world)
            .iter()
            .any(|t| t.contains("was merged")),
        "{:#?}",
        thread_texts(&world)
    );
    assert_eq!(
        deployment_states(&world).last().map(String::as_str),
        Some("inactive")
    );
    clock.set(t0() + hours(2));
    let third = run(&scheduler, &clock, Job::OrphanSweep).await;
    assert!(!third.acted, "{third:?}");
    assert_eq!(audited(&world, "orphan teardown").await, 2);
}

#[tokio::test]
async fn the_orphan_sweep_removes_a_branch_preview_whose_branch_was_deleted() {
    let (world, clock) = world(t0(), "").await;
    world.github.set_branch(OWNER, REPO, "beta", HEAD_SHA);
    world
        .slack_conversation(CHANNEL, "U0DEV", "up hello@beta")
        .await;
    let ns = preview_deploy::PreviewId::branch("hello", "beta")
        .namespace(&world.bot.engine.config.bot.namespace_prefix)
        .to_string();
    assert!(world.namespace(&ns).await.is_some());
    let scheduler = scheduler(&world);
    let kept = run(&scheduler, &clock, Job::OrphanSweep).await;
    assert!(!kept.acted, "the branch is still there: {kept:?}");
    assert!(world.namespace(&ns).await.is_some());

    // Deleted while the bot missed the push.
    world.github.delete_branch(OWNER, REPO, "beta");
    clock.set(t0() + hours(1));
    let swept = run(&scheduler, &clock, Job::OrphanSweep).await;
    assert!(swept.acted, "{swept:?}");
    world.wait_namespace_gone(&ns).await;
    let reports = channel_text(&world, OPS_CHANNEL);
    assert!(
        reports.contains(&format!(
            "`{ns}`: branch `beta` of Codertocat/Hello-World was deleted"
        )),
        "{reports}"
    );
}

#[tokio::test]
async fn two_replicas_post_one_digest_and_one_warning() {
    let (world, clock) = world(t0(), "").await;
    world.label_at(HEAD_SHA).await;
    let first = scheduler(&world);
    // Both replicas believe they lead (the worst case during a Lease handover).
    let second = Scheduler::new(world.another_replica(clock.clone()), Leadership::always());

    clock.set(t0() + hours(23) + minutes(1));
    let slot = clock_now(&clock);
    let (a, b) = tokio::join!(
        first.run_job(Job::IdleSweep, slot),
        second.run_job(Job::IdleSweep, slot)
    );
    assert_eq!(u8::from(a.acted) + u8::from(b.acted), 1, "{a:?} {b:?}");
    assert_eq!(warnings(&thread_texts(&world)), 1);
    assert_eq!(comment_warnings(&world), 1);

    let nine = Utc
        .with_ymd_and_hms(2026, 11, 24, 8, 0, 0)
        .single()
        .unwrap();
    clock.set(nine);
    let (a, b) = tokio::join!(
        first.run_job(Job::Digest, nine),
        second.run_job(Job::Digest, nine)
    );
    assert_eq!(u8::from(a.acted) + u8::from(b.acted), 1, "{a:?} {b:?}");
    assert_eq!(world.slack.messages(DIGEST_CHANNEL).len(), 1);

    // The teardown happens once too.
    clock.set(t0() + hours(24) + minutes(1));
    let slot = clock_now(&clock);
    let (a, b) = tokio::join!(
        first.run_job(Job::IdleSweep, slot),
        second.run_job(Job::IdleSweep, slot)
    );
    assert_eq!(u8::from(a.acted) + u8::from(b.acted), 1, "{a:?} {b:?}");
    let torn: Vec<String> = thread_texts(&world)
        .into_iter()
        .filter(|t| t.contains("was torn down"))
        .collect();
    assert_eq!(torn.len(), 1, "{torn:#?}");
}

#[tokio::test]
async fn only_the_lease_holder_leads_and_a_successor_takes_over() {
    let (world, _clock) = world(t0(), "").await;
    let timing = preview_bot::schedule::leader::LeaseTiming {
        duration_secs: 2,
        grace_secs: 1,
    };
    let stop_a = CancellationToken::new();
    let stop_b = CancellationToken::new();
    let a = Leadership::lease(
        world.client.clone(),
        &world.config.bot.namespace,
        "replica-a",
        timing,
        stop_a.clone(),
    );
    let b = Leadership::lease(
        world.client.clone(),
        &world.config.bot.namespace,
        "replica-b",
        timing,
        stop_b.clone(),
    );
    tokio::time::timeout(Duration::from_secs(20), async {
        tokio::select! {
            _ = a.wait_until_leader() => {},
            _ = b.wait_until_leader() => {},
        }
    })
    .await
    .expect("one replica leads");
    // Give the other time to (wrongly) take the Lease too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(a.is_leader() ^ b.is_leader(), "exactly one leader");
    let (leader, stop, successor) = if a.is_leader() {
        (&a, &stop_a, &b)
    } else {
        (&b, &stop_b, &a)
    };
    // The leader stops (releasing the Lease); the other one takes over.
    stop.cancel();
    leader.stopped().await;
    assert!(!leader.is_leader());
    tokio::time::timeout(Duration::from_secs(20), successor.wait_until_leader())
        .await
        .expect("the successor leads");
    stop_a.cancel();
    stop_b.cancel();
    a.stopped().await;
    b.stopped().await;
}

#[tokio::test]
async fn when_the_leader_dies_without_releasing_the_lease_another_replica_takes_over() {
    let (world, _clock) = world(t0(), "").await;
    let timing = preview_bot::schedule::leader::LeaseTiming {
        duration_secs: 2,
        grace_secs: 1,
    };
    let namespace = world.config.bot.namespace.clone();
    // Replica A runs on a runtime of its own; dropping that runtime is a crash: its tasks stop
    // mid-flight and nothing releases the Lease.
    let (led_tx, led_rx) = tokio::sync::oneshot::channel();
    let (crash_tx, crash_rx) = tokio::sync::oneshot::channel::<()>();
    let client = world.client.clone();
    let ns = namespace.clone();
    let replica_a = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let a = Leadership::lease(client, &ns, "replica-a", timing, CancellationToken::new());
            a.wait_until_leader().await;
            led_tx.send(()).unwrap();
            let _ = crash_rx.await;
        });
        runtime.shutdown_background();
    });
    tokio::time::timeout(Duration::from_secs(20), led_rx)
        .await
        .expect("replica A leads")
        .unwrap();
    let stop_b = CancellationToken::new();
    let b = Leadership::lease(
        world.client.clone(),
        &namespace,
        "replica-b",
        timing,
        stop_b.clone(),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!b.is_leader(), "B waits while A renews the Lease");
    crash_tx.send(()).unwrap();
    replica_a.join().unwrap();
    tokio::time::timeout(Duration::from_secs(20), b.wait_until_leader())
        .await
        .expect("B takes over once A's Lease expires");
    stop_b.cancel();
    b.stopped().await;
}

/// LIST requests of the idle sweep, `list`, the status page and the digest (for `slot`).
async fn scan_lists(
    world: &World,
    kube: &preview_testkit::kube_api::FakeKube,
    scheduler: &Scheduler,
    slot: DateTime<Utc>,
) -> Vec<usize> {
    let lists = || {
        kube.requests()
            .iter()
            .filter(|r| r.verb() == "LIST")
            .count()
    };
    let mut counts = Vec::new();
    kube.clear_requests();
    let sweep = scheduler.run_job(Job::IdleSweep, slot).await;
    assert!(!sweep.summary.starts_with("failed"), "{sweep:?}");
    counts.push(lists());

    kube.clear_requests();
    let text = world.slack_conversation(CHANNEL, "U0DEV", "list").await;
    assert!(text.contains("hello#"), "{text}");
    counts.push(lists());

    kube.clear_requests();
    let request = http::Request::get("/previews")
        .header("accept", "application/json")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body) = world.send(request).await;
    assert_eq!(status, http::StatusCode::OK, "{body}");
    counts.push(lists());

    kube.clear_requests();
    let digest = scheduler.run_job(Job::Digest, slot).await;
    assert!(digest.acted, "{digest:?}");
    counts.push(lists());
    counts
}

/// Issue 9's regression check, by counting requests rather than timing them: the idle sweep,
/// `list`, the status page and the digest list the cluster as often for many previews as for
/// few (not once per preview).
#[tokio::test]
async fn scans_make_as_many_list_requests_for_many_previews_as_for_few() {
    let world = World::start_with_options(WorldOptions {
        max_previews: Some(500),
        ..WorldOptions::default()
    })
    .await;
    let Some(kube) = world.kube.clone() else {
        return;
    };
    let scheduler = Scheduler::new(world.engine(), Leadership::always());
    let slot = Utc::now();
    // A busy repository: 100 open PRs without previews, and the 60 PRs that get previews later
    // already open, so the open list is the same (164 PRs, two pages of 100) both times.
    world.add_open_pulls(1000, 100);
    world.add_open_pulls(200, 60);
    world.seed_previews(100, 3);
    let few = scan_lists(&world, &kube, &scheduler, slot).await;
    let few_github = github_scans(&world, &scheduler, slot).await;
    world.seed_previews(200, 60);
    let later = slot + chrono::Duration::days(1);
    let many = scan_lists(&world, &kube, &scheduler, later).await;
    let many_github = github_scans(&world, &scheduler, later).await;
    assert_eq!(
        few, many,
        "LIST requests of the idle sweep, list, status page and digest for 3 and 63 previews"
    );
    assert!(many.iter().all(|n| *n <= 3), "{many:?}");
    assert_eq!(
        few_github, many_github,
        "GitHub requests of the digest and the orphan sweep for 3 and 63 previews"
    );
    assert_eq!(
        many_github,
        [(2, 2), (2, 2)],
        "(requests, pages of open PRs) of the digest and the sweep: one repository, 164 open PRs"
    );
}

/// GitHub requests of the digest and of the orphan sweep (`slot + 12 h`, after the digest of
/// `slot` that [`scan_lists`] posted), with how many of them list a page of open PRs.
async fn github_scans(
    world: &World,
    scheduler: &Scheduler,
    slot: DateTime<Utc>,
) -> Vec<(usize, usize)> {
    let counted = || {
        let calls = world.github.calls();
        let pages = calls
            .iter()
            .filter(|c| c.path == format!("/repos/{OWNER}/{REPO}/pulls"))
            .count();
        (calls.len(), pages)
    };
    world.github.clear_calls();
    let digest = scheduler.run_job(Job::Digest, slot + hours(12)).await;
    assert!(digest.acted, "{digest:?}");
    assert!(digest.summary.contains(" 0 orphans"), "{digest:?}");
    let after_digest = counted();
    world.github.clear_calls();
    let sweep = scheduler.run_job(Job::OrphanSweep, slot).await;
    assert_eq!(sweep.summary, "no orphans", "{sweep:?}");
    vec![after_digest, counted()]
}

/// Where GitHub's `Link` names no last page, the open PRs are listed by following `next`.
#[tokio::test]
async fn open_prs_are_listed_by_following_next_links_when_no_last_page_is_named() {
    let Some(world) = World::with_previews_behind_open_pulls(100, 3, 260).await else {
        return;
    };
    world.github.close_pull(OWNER, REPO, 101, true);
    world.github.set_links_without_last(true);
    world.github.clear_calls();
    let digest = preview_bot::schedule::digest::gather(&world.engine(), Utc::now())
        .await
        .unwrap();
    let orphans: Vec<&str> = digest.orphans.iter().map(|o| o.why.as_str()).collect();
    assert_eq!(
        orphans,
        [format!("pull request {OWNER}/{REPO}#101 was merged").as_str()]
    );
    let pages: Vec<String> = world
        .github
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/pulls"))
        .map(|c| c.query.clone())
        .collect();
    assert_eq!(
        pages,
        [
            "state=open&per_page=100",
            "state=open&per_page=100&page=2",
            "state=open&per_page=100&page=3",
        ],
        "every page of the open PRs, one after another"
    );
}

/// The open PRs are listed a page at a time; a preview whose PR is not among them (here behind
/// two pages of newer open PRs) has its PR read on its own, which tells merged from closed.
#[tokio::test]
async fn previews_of_prs_missing_from_the_open_list_are_orphans_merged_or_closed() {
    let Some(world) = World::with_previews_behind_open_pulls(100, 5, 160).await else {
        return;
    };
    world.github.close_pull(OWNER, REPO, 101, false);
    world.github.close_pull(OWNER, REPO, 103, true);
    world.github.clear_calls();

    let engine = world.engine();
    let digest = preview_bot::schedule::digest::gather(&engine, Utc::now())
        .await
        .unwrap();
    let orphans: Vec<(String, String)> = digest
        .orphans
        .iter()
        .map(|o| (o.namespace.clone(), o.why.clone()))
        .collect();
    assert_eq!(
        orphans,
        [
            (
                world.hello_ns(101),
                format!("pull request {OWNER}/{REPO}#101 was closed")
            ),
            (
                world.hello_ns(103),
                format!("pull request {OWNER}/{REPO}#103 was merged")
            ),
        ]
    );
    let mut asked: Vec<String> = world
        .github
        .calls()
        .iter()
        .map(|c| format!("{} {}?{}", c.method, c.path, c.query))
        .collect();
    asked.sort();
    assert_eq!(
        asked,
        [
            format!("GET /repos/{OWNER}/{REPO}/pulls/101?"),
            format!("GET /repos/{OWNER}/{REPO}/pulls/103?"),
            format!("GET /repos/{OWNER}/{REPO}/pulls?state=open&per_page=100"),
            format!("GET /repos/{OWNER}/{REPO}/pulls?state=open&per_page=100&page=2"),
        ],
        "two pages of 164 open PRs, then the two PRs not among them"
    );

    // The sweep removes both and says why.
    let sweep = Scheduler::new(engine, Leadership::always())
        .run_job(Job::OrphanSweep, Utc::now())
        .await;
    assert!(sweep.acted, "{sweep:?}");
    world.wait_namespace_gone(&world.hello_ns(101)).await;
    world.wait_namespace_gone(&world.hello_ns(103)).await;
    for kept in [100, 102, 104] {
        assert!(world.namespace(&world.hello_ns(kept)).await.is_some());
    }
    let reports = channel_text(&world, OPS_CHANNEL);
    for (pr, how) in [(101, "closed"), (103, "merged")] {
        assert!(
            reports.contains(&format!(
                "`{}`: pull request {OWNER}/{REPO}#{pr} was {how}",
                world.hello_ns(pr)
            )),
            "{reports}"
        );
    }
}
