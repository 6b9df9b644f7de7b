//! The try-out mode: the real bot engine on a SIMULATED cluster (the fake API server of the test
//! suite, over TLS), with the bundled example app and a console that stands in for Slack.

use crate::dispatch::{self, Implied};
use crate::engine::Engine;
use crate::notify::Notifier;
use crate::origin::Origin;
use crate::source::SourceProvider;
use preview_config::Config;
use preview_deploy::Cluster;
use preview_testkit::kube_api::FakeKube;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, BufReader};

const DEMO_CONFIG: &str = include_str!("../../examples/demo/preview-bot.toml");
const DEMO_MANIFEST: &str = include_str!("../../examples/demo/repo/deploy/app.yaml");

const BANNER: &str = "\
==============================================================================
 preview-bot try-out — SIMULATION
 No real cluster, Slack or GitHub is used: the Kubernetes API below is the
 simulated API server of preview-bot's test suite, and this console stands in
 for Slack. The bundled example app is `demo` (repository example/demo).
==============================================================================";

/// Runs the try-out until `exit` or end of input.
pub async fn run(kubeconfig_out: Option<PathBuf>) -> anyhow::Result<()> {
    let kube = FakeKube::start().await;
    let kubeconfig = kubeconfig_out
        .unwrap_or_else(|| std::env::temp_dir().join("preview-bot-testdrive.kubeconfig"));
    std::fs::write(&kubeconfig, kube.kubeconfig_yaml())?;

    let repo = tempfile::Builder::new()
        .prefix("preview-bot-demo-")
        .tempdir()?;
    write_demo_repo(repo.path())?;
    let config = Arc::new(Config::parse(
        DEMO_CONFIG,
        "examples/demo/preview-bot.toml",
    )?);
    let cluster = Arc::new(Cluster::new(
        kube.client().await,
        &config.bot.namespace_prefix,
    ));
    // The bot's own namespace, as its install manifests would create it: the kill switch and
    // the audit log live there.
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(cluster.client().clone());
    let bot_namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": config.bot.namespace}
    }))?;
    namespaces
        .create(&Default::default(), &bot_namespace)
        .await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let notifier = Notifier::new(config.clone(), None, None, Some(tx));
    let stop_kill_switch_view = tokio_util::sync::CancellationToken::new();
    let (engine, kill_switch_view) = Engine::new(
        config.clone(),
        cluster,
        SourceProvider::Local(repo.path().to_path_buf()),
        notifier,
    )
    .watching_kill_switch(stop_kill_switch_view.clone());

    println!("{BANNER}");
    println!("Simulated cluster: {}", kube.url());
    println!("Kubeconfig for kubectl: {}", kubeconfig.display());
    println!(
        "  try: kubectl --kubeconfig {} get ns",
        kubeconfig.display()
    );
    println!();
    println!("Type commands as you would in Slack, for example:");
    println!("  /preview up demo#1");
    println!("  /preview status");
    println!("  /preview down");
    println!("  /preview help");
    println!("`exit` or Ctrl-D leaves.");

    // Thread lines come as "[app#N] text"; the direct reply repeats the final one, so a reply
    // equal to the thread line just printed is not printed again.
    let printer = tokio::spawn(async move {
        let mut last = String::new();
        while let Some(line) = rx.recv().await {
            let bare = line
                .split_once("] ")
                .filter(|_| line.starts_with('['))
                .map_or(line.as_str(), |(_, t)| t);
            if bare == last && !line.starts_with('[') {
                continue;
            }
            last = bare.to_string();
            for part in line.lines() {
                println!("  {part}");
            }
        }
    });
    let echo = !std::io::stdin().is_terminal();

    let prefix = config.bot.command_prefix.clone();
    let mut implied: Option<Implied> = None;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        print!("> ");
        let _ = std::io::stdout().flush();
        let Some(line) = lines.next_line().await? else {
            break;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if matches!(line, "exit" | "quit") {
            break;
        }
        if echo {
            println!("{line}");
        }
        let Some(parsed) =
            preview_commands::parse_line_with(line, &prefix, &engine.parse_options())
        else {
            println!("  Commands start with `{prefix}`, for example `{prefix} up demo#1`.");
            continue;
        };
        let command = match parsed {
            Ok(command) => command,
            Err(e) => {
                println!("  {}", e.render(&prefix).replace('\n', "\n  "));
                continue;
            }
        };
        let previews = if dispatch::needs_target(&command.action) {
            match dispatch::resolve(&config, command.target.as_ref(), implied.as_ref()) {
                Ok(previews) => previews,
                Err(message) => {
                    println!("  {message}");
                    continue;
                }
            }
        } else {
            Vec::new()
        };
        // Later commands without a target mean the preview named last, as on a PR.
        if let Some(first) = previews.first()
            && let Some(pr) = first.id().pr()
        {
            implied = Some(Implied {
                owner: first.owner.clone(),
                repo: first.repo.clone(),
                pr,
            });
        }
        for outcome in dispatch::execute(&engine, &command, &previews, &Origin::Console).await {
            engine.notifier.reply(&Origin::Console, &outcome.text).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop_kill_switch_view.cancel();
    let _ = kill_switch_view.await;
    drop(engine);
    let _ = printer.await;
    println!("Bye. The simulated cluster is gone with this process.");
    Ok(())
}

fn write_demo_repo(root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join("deploy"))?;
    std::fs::write(root.join("deploy/app.yaml"), DEMO_MANIFEST)
}
