//! Who may do what (SPEC sections 7 and 8): authorization on Slack and GitHub, the on-call kill
//! switch with its admin endpoint, and the audit log. Same world as the scenarios: the bot's
//! real router and clients against the fake Kubernetes, Slack and GitHub servers.
#![allow(clippy::unwrap_used)]

mod support;

use axum::body::Body;
use http::StatusCode;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use preview_bot::notify::reaction;
use preview_deploy::labels::annotations;
use preview_testkit::slack_api::SlashCommand;
use serde_json::{Value, json};
use support::*;

async fn slack(world: &World, channel: &str, user: &str, text: &str) -> String {
    world.slack_conversation(channel, user, text).await
}

/// A PR comment by `login`; returns the bot's new comments on the PR and the reactions.
async fn comment(world: &World, id: u64, login: &str, text: &str) -> (String, Vec<String>) {
    let before = world.bot_comments().len();
    let mut payload = pr_comment_payload(id, text);
    payload["comment"]["user"]["login"] = login.into();
    payload["sender"]["login"] = login.into();
    world.github.add_comment(OWNER, REPO, PR, id, login, text);
    let (status, _) = world.github_event("issue_comment", &payload).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    world.settle().await;
    let replies = world.bot_comments()[before..]
        .iter()
        .map(|c| c.body.clone())
        .collect::<Vec<_>>()
        .join("\n");
    (replies, world.github.reactions(id))
}

async fn admin(world: &World, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut request =
        http::Request::post("/admin/kill-switch").header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let (status, text) = world
        .send(request.body(Body::from(body.to_string())).unwrap())
        .await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn bot_namespace(world: &World) -> String {
    world.bot.engine.config.bot.namespace.clone()
}

async fn kill_switch_map(world: &World) -> Option<ConfigMap> {
    let api: kube::Api<ConfigMap> =
        kube::Api::namespaced(world.client.clone(), &bot_namespace(world));
    api.get_opt("preview-bot-state").await.unwrap()
}

/// The kill switch's entry in the state ConfigMap (which also holds other bookkeeping).
async fn kill_switch_entry(world: &World) -> Option<String> {
    kill_switch_map(world)
        .await
        .and_then(|m| m.data)
        .and_then(|d| d.get("kill-switch").cloned())
}

async fn audit_events(world: &World) -> Vec<Event> {
    let api: kube::Api<Event> = kube::Api::namespaced(world.client.clone(), &bot_namespace(world));
    api.list(&kube::api::ListParams::default().labels("preview-bot.dev/audit=true"))
        .await
        .unwrap()
        .items
}

fn audit_actions(events: &[Event]) -> Vec<(String, String, String)> {
    let mut entries: Vec<_> = events
        .iter()
        .map(|e| {
            let a = e.metadata.annotations.clone().unwrap_or_default();
            (
                e.event_time
                    .as_ref()
                    .map(|t| t.0.to_string())
                    .unwrap_or_default(),
                a.get("preview-bot.dev/audit-actor")
                    .cloned()
                    .unwrap_or_default(),
                a.get("preview-bot.dev/audit-action")
                    .cloned()
                    .unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
            )
        })
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|(_, actor, action, reason)| (actor, action, reason))
        .collect()
}

async fn hello_replicas(world: &World) -> i32 {
    let api: kube::Api<Deployment> = kube::Api::namespaced(world.client.clone(), &world.ns);
    api.get("hello")
        .await
        .unwrap()
        .spec
        .unwrap()
        .replicas
        .unwrap_or(1)
}

#[tokio::test]
async fn the_kill_switch_is_for_on_call_only() {
    let world = World::start().await;
    let writes = world.kube_writes();
    let answer = slack(&world, CHANNEL, "U0DEV", "kill-switch on \"INC-1\"").await;
    assert!(
        answer.contains("on-call only")
            && answer.contains("slack:U0DEV")
            && answer.contains(ONCALL_USER),
        "{answer}"
    );
    // Codertocat may write to the repository but is on no on-call list.
    let (reply, reactions) = comment(&world, 9001, "Codertocat", "/preview kill-switch on").await;
    assert!(reply.contains("on-call only"), "{reply}");
    assert!(
        reactions.contains(&reaction::FAILURE.to_string()),
        "{reactions:?}"
    );
    assert!(
        kill_switch_entry(&world).await.is_none(),
        "nothing was frozen"
    );
    if let Some(before) = writes {
        // Only the two audit Events of the refusals were written.
        assert_eq!(world.kube_writes().unwrap() - before, 2);
    }
    let denied = audit_actions(&audit_events(&world).await);
    assert_eq!(
        denied,
        [
            (
                "slack:U0DEV".to_string(),
                "kill-switch on INC-1".to_string(),
                "Denied".to_string()
            ),
            (
                "Codertocat".to_string(),
                "kill-switch on".to_string(),
                "Denied".to_string()
            ),
        ]
    );
    // Reading the switch is for everyone.
    let status = slack(&world, CHANNEL, "U0DEV", "kill-switch status").await;
    assert!(status.contains("Kill switch: off."), "{status}");
}

#[tokio::test]
async fn on_call_freezes_and_a_label_deploy_is_refused_with_the_reason() {
    let world = World::start().await;
    // On call through the Slack user group, typed in the ops channel (not an allowed channel).
    world
        .slack
        .set_usergroup_members(ONCALL_GROUP, ["U0RESPONDER"]);
    let answer = slack(
        &world,
        OPS_CHANNEL,
        "U0RESPONDER",
        "kill-switch on \"INC-123 db failover\"",
    )
    .await;
    assert!(answer.contains("Kill switch ON"), "{answer}");
    let announced = world.slack.messages(OPS_CHANNEL);
    assert!(
        announced
            .iter()
            .any(|m| m.text.contains("INC-123 db failover")),
        "{announced:?}"
    );

    world.label_at(HEAD_SHA).await;
    assert!(world.preview().await.is_none(), "nothing was deployed");
    let refusal = world.bot_comments().last().unwrap().body.clone();
    assert!(
        refusal.contains("frozen by the kill switch")
            && refusal.contains("slack:U0RESPONDER")
            && refusal.contains("INC-123 db failover")
            && refusal.contains("kill-switch off"),
        "{refusal}"
    );
    // A Slack `up` is refused the same way, and `status` shows who froze it and the audit log.
    let up = slack(&world, CHANNEL, "U0DEV", "up hello#2").await;
    assert!(up.contains("frozen by the kill switch"), "{up}");
    let status = slack(&world, CHANNEL, "U0DEV", "kill-switch status").await;
    assert!(
        status.contains("*ON*")
            && status.contains("slack:U0RESPONDER")
            && status.contains("Recent actions"),
        "{status}"
    );
    assert!(status.contains("pull_request labeled"), "{status}");

    // Lifting it lets the same label deploy.
    let off = slack(&world, OPS_CHANNEL, ONCALL_USER, "kill-switch off").await;
    assert!(off.contains("Kill switch OFF"), "{off}");
    world.label_at(HEAD_SHA).await;
    let ns = world
        .preview()
        .await
        .expect("deployed after the switch was lifted");
    assert_eq!(
        World::annotation(&ns, annotations::PHASE).as_deref(),
        Some("ready")
    );
}

#[tokio::test]
async fn scale_to_zero_then_restore_brings_back_the_recorded_counts() {
    let world = World::start().await;
    world.label_at(HEAD_SHA).await;
    let running = hello_replicas(&world).await;
    assert!(running > 0);
    let on = slack(
        &world,
        OPS_CHANNEL,
        ONCALL_USER,
        "kill-switch on INC-7 --scale-to-zero",
    )
    .await;
    assert!(
        on.contains("Scaled 1 workload(s) in 1 preview(s) to zero"),
        "{on}"
    );
    assert_eq!(hello_replicas(&world).await, 0);
    let state = kill_switch_map(&world).await.unwrap();
    let stored = &state.data.unwrap()["kill-switch"];
    assert!(stored.contains("\"level\":\"scale-to-zero\""), "{stored}");

    // A team member on GitHub lifts it from a PR comment.
    world
        .github
        .add_team_member(OWNER, ONCALL_TEAM, "octo-sre", "active");
    let (reply, reactions) = comment(
        &world,
        9100,
        "octo-sre",
        "/preview kill-switch off --restore",
    )
    .await;
    assert!(
        reply.contains("Kill switch OFF") && reply.contains("Restored 1 workload(s)"),
        "{reply}"
    );
    assert!(
        reactions.contains(&reaction::SUCCESS.to_string()),
        "{reactions:?}"
    );
    assert_eq!(hello_replicas(&world).await, running);
    let state = kill_switch_map(&world).await.unwrap();
    assert!(state.data.unwrap()["kill-switch"].contains("\"scaled\":{}"));

    // A pending team invitation is not membership.
    world
        .github
        .add_team_member(OWNER, ONCALL_TEAM, "invited", "pending");
    let (reply, _) = comment(&world, 9101, "invited", "/preview kill-switch on").await;
    assert!(reply.contains("on-call only"), "{reply}");
}

#[tokio::test]
async fn teardown_needs_a_confirmation() {
    let world = World::start().await;
    world.label_at(HEAD_SHA).await;
    assert!(world.preview().await.is_some());
    // Install tooling may label the bot's own namespace like a preview's, and its default name
    // `preview-bot` is inside the default prefix: it must survive a teardown of everything.
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(world.client.clone());
    namespaces
        .patch(
            &bot_namespace(&world),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "preview-bot"}}}),
            ),
        )
        .await
        .unwrap();
    let first = slack(
        &world,
        OPS_CHANNEL,
        ONCALL_USER,
        "kill-switch on INC-9 --teardown",
    )
    .await;
    assert!(
        first.contains("To confirm") && first.contains("hello#2"),
        "{first}"
    );
    let ns = world
        .preview()
        .await
        .expect("not deleted before the confirmation");
    assert!(ns.metadata.deletion_timestamp.is_none());
    let second = slack(
        &world,
        OPS_CHANNEL,
        ONCALL_USER,
        "kill-switch on INC-9 --teardown",
    )
    .await;
    assert!(second.contains("Tore down 1 preview(s)"), "{second}");
    world.wait_namespace_gone(&world.ns.clone()).await;
    // The bot's own namespace and unmanaged ones are untouched.
    let own = world.namespace(&bot_namespace(&world)).await.unwrap();
    assert!(own.metadata.deletion_timestamp.is_none());
    assert!(world.namespace(SHARED_NAMESPACE).await.is_some());
}

#[tokio::test]
async fn a_reader_is_refused_and_an_owner_may_end_their_own_preview() {
    let world = World::start().await;
    world
        .github
        .set_permission(OWNER, REPO, "octo-reader", "read");
    let writes = world.kube_writes();
    let (reply, reactions) = comment(&world, 9200, "octo-reader", "/preview up").await;
    assert!(
        reply.contains("refused") && reply.contains("@octo-reader has `read` access"),
        "{reply}"
    );
    assert!(
        reactions.contains(&reaction::FAILURE.to_string()),
        "{reactions:?}"
    );
    assert!(world.preview().await.is_none());
    if let Some(before) = writes {
        assert_eq!(
            world.kube_writes().unwrap() - before,
            1,
            "only the audit Event"
        );
    }
    // Reading is allowed.
    let (reply, _) = comment(&world, 9201, "octo-reader", "/preview status").await;
    assert!(reply.contains("hello#2"), "{reply}");

    // Codertocat opened the PR: after losing write access they may still end their preview,
    // but not redeploy it.
    world.label_at(HEAD_SHA).await;
    world
        .github
        .set_permission(OWNER, REPO, "Codertocat", "read");
    let (reply, _) = comment(&world, 9202, "Codertocat", "/preview redeploy").await;
    assert!(reply.contains("has `read` access"), "{reply}");
    let (reply, reactions) = comment(&world, 9203, "Codertocat", "/preview down").await;
    assert!(
        reactions.contains(&reaction::SUCCESS.to_string()),
        "{reply} {reactions:?}"
    );
}

#[tokio::test]
async fn the_admin_endpoint_needs_its_token() {
    let world = World::start().await;
    let (status, body) = admin(&world, None, json!({"action": "on"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = admin(&world, Some("wrong"), json!({"action": "on"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(kill_switch_entry(&world).await.is_none());
    let (status, body) = admin(&world, Some(ADMIN_TOKEN), json!({"action": "explode"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = admin(
        &world,
        Some(ADMIN_TOKEN),
        json!({"action": "on", "mode": "teardown"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(kill_switch_entry(&world).await.is_none(), "nothing changed");

    let (status, body) = admin(
        &world,
        Some(ADMIN_TOKEN),
        json!({"action": "on", "reason": "INC-42 from PagerDuty", "actor": "pagerduty"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kill_switch"]["active"], true);
    assert_eq!(body["kill_switch"]["by"], "admin:pagerduty");
    let up = slack(&world, CHANNEL, "U0DEV", "up hello#2").await;
    assert!(up.contains("INC-42 from PagerDuty"), "{up}");
    let (status, body) = admin(&world, Some(ADMIN_TOKEN), json!({"action": "status"})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["message"].as_str().unwrap().contains("*ON*"), "{body}");
    let (status, body) = admin(&world, Some(ADMIN_TOKEN), json!({"action": "off"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kill_switch"]["active"], false);
}

#[tokio::test]
async fn every_action_is_in_the_audit_log() {
    let world = World::start().await;
    world.label_at(HEAD_SHA).await;
    slack(&world, CHANNEL, "U0DEV", "point hello#2 payments=staging").await;
    slack(&world, CHANNEL, "U0DEV", "status hello#2").await;
    slack(&world, OPS_CHANNEL, ONCALL_USER, "kill-switch on drill").await;
    slack(&world, CHANNEL, "U0DEV", "seed hello#2").await;
    slack(&world, OPS_CHANNEL, ONCALL_USER, "kill-switch off").await;
    slack(&world, CHANNEL, "U0DEV", "down hello#2").await;
    let entries = audit_actions(&audit_events(&world).await);
    let expected = [
        ("Codertocat", "pull_request labeled", "Succeeded"),
        ("slack:U0DEV", "point hello#2 payments=staging", "Succeeded"),
        ("slack:U0ONCALL1", "kill-switch on drill", "Succeeded"),
        ("slack:U0DEV", "seed hello#2", "Refused"),
        ("slack:U0ONCALL1", "kill-switch off", "Succeeded"),
        ("slack:U0DEV", "down hello#2", "Succeeded"),
    ]
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(entries, expected, "status (a read) is not audited");
    let events = audit_events(&world).await;
    let event = &events[0];
    assert_eq!(
        event.reporting_controller.as_deref(),
        Some("preview-bot.dev/preview-bot")
    );
    assert!(event.note.as_deref().unwrap_or_default().len() <= 1024);
}

/// An `up`'s audit entry is written while its outcome is saved and reported, not after; it
/// records the outcome all the same.
#[tokio::test]
async fn an_ups_audit_entry_is_written_while_its_outcome_is_saved() {
    let world = World::start().await;
    let Some(kube) = world.kube.clone() else {
        return;
    };
    // Every request takes a while: requests sent together arrive together, and one sent after
    // another's answer arrives at least that much later.
    const LATENCY: std::time::Duration = std::time::Duration::from_millis(40);
    kube.set_latency(LATENCY);
    kube.clear_requests();
    let answer = slack(&world, CHANNEL, "U0DEV", "up hello#2").await;
    assert!(answer.contains("is ready"), "{answer}");
    let requests = kube.requests();
    let namespace = format!("/api/v1/namespaces/{}", world.ns);
    let outcome_saved = requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == namespace)
        .map(|r| r.at)
        .max()
        .expect("the record saved");
    let audited = requests
        .iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/events"))
        .map(|r| r.at)
        .expect("the audit Event");
    assert!(
        audited < outcome_saved + LATENCY,
        "the audit Event waited for the outcome's save"
    );
    let entries = audit_actions(&audit_events(&world).await);
    assert_eq!(
        entries,
        [(
            "slack:U0DEV".to_string(),
            "up hello#2".to_string(),
            "Succeeded".to_string()
        )]
    );
}

#[tokio::test]
async fn slack_user_groups_restrict_changes_and_failures_refuse() {
    let world =
        World::start_configured(false, "\n[access]\nslack_usergroups = [\"S0PLATFORM\"]\n").await;
    world
        .slack
        .set_usergroup_members("S0PLATFORM", ["U0MEMBER"]);
    let writes = world.kube_writes();
    // Slack failing to answer (through every retry) is a refusal, not a pass.
    world
        .slack
        .inject_fault(preview_testkit::slack_api::Fault::new(
            "usergroups.users.list",
            preview_bot::retry::RetryPolicy::default().attempts as usize,
            preview_testkit::slack_api::FaultResponse::Status(500),
        ));
    let failed = slack(&world, CHANNEL, "U0MEMBER", "up hello#2").await;
    assert!(failed.contains("couldn't read the members"), "{failed}");
    let refused = slack(&world, CHANNEL, "U0DEV", "up hello#2").await;
    assert!(
        refused.contains("<@U0DEV> is in none of the user groups")
            && refused.contains("S0PLATFORM"),
        "{refused}"
    );
    // Reading needs no membership.
    let status = slack(&world, CHANNEL, "U0DEV", "status hello#2").await;
    assert!(status.contains("hello#2"), "{status}");
    if let Some(before) = writes {
        assert_eq!(
            world.kube_writes().unwrap() - before,
            2,
            "only the audit Events"
        );
    }
    assert!(world.preview().await.is_none());
    let ok = slack(&world, CHANNEL, "U0MEMBER", "up hello#2").await;
    assert!(ok.contains("is ready"), "{ok}");
}

/// A signed `block_actions` delivery: `user` pressed the bot's teardown confirmation button.
async fn press_confirm(world: &World, user: &str, response_id: &str, secret: &str) -> StatusCode {
    let payload = confirm_teardown_press(world, user, response_id);
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let timestamp = chrono::Utc::now().timestamp();
    let request = http::Request::post("/slack/interactions")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header(
            "x-slack-signature",
            preview_testkit::slack_api::slack_signature(secret, timestamp, &body),
        )
        .body(Body::from(body))
        .unwrap();
    let (status, _) = world.send(request).await;
    world.settle().await;
    status
}

#[tokio::test]
async fn a_teardown_is_confirmed_with_a_slack_button_by_on_call_only() {
    let world = World::start().await;
    world.label_at(HEAD_SHA).await;
    let id = "oncall-teardown";
    let mut command =
        SlashCommand::new(OPS_CHANNEL, ONCALL_USER, "kill-switch on INC-9 --teardown");
    command.response_url = world.slack.response_url(id);
    world
        .slack_signed(
            &command,
            chrono::Utc::now().timestamp(),
            SLACK_SIGNING_SECRET,
        )
        .await;
    world.settle().await;
    let answer = world.slack.responses(id)[0].clone();
    let button = &answer["blocks"][1]["elements"][0];
    assert_eq!(
        button["action_id"], "kill_switch_confirm_teardown",
        "{answer}"
    );
    assert_eq!(button["style"], "danger");

    // Forged or malformed deliveries change nothing.
    assert_eq!(
        press_confirm(&world, ONCALL_USER, "forged", "not-the-secret").await,
        StatusCode::UNAUTHORIZED
    );
    let timestamp = chrono::Utc::now().timestamp();
    let malformed = http::Request::post("/slack/interactions")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header(
            "x-slack-signature",
            preview_testkit::slack_api::slack_signature(
                SLACK_SIGNING_SECRET,
                timestamp,
                "payload=%7Bnope",
            ),
        )
        .body(Body::from("payload=%7Bnope"))
        .unwrap();
    assert_eq!(world.send(malformed).await.0, StatusCode::BAD_REQUEST);

    // Someone not on call pressing it is refused.
    assert_eq!(
        press_confirm(&world, "U0DEV", "dev-press", SLACK_SIGNING_SECRET).await,
        StatusCode::OK
    );
    let refused = world.slack.responses("dev-press")[0]["text"].to_string();
    assert!(refused.contains("on-call only"), "{refused}");
    assert!(
        world
            .preview()
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );

    assert_eq!(
        press_confirm(&world, ONCALL_USER, "oncall-press", SLACK_SIGNING_SECRET).await,
        StatusCode::OK
    );
    let done = world.slack.responses("oncall-press")[0]["text"].to_string();
    assert!(done.contains("Tore down 1 preview(s)"), "{done}");
    world.wait_namespace_gone(&world.ns.clone()).await;
}

#[tokio::test]
async fn the_kill_switch_stops_a_deploy_that_is_running() {
    let world = World::start().await;
    // A commit whose pods never become ready: the deploy would wait for its whole timeout.
    world.github.set_head(OWNER, REPO, PR, BAD_IMAGE_SHA);
    let mut labeled = labeled_payload();
    labeled["pull_request"]["head"]["sha"] = BAD_IMAGE_SHA.into();
    world.github_event("pull_request", &labeled).await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let started = std::time::Instant::now();
    let on = slack(&world, OPS_CHANNEL, ONCALL_USER, "kill-switch on INC-11").await;
    assert!(on.contains("Kill switch ON"), "{on}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "the running deploy did not hold the switch up"
    );
    let message = world.failure_message().await;
    assert!(
        message.contains("Stopped deploying `baadbaa`") && message.contains("kill switch"),
        "{message}"
    );
}

/// A kill switch turned on by another replica stops this replica's deploy at once, through
/// this replica's watch of the state ConfigMap: not when the deploy next reads the switch
/// (before its app wave, after the dependencies it waits for), and without reading it.
#[tokio::test]
async fn a_kill_switch_turned_on_by_another_replica_stops_a_deploy_here() {
    let world = World::start().await;
    let Some(kube) = &world.kube else {
        eprintln!(
            "SKIPPED on a real cluster: dependencies that never get ready need the simulated one"
        );
        return;
    };
    let other = world.another_replica(std::sync::Arc::new(preview_bot::clock::SystemClock));
    kube.clear_requests();
    // The shop's deploy would wait for its database until its timeout.
    let ns = world.start_shop_stuck_on_its_database(kube).await;

    let started = std::time::Instant::now();
    other
        .ops
        .update_kill_switch(|state| {
            state.active = true;
            state.by = Some("slack:U0ONCALL2".into());
            state.reason = Some("INC-12".into());
            state.since = Some(chrono::Utc::now());
            true
        })
        .await
        .unwrap();
    world.settle().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the deploy waited for its dependencies ({:?})",
        started.elapsed()
    );
    let record = world.namespace(&ns).await.expect("the shop preview");
    assert_eq!(
        World::annotation(&record, annotations::PHASE).as_deref(),
        Some("failed")
    );
    let message = World::annotation(&record, annotations::MESSAGE).unwrap_or_default();
    assert!(
        message.contains("Stopped deploying") && message.contains("kill switch"),
        "{message}"
    );
    // The one read of the switch is the other replica's read-modify-write.
    let reads = kube
        .requests()
        .iter()
        .filter(|r| r.verb() == "GET" && r.path.ends_with("/configmaps/preview-bot-state"))
        .count();
    assert_eq!(reads, 1, "this replica read the kill switch");
    // New deploys here are refused from the watch too.
    let refused = slack(&world, CHANNEL, "U0DEV", "up hello#2").await;
    assert!(refused.contains("frozen by the kill switch"), "{refused}");
}
