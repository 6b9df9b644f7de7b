//! The preview's record, kept in its namespace's labels and annotations: the cluster is the
//! database (SPEC section 3).

use crate::labels::{self, annotations as a};
use crate::naming::{PreviewId, PreviewNamespace, Subject};
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Namespace;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;

/// Where a preview is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// A deploy is in progress.
    Deploying,
    /// Everything applied is available.
    Ready,
    /// The last deploy failed; `message` says why.
    Failed,
    /// Idle: its workloads are scaled to zero until the next `up` or push.
    Sleeping,
    /// Being deleted.
    Terminating,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Deploying => "deploying",
            Phase::Ready => "ready",
            Phase::Failed => "failed",
            Phase::Sleeping => "sleeping",
            Phase::Terminating => "terminating",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        Some(match s {
            "deploying" => Phase::Deploying,
            "ready" => Phase::Ready,
            "failed" => Phase::Failed,
            "sleeping" => Phase::Sleeping,
            "terminating" => Phase::Terminating,
            _ => return None,
        })
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the bot knows about one preview.
#[derive(Clone, Debug, PartialEq)]
pub struct PreviewRecord {
    pub id: PreviewId,
    pub namespace: PreviewNamespace,
    /// `OWNER/REPO`.
    pub repo: String,
    /// Who asked for it (GitHub login or Slack user).
    pub owner: String,
    pub head_sha: String,
    pub branch: Option<String>,
    pub phase: Phase,
    /// Why the last deploy failed, when it did.
    pub message: Option<String>,
    pub created: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub deadline: Option<DateTime<Utc>>,
    pub pinned: bool,
    pub url: Option<String>,
    pub slack_channel: Option<String>,
    pub slack_thread_ts: Option<String>,
    pub github_comment_id: Option<u64>,
    pub github_deployment_id: Option<u64>,
    pub github_check_run_id: Option<u64>,
    /// Objects the last deploy applied, `apiVersion Kind name` each (the prune inventory).
    pub applied: Vec<String>,
    /// Upstreams pointed at another preview: service -> `APP#N` (absent = staging).
    pub pointers: std::collections::BTreeMap<String, String>,
    /// Kept at least until then, however idle (`extend`).
    pub keep_until: Option<DateTime<Utc>>,
    /// The last `redeploy` (its workloads restarted then).
    pub restarted_at: Option<DateTime<Utc>>,
    /// When a seed first succeeded in this preview.
    pub seeded_at: Option<DateTime<Utc>>,
    /// The teardown time the last idle warning announced.
    pub warned_for: Option<DateTime<Utc>>,
    /// While sleeping: the replica counts to restore, `Kind/name` -> replicas.
    pub sleeping_replicas: BTreeMap<String, i32>,
}

/// A managed namespace whose record cannot be read (reported, never guessed at).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadableRecord {
    pub namespace: String,
    pub problem: String,
}

impl PreviewRecord {
    /// Takes the Slack thread, sticky comment, Deployment and check run that a notifier set on
    /// `notified`: a copy of this record that was announced while this one was deployed.
    pub fn adopt_notification_handles(&mut self, notified: &PreviewRecord) {
        self.slack_thread_ts.clone_from(&notified.slack_thread_ts);
        self.github_comment_id = notified.github_comment_id;
        self.github_deployment_id = notified.github_deployment_id;
        self.github_check_run_id = notified.github_check_run_id;
    }

    /// A fresh record for a preview about to be created.
    pub fn new(
        id: PreviewId,
        namespace: PreviewNamespace,
        repo: &str,
        owner: &str,
        head_sha: &str,
        now: DateTime<Utc>,
    ) -> PreviewRecord {
        PreviewRecord {
            branch: id.branch_name().map(str::to_string),
            id,
            namespace,
            repo: repo.to_string(),
            owner: owner.to_string(),
            head_sha: head_sha.to_string(),
            phase: Phase::Deploying,
            message: None,
            created: now,
            last_activity: now,
            deadline: None,
            pinned: false,
            url: None,
            slack_channel: None,
            slack_thread_ts: None,
            github_comment_id: None,
            github_deployment_id: None,
            github_check_run_id: None,
            applied: Vec::new(),
            pointers: BTreeMap::new(),
            keep_until: None,
            restarted_at: None,
            seeded_at: None,
            warned_for: None,
            sleeping_replicas: BTreeMap::new(),
        }
    }

    /// The labels every namespace of the bot carries.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let (key, value) = labels::subject(&self.id.subject);
        BTreeMap::from([
            (labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into()),
            (labels::APP.into(), self.id.app.clone()),
            (key.into(), value),
        ])
    }

    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::from([
            (a::REPO.into(), self.repo.clone()),
            (a::OWNER.into(), self.owner.clone()),
            (a::HEAD_SHA.into(), self.head_sha.clone()),
            (a::PHASE.into(), self.phase.as_str().into()),
            (a::CREATED.into(), self.created.to_rfc3339()),
            (a::LAST_ACTIVITY.into(), self.last_activity.to_rfc3339()),
            (a::PINNED.into(), self.pinned.to_string()),
            // Always written, empty when unset: an apply then always replaces the value that a
            // conditional claim (`Cluster::claim_warning`) may have patched in.
            (
                a::WARNED_FOR.into(),
                self.warned_for.map(|t| t.to_rfc3339()).unwrap_or_default(),
            ),
        ]);
        let optional = [
            (a::BRANCH, self.branch.clone()),
            (a::MESSAGE, self.message.clone()),
            (a::DEADLINE, self.deadline.map(|d| d.to_rfc3339())),
            (a::KEEP_UNTIL, self.keep_until.map(|d| d.to_rfc3339())),
            (a::RESTARTED_AT, self.restarted_at.map(|d| d.to_rfc3339())),
            (a::SEEDED_AT, self.seeded_at.map(|d| d.to_rfc3339())),
            (a::URL, self.url.clone()),
            (a::SLACK_CHANNEL, self.slack_channel.clone()),
            (a::SLACK_THREAD, self.slack_thread_ts.clone()),
            (
                a::GITHUB_COMMENT,
                self.github_comment_id.map(|i| i.to_string()),
            ),
            (
                a::GITHUB_DEPLOYMENT,
                self.github_deployment_id.map(|i| i.to_string()),
            ),
            (
                a::GITHUB_CHECK_RUN,
                self.github_check_run_id.map(|i| i.to_string()),
            ),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                out.insert(key.into(), value);
            }
        }
        if !self.pointers.is_empty() {
            out.insert(
                a::POINTERS.into(),
                serde_json::to_string(&self.pointers).unwrap_or_default(),
            );
        }
        if !self.sleeping_replicas.is_empty() {
            out.insert(
                a::SLEEPING_REPLICAS.into(),
                serde_json::to_string(&self.sleeping_replicas).unwrap_or_default(),
            );
        }
        if !self.applied.is_empty() {
            out.insert(
                a::APPLIED.into(),
                serde_json::to_string(&self.applied).unwrap_or_default(),
            );
        }
        out
    }

    /// The whole Namespace object the bot server-side applies: every apply carries the full
    /// record, so a field dropped from the record is removed from the cluster too.
    pub fn namespace_manifest(&self) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": self.namespace.as_str(),
                "labels": self.labels(),
                "annotations": self.annotations(),
            }
        })
    }

    /// Reads the record back from a namespace; `prefix` guards against foreign namespaces.
    pub fn from_namespace(ns: &Namespace, prefix: &str) -> Result<PreviewRecord, UnreadableRecord> {
        let name = ns.metadata.name.clone().unwrap_or_default();
        let fail = |problem: String| UnreadableRecord {
            namespace: name.clone(),
            problem,
        };
        let namespace = PreviewNamespace::parse(&name, prefix)
            .ok_or_else(|| fail(format!("name is outside the prefix {prefix:?}")))?;
        let empty = BTreeMap::new();
        let labels = ns.metadata.labels.as_ref().unwrap_or(&empty);
        let notes = ns.metadata.annotations.as_ref().unwrap_or(&empty);
        if labels.get(labels::MANAGED_BY).map(String::as_str) != Some(labels::MANAGED_BY_VALUE) {
            return Err(fail("not managed by preview-bot".into()));
        }
        let label = |key: &str| {
            labels
                .get(key)
                .cloned()
                .ok_or_else(|| fail(format!("label {key} is missing")))
        };
        let note = |key: &str| notes.get(key).cloned().filter(|v| !v.is_empty());
        let required =
            |key: &str| note(key).ok_or_else(|| fail(format!("annotation {key} is missing")));
        let time = |key: &str, value: &str| {
            DateTime::parse_from_rfc3339(value)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| fail(format!("annotation {key} is not a timestamp: {value:?}")))
        };
        let number = |key: &str| -> Result<Option<u64>, UnreadableRecord> {
            note(key)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| fail(format!("annotation {key} is not a number")))
                })
                .transpose()
        };
        let subject = if labels.contains_key(labels::PR) || !labels.contains_key(labels::BRANCH) {
            let pr = label(labels::PR)?
                .parse::<u64>()
                .map_err(|_| fail(format!("label {} is not a PR number", labels::PR)))?;
            Subject::Pr(pr)
        } else {
            Subject::Branch(required(a::BRANCH)?)
        };
        let phase_text = required(a::PHASE)?;
        let mut phase = Phase::parse(&phase_text)
            .ok_or_else(|| fail(format!("unknown phase {phase_text:?}")))?;
        if ns.metadata.deletion_timestamp.is_some() {
            phase = Phase::Terminating;
        }
        let created = time(a::CREATED, &required(a::CREATED)?)?;
        let last_activity = match note(a::LAST_ACTIVITY) {
            Some(v) => time(a::LAST_ACTIVITY, &v)?,
            None => created,
        };
        let deadline = note(a::DEADLINE)
            .map(|v| time(a::DEADLINE, &v))
            .transpose()?;
        let keep_until = note(a::KEEP_UNTIL)
            .map(|v| time(a::KEEP_UNTIL, &v))
            .transpose()?;
        let restarted_at = note(a::RESTARTED_AT)
            .map(|v| time(a::RESTARTED_AT, &v))
            .transpose()?;
        let seeded_at = note(a::SEEDED_AT)
            .map(|v| time(a::SEEDED_AT, &v))
            .transpose()?;
        let warned_for = note(a::WARNED_FOR)
            .map(|v| time(a::WARNED_FOR, &v))
            .transpose()?;
        Ok(PreviewRecord {
            id: PreviewId {
                app: label(labels::APP)?,
                subject,
            },
            namespace,
            repo: required(a::REPO)?,
            owner: note(a::OWNER).unwrap_or_default(),
            head_sha: required(a::HEAD_SHA)?,
            branch: note(a::BRANCH),
            phase,
            message: note(a::MESSAGE),
            created,
            last_activity,
            deadline,
            pinned: note(a::PINNED).as_deref() == Some("true"),
            url: note(a::URL),
            slack_channel: note(a::SLACK_CHANNEL),
            slack_thread_ts: note(a::SLACK_THREAD),
            github_comment_id: number(a::GITHUB_COMMENT)?,
            github_deployment_id: number(a::GITHUB_DEPLOYMENT)?,
            github_check_run_id: number(a::GITHUB_CHECK_RUN)?,
            pointers: match note(a::POINTERS) {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|_| fail(format!("annotation {} is not a JSON map", a::POINTERS)))?,
                None => BTreeMap::new(),
            },
            applied: match note(a::APPLIED) {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|_| fail(format!("annotation {} is not a JSON list", a::APPLIED)))?,
                None => Vec::new(),
            },
            keep_until,
            restarted_at,
            seeded_at,
            warned_for,
            sleeping_replicas: match note(a::SLEEPING_REPLICAS) {
                Some(text) => serde_json::from_str(&text).map_err(|_| {
                    fail(format!(
                        "annotation {} is not a JSON map of replica counts",
                        a::SLEEPING_REPLICAS
                    ))
                })?,
                None => BTreeMap::new(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace_from(value: Value) -> Namespace {
        serde_json::from_value(value).expect("namespace")
    }

    #[test]
    fn record_round_trips_through_a_namespace() {
        let id = PreviewId::new("collect", 42);
        let ns = id.namespace("preview-");
        let mut record = PreviewRecord::new(
            id,
            ns,
            "acme/collect",
            "octocat",
            "a".repeat(40).as_str(),
            Utc::now(),
        );
        record.url = Some("https://collect-pr-42.preview.example.com".into());
        record.github_comment_id = Some(7);
        record.github_check_run_id = Some(9);
        record.slack_thread_ts = Some("1700000000.000100".into());
        record.applied = vec!["apps/v1 Deployment web".into(), "v1 Service web".into()];
        record
            .pointers
            .insert("payments".into(), "payments#7".into());
        record.created = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        record.last_activity = record.created;
        record.keep_until = Some(record.created + chrono::Duration::hours(30));
        record.restarted_at = Some(record.created + chrono::Duration::hours(2));
        record.seeded_at = Some(record.created + chrono::Duration::hours(1));
        record.warned_for = Some(record.created + chrono::Duration::hours(24));
        record.phase = Phase::Sleeping;
        record.sleeping_replicas.insert("Deployment/web".into(), 2);
        let back =
            PreviewRecord::from_namespace(&namespace_from(record.namespace_manifest()), "preview-")
                .expect("readable");
        assert_eq!(back, record);
    }

    #[test]
    fn a_branch_preview_round_trips_with_its_exact_branch() {
        let id = PreviewId::branch("web", "Feature/Fancy_Thing");
        let ns = id.namespace("preview-");
        let mut record =
            PreviewRecord::new(id, ns, "acme/web", "octocat", &"b".repeat(40), Utc::now());
        record.created = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        record.last_activity = record.created;
        let manifest = record.namespace_manifest();
        assert_eq!(
            manifest["metadata"]["labels"]["preview-bot.dev/branch"],
            "feature-fancy-thing"
        );
        assert!(
            manifest["metadata"]["labels"]
                .get("preview-bot.dev/pr")
                .is_none()
        );
        let back =
            PreviewRecord::from_namespace(&namespace_from(manifest), "preview-").expect("readable");
        assert_eq!(back.id.branch_name(), Some("Feature/Fancy_Thing"));
        assert_eq!(back, record);
    }

    #[test]
    fn unmanaged_or_broken_namespaces_are_unreadable() {
        let unmanaged = namespace_from(json!({"metadata": {"name": "preview-x-pr-1"}}));
        assert!(PreviewRecord::from_namespace(&unmanaged, "preview-").is_err());
        let broken = namespace_from(json!({"metadata": {"name": "preview-x-pr-1", "labels": {
            "app.kubernetes.io/managed-by": "preview-bot", "preview-bot.dev/app": "x", "preview-bot.dev/pr": "zz"}}}));
        let err = PreviewRecord::from_namespace(&broken, "preview-").unwrap_err();
        assert!(err.problem.contains("PR number"), "{}", err.problem);
    }
}
