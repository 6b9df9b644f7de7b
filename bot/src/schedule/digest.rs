//! The daily digest: one Slack message (Block Kit) in `slack.digest_channel` with every running
//! preview, totals per app, an estimated daily cost from the pods' resource requests and the
//! configured prices, and orphans.

use crate::engine::Engine;
use crate::lifecycle::compact;
use crate::schedule::orphans;
use chrono::{DateTime, Utc};
use preview_deploy::{DeployError, Phase, PreviewRecord};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Slack allows 50 blocks per message; the rest of the list is summarized.
const MAX_ROWS: usize = 40;
/// Orphan lines shown (a section holds at most 3000 characters).
const MAX_ORPHANS: usize = 20;

/// One preview in the digest.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub preview: String,
    pub app: String,
    pub pr_url: String,
    pub owner: String,
    pub age: String,
    pub idle: String,
    pub lifetime: String,
    pub phase: Phase,
    pub url: Option<String>,
    pub cost_per_day: f64,
}

/// A namespace the orphan sweep will remove, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrphanLine {
    pub namespace: String,
    pub why: String,
}

/// Everything the message shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Digest {
    pub title: String,
    pub rows: Vec<Row>,
    pub orphans: Vec<OrphanLine>,
    pub currency: String,
    /// `cpu_hour`, `gib_hour` of `[schedule]`, for the footnote.
    pub prices: (f64, f64),
}

fn since(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    compact((now - then).to_std().unwrap_or_default())
}

/// The digest's content, from the cluster and GitHub.
pub async fn gather(engine: &Engine, now: DateTime<Utc>) -> Result<Digest, DeployError> {
    let inventory = engine.cluster.inventory().await?;
    let requests = engine.cluster.requests_by_preview().await?;
    let orphans = orphans::find(engine, &inventory).await;
    let policy = engine.policy();
    let config = &engine.config;
    let schedule = &config.schedule;
    let rows = inventory
        .previews
        .iter()
        .filter(|r| r.phase != Phase::Terminating)
        .map(|r: &PreviewRecord| {
            let (cpu_hour, gib_hour) = config
                .apps
                .get(&r.id.app)
                .map_or((schedule.cpu_hour, schedule.gib_hour), |a| {
                    a.prices(schedule)
                });
            let used = requests
                .get(r.namespace.as_str())
                .copied()
                .unwrap_or_default();
            Row {
                preview: r.id.to_string(),
                app: r.id.app.clone(),
                pr_url: crate::status_page::source_url(config, &r.repo, &r.id),
                owner: if r.owner.is_empty() {
                    "unknown".into()
                } else {
                    r.owner.clone()
                },
                age: since(now, r.created),
                idle: since(now, r.last_activity),
                lifetime: policy.describe(r).unwrap_or_default(),
                phase: r.phase,
                url: r.url.clone(),
                cost_per_day: 24.0 * (used.cpu_cores * cpu_hour + used.memory_gib * gib_hour),
            }
        })
        .collect();
    Ok(Digest {
        title: format!(
            "Previews on {}",
            now.with_timezone(&policy.tz).format("%a %Y-%m-%d")
        ),
        rows,
        orphans: orphans
            .iter()
            .map(|o| OrphanLine {
                namespace: o.namespace.to_string(),
                why: o.why.clone(),
            })
            .collect(),
        currency: schedule.currency.clone(),
        prices: (schedule.cpu_hour, schedule.gib_hour),
    })
}

fn money(amount: f64, currency: &str) -> String {
    format!("{amount:.2} {currency}")
}

/// A unit price with the digits it was configured with (`0.004 EUR`).
fn price(amount: f64, currency: &str) -> String {
    let text = format!("{amount:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {currency}")
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// The message: fallback text and Block Kit blocks.
pub fn render(digest: &Digest) -> (String, Value) {
    let total: f64 = digest.rows.iter().map(|r| r.cost_per_day).sum();
    let currency = &digest.currency;
    let headline = match digest.rows.len() {
        0 => "No previews are running.".to_string(),
        1 => format!("*1 preview running* · ≈ {}/day", money(total, currency)),
        n => format!("*{n} previews running* · ≈ {}/day", money(total, currency)),
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": digest.title}}),
        section(headline.clone()),
    ];
    if !digest.rows.is_empty() {
        blocks.push(json!({"type": "divider"}));
    }
    for row in digest.rows.iter().take(MAX_ROWS) {
        let mut first = format!("*<{}|{}>* · {}", row.pr_url, row.preview, row.phase);
        if let Some(url) = &row.url {
            first.push_str(&format!(" · <{url}>"));
        }
        let mut second = format!(
            "owner {} · age {} · idle {} · ≈ {}/day",
            row.owner,
            row.age,
            row.idle,
            money(row.cost_per_day, currency)
        );
        if !row.lifetime.is_empty() {
            second.push_str(&format!("\n{}", row.lifetime));
        }
        blocks.push(section(format!("{first}\n{second}")));
    }
    if digest.rows.len() > MAX_ROWS {
        blocks.push(section(format!(
            "… and {} more (`/preview list` shows all).",
            digest.rows.len() - MAX_ROWS
        )));
    }
    if !digest.rows.is_empty() {
        let mut per_app: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
        for row in &digest.rows {
            let entry = per_app.entry(&row.app).or_default();
            entry.0 += 1;
            entry.1 += row.cost_per_day;
        }
        let lines: Vec<String> = per_app
            .iter()
            .map(|(app, (count, cost))| {
                format!(
                    "• `{app}`: {count} preview{} · ≈ {}/day",
                    if *count == 1 { "" } else { "s" },
                    money(*cost, currency)
                )
            })
            .collect();
        blocks.push(json!({"type": "divider"}));
        blocks.push(section(format!("*Per app*\n{}", lines.join("\n"))));
    }
    if !digest.orphans.is_empty() {
        let mut lines: Vec<String> = digest
            .orphans
            .iter()
            .take(MAX_ORPHANS)
            .map(|o| format!("• `{}`: {}", o.namespace, o.why))
            .collect();
        if digest.orphans.len() > MAX_ORPHANS {
            lines.push(format!("… and {} more", digest.orphans.len() - MAX_ORPHANS));
        }
        blocks.push(section(format!(
            "*Orphans* (removed by the orphan sweep)\n{}",
            lines.join("\n")
        )));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
        "Cost estimated from the pods' resource requests at {} per CPU-hour and {} per GiB-hour (apps may set their own prices).",
        price(digest.prices.0, currency),
        price(digest.prices.1, currency),
    )}]}));
    let text = format!("{}: {}", digest.title, headline.replace('*', ""));
    (text, Value::Array(blocks))
}

/// Posts the digest for the fire time `slot`, once across replicas.
pub async fn post(engine: &Engine, slot: DateTime<Utc>) -> Result<(bool, String), DeployError> {
    let Some(channel) = engine.config.slack.digest_channel.clone() else {
        return Ok((false, "no slack.digest_channel configured".into()));
    };
    let digest = gather(engine, engine.now()).await?;
    if !engine
        .cluster
        .claim_schedule_slot(&engine.config.bot.namespace, "digest", slot)
        .await?
    {
        return Ok((false, "already posted by another replica".into()));
    }
    let (text, blocks) = render(&digest);
    let posted = engine
        .notifier
        .announce(&channel, &text, Some(&blocks))
        .await;
    Ok((
        posted,
        format!(
            "{} previews, {} orphans, posted: {posted}",
            digest.rows.len(),
            digest.orphans.len()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: usize) -> Row {
        Row {
            preview: format!("web#{n}"),
            app: "web".into(),
            pr_url: format!("https://github.com/acme/web/pull/{n}"),
            owner: "octocat".into(),
            age: "1d".into(),
            idle: "2h".into(),
            lifetime: String::new(),
            phase: Phase::Ready,
            url: None,
            cost_per_day: 0.5,
        }
    }

    fn digest(rows: usize, orphans: usize) -> Digest {
        Digest {
            title: "Previews on Mon 2026-11-23".into(),
            rows: (0..rows).map(row).collect(),
            orphans: (0..orphans)
                .map(|n| OrphanLine {
                    namespace: format!("preview-web-pr-{n}"),
                    why: "pull request acme/web#1 was closed".into(),
                })
                .collect(),
            currency: "USD".into(),
            prices: (0.031, 0.004),
        }
    }

    #[test]
    fn a_quiet_day_still_gets_its_message() {
        let (text, blocks) = render(&digest(0, 0));
        assert_eq!(text, "Previews on Mon 2026-11-23: No previews are running.");
        assert_eq!(blocks.as_array().map(Vec::len), Some(3), "{blocks}");
    }

    #[test]
    fn a_busy_day_stays_within_slacks_limits() {
        let (text, blocks) = render(&digest(45, 30));
        assert!(
            text.contains("45 previews running · ≈ 22.50 USD/day"),
            "{text}"
        );
        let blocks = blocks.as_array().cloned().unwrap_or_default();
        assert!(blocks.len() <= 50, "{} blocks", blocks.len());
        let texts: Vec<&str> = blocks
            .iter()
            .filter_map(|b| b.pointer("/text/text").and_then(Value::as_str))
            .collect();
        assert!(texts.iter().all(|t| t.chars().count() <= 3000));
        assert!(
            texts.iter().any(|t| t.starts_with("… and 5 more")),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t.ends_with("… and 10 more")),
            "{texts:?}"
        );
        assert!(texts.contains(&"*Per app*\n• `web`: 45 previews · ≈ 22.50 USD/day"));
    }
}
