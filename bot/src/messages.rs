//! Every text the bot shows people about a preview, in one place (pinned by snapshot tests).

use preview_deploy::cluster::WorkloadState;
use preview_deploy::{Phase, PreviewRecord, Subject};

/// Hidden marker identifying the bot's sticky comment for one app on a PR.
pub fn sticky_marker(app: &str) -> String {
    format!("{STICKY_MARKER_START}{app} -->")
}

const STICKY_MARKER_START: &str = "<!-- preview-bot:sticky:";

fn sticky_end(app: &str) -> String {
    format!("<!-- preview-bot:end:{app} -->")
}

/// Whether a comment is (or was) the bot's sticky status comment.
pub fn is_sticky(body: &str) -> bool {
    body.contains(STICKY_MARKER_START)
}

/// The PR's one sticky comment with `app`'s section replaced by `section` (or added); the other
/// apps' sections stay as they are, in app order.
pub fn merge_sticky(current: &str, app: &str, section: &str) -> String {
    let mut sections = sticky_sections(current);
    sections.insert(app.to_string(), section.trim_end().to_string());
    let mut body = sections
        .into_values()
        .collect::<Vec<_>>()
        .join("\n\n---\n\n");
    body.push('\n');
    body
}

/// The per-app sections of a sticky comment, each from its marker to its end marker.
fn sticky_sections(body: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut rest = body;
    while let Some(start) = rest.find(STICKY_MARKER_START) {
        let after = &rest[start + STICKY_MARKER_START.len()..];
        let Some(close) = after.find(" -->") else {
            break;
        };
        let app = &after[..close];
        let end_marker = sticky_end(app);
        let Some(end) = rest[start..].find(&end_marker) else {
            break;
        };
        let stop = start + end + end_marker.len();
        out.insert(app.to_string(), rest[start..stop].to_string());
        rest = &rest[stop..];
    }
    out
}

fn phase_badge(phase: Phase) -> &'static str {
    match phase {
        Phase::Deploying => "🚧 deploying",
        Phase::Ready => "✅ ready",
        Phase::Failed => "❌ failed",
        Phase::Sleeping => "😴 sleeping",
        Phase::Terminating => "🗑️ torn down",
    }
}

pub fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// The one-line summary used as the Slack root message and in `list`.
pub fn summary_line(record: &PreviewRecord) -> String {
    let source = match &record.id.subject {
        Subject::Pr(pr) => format!("{} PR #{pr}", record.repo),
        Subject::Branch(branch) => format!("{} branch `{branch}`", record.repo),
    };
    let mut line = format!(
        "Preview *{}* ({source}): {} at `{}`",
        record.id,
        phase_badge(record.phase),
        short_sha(&record.head_sha)
    );
    if let (Phase::Ready, Some(url)) = (record.phase, &record.url) {
        line.push_str(&format!(" — {url}"));
    }
    if let (Phase::Failed, Some(message)) = (record.phase, &record.message) {
        line.push_str(&format!(" — {}", first_line(message)));
    }
    line
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// The sticky status comment on the PR, edited in place on every change. `lifetime` is when it
/// goes (or that it is pinned), from the idle policy.
pub fn sticky_comment(
    record: &PreviewRecord,
    log_url: Option<&str>,
    prefix: &str,
    lifetime: Option<&str>,
) -> String {
    let mut body = format!(
        "{}\n### Preview `{}`: {}\n\n| | |\n|---|---|\n",
        sticky_marker(&record.id.app),
        record.id,
        phase_badge(record.phase)
    );
    if let Some(url) = &record.url
        && record.phase != Phase::Terminating
    {
        body.push_str(&format!("| URL | {url} |\n"));
    }
    body.push_str(&format!("| Commit | `{}` |\n", short_sha(&record.head_sha)));
    body.push_str(&format!("| Namespace | `{}` |\n", record.namespace));
    for (service, dest) in &record.pointers {
        body.push_str(&format!("| Upstream `{service}` | → {dest} |\n"));
    }
    if let Some(log_url) = log_url {
        body.push_str(&format!("| Logs | [logs]({log_url}) |\n"));
    }
    body.push_str(&format!(
        "| Updated | {} |\n",
        record.last_activity.format("%Y-%m-%d %H:%M UTC")
    ));
    if let Some(lifetime) = lifetime {
        body.push_str(&format!("| Lifetime | {lifetime} |\n"));
    }
    if let (Phase::Failed, Some(message)) = (record.phase, &record.message) {
        body.push_str(&format!("\n**Why it failed**\n```\n{message}\n```\n"));
    }
    body.push_str(&format!(
        "\n<sub>`{prefix} status` · `{prefix} up` · `{prefix} extend` · `{prefix} pin` · `{prefix} down` · `{prefix} help`</sub>\n{}\n",
        sticky_end(&record.id.app)
    ));
    body
}

/// The answer to `status`.
pub fn status_text(
    record: &PreviewRecord,
    workloads: &[WorkloadState],
    log_url: Option<&str>,
    lifetime: Option<&str>,
) -> String {
    let mut text = format!("{}\n", summary_line(record));
    text.push_str(&format!(
        "• namespace `{}`, owner {}\n",
        record.namespace,
        display_owner(&record.owner)
    ));
    text.push_str(&format!(
        "• created {}, last activity {}\n",
        record.created.format("%Y-%m-%d %H:%M UTC"),
        record.last_activity.format("%Y-%m-%d %H:%M UTC")
    ));
    for (service, dest) in &record.pointers {
        text.push_str(&format!("• upstream `{service}` → {dest}\n"));
    }
    if let Some(deadline) = record.deadline {
        text.push_str(&format!(
            "• expires {}\n",
            deadline.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    if let Some(lifetime) = lifetime {
        text.push_str(&format!("• {lifetime}\n"));
    }
    for w in workloads {
        text.push_str(&format!(
            "• {} `{}`: {}{}\n",
            w.kind,
            w.name,
            w.detail,
            if w.ready { "" } else { " (not ready)" }
        ));
    }
    if let Some(url) = log_url {
        text.push_str(&format!("• logs: {url}\n"));
    }
    text.trim_end().to_string()
}

fn display_owner(owner: &str) -> String {
    if owner.is_empty() {
        "unknown".into()
    } else {
        owner.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use preview_deploy::PreviewId;

    fn record(phase: Phase) -> PreviewRecord {
        let id = PreviewId::new("collect", 42);
        let ns = id.namespace("preview-");
        let now = Utc
            .with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
            .single()
            .expect("time");
        let mut r = PreviewRecord::new(
            id,
            ns,
            "acme/collect",
            "octocat",
            &"ab12cd3".repeat(6)[..40],
            now,
        );
        r.phase = phase;
        r.url = Some("https://collect-pr-42.preview.example.com".into());
        r.pointers.insert("payments".into(), "payments#7".into());
        if phase == Phase::Failed {
            r.message = Some("Deployment `web`: 0/1 available, pod web-1: ImagePullBackOff".into());
        }
        r
    }

    #[test]
    fn one_sticky_comment_holds_a_section_per_app() {
        let collect = sticky_comment(&record(Phase::Ready), None, "/preview", None);
        let mut api = record(Phase::Deploying);
        api.id = PreviewId::new("api", 42);
        let api_section = sticky_comment(&api, None, "/preview", None);
        let both = merge_sticky(&collect, "api", &api_section);
        assert!(both.find("Preview `api#42`") < both.find("Preview `collect#42`"));
        assert!(is_sticky(&both));
        // Updating one section keeps the other and does not duplicate it.
        api.phase = Phase::Ready;
        let updated = merge_sticky(&both, "api", &sticky_comment(&api, None, "/preview", None));
        assert_eq!(updated.matches("Preview `api#42`").count(), 1);
        assert_eq!(updated.matches("Preview `collect#42`").count(), 1);
        assert!(!updated.contains("deploying"), "{updated}");
        // A body that is not ours (or was edited by hand) is replaced by our section alone.
        assert_eq!(
            merge_sticky("hand-written", "collect", &collect).trim_end(),
            collect.trim_end()
        );
    }

    #[test]
    fn summary_lines() {
        insta::assert_snapshot!(
            [
                Phase::Deploying,
                Phase::Ready,
                Phase::Failed,
                Phase::Sleeping,
                Phase::Terminating
            ]
            .map(|p| summary_line(&record(p)))
            .join("\n")
        );
    }

    #[test]
    fn sticky_comments() {
        insta::assert_snapshot!(
            "sticky_ready",
            sticky_comment(
                &record(Phase::Ready),
                Some("https://grafana/x"),
                "/preview",
                Some("torn down at 2026-11-23 11:00 CET unless used")
            )
        );
        insta::assert_snapshot!(
            "sticky_failed",
            sticky_comment(&record(Phase::Failed), None, "/preview", None)
        );
    }

    #[test]
    fn status() {
        let workloads = vec![WorkloadState {
            kind: "Deployment".into(),
            name: "web".into(),
            ready: true,
            detail: "1/1 available".into(),
            logs: Vec::new(),
        }];
        insta::assert_snapshot!(status_text(
            &record(Phase::Ready),
            &workloads,
            None,
            Some("pinned: kept until unpinned")
        ));
    }
}
