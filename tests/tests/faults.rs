//! The fault suite (issue 7): for each API the bot depends on, errors injected into the steps
//! of `up`, `down`, `point`, `seed` and the idle sweep, with the final cluster state and what the
//! user was told checked each time. Retries must absorb what is safe to retry; everything else ends in a clear
//! answer and a state a later command repairs, with nothing lost or duplicated.
#![allow(clippy::unwrap_used)]

mod support;

use preview_deploy::labels::annotations;
use preview_testkit::github_api::{Fault as HttpFault, FaultResponse as HttpFaultResponse};
use preview_testkit::kube_api::{Fault as KubeFault, FaultResponse as KubeFaultResponse};
use support::*;

async fn phase(world: &World) -> Option<String> {
    let ns = world.preview().await?;
    World::annotation(&ns, annotations::PHASE)
}

/// A simulated-cluster-only case (faults are injected into the fake API server).
fn kube(world: &World) -> Option<&preview_testkit::kube_api::FakeKube> {
    if world.kube.is_none() {
        eprintln!("SKIPPED on a real cluster: Kubernetes faults need the simulated API server");
    }
    world.kube.as_ref()
}

/// (calls answered by a fault, calls answered normally) on paths containing `path`.
fn github_calls(world: &World, method: &str, path: &str) -> (usize, usize) {
    let calls: Vec<_> = world
        .github
        .calls()
        .into_iter()
        .filter(|c| c.method.eq_ignore_ascii_case(method) && c.path.contains(path))
        .collect();
    let faulted = calls.iter().filter(|c| c.faulted).count();
    (faulted, calls.len() - faulted)
}

fn slack_calls(world: &World, path: &str) -> (usize, usize) {
    let calls: Vec<_> = world
        .slack
        .calls()
        .into_iter()
        .filter(|c| c.path.contains(path))
        .collect();
    let faulted = calls.iter().filter(|c| c.faulted).count();
    (faulted, calls.len() - faulted)
}

fn kube_answered(
    kube: &preview_testkit::kube_api::FakeKube,
    method: &str,
    path: &str,
    status: u16,
) -> usize {
    kube.requests()
        .iter()
        .filter(|r| r.method == method && r.path.contains(path) && r.status == status)
        .count()
}

fn sticky_comments(world: &World) -> usize {
    world
        .bot_comments()
        .iter()
        .filter(|c| c.body.contains("hello#2"))
        .count()
}

// ---- Kubernetes ----------------------------------------------------------------------------

#[tokio::test]
async fn kube_503_and_429_during_apply_are_retried() {
    let world = World::start().await;
    let Some(kube) = kube(&world) else { return };
    kube.inject_fault(
        KubeFault::new("/deployments/hello", 2, KubeFaultResponse::Status(503)).method("PATCH"),
    );
    kube.inject_fault(
        KubeFault::new(
            &format!("/api/v1/namespaces/{}", world.ns),
            1,
            KubeFaultResponse::TooManyRequests {
                retry_after_secs: 1,
            },
        )
        .method("PATCH"),
    );
    world.label_at(HEAD_SHA).await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    assert_eq!(kube_answered(kube, "PATCH", "/deployments/hello", 503), 2);
    assert_eq!(
        kube_answered(kube, "PATCH", &format!("/namespaces/{}", world.ns), 429),
        1
    );
}

#[tokio::test]
async fn kube_500_during_apply_fails_clearly_and_a_redeploy_repairs() {
    let world = World::start().await;
    let Some(kube) = kube(&world) else { return };
    kube.inject_fault(
        KubeFault::new("/deployments/hello", 1, KubeFaultResponse::Status(500)).method("PATCH"),
    );
    world.label_at(HEAD_SHA).await;
    let message = world.failure_message().await;
    assert!(
        message.contains("Deployment") && message.contains("500"),
        "the user is told what failed: {message}"
    );
    let comment = world.bot_comments().last().unwrap().body.clone();
    assert!(comment.contains("failed"), "{comment}");
    world.label_at(HEAD_SHA).await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
}

#[tokio::test]
async fn kube_500_on_teardown_is_reported_and_down_again_works() {
    let world = World::start().await;
    let Some(kube) = kube(&world) else { return };
    world.label_at(HEAD_SHA).await;
    kube.inject_fault(
        KubeFault::new(
            &format!("/api/v1/namespaces/{}", world.ns),
            1,
            KubeFaultResponse::Status(500),
        )
        .method("DELETE"),
    );
    let (_, ack) = world.slack_command(CHANNEL, "U0DEV", "down hello#2").await;
    assert!(ack.to_string().contains("hello#2"), "{ack}");
    world.settle().await;
    let ns = world
        .preview()
        .await
        .expect("still there after the failed delete");
    assert!(ns.metadata.deletion_timestamp.is_none());
    world.slack_command(CHANNEL, "U0DEV", "down hello#2").await;
    world.settle().await;
    world.wait_namespace_gone(&world.ns.clone()).await;
}

#[tokio::test]
async fn kube_500_on_point_changes_nothing() {
    let world = World::start().await;
    let Some(kube) = kube(&world) else { return };
    world.label_at(HEAD_SHA).await;
    kube.inject_fault(
        KubeFault::new("/services/payments", 1, KubeFaultResponse::Status(500)).method("PATCH"),
    );
    world
        .slack_command(CHANNEL, "U0DEV", "point hello#2 payments=staging")
        .await;
    world.settle().await;
    let ns = world.preview().await.unwrap();
    assert_eq!(World::annotation(&ns, annotations::POINTERS), None);
    let service = kube
        .object("v1", "Service", Some(&world.ns), "payments")
        .unwrap();
    assert_eq!(
        service["spec"]["externalName"],
        "payments.staging.svc.cluster.local"
    );
}

#[tokio::test]
async fn kube_500_on_seed_is_a_clear_seed_failure() {
    let world = World::start().await;
    let Some(kube) = kube(&world) else { return };
    world.label_at(HEAD_SHA).await;
    kube.inject_fault(KubeFault::new("/jobs/", 1, KubeFaultResponse::Status(500)).method("PATCH"));
    let answer = world
        .slack_conversation(CHANNEL, "U0DEV", "seed hello#2")
        .await;
    assert!(
        answer.contains("failed") && answer.contains("500"),
        "{answer}"
    );
    assert_eq!(
        phase(&world).await.as_deref(),
        Some("ready"),
        "the preview is untouched"
    );
}

/// A fault that answers 429 with `Retry-After: 1` once.
fn throttled(path: &str, method: &str) -> KubeFault {
    KubeFault::new(
        path,
        1,
        KubeFaultResponse::TooManyRequests {
            retry_after_secs: 1,
        },
    )
    .method(method)
}

fn hung(path: &str, method: &str) -> KubeFault {
    KubeFault::new(path, 1, KubeFaultResponse::Hang).method(method)
}

/// Deadline of one Kubernetes call in the scenario config (`bot.kubernetes_timeout`).
const KUBE_DEADLINE: &str = "no answer from the Kubernetes API within 5s";

#[tokio::test]
async fn kube_429_on_point_seed_and_teardown_is_waited_out() {
    let world = World::start().await;
    let Some(kube) = kube(&world) else { return };
    world.label_at(HEAD_SHA).await;

    kube.inject_fault(throttled("/services/payments", "PATCH"));
    world
        .slack_command(CHANNEL, "U0DEV", "point hello#2 payments=hello#2")
        .await;
    world.settle().await;
    let service = kube
        .object("v1", "Service", Some(&world.ns), "payments")
        .unwrap();
    assert_eq!(
        service["spec"]["externalName"],
        format!("payments.{}.svc.cluster.local", world.ns)
    );

    kube.inject_fault(throttled("/jobs/", "PATCH"));
    let answer = world
        .slack_conversation(CHANNEL, "U0DEV", "seed hello#2")
        .await;
    assert!(answer.contains("succeeded"), "{answer}");

    let ns = world.ns.clone();
    kube.inject_fault(throttled(&format!("/api/v1/namespaces/{ns}"), "DELETE"));
    world.slack_command(CHANNEL, "U0DEV", "down hello#2").await;
    world.settle().await;
    world.wait_namespace_gone(&ns).await;
    for (method, path) in [
        ("PATCH", "/services/payments"),
        ("PATCH", "/jobs/"),
        ("DELETE", ns.as_str()),
    ] {
        assert_eq!(kube_answered(kube, method, path, 429), 1, "{method} {path}");
    }
}

#[tokio::test]
async fn a_hung_kube_apply_fails_the_deploy_after_the_deadline_and_a_redeploy_repairs() {
    let world = World::start().await;
    let Some(kube) = kube(&world) else { return };
    kube.inject_fault(hung("/deployments/hello", "PATCH"));
    world.label_at(HEAD_SHA).await;
    let message = world.failure_message().await;
    assert!(
        message.contains("Deployment") && message.contains(KUBE_DEADLINE),
        "the user is told which step hung: {message}"
    );
    world.label_at(HEAD_SHA).await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
}

#[tokio::test]
async fn hung_kube_calls_in_down_point_and_seed_are_reported_and_change_nothing() {
    let world = World::start().await;
    let Some(kube) = kube(&world) else { return };
    world.label_at(HEAD_SHA).await;

    kube.inject_fault(hung("/services/payments", "PATCH"));
    let answer = world
        .slack_conversation(CHANNEL, "U0DEV", "point hello#2 payments=hello#2")
        .await;
    assert!(answer.contains(KUBE_DEADLINE), "{answer}");
    let ns = world.preview().await.unwrap();
    assert_eq!(World::annotation(&ns, annotations::POINTERS), None);

    kube.inject_fault(hung("/jobs/", "PATCH"));
    let answer = world
        .slack_conversation(CHANNEL, "U0DEV", "seed hello#2")
        .await;
    assert!(
        answer.contains("failed") && answer.contains(KUBE_DEADLINE),
        "{answer}"
    );

    let name = world.ns.clone();
    kube.inject_fault(hung(&format!("/api/v1/namespaces/{name}"), "DELETE"));
    let answer = world
        .slack_conversation(CHANNEL, "U0DEV", "down hello#2")
        .await;
    assert!(answer.contains(KUBE_DEADLINE), "{answer}");
    let ns = world
        .preview()
        .await
        .expect("still there after the hung delete");
    assert!(ns.metadata.deletion_timestamp.is_none());
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    world.slack_command(CHANNEL, "U0DEV", "down hello#2").await;
    world.settle().await;
    world.wait_namespace_gone(&name).await;
}

// ---- Kubernetes faults in the idle sweep ---------------------------------------------------

mod sweep {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use preview_bot::clock::{Clock, ManualClock};
    use preview_bot::schedule::leader::Leadership;
    use preview_bot::schedule::{Job, Scheduler};
    use std::sync::Arc;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 7, 30, 0)
            .single()
            .unwrap()
    }

    /// A ready preview, warned by one sweep, whose idle expiry has come.
    async fn expired_preview(idle_action: &str) -> (World, Arc<ManualClock>, Arc<Scheduler>) {
        let clock = ManualClock::new(t0());
        let world = World::start_with_options(WorldOptions {
            schedule: format!(
                "idle_ttl = \"24h\"\nwarn_before = \"1h\"\nidle_action = \"{idle_action}\""
            ),
            clock: Some(clock.clone()),
            ..WorldOptions::default()
        })
        .await;
        world.label_at(HEAD_SHA).await;
        let scheduler = Scheduler::new(world.engine(), Leadership::always());
        clock.set(t0() + chrono::Duration::hours(23) + chrono::Duration::minutes(1));
        let warned = scheduler.run_job(Job::IdleSweep, clock.now()).await;
        assert!(warned.summary.starts_with("1 warned"), "{warned:?}");
        clock.set(t0() + chrono::Duration::hours(24) + chrono::Duration::minutes(1));
        (world, clock, scheduler)
    }

    async fn sweep(scheduler: &Scheduler, clock: &ManualClock) -> String {
        scheduler.run_job(Job::IdleSweep, clock.now()).await.summary
    }

    /// A failed or hung delete leaves the preview for the next sweep, which finishes the job.
    async fn teardown_survives(fault: KubeFaultResponse) {
        let (world, clock, scheduler) = expired_preview("teardown").await;
        let Some(kube) = kube(&world) else { return };
        let name = world.ns.clone();
        kube.inject_fault(
            KubeFault::new(&format!("/api/v1/namespaces/{name}"), 1, fault).method("DELETE"),
        );
        let first = sweep(&scheduler, &clock).await;
        assert_eq!(first, "0 warned, 0 expired, 1 failed");
        let ns = world
            .preview()
            .await
            .expect("still there after the failed delete");
        assert!(ns.metadata.deletion_timestamp.is_none());
        assert_eq!(phase(&world).await.as_deref(), Some("failed"));
        let second = sweep(&scheduler, &clock).await;
        assert_eq!(second, "0 warned, 1 expired, 0 failed");
        world.settle().await;
        world.wait_namespace_gone(&name).await;
    }

    #[tokio::test]
    async fn a_500_on_an_idle_teardown_is_retried_by_the_next_sweep() {
        teardown_survives(KubeFaultResponse::Status(500)).await;
    }

    #[tokio::test]
    async fn a_hung_idle_teardown_fails_after_the_deadline_and_the_next_sweep_finishes() {
        teardown_survives(KubeFaultResponse::Hang).await;
    }

    #[tokio::test]
    async fn a_warning_nobody_received_is_given_again_before_any_teardown() {
        use preview_testkit::slack_api::{
            Fault as SlackFault, FaultResponse as SlackFaultResponse,
        };
        let clock = ManualClock::new(t0());
        let world = World::start_with_options(WorldOptions {
            schedule: "idle_ttl = \"24h\"\nwarn_before = \"1h\"".into(),
            clock: Some(clock.clone()),
            ..WorldOptions::default()
        })
        .await;
        world.label_at(HEAD_SHA).await;
        let scheduler = Scheduler::new(world.engine(), Leadership::always());
        world.slack.inject_fault(SlackFault::new(
            "chat.postMessage",
            usize::MAX,
            SlackFaultResponse::Status(503),
        ));
        world.github.inject_fault(
            HttpFault::new("/issues/2/comments", 1, HttpFaultResponse::Status(500))
                .with_method("POST"),
        );
        clock.set(t0() + chrono::Duration::hours(23) + chrono::Duration::minutes(1));
        assert_eq!(
            sweep(&scheduler, &clock).await,
            "0 warned, 0 expired, 0 failed"
        );
        let ns = world.preview().await.unwrap();
        let warned_for = World::annotation(&ns, annotations::WARNED_FOR).unwrap_or_default();
        assert_eq!(warned_for, "", "no warning is recorded");

        // Past the expiry nothing is torn down: the warning comes first, with full notice.
        world.slack.clear_faults();
        clock.set(t0() + chrono::Duration::hours(24) + chrono::Duration::minutes(1));
        assert_eq!(
            sweep(&scheduler, &clock).await,
            "1 warned, 0 expired, 0 failed"
        );
        let ns = world.preview().await.unwrap();
        assert_eq!(
            World::annotation(&ns, annotations::WARNED_FOR).as_deref(),
            Some("2026-11-24T08:31:00+00:00")
        );
        assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    }

    #[tokio::test]
    async fn a_429_on_an_idle_teardown_is_waited_out_in_the_same_sweep() {
        let (world, clock, scheduler) = expired_preview("teardown").await;
        let Some(kube) = kube(&world) else { return };
        let name = world.ns.clone();
        kube.inject_fault(throttled(&format!("/api/v1/namespaces/{name}"), "DELETE"));
        assert_eq!(
            sweep(&scheduler, &clock).await,
            "0 warned, 1 expired, 0 failed"
        );
        world.wait_namespace_gone(&name).await;
    }

    #[tokio::test]
    async fn a_failed_scale_down_leaves_the_counts_and_the_next_sweep_puts_it_to_sleep() {
        let (world, clock, scheduler) = expired_preview("sleep").await;
        let Some(kube) = kube(&world) else { return };
        kube.inject_fault(
            KubeFault::new(
                "/deployments/hello/scale",
                1,
                KubeFaultResponse::Status(500),
            )
            .method("PATCH"),
        );
        assert_eq!(
            sweep(&scheduler, &clock).await,
            "0 warned, 0 expired, 1 failed"
        );
        assert_eq!(phase(&world).await.as_deref(), Some("failed"));
        assert_eq!(
            sweep(&scheduler, &clock).await,
            "0 warned, 1 expired, 0 failed"
        );
        let ns = world.preview().await.unwrap();
        assert_eq!(phase(&world).await.as_deref(), Some("sleeping"));
        let counts = World::annotation(&ns, annotations::SLEEPING_REPLICAS).unwrap();
        assert!(
            counts.contains("\"Deployment/hello\":2"),
            "capped at deploy.max_replicas: {counts}"
        );
        let deployment = kube
            .object("apps/v1", "Deployment", Some(&world.ns), "hello")
            .unwrap();
        assert_eq!(deployment["spec"]["replicas"], 0);
    }
}

// ---- A restart between a sweep's claim and its act ------------------------------------------

/// Writes the phase a sweep claims into the record, as if the bot died right after the claim.
async fn claim_only(world: &World, phase: &str) {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(world.client.clone());
    let patch = serde_json::json!({"metadata": {"annotations": {annotations::PHASE: phase}}});
    api.patch(
        &world.ns,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_teardown_claimed_before_a_restart_is_finished_by_recovery() {
    let world = World::start().await;
    world.label_at(HEAD_SHA).await;
    claim_only(&world, "terminating").await;
    let recovered = preview_bot::recovery::recover(&world.engine()).await;
    assert_eq!(recovered.finished, 1, "{recovered:?}");
    world.wait_namespace_gone(&world.ns.clone()).await;
    // Nothing left to do the second time.
    let again = preview_bot::recovery::recover(&world.engine()).await;
    assert_eq!(again.finished, 0, "{again:?}");
}

#[tokio::test]
async fn a_sleep_claimed_before_a_restart_is_finished_by_recovery_with_the_counts() {
    let world = World::start().await;
    world.label_at(HEAD_SHA).await;
    claim_only(&world, "sleeping").await;
    let recovered = preview_bot::recovery::recover(&world.engine()).await;
    assert_eq!(recovered.finished, 1, "{recovered:?}");
    let ns = world.preview().await.unwrap();
    let counts = World::annotation(&ns, annotations::SLEEPING_REPLICAS).unwrap();
    assert!(
        counts.contains("\"Deployment/hello\":2"),
        "capped at deploy.max_replicas: {counts}"
    );
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(world.client.clone(), &world.ns);
    let replicas = api.get("hello").await.unwrap().spec.unwrap().replicas;
    assert_eq!(replicas, Some(0));
    assert_eq!(
        preview_bot::recovery::recover(&world.engine())
            .await
            .finished,
        0
    );
}

// ---- GitHub --------------------------------------------------------------------------------

#[tokio::test]
async fn github_5xx_on_reads_is_retried() {
    let world = World::start().await;
    world.github.inject_fault(
        HttpFault::new("/pulls/2", 2, HttpFaultResponse::Status(502)).with_method("GET"),
    );
    world.label_at(HEAD_SHA).await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    let (faulted, answered) = github_calls(&world, "GET", "/pulls/2");
    assert_eq!((faulted, answered >= 1), (2, true));
}

/// The orphan check lists each repository's open PRs: when that list fails (an error after
/// the retries, no access, not found), every preview of the repository is kept and none is
/// reported, exactly as when a single PR cannot be read.
#[tokio::test]
async fn a_repository_whose_open_prs_cannot_be_listed_keeps_all_its_previews() {
    use preview_bot::schedule::leader::Leadership;
    use preview_bot::schedule::{Job, Scheduler};
    let Some(world) = World::with_previews_behind_open_pulls(100, 4, 160).await else {
        return;
    };
    world.github.close_pull(OWNER, REPO, 101, true);
    world.github.close_pull(OWNER, REPO, 102, false);
    let engine = world.engine();
    let scheduler = Scheduler::new(engine.clone(), Leadership::always());
    let list = format!("/repos/{OWNER}/{REPO}/pulls?");
    let faults = [
        HttpFaultResponse::Status(500),
        HttpFaultResponse::Status(403),
        HttpFaultResponse::Status(404),
    ];
    for fault in faults {
        world.github.clear_calls();
        // The first page, or the second after a good first one.
        for after_first_page in [false, true] {
            world.github.clear_faults();
            let path = if after_first_page {
                format!("{list}state=open&per_page=100&page=2")
            } else {
                list.clone()
            };
            world
                .github
                .inject_fault(HttpFault::new(path, 100, fault.clone()).with_method("GET"));
            let digest = preview_bot::schedule::digest::gather(&engine, chrono::Utc::now())
                .await
                .unwrap();
            assert!(digest.orphans.is_empty(), "{fault:?}: {:?}", digest.orphans);
            assert_eq!(digest.rows.len(), 4);
            let sweep = scheduler
                .run_job(Job::OrphanSweep, chrono::Utc::now())
                .await;
            assert!(!sweep.acted, "{fault:?}: {sweep:?}");
            assert_eq!(sweep.summary, "no orphans");
        }
        let (faulted, _) = github_calls(&world, "GET", "/pulls");
        assert!(faulted >= 4, "{fault:?}: {faulted}");
        // Not even the closed ones' PRs are read: nothing is decided on a failed list.
        assert_eq!(
            github_calls(&world, "GET", "/pulls/10"),
            (0, 0),
            "{fault:?}"
        );
    }
    for pr in 100..104 {
        assert!(world.namespace(&world.hello_ns(pr)).await.is_some());
    }

    // Listed again: both are found.
    world.github.clear_faults();
    let sweep = scheduler
        .run_job(Job::OrphanSweep, chrono::Utc::now())
        .await;
    assert!(sweep.acted, "{sweep:?}");
    assert!(sweep.summary.contains("#101 was merged"), "{sweep:?}");
    assert!(sweep.summary.contains("#102 was closed"), "{sweep:?}");
}

#[tokio::test]
async fn github_5xx_on_creating_a_comment_never_duplicates_it() {
    let world = World::start().await;
    // The sticky comment's first creation fails; it is not repeated blindly (GitHub may have
    // created it), and the next update creates it once.
    world.github.inject_fault(
        HttpFault::new("/issues/2/comments", 1, HttpFaultResponse::Status(500)).with_method("POST"),
    );
    world.label_at(HEAD_SHA).await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    assert_eq!(sticky_comments(&world), 1, "{:?}", world.bot_comments());
    assert_eq!(github_calls(&world, "POST", "/issues/2/comments").0, 1);
}

#[tokio::test]
async fn github_rate_limits_are_waited_out() {
    let world = World::start().await;
    world.github.inject_fault(
        HttpFault::new(
            "/deployments",
            1,
            HttpFaultResponse::RateLimited {
                retry_after_secs: 1,
            },
        )
        .with_method("POST"),
    );
    // A secondary rate limit: 403 with Retry-After and GitHub's message.
    world.github.inject_fault(
        HttpFault::new(
            "/reactions",
            1,
            HttpFaultResponse::Raw {
                status: 403,
                headers: vec![
                    ("retry-after".into(), "1".into()),
                    ("content-type".into(), "application/json".into()),
                ],
                body: r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#.into(),
            },
        )
        .with_method("POST"),
    );
    world.label_at(HEAD_SHA).await;
    assert_eq!(
        world.github.deployments(OWNER, REPO).len(),
        1,
        "created once"
    );
    world
        .github
        .add_comment(OWNER, REPO, PR, 9300, "Codertocat", "/preview status");
    world
        .github_event(
            "issue_comment",
            &pr_comment_payload(9300, "/preview status"),
        )
        .await;
    world.settle().await;
    let reactions = world.github.reactions(9300);
    assert!(
        reactions.len() >= 2,
        "both reactions arrived: {reactions:?}"
    );
    assert_eq!(github_calls(&world, "POST", "/deployments").0, 1);
    assert_eq!(github_calls(&world, "POST", "/reactions").0, 1);
}

// ---- Slack ---------------------------------------------------------------------------------

#[tokio::test]
async fn slack_429_is_waited_out_and_5xx_on_updates_retried() {
    use preview_testkit::slack_api::{Fault, FaultResponse};
    let world = World::start().await;
    world.slack.inject_fault(Fault::new(
        "chat.postMessage",
        1,
        FaultResponse::RateLimited {
            retry_after_secs: 1,
        },
    ));
    world
        .slack
        .inject_fault(Fault::new("chat.update", 1, FaultResponse::Status(500)));
    world.label_at(HEAD_SHA).await;
    let messages = world.slack.messages(CHANNEL);
    let roots: Vec<_> = messages.iter().filter(|m| m.thread_ts.is_none()).collect();
    assert_eq!(roots.len(), 1, "one root message, not two: {messages:?}");
    assert!(
        roots[0].text.contains("ready"),
        "kept up to date: {}",
        roots[0].text
    );
    assert_eq!(slack_calls(&world, "chat.postMessage").0, 1);
    assert_eq!(slack_calls(&world, "chat.update").0, 1);
}

#[tokio::test]
async fn slack_down_does_not_stop_a_deploy() {
    use preview_testkit::slack_api::{Fault, FaultResponse};
    let world = World::start().await;
    world
        .slack
        .inject_fault(Fault::new("chat.", usize::MAX, FaultResponse::Status(503)));
    world.label_at(HEAD_SHA).await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    assert_eq!(sticky_comments(&world), 1, "GitHub still hears about it");
}

// ---- Hangs ---------------------------------------------------------------------------------
// The scenario config gives Slack and GitHub calls 2 s (`timeout`): a call that never answers
// fails then, and is retried only where repeating it is safe.

#[tokio::test]
async fn a_hung_github_read_times_out_and_is_retried() {
    let world = World::start().await;
    world
        .github
        .inject_fault(HttpFault::new("/pulls/2", 1, HttpFaultResponse::Hang).with_method("GET"));
    let started = std::time::Instant::now();
    world.label_at(HEAD_SHA).await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "bounded by the timeout, not the hang"
    );
    assert_eq!(github_calls(&world, "GET", "/pulls/2").0, 1);
}

#[tokio::test]
async fn a_hung_slack_update_times_out_and_is_retried_and_a_hung_post_is_not_repeated() {
    use preview_testkit::slack_api::{Fault, FaultResponse};
    let world = World::start().await;
    world
        .slack
        .inject_fault(Fault::new("chat.update", 1, FaultResponse::Hang));
    world
        .slack
        .inject_fault(Fault::new("chat.postMessage", 1, FaultResponse::Hang));
    world.label_at(HEAD_SHA).await;
    assert_eq!(phase(&world).await.as_deref(), Some("ready"));
    let messages = world.slack.messages(CHANNEL);
    let roots: Vec<_> = messages.iter().filter(|m| m.thread_ts.is_none()).collect();
    assert_eq!(
        roots.len(),
        1,
        "a timed-out post is not repeated blindly: {messages:?}"
    );
    assert!(roots[0].text.contains("ready"), "{}", roots[0].text);
    assert_eq!(slack_calls(&world, "chat.update").0, 1);
    assert_eq!(slack_calls(&world, "chat.postMessage").0, 1);
}

/// With the watch of the kill switch broken, the switch is read at each use: unknown never
/// means "off" (an incident is no time to fail open), and an unreadable switch refuses too.
/// Once the API lists again, the watch is back in sync.
#[tokio::test]
async fn with_the_kill_switch_watch_down_deploys_read_the_switch_and_never_fail_open() {
    let world = World::start().await;
    let Some(kube) = kube(&world) else { return };
    let view = world
        .bot
        .engine
        .kill_switch_view()
        .expect("the world's replica watches the kill switch")
        .clone();
    assert_eq!(view.current().map(|s| s.active), Some(false));
    // Lists and watches of the bot's ConfigMaps fail, and the open watch breaks (the watch that
    // follows the first list may also not be open yet: it then meets the fault).
    let config_maps = format!("/namespaces/{BOT_NAMESPACE}/configmaps");
    for verb in ["LIST", "WATCH"] {
        kube.inject_fault(
            KubeFault::new(&config_maps, 0, KubeFaultResponse::Status(500)).method(verb),
        );
    }
    kube.break_watches();
    tokio::time::timeout(std::time::Duration::from_secs(5), view.until_unsynced())
        .await
        .expect("the view knows it is out of sync");
    // Meanwhile another replica turns the switch on: the watch cannot tell.
    let other = world.another_replica(std::sync::Arc::new(preview_bot::clock::SystemClock));
    other
        .ops
        .update_kill_switch(|state| {
            state.active = true;
            state.by = Some("slack:U0ONCALL2".into());
            state.reason = Some("INC-13".into());
            true
        })
        .await
        .unwrap();
    assert!(!view.synced());
    kube.clear_requests();
    let refused = world
        .slack_conversation(CHANNEL, "U0DEV", "up hello#2")
        .await;
    assert!(
        refused.contains("frozen by the kill switch") && refused.contains("INC-13"),
        "{refused}"
    );
    assert!(
        kube.count_requests("GET", "/configmaps/preview-bot-state") >= 1,
        "the switch was read"
    );
    assert!(world.preview().await.is_none(), "nothing was deployed");
    // The read fails too: refused, with the reason.
    kube.inject_fault(
        KubeFault::new(
            "/configmaps/preview-bot-state",
            0,
            KubeFaultResponse::Status(500),
        )
        .method("GET"),
    );
    let refused = world
        .slack_conversation(CHANNEL, "U0DEV", "up hello#2")
        .await;
    assert!(
        refused.contains("the kill switch could not be read"),
        "{refused}"
    );
    assert!(world.preview().await.is_none(), "nothing was deployed");
    // The API answers again: the watch lists, and is back in sync with the switch on.
    kube.clear_faults();
    tokio::time::timeout(std::time::Duration::from_secs(15), view.until_synced())
        .await
        .expect("the watch is back");
    assert_eq!(view.current().map(|s| s.active), Some(true));
}
