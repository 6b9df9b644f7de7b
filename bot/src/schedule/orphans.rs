//! The orphan sweep: a managed namespace whose pull request is closed or merged (asked of
//! GitHub), or whose record is unreadable, is reported and torn down; at most
//! `schedule.max_orphans_per_sweep` per sweep, so a bad day never deletes everything at once.
//! A PR that cannot be read (GitHub down, no access) is never taken for closed. GitHub is asked
//! once per repository (its open pull requests, paged), not once per preview: see [`find`].

use crate::engine::Engine;
use crate::notify::DeploymentState;
use crate::origin::Origin;
use crate::replies;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use preview_deploy::cluster::Inventory;
use preview_deploy::ops::AuditOutcome;
use preview_deploy::{DeployError, Phase, PreviewNamespace, PreviewRecord, Subject};
use std::collections::{BTreeMap, HashMap, HashSet};

/// How many repositories have their open pull requests listed at once.
const REPO_LIST_CONCURRENCY: usize = 8;
/// How many single reads (a PR missing from its repository's open list, a branch) run at once.
const READ_CONCURRENCY: usize = 16;

pub struct Orphan {
    pub namespace: PreviewNamespace,
    pub record: Option<PreviewRecord>,
    pub why: String,
}

/// The orphans in `inventory`.
///
/// GitHub is asked once per repository, not once per preview: the open pull requests of every
/// repository with PR previews are listed (100 a page, a few repositories at once), and a PR
/// preview whose PR is among them is kept without another request. Only the others have their
/// PR read on its own, which tells merged from closed (and keeps a PR reopened meanwhile). When
/// a repository's list cannot be read, all its PR previews are kept, as when a single read fails.
/// Branch previews are read one branch at a time: they are made by hand (a push never creates
/// one), so a repository has few, while listing its branches costs a request per 100 branches
/// of the repository, most of them without a preview.
pub async fn find(engine: &Engine, inventory: &Inventory) -> Vec<Orphan> {
    let prefix = &engine.config.bot.namespace_prefix;
    let mut out = Vec::new();
    for unreadable in &inventory.unreadable {
        let Some(namespace) = PreviewNamespace::parse(&unreadable.namespace, prefix) else {
            continue;
        };
        out.push(Orphan {
            namespace,
            record: None,
            why: format!("its record is unreadable ({})", unreadable.problem),
        });
    }
    let checked: Vec<(&PreviewRecord, &str, &str)> = inventory
        .previews
        .iter()
        .filter(|record| record.phase != Phase::Terminating)
        .filter_map(|record| {
            let (owner, repo) = record.repo.split_once('/')?;
            Some((record, owner, repo))
        })
        .collect();
    let open = open_pulls(engine, &checked).await;
    // Boxed futures rather than a closure over the stream: keeps the future `Send`.
    type Read<'a> =
        futures::future::BoxFuture<'a, (&'a PreviewRecord, anyhow::Result<Option<String>>)>;
    let mut reads: Vec<Read<'_>> = Vec::new();
    for (record, owner, repo) in checked {
        if let Subject::Pr(pr) = &record.id.subject {
            match open.get(&repo_key(owner, repo)) {
                Some(Some(numbers)) if numbers.contains(pr) => continue,
                Some(Some(_)) => {}
                // The list could not be read (warned about): kept.
                _ => continue,
            }
        }
        reads.push(Box::pin(async move {
            (record, gone(engine, owner, repo, record).await)
        }));
    }
    let mut reads = futures::stream::iter(reads).buffered(READ_CONCURRENCY);
    while let Some((record, gone)) = reads.next().await {
        match gone {
            Ok(Some(why)) => out.push(Orphan {
                namespace: record.namespace.clone(),
                record: Some(record.clone()),
                why,
            }),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(preview = %record.id, error = %e, "cannot tell whether the PR or branch is still there; keeping the preview");
            }
        }
    }
    out
}

/// The open PR numbers of each repository (by [`repo_key`]) with PR previews in `checked`;
/// None for a repository whose list could not be read.
async fn open_pulls(
    engine: &Engine,
    checked: &[(&PreviewRecord, &str, &str)],
) -> HashMap<String, Option<HashSet<u64>>> {
    let mut repos: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for (record, owner, repo) in checked {
        if matches!(record.id.subject, Subject::Pr(_)) {
            repos
                .entry(repo_key(owner, repo))
                .or_insert((*owner, *repo));
        }
    }
    type List<'a> = futures::future::BoxFuture<'a, (String, Option<HashSet<u64>>)>;
    let mut lists: Vec<List<'_>> = Vec::new();
    for (key, (owner, repo)) in repos {
        lists.push(Box::pin(async move {
            match engine.source.open_pull_requests(owner, repo).await {
                Ok(open) => {
                    if !open.complete && engine.source.github().is_some() {
                        tracing::warn!(repo = %key, listed = open.pulls.len(), "more open pull requests than are listed; the others are read one by one");
                    }
                    (key, Some(open.pulls.iter().map(|p| p.number).collect()))
                }
                Err(e) => {
                    tracing::warn!(repo = %key, error = %e, "cannot list the open pull requests; keeping every PR preview of the repository");
                    (key, None)
                }
            }
        }));
    }
    futures::stream::iter(lists)
        .buffer_unordered(REPO_LIST_CONCURRENCY)
        .collect()
        .await
}

/// `owner/repo` in lower case: GitHub's names are case-insensitive.
fn repo_key(owner: &str, repo: &str) -> String {
    format!("{owner}/{repo}").to_ascii_lowercase()
}

/// Why the preview's PR or branch is gone (closed, merged, deleted); None while it is there.
async fn gone(
    engine: &Engine,
    owner: &str,
    repo: &str,
    record: &PreviewRecord,
) -> anyhow::Result<Option<String>> {
    Ok(match &record.id.subject {
        Subject::Pr(pr) => {
            let pull = engine.source.pull_request(owner, repo, *pr).await?;
            (!pull.open).then(|| {
                format!(
                    "pull request {}#{pr} was {}",
                    record.repo,
                    if pull.merged { "merged" } else { "closed" }
                )
            })
        }
        Subject::Branch(branch) => engine
            .source
            .branch_head(owner, repo, branch)
            .await?
            .is_none()
            .then(|| format!("branch `{branch}` of {} was deleted", record.repo)),
    })
}

/// One sweep for the fire time `slot` (claimed, so two replicas do not both report).
pub async fn sweep(engine: &Engine, slot: DateTime<Utc>) -> Result<(bool, String), DeployError> {
    let inventory = engine.cluster.inventory().await?;
    let orphans = find(engine, &inventory).await;
    if orphans.is_empty() {
        return Ok((false, "no orphans".into()));
    }
    if !engine
        .cluster
        .claim_schedule_slot(&engine.config.bot.namespace, "orphan-sweep", slot)
        .await?
    {
        return Ok((false, "swept by another replica".into()));
    }
    let limit = engine.config.schedule.max_orphans_per_sweep;
    let mut lines = Vec::new();
    for orphan in orphans.iter().take(limit) {
        match remove(engine, orphan).await {
            Ok(()) => lines.push(replies::orphan_removed(
                orphan.namespace.as_str(),
                &orphan.why,
            )),
            Err(e) => lines.push(format!(
                "Could not remove orphaned preview namespace `{}` ({}): {e}",
                orphan.namespace, orphan.why
            )),
        }
    }
    if orphans.len() > limit {
        lines.push(format!(
            "{} more orphan(s) are left for the next sweep (`schedule.max_orphans_per_sweep` = {limit}).",
            orphans.len() - limit
        ));
    }
    let report = lines.join("\n");
    let channel = engine
        .config
        .slack
        .ops_channel
        .clone()
        .or_else(|| engine.config.slack.digest_channel.clone());
    if let Some(channel) = channel {
        engine.notifier.announce(&channel, &report, None).await;
    }
    Ok((true, report))
}

async fn remove(engine: &Engine, orphan: &Orphan) -> Result<(), DeployError> {
    let result = tear_down(engine, orphan).await;
    let (outcome, detail) = match &result {
        Ok(()) => (AuditOutcome::Succeeded, orphan.why.clone()),
        Err(e) => (AuditOutcome::Refused, format!("{}: {e}", orphan.why)),
    };
    engine
        .audit
        .record(
            &Origin::Bot,
            "orphan teardown",
            orphan.namespace.as_str(),
            outcome,
            &detail,
        )
        .await;
    result
}

async fn tear_down(engine: &Engine, orphan: &Orphan) -> Result<(), DeployError> {
    let Some(record) = &orphan.record else {
        // Nothing to tell: the record that would say where is unreadable.
        engine.cluster.teardown(&orphan.namespace).await?;
        return Ok(());
    };
    let _guard = engine.lock(&record.id).await;
    engine.cluster.teardown(&orphan.namespace).await?;
    let mut record = record.clone();
    record.phase = Phase::Terminating;
    let text = replies::orphan_removed(orphan.namespace.as_str(), &orphan.why);
    engine.notifier.progress(&mut record, &text).await;
    engine
        .notifier
        .deployment_state(
            &record,
            DeploymentState::Inactive,
            "Preview removed (PR closed)",
        )
        .await;
    engine.notifier.sync(&mut record).await;
    Ok(())
}
