//! The fake Slack Web API driven by the real slack-morphism client (and by raw HTTP where
//! the client cannot send what is being tested).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use preview_testkit::fixtures;
use preview_testkit::slack_api::{
    FakeSlack, Fault, FaultResponse, SLACK_BOT_TOKEN, SlackOptions, SlashCommand,
    signed_slash_command, slack_signature,
};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::SlackEventSignatureVerifier;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Connector = SlackClientHyperConnector<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
>;

fn client(fake: &FakeSlack) -> SlackClient<Connector> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    SlackClient::new(
        SlackClientHyperConnector::with_connector(https).with_slack_api_url(&fake.api_url()),
    )
}

fn token(value: &str) -> SlackApiToken {
    SlackApiToken::new(SlackApiTokenValue::new(value.to_string()))
}

fn text(t: &str) -> SlackMessageContent {
    SlackMessageContent::new().with_text(t.to_string())
}

/// One raw HTTP/1.1 request; returns (status, headers, body).
async fn raw(
    fake: &FakeSlack,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(fake.addr()).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        fake.addr(),
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

#[test]
fn signature_reproduces_the_documented_vector() {
    let vector = fixtures::json("slack/signature-vector.json");
    let ts: i64 = vector["x_slack_request_timestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let got = slack_signature(
        vector["signing_secret"].as_str().unwrap(),
        ts,
        vector["body"].as_str().unwrap(),
    );
    assert_eq!(got, vector["x_slack_signature"].as_str().unwrap());
}

#[test]
fn signed_slash_command_is_encoded_and_verifiable() {
    let mut cmd = SlashCommand::new("C0PREVIEW", "U0DEV", "up hello#2 & more");
    cmd.response_url = "http://127.0.0.1:1/response/a b".to_string();
    let ts = chrono::Utc::now().timestamp();
    let (body, headers) = signed_slash_command("s3cret", ts, &cmd);
    assert!(body.contains("command=%2Fpreview"), "{body}");
    assert!(body.contains("text=up+hello%232+%26+more"), "{body}");
    assert!(
        body.contains("response_url=http%3A%2F%2F127.0.0.1%3A1%2Fresponse%2Fa+b"),
        "{body}"
    );
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(header("content-type"), "application/x-www-form-urlencoded");
    assert_eq!(header("x-slack-request-timestamp"), ts.to_string());
    // slack-morphism's own verifier and decoder accept it.
    let verifier = SlackEventSignatureVerifier::new(&SlackSigningSecret::new("s3cret".into()));
    verifier
        .verify(&header("x-slack-signature"), &body, &ts.to_string())
        .unwrap();
    assert!(
        SlackEventSignatureVerifier::new(&SlackSigningSecret::new("other".into()))
            .verify(&header("x-slack-signature"), &body, &ts.to_string())
            .is_err()
    );
    let event: SlackCommandEvent = serde_urlencoded::from_str(&body).unwrap();
    assert_eq!(event.command.0, "/preview");
    assert_eq!(event.text.as_deref(), Some("up hello#2 & more"));
    assert_eq!(event.channel_id.0, "C0PREVIEW");
    assert_eq!(event.user_id.0, "U0DEV");
    let fields: Vec<String> = url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    for f in [
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    ] {
        assert!(fields.iter().any(|k| k == f), "{f} missing in {body}");
    }
}

#[tokio::test]
async fn post_thread_update_with_the_real_client() {
    let fake = FakeSlack::start().await;
    let client = client(&fake);
    let bot_token = token(SLACK_BOT_TOKEN);
    let session = client.open_session(&bot_token);

    let root = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            "C0PREVIEW".into(),
            text("Deploying hello#2"),
        ))
        .await
        .unwrap();
    assert_eq!(root.channel.0, "C0PREVIEW");
    assert_eq!(root.ts.0, "1700000000.000100");
    assert_eq!(
        root.message.content.text.as_deref(),
        Some("Deploying hello#2")
    );

    let reply = session
        .chat_post_message(
            &SlackApiChatPostMessageRequest::new("C0PREVIEW".into(), text("step 1"))
                .with_thread_ts(root.ts.clone()),
        )
        .await
        .unwrap();
    assert_eq!(reply.ts.0, "1700000000.000200");
    session
        .chat_post_message(
            &SlackApiChatPostMessageRequest::new("C0PREVIEW".into(), text("step 2"))
                .with_thread_ts(reply.ts.clone()),
        )
        .await
        .unwrap();

    let updated = session
        .chat_update(&SlackApiChatUpdateRequest::new(
            "C0PREVIEW".into(),
            text("hello#2 is ready"),
            root.ts.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(updated.ts, root.ts);
    assert_eq!(
        updated.message.content.text.as_deref(),
        Some("hello#2 is ready")
    );

    let messages = fake.messages("C0PREVIEW");
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0].text, "hello#2 is ready");
    assert_eq!(messages[0].edits, 1);
    assert_eq!(messages[0].thread_ts, None);
    let thread = fake.thread("C0PREVIEW", &root.ts.0);
    let texts: Vec<&str> = thread.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["step 1", "step 2"],
        "a reply to a reply joins the thread"
    );
    assert!(
        thread
            .iter()
            .all(|m| m.thread_ts.as_deref() == Some(root.ts.0.as_str()))
    );

    // What slack-morphism sends: JSON bodies, bearer token, `{api_url}/chat.postMessage`.
    let calls = fake.calls();
    assert_eq!(calls.len(), 4);
    let first = &calls[0];
    assert_eq!(first.method, "POST");
    assert!(first.path.ends_with("/chat.postMessage"), "{}", first.path);
    assert_eq!(
        first.header("authorization"),
        Some(format!("Bearer {SLACK_BOT_TOKEN}").as_str())
    );
    assert!(
        first
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(first.json.as_ref().unwrap()["channel"], "C0PREVIEW");
    assert_eq!(calls[1].json.as_ref().unwrap()["thread_ts"], root.ts.0);
    assert!(calls[3].path.ends_with("/chat.update"));
}

#[tokio::test]
async fn errors_are_slack_envelopes() {
    let fake = FakeSlack::start().await;
    let client = client(&fake);

    let wrong_token = token("xoxb-wrong");
    let bad = client.open_session(&wrong_token);
    let err = bad
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            "C0PREVIEW".into(),
            text("hi"),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SlackClientError::ApiError(e) if e.code == "invalid_auth"),
        "{err:?}"
    );

    let bot_token = token(SLACK_BOT_TOKEN);
    let session = client.open_session(&bot_token);
    let err = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            "#general".into(),
            text("hi"),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SlackClientError::ApiError(e) if e.code == "channel_not_found"),
        "{err:?}"
    );

    let err = session
        .chat_update(&SlackApiChatUpdateRequest::new(
            "C0PREVIEW".into(),
            text("x"),
            "1234.5678".into(),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SlackClientError::ApiError(e) if e.code == "message_not_found"),
        "{err:?}"
    );

    // No token at all, and an unknown method, over raw HTTP.
    let (status, _, body) = raw(
        &fake,
        "POST",
        "/api/chat.postMessage",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "channel=C0PREVIEW&text=hi",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"error":"not_authed","ok":false}"#);
    let (status, _, body) = raw(
        &fake,
        "POST",
        "/api/chat.nope",
        &[("Authorization", "Bearer xoxb-test-token")],
        "",
    )
    .await;
    assert_eq!(status, 404);
    assert!(body.contains("unknown_method"), "{body}");
    assert!(fake.messages("C0PREVIEW").is_empty());
}

#[tokio::test]
async fn form_encoded_calls_and_token_in_form_are_accepted() {
    let fake = FakeSlack::start().await;
    let (status, _, body) = raw(
        &fake,
        "POST",
        "/api/chat.postMessage",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "token=xoxb-test-token&channel=G0PRIVATE&text=hello+there",
    )
    .await;
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["channel"], "G0PRIVATE");
    assert_eq!(answer["message"]["text"], "hello there");
    assert_eq!(fake.messages("G0PRIVATE")[0].text, "hello there");
    assert_eq!(
        fake.calls()[0].param("text").as_deref(),
        Some("hello there")
    );
}

#[tokio::test]
async fn lookups_and_ephemeral_messages() {
    let fake = FakeSlack::start_with(SlackOptions {
        usergroups: vec![(
            "S0ADMINS".to_string(),
            vec!["U0DEV".to_string(), "U0OPS".to_string()],
        )],
        ..SlackOptions::default()
    })
    .await;
    let client = client(&fake);
    let bot_token = token(SLACK_BOT_TOKEN);
    let session = client.open_session(&bot_token);

    let members = session
        .usergroups_users_list(&SlackApiUserGroupsUsersListRequest::new("S0ADMINS".into()))
        .await
        .unwrap();
    let ids: Vec<&str> = members.users.iter().map(|u| u.0.as_str()).collect();
    assert_eq!(ids, ["U0DEV", "U0OPS"]);
    let fixture_members = session
        .usergroups_users_list(&SlackApiUserGroupsUsersListRequest::new("S0OTHER".into()))
        .await
        .unwrap();
    assert_eq!(fixture_members.users.len(), 2, "fixture members");

    let user = session
        .users_info(&SlackApiUsersInfoRequest::new("U0DEV".into()))
        .await
        .unwrap();
    assert_eq!(user.user.id.0, "U0DEV");

    let info = session
        .conversations_info(&SlackApiConversationsInfoRequest::new("C0PREVIEW".into()))
        .await
        .unwrap();
    assert_eq!(info.channel.id.0, "C0PREVIEW");

    session
        .chat_post_ephemeral(&SlackApiChatPostEphemeralRequest::new(
            "C0PREVIEW".into(),
            "U0DEV".into(),
            text("only you"),
        ))
        .await
        .unwrap();
    let ephemerals = fake.ephemerals("C0PREVIEW");
    assert_eq!(ephemerals.len(), 1);
    assert_eq!(ephemerals[0].user, "U0DEV");
    assert!(fake.messages("C0PREVIEW").is_empty(), "not in the history");
}

#[tokio::test]
async fn respond_to_event_posts_to_the_response_url() {
    let fake = FakeSlack::start().await;
    let client = client(&fake);
    let url: url::Url = fake.response_url("cmd-1").parse().unwrap();
    client
        .respond_to_event(
            &SlackResponseUrl(url),
            &SlackApiPostWebhookMessageRequest::new(text("Preview hello#2: ready"))
                .with_replace_original(false),
        )
        .await
        .unwrap();
    let responses = fake.responses("cmd-1");
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0]["text"], "Preview hello#2: ready");
    assert_eq!(responses[0]["replace_original"], false);
    let call = &fake.calls()[0];
    assert_eq!(call.method, "POST");
    assert_eq!(call.path, "/response/cmd-1");
    assert_eq!(
        call.header("authorization"),
        None,
        "no token on response_url"
    );
    assert!(fake.responses("other").is_empty());
}

#[tokio::test]
async fn faults_rate_limit_status_and_hang() {
    let fake = FakeSlack::start().await;
    let client = client(&fake);
    let bot_token = token(SLACK_BOT_TOKEN);
    let session = client.open_session(&bot_token);
    let post = || SlackApiChatPostMessageRequest::new("C0PREVIEW".into(), text("hello"));

    fake.inject_fault(Fault::new(
        "chat.postMessage",
        1,
        FaultResponse::RateLimited {
            retry_after_secs: 7,
        },
    ));
    // Quirk: slack-morphism treats a response without Content-Type as JSON, so the documented
    // bare 429 (no body, no Content-Type) surfaces as a ProtocolError, not a RateLimitError.
    let err = session.chat_post_message(&post()).await.unwrap_err();
    assert!(
        matches!(&err, SlackClientError::ProtocolError(_)),
        "{err:?}"
    );
    // A 429 with Slack's JSON error envelope (via a Raw fault) gives RateLimitError with the
    // Retry-After delay.
    fake.inject_fault(Fault::new(
        "chat.postMessage",
        1,
        FaultResponse::Raw {
            status: 429,
            headers: vec![
                ("Retry-After".into(), "7".into()),
                (
                    "Content-Type".into(),
                    "application/json; charset=utf-8".into(),
                ),
            ],
            body: r#"{"ok":false,"error":"ratelimited"}"#.into(),
        },
    ));
    let err = session.chat_post_message(&post()).await.unwrap_err();
    match &err {
        SlackClientError::RateLimitError(e) => {
            assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
            assert_eq!(e.code.as_deref(), Some("ratelimited"));
        }
        other => panic!("{other:?}"),
    }
    let (status, head, body) = {
        fake.inject_fault(Fault::new(
            "chat.postMessage",
            1,
            FaultResponse::RateLimited {
                retry_after_secs: 30,
            },
        ));
        raw(
            &fake,
            "POST",
            "/api/chat.postMessage",
            &[("Authorization", "Bearer xoxb-test-token")],
            "",
        )
        .await
    };
    assert_eq!(status, 429);
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 30"),
        "{head}"
    );
    assert_eq!(body, "", "documented 429 has no body");

    // The fault is used up: the next call goes through.
    session.chat_post_message(&post()).await.unwrap();

    fake.inject_fault(
        Fault::new("/chat.update", 2, FaultResponse::Status(503)).with_method("POST"),
    );
    // A method mismatch does not trigger it.
    session.chat_post_message(&post()).await.unwrap();
    let ts = fake.messages("C0PREVIEW")[0].ts.clone();
    let update = SlackApiChatUpdateRequest::new("C0PREVIEW".into(), text("x"), ts.into());
    for _ in 0..2 {
        let err = session.chat_update(&update).await.unwrap_err();
        assert!(
            matches!(&err, SlackClientError::HttpError(e) if e.status_code.as_u16() == 503),
            "{err:?}"
        );
    }
    session.chat_update(&update).await.unwrap();

    fake.inject_fault(Fault::new("chat.postMessage", 1, FaultResponse::Hang));
    let hung = tokio::time::timeout(
        Duration::from_millis(300),
        session.chat_post_message(&post()),
    )
    .await;
    assert!(hung.is_err(), "the call hangs");
    let calls = fake.calls();
    let last = calls.last().unwrap();
    assert!(last.faulted && last.status.is_none());
    assert_eq!(fake.messages("C0PREVIEW").len(), 2);
}

/// Socket Mode as Slack documents it: only the app-level token opens a connection, each URL
/// connects once, the connection is greeted with `hello`, gets the pushed envelopes and
/// `disconnect`, and what the client sends is recorded.
#[tokio::test]
async fn socket_mode_connections_hello_envelopes_and_acks() {
    use futures::{SinkExt, StreamExt};
    use preview_testkit::slack_api::{SLACK_APP_TOKEN, slash_command_envelope};
    use tokio_tungstenite::tungstenite::Message;

    let fake = FakeSlack::start().await;
    let client = client(&fake);
    let open = |t: &str| {
        let t = token(t);
        let client = &client;
        async move {
            client
                .open_session(&t)
                .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
                .await
                .map(|r| r.url.value().to_string())
        }
    };
    for (wrong, code) in [
        (SLACK_BOT_TOKEN, "not_allowed_token_type"),
        ("xapp-1-unknown", "invalid_auth"),
    ] {
        match open(wrong).await {
            Err(SlackClientError::ApiError(e)) => assert_eq!(e.code, code),
            other => panic!("{other:?}"),
        }
    }
    let url = open(SLACK_APP_TOKEN).await.unwrap();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    assert!(url.contains("/link/?ticket="), "{url}");

    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let next_json = |frame: Option<Result<Message, _>>| -> serde_json::Value {
        match frame {
            Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    let hello = next_json(socket.next().await);
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["num_connections"], 1);
    assert!(fake.wait_for_socket(1, Duration::from_secs(5)).await);
    // The URL was single-use.
    assert!(
        tokio_tungstenite::connect_async(url.as_str())
            .await
            .is_err()
    );
    assert_eq!(fake.socket_connections_refused(), 1);

    let command = SlashCommand::new("C0HELLO", "U0DEV", "status web#1");
    assert!(fake.socket_send(&slash_command_envelope("e-1", &command)));
    let envelope = next_json(socket.next().await);
    assert_eq!(envelope["type"], "slash_commands");
    assert_eq!(envelope["envelope_id"], "e-1");
    assert_eq!(envelope["accepts_response_payload"], true);
    assert_eq!(envelope["payload"]["text"], "status web#1");
    assert_eq!(envelope["payload"]["channel_id"], "C0HELLO");
    assert_eq!(envelope["payload"]["is_enterprise_install"], "false");
    socket
        .send(Message::Text(r#"{"envelope_id":"e-1"}"#.into()))
        .await
        .unwrap();
    socket.send(Message::Text("not json".into())).await.unwrap();
    let acks = fake.wait_for_acks("e-1", 1, Duration::from_secs(5)).await;
    assert_eq!(acks, vec![serde_json::json!({"envelope_id": "e-1"})]);

    assert!(fake.socket_disconnect("refresh_requested"));
    let disconnect = next_json(socket.next().await);
    assert_eq!(disconnect["type"], "disconnect");
    assert_eq!(disconnect["reason"], "refresh_requested");
    for _ in 0..100 {
        if !fake.socket_malformed().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.socket_malformed(), vec!["not json".to_string()]);
    assert_eq!(fake.socket_drop(), 1);
    assert!(matches!(socket.next().await, None | Some(Err(_))));
}
