//! Raw HTTP against the fake: bad input gets proper `Status` answers, never a panic; YAML apply
//! bodies; streaming-list watches; the request log.
#![allow(clippy::unwrap_used)]

use futures::TryStreamExt;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use preview_testkit::kube_api::FakeKube;
use serde_json::{Value, json};
use std::time::Duration;

async fn send(
    client: &kube::Client,
    method: &str,
    uri: &str,
    ct: &str,
    body: &str,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct)
        .body(kube::client::Body::from(body.as_bytes().to_vec()))
        .unwrap();
    let res = client.send(req).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

#[tokio::test]
async fn bad_requests_get_status_bodies() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    let cm = "/api/v1/namespaces/default/configmaps";
    let cases: Vec<(&str, String, &str, &str, u16, &str)> = vec![
        (
            "POST",
            cm.to_string(),
            "application/json",
            "{not json",
            400,
            "BadRequest",
        ),
        (
            "POST",
            cm.to_string(),
            "application/json",
            "[1,2]",
            400,
            "BadRequest",
        ),
        (
            "POST",
            cm.to_string(),
            "application/json",
            "",
            400,
            "BadRequest",
        ),
        (
            "POST",
            format!("{cm}/x"),
            "application/json",
            "{}",
            405,
            "MethodNotAllowed",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/widgets".into(),
            "",
            "",
            404,
            "NotFound",
        ),
        ("GET", "/apis/nope.io/v1".into(), "", "", 404, "NotFound"),
        (
            "GET",
            "/apis/apps/v1/deployments/x".into(),
            "",
            "",
            404,
            "NotFound",
        ),
        (
            "GET",
            format!("{cm}?labelSelector=a%20in%20(b"),
            "",
            "",
            400,
            "BadRequest",
        ),
        (
            "GET",
            format!("{cm}?watch=true&resourceVersion=abc"),
            "",
            "",
            400,
            "BadRequest",
        ),
        (
            "PATCH",
            format!("{cm}/kube-root-ca.crt"),
            "text/plain",
            "x",
            415,
            "UnsupportedMediaType",
        ),
        (
            "PATCH",
            format!("{cm}/kube-root-ca.crt"),
            "application/json-patch+json",
            "[{\"op\":\"remove\",\"path\":\"/nope/x\"}]",
            422,
            "Invalid",
        ),
        (
            "PATCH",
            format!("{cm}/kube-root-ca.crt"),
            "application/merge-patch+json",
            "\"str\"",
            400,
            "BadRequest",
        ),
        (
            "PATCH",
            format!("{cm}/x?fieldManager=t"),
            "application/apply-patch+yaml",
            "::: not yaml {",
            400,
            "BadRequest",
        ),
        (
            "PATCH",
            format!("{cm}/x?fieldManager=t"),
            "application/apply-patch+yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n",
            400,
            "BadRequest",
        ),
        (
            "DELETE",
            format!("{cm}/x"),
            "application/json",
            "{\"propagationPolicy\":\"Sideways\"}",
            400,
            "BadRequest",
        ),
        (
            "PUT",
            format!("{cm}/missing"),
            "application/json",
            "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"missing\"}}",
            404,
            "NotFound",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/pods/none/log".into(),
            "",
            "",
            404,
            "NotFound",
        ),
    ];
    for (method, uri, ct, body, code, reason) in cases {
        let (status, v) = send(&client, method, &uri, ct, body).await;
        assert_eq!(status, code, "{method} {uri}: {v}");
        assert_eq!(v["kind"], "Status", "{method} {uri}: {v}");
        assert_eq!(v["reason"], reason, "{method} {uri}: {v}");
        assert_eq!(v["code"], code);
    }
    // the server still works
    let (status, _) = send(&client, "GET", cm, "", "").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn yaml_apply_body_and_managed_fields_shape() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: c\n        image: nginx\n";
    let (status, v) = send(
        &client,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=preview-bot&fieldValidation=Strict",
        "application/apply-patch+yaml",
        yaml,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["spec"]["replicas"], 2);
    assert_eq!(v["metadata"]["generation"], 1);
    let mf = &v["metadata"]["managedFields"][0];
    assert_eq!(mf["manager"], "preview-bot");
    assert_eq!(mf["operation"], "Apply");
    assert_eq!(mf["fieldsType"], "FieldsV1");
    assert_eq!(mf["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
    assert_eq!(mf["fieldsV1"]["f:metadata"]["f:labels"]["f:app"], json!({}));
    // re-applying the same thing changes nothing, not even the resourceVersion
    let (status, again) = send(
        &client,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=preview-bot",
        "application/apply-patch+yaml",
        yaml,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        again["metadata"]["resourceVersion"],
        v["metadata"]["resourceVersion"]
    );
    let stored = kube
        .object("apps/v1", "Deployment", Some("default"), "web")
        .unwrap();
    assert_eq!(
        stored["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx"
    );
    assert!(
        kube.requests()
            .iter()
            .any(|r| r.query.contains("fieldValidation=Strict"))
    );
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_objects() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut stream = Box::pin(
        watcher(cms.clone(), watcher::Config::default().streaming_lists()).applied_objects(),
    );
    let first = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("kube-root-ca.crt"));
    assert!(
        kube.requests()
            .iter()
            .any(|r| r.query.contains("sendInitialEvents=true"))
    );
}
