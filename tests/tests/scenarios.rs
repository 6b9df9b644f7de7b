//! SPEC section 1 journeys, end to end: signed requests from Slack and GitHub through the bot's
//! real router, the real kube/octocrab/slack-morphism clients, and the fake APIs.
#![allow(clippy::unwrap_used)]

mod support;

use http::StatusCode;
use k8s_openapi::api::apps::v1::Deployment;
use preview_deploy::labels::annotations;
use support::*;

fn deployment_image(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .image
        .clone()
        .unwrap()
}

async fn hello_deployment(world: &World) -> Deployment {
    let api: kube::Api<Deployment> = kube::Api::namespaced(world.client.clone(), &world.ns);
    api.get("hello").await.unwrap()
}

#[tokio::test]
async fn label_push_comment_down_journey() {
    let world = World::start().await;

    // A developer labels PR 2 `preview`.
    let (status, _) = world.github_event("pull_request", &labeled_payload()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    world.settle().await;

    let ns = world.preview().await.expect("preview namespace");
    assert_eq!(
        World::annotation(&ns, annotations::PHASE).as_deref(),
        Some("ready")
    );
    assert_eq!(
        World::annotation(&ns, annotations::HEAD_SHA).as_deref(),
        Some(HEAD_SHA)
    );
    assert_eq!(
        World::annotation(&ns, annotations::URL).as_deref(),
        Some(URL)
    );
    let deployment = hello_deployment(&world).await;
    if world.simulated() {
        assert_eq!(
            deployment_image(&deployment),
            format!("ghcr.io/codertocat/hello-world:{HEAD_SHA}")
        );
    }
    assert_eq!(
        deployment.spec.as_ref().unwrap().replicas,
        Some(2),
        "replicas are capped"
    );
    assert_eq!(
        deployment.status.as_ref().unwrap().available_replicas,
        Some(2)
    );

    // The PR shows the URL in one sticky comment and a successful Deployment.
    let comments = world.bot_comments();
    assert_eq!(comments.len(), 1, "one sticky comment: {comments:?}");
    assert!(comments[0].body.contains(URL), "{}", comments[0].body);
    assert!(comments[0].body.contains("ready"), "{}", comments[0].body);
    let deployments = world.github.deployments(OWNER, REPO);
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0].environment, "preview/hello-pr-2");
    assert!(deployments[0].transient);
    let states: Vec<String> = world
        .github
        .deployment_statuses(deployments[0].id)
        .iter()
        .map(|s| s.state.clone())
        .collect();
    assert_eq!(states, ["in_progress", "success"]);
    let last = world
        .github
        .deployment_statuses(deployments[0].id)
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last.environment_url.as_deref(), Some(URL));

    // Slack: one root message in the app's channel, kept up to date, progress in its thread.
    let messages = world.slack.messages(CHANNEL);
    let roots: Vec<_> = messages.iter().filter(|m| m.thread_ts.is_none()).collect();
    assert_eq!(roots.len(), 1, "{messages:?}");
    assert!(
        roots[0].text.contains("ready") && roots[0].text.contains(URL),
        "{}",
        roots[0].text
    );
    let thread = world.slack.thread(CHANNEL, &roots[0].ts);
    assert!(
        thread
            .iter()
            .any(|m| m.text.contains("Deploying `ec26c3e`")),
        "{thread:?}"
    );
    assert!(
        thread
            .iter()
            .any(|m| m.text.contains(&format!("ready at {URL}"))),
        "{thread:?}"
    );

    // A push redeploys at the new commit, editing the same sticky comment.
    world.github.set_head(OWNER, REPO, PR, SECOND_SHA);
    let (status, _) = world
        .github_event("pull_request", &push_payload(SECOND_SHA))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    world.settle().await;
    let ns = world.preview().await.unwrap();
    assert_eq!(
        World::annotation(&ns, annotations::HEAD_SHA).as_deref(),
        Some(SECOND_SHA)
    );
    let env = hello_deployment(&world)
        .await
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .env
        .clone()
        .unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "PREVIEW_SHA" && e.value.as_deref() == Some(SECOND_SHA)),
        "{env:?}"
    );
    if world.simulated() {
        assert_eq!(
            deployment_image(&hello_deployment(&world).await),
            format!("ghcr.io/codertocat/hello-world:{SECOND_SHA}")
        );
    }
    let comments = world.bot_comments();
    assert_eq!(comments.len(), 1, "still one sticky comment");
    assert!(comments[0].body.contains("5d4c2f4"), "{}", comments[0].body);
    assert_eq!(
        world.github.deployments(OWNER, REPO).len(),
        2,
        "one Deployment per commit"
    );

    // `/preview down` in a PR comment tears it down.
    world
        .github
        .add_comment(OWNER, REPO, PR, 9001, "Codertocat", "/preview down");
    let (status, _) = world
        .github_event("issue_comment", &pr_comment_payload(9001, "/preview down"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    world.settle().await;
    world.wait_namespace_gone(&world.ns).await;
    let reactions = world.github.reactions(9001);
    assert!(
        reactions.contains(&"eyes".to_string()) && reactions.contains(&"rocket".to_string()),
        "{reactions:?}"
    );
    let deployments = world.github.deployments(OWNER, REPO);
    let latest = deployments.iter().max_by_key(|d| d.id).unwrap();
    assert_eq!(
        world
            .github
            .deployment_statuses(latest.id)
            .last()
            .unwrap()
            .state,
        "inactive"
    );
    let comments = world.bot_comments();
    assert!(
        comments[0].body.contains("torn down"),
        "{}",
        comments[0].body
    );
}

#[tokio::test]
async fn slack_up_and_status() {
    let world = World::start().await;
    let (status, answer) = world.slack_command(CHANNEL, "U0DEV", "up hello#2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        answer["text"].as_str().unwrap().contains("hello#2"),
        "{answer}"
    );
    world.settle().await;
    let ns = world.preview().await.expect("namespace");
    assert_eq!(
        World::annotation(&ns, annotations::PHASE).as_deref(),
        Some("ready")
    );
    assert_eq!(
        World::annotation(&ns, annotations::SLACK_CHANNEL).as_deref(),
        Some(CHANNEL)
    );

    let mut status_command =
        preview_testkit::slack_api::SlashCommand::new(CHANNEL, "U0DEV", "status hello#2");
    status_command.response_url = world.slack.response_url("status-1");
    let (status, _) = world
        .slack_signed(
            &status_command,
            chrono::Utc::now().timestamp(),
            SLACK_SIGNING_SECRET,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    world.settle().await;
    let responses = world.slack.responses("status-1");
    assert_eq!(responses.len(), 1, "{responses:?}");
    let text = responses[0]["text"].as_str().unwrap();
    assert!(
        text.contains("ready") && text.contains(URL) && text.contains(&world.ns),
        "{text}"
    );
    assert!(text.contains("2/2 available"), "{text}");
}

#[tokio::test]
async fn forged_replayed_and_unsigned_requests_change_nothing() {
    let world = World::start().await;
    let before = world.kube_writes();
    let command = preview_testkit::slack_api::SlashCommand::new(CHANNEL, "U0DEV", "up hello#2");
    let now = chrono::Utc::now().timestamp();
    let (status, _) = world.slack_signed(&command, now, "not-the-secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = world
        .slack_signed(&command, now - 301, SLACK_SIGNING_SECRET)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "outside the 5-minute window"
    );
    let unsigned = http::Request::post("/slack/commands")
        .body(axum::body::Body::from("text=up+hello%232"))
        .unwrap();
    assert_eq!(world.send(unsigned).await.0, StatusCode::UNAUTHORIZED);

    let body = serde_json::to_string(&labeled_payload()).unwrap();
    let forged = preview_testkit::github_api::signed_webhook("wrong secret", "pull_request", &body);
    let mut request = http::Request::post("/github/webhook");
    for (name, value) in forged {
        request = request.header(name, value);
    }
    assert_eq!(
        world
            .send(request.body(axum::body::Body::from(body.clone())).unwrap())
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let unsigned = http::Request::post("/github/webhook")
        .header("X-GitHub-Event", "pull_request")
        .body(axum::body::Body::from(body))
        .unwrap();
    assert_eq!(world.send(unsigned).await.0, StatusCode::UNAUTHORIZED);

    world.settle().await;
    assert_eq!(world.kube_writes(), before, "no Kubernetes writes");
    assert!(world.bot_comments().is_empty());
    assert!(world.slack.messages(CHANNEL).is_empty());
}

#[tokio::test]
async fn malformed_commands_get_an_answer_and_change_nothing() {
    let world = World::start().await;
    let before = world.kube_writes();
    let (status, answer) = world.slack_command(CHANNEL, "U0DEV", "upp hello#2").await;
    assert_eq!(status, StatusCode::OK);
    let text = answer["text"].as_str().unwrap();
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(text.contains("`upp`") && text.contains("`up`"), "{text}");
    let (_, answer) = world
        .slack_command(CHANNEL, "U0DEV", "up nosuchapp#2")
        .await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("Unknown app `nosuchapp`"),
        "{answer}"
    );
    let (_, answer) = world.slack_command(CHANNEL, "U0DEV", "up").await;
    assert!(
        answer["text"].as_str().unwrap().contains("APP#N"),
        "{answer}"
    );
    let (_, answer) = world
        .slack_command("C0ELSEWHERE", "U0DEV", "up hello#2")
        .await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("can't be managed from this channel"),
        "{answer}"
    );

    world
        .github
        .add_comment(OWNER, REPO, PR, 9002, "Codertocat", "/preview dwn");
    let (status, _) = world
        .github_event("issue_comment", &pr_comment_payload(9002, "/preview dwn"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    world.settle().await;
    let comments = world.bot_comments();
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("`dwn`") && comments[0].body.contains("`down`"),
        "{}",
        comments[0].body
    );
    assert!(
        world
            .github
            .reactions(9002)
            .contains(&"confused".to_string())
    );

    let malformed = http::Request::post("/github/webhook");
    let body = "{not json";
    let mut request = malformed;
    for (name, value) in
        preview_testkit::github_api::signed_webhook(GITHUB_WEBHOOK_SECRET, "pull_request", body)
    {
        request = request.header(name, value);
    }
    assert_eq!(
        world
            .send(request.body(axum::body::Body::from(body)).unwrap())
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(world.kube_writes(), before, "no Kubernetes writes");
}

#[tokio::test]
async fn oversize_bodies_are_refused() {
    let world = World::start().await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let mut request = http::Request::post("/github/webhook");
    for (name, value) in
        preview_testkit::github_api::signed_webhook(GITHUB_WEBHOOK_SECRET, "pull_request", &huge)
    {
        request = request.header(name, value);
    }
    assert_eq!(
        world
            .send(request.body(axum::body::Body::from(huge)).unwrap())
            .await
            .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn events_that_need_nothing_do_nothing() {
    let world = World::start().await;
    let before = world.kube_writes();
    // A push to a PR without a preview, a label that is not the trigger, a ping, a bot's comment.
    world
        .github_event("pull_request", &push_payload(SECOND_SHA))
        .await;
    let plain_label = preview_testkit::fixtures::json("github/pull_request.labeled.json");
    world.github_event("pull_request", &plain_label).await;
    let (status, body) = world
        .github_event("ping", &preview_testkit::fixtures::json("github/ping.json"))
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "pong"));
    let mut by_bot = pr_comment_payload(9003, "/preview up");
    by_bot["sender"]["type"] = "Bot".into();
    by_bot["comment"]["user"]["type"] = "Bot".into();
    world.github_event("issue_comment", &by_bot).await;
    // A comment on a plain issue (the published payload as is).
    world
        .github_event(
            "issue_comment",
            &preview_testkit::fixtures::json("github/issue_comment.created.json"),
        )
        .await;
    world.settle().await;
    assert_eq!(world.kube_writes(), before);
    assert!(world.bot_comments().is_empty());
}

#[tokio::test]
async fn duplicate_deliveries_have_one_effect() {
    let world = World::start().await;
    let body = serde_json::to_string(&labeled_payload()).unwrap();
    let headers =
        preview_testkit::github_api::signed_webhook(GITHUB_WEBHOOK_SECRET, "pull_request", &body);
    for expected in [StatusCode::ACCEPTED, StatusCode::OK] {
        let mut request = http::Request::post("/github/webhook");
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        assert_eq!(
            world
                .send(request.body(axum::body::Body::from(body.clone())).unwrap())
                .await
                .0,
            expected
        );
    }
    world.settle().await;
    assert_eq!(world.github.deployments(OWNER, REPO).len(), 1);
    // The delivery id is kept for every replica, apart from the kill switch, whose ConfigMap
    // each replica watches: a webhook does not wake those watches.
    let delivery = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-github-delivery"))
        .map(|(_, value)| value.to_string())
        .expect("a delivery id");
    let config_maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(world.client.clone(), BOT_NAMESPACE);
    let deliveries = config_maps
        .get(preview_deploy::ops::DELIVERIES_CONFIG_MAP)
        .await
        .expect("the deliveries ConfigMap");
    assert!(
        deliveries.data.unwrap_or_default()["github-deliveries"].contains(&delivery),
        "the delivery id is remembered"
    );
    if let Some(kube) = &world.kube {
        let state_writes = kube
            .requests()
            .into_iter()
            .filter(|r| {
                matches!(r.method.as_str(), "POST" | "PUT" | "PATCH")
                    && r.path
                        .starts_with(&format!("/api/v1/namespaces/{BOT_NAMESPACE}/configmaps"))
                    && (r.path.ends_with(preview_deploy::ops::STATE_CONFIG_MAP)
                        || r.body.contains(preview_deploy::ops::STATE_CONFIG_MAP))
            })
            .count();
        assert_eq!(state_writes, 0, "the kill switch's ConfigMap was written");
    }
}

#[tokio::test]
async fn merged_pr_frees_the_preview() {
    let world = World::start().await;
    world.github_event("pull_request", &labeled_payload()).await;
    world.settle().await;
    assert!(world.preview().await.is_some());
    world.github.close_pull(OWNER, REPO, PR, true);
    let (status, _) = world.github_event("pull_request", &merged_payload()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    world.settle().await;
    world.wait_namespace_gone(&world.ns).await;
    // An `up` on the closed PR is refused with the reason.
    let mut command = preview_testkit::slack_api::SlashCommand::new(CHANNEL, "U0DEV", "up hello#2");
    command.response_url = world.slack.response_url("closed-up");
    world
        .slack_signed(
            &command,
            chrono::Utc::now().timestamp(),
            SLACK_SIGNING_SECRET,
        )
        .await;
    world.settle().await;
    assert!(world.preview().await.is_none());
    let answer = world.slack.responses("closed-up")[0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(answer.contains("is closed"), "{answer}");
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_fails_with_the_reason() {
    let world = World::start().await;
    world.label_at(BAD_IMAGE_SHA).await;
    let message = world.failure_message().await;
    assert!(message.contains("ImagePullBackOff"), "{message}");
    let comment = &world.bot_comments()[0].body;
    assert!(
        comment.contains("failed") && comment.contains("ImagePullBackOff"),
        "{comment}"
    );
    let deployment = &world.github.deployments(OWNER, REPO)[0];
    assert_eq!(
        world
            .github
            .deployment_statuses(deployment.id)
            .last()
            .unwrap()
            .state,
        "failure"
    );
}

#[tokio::test]
async fn an_unmanaged_namespace_is_never_touched() {
    let world = World::start().await;
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(world.client.clone());
    let foreign = serde_json::from_value(serde_json::json!({
        "metadata": {"name": world.ns, "labels": {"team": "payments"}}
    }))
    .unwrap();
    namespaces
        .create(&Default::default(), &foreign)
        .await
        .unwrap();
    world.github_event("pull_request", &labeled_payload()).await;
    world
        .github
        .add_comment(OWNER, REPO, PR, 9004, "Codertocat", "/preview down");
    world
        .github_event("issue_comment", &pr_comment_payload(9004, "/preview down"))
        .await;
    world.settle().await;
    let ns = world.preview().await.expect("still there");
    assert!(ns.metadata.deletion_timestamp.is_none());
    assert!(ns.metadata.annotations.unwrap_or_default().is_empty());
    let bodies: Vec<String> = world.bot_comments().into_iter().map(|c| c.body).collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("not managed by preview-bot")),
        "{bodies:?}"
    );
    namespaces
        .delete(&world.ns, &Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn as_a_github_app_the_bot_uses_installation_tokens() {
    let world = World::start_with(true).await;
    world.github_event("pull_request", &labeled_payload()).await;
    world.settle().await;
    let ns = world.preview().await.expect("namespace");
    assert_eq!(
        World::annotation(&ns, annotations::PHASE).as_deref(),
        Some("ready")
    );
    assert_eq!(world.bot_comments().len(), 1);
    assert!(
        !world.github.installation_tokens().is_empty(),
        "an installation token was minted"
    );
    // A comment delivery carries no installation: the bot looks it up for the repository.
    world
        .github
        .add_comment(OWNER, REPO, PR, 9005, "Codertocat", "/preview status");
    world
        .github_event(
            "issue_comment",
            &pr_comment_payload(9005, "/preview status"),
        )
        .await;
    world.settle().await;
    let comments = world.bot_comments();
    assert!(
        comments
            .iter()
            .any(|c| c.body.contains(&format!("namespace `{}`", world.ns))),
        "{comments:?}"
    );
}

#[tokio::test]
async fn operations_on_one_preview_never_interleave() {
    let world = World::start().await;
    world
        .github
        .add_comment(OWNER, REPO, PR, 9006, "Codertocat", "/preview up");
    let label = labeled_payload();
    let comment = pr_comment_payload(9006, "/preview up\n/preview redeploy");
    let (a, b) = tokio::join!(
        world.github_event("pull_request", &label),
        world.github_event("issue_comment", &comment)
    );
    assert_eq!((a.0, b.0), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    world.settle().await;
    let root = world
        .slack
        .messages(CHANNEL)
        .into_iter()
        .find(|m| m.thread_ts.is_none())
        .unwrap();
    let steps: Vec<&str> = world
        .slack
        .thread(CHANNEL, &root.ts)
        .iter()
        .map(|m| {
            if m.text.starts_with("Deploying") {
                "start"
            } else {
                "end"
            }
        })
        .collect();
    assert_eq!(
        steps,
        ["start", "end", "start", "end", "start", "end"],
        "three whole deploys, one after another"
    );
}

#[tokio::test]
async fn slack_is_answered_before_the_work_is_done() {
    let world = World::start().await;
    let started = std::time::Instant::now();
    let (status, answer) = world.slack_command(CHANNEL, "U0DEV", "up hello#2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert!(
        world.bot.background.running() > 0,
        "the deploy continues after the answer: {answer}"
    );
    world.settle().await;
    assert!(world.preview().await.is_some());
}

#[tokio::test]
async fn list_shows_running_previews_from_the_cluster() {
    let world = World::start().await;
    world.github_event("pull_request", &labeled_payload()).await;
    world.settle().await;
    let mut command = preview_testkit::slack_api::SlashCommand::new(CHANNEL, "U0DEV", "list");
    command.response_url = world.slack.response_url("list-1");
    world
        .slack_signed(
            &command,
            chrono::Utc::now().timestamp(),
            SLACK_SIGNING_SECRET,
        )
        .await;
    world.settle().await;
    let text = world.slack.responses("list-1")[0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("hello#2") && text.contains("ready") && text.contains(URL),
        "{text}"
    );
}

#[tokio::test]
async fn a_redeploy_prunes_what_the_new_commit_dropped_and_nothing_else() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let world = World::start().await;
    world.github_event("pull_request", &labeled_payload()).await;
    world.settle().await;
    let config_maps: kube::Api<ConfigMap> = kube::Api::namespaced(world.client.clone(), &world.ns);
    assert!(config_maps.get_opt("hello-config").await.unwrap().is_some());
    // Someone adds an object of their own to the preview namespace.
    let theirs =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "someone-elses"}})).unwrap();
    config_maps
        .create(&Default::default(), &theirs)
        .await
        .unwrap();

    world.github.set_head(OWNER, REPO, PR, PRUNED_SHA);
    world
        .github_event("pull_request", &push_payload(PRUNED_SHA))
        .await;
    world.settle().await;
    let ns = world.preview().await.unwrap();
    assert_eq!(
        World::annotation(&ns, annotations::PHASE).as_deref(),
        Some("ready")
    );
    assert!(
        config_maps.get_opt("hello-config").await.unwrap().is_none(),
        "pruned"
    );
    assert!(
        config_maps
            .get_opt("someone-elses")
            .await
            .unwrap()
            .is_some(),
        "not the bot's: kept"
    );
    assert!(
        config_maps
            .get_opt("kube-root-ca.crt")
            .await
            .unwrap()
            .is_some(),
        "the cluster's: kept"
    );
    let applied = World::annotation(&ns, annotations::APPLIED).unwrap();
    assert!(
        !applied.contains("hello-config") && applied.contains("Deployment hello"),
        "{applied}"
    );
}

#[tokio::test]
async fn a_kustomize_app_gets_postgres_and_redis_first_with_their_urls() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::Secret;
    let world = World::start().await;
    let (status, _) = world.slack_command(CHANNEL, "U0DEV", "up shop#7").await;
    assert_eq!(status, StatusCode::OK);
    world.settle().await;
    let ns_name = world.ns.replace("hello-pr-2", "shop-pr-7");
    let ns = world.namespace(&ns_name).await.expect("shop preview");
    assert_eq!(
        World::annotation(&ns, annotations::PHASE).as_deref(),
        Some("ready"),
        "{:?}",
        World::annotation(&ns, annotations::MESSAGE)
    );

    let sets: kube::Api<StatefulSet> = kube::Api::namespaced(world.client.clone(), &ns_name);
    for name in ["db", "cache"] {
        let set = sets.get(name).await.unwrap();
        assert_eq!(set.status.unwrap().ready_replicas, Some(1), "{name} ready");
    }
    let deployments: kube::Api<Deployment> = kube::Api::namespaced(world.client.clone(), &ns_name);
    let shop = deployments.get("shop").await.unwrap();
    assert_eq!(
        shop.metadata.labels.as_ref().unwrap()["tier"],
        "preview",
        "the overlay was rendered"
    );
    assert_eq!(
        shop.spec.as_ref().unwrap().replicas,
        Some(1),
        "the overlay's patch"
    );
    let env = shop.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    for (var, secret) in [
        ("DATABASE_URL", "db-credentials"),
        ("REDIS_URL", "cache-credentials"),
    ] {
        let entry = env
            .iter()
            .find(|e| e.name == var)
            .unwrap_or_else(|| panic!("{var} in {env:?}"));
        let key_ref = entry
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (key_ref.name.as_str(), key_ref.key.as_str()),
            (secret, "url")
        );
    }

    // The dependency wave is applied before the app's objects.
    if let Some(kube) = &world.kube {
        let applies: Vec<String> = kube
            .requests()
            .into_iter()
            .filter(|r| {
                r.method == "PATCH"
                    && r.content_type.contains("apply-patch")
                    && r.path.contains(&ns_name)
            })
            .map(|r| r.path)
            .collect();
        let last_dependency = applies
            .iter()
            .rposition(|p| p.ends_with("/statefulsets/db") || p.ends_with("/statefulsets/cache"))
            .unwrap();
        let app = applies
            .iter()
            .position(|p| p.ends_with("/deployments/shop"))
            .unwrap();
        assert!(last_dependency < app, "{applies:#?}");
    }

    // A redeploy keeps the database password the database was initialised with.
    let secrets: kube::Api<Secret> = kube::Api::namespaced(world.client.clone(), &ns_name);
    let before = secrets.get("db-credentials").await.unwrap().data.unwrap()["password"].clone();
    world
        .slack_command(CHANNEL, "U0DEV", "redeploy shop#7")
        .await;
    world.settle().await;
    let after = secrets.get("db-credentials").await.unwrap().data.unwrap()["password"].clone();
    assert_eq!(before, after);
    assert_eq!(before.0.len(), 32);
}

/// The answer Slack gets for `text`: the immediate ephemeral one when there is nothing to wait
/// for (help, errors), else what arrives on the command's response_url.
async fn slack_answer(world: &World, text: &str, id: &str) -> String {
    let mut command = preview_testkit::slack_api::SlashCommand::new(CHANNEL, "U0DEV", text);
    command.response_url = world.slack.response_url(id);
    let (status, immediate) = world
        .slack_signed(
            &command,
            chrono::Utc::now().timestamp(),
            SLACK_SIGNING_SECRET,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    world.settle().await;
    let later: Vec<String> = world
        .slack
        .responses(id)
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    match later.as_slice() {
        [] => immediate["text"].as_str().unwrap().to_string(),
        answers => answers.join("\n"),
    }
}

/// The answer a PR comment gets: the bot's reply comment(s) after it.
async fn github_answer(world: &World, text: &str, comment_id: u64) -> String {
    let before = world.bot_comments().len();
    let line = format!("/preview {text}");
    world
        .github
        .add_comment(OWNER, REPO, PR, comment_id, "Codertocat", &line);
    let (status, _) = world
        .github_event("issue_comment", &pr_comment_payload(comment_id, &line))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    world.settle().await;
    world.bot_comments()[before..]
        .iter()
        .map(|c| c.body.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn every_command_means_the_same_in_slack_and_in_a_pr_comment() {
    let world = World::start().await;
    world.github_event("pull_request", &labeled_payload()).await;
    world.settle().await;
    let commands = [
        "status hello#2",
        "logs hello#2 --tail 5",
        "list --app hello",
        "help",
        "help point",
        "point hello#2 payments=pr-42",
        "seed hello#2 demo-data",
        "extend hello#2 4h",
        "pin hello#2",
        "unpin hello#2",
        "kill-switch status",
        "upp hello#2",
        "status hello#2 --ttl 4h",
    ];
    for (index, text) in commands.iter().enumerate() {
        let from_slack = slack_answer(&world, text, &format!("same-{index}")).await;
        let from_github = github_answer(&world, text, 9100 + index as u64).await;
        assert!(!from_slack.is_empty(), "`{text}` got no answer in Slack");
        assert_eq!(from_slack, from_github, "`{text}` answered differently");
        let reactions = world.github.reactions(9100 + index as u64);
        assert_eq!(
            reactions.first().map(String::as_str),
            Some("eyes"),
            "`{text}`: {reactions:?}"
        );
        assert_eq!(
            reactions.len(),
            2,
            "`{text}` gets a final reaction: {reactions:?}"
        );
    }
    let logs = slack_answer(&world, "logs hello#2 --tail 3", "logs").await;
    assert!(
        logs.contains("Logs of `hello`") && logs.contains("```"),
        "{logs}"
    );
}

#[tokio::test]
async fn a_ttl_beyond_the_configured_limit_is_refused_everywhere() {
    let world = World::start().await;
    let before = world.kube_writes();
    let from_slack = slack_answer(&world, "up hello#2 --ttl 10d", "ttl").await;
    let from_github = github_answer(&world, "up --ttl 10d", 9200).await;
    assert!(
        from_slack.contains("longer than the limit of 7d"),
        "{from_slack}"
    );
    assert!(
        from_github.contains("longer than the limit of 7d"),
        "{from_github}"
    );
    assert_eq!(world.kube_writes(), before);
    assert!(world.preview().await.is_none());
}

#[tokio::test]
async fn point_routes_an_upstream_to_another_preview_without_a_restart() {
    use k8s_openapi::api::core::v1::Service;
    let world = World::start().await;
    world.github_event("pull_request", &labeled_payload()).await;
    world.settle().await;
    let services: kube::Api<Service> = kube::Api::namespaced(world.client.clone(), &world.ns);
    let external = |s: Service| s.spec.unwrap().external_name.unwrap();
    assert_eq!(
        external(services.get("payments").await.unwrap()),
        "payments.staging.svc.cluster.local"
    );

    // The payments preview does not exist yet: refused, nothing changes.
    let refused = github_answer(&world, "point payments=pr-42", 9300).await;
    assert!(
        refused.contains("Preview payments#42 does not exist"),
        "{refused}"
    );
    assert_eq!(
        external(services.get("payments").await.unwrap()),
        "payments.staging.svc.cluster.local"
    );

    world
        .slack_command(CHANNEL, "U0DEV", "up payments#42")
        .await;
    world.settle().await;
    let generation = hello_deployment(&world).await.metadata.generation;
    let payments_ns = world.ns.replace("hello-pr-2", "payments-pr-42");
    let answer = slack_answer(&world, "point hello#2 payments=pr-42", "point-1").await;
    assert!(answer.contains("`payments` → payments#42"), "{answer}");
    assert_eq!(
        external(services.get("payments").await.unwrap()),
        format!("payments.{payments_ns}.svc.cluster.local")
    );
    assert_eq!(
        hello_deployment(&world).await.metadata.generation,
        generation,
        "the app was not restarted"
    );
    let status = slack_answer(&world, "status hello#2", "point-status").await;
    assert!(
        status.contains("upstream `payments` → payments#42"),
        "{status}"
    );
    assert!(
        world.bot_comments()[0]
            .body
            .contains("| Upstream `payments` | → payments#42 |")
    );

    // A redeploy keeps the pointer; `staging` resets it.
    world.github.set_head(OWNER, REPO, PR, SECOND_SHA);
    world
        .github_event("pull_request", &push_payload(SECOND_SHA))
        .await;
    world.settle().await;
    assert_eq!(
        external(services.get("payments").await.unwrap()),
        format!("payments.{payments_ns}.svc.cluster.local")
    );
    slack_answer(&world, "point hello#2 payments=staging", "point-2").await;
    assert_eq!(
        external(services.get("payments").await.unwrap()),
        "payments.staging.svc.cluster.local"
    );
    let ns = world.preview().await.unwrap();
    assert_eq!(World::annotation(&ns, annotations::POINTERS), None);
}

#[tokio::test]
async fn seed_runs_a_job_with_the_apps_variables_and_refuses_a_second_at_once() {
    use k8s_openapi::api::batch::v1::Job;
    let world = World::start().await;
    world.github_event("pull_request", &labeled_payload()).await;
    world.settle().await;
    let seed = |id: &'static str| {
        let mut command =
            preview_testkit::slack_api::SlashCommand::new(CHANNEL, "U0DEV", "seed hello#2 demo");
        command.response_url = world.slack.response_url(id);
        command
    };
    let (first, second) = (seed("seed-a"), seed("seed-b"));
    let now = chrono::Utc::now().timestamp();
    tokio::join!(
        world.slack_signed(&first, now, SLACK_SIGNING_SECRET),
        world.slack_signed(&second, now, SLACK_SIGNING_SECRET)
    );
    world.settle().await;
    let mut answers: Vec<String> = ["seed-a", "seed-b"]
        .iter()
        .map(|id| {
            world.slack.responses(id)[0]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    answers.sort();
    assert!(
        answers[0].starts_with("A seed is already running in preview hello#2"),
        "{answers:?}"
    );
    assert!(answers[1].contains("succeeded"), "{answers:?}");

    let jobs: kube::Api<Job> = kube::Api::namespaced(world.client.clone(), &world.ns);
    let list = jobs.list(&Default::default()).await.unwrap().items;
    assert_eq!(list.len(), 1, "one seed job ran");
    let container = &list[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    let env = container.env.clone().unwrap();
    for (name, value) in [("PREVIEW_SEED_DATASET", "demo"), ("PREVIEW_URL", URL)] {
        assert!(
            env.iter()
                .any(|e| e.name == name && e.value.as_deref() == Some(value)),
            "{name} in {env:?}"
        );
    }
    let thread = channel_texts(&world);
    assert!(
        thread
            .iter()
            .any(|t| t.starts_with("Seeding dataset `demo`")),
        "{thread:?}"
    );

    let unknown = slack_answer(&world, "seed hello#2 everything", "seed-c").await;
    assert!(unknown.contains("no dataset `everything`"), "{unknown}");
}

#[tokio::test]
async fn a_crashing_container_is_explained_with_its_last_log_lines() {
    let world = World::start().await;
    world.label_at(CRASH_SHA).await;
    let message = world.failure_message().await;
    assert!(message.contains("CrashLoopBackOff"), "{message}");
    assert!(
        message.contains("FATAL: missing DATABASE_URL"),
        "the last log lines: {message}"
    );
    let sticky = &world.bot_comments()[0].body;
    assert!(sticky.contains("FATAL: missing DATABASE_URL"), "{sticky}");
    let root = world
        .slack
        .messages(CHANNEL)
        .into_iter()
        .find(|m| m.thread_ts.is_none())
        .unwrap();
    let thread = world.slack.thread(CHANNEL, &root.ts);
    assert!(
        thread
            .iter()
            .any(|m| m.text.contains("CrashLoopBackOff") && m.text.contains("FATAL")),
        "{thread:?}"
    );
}

#[tokio::test]
async fn a_failing_seed_is_reported_with_its_log_lines() {
    let world = World::start().await;
    world
        .slack_command(CHANNEL, "U0DEV", "up payments#42")
        .await;
    world.settle().await;
    let answer = slack_answer(&world, "seed payments#42", "seed-fail").await;
    assert!(answer.contains("of preview payments#42 failed"), "{answer}");
    assert!(answer.contains("FATAL: missing DATABASE_URL"), "{answer}");
}

#[tokio::test]
async fn a_hostile_repository_deploys_nothing_outside_its_preview_namespace() {
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    let world = World::start().await;
    // Cluster-scoped objects and a Namespace beside the app: the whole render is refused.
    world.label_at(HOSTILE_SHA).await;
    let message = world.failure_message().await;
    assert!(
        message.contains("ClusterRoleBinding `take-over` is cluster-scoped"),
        "{message}"
    );
    let bindings: kube::Api<ClusterRoleBinding> = kube::Api::all(world.client.clone());
    assert!(bindings.get_opt("take-over").await.unwrap().is_none());
    let namespaces: kube::Api<Namespace> = kube::Api::all(world.client.clone());
    assert!(namespaces.get_opt("kube-system-2").await.unwrap().is_none());
    let deployments: kube::Api<Deployment> = kube::Api::namespaced(world.client.clone(), &world.ns);
    assert!(
        deployments.get_opt("hello").await.unwrap().is_none(),
        "nothing of the refused render was applied"
    );

    // Objects that name foreign namespaces are put in the preview's own.
    world.github.set_head(OWNER, REPO, PR, FOREIGN_NS_SHA);
    world
        .github_event("pull_request", &push_payload(FOREIGN_NS_SHA))
        .await;
    world.settle().await;
    let ns = world.preview().await.unwrap();
    assert_eq!(
        World::annotation(&ns, annotations::PHASE).as_deref(),
        Some("ready")
    );
    assert!(deployments.get_opt("hello").await.unwrap().is_some());
    let in_kube_system: kube::Api<Deployment> =
        kube::Api::namespaced(world.client.clone(), "kube-system");
    assert!(in_kube_system.get_opt("hello").await.unwrap().is_none());
    let in_default: kube::Api<ConfigMap> = kube::Api::namespaced(world.client.clone(), "default");
    assert!(in_default.get_opt("hello-config").await.unwrap().is_none());
}

#[tokio::test]
async fn the_preview_cap_refuses_new_previews_and_ignores_ones_being_torn_down() {
    let world = World::start().await;
    world.label_at(HEAD_SHA).await;
    world
        .slack_command(CHANNEL, "U0DEV", "up payments#42")
        .await;
    world.settle().await;
    let refused = slack_answer(&world, "up shop#7", "cap-1").await;
    assert!(
        refused.contains("2 previews are running, the limit is 2"),
        "{refused}"
    );
    let shop_ns = world.ns.replace("hello-pr-2", "shop-pr-7");
    assert!(world.namespace(&shop_ns).await.is_none());

    slack_answer(&world, "down payments#42", "cap-2").await;
    let allowed = slack_answer(&world, "up shop#7", "cap-3").await;
    assert!(allowed.contains("is ready"), "{allowed}");
}

#[tokio::test]
async fn a_preview_waits_for_its_image_build_check() {
    let world = World::start().await;
    let payments_ns = world.ns.replace("hello-pr-2", "payments-pr-42");
    let deployments: kube::Api<Deployment> =
        kube::Api::namespaced(world.client.clone(), &payments_ns);

    // A failed build: refused with the check's name, conclusion and link; nothing deployed.
    world
        .github
        .set_head(OWNER, PAYMENTS_REPO, PAYMENTS_PR, CHECK_FAILED_SHA);
    let failed = slack_answer(&world, "up payments#42", "check-1").await;
    assert!(
        failed.contains("check `build-image` concluded `failure`: https://github.com/"),
        "{failed}"
    );
    assert!(deployments.get_opt("payments").await.unwrap().is_none());

    // No check at all within `check_timeout`.
    world
        .github
        .set_head(OWNER, PAYMENTS_REPO, PAYMENTS_PR, CHECK_MISSING_SHA);
    let timed_out = slack_answer(&world, "up payments#42", "check-2").await;
    assert!(
        timed_out.contains("check `build-image` did not succeed within 2s"),
        "{timed_out}"
    );

    // A build still running: the deploy waits for it, then goes ahead.
    world
        .github
        .set_head(OWNER, PAYMENTS_REPO, PAYMENTS_PR, CHECK_PENDING_SHA);
    let run = world.github.add_check_run(
        OWNER,
        PAYMENTS_REPO,
        CHECK_PENDING_SHA,
        "build-image",
        "in_progress",
        None,
    );
    let mut command =
        preview_testkit::slack_api::SlashCommand::new(CHANNEL, "U0DEV", "up payments#42");
    command.response_url = world.slack.response_url("check-3");
    world
        .slack_signed(
            &command,
            chrono::Utc::now().timestamp(),
            SLACK_SIGNING_SECRET,
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        deployments.get_opt("payments").await.unwrap().is_none(),
        "not before the build finished"
    );
    world
        .github
        .set_check_run(run, "completed", Some("success"));
    world.settle().await;
    let ready = world.slack.responses("check-3")[0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ready.contains("is ready"), "{ready}");
    assert!(deployments.get_opt("payments").await.unwrap().is_some());
    let thread = channel_texts(&world);
    assert!(
        thread
            .iter()
            .any(|t| t.starts_with("Waiting for check `build-image`")),
        "{thread:?}"
    );
}

#[tokio::test]
async fn every_preview_gets_its_quota_default_requests_placement_and_ingress_annotations() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
    use k8s_openapi::api::networking::v1::Ingress;
    let world = World::start().await;
    world.label_at(HEAD_SHA).await;
    let quotas: kube::Api<ResourceQuota> = kube::Api::namespaced(world.client.clone(), &world.ns);
    let hard = quotas
        .get("preview-quota")
        .await
        .unwrap()
        .spec
        .unwrap()
        .hard
        .unwrap();
    assert_eq!(hard["pods"].0, "40");
    let limits: kube::Api<LimitRange> = kube::Api::namespaced(world.client.clone(), &world.ns);
    let range = &limits
        .get("preview-limits")
        .await
        .unwrap()
        .spec
        .unwrap()
        .limits[0];
    assert_eq!(range.default_request.as_ref().unwrap()["cpu"].0, "50m");
    let ingresses: kube::Api<Ingress> = kube::Api::namespaced(world.client.clone(), &world.ns);
    let annotations = ingresses
        .get("hello")
        .await
        .unwrap()
        .metadata
        .annotations
        .unwrap();
    assert_eq!(
        annotations["nginx.ingress.kubernetes.io/auth-url"],
        "https://auth.example.com/oauth2/auth"
    );

    if world.simulated() {
        let pod = hello_deployment(&world)
            .await
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        assert_eq!(
            pod.node_selector.unwrap()["preview-bot.dev/pool"],
            "previews"
        );
        assert_eq!(pod.tolerations.unwrap()[0].key.as_deref(), Some("previews"));
        // Dependencies land on the same nodes.
        world.slack_command(CHANNEL, "U0DEV", "up shop#7").await;
        world.settle().await;
        let shop_ns = world.ns.replace("hello-pr-2", "shop-pr-7");
        let sets: kube::Api<StatefulSet> = kube::Api::namespaced(world.client.clone(), &shop_ns);
        let db = sets
            .get("db")
            .await
            .unwrap()
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        assert_eq!(
            db.node_selector.unwrap()["preview-bot.dev/pool"],
            "previews"
        );
    }
}

#[tokio::test]
async fn configured_secrets_are_copied_into_every_preview() {
    use k8s_openapi::api::core::v1::Secret;
    let world = World::start().await;
    world.label_at(HEAD_SHA).await;
    let copies: kube::Api<Secret> = kube::Api::namespaced(world.client.clone(), &world.ns);
    let copy = copies.get(SHARED_SECRET).await.unwrap();
    assert_eq!(copy.data.unwrap()["token"].0, b"s3cr3t-registry-token");
    let labels = copy.metadata.labels.unwrap();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "preview-bot");

    // A source Secret that disappeared fails the deploy with the reason, and touches nothing else.
    let sources: kube::Api<Secret> = kube::Api::namespaced(world.client.clone(), SHARED_NAMESPACE);
    if world.simulated() {
        sources
            .delete(SHARED_SECRET, &Default::default())
            .await
            .unwrap();
        world.github.set_head(OWNER, REPO, PR, SECOND_SHA);
        world
            .github_event("pull_request", &push_payload(SECOND_SHA))
            .await;
        world.settle().await;
        let ns = world.preview().await.unwrap();
        let message = World::annotation(&ns, annotations::MESSAGE).unwrap_or_default();
        assert!(
            message.contains("copy secret ci-shared/registry-token: it does not exist"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn one_command_acts_on_several_previews() {
    let world = World::start().await;
    let up = slack_answer(&world, "up hello#2 shop#7", "multi-up").await;
    assert!(
        up.contains("hello#2") && up.contains("shop#7"),
        "both previews answer: {up}"
    );
    let prefix = &world.bot.engine.config.bot.namespace_prefix;
    for ns in [world.ns.clone(), format!("{prefix}shop-pr-{SHOP_PR}")] {
        let namespace = world.namespace(&ns).await.expect("deployed");
        assert_eq!(
            World::annotation(&namespace, annotations::PHASE).as_deref(),
            Some("ready"),
            "{ns}"
        );
    }
    let status = slack_answer(&world, "status shop#7 hello pr-2", "multi-status").await;
    assert!(
        status.contains("shop#7") && status.contains("hello#2"),
        "{status}"
    );
}

/// The texts of every message in the app's channel, roots and replies.
fn channel_texts(world: &World) -> Vec<String> {
    world
        .slack
        .messages(CHANNEL)
        .into_iter()
        .map(|m| m.text)
        .collect()
}

/// Asserts the preview's record says ready at `sha`.
async fn assert_ready_at(world: &World, sha: &str) {
    let ns = world.preview().await.expect("namespace");
    assert_eq!(
        World::annotation(&ns, annotations::PHASE).as_deref(),
        Some("ready")
    );
    assert_eq!(
        World::annotation(&ns, annotations::HEAD_SHA).as_deref(),
        Some(sha)
    );
}

/// Labels the PR at a commit whose pods never become ready, and returns while that deploy waits
/// (without supersession it would wait for the whole ready timeout and fail).
async fn start_a_deploy_that_never_gets_ready(world: &World) {
    world.github.set_head(OWNER, REPO, PR, BAD_IMAGE_SHA);
    let mut labeled = labeled_payload();
    labeled["pull_request"]["head"]["sha"] = BAD_IMAGE_SHA.into();
    world.github_event("pull_request", &labeled).await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
}

#[tokio::test]
async fn a_push_during_a_deploy_supersedes_it() {
    // As a GitHub App, so that the superseded deploy's check run is seen to be cancelled.
    let world = World::start_configured(true, "").await;
    start_a_deploy_that_never_gets_ready(&world).await;
    let pushed = std::time::Instant::now();
    world.github.set_head(OWNER, REPO, PR, HEAD_SHA);
    world
        .github_event("pull_request", &push_payload(HEAD_SHA))
        .await;
    world.settle().await;
    assert!(
        pushed.elapsed() < std::time::Duration::from_secs(4),
        "the newer commit did not wait for the older deploy's ready timeout"
    );

    assert_ready_at(&world, HEAD_SHA).await;
    let thread = thread_texts(&world);
    assert!(
        thread
            .iter()
            .any(|t| t.contains("Stopped deploying `baadbaa`") && t.contains("newer request")),
        "{thread:?}"
    );
    assert!(
        !thread.iter().any(|t| t.contains("failed")),
        "the superseded deploy is not reported as a failure: {thread:?}"
    );
    let deployments = world.github.deployments(OWNER, REPO);
    let superseded = deployments
        .iter()
        .find(|d| d.sha == BAD_IMAGE_SHA)
        .expect("a deployment for the first commit");
    assert_eq!(
        world
            .github
            .deployment_statuses(superseded.id)
            .last()
            .unwrap()
            .state,
        "inactive"
    );
    let conclusions: Vec<(String, Option<String>)> = world
        .github
        .check_runs(OWNER, REPO)
        .into_iter()
        .map(|r| (r.head_sha, r.conclusion))
        .collect();
    assert_eq!(
        conclusions,
        vec![
            (BAD_IMAGE_SHA.to_string(), Some("cancelled".to_string())),
            (HEAD_SHA.to_string(), Some("success".to_string())),
        ]
    );
}

#[tokio::test]
async fn a_down_during_a_deploy_wins() {
    let world = World::start().await;
    start_a_deploy_that_never_gets_ready(&world).await;
    let started = std::time::Instant::now();
    let down = slack_answer(&world, "down hello#2", "down-during-deploy").await;
    assert!(down.contains("torn down"), "{down}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "down did not wait for the deploy's ready timeout"
    );
    world.wait_namespace_gone(&world.ns.clone()).await;
    let thread = thread_texts(&world);
    assert!(!thread.iter().any(|t| t.contains("failed")), "{thread:?}");
}

#[tokio::test]
async fn a_restart_resumes_a_preview_left_mid_deploy() {
    let world = World::start().await;
    world.label_at(HEAD_SHA).await;
    // As a process killed right after recording the start of a deploy of the next commit
    // leaves it.
    world.github.set_head(OWNER, REPO, PR, SECOND_SHA);
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(world.client.clone());
    namespaces
        .patch(
            &world.ns,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"metadata": {"annotations": {
                annotations::PHASE: "deploying",
                annotations::HEAD_SHA: SECOND_SHA,
            }}})),
        )
        .await
        .unwrap();
    let recovered = preview_bot::recovery::recover(&world.bot.engine).await;
    assert_eq!(recovered.resumed, 1, "{recovered:?}");
    assert_ready_at(&world, SECOND_SHA).await;
    let thread = thread_texts(&world);
    assert!(
        thread
            .iter()
            .any(|t| t.contains("restarted while deploying `5d4c2f4`")),
        "{thread:?}"
    );

    // A preview whose PR closed while the bot was down is marked failed, not left deploying.
    world.github.close_pull(OWNER, REPO, PR, false);
    namespaces
        .patch(
            &world.ns,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"metadata": {"annotations": {
                annotations::PHASE: "deploying",
            }}})),
        )
        .await
        .unwrap();
    let recovered = preview_bot::recovery::recover(&world.bot.engine).await;
    assert_eq!(recovered.failed, 1, "{recovered:?}");
    let message = world.failure_message().await;
    assert!(message.contains("closed"), "{message}");
}

/// A team's own dependency (a search engine) from its repository, with outputs feeding the app.
/// Unlike the built-in ones (which go out with the namespace's policies), it is applied only
/// once the default requests and the copied Secrets are in place.
#[tokio::test]
async fn a_template_dependency_comes_up_first_and_feeds_the_app() {
    const SEARCH_SHA: &str = "5ea5c05ea5c05ea5c05ea5c05ea5c05ea5c05ea5";
    let world = World::start_configured(
        false,
        r#"
[apps.search]
repo = "Codertocat/Search"
slack_channel = "C0HELLO"
manifests = { dir = "deploy" }

[apps.search.dependencies.engine]
kind = "template"
manifests = "deploy-deps/engine"
outputs = { ENGINE_URL = "http://engine.{namespace}.svc:9200", ENGINE_TOKEN = { secret = "engine-auth", key = "token" } }
"#,
    )
    .await;
    let image = if world.simulated() {
        "ghcr.io/codertocat/search:latest"
    } else {
        "registry.k8s.io/pause:3.10"
    };
    let workload = |name: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: {name}, image: \"{image}\"}}]\n"
        )
    };
    let engine = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: engine-auth}}\nstringData: {{token: \"t0ken-for-{{namespace}}\"}}\n---\n{}---\napiVersion: v1\nkind: Service\nmetadata: {{name: engine}}\nspec:\n  selector: {{app: engine}}\n  ports: [{{port: 9200}}]\n",
        workload("engine")
    );
    world.github.add_repo(OWNER, "Search");
    world
        .github
        .set_permission(OWNER, "Search", "Codertocat", "write");
    world
        .github
        .add_pull(preview_testkit::github_api::PullSpec::new(
            OWNER,
            "Search",
            5,
            SEARCH_SHA,
            "faceting",
            "Codertocat",
        ));
    world.github.add_commit_tree(
        OWNER,
        "Search",
        SEARCH_SHA,
        vec![
            ("deploy/app.yaml".into(), workload("search").into_bytes()),
            ("deploy-deps/engine/engine.yaml".into(), engine.into_bytes()),
        ],
    );
    // Every request takes a while, so requests sent together arrive together and a request
    // sent after another's answer arrives at least that much later.
    const LATENCY: std::time::Duration = std::time::Duration::from_millis(40);
    if let Some(kube) = &world.kube {
        kube.set_latency(LATENCY);
    }
    let answer = slack_answer(&world, "up search#5", "template-dep").await;
    assert!(answer.contains("is ready"), "{answer}");
    let prefix = &world.bot.engine.config.bot.namespace_prefix;
    let ns = format!("{prefix}search-pr-5");
    let deployments: kube::Api<Deployment> = kube::Api::namespaced(world.client.clone(), &ns);
    let engine = deployments.get("engine").await.unwrap();
    assert_eq!(
        engine.metadata.labels.unwrap()["preview-bot.dev/dependency"],
        "engine"
    );
    let search = deployments.get("search").await.unwrap();
    let env = search.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    let var = |name: &str| env.iter().find(|e| e.name == name).cloned().unwrap();
    assert_eq!(
        var("ENGINE_URL").value.as_deref(),
        Some(format!("http://engine.{ns}.svc:9200").as_str())
    );
    let token = var("ENGINE_TOKEN")
        .value_from
        .unwrap()
        .secret_key_ref
        .unwrap();
    assert_eq!(
        (token.name.as_str(), token.key.as_str()),
        ("engine-auth", "token")
    );
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(world.client.clone(), &ns);
    let secret = secrets.get("engine-auth").await.unwrap();
    let stored = secret
        .data
        .map(|d| d["token"].0.clone())
        .or_else(|| secret.string_data.map(|d| d["token"].clone().into_bytes()))
        .unwrap();
    assert_eq!(
        stored,
        format!("t0ken-for-{ns}").into_bytes(),
        "templates filled"
    );
    if let Some(kube) = &world.kube {
        let applies: Vec<String> = kube
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.path.contains(&format!("{ns}/deployments/")))
            .map(|r| r.path)
            .collect();
        let first = |name: &str| applies.iter().position(|p| p.ends_with(name)).unwrap();
        assert!(first("/engine") < first("/search"), "{applies:?}");
        let arrived = |suffix: &str| {
            kube.requests()
                .into_iter()
                .find(|r| r.method == "PATCH" && r.path.ends_with(suffix))
                .map(|r| r.at)
                .unwrap_or_else(|| panic!("no apply of {suffix}"))
        };
        let engine = arrived(&format!("{ns}/deployments/engine"));
        for policy in ["limitranges/preview-limits", "secrets/registry-token"] {
            assert!(
                engine >= arrived(&format!("{ns}/{policy}")) + LATENCY,
                "the template dependency went out with {policy}"
            );
        }
    }
}

#[tokio::test]
async fn an_app_cap_refuses_a_preview_beyond_it() {
    const TINY_SHA: &str = "7171717171717171717171717171717171717171";
    let world = World::start_configured(
        false,
        r#"
[apps.tiny]
repo = "Codertocat/Tiny"
manifests = { image = "ghcr.io/codertocat/tiny:{sha}", port = 8080 }
max_previews = 1
"#,
    )
    .await;
    world.github.add_repo(OWNER, "Tiny");
    world
        .github
        .set_permission(OWNER, "Tiny", "Codertocat", "write");
    for pr in [1, 2] {
        world
            .github
            .add_pull(preview_testkit::github_api::PullSpec::new(
                OWNER,
                "Tiny",
                pr,
                TINY_SHA,
                "change",
                "Codertocat",
            ));
    }
    world.github.add_commit_tree(
        OWNER,
        "Tiny",
        TINY_SHA,
        vec![("README.md".into(), b"tiny".to_vec())],
    );
    let first = slack_answer(&world, "up tiny#1", "tiny-1").await;
    assert!(first.contains("is ready"), "{first}");
    let second = slack_answer(&world, "up tiny#2", "tiny-2").await;
    assert!(
        second.contains("`tiny` already has 1 running preview(s)")
            && second.contains("apps.tiny.max_previews"),
        "{second}"
    );
    let prefix = &world.bot.engine.config.bot.namespace_prefix;
    assert!(
        world
            .namespace(&format!("{prefix}tiny-pr-2"))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn a_redelivery_reaching_another_replica_has_no_second_effect() {
    use tower::ServiceExt;
    let world = World::start().await;
    let other = preview_bot::Bot::new(
        world.another_replica(std::sync::Arc::new(preview_bot::clock::SystemClock)),
        None,
        Some(preview_config::Secret::new(GITHUB_WEBHOOK_SECRET)),
    );
    let other_router = preview_bot::http::router(std::sync::Arc::new(other));
    let body = serde_json::to_string(&labeled_payload()).unwrap();
    let headers =
        preview_testkit::github_api::signed_webhook(GITHUB_WEBHOOK_SECRET, "pull_request", &body);
    let request = || {
        let mut request = http::Request::post("/github/webhook");
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        request.body(axum::body::Body::from(body.clone())).unwrap()
    };
    let (status, _) = world.send(request()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let response = other_router.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&text[..], b"duplicate delivery ignored");
    world.settle().await;
    assert_eq!(world.github.deployments(OWNER, REPO).len(), 1);
}

/// A push to `branch` of the hello repository, derived from the published `synchronize`
/// payload's repository, sender and installation (there is no published push fixture).
fn branch_push_payload(branch: &str, after: &str, deleted: bool) -> serde_json::Value {
    let base = preview_testkit::fixtures::json("github/pull_request.synchronize.json");
    serde_json::json!({
        "ref": format!("refs/heads/{branch}"),
        "before": HEAD_SHA,
        "after": if deleted { "0000000000000000000000000000000000000000" } else { after },
        "created": false,
        "deleted": deleted,
        "forced": false,
        "repository": base["repository"],
        "sender": base["sender"],
        "installation": base["installation"],
        "commits": [],
    })
}

#[tokio::test]
async fn a_branch_preview_without_a_pr_follows_its_branch() {
    let world = World::start().await;
    let branch = "feature/login";
    world.github.set_branch(OWNER, REPO, branch, HEAD_SHA);
    let id = preview_deploy::PreviewId::branch("hello", branch);
    let ns_name = id
        .namespace(&world.bot.engine.config.bot.namespace_prefix)
        .to_string();

    // A branch that does not exist is refused and creates nothing.
    let answer = world
        .slack_conversation(CHANNEL, "U0DEV", "up hello@no-such-branch")
        .await;
    assert!(
        answer.contains("has no branch `no-such-branch`"),
        "{answer}"
    );
    let missing = preview_deploy::PreviewId::branch("hello", "no-such-branch")
        .namespace(&world.bot.engine.config.bot.namespace_prefix);
    assert!(world.namespace(missing.as_str()).await.is_none());

    // `up APP@BRANCH` deploys the branch's head into its own namespace, with its own host.
    let answer = world
        .slack_conversation(CHANNEL, "U0DEV", "up hello@feature/login")
        .await;
    assert!(answer.contains("hello@feature/login"), "{answer}");
    let ns = world.namespace(&ns_name).await.expect("branch namespace");
    assert!(ns_name.starts_with(&format!(
        "{}hello-br-feature-login-",
        world.bot.engine.config.bot.namespace_prefix
    )));
    assert_eq!(
        World::annotation(&ns, annotations::PHASE).as_deref(),
        Some("ready"),
        "{:?}",
        World::annotation(&ns, annotations::MESSAGE)
    );
    assert_eq!(
        World::annotation(&ns, annotations::HEAD_SHA).as_deref(),
        Some(HEAD_SHA)
    );
    assert_eq!(
        World::annotation(&ns, annotations::URL),
        Some(format!("https://{ns_name}.preview.example.com"))
    );
    let labels = ns.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("preview-bot.dev/branch").map(String::as_str),
        Some("feature-login")
    );
    assert!(!labels.contains_key("preview-bot.dev/pr"));
    // No PR to comment on; the GitHub Deployment names the branch preview.
    assert!(
        world.bot_comments().is_empty(),
        "{:?}",
        world.bot_comments()
    );
    let deployments = world.github.deployments(OWNER, REPO);
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0].environment, "preview/hello-br-feature-login");
    let threads = channel_texts(&world);
    assert!(
        threads
            .iter()
            .any(|t| t.contains("Preview *hello@feature/login*")
                && t.contains("branch `feature/login`")),
        "{threads:#?}"
    );

    // `status` and `list` name it the same way.
    let status = world
        .slack_conversation(CHANNEL, "U0DEV", "status hello@feature/login")
        .await;
    assert!(
        status.contains("ready") && status.contains(&ns_name),
        "{status}"
    );
    let list = world.slack_conversation(CHANNEL, "U0DEV", "list").await;
    assert!(list.contains("hello@feature/login"), "{list}");

    // A push to another branch changes nothing; a push to this one redeploys it.
    let (status, _) = world
        .github_event("push", &branch_push_payload("main", SECOND_SHA, false))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    world.settle().await;
    let other = preview_deploy::PreviewId::branch("hello", "main")
        .namespace(&world.bot.engine.config.bot.namespace_prefix);
    assert!(
        world.namespace(other.as_str()).await.is_none(),
        "a push never creates a preview"
    );
    world.github.set_branch(OWNER, REPO, branch, SECOND_SHA);
    let (status, _) = world
        .github_event("push", &branch_push_payload(branch, SECOND_SHA, false))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    world.settle().await;
    let ns = world.namespace(&ns_name).await.unwrap();
    assert_eq!(
        World::annotation(&ns, annotations::HEAD_SHA).as_deref(),
        Some(SECOND_SHA)
    );
    assert_eq!(
        World::annotation(&ns, annotations::PHASE).as_deref(),
        Some("ready")
    );
    // The PR preview of the same repository is untouched by branch pushes.
    assert!(world.preview().await.is_none());

    // Deleting the branch frees its preview.
    let (status, _) = world
        .github_event("push", &branch_push_payload(branch, "", true))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    world.settle().await;
    world.wait_namespace_gone(&ns_name).await;
}

#[tokio::test]
async fn malformed_push_payloads_are_refused() {
    let world = World::start().await;
    let (status, body) = world
        .github_event("push", &serde_json::json!({"ref": 7}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = world.github_event("push", &push_payload_tag()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("needs nothing"), "{body}");
}

fn push_payload_tag() -> serde_json::Value {
    let mut payload = branch_push_payload("x", SECOND_SHA, false);
    payload["ref"] = "refs/tags/v1.0.0".into();
    payload
}

/// SPEC 5: as a GitHub App the bot reports each deploy as a check run on the commit.
#[tokio::test]
async fn as_a_github_app_each_deploy_is_a_check_run_on_its_commit() {
    let world = World::start_configured(true, "").await;
    world.label_at(HEAD_SHA).await;
    let runs = world.github.check_runs(OWNER, REPO);
    let ready: Vec<_> = runs.iter().filter(|r| r.head_sha == HEAD_SHA).collect();
    assert_eq!(ready.len(), 1, "{runs:#?}");
    assert_eq!(ready[0].name, "preview / hello");
    assert_eq!(ready[0].status, "completed");
    assert_eq!(ready[0].conclusion.as_deref(), Some("success"));
    assert_eq!(ready[0].details_url.as_deref(), Some(URL));
    assert_eq!(ready[0].output["title"], "Preview ready");

    // A commit whose image cannot be pulled: its check run fails with the reason.
    world.label_at(BAD_IMAGE_SHA).await;
    let runs = world.github.check_runs(OWNER, REPO);
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| r.head_sha == BAD_IMAGE_SHA)
        .collect();
    assert_eq!(failed.len(), 1, "{runs:#?}");
    assert_eq!(failed[0].conclusion.as_deref(), Some("failure"));
    let summary = failed[0].output["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("ImagePullBackOff") || summary.contains("ErrImagePull"),
        "{summary}"
    );

    // Tearing down leaves the verdicts as they were.
    world.slack_command(CHANNEL, "U0DEV", "down hello#2").await;
    world.settle().await;
    let after: Vec<_> = world
        .github
        .check_runs(OWNER, REPO)
        .into_iter()
        .map(|r| r.conclusion)
        .collect();
    assert_eq!(
        after,
        vec![Some("success".to_string()), Some("failure".to_string())]
    );
}

#[tokio::test]
async fn with_a_token_there_are_no_check_runs() {
    let world = World::start().await;
    world.label_at(HEAD_SHA).await;
    assert!(world.github.check_runs(OWNER, REPO).is_empty());
}

/// SPEC 5: one sticky comment per PR, also when several apps are built from its repository.
#[tokio::test]
async fn two_apps_of_one_repository_share_the_prs_sticky_comment() {
    let world = World::start_configured(
        false,
        &format!(
            "\n[apps.worker]\nrepo = \"{OWNER}/{REPO}\"\nslack_channel = \"{CHANNEL}\"\nmanifests = {{ dir = \"deploy/preview\" }}\n"
        ),
    )
    .await;
    world.label_at(HEAD_SHA).await;
    let comments = world.bot_comments();
    assert_eq!(comments.len(), 1, "one sticky comment: {comments:#?}");
    let body = &comments[0].body;
    assert!(
        body.contains("Preview `hello#2`") && body.contains("Preview `worker#2`"),
        "{body}"
    );
    assert!(body.matches("ready").count() >= 2, "{body}");

    // Taking one app down edits its section only.
    world.slack_command(CHANNEL, "U0DEV", "down worker#2").await;
    world.settle().await;
    let comments = world.bot_comments();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let body = &comments[0].body;
    let (hello, worker) = body.split_at(body.find("Preview `worker#2`").unwrap());
    assert!(hello.contains("ready"), "{body}");
    assert!(worker.contains("torn down"), "{body}");
}

/// SPEC 2: `redeploy` restarts the workloads even when nothing changed; a later `up` does not.
#[tokio::test]
async fn redeploy_restarts_the_workloads_and_a_later_up_does_not() {
    let world = World::start().await;
    world
        .slack_conversation(CHANNEL, "U0DEV", "up hello#2")
        .await;
    let generation = |d: &Deployment| d.metadata.generation.unwrap_or_default();
    let restarted_at = |d: &Deployment| {
        d.spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get("kubectl.kubernetes.io/restartedAt").cloned())
    };
    let before = hello_deployment(&world).await;
    assert_eq!(restarted_at(&before), None);

    let answer = world
        .slack_conversation(CHANNEL, "U0DEV", "redeploy hello#2")
        .await;
    assert!(answer.contains("hello#2"), "{answer}");
    assert_ready_at(&world, HEAD_SHA).await;
    let restarted = hello_deployment(&world).await;
    assert!(restarted_at(&restarted).is_some(), "{restarted:?}");
    assert!(generation(&restarted) > generation(&before));

    world
        .slack_conversation(CHANNEL, "U0DEV", "up hello#2")
        .await;
    let after = hello_deployment(&world).await;
    assert_eq!(
        generation(&after),
        generation(&restarted),
        "no second restart"
    );
    assert_eq!(restarted_at(&after), restarted_at(&restarted));
}

/// SPEC 4 step 9: the seed runs on creation; when the first deploy fails, the first one that
/// succeeds runs it, and only once.
#[tokio::test]
async fn the_creation_seed_waits_for_the_first_good_deploy_and_runs_once() {
    use k8s_openapi::api::batch::v1::Job;
    let world = World::start_configured(
        false,
        &format!(
            "\n[apps.seeded]\nrepo = \"{OWNER}/{REPO}\"\nslack_channel = \"{CHANNEL}\"\nmanifests = {{ dir = \"deploy/preview\" }}\nseed = {{ image = \"docker.io/library/busybox:1.36\", command = [\"sh\", \"-c\", \"echo seeded\"], on_create = true }}\n"
        ),
    )
    .await;
    let ns = preview_deploy::PreviewId::new("seeded", PR)
        .namespace(&world.bot.engine.config.bot.namespace_prefix)
        .to_string();
    let jobs = || async {
        let api: kube::Api<Job> = kube::Api::namespaced(world.client.clone(), &ns);
        api.list(&Default::default()).await.unwrap().items.len()
    };
    let phase =
        || async { World::annotation(&world.namespace(&ns).await.unwrap(), annotations::PHASE) };

    world.github.set_head(OWNER, REPO, PR, BAD_IMAGE_SHA);
    world
        .slack_conversation(CHANNEL, "U0DEV", "up seeded#2")
        .await;
    assert_eq!(phase().await.as_deref(), Some("failed"));
    assert_eq!(
        jobs().await,
        0,
        "no seed into a preview that did not come up"
    );

    world.github.set_head(OWNER, REPO, PR, HEAD_SHA);
    let answer = world
        .slack_conversation(CHANNEL, "U0DEV", "up seeded#2")
        .await;
    assert_eq!(phase().await.as_deref(), Some("ready"));
    assert_eq!(jobs().await, 1, "{answer}");

    world.github.set_head(OWNER, REPO, PR, SECOND_SHA);
    world
        .slack_conversation(CHANNEL, "U0DEV", "up seeded#2")
        .await;
    assert_eq!(jobs().await, 1, "seeded once");
}

/// Issue 9's regression check, by counting requests rather than timing them: an `up` of an app
/// with two dependencies reads nothing twice, does not read the kill switch at all (the
/// replica's watch of the state ConfigMap answers), watches each kind of workload once per
/// wave rather than each workload, and reads no workload back after watching it become ready.
#[tokio::test]
async fn an_up_reads_nothing_twice() {
    let world = World::start().await;
    let Some(kube) = &world.kube else { return };
    kube.clear_requests();
    let (status, _) = world.slack_command(CHANNEL, "U0DEV", "up shop#7").await;
    assert_eq!(status, StatusCode::OK);
    world.settle().await;
    let requests = kube.requests();
    let ns = world.ns.replace("hello-pr-2", "shop-pr-7");
    let record = world.namespace(&ns).await.expect("shop preview");
    assert_eq!(
        World::annotation(&record, annotations::PHASE).as_deref(),
        Some("ready")
    );
    let mut reads: std::collections::BTreeMap<String, usize> = Default::default();
    for r in requests.iter().filter(|r| r.verb() == "GET") {
        *reads.entry(r.path.clone()).or_default() += 1;
    }
    // The kill switch comes from the replica's watch, not from a read.
    let state = format!("/namespaces/{BOT_NAMESPACE}/configmaps/preview-bot-state");
    let state_reads: Vec<_> = reads.keys().filter(|p| p.ends_with(&state)).collect();
    assert!(
        state_reads.is_empty(),
        "the kill switch was read: {state_reads:?}"
    );
    let namespace = format!("/api/v1/namespaces/{ns}");
    let repeated: Vec<_> = reads.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "read more than once: {repeated:?}");
    let workload_reads: Vec<_> = reads
        .keys()
        .filter(|p| p.contains("/deployments/") || p.contains("/statefulsets/"))
        .collect();
    assert!(
        workload_reads.is_empty(),
        "workloads read back after their rollout was watched: {workload_reads:?}"
    );
    // The first read of the namespace is the guard against a foreign one of the same name;
    // later saves of the record carry a precondition instead of reading it first.
    assert_eq!(reads.get(&namespace), Some(&1));
    // The dependencies' StatefulSets, then the app's Deployments: at most one list and one
    // watch each (no watch when the list already shows them ready).
    let mut watches: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for r in requests
        .iter()
        .filter(|r| matches!(r.verb(), "LIST" | "WATCH") && r.path.contains("/apis/apps/"))
    {
        *watches
            .entry((r.verb().to_string(), r.path.clone()))
            .or_default() += 1;
    }
    assert!(
        !watches.is_empty() && watches.values().all(|n| *n == 1),
        "one list and watch per kind and wave: {watches:?}"
    );
    let saves = requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == namespace)
        .count();
    // Created, what was applied (before pruning), the outcome: the start's reports were
    // made while the first wave was prepared, and their handles saved with the applied set.
    assert_eq!(saves, 3, "saves of the record");

    // An `up` of the running preview reads its record once.
    kube.clear_requests();
    let (status, _) = world.slack_command(CHANNEL, "U0DEV", "up shop#7").await;
    assert_eq!(status, StatusCode::OK);
    world.settle().await;
    let again = kube
        .requests()
        .iter()
        .filter(|r| r.verb() == "GET" && r.path == namespace)
        .count();
    assert_eq!(again, 1);
}

#[tokio::test]
async fn point_sends_an_upstream_to_a_branch_preview_and_keeps_it_across_redeploys() {
    let world = World::start().await;
    world
        .github
        .set_branch(OWNER, PAYMENTS_REPO, "beta", PAYMENTS_SHA);
    world
        .slack_conversation(CHANNEL, "U0DEV", "up payments@beta")
        .await;
    world.label_at(HEAD_SHA).await;
    let answer = world
        .slack_conversation(CHANNEL, "U0DEV", "point hello#2 payments=payments@beta")
        .await;
    assert!(answer.contains("payments@beta"), "{answer}");
    let beta_ns = preview_deploy::PreviewId::branch("payments", "beta")
        .namespace(&world.bot.engine.config.bot.namespace_prefix)
        .to_string();
    let external_name = || async {
        let api: kube::Api<k8s_openapi::api::core::v1::Service> =
            kube::Api::namespaced(world.client.clone(), &world.ns);
        api.get("payments")
            .await
            .unwrap()
            .spec
            .unwrap()
            .external_name
    };
    let expected = format!("payments.{beta_ns}.svc.cluster.local");
    assert_eq!(external_name().await.as_deref(), Some(expected.as_str()));
    world
        .slack_conversation(CHANNEL, "U0DEV", "redeploy hello#2")
        .await;
    assert_eq!(
        external_name().await.as_deref(),
        Some(expected.as_str()),
        "kept across a redeploy"
    );
    // A branch without a preview is refused.
    let answer = world
        .slack_conversation(CHANNEL, "U0DEV", "point hello#2 payments=payments@gamma")
        .await;
    assert!(answer.contains("payments@gamma"), "{answer}");
    assert_eq!(external_name().await.as_deref(), Some(expected.as_str()));
}

/// With every deploy slot taken, an `up` is announced and recorded at once and deploys when a
/// slot frees up.
#[tokio::test]
async fn a_deploy_waiting_for_a_slot_is_announced_at_once() {
    let world = World::start_with_options(WorldOptions {
        max_parallel_deploys: Some(1),
        ..WorldOptions::default()
    })
    .await;
    let Some(kube) = &world.kube else {
        eprintln!(
            "SKIPPED on a real cluster: a database that never starts needs the simulated one"
        );
        return;
    };
    // The shop's deploy holds the one slot until it is stopped.
    world.start_shop_stuck_on_its_database(kube).await;

    let (status, _) = world.slack_command(CHANNEL, "U0DEV", "up hello#2").await;
    assert_eq!(status, StatusCode::OK);
    let announced = async {
        loop {
            let deploying = world.preview().await.is_some_and(|ns| {
                World::annotation(&ns, annotations::PHASE).as_deref() == Some("deploying")
            });
            let said = channel_text(&world, CHANNEL);
            if deploying && said.contains("hello#2") && said.matches("Deploying `").count() == 2 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), announced)
        .await
        .expect("the waiting deploy is recorded and announced before it has a slot");
    assert!(
        hello_deployment_opt(&world).await.is_none(),
        "nothing of hello is applied while the slot is taken"
    );

    let (status, _) = world.slack_command(CHANNEL, "U0DEV", "down shop#7").await;
    assert_eq!(status, StatusCode::OK);
    world.settle().await;
    let ns = world.preview().await.expect("hello's preview");
    assert_eq!(
        World::annotation(&ns, annotations::PHASE).as_deref(),
        Some("ready")
    );
}

async fn hello_deployment_opt(world: &World) -> Option<Deployment> {
    let api: kube::Api<Deployment> = kube::Api::namespaced(world.client.clone(), &world.ns);
    api.get_opt("hello").await.unwrap()
}

/// A `shared` dependency is only a URL: the app gets it, and nothing is said to be starting.
#[tokio::test]
async fn a_shared_dependency_is_a_url_and_starts_nothing() {
    const STAGING: &str = "postgres://app@staging-db.example.com:5432/app";
    let world = World::start_configured(
        false,
        &format!(
            "\n[apps.hello.dependencies.db]\nkind = \"shared\"\nenv = \"DATABASE_URL\"\nurl = \"{STAGING}\"\n"
        ),
    )
    .await;
    let answer = slack_answer(&world, "up hello#2", "shared-dependency").await;
    assert!(answer.contains("is ready"), "{answer}");
    let thread = thread_texts(&world).join("\n");
    assert!(
        !thread.contains("Starting dependencies"),
        "nothing starts for a shared dependency: {thread}"
    );
    let deployment = hello_deployment(&world).await;
    let env = deployment.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap_or_default();
    assert!(
        env.iter()
            .any(|e| e.name == "DATABASE_URL" && e.value.as_deref() == Some(STAGING)),
        "{env:?}"
    );
}
