//! A fake Kubernetes API server for tests and try-out mode: axum over HTTPS (throwaway CA),
//! bearer-token auth, legacy discovery, CRUD, server-side apply with managed fields, patches,
//! watches with replay, namespace termination, garbage collection, a simulated
//! controller-manager and kubelet (Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs,
//! HPAs, Pods, Events; unpullable and crashing images), pod logs, kubectl tables, a request
//! log and fault injection. The real `kube::Client` and `kubectl` talk to it.
//!
//! Objects live as `serde_json::Value` in a `BTreeMap` behind a `std::sync::Mutex`; every write
//! bumps one global resourceVersion counter and appends to an event log that watches replay.
//!
//! Timings (see [`FakeKubeOptions`]): the controller reacts `controller_delay` (50 ms) after a
//! write and resyncs every second; a deleted namespace is `Terminating` for
//! `namespace_termination_delay` (300 ms); a deleted pod keeps a `deletionTimestamp` for
//! `pod_termination_delay` (250 ms). kube 5 retries 429/503/504 by itself (honouring
//! `Retry-After`), so a one-shot fault with those codes is invisible to a default client.

mod controller;
mod errors;
mod fields;
mod resources;
mod schema;
mod selectors;
mod server;
mod state;
mod table;
mod validate;

use state::{Key, State};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, watch};

pub use state::CONTROLLER as CONTROLLER_MANAGER;

/// Options of [`FakeKube::start_with`].
#[derive(Clone, Debug)]
pub struct FakeKubeOptions {
    /// How long the simulated controller-manager waits after a write before reconciling
    /// (default 50 ms).
    pub controller_delay: Duration,
    /// How long a deleted namespace stays `Terminating` before it and its contents vanish
    /// (default 300 ms).
    pub namespace_termination_delay: Duration,
    /// Seed `default`, `kube-system`, `kube-public`, `kube-node-lease` and a node, as a real
    /// cluster has (default true).
    pub seed_cluster: bool,
    /// Whether the simulated controllers run at all (default true).
    pub run_controllers: bool,
    /// How long a deleted pod stays with a `deletionTimestamp` before it goes, unless the
    /// delete says `gracePeriodSeconds` (default 250 ms; zero deletes pods at once).
    pub pod_termination_delay: Duration,
}

impl Default for FakeKubeOptions {
    fn default() -> Self {
        FakeKubeOptions {
            controller_delay: Duration::from_millis(50),
            namespace_termination_delay: Duration::from_millis(300),
            seed_cluster: true,
            run_controllers: true,
            pod_termination_delay: Duration::from_millis(250),
        }
    }
}

/// One request as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `PATCH`, ...
    pub method: String,
    /// The path, e.g. `/apis/apps/v1/namespaces/x/deployments/web`.
    pub path: String,
    /// The raw query string without `?` (empty when none).
    pub query: String,
    /// The `Content-Type` header (empty when none).
    pub content_type: String,
    /// The body as (lossy) UTF-8.
    pub body: String,
    /// The answered status; 0 while unanswered (e.g. a hanging fault).
    pub status: u16,
    /// When it arrived (before any injected latency).
    pub at: std::time::Instant,
}

impl RecordedRequest {
    /// The value of one query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&self.query)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The Kubernetes verb: `LIST` and `WATCH` for collection reads, otherwise the method
    /// (`GET`, `PATCH`, ...). A collection is recognised by the absence of a name after the
    /// resource, which holds for the paths the bot uses.
    pub fn verb(&self) -> &str {
        verb_of(&self.method, &self.path, &self.query)
    }

    /// The body parsed as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// See [`RecordedRequest::verb`].
pub(crate) fn verb_of<'a>(method: &'a str, path: &str, query: &str) -> &'a str {
    if method != "GET" {
        return method;
    }
    let watch = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .any(|(k, v)| k == "watch" && (v == "true" || v == "1"));
    if watch {
        return "WATCH";
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/RES, /api/v1/namespaces/NS/RES, /apis/G/V/RES, /apis/G/V/namespaces/NS/RES
    let rest = match segs.as_slice() {
        ["api", _, rest @ ..] => rest,
        ["apis", _, _, rest @ ..] => rest,
        _ => return "GET",
    };
    if matches!(rest, [_] | ["namespaces", _, _]) {
        "LIST"
    } else {
        "GET"
    }
}

/// What an injected fault answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultResponse {
    /// This status with a Kubernetes `Status` body.
    Status(u16),
    /// 429 with `Retry-After` and a `Status` body.
    TooManyRequests { retry_after_secs: u64 },
    /// Never answers.
    Hang,
}

/// A fault injected into matching requests, checked before normal handling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Only this method (e.g. `"PATCH"`; `"GET"` includes lists and watches), or only this
    /// collection read (`"LIST"` or `"WATCH"`, see [`RecordedRequest::verb`]); None = any.
    pub method: Option<String>,
    /// Only paths containing this (empty = every path).
    pub path_contains: String,
    /// How many requests it hits; 0 = forever.
    pub times: usize,
    /// The answer.
    pub response: FaultResponse,
}

impl Fault {
    /// A fault for every method on paths containing `path_contains`, hitting `times` requests.
    pub fn new(path_contains: &str, times: usize, response: FaultResponse) -> Fault {
        Fault {
            method: None,
            path_contains: path_contains.to_string(),
            times,
            response,
        }
    }

    /// Restricts the fault to one method, or to lists (`"LIST"`) or watches (`"WATCH"`).
    pub fn method(mut self, method: &str) -> Fault {
        self.method = Some(method.to_ascii_uppercase());
        self
    }
}

/// Shared state of a running fake.
pub(crate) struct Inner {
    pub token: String,
    pub url: String,
    pub ca_pem: String,
    pub opts: FakeKubeOptions,
    pub state: Mutex<State>,
    pub rv_tx: watch::Sender<u64>,
    /// Bumped to end every open watch (see [`FakeKube::break_watches`]).
    pub watch_breaks: watch::Sender<u64>,
    pub wake: Notify,
    /// Injected latency per request, in microseconds (0 = none).
    pub latency_micros: std::sync::atomic::AtomicU64,
}

impl Inner {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` under the lock, then wakes watchers and the controller if anything changed and
    /// starts namespace termination timers.
    pub fn mutate<R>(self: &Arc<Self>, f: impl FnOnce(&mut State) -> R) -> R {
        let (out, changed, rv, terminations) = {
            let mut s = self.lock();
            let out = f(&mut s);
            let changed = std::mem::take(&mut s.dirty);
            (out, changed, s.rv, std::mem::take(&mut s.terminations))
        };
        self.after_write(changed, rv, terminations);
        out
    }

    fn after_write(self: &Arc<Self>, changed: bool, rv: u64, terminations: Vec<String>) {
        if changed {
            self.rv_tx.send_replace(rv);
            self.wake.notify_one();
        }
        for ns in terminations {
            let inner = Arc::clone(self);
            let delay = self.opts.namespace_termination_delay;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let (rv, more) = {
                    let mut s = inner.lock();
                    s.finish_namespace(&ns);
                    s.dirty = false;
                    (s.rv, std::mem::take(&mut s.terminations))
                };
                inner.after_write(true, rv, more);
            });
        }
    }
}

/// Aborts the server and controller tasks when the last handle goes.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// The fake API server. Cheap to clone; stops when the last clone is dropped.
#[derive(Clone)]
pub struct FakeKube {
    inner: Arc<Inner>,
    _tasks: Arc<Tasks>,
}

impl FakeKube {
    /// Starts a fake with default options.
    pub async fn start() -> FakeKube {
        Self::start_with(FakeKubeOptions::default()).await
    }

    /// Starts a fake; panics only when no TLS material or loopback port can be had.
    pub async fn start_with(opts: FakeKubeOptions) -> FakeKube {
        match Self::try_start_with(opts).await {
            Ok(k) => k,
            Err(e) => panic!("starting the fake Kubernetes API server failed: {e:#}"),
        }
    }

    /// Starts a fake, reporting set-up failures.
    pub async fn try_start_with(opts: FakeKubeOptions) -> anyhow::Result<FakeKube> {
        crate::tls::install_ring_provider();
        let material = crate::tls::TlsMaterial::generate(&["127.0.0.1", "localhost"])?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut state = State::new();
        state.pod_grace = opts.pod_termination_delay;
        let token = format!(
            "fake-{:016x}{:016x}",
            state.next_random(),
            state.next_random()
        );
        let (rv_tx, _) = watch::channel(state.rv);
        let inner = Arc::new(Inner {
            token,
            url: format!("https://{addr}"),
            ca_pem: material.ca_pem.clone(),
            opts: opts.clone(),
            state: Mutex::new(state),
            rv_tx,
            watch_breaks: watch::channel(0).0,
            wake: Notify::new(),
            latency_micros: std::sync::atomic::AtomicU64::new(0),
        });
        if opts.seed_cluster {
            inner.mutate(controller::seed_cluster);
        }
        let router = server::router(Arc::clone(&inner));
        let mut tasks = vec![crate::tls::spawn_https(
            listener,
            material.server_config()?,
            router,
        )];
        if opts.run_controllers {
            tasks.push(tokio::spawn(controller::run(Arc::clone(&inner))));
        }
        Ok(FakeKube {
            inner,
            _tasks: Arc::new(Tasks(tasks)),
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// The CA certificate (PEM) the server certificate chains to.
    pub fn ca_pem(&self) -> String {
        self.inner.ca_pem.clone()
    }

    /// The bearer token every request must carry.
    pub fn token(&self) -> String {
        self.inner.token.clone()
    }

    /// A complete kubeconfig (cluster, user with token, context `fake`, namespace `default`).
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
    certificate-authority-data: {ca}
users:
- name: fake
  user:
    token: {token}
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: default
current-context: fake
preferences: {{}}
",
            url = self.inner.url,
            ca = state::base64(self.inner.ca_pem.as_bytes()),
            token = self.inner.token
        )
    }

    /// Writes the kubeconfig to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// A `kube::Config` built from [`Self::kubeconfig_yaml`].
    pub async fn config(&self) -> anyhow::Result<kube::Config> {
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&self.kubeconfig_yaml())?;
        Ok(kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await?)
    }

    /// A real `kube::Client` for this fake.
    pub async fn try_client(&self) -> anyhow::Result<kube::Client> {
        crate::tls::install_ring_provider();
        Ok(kube::Client::try_from(self.config().await?)?)
    }

    /// A real `kube::Client` for this fake (panics if it cannot be built).
    pub async fn client(&self) -> kube::Client {
        match self.try_client().await {
            Ok(c) => c,
            Err(e) => panic!("building a kube client for the fake failed: {e:#}"),
        }
    }

    /// Every request so far, in arrival order (faulted ones included).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.lock().requests.clone()
    }

    /// POST/PUT/PATCH/DELETE requests only.
    pub fn mutating_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
            .collect()
    }

    /// Delays every request's answer by `latency` (network and API-server time of a real
    /// cluster, for benchmarks); zero turns it off. A watch waits once, before its stream starts.
    pub fn set_latency(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.inner
            .latency_micros
            .store(micros, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many requests so far matched `method` (e.g. `GET`) and whose path ends with
    /// `resource` (e.g. `/namespaces`), counting only collection reads (lists and watches) when
    /// `method` is `LIST` or `WATCH`.
    pub fn count_requests(&self, method: &str, resource: &str) -> usize {
        self.inner
            .lock()
            .requests
            .iter()
            .filter(|r| r.verb() == method && r.path.ends_with(resource))
            .count()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.inner.lock().requests.clear();
    }

    /// Adds a fault (checked in insertion order, before normal handling).
    pub fn inject_fault(&self, fault: Fault) {
        self.inner.lock().faults.push(fault);
    }

    /// Ends every open watch stream, as a restarting API server or a dropped connection does
    /// (clients watch again, and meet any fault injected meanwhile). Returns how many were open.
    pub fn break_watches(&self) -> usize {
        let open = self.inner.watch_breaks.receiver_count();
        self.inner.watch_breaks.send_modify(|n| *n += 1);
        open
    }

    /// Removes all faults.
    pub fn clear_faults(&self) {
        self.inner.lock().faults.clear();
    }

    /// One stored object (namespace None for cluster-scoped kinds).
    pub fn object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<serde_json::Value> {
        let res = resources::by_kind(api_version, kind)?;
        self.inner
            .lock()
            .get(&Key::new(res, namespace, name))
            .cloned()
    }

    /// All stored objects of a kind (namespace None = all namespaces), sorted by namespace and name.
    pub fn objects(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Vec<serde_json::Value> {
        let Some(res) = resources::by_kind(api_version, kind) else {
            return Vec::new();
        };
        self.inner
            .lock()
            .list(res, namespace)
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    /// Pods whose container image contains `image_substring` never become ready
    /// (`ImagePullBackOff`, with a Warning event).
    pub fn set_unpullable_image(&self, image_substring: &str) {
        self.inner
            .lock()
            .unpullable
            .push(image_substring.to_string());
    }

    /// Containers whose image contains `image_substring` start, print `log_lines` and exit with
    /// `exit_code` (set it before the pods are created; the last matching call wins; an
    /// unpullable image never starts at all). What the kubelet then does depends on the pod's
    /// `restartPolicy`:
    ///
    /// - `Always` (Deployments, StatefulSets, ...), and `OnFailure` with a non-zero code: the
    ///   pod stays `Running` and not Ready; the container is `waiting` with reason
    ///   `CrashLoopBackOff` (`back-off 10s restarting failed container=NAME pod=POD_NS(UID)`),
    ///   `lastState.terminated` holds `exitCode` (reason `Error`, `Completed` for 0) and
    ///   `restartCount` starts at 1; a Warning event `BackOff` (`Back-off restarting failed
    ///   container NAME in pod POD_NS(UID)`) is recorded. The container restarts (count + 1,
    ///   event count + 1) after 10 s, 20 s, 40 s, ... (at most 5 min); in Job pods at once.
    /// - `Never`, and `OnFailure` with 0: the container ends `terminated` (`Error` /
    ///   `Completed`), the pod `Failed` / `Succeeded`.
    ///
    /// A Job fails (conditions `FailureTarget` and `Failed`, reason `BackoffLimitExceeded`,
    /// Warning event on the Job) once more than `backoffLimit` of its pods failed (`Never`: one
    /// fresh pod after another, `backoffLimit + 1` in all) or its pods restarted
    /// `backoffLimit` times (`OnFailure`; the running pod is then deleted).
    ///
    /// Logs of such a container (current run, or `previous=true` while it crash-loops) are
    /// `log_lines`, ahead of [`Self::set_pod_logs`].
    pub fn set_crashing_image(
        &self,
        image_substring: &str,
        exit_code: i32,
        log_lines: Vec<String>,
    ) {
        self.inner.lock().crashing.push(state::CrashingImage {
            image: image_substring.to_string(),
            exit_code,
            lines: log_lines,
        });
    }

    /// Sets the log text of pods in `namespace` whose name starts with `pod_prefix`.
    pub fn set_pod_logs(&self, namespace: &str, pod_prefix: &str, text: &str) {
        self.inner.lock().pod_logs.push((
            namespace.to_string(),
            pod_prefix.to_string(),
            text.to_string(),
        ));
    }

    /// Stores an object as given (server-set metadata filled in when missing; no validation,
    /// no namespace check). Unknown kinds are ignored.
    pub fn put_object(&self, value: serde_json::Value) {
        self.inner.mutate(|s| {
            let _ = s.put_raw(value);
        });
    }

    /// Deletes an object directly (no finalizers, no cascade); true if it existed.
    pub fn remove_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        let Some(res) = resources::by_kind(api_version, kind) else {
            return false;
        };
        self.inner
            .mutate(|s| s.remove(&Key::new(res, namespace, name)).is_some())
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.lock().rv
    }
}
