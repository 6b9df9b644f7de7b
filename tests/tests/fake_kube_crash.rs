//! Crashing images in the fake Kubernetes API server (`FakeKube::set_crashing_image`):
//! crash loops of Deployment pods, failing and succeeding Jobs, and the logs of crashed runs,
//! through the real `kube::Client`.
#![allow(clippy::unwrap_used)]

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Namespace, Pod};
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::runtime::conditions;
use kube::runtime::wait::await_condition;
use preview_testkit::kube_api::{FakeKube, FakeKubeOptions};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn api_status(e: &kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn setup(name: &str) -> (FakeKube, kube::Client) {
    setup_with(name, FakeKubeOptions::default()).await
}

async fn setup_with(name: &str, opts: FakeKubeOptions) -> (FakeKube, kube::Client) {
    let kube = FakeKube::start_with(opts).await;
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

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|l| l.to_string()).collect()
}

async fn apply<K>(api: &Api<K>, name: &str, body: serde_json::Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.patch(name, &PatchParams::apply("test"), &Patch::Apply(&body))
        .await
        .unwrap();
}

fn deployment(name: &str, image: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}}
        }
    })
}

fn job(
    name: &str,
    image: &str,
    restart_policy: &str,
    backoff_limit: Option<i32>,
) -> serde_json::Value {
    let mut job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {"metadata": {"labels": {"job": name}},
            "spec": {"restartPolicy": restart_policy, "containers": [{"name": "main", "image": image}]}}}
    });
    if let Some(limit) = backoff_limit {
        job["spec"]["backoffLimit"] = json!(limit);
    }
    job
}

/// The first pod matching `labels`, once `ready` holds for it.
async fn wait_pod(pods: &Api<Pod>, labels: &str, ready: impl Fn(&Pod) -> bool) -> Pod {
    let found = async {
        loop {
            let list = pods
                .list(&ListParams::default().labels(labels))
                .await
                .unwrap();
            if let Some(p) = list.items.into_iter().find(&ready) {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, found).await.unwrap()
}

fn container_status(pod: &Pod) -> ContainerStatus {
    pod.status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .clone()
}

fn crash_looping(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
        .as_deref()
        == Some("CrashLoopBackOff")
}

fn job_failed() -> impl kube::runtime::wait::Condition<Job> {
    |job: Option<&Job>| {
        job.and_then(|j| j.status.as_ref()?.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Failed" && c.status == "True"))
    }
}

fn condition(pod: &Pod, kind: &str) -> (String, Option<String>) {
    let c = pod
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == kind)
        .unwrap();
    (c.status.clone(), c.reason.clone())
}

async fn events_of(client: &kube::Client, ns: &str, object: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    events
        .list(&ListParams::default().fields(&format!("involvedObject.name={object}")))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn crashing_deployment_loops_and_keeps_its_logs() {
    let (kube, client) = setup("crash").await;
    kube.set_crashing_image(
        "example/crashy",
        3,
        lines(&["starting", "connecting to db:5432", "fatal: db unreachable"]),
    );
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "crash");
    apply(&deps, "web", deployment("web", "registry.example/crashy:1")).await;
    apply(&deps, "ok", deployment("ok", "nginx:1.27")).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "crash");
    let pod = wait_pod(&pods, "app=web", crash_looping).await;
    let pod_name = pod.metadata.name.clone().unwrap();
    let uid = pod.metadata.uid.clone().unwrap();

    // the pod runs, but is not ready
    let status = pod.status.clone().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(
        condition(&pod, "Ready"),
        ("False".into(), Some("ContainersNotReady".into()))
    );
    let c = container_status(&pod);
    assert!(!c.ready);
    assert_eq!(c.started, Some(false));
    assert!(c.restart_count >= 1);
    let waiting = c.state.unwrap().waiting.unwrap();
    assert_eq!(
        waiting.message.as_deref(),
        Some(
            format!("back-off 10s restarting failed container=app pod={pod_name}_crash({uid})")
                .as_str()
        )
    );
    let last = c.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.exit_code, 3);
    assert_eq!(last.reason.as_deref(), Some("Error"));
    assert!(last.container_id.is_some() && last.finished_at.is_some());

    // the BackOff warning
    let events = events_of(&client, "crash", &pod_name).await;
    let backoff = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("BackOff"))
        .unwrap();
    assert_eq!(backoff.type_.as_deref(), Some("Warning"));
    assert_eq!(
        backoff.message.as_deref(),
        Some(
            format!("Back-off restarting failed container app in pod {pod_name}_crash({uid})")
                .as_str()
        )
    );
    assert_eq!(
        backoff.involved_object.field_path.as_deref(),
        Some("spec.containers{app}")
    );

    // the Deployment never becomes available
    let available = await_condition(deps.clone(), "web", conditions::is_deployment_completed());
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), available)
            .await
            .is_err()
    );
    let d = deps.get("web").await.unwrap();
    let st = d.status.unwrap();
    assert_eq!(st.available_replicas, None);
    assert_eq!(st.ready_replicas, None);
    assert_eq!(st.unavailable_replicas, Some(1));
    let cond = st
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Available")
        .unwrap();
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_deref()),
        ("False", Some("MinimumReplicasUnavailable"))
    );

    // the crashed run's logs, tailed
    let previous = pods
        .logs(
            &pod_name,
            &LogParams {
                previous: true,
                tail_lines: Some(2),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(previous, "connecting to db:5432\nfatal: db unreachable\n");
    // the kubelet serves the last terminated run for the current one too
    let current = pods
        .logs(
            &pod_name,
            &LogParams {
                container: Some("app".into()),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        current,
        "starting\nconnecting to db:5432\nfatal: db unreachable\n"
    );
    // the crash lines win over set_pod_logs
    kube.set_pod_logs("crash", "web-", "custom\n");
    let still = pods.logs(&pod_name, &LogParams::default()).await.unwrap();
    assert!(still.starts_with("starting\n"), "{still}");

    // a healthy container has no previous run
    let ok = wait_pod(&pods, "app=ok", |p| {
        p.status.as_ref().and_then(|s| s.phase.clone()).as_deref() == Some("Running")
    })
    .await;
    let ok_name = ok.metadata.name.unwrap();
    let (code, msg) = api_status(
        &pods
            .logs(
                &ok_name,
                &LogParams {
                    previous: true,
                    ..LogParams::default()
                },
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert_eq!(
        msg,
        format!("previous terminated container \"app\" in pod \"{ok_name}\" not found")
    );
    let healthy = pods.logs(&ok_name, &LogParams::default()).await.unwrap();
    assert!(healthy.contains("fake log line"), "{healthy}");
}

#[tokio::test]
async fn crash_loop_restarts_after_its_back_off() {
    let (kube, client) = setup("restart").await;
    kube.set_crashing_image("crashy", 0, lines(&["done already"]));
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "restart");
    apply(&deps, "web", deployment("web", "crashy:2")).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "restart");
    let pod = wait_pod(&pods, "app=web", crash_looping).await;
    let name = pod.metadata.name.clone().unwrap();
    // exit code 0 still crash-loops under restartPolicy Always
    let c = container_status(&pod);
    let last = c.last_state.clone().unwrap().terminated.unwrap();
    assert_eq!(
        (last.exit_code, last.reason.as_deref()),
        (0, Some("Completed"))
    );
    assert_eq!(c.restart_count, 1);

    // pretend the crash was 15 s ago: the 10 s back-off is over, so the kubelet restarts it
    let mut statuses =
        serde_json::to_value(&pod.status.as_ref().unwrap().container_statuses).unwrap();
    let earlier = (chrono::Utc::now() - chrono::Duration::seconds(15))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    statuses[0]["lastState"]["terminated"]["finishedAt"] = json!(earlier);
    pods.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"containerStatuses": statuses}})),
    )
    .await
    .unwrap();
    let restarted = wait_pod(&pods, "app=web", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| cs[0].restart_count == 2)
    })
    .await;
    let c = container_status(&restarted);
    assert!(
        c.state
            .unwrap()
            .waiting
            .unwrap()
            .message
            .unwrap()
            .starts_with("back-off 20s restarting failed container=app pod=")
    );
    let events = events_of(&client, "restart", &name).await;
    let backoff: Vec<&Event> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("BackOff"))
        .collect();
    assert_eq!(backoff.len(), 1, "aggregated into one event");
    assert_eq!(backoff[0].count, Some(2));
    // the next back-off (20 s) has not passed
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        container_status(&pods.get(&name).await.unwrap()).restart_count,
        2
    );
    // as `kubectl get pods` shows it
    let req = http::Request::get("/api/v1/namespaces/restart/pods")
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new())
        .unwrap();
    let table: serde_json::Value = client.request(req).await.unwrap();
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[1], "0/1");
    assert_eq!(cells[2], "CrashLoopBackOff");
    assert!(
        cells[3].as_str().unwrap().starts_with("2 ("),
        "{}",
        cells[3]
    );
}

#[tokio::test]
async fn failing_job_stops_at_its_backoff_limit() {
    let (kube, client) = setup("jobs").await;
    let output = lines(&["migrating", "error: relation \"users\" already exists"]);
    kube.set_crashing_image("migrate", 2, output.clone());
    let jobs: Api<Job> = Api::namespaced(client.clone(), "jobs");
    apply(
        &jobs,
        "migrate",
        job("migrate", "app/migrate:7", "Never", Some(1)),
    )
    .await;
    let failed = await_condition(jobs.clone(), "migrate", job_failed());
    tokio::time::timeout(WAIT, failed).await.unwrap().unwrap();
    let j = jobs.get("migrate").await.unwrap();
    let st = j.status.unwrap();
    assert_eq!(st.failed, Some(2));
    assert_eq!(st.active, None);
    assert_eq!(st.succeeded, None);
    assert!(st.completion_time.is_none());
    let conds = st.conditions.unwrap();
    for kind in ["FailureTarget", "Failed"] {
        let c = conds.iter().find(|c| c.type_ == kind).unwrap();
        assert_eq!(c.status, "True");
        assert_eq!(c.reason.as_deref(), Some("BackoffLimitExceeded"));
        assert_eq!(
            c.message.as_deref(),
            Some("Job has reached the specified backoff limit")
        );
    }
    assert!(!conds.iter().any(|c| c.type_ == "Complete"));
    let events = events_of(&client, "jobs", "migrate").await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("BackoffLimitExceeded")
                && e.type_.as_deref() == Some("Warning"))
    );

    // backoffLimit + 1 pods, all failed, each with the crash's output
    let pods: Api<Pod> = Api::namespaced(client.clone(), "jobs");
    kube.set_pod_logs("jobs", "migrate", "not these\n");
    let list = pods
        .list(&ListParams::default().labels("job-name=migrate"))
        .await
        .unwrap()
        .items;
    assert_eq!(list.len(), 2);
    for pod in &list {
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        assert_eq!(
            condition(pod, "Ready"),
            ("False".into(), Some("PodFailed".into()))
        );
        let c = container_status(pod);
        assert_eq!(c.restart_count, 0);
        let term = c.state.unwrap().terminated.unwrap();
        assert_eq!((term.exit_code, term.reason.as_deref()), (2, Some("Error")));
        let name = pod.metadata.name.as_deref().unwrap();
        let text = pods.logs(name, &LogParams::default()).await.unwrap();
        assert_eq!(
            text,
            "migrating\nerror: relation \"users\" already exists\n"
        );
        let tail = pods
            .logs(
                name,
                &LogParams {
                    tail_lines: Some(1),
                    ..LogParams::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(tail.trim_end(), output[1]);
        let (code, _) = api_status(
            &pods
                .logs(
                    name,
                    &LogParams {
                        previous: true,
                        ..LogParams::default()
                    },
                )
                .await
                .unwrap_err(),
        );
        assert_eq!(code, 400, "a Never pod has no previous run");
    }
    // no further pods once failed
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = pods
        .list(&ListParams::default().labels("job-name=migrate"))
        .await
        .unwrap()
        .items;
    assert_eq!(again.len(), 2);
}

#[tokio::test]
async fn default_backoff_limit_and_on_failure_restarts() {
    // deleted pods linger, so the killed one can be looked at
    let opts = FakeKubeOptions {
        pod_termination_delay: Duration::from_secs(60),
        ..FakeKubeOptions::default()
    };
    let (kube, client) = setup_with("limits", opts).await;
    kube.set_crashing_image("flaky", 1, lines(&["boom"]));
    let jobs: Api<Job> = Api::namespaced(client.clone(), "limits");
    // default backoffLimit 6: seven failed pods
    apply(&jobs, "seven", job("seven", "flaky:1", "Never", None)).await;
    // OnFailure: one pod restarting in place until the restarts reach the limit
    apply(
        &jobs,
        "inplace",
        job("inplace", "flaky:1", "OnFailure", Some(3)),
    )
    .await;
    for name in ["seven", "inplace"] {
        let failed = await_condition(jobs.clone(), name, job_failed());
        tokio::time::timeout(WAIT, failed).await.unwrap().unwrap();
    }
    let st = jobs.get("seven").await.unwrap().status.unwrap();
    assert_eq!(st.failed, Some(7));
    let st = jobs.get("inplace").await.unwrap().status.unwrap();
    assert_eq!(st.failed, Some(1));
    assert_eq!(st.active, None);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "limits");
    let inplace = pods
        .list(&ListParams::default().labels("job-name=inplace"))
        .await
        .unwrap()
        .items;
    assert_eq!(inplace.len(), 1, "{inplace:?}");
    let pod = &inplace[0];
    assert!(
        pod.metadata.deletion_timestamp.is_some(),
        "the job controller kills the restarting pod"
    );
    let c = container_status(pod);
    assert_eq!(c.restart_count, 3);
    assert_eq!(c.last_state.unwrap().terminated.unwrap().exit_code, 1);
    let previous = pods
        .logs(
            pod.metadata.name.as_deref().unwrap(),
            &LogParams {
                previous: true,
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(previous, "boom\n");
}

#[tokio::test]
async fn crashing_image_with_exit_zero_completes_a_job() {
    let (kube, client) = setup("done").await;
    kube.set_crashing_image("seed", 0, lines(&["seeded 42 rows", "bye"]));
    let jobs: Api<Job> = Api::namespaced(client.clone(), "done");
    apply(&jobs, "seed", job("seed", "app/seed:1", "Never", Some(0))).await;
    apply(&jobs, "once", job("once", "busybox", "OnFailure", Some(0))).await;
    for name in ["seed", "once"] {
        let done = await_condition(jobs.clone(), name, conditions::is_job_completed());
        tokio::time::timeout(WAIT, done).await.unwrap().unwrap();
        let st = jobs.get(name).await.unwrap().status.unwrap();
        assert_eq!((st.succeeded, st.failed), (Some(1), None));
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "done");
    let pod = pods
        .list(&ListParams::default().labels("job-name=seed"))
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded")
    );
    let term = container_status(&pod).state.unwrap().terminated.unwrap();
    assert_eq!(
        (term.exit_code, term.reason.as_deref()),
        (0, Some("Completed"))
    );
    let name = pod.metadata.name.unwrap();
    assert_eq!(
        pods.logs(&name, &LogParams::default()).await.unwrap(),
        "seeded 42 rows\nbye\n"
    );
    // an image nothing matches completes as before, with logs from set_pod_logs
    kube.set_pod_logs("done", "once-", "all good\n");
    let once = pods
        .list(&ListParams::default().labels("job-name=once"))
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        once.status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded")
    );
    assert_eq!(
        pods.logs(
            once.metadata.name.as_deref().unwrap(),
            &LogParams::default()
        )
        .await
        .unwrap(),
        "all good\n"
    );
}
