//! Each replica's view of the kill switch: a watch of the state ConfigMap in the bot's
//! namespace, so that a deploy asks memory instead of the API server, and a kill switch turned
//! on by any replica (or the admin endpoint, or `kubectl`) stops this replica's running deploys
//! at once.
//!
//! The view is `None` (unknown) until the first list completes, after any watch error until a
//! new list completes, and while the entry does not parse: callers then read the ConfigMap
//! themselves (unknown never means "off").

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use preview_deploy::ops::{self, KillSwitchState, STATE_CONFIG_MAP};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The first wait before watching again after the watch broke; doubled up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// A watch that stayed in sync this long starts over from [`RETRY_FIRST`] when it breaks (one
/// that lists and then fails at once keeps backing off).
const HEALTHY: Duration = Duration::from_secs(60);

/// What the view does when it sees the kill switch go on.
type OnActive = Box<dyn Fn() + Send + Sync>;

/// The kill switch as this replica's watch last saw it.
#[derive(Clone)]
pub struct KillSwitchView {
    state: watch::Receiver<Option<KillSwitchState>>,
}

impl KillSwitchView {
    /// Watches the state ConfigMap in `namespace` until `stop` (or until every copy of the view
    /// is dropped). `on_active` runs each time the switch is seen going on from off or unknown,
    /// after the view already says so.
    pub fn start(
        client: Client,
        namespace: &str,
        stop: CancellationToken,
        on_active: impl Fn() + Send + Sync + 'static,
    ) -> (KillSwitchView, JoinHandle<()>) {
        let (tx, rx) = watch::channel(None);
        let api: Api<ConfigMap> = Api::namespaced(client, namespace);
        let task = tokio::spawn(follow(api, tx, stop, Box::new(on_active)));
        (KillSwitchView { state: rx }, task)
    }

    /// The kill switch now, or `None` while the watch is not in sync (or no longer runs).
    pub fn current(&self) -> Option<KillSwitchState> {
        if self.state.has_changed().is_err() {
            // The watch stopped: what it saw last is out of date.
            return None;
        }
        self.state.borrow().clone()
    }

    pub fn synced(&self) -> bool {
        self.state.has_changed().is_ok() && self.state.borrow().is_some()
    }

    /// Resolves once the view is in sync (at once if it is; never if the watch stopped).
    pub async fn until_synced(&self) {
        let mut state = self.state.clone();
        if state.wait_for(Option::is_some).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Waits (at most `patience`) until the view shows `state` or is out of sync: a replica
    /// that just saved the switch answers from what it saved, not from an older copy.
    /// False when it did not get there in time.
    pub async fn until_shows(&self, state: &KillSwitchState, patience: Duration) -> bool {
        let mut current = self.state.clone();
        let shown = current.wait_for(|s| s.as_ref().is_none_or(|s| s == state));
        // A watch that stopped is out of sync too.
        tokio::time::timeout(patience, shown).await.is_ok()
    }

    /// Resolves once the view is out of sync (never if the watch stopped).
    pub async fn until_unsynced(&self) {
        let mut state = self.state.clone();
        if state.wait_for(Option::is_none).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Watches until stopped: a broken watch makes the view unknown, and a new watch (a new list
/// first) starts after a growing pause.
async fn follow(
    api: Api<ConfigMap>,
    tx: watch::Sender<Option<KillSwitchState>>,
    stop: CancellationToken,
    on_active: OnActive,
) {
    let config = watcher::Config::default().fields(&format!("metadata.name={STATE_CONFIG_MAP}"));
    let mut retry = RETRY_FIRST;
    loop {
        let mut synced_at = None;
        let broke = tokio::select! {
            () = stop.cancelled() => return,
            () = tx.closed() => return,
            broke = follow_once(api.clone(), config.clone(), &tx, &on_active, &mut synced_at) => broke,
        };
        publish(&tx, None, &on_active);
        if synced_at.is_some_and(|at: tokio::time::Instant| at.elapsed() >= HEALTHY) {
            retry = RETRY_FIRST;
        }
        tracing::warn!(
            error = %broke,
            retry_in = ?retry,
            "the watch of the kill switch broke; deploys read it from the API until it is back"
        );
        tokio::select! {
            () = stop.cancelled() => return,
            () = tx.closed() => return,
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(RETRY_MAX);
    }
}

/// One watch, from its initial list until it fails; returns why it did. `synced_at` is when
/// its list completed.
async fn follow_once(
    api: Api<ConfigMap>,
    config: watcher::Config,
    tx: &watch::Sender<Option<KillSwitchState>>,
    on_active: &OnActive,
    synced_at: &mut Option<tokio::time::Instant>,
) -> String {
    let stream = watcher::watcher(api, config);
    futures::pin_mut!(stream);
    // The state ConfigMap as the list in progress found it.
    let mut listed: Option<ConfigMap> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => {
                listed = None;
                publish(tx, None, on_active);
            }
            Ok(Event::InitApply(map)) => {
                if is_state(&map) {
                    listed = Some(map);
                }
            }
            Ok(Event::InitDone) => {
                publish(tx, parse(listed.take().as_ref()), on_active);
                synced_at.get_or_insert_with(tokio::time::Instant::now);
            }
            Ok(Event::Apply(map)) => {
                if is_state(&map) {
                    publish(tx, parse(Some(&map)), on_active);
                }
            }
            Ok(Event::Delete(map)) => {
                if is_state(&map) {
                    publish(tx, Some(KillSwitchState::default()), on_active);
                }
            }
            Err(e) => return e.to_string(),
        }
    }
    "the watch ended".into()
}

/// The field selector already says so; a server that ignored it must not confuse the view.
fn is_state(map: &ConfigMap) -> bool {
    map.name_any() == STATE_CONFIG_MAP
}

/// The switch a copy of the ConfigMap holds; unknown when its entry does not parse (a read
/// then reports why).
fn parse(map: Option<&ConfigMap>) -> Option<KillSwitchState> {
    ops::kill_switch_of(map)
        .inspect_err(
            |e| tracing::warn!(error = %e, "the kill switch in the state ConfigMap does not parse"),
        )
        .ok()
}

/// Sets the view; runs `on_active` when the switch went on from off or unknown.
fn publish(
    tx: &watch::Sender<Option<KillSwitchState>>,
    new: Option<KillSwitchState>,
    on_active: &OnActive,
) {
    let mut turned_on = false;
    tx.send_if_modified(|current| {
        if *current == new {
            return false;
        }
        let was_on = current.as_ref().is_some_and(|s| s.active);
        turned_on = !was_on && new.as_ref().is_some_and(|s| s.active);
        *current = new;
        true
    });
    if turned_on {
        tracing::info!("the kill switch went on: stopping the deploys of this replica");
        on_active();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_switch_going_on_from_off_or_unknown_stops_deploys_once() {
        let (tx, rx) = watch::channel(None);
        let stops = Arc::new(AtomicUsize::new(0));
        let counted = stops.clone();
        let on_active: OnActive = Box::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let on = KillSwitchState {
            active: true,
            ..KillSwitchState::default()
        };
        let view = KillSwitchView { state: rx };
        publish(&tx, Some(KillSwitchState::default()), &on_active);
        assert_eq!(view.current(), Some(KillSwitchState::default()));
        publish(&tx, Some(on.clone()), &on_active);
        assert_eq!(stops.load(Ordering::SeqCst), 1, "off -> on");
        let mut reworded = on.clone();
        reworded.reason = Some("INC-2".into());
        publish(&tx, Some(reworded), &on_active);
        assert_eq!(stops.load(Ordering::SeqCst), 1, "on -> on changes nothing");
        publish(&tx, None, &on_active);
        assert!(!view.synced());
        publish(&tx, Some(on), &on_active);
        assert_eq!(stops.load(Ordering::SeqCst), 2, "unknown -> on");
        publish(&tx, Some(KillSwitchState::default()), &on_active);
        assert_eq!(stops.load(Ordering::SeqCst), 2, "on -> off");
    }

    #[test]
    fn an_entry_that_does_not_parse_is_unknown_and_no_map_is_off() {
        let mut map = ConfigMap::default();
        map.metadata.name = Some(STATE_CONFIG_MAP.into());
        assert_eq!(parse(None), Some(KillSwitchState::default()));
        assert_eq!(parse(Some(&map)), Some(KillSwitchState::default()));
        map.data = Some([("kill-switch".to_string(), "{not json".to_string())].into());
        assert_eq!(parse(Some(&map)), None);
        map.data = Some([("kill-switch".to_string(), r#"{"active":true}"#.to_string())].into());
        assert!(parse(Some(&map)).is_some_and(|s| s.active));
    }
}
