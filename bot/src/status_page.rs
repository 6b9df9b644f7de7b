//! The status page (`GET /previews`) and the per-preview logs page, as data, JSON and HTML.
//! Pure: the handlers in `http::status` read the cluster and call these. Every text that came
//! from the cluster, GitHub or a person is HTML-escaped; no script runs on either page.

use chrono::{DateTime, Utc};
use preview_config::Config;
use preview_deploy::cluster::Inventory;
use preview_deploy::{PreviewId, PreviewRecord, Subject};
use serde::Serialize;
use std::fmt::Write;

/// One row of the status page. Failure messages are left out on purpose: they can quote log
/// lines, which belong behind the logs page's access rule.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PreviewRow {
    pub namespace: String,
    pub app: String,
    /// `app#N`, or `app@branch` for a branch preview.
    pub preview: String,
    /// None for a branch preview.
    pub pr: Option<u64>,
    pub branch: Option<String>,
    pub repo: String,
    /// The pull request, or the branch of a branch preview.
    pub pr_url: String,
    pub owner: String,
    pub phase: String,
    pub commit: String,
    pub created: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub age_seconds: i64,
    pub idle_seconds: i64,
    pub deadline: Option<DateTime<Utc>>,
    pub pinned: bool,
    pub url: Option<String>,
    /// The bot's own logs page.
    pub logs_url: String,
    /// The configured external log link (`domains.log_url_template`), if any.
    pub log_link: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct UnreadableRow {
    pub namespace: String,
    pub problem: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StatusPage {
    pub generated: DateTime<Utc>,
    pub previews: Vec<PreviewRow>,
    pub unreadable: Vec<UnreadableRow>,
}

/// `https://host` + `/previews/{namespace}/logs`, whatever slashes `public_url` ends in.
pub fn logs_url(config: &Config, namespace: &str) -> String {
    format!(
        "{}/previews/{namespace}/logs",
        config.bot.public_url.trim_end_matches('/')
    )
}

pub fn pr_url(config: &Config, repo: &str, pr: u64) -> String {
    format!(
        "{}/{repo}/pull/{pr}",
        config.github.web_url.trim_end_matches('/')
    )
}

/// Where a preview's code is on GitHub: its pull request, or its branch.
pub fn source_url(config: &Config, repo: &str, id: &PreviewId) -> String {
    let web = config.github.web_url.trim_end_matches('/');
    match &id.subject {
        Subject::Pr(pr) => format!("{web}/{repo}/pull/{pr}"),
        Subject::Branch(branch) => format!("{web}/{repo}/tree/{branch}"),
    }
}

/// `OWNER/REPO#N`, or `OWNER/REPO@branch`.
pub fn source_label(repo: &str, id: &PreviewId) -> String {
    match &id.subject {
        Subject::Pr(pr) => format!("{repo}#{pr}"),
        Subject::Branch(branch) => format!("{repo}@{branch}"),
    }
}

impl StatusPage {
    /// `log_link` renders the configured external log link of a record.
    pub fn build(
        config: &Config,
        inventory: &Inventory,
        now: DateTime<Utc>,
        log_link: impl Fn(&PreviewRecord) -> Option<String>,
    ) -> StatusPage {
        let previews = inventory
            .previews
            .iter()
            .map(|r| PreviewRow {
                namespace: r.namespace.to_string(),
                app: r.id.app.clone(),
                preview: r.id.to_string(),
                pr: r.id.pr(),
                branch: r.id.branch_name().map(str::to_string),
                repo: r.repo.clone(),
                pr_url: source_url(config, &r.repo, &r.id),
                owner: r.owner.clone(),
                phase: r.phase.to_string(),
                commit: r.head_sha.chars().take(7).collect(),
                created: r.created,
                last_activity: r.last_activity,
                age_seconds: (now - r.created).num_seconds().max(0),
                idle_seconds: (now - r.last_activity).num_seconds().max(0),
                deadline: r.deadline,
                pinned: r.pinned,
                url: r.url.clone(),
                logs_url: logs_url(config, r.namespace.as_str()),
                log_link: log_link(r),
            })
            .collect();
        let unreadable = inventory
            .unreadable
            .iter()
            .map(|u| UnreadableRow {
                namespace: u.namespace.clone(),
                problem: u.problem.clone(),
            })
            .collect();
        StatusPage {
            generated: now,
            previews,
            unreadable,
        }
    }

    pub fn html(&self) -> String {
        let mut page = head("Previews");
        let _ = write!(
            page,
            "<h1>Previews</h1>\n<p>{} running · generated {}</p>\n",
            self.previews.len(),
            escape(&self.generated.format("%Y-%m-%d %H:%M UTC").to_string())
        );
        if self.previews.is_empty() {
            page.push_str("<p id=\"empty\">No previews are running.</p>\n");
        } else {
            page.push_str(
                "<table id=\"previews\">\n<thead><tr><th>Preview</th><th>Phase</th><th>Pull request</th><th>Owner</th><th>Commit</th><th>Age</th><th>Idle</th><th>URL</th><th>Logs</th></tr></thead>\n<tbody>\n",
            );
            for row in &self.previews {
                let url = match &row.url {
                    Some(url) if is_web_url(url) => {
                        format!("<a href=\"{0}\">{0}</a>", escape(url))
                    }
                    Some(url) => escape(url),
                    None => "—".to_string(),
                };
                let mut logs = format!(
                    // Relative, so the link works however the bot is reached (proxy, port-forward).
                    "<a href=\"previews/{}/logs\">logs</a>",
                    escape(&row.namespace)
                );
                if let Some(link) = row.log_link.as_deref().filter(|l| is_web_url(l)) {
                    let _ = write!(logs, " · <a href=\"{}\">dashboard</a>", escape(link));
                }
                let _ = writeln!(
                    page,
                    "<tr data-namespace=\"{ns}\"><td>{preview}</td><td class=\"phase {phase}\">{phase}{pinned}</td><td><a href=\"{pr_url}\">{source}</a></td><td>{owner}</td><td><code>{commit}</code></td><td>{age}</td><td>{idle}</td><td>{url}</td><td>{logs}</td></tr>",
                    ns = escape(&row.namespace),
                    preview = escape(&row.preview),
                    phase = escape(&row.phase),
                    pinned = if row.pinned { " (pinned)" } else { "" },
                    pr_url = escape(&row.pr_url),
                    source = escape(&match (&row.pr, &row.branch) {
                        (Some(pr), _) => format!("{}#{pr}", row.repo),
                        (None, Some(branch)) => format!("{}@{branch}", row.repo),
                        (None, None) => row.repo.clone(),
                    }),
                    owner = escape(&row.owner),
                    commit = escape(&row.commit),
                    age = human_duration(row.age_seconds),
                    idle = human_duration(row.idle_seconds),
                );
            }
            page.push_str("</tbody>\n</table>\n");
        }
        if !self.unreadable.is_empty() {
            page.push_str("<h2>Unreadable records</h2>\n<ul id=\"unreadable\">\n");
            for u in &self.unreadable {
                let _ = writeln!(
                    page,
                    "<li><code>{}</code>: {}</li>",
                    escape(&u.namespace),
                    escape(&u.problem)
                );
            }
            page.push_str("</ul>\n");
        }
        page.push_str("</body>\n</html>\n");
        page
    }
}

/// The logs page of one preview: the last lines of every pod of each workload.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LogsPage {
    pub namespace: String,
    pub preview: String,
    pub phase: String,
    pub tail: i64,
    pub workloads: Vec<WorkloadLogs>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WorkloadLogs {
    pub workload: String,
    pub pods: Vec<PodLogs>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PodLogs {
    pub pod: String,
    pub lines: Vec<String>,
}

impl LogsPage {
    pub fn html(&self) -> String {
        let mut page = head(&format!("Logs of {}", self.preview));
        let _ = write!(
            page,
            "<p><a href=\"../../previews\">All previews</a></p>\n<h1>Logs of {}</h1>\n<p>Namespace <code>{}</code> · {} · last {} lines per pod</p>\n",
            escape(&self.preview),
            escape(&self.namespace),
            escape(&self.phase),
            self.tail
        );
        if self.workloads.is_empty() {
            page.push_str(
                "<p id=\"empty\">This preview runs no Deployments or StatefulSets.</p>\n",
            );
        }
        for workload in &self.workloads {
            let _ = writeln!(
                page,
                "<section class=\"workload\" data-workload=\"{0}\">\n<h2>{0}</h2>",
                escape(&workload.workload)
            );
            if workload.pods.is_empty() {
                page.push_str("<p>No pods.</p>\n");
            }
            for pod in &workload.pods {
                let _ = writeln!(page, "<h3>{}</h3>", escape(&pod.pod));
                if pod.lines.is_empty() {
                    page.push_str("<p>No log lines.</p>\n");
                } else {
                    let _ = writeln!(page, "<pre>{}</pre>", escape(&pod.lines.join("\n")));
                }
            }
            page.push_str("</section>\n");
        }
        page.push_str("</body>\n</html>\n");
        page
    }
}

fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} · preview-bot</title>\n<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}.failed{{color:#b00}}.ready{{color:#070}}pre{{background:#f6f6f6;padding:.6em;overflow:auto}}</style>\n</head>\n<body>\n",
        escape(title)
    )
}

/// Links only to http(s): a `javascript:` URL in a record must not become a clickable link.
fn is_web_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `45s`, `12m`, `3h 20m`, `2d 4h`.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_attributes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_duration(-5), "0s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(60 * 12 + 5), "12m");
        assert_eq!(human_duration(3600 * 3 + 60 * 20), "3h 20m");
        assert_eq!(human_duration(86400 * 2 + 3600 * 4 + 7), "2d 4h");
    }

    #[test]
    fn only_web_urls_become_links() {
        assert!(is_web_url("https://a.example.com"));
        assert!(!is_web_url("javascript:alert(1)"));
    }
}
