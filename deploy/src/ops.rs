//! The bot's own state in its namespace (SPEC section 3): the kill switch in a ConfigMap, and
//! the audit log as Kubernetes Events. Both hold across restarts and replicas because the
//! cluster is the only place they live.

use crate::cluster::DeployError;
use crate::labels;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The ConfigMap in the bot's namespace holding the kill switch (every replica watches it).
pub const STATE_CONFIG_MAP: &str = "preview-bot-state";
/// The ConfigMap of the GitHub delivery ids seen, apart from the kill switch: it changes with
/// every webhook, and the replicas' watches of the kill switch need not hear of that.
pub const DELIVERIES_CONFIG_MAP: &str = "preview-bot-deliveries";
const KILL_SWITCH: Entry = Entry {
    map: STATE_CONFIG_MAP,
    key: "kill-switch",
};
const DELIVERIES: Entry = Entry {
    map: DELIVERIES_CONFIG_MAP,
    key: "github-deliveries",
};
/// GitHub delivery ids remembered across replicas (about 40 KB of their ConfigMap).
pub const REMEMBERED_DELIVERIES: usize = 1000;
/// Marks the bot's audit Events (a label, so one list request finds them).
pub const AUDIT_LABEL: &str = "preview-bot.dev/audit";
const REPORTING_CONTROLLER: &str = "preview-bot.dev/preview-bot";
/// events.k8s.io limits `note` to 1 KiB and `action`/`reason` to 128 characters.
const MAX_NOTE: usize = 1024;
const MAX_ACTION: usize = 128;
/// Read-modify-write attempts before a conflicting writer wins.
const UPDATE_ATTEMPTS: usize = 5;

/// How far the kill switch goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FreezeLevel {
    /// Refuse up, redeploy, seed and point; running previews keep running.
    #[default]
    Freeze,
    /// Also scale every preview workload to zero.
    ScaleToZero,
    /// Also delete every preview.
    Teardown,
}

impl FreezeLevel {
    pub fn describe(self) -> &'static str {
        match self {
            FreezeLevel::Freeze => "freeze",
            FreezeLevel::ScaleToZero => "scale to zero",
            FreezeLevel::Teardown => "teardown",
        }
    }
}

/// A `--teardown` waiting for its confirmation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTeardown {
    pub by: String,
    pub at: DateTime<Utc>,
}

/// The kill switch as stored in the state ConfigMap.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KillSwitchState {
    pub active: bool,
    pub by: Option<String>,
    pub reason: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub level: FreezeLevel,
    /// Replica counts `--scale-to-zero` took down: preview namespace -> `Kind/name` -> replicas.
    pub scaled: BTreeMap<String, BTreeMap<String, i32>>,
    pub pending_teardown: Option<PendingTeardown>,
    /// Who lifted it last, and when (shown by `status` after `off`).
    pub lifted_by: Option<String>,
    pub lifted_at: Option<DateTime<Utc>>,
}

/// How an audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    Succeeded,
    Refused,
    Denied,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Succeeded => "Succeeded",
            AuditOutcome::Refused => "Refused",
            AuditOutcome::Denied => "Denied",
        }
    }

    fn parse(text: &str) -> AuditOutcome {
        match text {
            "Succeeded" => AuditOutcome::Succeeded,
            "Denied" => AuditOutcome::Denied,
            _ => AuditOutcome::Refused,
        }
    }
}

/// One state-changing action: who, from where, what, on which target, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub time: DateTime<Utc>,
    pub actor: String,
    /// `slack #C0HELLO`, `github Codertocat/Hello-World#2`, `admin api`, `console`, `schedule`.
    pub source: String,
    /// The command or event, e.g. `up`, `kill-switch on`, `pull_request labeled`.
    pub action: String,
    /// The previews acted on (`hello#2`), or `all previews`.
    pub target: String,
    pub outcome: AuditOutcome,
    pub detail: String,
}

mod audit_annotations {
    pub const ACTOR: &str = "preview-bot.dev/audit-actor";
    pub const SOURCE: &str = "preview-bot.dev/audit-source";
    pub const ACTION: &str = "preview-bot.dev/audit-action";
    pub const TARGET: &str = "preview-bot.dev/audit-target";
}

/// The bot's namespace: where its global state and audit log live.
#[derive(Clone)]
pub struct OpsStore {
    client: Client,
    namespace: String,
    instance: String,
}

impl OpsStore {
    /// `instance` names this replica in the Events it reports (its pod name).
    pub fn new(client: Client, namespace: &str, instance: &str) -> OpsStore {
        OpsStore {
            client,
            namespace: namespace.to_string(),
            instance: instance.to_string(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The kill switch now (off when never set).
    pub async fn kill_switch(&self) -> Result<KillSwitchState, DeployError> {
        Ok(self.read_state().await?.1)
    }

    async fn read_state(&self) -> Result<(Option<ConfigMap>, KillSwitchState), DeployError> {
        self.read_entry(KILL_SWITCH).await
    }

    /// The entry's ConfigMap and its JSON value (the default when absent).
    async fn read_entry<T: serde::de::DeserializeOwned + Default>(
        &self,
        entry: Entry,
    ) -> Result<(Option<ConfigMap>, T), DeployError> {
        let action = format!("read `{}` ({})", entry.key, self.describe(entry));
        let map = self
            .config_maps()
            .get_opt(entry.map)
            .await
            .map_err(|e| DeployError::kube(action.clone(), e))?;
        let state = entry_of(map.as_ref(), entry.key)
            .map_err(|message| DeployError::Kube { action, message })?;
        Ok((map, state))
    }

    /// `ConfigMap NAMESPACE/NAME` of the entry, for errors.
    fn describe(&self, entry: Entry) -> String {
        format!("ConfigMap {}/{}", self.namespace, entry.map)
    }

    /// Read-modify-write of the kill switch with optimistic concurrency: a concurrent writer
    /// (another replica, another on-call) makes this re-read and re-apply `change`.
    /// `change` returns false to leave the state as it is.
    pub async fn update_kill_switch(
        &self,
        change: impl FnMut(&mut KillSwitchState) -> bool,
    ) -> Result<KillSwitchState, DeployError> {
        self.update_entry(KILL_SWITCH, change).await
    }

    /// True the first time any replica sees this GitHub delivery id: the ids of the last
    /// [`REMEMBERED_DELIVERIES`] deliveries are kept in [`DELIVERIES_CONFIG_MAP`], so a redelivery
    /// that reaches another replica is still recognised.
    pub async fn claim_delivery(&self, id: &str) -> Result<bool, DeployError> {
        let mut first = false;
        self.update_entry(DELIVERIES, |seen: &mut Vec<String>| {
            first = !seen.iter().any(|s| s == id);
            if first {
                seen.push(id.to_string());
                let excess = seen.len().saturating_sub(REMEMBERED_DELIVERIES);
                seen.drain(..excess);
            }
            first
        })
        .await?;
        Ok(first)
    }

    async fn update_entry<T: Serialize + serde::de::DeserializeOwned + Default>(
        &self,
        entry: Entry,
        mut change: impl FnMut(&mut T) -> bool,
    ) -> Result<T, DeployError> {
        let action = format!("save `{}` ({})", entry.key, self.describe(entry));
        for _ in 0..UPDATE_ATTEMPTS {
            let (existing, mut state) = self.read_entry::<T>(entry).await?;
            if !change(&mut state) {
                return Ok(state);
            }
            let text = serde_json::to_string(&state).map_err(|e| DeployError::Kube {
                action: action.clone(),
                message: e.to_string(),
            })?;
            let result = match existing {
                Some(mut map) => {
                    map.data
                        .get_or_insert_with(BTreeMap::new)
                        .insert(entry.key.into(), text);
                    self.config_maps()
                        .replace(entry.map, &PostParams::default(), &map)
                        .await
                }
                None => {
                    let map = ConfigMap {
                        metadata: ObjectMeta {
                            name: Some(entry.map.into()),
                            namespace: Some(self.namespace.clone()),
                            labels: Some(BTreeMap::from([(
                                labels::MANAGED_BY.to_string(),
                                labels::MANAGED_BY_VALUE.to_string(),
                            )])),
                            ..ObjectMeta::default()
                        },
                        data: Some(BTreeMap::from([(entry.key.to_string(), text)])),
                        ..ConfigMap::default()
                    };
                    self.config_maps()
                        .create(&PostParams::default(), &map)
                        .await
                }
            };
            match result {
                Ok(_) => return Ok(state),
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(e) => return Err(DeployError::kube(action, e)),
            }
        }
        Err(DeployError::Kube {
            action,
            message: format!("{UPDATE_ATTEMPTS} concurrent updates in a row; try again"),
        })
    }

    /// Writes one audit entry as an events.k8s.io/v1 Event in the bot's namespace.
    pub async fn record_audit(&self, entry: &AuditEntry) -> Result<(), DeployError> {
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some("preview-bot-audit-".into()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([
                    (
                        labels::MANAGED_BY.to_string(),
                        labels::MANAGED_BY_VALUE.to_string(),
                    ),
                    (AUDIT_LABEL.to_string(), "true".to_string()),
                ])),
                annotations: Some(BTreeMap::from([
                    (audit_annotations::ACTOR.to_string(), entry.actor.clone()),
                    (audit_annotations::SOURCE.to_string(), entry.source.clone()),
                    (audit_annotations::ACTION.to_string(), entry.action.clone()),
                    (audit_annotations::TARGET.to_string(), entry.target.clone()),
                ])),
                ..ObjectMeta::default()
            },
            event_time: to_micro_time(entry.time).map(MicroTime),
            reporting_controller: Some(REPORTING_CONTROLLER.into()),
            reporting_instance: Some(truncate(&self.instance, MAX_ACTION)),
            action: Some(truncate(&entry.action, MAX_ACTION)),
            reason: Some(entry.outcome.as_str().into()),
            type_: Some(
                if entry.outcome == AuditOutcome::Succeeded {
                    "Normal"
                } else {
                    "Warning"
                }
                .into(),
            ),
            note: Some(truncate(&entry.detail, MAX_NOTE)),
            // The Event must regard an object of its own namespace; the state ConfigMap is the
            // bot's (it need not exist).
            regarding: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("ConfigMap".into()),
                namespace: Some(self.namespace.clone()),
                name: Some(STATE_CONFIG_MAP.into()),
                ..ObjectReference::default()
            }),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        api.create(&PostParams::default(), &event)
            .await
            .map_err(|e| {
                DeployError::kube(
                    format!("write the audit log (Events in {})", self.namespace),
                    e,
                )
            })?;
        Ok(())
    }

    /// The newest `limit` audit entries, newest first (one list request).
    pub async fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, DeployError> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        let list = api
            .list(&ListParams::default().labels(&format!("{AUDIT_LABEL}=true")))
            .await
            .map_err(|e| {
                DeployError::kube(
                    format!("read the audit log (Events in {})", self.namespace),
                    e,
                )
            })?;
        let mut entries: Vec<AuditEntry> = list.items.iter().filter_map(audit_entry).collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.time));
        entries.truncate(limit);
        Ok(entries)
    }
}

/// The kill switch a copy of the state ConfigMap holds (off when there is no ConfigMap or no
/// entry), for a watch of the ConfigMap; the error says which entry does not parse.
pub fn kill_switch_of(map: Option<&ConfigMap>) -> Result<KillSwitchState, String> {
    entry_of(map, KILL_SWITCH.key)
}

/// The JSON entry `key` of the state ConfigMap (the default when absent).
fn entry_of<T: serde::de::DeserializeOwned + Default>(
    map: Option<&ConfigMap>,
    key: &str,
) -> Result<T, String> {
    match map.and_then(|m| m.data.as_ref()).and_then(|d| d.get(key)) {
        None => Ok(T::default()),
        Some(text) => {
            serde_json::from_str(text).map_err(|e| format!("the `{key}` entry is not valid: {e}"))
        }
    }
}

/// A JSON entry of the bot's state: its ConfigMap and key.
#[derive(Clone, Copy)]
struct Entry {
    map: &'static str,
    key: &'static str,
}

fn audit_entry(event: &Event) -> Option<AuditEntry> {
    let annotations = event.metadata.annotations.as_ref()?;
    let get = |key: &str| annotations.get(key).cloned().unwrap_or_default();
    Some(AuditEntry {
        time: from_timestamp(event.event_time.as_ref()?.0)?,
        actor: get(audit_annotations::ACTOR),
        source: get(audit_annotations::SOURCE),
        action: get(audit_annotations::ACTION),
        target: get(audit_annotations::TARGET),
        outcome: AuditOutcome::parse(event.reason.as_deref().unwrap_or_default()),
        detail: event.note.clone().unwrap_or_default(),
    })
}

fn to_micro_time(time: DateTime<Utc>) -> Option<k8s_openapi::jiff::Timestamp> {
    let nanos = i32::try_from(time.timestamp_subsec_nanos()).ok()?;
    k8s_openapi::jiff::Timestamp::new(time.timestamp(), nanos).ok()
}

fn from_timestamp(time: k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.as_second(), time.subsec_nanosecond().try_into().ok()?)
}

/// At most `max` bytes, cut at a character boundary.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_characters_and_limit() {
        let text = "é".repeat(700);
        let cut = truncate(&text, MAX_NOTE);
        assert!(cut.len() <= MAX_NOTE);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short", MAX_NOTE), "short");
    }

    #[test]
    fn kill_switch_state_round_trips_and_tolerates_missing_fields() {
        let state = KillSwitchState {
            active: true,
            by: Some("slack:U0ONCALL1".into()),
            reason: Some("INC-123".into()),
            since: Some("2026-11-22T07:00:00Z".parse().expect("time")),
            level: FreezeLevel::ScaleToZero,
            scaled: BTreeMap::from([(
                "preview-hello-pr-2".into(),
                BTreeMap::from([("Deployment/hello".into(), 2)]),
            )]),
            ..KillSwitchState::default()
        };
        let text = serde_json::to_string(&state).expect("json");
        assert!(text.contains("\"level\":\"scale-to-zero\""), "{text}");
        assert_eq!(
            serde_json::from_str::<KillSwitchState>(&text).expect("parse"),
            state
        );
        let old: KillSwitchState = serde_json::from_str(r#"{"active":true}"#).expect("parse");
        assert_eq!(old.level, FreezeLevel::Freeze);
    }
}
