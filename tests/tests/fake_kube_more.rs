//! More API-server semantics of the fake: validation, subresources, garbage collection,
//! finalizers, workload controllers and watch details, through the real `kube::Client`.
#![allow(clippy::unwrap_used)]

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::conditions;
use kube::runtime::wait::await_condition;
use preview_testkit::kube_api::{FakeKube, FakeKubeOptions};
use serde_json::json;
use std::time::Duration;

fn api_status(e: &kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn setup(name: &str) -> (FakeKube, kube::Client) {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    let ns: Api<Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
    )
    .await
    .unwrap();
    (kube, client)
}

fn deployment(name: &str, image: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}}
        }
    })
}

fn job(name: &str, image: &str) -> serde_json::Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {"metadata": {"labels": {"job": name}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": image}]}}}
    })
}

#[tokio::test]
async fn unknown_fields_strict_rejects_default_prunes() {
    let (_kube, client) = setup("schema").await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "schema");
    let mut body = deployment("web", "nginx", 1);
    body["spec"]["replicaz"] = json!(2);
    body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = json!("Always");
    let strict = PatchParams::apply("preview-bot").validation_strict();
    let (code, _, msg) = api_status(
        &deps
            .patch("web", &strict, &Patch::Apply(&body))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert!(
        msg.contains(".spec.replicaz: field not declared in schema"),
        "{msg}"
    );
    assert!(msg.contains("containers[0].imagePullPolicyy"), "{msg}");
    // the default (Warn) drops them, as the API server does
    let stored = deps
        .patch(
            "web",
            &PatchParams::apply("preview-bot"),
            &Patch::Apply(&body),
        )
        .await
        .unwrap();
    let raw = serde_json::to_value(&stored).unwrap();
    assert!(raw["spec"].get("replicaz").is_none());
    // create-style wording
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "schema");
    let pp = PostParams::default();
    let mut bad: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    bad.data = Some([("a".to_string(), "b".to_string())].into());
    let req = http::Request::post("/api/v1/namespaces/schema/configmaps?fieldValidation=Strict")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "datta": {}})).unwrap())
        .unwrap();
    let (code, _, msg) = api_status(&client.request::<ConfigMap>(req).await.unwrap_err());
    assert_eq!(
        (code, msg.as_str()),
        (400, "strict decoding error: unknown field \"datta\"")
    );
    cms.create(&pp, &bad).await.unwrap();
}

#[tokio::test]
async fn validation_errors_are_422() {
    let (_kube, client) = setup("valid").await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "valid");
    let mut body = deployment("web", "nginx", 1);
    body["spec"]["template"]["metadata"]["labels"]["app"] = json!("other");
    let (code, reason, msg) = api_status(
        &deps
            .patch("web", &PatchParams::apply("t"), &Patch::Apply(&body))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(
        msg.starts_with("Deployment.apps \"web\" is invalid: "),
        "{msg}"
    );
    assert!(
        msg.contains("`selector` does not match template `labels`"),
        "{msg}"
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "valid");
    let bad_name: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "Bad_Name"}})).unwrap();
    let (code, _, _) = api_status(
        &cms.create(&PostParams::default(), &bad_name)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    let bad_label: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "ok", "labels": {"a": "has space"}}}))
            .unwrap();
    let (code, _, _) = api_status(
        &cms.create(&PostParams::default(), &bad_label)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    // selectors are immutable
    deps.patch(
        "web",
        &PatchParams::apply("t"),
        &Patch::Apply(deployment("web", "nginx", 1)),
    )
    .await
    .unwrap();
    let mut moved = deployment("web", "nginx", 1);
    moved["spec"]["selector"]["matchLabels"]["extra"] = json!("x");
    moved["spec"]["template"]["metadata"]["labels"]["extra"] = json!("x");
    let (code, _, msg) = api_status(
        &deps
            .patch("web", &PatchParams::apply("t"), &Patch::Apply(&moved))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(msg.contains("field is immutable"), "{msg}");
}

#[tokio::test]
async fn secrets_string_data_becomes_data_and_generate_name_and_dry_run() {
    let (kube, client) = setup("misc").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "misc");
    let s = secrets
        .patch(
            "s",
            &PatchParams::apply("t"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "hello"}})),
        )
        .await
        .unwrap();
    assert_eq!(s.data.unwrap()["k"].0, b"hello");
    assert!(s.string_data.is_none());
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "misc");
    let generated: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap();
    let made = cms
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    let name = made.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    let dry: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dry"}})).unwrap();
    cms.create(
        &PostParams {
            dry_run: true,
            ..Default::default()
        },
        &dry,
    )
    .await
    .unwrap();
    assert!(
        kube.object("v1", "ConfigMap", Some("misc"), "dry")
            .is_none()
    );
}

#[tokio::test]
async fn status_and_scale_subresources() {
    let (_kube, client) = setup("subs").await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "subs");
    deps.patch(
        "web",
        &PatchParams::apply("t"),
        &Patch::Apply(deployment("web", "nginx", 1)),
    )
    .await
    .unwrap();
    // status in a main-endpoint write is ignored
    let mut with_status = deployment("web", "nginx", 1);
    with_status["status"] = json!({"replicas": 42});
    let d = deps
        .patch("web", &PatchParams::apply("t"), &Patch::Apply(&with_status))
        .await
        .unwrap();
    assert_ne!(d.status.and_then(|s| s.replicas), Some(42));
    let gen_before = d.metadata.generation;
    // scale
    let scale = deps
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    let d = deps.get("web").await.unwrap();
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(3));
    assert_eq!(d.metadata.generation, gen_before.map(|g| g + 1));
    assert_eq!(
        deps.get_scale("web").await.unwrap().spec.unwrap().replicas,
        Some(3)
    );
    let ready = await_condition(deps.clone(), "web", |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref()?.ready_replicas) == Some(3)
    });
    tokio::time::timeout(Duration::from_secs(5), ready)
        .await
        .unwrap()
        .unwrap();
    // status subresource writes only status
    let patched = deps
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 9}, "status": {"collisionCount": 7}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(3));
    assert_eq!(patched.status.unwrap().collision_count, Some(7));
}

#[tokio::test]
async fn jobs_complete_and_orphan_pods_by_default() {
    let (kube, client) = setup("jobs").await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "jobs");
    jobs.patch(
        "once",
        &PatchParams::apply("t"),
        &Patch::Apply(job("once", "busybox")),
    )
    .await
    .unwrap();
    let done = await_condition(jobs.clone(), "once", conditions::is_job_completed());
    tokio::time::timeout(Duration::from_secs(5), done)
        .await
        .unwrap()
        .unwrap();
    let j = jobs.get("once").await.unwrap();
    assert_eq!(j.status.unwrap().succeeded, Some(1));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "jobs");
    let lp = ListParams::default().labels("job-name=once");
    assert_eq!(pods.list(&lp).await.unwrap().items.len(), 1);
    // no propagationPolicy: the pods stay, orphaned
    jobs.delete("once", &DeleteParams::default()).await.unwrap();
    let left = pods.list(&lp).await.unwrap().items;
    assert_eq!(left.len(), 1);
    assert!(left[0].metadata.owner_references.is_none());
    // Background takes them along
    jobs.patch(
        "twice",
        &PatchParams::apply("t"),
        &Patch::Apply(job("twice", "busybox")),
    )
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        await_condition(jobs.clone(), "twice", conditions::is_job_completed()),
    )
    .await
    .unwrap()
    .unwrap();
    jobs.delete("twice", &DeleteParams::background())
        .await
        .unwrap();
    let lp2 = ListParams::default().labels("job-name=twice");
    let remaining = pods.list(&lp2).await.unwrap().items;
    assert!(
        remaining
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_some())
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(pods.list(&lp2).await.unwrap().items.is_empty());
    // an unpullable job stays active
    kube.set_unpullable_image("nope");
    jobs.patch(
        "stuck",
        &PatchParams::apply("t"),
        &Patch::Apply(job("stuck", "nope:1")),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let st = jobs.get("stuck").await.unwrap().status.unwrap();
    assert_eq!(st.active, Some(1));
    assert!(st.succeeded.is_none());
}

#[tokio::test]
async fn statefulset_gets_ready_with_claims() {
    let (_kube, client) = setup("sts").await;
    let stss: Api<StatefulSet> = Api::namespaced(client.clone(), "sts");
    stss.patch(
        "db",
        &PatchParams::apply("t"),
        &Patch::Apply(json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "pg", "image": "postgres"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}
        })),
    )
    .await
    .unwrap();
    let ready = await_condition(stss.clone(), "db", |s: Option<&StatefulSet>| {
        s.and_then(|s| s.status.as_ref()).is_some_and(|st| {
            st.ready_replicas == Some(2)
                && st.available_replicas == Some(2)
                && st.current_replicas == Some(2)
        })
    });
    tokio::time::timeout(Duration::from_secs(5), ready)
        .await
        .unwrap()
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "sts");
    pods.get("db-0").await.unwrap();
    pods.get("db-1").await.unwrap();
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "sts");
    assert_eq!(
        pvcs.get("data-db-0")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Bound")
    );
}

#[tokio::test]
async fn finalizers_hold_deletion_and_delete_collection_uses_selectors() {
    let (_kube, client) = setup("fin").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "fin");
    let held: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"], "labels": {"grp": "x"}}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &held).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let still = cms.get("held").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_status(&cms.get("held").await.unwrap_err()).0, 404);
    for (n, g) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": n, "labels": {"grp": g}}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("grp=x"),
    )
    .await
    .unwrap();
    let names: Vec<String> = cms
        .list(&ListParams::default().labels("grp"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(names, ["c"]);
}

#[tokio::test]
async fn watch_replays_from_resource_version_and_follows_selectors() {
    let (_kube, client) = setup("w").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "w");
    let start = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mk = |name: &str, label: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"sel": label}}}))
            .unwrap()
    };
    cms.create(&PostParams::default(), &mk("one", "yes"))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &mk("two", "no"))
        .await
        .unwrap();
    let mut stream = cms
        .watch(
            &WatchParams::default().labels("sel=yes").timeout(10),
            &start,
        )
        .await
        .unwrap()
        .boxed();
    // replayed: only the matching object
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Added(c) => assert_eq!(c.metadata.name.as_deref(), Some("one")),
        other => panic!("unexpected {other:?}"),
    }
    // stops matching -> DELETED; starts matching -> ADDED
    cms.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"sel": "no"}}})),
    )
    .await
    .unwrap();
    cms.patch(
        "two",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"sel": "yes"}}})),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(3), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WatchEvent::Added(c) => seen.push(format!("ADDED {}", c.metadata.name.unwrap())),
            WatchEvent::Deleted(c) => seen.push(format!("DELETED {}", c.metadata.name.unwrap())),
            WatchEvent::Bookmark(_) => {}
            other => seen.push(format!("{other:?}")),
        }
    }
    assert_eq!(seen, ["DELETED one", "ADDED two"]);
}

#[tokio::test]
async fn rollout_past_its_deadline_reports_progress_deadline_exceeded() {
    let kube = FakeKube::start_with(FakeKubeOptions {
        controller_delay: Duration::from_millis(10),
        ..Default::default()
    })
    .await;
    kube.set_unpullable_image("missing");
    let client = kube.client().await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut body = deployment("slow", "missing:1", 1);
    body["spec"]["progressDeadlineSeconds"] = json!(1);
    deps.patch("slow", &PatchParams::apply("t"), &Patch::Apply(&body))
        .await
        .unwrap();
    let exceeded = await_condition(deps.clone(), "slow", |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref()?.conditions.clone())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.type_ == "Progressing"
                        && c.status == "False"
                        && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
                })
            })
    });
    tokio::time::timeout(Duration::from_secs(6), exceeded)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn pods_get_the_namespace_limit_range_defaults() {
    let (_kube, client) = setup("limits").await;
    let ranges: Api<k8s_openapi::api::core::v1::LimitRange> =
        Api::namespaced(client.clone(), "limits");
    ranges
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "defaults"}, "spec": {"limits": [{
                    "type": "Container",
                    "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
                    "default": {"cpu": "1", "memory": "512Mi"},
                }]}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "limits");
    let mut own = deployment("own", "nginx", 1);
    own["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": "250m"}});
    for object in [deployment("bare", "nginx", 1), own] {
        deployments
            .create(
                &PostParams::default(),
                &serde_json::from_value(object).unwrap(),
            )
            .await
            .unwrap();
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "limits");
    let resources = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let list = pods.list(&ListParams::default()).await.unwrap();
            if list.items.len() == 2 {
                let mut out: Vec<(String, serde_json::Value)> = list
                    .items
                    .iter()
                    .map(|p| {
                        let spec = p.spec.as_ref().unwrap();
                        (
                            p.metadata.name.clone().unwrap(),
                            serde_json::to_value(&spec.containers[0].resources).unwrap(),
                        )
                    })
                    .collect();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                return out;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert!(resources[0].0.starts_with("bare-"), "{resources:?}");
    assert_eq!(
        resources[0].1,
        json!({"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}})
    );
    // A container's own request wins; only what it left out is defaulted.
    assert_eq!(
        resources[1].1,
        json!({"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}})
    );
}

/// What the bot's kill-switch view relies on: a watch of one ConfigMap by name in a namespace
/// (its list, then the create and the `replace` of `OpsStore`), faults on lists and watches
/// only, and open watches broken on demand.
#[tokio::test]
async fn a_config_map_watch_by_name_sees_creates_and_replaces_and_breaks_on_demand() {
    use kube::runtime::watcher::{self, Event};
    use preview_deploy::ops::{OpsStore, STATE_CONFIG_MAP};
    use preview_testkit::kube_api::{Fault, FaultResponse};
    let (kube, client) = setup("bot").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "bot");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "other"}})).unwrap(),
    )
    .await
    .unwrap();
    let config = watcher::Config::default().fields(&format!("metadata.name={STATE_CONFIG_MAP}"));
    let mut events = watcher::watcher(cms.clone(), config).boxed();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
    };
    assert!(matches!(next().await, Ok(Event::Init)));
    // Only the named ConfigMap is listed (none yet).
    assert!(matches!(next().await, Ok(Event::InitDone)));
    let ops = OpsStore::new(client.clone(), "bot", "test");
    let kill_switch =
        |map: &ConfigMap| map.data.as_ref().unwrap()["kill-switch"].contains("\"active\":true");
    // Created by the first save, replaced (PUT) by the next.
    ops.update_kill_switch(|_| true).await.unwrap();
    match next().await {
        Ok(Event::Apply(map)) => {
            assert_eq!(map.metadata.name.as_deref(), Some(STATE_CONFIG_MAP));
            assert!(!kill_switch(&map));
        }
        other => panic!("unexpected {other:?}"),
    }
    cms.patch(
        "other",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "y"}})),
    )
    .await
    .unwrap();
    ops.update_kill_switch(|state| {
        state.active = true;
        true
    })
    .await
    .unwrap();
    match next().await {
        Ok(Event::Apply(map)) => assert!(kill_switch(&map), "{map:?}"),
        other => panic!("the other ConfigMap is not seen: {other:?}"),
    }
    assert!(
        kube.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.path.ends_with(STATE_CONFIG_MAP)),
        "the second save replaced the ConfigMap"
    );

    // Lists and watches of ConfigMaps fail; a read of the ConfigMap still works.
    kube.inject_fault(
        Fault::new("/namespaces/bot/configmaps", 0, FaultResponse::Status(500)).method("LIST"),
    );
    kube.inject_fault(
        Fault::new("/namespaces/bot/configmaps", 0, FaultResponse::Status(500)).method("WATCH"),
    );
    assert!(cms.get(STATE_CONFIG_MAP).await.is_ok());
    assert!(cms.list(&ListParams::default()).await.is_err());
    // The open watch ends; watching again meets the fault.
    assert_eq!(kube.break_watches(), 1);
    assert!(next().await.is_err(), "the broken watch is an error");
    kube.clear_faults();
    assert!(cms.list(&ListParams::default()).await.is_ok());
}
