//! The fake GitHub REST API driven by the real octocrab client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use http_body_util::BodyExt;
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use preview_testkit::fixtures;
use preview_testkit::github_api::{
    FakeGitHub, Fault, FaultResponse, GITHUB_APP_ID, GITHUB_TOKEN, GitHubOptions, PullSpec,
    generate_app_key, signed_webhook, webhook_signature,
};
use serde_json::{Value, json};
use std::io::Read;
use std::time::Duration;

const O: &str = "Codertocat";
const R: &str = "Hello-World";
const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const SHA2: &str = "2f1ab9b1c3c5d27ea3f8a8e8d4c86b8f4f1a7e02";

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn octocrab(fake: &FakeGitHub, token: &str) -> Octocrab {
    install_crypto();
    Octocrab::builder()
        .base_uri(fake.url())
        .unwrap()
        .personal_token(token.to_string())
        .build()
        .unwrap()
}

async fn seeded() -> FakeGitHub {
    let fake = FakeGitHub::start().await;
    fake.add_repo(O, R);
    fake.add_pull(PullSpec::new(O, R, 2, SHA, "changes", "octo-dev").with_labels(["preview"]));
    fake.add_commit_tree(
        O,
        R,
        SHA,
        vec![
            (
                "deploy/preview/app.yaml".to_string(),
                b"kind: Deployment\n".to_vec(),
            ),
            ("README.md".to_string(), b"# hello\n".to_vec()),
        ],
    );
    fake
}

fn status_of(err: &octocrab::Error) -> u16 {
    match err {
        octocrab::Error::GitHub { source, .. } => source.status_code.as_u16(),
        other => panic!("not a GitHub error: {other:?}"),
    }
}

fn message_of(err: &octocrab::Error) -> String {
    match err {
        octocrab::Error::GitHub { source, .. } => source.message.clone(),
        other => panic!("not a GitHub error: {other:?}"),
    }
}

#[test]
fn webhook_signature_reproduces_the_documented_vector() {
    let vector = fixtures::json("github/signature-vector.json");
    let secret = vector["secret"].as_str().unwrap();
    let payload = vector["payload"].as_str().unwrap();
    assert_eq!(
        webhook_signature(secret, payload),
        vector["signature_256"].as_str().unwrap()
    );
    let headers = signed_webhook(secret, "ping", payload);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(
        get("x-hub-signature-256"),
        vector["signature_256"].as_str().unwrap()
    );
    assert_eq!(get("x-github-event"), "ping");
    assert_eq!(get("content-type"), "application/json");
    let again = signed_webhook(secret, "ping", payload);
    let delivery = get("x-github-delivery");
    assert_eq!(delivery.len(), 36, "{delivery}");
    assert_ne!(
        delivery,
        again
            .iter()
            .find(|(k, _)| k == "X-GitHub-Delivery")
            .unwrap()
            .1,
        "fresh delivery id"
    );
    // octocrab's webhook parser accepts the signature.
    let body = fixtures::read("github/pull_request.opened.json");
    let headers = signed_webhook("s3cret", "pull_request", &body);
    let sig = &headers
        .iter()
        .find(|(k, _)| k == "X-Hub-Signature-256")
        .unwrap()
        .1;
    use octocrab::models::webhook_events::{WebhookEvent, WebhookEventPayload};
    let event =
        WebhookEvent::try_from_header_signature_and_body("pull_request", sig, "s3cret", &body)
            .unwrap();
    assert!(matches!(
        event.specific,
        WebhookEventPayload::PullRequest(_)
    ));
    assert!(
        WebhookEvent::try_from_header_signature_and_body("pull_request", sig, "wrong", &body)
            .is_err()
    );
}

#[tokio::test]
async fn get_pull_request_as_json_and_as_model() {
    let fake = seeded().await;
    let gh = octocrab(&fake, GITHUB_TOKEN);
    let pr: Value = gh
        .get(format!("/repos/{O}/{R}/pulls/2"), None::<&()>)
        .await
        .unwrap();
    assert_eq!(pr["number"], 2);
    assert_eq!(pr["state"], "open");
    assert_eq!(pr["merged"], false);
    assert_eq!(pr["head"]["sha"], SHA);
    assert_eq!(pr["head"]["ref"], "changes");
    assert_eq!(pr["head"]["repo"]["full_name"], format!("{O}/{R}"));
    assert_eq!(pr["base"]["repo"]["name"], R);
    assert_eq!(pr["base"]["repo"]["owner"]["login"], O);
    assert_eq!(pr["user"]["login"], "octo-dev");
    assert_eq!(pr["html_url"], format!("https://github.com/{O}/{R}/pull/2"));
    assert_eq!(pr["labels"][0]["name"], "preview");

    // octocrab's typed model deserializes it too.
    let model = gh.pulls(O, R).get(2).await.unwrap();
    assert_eq!(model.number, 2);
    assert_eq!(model.head.sha, SHA);

    fake.set_head(O, R, 2, SHA2);
    fake.close_pull(O, R, 2, true);
    let pr: Value = gh
        .get(format!("/repos/{O}/{R}/pulls/2"), None::<&()>)
        .await
        .unwrap();
    assert_eq!(pr["head"]["sha"], SHA2);
    assert_eq!(pr["state"], "closed");
    assert_eq!(pr["merged"], true);
    assert!(pr["merged_at"].is_string());

    let call = &fake.calls()[0];
    assert_eq!(call.method, "GET");
    assert_eq!(call.path, format!("/repos/{O}/{R}/pulls/2"));
    assert_eq!(
        call.header("authorization"),
        Some(format!("Bearer {GITHUB_TOKEN}").as_str())
    );

    let err = gh
        .get::<Value, _, _>(format!("/repos/{O}/{R}/pulls/99"), None::<&()>)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);
    assert_eq!(message_of(&err), "Not Found");
}

#[tokio::test]
async fn bad_credentials_are_401() {
    let fake = seeded().await;
    let err = octocrab(&fake, "ghp-wrong")
        .get::<Value, _, _>(format!("/repos/{O}/{R}/pulls/2"), None::<&()>)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 401);
    assert_eq!(message_of(&err), "Bad credentials");
}

#[tokio::test]
async fn comments_create_update_and_octocrab_quirks() {
    let fake = seeded().await;
    let gh = octocrab(&fake, GITHUB_TOKEN);

    let created: Value = gh
        .post(
            format!("/repos/{O}/{R}/issues/2/comments"),
            Some(&json!({ "body": "Deploying `ec26c3e`" })),
        )
        .await
        .unwrap();
    let id = created["id"].as_u64().unwrap();
    assert_eq!(created["body"], "Deploying `ec26c3e`");
    assert_eq!(created["user"]["login"], "preview-bot[bot]");
    assert_eq!(created["user"]["type"], "Bot");
    assert_eq!(
        created["issue_url"],
        format!("https://api.github.com/repos/{O}/{R}/issues/2")
    );

    let patched: Value = gh
        .patch(
            format!("/repos/{O}/{R}/issues/comments/{id}"),
            Some(&json!({ "body": "ready" })),
        )
        .await
        .unwrap();
    assert_eq!(patched["body"], "ready");

    // octocrab's typed calls: create_comment, and update_comment which is sent as POST.
    let typed = gh.issues(O, R).create_comment(2, "second").await.unwrap();
    gh.issues(O, R)
        .update_comment(typed.id, "second, edited")
        .await
        .unwrap();
    let update_call = fake.calls().into_iter().last().unwrap();
    assert_eq!(update_call.method, "POST");
    assert_eq!(
        update_call.path,
        format!("/repos/{O}/{R}/issues/comments/{}", typed.id)
    );

    let comments = fake.comments(O, R, 2);
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0].id, id);
    assert_eq!(comments[0].body, "ready");
    assert_eq!(comments[0].edits, 1);
    assert_eq!(comments[0].author, "preview-bot[bot]");
    assert_eq!(comments[1].body, "second, edited");

    let listed: Vec<Value> = gh
        .get(format!("/repos/{O}/{R}/issues/2/comments"), None::<&()>)
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);

    // Unknown ids 404; a missing body is 422; an unknown PR is 404.
    let err = gh
        .patch::<Value, _, _>(
            format!("/repos/{O}/{R}/issues/comments/424242"),
            Some(&json!({ "body": "x" })),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);
    let err = gh
        .patch::<Value, _, _>(
            format!("/repos/{O}/{R}/issues/comments/{id}"),
            Some(&json!({ "text": "x" })),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 422);
    let err = gh
        .post::<_, Value>(
            format!("/repos/{O}/{R}/issues/77/comments"),
            Some(&json!({ "body": "x" })),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);
}

#[tokio::test]
async fn reactions_on_user_comments() {
    let fake = seeded().await;
    fake.add_comment(O, R, 2, 9001, "octo-dev", "/preview down");
    let gh = octocrab(&fake, GITHUB_TOKEN);
    let route = format!("/repos/{O}/{R}/issues/comments/9001/reactions");

    let first: Value = gh
        .post(&route, Some(&json!({ "content": "eyes" })))
        .await
        .unwrap();
    assert_eq!(first["content"], "eyes");
    assert_eq!(fake.calls().last().unwrap().status, Some(201));
    let again: Value = gh
        .post(&route, Some(&json!({ "content": "eyes" })))
        .await
        .unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(fake.calls().last().unwrap().status, Some(200));
    gh.issues(O, R)
        .create_comment_reaction(
            9001u64,
            octocrab::models::reactions::ReactionContent::Rocket,
        )
        .await
        .unwrap();
    assert_eq!(fake.reactions(9001), ["eyes", "rocket"]);

    let err = gh
        .post::<_, Value>(&route, Some(&json!({ "content": "thumbsup" })))
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 422);
    assert_eq!(message_of(&err), "Validation Failed");
    let err = gh
        .post::<_, Value>(
            format!("/repos/{O}/{R}/issues/comments/1/reactions"),
            Some(&json!({ "content": "eyes" })),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);
    // The comment the test seeded is listed with its author.
    assert_eq!(fake.comments(O, R, 2)[0].author, "octo-dev");
}

#[tokio::test]
async fn deployments_and_statuses() {
    let fake = seeded().await;
    let gh = octocrab(&fake, GITHUB_TOKEN);
    let body = json!({
        "ref": SHA,
        "environment": "preview/hello-pr-2",
        "description": "Preview of #2",
        "auto_merge": false,
        "required_contexts": [],
        "transient_environment": true,
        "production_environment": false,
    });
    let deployment: Value = gh
        .post(format!("/repos/{O}/{R}/deployments"), Some(&body))
        .await
        .unwrap();
    let id = deployment["id"].as_u64().unwrap();
    assert_eq!(deployment["sha"], SHA);
    assert_eq!(deployment["environment"], "preview/hello-pr-2");
    assert_eq!(deployment["transient_environment"], true);
    assert_eq!(deployment["production_environment"], false);
    assert_eq!(fake.calls().last().unwrap().status, Some(201));

    for (state, extra) in [
        (
            "in_progress",
            json!({ "log_url": "https://ci.example/logs/1" }),
        ),
        (
            "success",
            json!({ "environment_url": "https://hello-pr-2.preview.example" }),
        ),
    ] {
        let mut status = json!({ "state": state, "description": "step", "auto_inactive": false });
        status
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let answer: Value = gh
            .post(
                format!("/repos/{O}/{R}/deployments/{id}/statuses"),
                Some(&status),
            )
            .await
            .unwrap();
        assert_eq!(answer["state"], state);
    }
    let deployments = fake.deployments(O, R);
    assert_eq!(deployments.len(), 1);
    assert!(deployments[0].transient && !deployments[0].production);
    let statuses = fake.deployment_statuses(id);
    let states: Vec<&str> = statuses.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["in_progress", "success"]);
    assert_eq!(
        statuses[0].log_url.as_deref(),
        Some("https://ci.example/logs/1")
    );
    assert_eq!(
        statuses[1].environment_url.as_deref(),
        Some("https://hello-pr-2.preview.example")
    );
    assert_eq!(statuses[1].description.as_deref(), Some("step"));

    let listed: Vec<Value> = gh
        .get(
            format!("/repos/{O}/{R}/deployments"),
            Some(&[("environment", "preview/hello-pr-2")]),
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let none: Vec<Value> = gh
        .get(
            format!("/repos/{O}/{R}/deployments"),
            Some(&[("environment", "other")]),
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    let listed_statuses: Vec<Value> = gh
        .get(
            format!("/repos/{O}/{R}/deployments/{id}/statuses"),
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(listed_statuses[0]["state"], "success", "newest first");

    // Validation as GitHub does it.
    let err = gh
        .post::<_, Value>(
            format!("/repos/{O}/{R}/deployments/{id}/statuses"),
            Some(&json!({ "state": "done" })),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 422);
    let err = gh
        .post::<_, Value>(
            format!("/repos/{O}/{R}/deployments/{id}/statuses"),
            Some(&json!({ "state": "success", "description": "x".repeat(141) })),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 422);
    let err = gh
        .post::<_, Value>(
            format!("/repos/{O}/{R}/deployments"),
            Some(&json!({ "ref": "no-such-branch" })),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 422);
    let err = gh
        .post::<_, Value>(
            format!("/repos/{O}/{R}/deployments/999999/statuses"),
            Some(&json!({ "state": "success" })),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);
}

#[tokio::test]
async fn auto_inactive_marks_prior_persistent_deployments() {
    let fake = seeded().await;
    fake.set_head(O, R, 2, SHA2);
    fake.add_commit_tree(O, R, SHA2, vec![]);
    let gh = octocrab(&fake, GITHUB_TOKEN);
    let mut ids = Vec::new();
    for sha in [SHA, SHA2] {
        let d: Value = gh
            .post(
                format!("/repos/{O}/{R}/deployments"),
                Some(&json!({ "ref": sha, "environment": "staging", "required_contexts": [] })),
            )
            .await
            .unwrap();
        let id = d["id"].as_u64().unwrap();
        let _: Value = gh
            .post(
                format!("/repos/{O}/{R}/deployments/{id}/statuses"),
                Some(&json!({ "state": "success" })),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    let first: Vec<(String, bool)> = fake
        .deployment_statuses(ids[0])
        .into_iter()
        .map(|s| (s.state, s.automatic))
        .collect();
    assert_eq!(
        first,
        [
            ("success".to_string(), false),
            ("inactive".to_string(), true)
        ]
    );
    assert_eq!(fake.deployment_statuses(ids[1]).len(), 1);
}

async fn untar(bytes: &[u8]) -> Vec<(String, Vec<u8>, tar::EntryType)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let kind = entry.header().entry_type();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push((path, data, kind));
    }
    out
}

#[tokio::test]
async fn download_tarball_follows_the_redirect() {
    let fake = seeded().await;
    let gh = octocrab(&fake, GITHUB_TOKEN);
    let response = gh
        .repos(O, R)
        .download_tarball(SHA.to_string())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let entries = untar(&bytes).await;
    let top = format!("{O}-{R}-{}", &SHA[..7]);
    // GitHub's archives start with a pax global header carrying the commit.
    assert_eq!(entries[0].2, tar::EntryType::XGlobalHeader);
    assert!(String::from_utf8_lossy(&entries[0].1).contains(&format!("comment={SHA}")));
    let files: Vec<(&str, &[u8])> = entries
        .iter()
        .filter(|e| e.2 == tar::EntryType::Regular)
        .map(|e| (e.0.as_str(), e.1.as_slice()))
        .collect();
    assert!(files.contains(&(
        format!("{top}/deploy/preview/app.yaml").as_str(),
        b"kind: Deployment\n".as_slice()
    )));
    assert!(files.contains(&(format!("{top}/README.md").as_str(), b"# hello\n".as_slice())));
    assert!(
        entries
            .iter()
            .skip(1)
            .all(|e| e.0.starts_with(&format!("{top}/"))),
        "single top-level directory"
    );

    let calls = fake.calls();
    assert_eq!(calls[0].path, format!("/repos/{O}/{R}/tarball/{SHA}"));
    assert_eq!(calls[0].status, Some(302));
    assert_eq!(
        calls[1].path,
        format!("/_codeload/{O}/{R}/legacy.tar.gz/{SHA}")
    );

    // A directory tree, and an unknown ref.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("k8s")).unwrap();
    std::fs::write(dir.path().join("k8s/svc.yaml"), "kind: Service\n").unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(".git/HEAD"), "ref").unwrap();
    fake.add_commit_dir(O, R, SHA2, dir.path()).unwrap();
    let response = gh
        .repos(O, R)
        .download_tarball(SHA2.to_string())
        .await
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let names: Vec<String> = untar(&bytes)
        .await
        .into_iter()
        .filter(|e| e.2 == tar::EntryType::Regular)
        .map(|e| e.0)
        .collect();
    assert_eq!(names, [format!("{O}-{R}-{}/k8s/svc.yaml", &SHA2[..7])]);

    // Quirk: download_tarball does not turn error statuses into Err; check the status.
    let missing = gh
        .repos(O, R)
        .download_tarball("0123456789abcdef0123456789abcdef01234567".to_string())
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn collaborator_permission_and_check_runs() {
    let fake = seeded().await;
    fake.set_permission(O, R, "octo-dev", "maintain");
    let gh = octocrab(&fake, GITHUB_TOKEN);
    let p: Value = gh
        .get(
            format!("/repos/{O}/{R}/collaborators/octo-dev/permission"),
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(p["permission"], "write");
    assert_eq!(p["role_name"], "maintain");
    assert_eq!(p["user"]["login"], "octo-dev");
    let p: Value = gh
        .get(
            format!("/repos/{O}/{R}/collaborators/stranger/permission"),
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(p["permission"], "none");

    let run: Value = gh
        .post(
            format!("/repos/{O}/{R}/check-runs"),
            Some(&json!({ "name": "preview", "head_sha": SHA, "status": "in_progress" })),
        )
        .await
        .unwrap();
    let id = run["id"].as_u64().unwrap();
    assert_eq!(run["status"], "in_progress");
    let done: Value = gh
        .patch(
            format!("/repos/{O}/{R}/check-runs/{id}"),
            Some(&json!({
                "conclusion": "success",
                "output": { "title": "Preview ready", "summary": "https://x" }
            })),
        )
        .await
        .unwrap();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["conclusion"], "success");
    assert_eq!(
        fake.check_runs(O, R)[0].conclusion.as_deref(),
        Some("success")
    );
    let err = gh
        .post::<_, Value>(
            format!("/repos/{O}/{R}/check-runs"),
            Some(&json!({ "name": "preview", "head_sha": SHA, "status": "completed" })),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 422, "completed needs a conclusion");
}

#[tokio::test]
async fn faults_are_injected_and_octocrab_retries_5xx() {
    let fake = seeded().await;
    let gh = octocrab(&fake, GITHUB_TOKEN);
    let route = format!("/repos/{O}/{R}/pulls/2");

    // octocrab's default RetryConfig::Simple(3) retries 5xx/429 silently: one fault is hidden.
    fake.inject_fault(Fault::new("/pulls/2", 1, FaultResponse::Status(502)));
    let pr: Value = gh.get(&route, None::<&()>).await.unwrap();
    assert_eq!(pr["number"], 2);
    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls[0].faulted && calls[0].status == Some(502));

    // Four in a row exhaust the retries.
    fake.clear_calls();
    fake.inject_fault(Fault::new("/pulls/2", 4, FaultResponse::Status(500)));
    let err = gh
        .get::<Value, _, _>(&route, None::<&()>)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 500);
    assert_eq!(fake.calls().len(), 4);

    // Method filter, and a non-retried status.
    fake.inject_fault(
        Fault::new("/issues/2/comments", 1, FaultResponse::Status(403)).with_method("POST"),
    );
    let _: Vec<Value> = gh
        .get(format!("/repos/{O}/{R}/issues/2/comments"), None::<&()>)
        .await
        .unwrap();
    let err = gh
        .post::<_, Value>(
            format!("/repos/{O}/{R}/issues/2/comments"),
            Some(&json!({ "body": "x" })),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 403);

    // Rate limiting: 429 with Retry-After and x-ratelimit-* headers.
    let no_retry = Octocrab::builder()
        .base_uri(fake.url())
        .unwrap()
        .personal_token(GITHUB_TOKEN.to_string())
        .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
        .build()
        .unwrap();
    fake.inject_fault(Fault::new(
        "/pulls/2",
        1,
        FaultResponse::RateLimited {
            retry_after_secs: 9,
        },
    ));
    let err = no_retry
        .get::<Value, _, _>(&route, None::<&()>)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 429);
    match &err {
        octocrab::Error::GitHub { source, .. } => {
            let headers = source.headers.as_ref().unwrap();
            assert_eq!(headers["retry-after"], "9");
            assert_eq!(headers["x-ratelimit-remaining"], "0");
        }
        other => panic!("{other:?}"),
    }

    // A hang: only a client-side timeout ends it.
    fake.inject_fault(Fault::new("/pulls/2", 1, FaultResponse::Hang));
    let hung = tokio::time::timeout(
        Duration::from_millis(300),
        no_retry.get::<Value, _, _>(&route, None::<&()>),
    )
    .await;
    assert!(hung.is_err());
}

#[tokio::test]
async fn github_app_installation_flow() {
    // RSA key generation is slow in debug builds; 1024 bits keeps this test quick.
    let key = generate_app_key(1024).unwrap();
    let fake = FakeGitHub::start_with(GitHubOptions {
        app_public_key_pem: Some(key.public_pem.clone()),
        ..GitHubOptions::default()
    })
    .await;
    fake.add_repo(O, R);
    fake.add_pull(PullSpec::new(O, R, 2, SHA, "changes", "octo-dev"));
    install_crypto();
    let app = Octocrab::builder()
        .base_uri(fake.url())
        .unwrap()
        .app_from_rsa_pem(AppId(GITHUB_APP_ID), key.private_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();

    let installation = app.apps().get_repository_installation(O, R).await.unwrap();
    assert_eq!(installation.id, InstallationId(1));
    let raw: Value = app
        .get(format!("/repos/{O}/{R}/installation"), None::<&()>)
        .await
        .unwrap();
    assert_eq!(raw["app_id"], GITHUB_APP_ID);

    // The app JWT alone cannot read repositories.
    let err = app
        .get::<Value, _, _>(format!("/repos/{O}/{R}/pulls/2"), None::<&()>)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 403);

    let as_installation = app.installation(installation.id).unwrap();
    let pr: Value = as_installation
        .get(format!("/repos/{O}/{R}/pulls/2"), None::<&()>)
        .await
        .unwrap();
    assert_eq!(pr["number"], 2);
    let tokens = fake.installation_tokens();
    assert_eq!(tokens.len(), 1);
    let calls = fake.calls();
    let token_call = calls
        .iter()
        .find(|c| c.path == "/app/installations/1/access_tokens")
        .unwrap();
    assert_eq!(token_call.method, "POST");
    assert_eq!(token_call.status, Some(201));
    assert_eq!(
        calls.last().unwrap().header("authorization"),
        Some(format!("Bearer {}", tokens[0]).as_str())
    );

    // A JWT signed by another key, or for another app, is refused.
    let other = generate_app_key(1024).unwrap();
    for (id, pem) in [
        (GITHUB_APP_ID, other.private_pem.as_str()),
        (GITHUB_APP_ID + 1, key.private_pem.as_str()),
    ] {
        let wrong = Octocrab::builder()
            .base_uri(fake.url())
            .unwrap()
            .app_from_rsa_pem(AppId(id), pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let err = wrong
            .apps()
            .get_repository_installation(O, R)
            .await
            .unwrap_err();
        assert_eq!(status_of(&err), 401);
    }

    // Expired installation tokens stop working.
    fake.expire_installation_tokens();
    let err = octocrab(&fake, &tokens[0])
        .get::<Value, _, _>(format!("/repos/{O}/{R}/pulls/2"), None::<&()>)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 401);
}

/// `GET /pulls`: state filter, `per_page` (default 30, at most 100), `page` and GitHub's `Link`
/// header, items shaped like the fixture's pull request without its detail-only fields.
#[tokio::test]
async fn pull_requests_are_listed_page_by_page_with_link_headers() {
    let fake = FakeGitHub::start().await;
    fake.add_repo(O, R);
    for n in 1..=160 {
        fake.add_pull(PullSpec::new(
            O,
            R,
            n,
            SHA,
            &format!("branch-{n}"),
            "octo-dev",
        ));
    }
    // 5 closed (two merged): 155 open.
    for n in [3, 40, 99, 120, 158] {
        fake.close_pull(O, R, n, n % 2 == 0);
    }
    let gh = octocrab(&fake, GITHUB_TOKEN);
    let get = |route: String| {
        let gh = gh.clone();
        async move {
            let response = gh._get(route).await.unwrap();
            assert_eq!(response.status(), 200);
            let link = response
                .headers()
                .get("link")
                .map(|v| v.to_str().unwrap().to_string());
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let items: Vec<Value> = serde_json::from_slice(&body).unwrap();
            (items, link)
        }
    };
    let base = format!("{}/repos/{O}/{R}/pulls", fake.url());

    // Defaults: open ones, 30 a page, newest first.
    let (items, link) = get(format!("/repos/{O}/{R}/pulls")).await;
    assert_eq!(items.len(), 30);
    assert_eq!(items[0]["number"], 160);
    assert_eq!(items[1]["number"], 159, "158 is closed");
    assert!(items.iter().all(|i| i["state"] == "open"));
    assert_eq!(
        link.as_deref(),
        Some(format!(r#"<{base}?page=2>; rel="next", <{base}?page=6>; rel="last""#).as_str())
    );
    // A list item is the fixture's pull request without the fields only a single read has.
    let item = &items[0];
    assert_eq!(item["head"]["ref"], "branch-160");
    assert_eq!(item["head"]["sha"], SHA);
    assert_eq!(item["user"]["login"], "octo-dev");
    assert_eq!(
        item["html_url"],
        format!("https://github.com/{O}/{R}/pull/160")
    );
    for absent in [
        "merged",
        "mergeable",
        "comments",
        "commits",
        "changed_files",
    ] {
        assert!(item.get(absent).is_none(), "{absent} in {item}");
    }
    let fixture = fixtures::json("github/api/get-pull-request.json");
    for key in item.as_object().unwrap().keys() {
        assert!(fixture.get(key).is_some(), "{key} is not in the fixture");
    }

    // per_page=100: two pages; the query is kept in the links.
    let (first, link) = get(format!("/repos/{O}/{R}/pulls?state=open&per_page=100")).await;
    assert_eq!(first.len(), 100);
    assert_eq!(
        link.as_deref(),
        Some(
            format!(
                r#"<{base}?state=open&per_page=100&page=2>; rel="next", <{base}?state=open&per_page=100&page=2>; rel="last""#
            )
            .as_str()
        )
    );
    let (second, link) = get(format!(
        "/repos/{O}/{R}/pulls?state=open&per_page=100&page=2"
    ))
    .await;
    assert_eq!(second.len(), 55);
    assert_eq!(
        link.as_deref(),
        Some(
            format!(
                r#"<{base}?state=open&per_page=100&page=1>; rel="prev", <{base}?state=open&per_page=100&page=1>; rel="first""#
            )
            .as_str()
        )
    );
    let mut numbers: Vec<u64> = first
        .iter()
        .chain(&second)
        .map(|i| i["number"].as_u64().unwrap())
        .collect();
    numbers.sort_unstable();
    let open: Vec<u64> = (1..=160)
        .filter(|n| ![3, 40, 99, 120, 158].contains(n))
        .collect();
    assert_eq!(numbers, open);

    // A middle page links every way; per_page above 100 is 100.
    let (items, link) = get(format!("/repos/{O}/{R}/pulls?per_page=50&page=2")).await;
    assert_eq!(items.len(), 50);
    let link = link.unwrap();
    for rel in ["prev", "next", "last", "first"] {
        assert!(link.contains(&format!(r#"rel="{rel}""#)), "{link}");
    }
    assert!(link.contains("per_page=50&page=4>; rel=\"last\""), "{link}");
    let (items, _) = get(format!("/repos/{O}/{R}/pulls?per_page=500")).await;
    assert_eq!(items.len(), 100);

    // Closed, all, a lone page without a Link header, a page past the end.
    let (closed, link) = get(format!("/repos/{O}/{R}/pulls?state=closed")).await;
    let closed: Vec<(u64, &str)> = closed
        .iter()
        .map(|i| (i["number"].as_u64().unwrap(), i["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        closed,
        [
            (158, "closed"),
            (120, "closed"),
            (99, "closed"),
            (40, "closed"),
            (3, "closed")
        ]
    );
    assert_eq!(link, None);
    let (all, _) = get(format!(
        "/repos/{O}/{R}/pulls?state=all&per_page=100&page=2"
    ))
    .await;
    assert_eq!(all.len(), 60);
    let (past, _) = get(format!("/repos/{O}/{R}/pulls?page=9")).await;
    assert!(past.is_empty());
    let err = gh
        .get::<Value, _, _>(format!("/repos/{O}/{R}/pulls?state=merged"), None::<&()>)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 422);

    // octocrab's typed list and its pagination helpers follow the links to the end.
    let page = gh
        .pulls(O, R)
        .list()
        .state(octocrab::params::State::Open)
        .per_page(100)
        .send()
        .await
        .unwrap();
    assert_eq!(page.items.len(), 100);
    assert!(page.next.is_some());
    let everything = gh.all_pages(page).await.unwrap();
    assert_eq!(everything.len(), 155);

    // The listing is faulted like any other route (the query is part of what faults match).
    fake.inject_fault(Fault::new("/pulls?", 1, FaultResponse::Status(403)));
    let err = gh
        .get::<Value, _, _>(format!("/repos/{O}/{R}/pulls?state=open"), None::<&()>)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 403);
    let listed = fake
        .calls_to("GET /repos/Codertocat/Hello-World/pulls")
        .into_iter()
        .filter(|c| c.path.ends_with("/pulls"))
        .count();
    assert!(listed >= 10, "{listed}");
}
