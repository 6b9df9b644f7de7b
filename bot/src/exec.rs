//! `preview-bot exec --config FILE "/preview ..."`: one command against the configured cluster
//! from a terminal, answered as the chat would be (the same parse, resolve and execute path as
//! Slack and PR comments, as `Origin::Console`). Progress also reaches the preview's Slack thread
//! and PR when their credentials are in the environment, exactly as when the bot runs it.

use crate::dispatch;
use crate::engine::Engine;
use crate::github::GitHubApi;
use crate::notify::Notifier;
use crate::origin::Origin;
use crate::slack::SlackApi;
use crate::source::SourceProvider;
use anyhow::Context;
use preview_commands::Action;
use preview_config::{Config, Secrets};
use preview_deploy::Cluster;
use std::sync::Arc;

/// How `exec` ended, for the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecResult {
    /// Every operation succeeded.
    Ok,
    /// The command ran and something was refused or failed.
    Failed,
    /// The command did not parse or named nothing configured; nothing ran.
    Invalid,
}

/// Runs `line` (with or without the leading `/preview`); every answer goes to `out`.
pub async fn run(
    config_path: &std::path::Path,
    line: &str,
    out: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<ExecResult> {
    let config = Arc::new(Config::load(config_path)?);
    let prefix = config.bot.command_prefix.clone();
    let engine_options = preview_commands::ParseOptions {
        max_ttl: Some(config.schedule.max_ttl.get()),
    };
    let parsed = preview_commands::parse_line_with(line.trim(), &prefix, &engine_options)
        .unwrap_or_else(|| preview_commands::parse_with(line.trim(), &engine_options));
    let command = match parsed {
        Ok(command) => command,
        Err(e) => {
            writeln!(out, "{}", e.render(&prefix))?;
            return Ok(ExecResult::Invalid);
        }
    };
    if let Action::Help { topic } = &command.action {
        writeln!(out, "{}", preview_commands::help(topic.as_deref(), &prefix))?;
        return Ok(ExecResult::Ok);
    }
    let previews = if dispatch::needs_target(&command.action) {
        match dispatch::resolve(&config, command.target.as_ref(), None) {
            Ok(previews) => previews,
            Err(message) => {
                writeln!(out, "{message}")?;
                return Ok(ExecResult::Invalid);
            }
        }
    } else {
        Vec::new()
    };

    let secrets = Secrets::from_env()?;
    let github_auth = secrets.github.as_ref().context(
        "GitHub credentials are required (GITHUB_TOKEN, or GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY), as for `serve`",
    )?;
    let github = GitHubApi::from_config(&config.github, github_auth)?;
    let slack = match &secrets.slack_bot_token {
        Some(token) => Some(SlackApi::from_config(&config.slack, token)?),
        None => None,
    };
    let client = crate::kube_client::infer(
        Arc::new(crate::metrics::Metrics::new()),
        config.bot.kubernetes_timeout.get(),
    )
    .await?;
    let cluster = Arc::new(Cluster::new(client, &config.bot.namespace_prefix));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let notifier = Notifier::new(config.clone(), slack, Some(github.clone()), Some(tx));
    let engine = Engine::new(config, cluster, SourceProvider::GitHub(github), notifier);

    let outcomes = dispatch::execute(&engine, &command, &previews, &Origin::Console).await;
    for outcome in &outcomes {
        engine.notifier.reply(&Origin::Console, &outcome.text).await;
    }
    drop(engine);
    // Thread lines (`[app#N] ...`) and the direct answers, in the order the chat got them; a
    // direct answer that repeats the thread line just printed is said once.
    let mut last = String::new();
    while let Some(message) = rx.recv().await {
        let bare = message
            .split_once("] ")
            .filter(|_| message.starts_with('['))
            .map_or(message.as_str(), |(_, t)| t);
        if bare == last && !message.starts_with('[') {
            continue;
        }
        last = bare.to_string();
        writeln!(out, "{message}")?;
    }
    Ok(if outcomes.iter().all(|o| o.ok) {
        ExecResult::Ok
    } else {
        ExecResult::Failed
    })
}
