//! The fake Kubernetes API server, driven by the real `kube::Client` over HTTPS.
#![allow(clippy::unwrap_used)]

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod, ServiceAccount};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams,
};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Discovery, Scope};
use kube::runtime::{WatchStreamExt, wait::await_condition, watcher};
use preview_testkit::kube_api::{FakeKube, Fault, FaultResponse};
use serde_json::json;
use std::time::Duration;

fn api_status(e: &kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn namespace(client: &kube::Client, name: &str) {
    let ns: Api<Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
    )
    .await
    .unwrap();
}

fn deployment(name: &str, image: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            }
        }
    })
}

fn deployment_available(d: Option<&Deployment>) -> bool {
    let Some(d) = d else { return false };
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(st) = d.status.as_ref() else {
        return false;
    };
    st.observed_generation >= d.metadata.generation
        && st.available_replicas.unwrap_or(0) == desired
        && st.updated_replicas.unwrap_or(0) == desired
        && st.conditions.as_ref().is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Available" && c.status == "True")
        })
}

#[tokio::test]
async fn discovery_finds_core_and_group_kinds() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    let (ar, caps) =
        discovery::pinned_kind(&client, &GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .await
            .unwrap();
    assert_eq!(ar.plural, "deployments");
    assert_eq!(caps.scope, Scope::Namespaced);
    let (ns_ar, ns_caps) =
        discovery::pinned_kind(&client, &GroupVersionKind::gvk("", "v1", "Namespace"))
            .await
            .unwrap();
    assert_eq!(ns_ar.plural, "namespaces");
    assert_eq!(ns_caps.scope, Scope::Cluster);
    let disc = Discovery::new(client.clone()).run().await.unwrap();
    for (group, kind) in [
        ("networking.k8s.io", "Ingress"),
        ("batch", "CronJob"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("policy", "PodDisruptionBudget"),
        ("", "ConfigMap"),
    ] {
        assert!(
            disc.groups().any(|g| g.name() == group
                && g.recommended_resources()
                    .iter()
                    .any(|(r, _)| r.kind == kind)),
            "{group}/{kind} missing"
        );
    }
    let v = client.apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
    let err = discovery::pinned_kind(&client, &GroupVersionKind::gvk("nope.io", "v1", "Thing"))
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("404") || format!("{err}").contains("not found"));
}

#[tokio::test]
async fn unauthenticated_requests_get_401_status() {
    let kube = FakeKube::start().await;
    let mut config = kube.config().await.unwrap();
    config.auth_info.token = None;
    config.headers.clear();
    let client = kube::Client::try_from(config).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let err = cms.list(&ListParams::default()).await.unwrap_err();
    let (code, reason, _) = api_status(&err);
    assert_eq!((code, reason.as_str()), (401, "Unauthorized"));
    assert_eq!(kube.requests().last().unwrap().status, 401);
}

#[tokio::test]
async fn create_get_list_with_selectors() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    namespace(&client, "sel").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "sel");
    for (name, app, tier) in [("a", "web", "fe"), ("b", "api", "be"), ("c", "db", "")] {
        let mut labels = json!({"app": app});
        if !tier.is_empty() {
            labels["tier"] = json!(tier);
        }
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    }
    let got = cms.get("a").await.unwrap();
    assert!(got.metadata.uid.is_some());
    assert!(got.metadata.creation_timestamp.is_some());
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    let q = |s: &str| ListParams::default().labels(s);
    assert_eq!(names(cms.list(&q("app=web")).await.unwrap()), ["a"]);
    assert_eq!(
        names(cms.list(&q("app in (web,api)")).await.unwrap()),
        ["a", "b"]
    );
    // notin and !key also select objects without the label (kube-root-ca.crt has none)
    assert_eq!(
        names(cms.list(&q("app notin (web)")).await.unwrap()),
        ["b", "c", "kube-root-ca.crt"]
    );
    assert_eq!(
        names(cms.list(&q("app,app notin (web)")).await.unwrap()),
        ["b", "c"]
    );
    assert_eq!(names(cms.list(&q("tier")).await.unwrap()), ["a", "b"]);
    assert_eq!(names(cms.list(&q("app,!tier")).await.unwrap()), ["c"]);
    assert_eq!(names(cms.list(&q("app!=web,tier")).await.unwrap()), ["b"]);
    assert_eq!(
        names(
            cms.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    // the namespace also holds what a real cluster puts there
    let all = names(cms.list(&ListParams::default()).await.unwrap());
    assert!(all.contains(&"kube-root-ca.crt".to_string()), "{all:?}");
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "sel");
    sas.get("default").await.unwrap();
    // pagination
    let page = cms.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let token = page.metadata.continue_.clone().unwrap();
    let rest = cms
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(page.items.len() + rest.items.len(), all.len());
    // all-namespace list
    let every: Api<ConfigMap> = Api::all(client.clone());
    assert!(every.list(&q("app=web")).await.unwrap().items.len() == 1);
    // bad selector
    let (code, _, _) = api_status(&cms.list(&q("app in (x")).await.unwrap_err());
    assert_eq!(code, 400);
}

#[tokio::test]
async fn create_errors_conflict_missing_namespace_and_terminating() {
    let kube = FakeKube::start_with(preview_testkit::kube_api::FakeKubeOptions {
        namespace_termination_delay: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    let client = kube.client().await;
    namespace(&client, "errs").await;
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "errs");
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let (code, reason, msg) =
        api_status(&cms.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(msg, "configmaps \"x\" already exists");
    let missing: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let (code, reason, msg) = api_status(
        &missing
            .create(&PostParams::default(), &cm)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    assert_eq!(msg, "namespaces \"nowhere\" not found");
    let (code, _, msg) = api_status(&cms.get("nope").await.unwrap_err());
    assert_eq!((code, msg.as_str()), (404, "configmaps \"nope\" not found"));

    let nss: Api<Namespace> = Api::all(client.clone());
    nss.delete("errs", &DeleteParams::default()).await.unwrap();
    let ns = nss.get("errs").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert!(ns.metadata.deletion_timestamp.is_some());
    let cm2: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "y"}})).unwrap();
    let (code, reason, msg) =
        api_status(&cms.create(&PostParams::default(), &cm2).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert!(msg.contains("because it is being terminated"), "{msg}");
    let (code, _, _) = api_status(
        &cms.patch(
            "z",
            &PatchParams::apply("t"),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "z"}}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 403);
    // deleting again is fine
    nss.delete("errs", &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
async fn namespace_deletion_terminates_then_removes_contents() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    namespace(&client, "gone").await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "gone");
    deps.patch(
        "web",
        &PatchParams::apply("preview-bot"),
        &Patch::Apply(deployment("web", "nginx:1", 1)),
    )
    .await
    .unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.delete("gone", &DeleteParams::background())
        .await
        .unwrap();
    assert_eq!(
        nss.get("gone")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Terminating")
    );
    let gone = await_condition(nss.clone(), "gone", |n: Option<&Namespace>| n.is_none());
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .unwrap()
        .unwrap();
    assert!(
        kube.objects("apps/v1", "Deployment", Some("gone"))
            .is_empty()
    );
    assert!(kube.objects("v1", "Pod", Some("gone")).is_empty());
    assert!(kube.objects("v1", "ConfigMap", Some("gone")).is_empty());
    let (code, _, _) = api_status(
        &nss.delete("gone", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 404);
}

#[tokio::test]
async fn server_side_apply_removes_dropped_fields_and_detects_conflicts() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    namespace(&client, "ssa").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "ssa");
    let pp = PatchParams::apply("preview-bot");
    let first = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "labels": {"keep": "1", "drop": "1"}},
        "data": {"a": "1", "b": "2"}});
    let created = cms.patch("cfg", &pp, &Patch::Apply(&first)).await.unwrap();
    assert_eq!(created.data.as_ref().unwrap().len(), 2);
    let mf = created.metadata.managed_fields.as_ref().unwrap();
    assert_eq!(mf[0].manager.as_deref(), Some("preview-bot"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    // another manager adds its own label with a merge patch
    cms.patch(
        "cfg",
        &PatchParams {
            field_manager: Some("someone-else".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"metadata": {"labels": {"theirs": "x"}}})),
    )
    .await
    .unwrap();
    // re-apply without `drop` and `b`
    let second = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "labels": {"keep": "1"}},
        "data": {"a": "1"}});
    let after = cms.patch("cfg", &pp, &Patch::Apply(&second)).await.unwrap();
    let labels = after.metadata.labels.clone().unwrap();
    assert!(labels.contains_key("keep"));
    assert!(!labels.contains_key("drop"), "{labels:?}");
    assert!(
        labels.contains_key("theirs"),
        "other manager's label survives"
    );
    assert_eq!(after.data.clone().unwrap().len(), 1);
    // conflict: a different manager sets a field preview-bot owns, to a different value
    let other = PatchParams::apply("other-tool");
    let clash = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "changed"}});
    let err = cms
        .patch("cfg", &other, &Patch::Apply(&clash))
        .await
        .unwrap_err();
    let (code, reason, msg) = api_status(&err);
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(
        msg.contains("conflict with \"preview-bot\"") && msg.contains(".data.a"),
        "{msg}"
    );
    // same value is no conflict (shared ownership)
    let same = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}});
    cms.patch("cfg", &other, &Patch::Apply(&same))
        .await
        .unwrap();
    // force takes ownership
    let forced = cms
        .patch("cfg", &other.clone().force(), &Patch::Apply(&clash))
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["a"], "changed");
    // apply without a field manager is a 400 from the server
    let req = http::Request::patch("/api/v1/namespaces/ssa/configmaps/cfg")
        .header("content-type", "application/apply-patch+yaml")
        .body(serde_json::to_vec(&same).unwrap())
        .unwrap();
    let (code, _, msg) = api_status(&client.request::<ConfigMap>(req).await.unwrap_err());
    assert_eq!(code, 400, "{msg}");
    // a kind mismatch with the URL
    let wrong = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cfg"}});
    let (code, _, _) = api_status(
        &cms.patch("cfg", &pp, &Patch::Apply(&wrong))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
}

#[tokio::test]
async fn ssa_conflicts_with_controller_owned_replicas() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    namespace(&client, "hpa").await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "hpa");
    let pp = PatchParams::apply("preview-bot");
    deps.patch("web", &pp, &Patch::Apply(deployment("web", "nginx", 1)))
        .await
        .unwrap();
    let hpas: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "hpa",
        &kube::api::ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("autoscaling", "v2", "HorizontalPodAutoscaler"),
            "horizontalpodautoscalers",
        ),
    );
    hpas.patch(
        "web",
        &pp,
        &Patch::Apply(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 3, "maxReplicas": 5}})),
    )
    .await
    .unwrap();
    let scaled = await_condition(deps.clone(), "web", |d: Option<&Deployment>| {
        d.and_then(|d| d.spec.as_ref()?.replicas) == Some(3)
    });
    tokio::time::timeout(Duration::from_secs(5), scaled)
        .await
        .unwrap()
        .unwrap();
    let err = deps
        .patch("web", &pp, &Patch::Apply(deployment("web", "nginx", 1)))
        .await
        .unwrap_err();
    let (code, _, msg) = api_status(&err);
    assert_eq!(code, 409);
    assert!(
        msg.contains("kube-controller-manager") && msg.contains(".spec.replicas"),
        "{msg}"
    );
    // leaving replicas out is fine, and keeps the controller's value
    let mut no_replicas = deployment("web", "nginx", 1);
    no_replicas["spec"]
        .as_object_mut()
        .unwrap()
        .remove("replicas");
    let d = deps
        .patch("web", &pp, &Patch::Apply(no_replicas))
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(3));
}

#[tokio::test]
async fn an_hpa_leaves_a_target_scaled_to_zero_alone_until_it_is_scaled_up() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    namespace(&client, "hpa0").await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "hpa0");
    let pp = PatchParams::apply("preview-bot");
    deps.patch("web", &pp, &Patch::Apply(deployment("web", "nginx", 1)))
        .await
        .unwrap();
    let hpas: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "hpa0",
        &kube::api::ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("autoscaling", "v2", "HorizontalPodAutoscaler"),
            "horizontalpodautoscalers",
        ),
    );
    hpas.patch(
        "web",
        &pp,
        &Patch::Apply(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 2, "maxReplicas": 4}})),
    )
    .await
    .unwrap();
    let replicas = |n: i32| {
        await_condition(deps.clone(), "web", move |d: Option<&Deployment>| {
            d.and_then(|d| d.spec.as_ref()?.replicas) == Some(n)
        })
    };
    tokio::time::timeout(Duration::from_secs(5), replicas(2))
        .await
        .unwrap()
        .unwrap();
    let scale = |n: i32| Patch::Merge(json!({"spec": {"replicas": n}}));
    deps.patch_scale("web", &PatchParams::default(), &scale(0))
        .await
        .unwrap();
    // Kubernetes disables autoscaling of a target at zero (ScalingDisabled) instead of
    // scaling it back to minReplicas.
    let disabled = await_condition(hpas.clone(), "web", |h: Option<&DynamicObject>| {
        h.and_then(|h| h.data.pointer("/status/conditions"))
            .and_then(|c| c.as_array())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "ScalingActive" && c["reason"] == "ScalingDisabled")
            })
    });
    tokio::time::timeout(Duration::from_secs(5), disabled)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        deps.get("web").await.unwrap().spec.unwrap().replicas,
        Some(0)
    );
    // Scaled up again, it is autoscaled again (into [min, max]).
    deps.patch_scale("web", &PatchParams::default(), &scale(1))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), replicas(2))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn merge_json_patch_and_stale_update() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "m", "labels": {"a": "1"}}, "data": {"x": "1"}}),
    )
    .unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let patched = cms
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"a": null, "b": "2"}}, "data": {"y": "2"}}),
            ),
        )
        .await
        .unwrap();
    let labels = patched.metadata.labels.clone().unwrap();
    assert!(!labels.contains_key("a") && labels["b"] == "2");
    assert_eq!(patched.data.clone().unwrap().len(), 2);
    assert_ne!(
        patched.metadata.resource_version,
        created.metadata.resource_version
    );
    let jp: json_patch_free::Ops = json_patch_free::ops();
    let jsonpatched = cms
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::<()>::Json(serde_json::from_value(jp).unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(jsonpatched.data.unwrap()["x"], "3");
    // PUT with a stale resourceVersion
    let mut stale = created.clone();
    stale.data = Some([("z".to_string(), "1".to_string())].into());
    let (code, reason, _) = api_status(
        &cms.replace("m", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let fresh = cms.get("m").await.unwrap();
    let mut ok = fresh.clone();
    ok.data = Some([("z".to_string(), "1".to_string())].into());
    let replaced = cms.replace("m", &PostParams::default(), &ok).await.unwrap();
    assert_eq!(replaced.data.unwrap().len(), 1);
}

mod json_patch_free {
    pub type Ops = serde_json::Value;
    pub fn ops() -> Ops {
        serde_json::json!([{"op": "replace", "path": "/data/x", "value": "3"}, {"op": "test", "path": "/data/y", "value": "2"}])
    }
}

#[tokio::test]
async fn deployment_becomes_available_and_watcher_sees_it() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    namespace(&client, "rollout").await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "rollout");
    let mut events = watcher(deps.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    deps.patch(
        "web",
        &PatchParams::apply("preview-bot").force(),
        &Patch::Apply(deployment("web", "nginx:1.27", 2)),
    )
    .await
    .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("web"));
    let available = await_condition(deps.clone(), "web", deployment_available);
    tokio::time::timeout(Duration::from_secs(5), available)
        .await
        .unwrap()
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "rollout");
    let running = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(running.items.len(), 2);
    for p in &running.items {
        assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Running"));
        assert_eq!(
            p.metadata.owner_references.as_ref().unwrap()[0].kind,
            "ReplicaSet"
        );
    }
    // a watcher eventually sees the available status too
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(d) = events.try_next().await.unwrap() {
            if deployment_available(Some(&d)) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(seen);
    // template change replaces the pods; scale to zero removes them
    let old: Vec<String> = running
        .items
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    deps.patch(
        "web",
        &PatchParams::apply("preview-bot").force(),
        &Patch::Apply(deployment("web", "nginx:1.28", 2)),
    )
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        await_condition(deps.clone(), "web", deployment_available),
    )
    .await
    .unwrap()
    .unwrap();
    // the old pods may still be terminating (deletionTimestamp set), as on a real cluster
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    let (terminating, serving): (Vec<Pod>, Vec<Pod>) = listed
        .into_iter()
        .partition(|p| p.metadata.deletion_timestamp.is_some());
    assert_eq!(serving.len(), 2);
    assert!(
        serving
            .iter()
            .all(|p| !old.contains(p.metadata.name.as_ref().unwrap()))
    );
    assert!(
        terminating
            .iter()
            .all(|p| old.contains(p.metadata.name.as_ref().unwrap()))
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        pods.list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .len(),
        2,
        "terminated pods are gone after the grace period"
    );
    deps.patch(
        "web",
        &PatchParams::apply("preview-bot").force(),
        &Patch::Apply(deployment("web", "nginx:1.28", 0)),
    )
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if pods
                .list(&ListParams::default().labels("app=web"))
                .await
                .unwrap()
                .items
                .is_empty()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn unpullable_image_never_becomes_available() {
    let kube = FakeKube::start().await;
    kube.set_unpullable_image("does-not-exist");
    let client = kube.client().await;
    namespace(&client, "bad").await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "bad");
    deps.patch(
        "web",
        &PatchParams::apply("preview-bot"),
        &Patch::Apply(deployment("web", "registry.example/does-not-exist:1", 1)),
    )
    .await
    .unwrap();
    let never = tokio::time::timeout(
        Duration::from_millis(800),
        await_condition(deps.clone(), "web", deployment_available),
    )
    .await;
    assert!(never.is_err(), "must not become available");
    let d = deps.get("web").await.unwrap();
    let st = d.status.unwrap();
    let available = st
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Available")
        .unwrap();
    assert_eq!(available.status, "False");
    assert_eq!(
        available.reason.as_deref(),
        Some("MinimumReplicasUnavailable")
    );
    assert_eq!(st.unavailable_replicas, Some(1));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "bad");
    let pod = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .remove(0);
    let ps = pod.status.unwrap();
    assert_eq!(ps.phase.as_deref(), Some("Pending"));
    let waiting = ps.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("ImagePullBackOff"));
    assert!(waiting.message.unwrap().contains("Back-off pulling image"));
    let events: Api<Event> = Api::namespaced(client.clone(), "bad");
    let pod_name = pod.metadata.name.unwrap();
    let evs = events
        .list(&ListParams::default().fields(&format!("involvedObject.name={pod_name}")))
        .await
        .unwrap();
    let warning = evs
        .items
        .iter()
        .find(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref() == Some("Failed")
                && e.message
                    .as_deref()
                    .unwrap_or("")
                    .contains("Failed to pull image")
        })
        .unwrap();
    assert!(warning.last_timestamp.is_some());
    // logs of a waiting container are a 400
    let (code, _, msg) = api_status(
        &pods
            .logs(&pod_name, &LogParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert!(msg.contains("waiting to start"), "{msg}");
}

#[tokio::test]
async fn pod_logs_with_tail_and_container() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "image": "x"}, {"name": "side", "image": "y"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let running = await_condition(pods.clone(), "p", |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref()?.phase.clone()).as_deref() == Some("Running")
    });
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    let text = pods
        .logs(
            "p",
            &LogParams {
                container: Some("side".into()),
                tail_lines: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("[side]"));
    let (code, _, _) = api_status(&pods.logs("p", &LogParams::default()).await.unwrap_err());
    assert_eq!(code, 400, "two containers need a container name");
    kube.set_pod_logs("default", "p", "hello\nworld\n");
    let custom = pods
        .logs(
            "p",
            &LogParams {
                container: Some("app".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(custom, "hello\nworld\n");
}

#[tokio::test]
async fn faults_status_rate_limit_and_hang() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    kube.inject_fault(Fault::new("/configmaps", 1, FaultResponse::Status(500)).method("GET"));
    let (code, _, _) = api_status(&cms.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(code, 500);
    cms.list(&ListParams::default()).await.unwrap();
    // kube 5 retries 429 by default, honouring Retry-After
    kube.inject_fault(Fault::new(
        "/configmaps",
        1,
        FaultResponse::TooManyRequests {
            retry_after_secs: 1,
        },
    ));
    let started = std::time::Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    // without the retry layer the 429 surfaces
    let mut config = kube.config().await.unwrap();
    config.default_retry = false;
    let no_retry: Api<ConfigMap> =
        Api::namespaced(kube::Client::try_from(config).unwrap(), "default");
    kube.inject_fault(Fault::new(
        "/configmaps",
        1,
        FaultResponse::TooManyRequests {
            retry_after_secs: 7,
        },
    ));
    let (code, reason, _) = api_status(&no_retry.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (429, "TooManyRequests"));
    kube.inject_fault(Fault::new("/configmaps", 0, FaultResponse::Hang));
    let mut config = kube.config().await.unwrap();
    config.read_timeout = Some(Duration::from_millis(300));
    let impatient: Api<ConfigMap> =
        Api::namespaced(kube::Client::try_from(config).unwrap(), "default");
    let started = std::time::Instant::now();
    let res = tokio::time::timeout(
        Duration::from_secs(5),
        impatient.list(&ListParams::default()),
    )
    .await;
    assert!(matches!(res, Ok(Err(_))), "client-side timeout expected");
    assert!(started.elapsed() < Duration::from_secs(4));
    kube.clear_faults();
    cms.list(&ListParams::default()).await.unwrap();
    let statuses: Vec<u16> = kube
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/configmaps"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [500, 200, 429, 200, 429, 0, 200]);
}

#[tokio::test]
async fn request_log_and_object_access() {
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    kube.clear_requests();
    kube.put_object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "unmanaged", "labels": {"team": "x"}}}));
    let nss: Api<Namespace> = Api::all(client.clone());
    assert!(
        nss.get("unmanaged")
            .await
            .unwrap()
            .metadata
            .labels
            .unwrap()
            .contains_key("team")
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "unmanaged");
    cms.patch(
        "c",
        &PatchParams::apply("preview-bot"),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}})),
    )
    .await
    .unwrap();
    let muts = kube.mutating_requests();
    assert_eq!(muts.len(), 1);
    assert_eq!(muts[0].method, "PATCH");
    assert_eq!(muts[0].content_type, "application/apply-patch+yaml");
    assert_eq!(
        muts[0].query_param("fieldManager").as_deref(),
        Some("preview-bot")
    );
    assert_eq!(muts[0].status, 201);
    let stored = kube
        .object("v1", "ConfigMap", Some("unmanaged"), "c")
        .unwrap();
    assert_eq!(stored["data"]["k"], "v");
    assert_eq!(kube.objects("v1", "ConfigMap", Some("unmanaged")).len(), 2);
}

#[tokio::test]
async fn kubectl_get_namespaces_and_deployments() {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        println!("kubectl not installed; skipping");
        return;
    }
    let kube = FakeKube::start().await;
    let client = kube.client().await;
    namespace(&client, "kubectl-test").await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "kubectl-test");
    deps.patch(
        "web",
        &PatchParams::apply("t"),
        &Patch::Apply(deployment("web", "nginx", 1)),
    )
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        await_condition(deps.clone(), "web", deployment_available),
    )
    .await
    .unwrap()
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    kube.write_kubeconfig(&path).unwrap();
    let run = |args: &[&str]| {
        let path = path.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                std::process::Command::new("kubectl")
                    .arg("--kubeconfig")
                    .arg(&path)
                    .args(&args)
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let out = run(&["get", "ns"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("NAME") && stdout.contains("STATUS") && stdout.contains("AGE"),
        "{stdout}"
    );
    assert!(
        stdout.contains("kubectl-test") && stdout.contains("Active"),
        "{stdout}"
    );
    let out = run(&["get", "deploy", "-A"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("NAMESPACE") && stdout.contains("kubectl-test"),
        "{stdout}"
    );
    assert!(stdout.contains("1/1"), "{stdout}");
    let out = run(&["get", "pods", "-n", "kubectl-test"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Running"), "{stdout}");
}
