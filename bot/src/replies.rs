//! The answers preview operations give, worded in one place and pinned by a snapshot test.

use crate::messages::short_sha;
use std::fmt::Display;

pub fn unknown_app(app: &str) -> String {
    format!("Unknown app `{app}`.")
}

pub fn cannot_deploy(id: &dyn Display, reason: &dyn Display) -> String {
    format!("Cannot deploy {id}: {reason}")
}

pub fn waiting_for_teardown(id: &dyn Display) -> String {
    format!("Preview {id} is still being torn down; waiting for it to finish…")
}

pub fn resuming(sha: &str) -> String {
    format!(
        "preview-bot restarted while deploying `{}`; resuming.",
        short_sha(sha)
    )
}

pub fn superseded_before_start(id: &dyn Display) -> String {
    format!("A newer request for {id} came in while this one waited; the newer one is deployed.")
}

pub fn superseded(id: &dyn Display, sha: &str) -> String {
    format!(
        "Stopped deploying `{}` to {id}: a newer request takes over.",
        short_sha(sha)
    )
}

pub fn stopped_by_kill_switch(id: &dyn Display, sha: &str) -> String {
    format!(
        "Stopped deploying `{}` to {id}: the kill switch went on. Run `up` again once it is off.",
        short_sha(sha)
    )
}

pub fn too_many_previews(id: &dyn Display, running: usize, limit: usize, prefix: &str) -> String {
    format!(
        "Cannot start {id}: {running} previews are running, the limit is {limit}. Tear one down with `{prefix} down APP#N`."
    )
}

pub fn too_many_app_previews(
    id: &preview_deploy::PreviewId,
    running: usize,
    prefix: &str,
) -> String {
    format!(
        "Cannot start {id}: `{app}` already has {running} running preview(s), its limit (`apps.{app}.max_previews`). See them with `{prefix} list --app {app}`; tear one down with `{prefix} down {app}#N`.",
        app = id.app
    )
}

pub fn pull_request_unreadable(
    id: &dyn Display,
    repo: &str,
    pr: u64,
    reason: &dyn Display,
) -> String {
    format!("Cannot deploy {id}: reading {repo}#{pr} from GitHub failed: {reason}")
}

pub fn no_such_branch(id: &dyn Display, repo: &str, branch: &str) -> String {
    format!("Not deploying {id}: {repo} has no branch `{branch}`.")
}

pub fn branch_unreadable(
    id: &dyn Display,
    repo: &str,
    branch: &str,
    reason: &dyn Display,
) -> String {
    format!("Cannot deploy {id}: reading branch `{branch}` of {repo} from GitHub failed: {reason}")
}

pub fn pull_request_closed(id: &dyn Display, repo: &str, pr: u64) -> String {
    format!("Not deploying {id}: pull request {repo}#{pr} is closed.")
}

pub fn deploying(sha: &str, actor: &str) -> String {
    format!("Deploying `{}` (requested by {actor})…", short_sha(sha))
}

pub fn ready(id: &dyn Display, url: Option<&str>, sha: &str, warnings: &[String]) -> String {
    let mut text = match url {
        Some(url) => format!(
            "Preview {id} is ready at {url} (commit `{}`).",
            short_sha(sha)
        ),
        None => format!("Preview {id} is ready (commit `{}`).", short_sha(sha)),
    };
    for warning in warnings {
        text.push_str(&format!("\nNote: {warning}."));
    }
    text
}

pub fn failed(id: &dyn Display, sha: &str, reason: &str) -> String {
    format!(
        "Preview {id} failed at commit `{}`: {reason}",
        short_sha(sha)
    )
}

pub fn nothing_to_tear_down(id: &dyn Display) -> String {
    format!("There is no preview {id} to tear down.")
}

pub fn cannot_tear_down(id: &dyn Display, reason: &dyn Display) -> String {
    format!("Cannot tear down {id}: {reason}")
}

pub fn refusing_teardown(id: &dyn Display, reason: &dyn Display) -> String {
    format!("Refusing to tear down {id}: {reason}")
}

pub fn teardown_failed(id: &dyn Display, reason: &dyn Display) -> String {
    format!("Tearing down {id} failed: {reason}")
}

pub fn torn_down(id: &dyn Display, actor: &str, namespace: &dyn Display) -> String {
    format!("Preview {id} torn down by {actor}; namespace `{namespace}` is being deleted.")
}

pub fn no_preview(id: &dyn Display, prefix: &str) -> String {
    format!("There is no preview {id}. Start one with `{prefix} up {id}`.")
}

pub fn cannot_read(id: &dyn Display, reason: &dyn Display) -> String {
    format!("Cannot read {id}: {reason}")
}

pub fn no_previews_running() -> String {
    "No previews are running.".to_string()
}

pub fn cannot_list(reason: &dyn Display) -> String {
    format!("Cannot list previews: {reason}")
}

pub fn no_workloads(id: &dyn Display) -> String {
    format!("Preview {id} runs no Deployment or StatefulSet to show logs of.")
}

pub fn unknown_workload(id: &dyn Display, workload: &str, known: &[String]) -> String {
    let known = known
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("Preview {id} has no workload `{workload}`. Workloads: {known}.")
}

/// Log lines in a code block per pod (Slack and GitHub both render fenced blocks).
pub fn logs(
    id: &dyn Display,
    workload: &str,
    pods: &[(String, Vec<String>)],
    log_url: Option<&str>,
) -> String {
    let mut text = format!("Logs of `{workload}` in preview {id}:");
    if pods.is_empty() {
        text.push_str(" no pods are running.");
    }
    for (pod, lines) in pods {
        // A fence inside the logs would end the block early.
        let body = if lines.is_empty() {
            "(no output)".to_string()
        } else {
            lines.join("\n").replace("```", "'''")
        };
        text.push_str(&format!("\n`{pod}`\n```\n{body}\n```"));
    }
    if let Some(url) = log_url {
        text.push_str(&format!("\nFull logs: {url}"));
    }
    text
}

/// Progress line of the dependency wave: `db` (postgres 16), `cache` (redis 7).
pub fn starting_dependencies(
    dependencies: &std::collections::BTreeMap<String, preview_config::DependencyConfig>,
) -> String {
    let list: Vec<String> = dependencies
        .iter()
        .filter(|(_, d)| d.kind != preview_config::DependencyKind::Shared)
        .map(|(name, d)| format!("`{name}` ({:?} {})", d.kind, d.version()).to_lowercase())
        .collect();
    format!("Starting dependencies: {}…", list.join(", "))
}

pub fn dependencies_not_ready(reason: &dyn Display) -> String {
    format!("dependencies not ready: {reason}")
}

pub fn dependency_clash(object: &str) -> String {
    format!(
        "the manifests define {object}, which is also the name of a dependency; rename one of them"
    )
}

pub fn unknown_upstream(
    id: &dyn Display,
    service: &str,
    upstreams: &std::collections::BTreeMap<String, String>,
) -> String {
    if upstreams.is_empty() {
        return format!(
            "Preview {id} has no upstreams to point; configure `upstreams` for its app."
        );
    }
    let known = upstreams
        .keys()
        .map(|u| format!("`{u}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("Preview {id} has no upstream `{service}`. Upstreams: {known}.")
}

pub fn point_unknown_app(service: &str, app: &str) -> String {
    format!(
        "There is no app `{app}` to point `{service}` at; write `{service}=APP#N` with a configured app."
    )
}

pub fn point_target_missing(target: &dyn Display, prefix: &str) -> String {
    format!("Preview {target} does not exist; start it first with `{prefix} up {target}`.")
}

pub fn point_target_not_ready(target: &dyn Display, phase: impl Display) -> String {
    format!("Preview {target} is {phase}, not ready; point at it once it is ready.")
}

pub fn cannot_point(id: &dyn Display, reason: &dyn Display) -> String {
    format!("Cannot repoint the upstreams of {id}: {reason}")
}

/// `payments -> payments#42, search -> staging`.
pub fn pointed(id: &dyn Display, changes: &[(String, Option<String>)], actor: &str) -> String {
    let list: Vec<String> = changes
        .iter()
        .map(|(service, dest)| format!("`{service}` → {}", dest.as_deref().unwrap_or("staging")))
        .collect();
    format!(
        "Preview {id} now sends {} (by {actor}); no restart needed.",
        list.join(", ")
    )
}

pub fn no_seed_configured(id: &dyn Display) -> String {
    format!("Preview {id} has no seed job; configure `seed` for its app.")
}

pub fn unknown_dataset(id: &dyn Display, dataset: &str, datasets: &[String]) -> String {
    let known = datasets
        .iter()
        .map(|d| format!("`{d}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("Preview {id} has no dataset `{dataset}`. Datasets: {known}.")
}

pub fn seed_already_running(id: &dyn Display, job: Option<&str>) -> String {
    match job {
        Some(job) => format!(
            "A seed is already running in preview {id} (job `{job}`); try again when it has finished."
        ),
        None => {
            format!("A seed is already running in preview {id}; try again when it has finished.")
        }
    }
}

pub fn seeding(job: &str, dataset: Option<&str>, actor: &str) -> String {
    match dataset {
        Some(dataset) => {
            format!("Seeding dataset `{dataset}` with job `{job}` (requested by {actor})…")
        }
        None => format!("Seeding with job `{job}` (requested by {actor})…"),
    }
}

/// Log lines as a fenced block (a fence inside them would end it early) and the log link.
fn log_block(logs: &[String], log_url: Option<&str>) -> String {
    let mut text = String::new();
    if !logs.is_empty() {
        text.push_str(&format!(
            "\n```\n{}\n```",
            logs.join("\n").replace("```", "'''")
        ));
    }
    if let Some(url) = log_url {
        text.push_str(&format!("\nFull logs: {url}"));
    }
    text
}

pub fn seed_succeeded(
    id: &dyn Display,
    job: &str,
    logs: &[String],
    log_url: Option<&str>,
) -> String {
    format!(
        "Seed job `{job}` of preview {id} succeeded.{}",
        log_block(logs, log_url)
    )
}

pub fn seed_failed(
    id: &dyn Display,
    job: &str,
    reason: &str,
    logs: &[String],
    log_url: Option<&str>,
) -> String {
    format!(
        "Seed job `{job}` of preview {id} failed: {reason}{}",
        log_block(logs, log_url)
    )
}

pub fn waiting_for_check(name: &str, sha: &str) -> String {
    format!(
        "Waiting for check `{name}` on `{}` to succeed…",
        short_sha(sha)
    )
}

pub fn check_failed(name: &str, conclusion: &str, url: Option<&str>) -> String {
    match url {
        Some(url) => format!("check `{name}` concluded `{conclusion}`: {url}"),
        None => format!("check `{name}` concluded `{conclusion}`"),
    }
}

pub fn check_timed_out(name: &str, after: impl Display) -> String {
    format!("check `{name}` did not succeed within {after}")
}

pub fn woken(id: &dyn Display, actor: &str) -> String {
    format!("Preview {id} was asleep; waking it up (requested by {actor})…")
}

/// `extend`: `until` is already in the configured time zone. The same command twice gives the
/// same answer (Slack and a PR comment agree), so who asked goes to the thread only.
pub fn extended(id: &dyn Display, until: &str, capped: Option<&str>) -> String {
    let mut text = format!("Preview {id} is kept until at least {until}.");
    if let Some(limit) = capped {
        text.push_str(&format!(
            " That is as far as `extend` goes ({limit} from now, `schedule.max_extend`)."
        ));
    }
    text
}

/// The thread's note of a lifetime change: the answer and who asked.
pub fn by_whom(answer: &str, actor: &str) -> String {
    format!("{answer} (by {actor})")
}

pub fn extend_pinned(id: &dyn Display, prefix: &str) -> String {
    format!(
        "Preview {id} is pinned, so it is not torn down when idle; `{prefix} unpin {id}` lets it expire again."
    )
}

pub fn asleep(id: &dyn Display, prefix: &str) -> String {
    format!("Preview {id} is asleep (scaled to zero); `{prefix} up {id}` wakes it first.")
}

pub fn pinned(id: &dyn Display, count: usize, limit: usize) -> String {
    format!(
        "Preview {id} is pinned: it stays until unpinned or torn down ({count} of {limit} pinned previews of this app)."
    )
}

pub fn pin_limit(
    id: &dyn Display,
    app: &str,
    limit: usize,
    pinned: &[String],
    prefix: &str,
) -> String {
    let list = pinned
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "Cannot pin {id}: app `{app}` already has {limit} pinned preview{} ({list}), the most `schedule.max_pinned_per_app` allows. Unpin one with `{prefix} unpin APP#N`.",
        if limit == 1 { "" } else { "s" }
    )
}

/// `unpin`, and `unpin` of a preview that is not pinned: the same answer.
pub fn unpinned(id: &dyn Display, lifetime: &str) -> String {
    format!("Preview {id} is not pinned; it will be {lifetime}.")
}

/// The idle warning, in the thread and on the PR.
pub fn idle_warning(
    id: &dyn Display,
    verb: &str,
    at: &str,
    reason: &str,
    prefix: &str,
    extend_by: &str,
) -> String {
    format!(
        "⏰ Preview {id} {reason} and will be {verb} at {at}: `{prefix} extend {id} {extend_by}` or `{prefix} pin {id}` to keep it."
    )
}

pub fn idle_torn_down(id: &dyn Display, reason: &str, prefix: &str) -> String {
    format!("Preview {id} was torn down: it {reason}. `{prefix} up {id}` brings it back.")
}

pub fn idle_asleep(id: &dyn Display, reason: &str, workloads: usize, prefix: &str) -> String {
    format!(
        "😴 Preview {id} is asleep: it {reason}. {workloads} workload(s) scaled to zero; `{prefix} up {id}` or a push wakes it."
    )
}

pub fn cannot_expire(id: &dyn Display, reason: &dyn Display) -> String {
    format!("Preview {id} should have gone idle but that failed: {reason}")
}

pub fn orphan_removed(namespace: &str, why: &str) -> String {
    format!("Removed orphaned preview namespace `{namespace}`: {why}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reply() {
        let id = "collect#42";
        let sha = "ab12cd3ef45ab12cd3ef45ab12cd3ef45ab12cd3";
        let reason =
            "namespace `preview-collect-pr-42` is still being deleted; try again in a minute";
        let all = [
            unknown_app("colect"),
            cannot_deploy(&id, &reason),
            waiting_for_teardown(&id),
            too_many_previews(&id, 50, 50, "/preview"),
            stopped_by_kill_switch(&id, sha),
            too_many_app_previews(&preview_deploy::PreviewId::new("collect", 43), 3, "/preview"),
            pull_request_unreadable(&id, "acme/collect", 42, &"Not Found"),
            pull_request_closed(&id, "acme/collect", 42),
            deploying(sha, "octocat"),
            ready(
                &id,
                Some("https://collect-pr-42.preview.example.com"),
                sha,
                &[],
            ),
            ready(
                &id,
                None,
                sha,
                &["the manifests have no Ingress, so the preview has no URL".into()],
            ),
            failed(
                &id,
                sha,
                "not ready after 10m: Deployment `web`: 0/1 available, pod web-1: ImagePullBackOff",
            ),
            nothing_to_tear_down(&id),
            cannot_tear_down(&id, &reason),
            refusing_teardown(
                &id,
                &"namespace `preview-collect-pr-42` exists but is not managed by preview-bot",
            ),
            teardown_failed(
                &id,
                &"Kubernetes: delete namespace: boom (500 InternalError)",
            ),
            torn_down(&id, "octocat", &"preview-collect-pr-42"),
            no_preview(&id, "/preview"),
            cannot_read(&id, &reason),
            no_previews_running(),
            cannot_list(&"Kubernetes: list preview namespaces: forbidden (403 Forbidden)"),
            starting_dependencies(
                &preview_config::Config::parse(
                    "[bot]\npublic_url = \"https://x\"\n[domains]\nbase = \"x.dev\"\n[apps.a]\nrepo = \"o/r\"\nmanifests = { dir = \"d\" }\n[apps.a.dependencies.db]\nkind = \"postgres\"\n[apps.a.dependencies.cache]\nkind = \"redis\"\nversion = \"7.2\"\n",
                    "t.toml",
                )
                .expect("config")
                .apps["a"]
                .dependencies,
            ),
            dependencies_not_ready(&"not ready after 10m: StatefulSet `db`: 0/1 ready"),
            dependency_clash("Service `db`"),
            unknown_upstream(
                &id,
                "paymnts",
                &[("payments".to_string(), "payments.staging".to_string())].into(),
            ),
            unknown_upstream(&id, "payments", &Default::default()),
            point_unknown_app("payments", "billing"),
            point_target_missing(&"payments#7", "/preview"),
            point_target_not_ready(&"payments#7", "deploying"),
            cannot_point(&id, &"Kubernetes: apply Service `payments`: boom (500 InternalError)"),
            pointed(&id, &[("payments".into(), Some("payments#7".into())), ("search".into(), None)], "octocat"),
            no_seed_configured(&id),
            unknown_dataset(&id, "huge", &["demo".into(), "full".into()]),
            seed_already_running(&id, Some("seed-ab12cd3-1700000000")),
            seeding("seed-ab12cd3-1700000000", Some("demo"), "octocat"),
            seed_succeeded(
                &id,
                "seed-ab12cd3-1700000000",
                &["migrated 12 tables".into(), "loaded 300 rows".into()],
                None,
            ),
            seed_failed(
                &id,
                "seed-ab12cd3-1700000000",
                "Job `seed-ab12cd3-1700000000`: failed",
                &["ERROR: relation \"users\" does not exist".into()],
                Some("https://grafana.example.com/explore?namespace=preview-collect-pr-42"),
            ),
            waiting_for_check("build-image", sha),
            check_failed("build-image", "failure", Some("https://github.com/acme/collect/runs/7")),
            check_timed_out("build-image", "20m"),
            no_workloads(&id),
            unknown_workload(&id, "wbe", &["web".into(), "worker".into()]),
            logs(
                &id,
                "web",
                &[
                    (
                        "web-7d9-abcde".into(),
                        vec!["listening on :8080".into(), "GET /healthz 200".into()],
                    ),
                    ("web-7d9-fghij".into(), vec![]),
                ],
                Some("https://grafana.example.com/explore?namespace=preview-collect-pr-42"),
            ),
            woken(&id, "octocat"),
            extended(&id, "2026-11-23 18:00 CET", None),
            extended(&id, "2026-11-30 09:00 CET", Some("7d")),
            by_whom("Preview collect#42 is kept until at least 2026-11-23 18:00 CET.", "octocat"),
            extend_pinned(&id, "/preview"),
            asleep(&id, "/preview"),
            pinned(&id, 2, 3),
            pin_limit(&id, "collect", 2, &["collect#7".into(), "collect#9".into()], "/preview"),
            unpinned(&id, "torn down at 2026-11-24 10:00 CET unless used"),
            idle_warning(&id, "torn down", "2026-11-23 14:00 CET", "has been idle since 2026-11-22 14:00 CET", "/preview", "4h"),
            idle_torn_down(&id, "had been idle since 2026-11-22 14:00 CET", "/preview"),
            idle_asleep(&id, "had been idle since 2026-11-22 14:00 CET", 2, "/preview"),
            cannot_expire(&id, &"Kubernetes: delete namespace: boom (500 InternalError)"),
            orphan_removed("preview-collect-pr-42", "pull request acme/collect#42 was merged"),
        ];
        insta::assert_snapshot!(all.join("\n---\n"));
    }
}
