use anyhow::Context;
use axum::serve::ListenerExt;
use clap::{Parser, Subcommand};
use preview_bot::engine::Engine;
use preview_bot::exec::ExecResult;
use preview_bot::github::GitHubApi;
use preview_bot::notify::Notifier;
use preview_bot::schedule::Scheduler;
use preview_bot::schedule::leader::{Leadership, LeaseTiming};
use preview_bot::slack::SlackApi;
use preview_bot::slack_socket::SocketMode;
use preview_bot::source::SourceProvider;
use preview_bot::{Bot, http};
use preview_config::{Config, Secrets, SlackMode};
use preview_deploy::Cluster;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// preview-bot: a live preview of every pull request on Kubernetes, driven from Slack and GitHub.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the bot: HTTP endpoints for Slack and GitHub (Slack over Socket Mode when
    /// `slack.mode = "socket"`).
    Serve {
        #[arg(long, env = "PREVIEW_BOT_CONFIG")]
        config: PathBuf,
    },
    /// Validate a config file and print a summary.
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the manifests an `up` would apply, rendered from a local checkout.
    Render {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        app: String,
        /// The pull request (or `--branch` for a branch preview).
        #[arg(long, required_unless_present = "branch", conflicts_with = "branch")]
        pr: Option<u64>,
        #[arg(long)]
        branch: Option<String>,
        /// The checkout to render (default: the current directory).
        #[arg(long, default_value = ".")]
        repo_dir: PathBuf,
        /// The commit to pin images to.
        #[arg(long, default_value = "0000000000000000000000000000000000000000")]
        sha: String,
    },
    /// Run one command against the configured cluster and print what the chat would get.
    /// Exit code 0: done; 1: refused or failed; 2: the command is invalid (nothing ran).
    Exec {
        #[arg(long, env = "PREVIEW_BOT_CONFIG")]
        config: PathBuf,
        /// The command, as typed in Slack: `"/preview status web#42"` (the `/preview` is optional).
        command: String,
    },
    #[cfg(feature = "testdrive")]
    /// Try preview-bot on a simulated cluster with a bundled example app; no accounts needed.
    Testdrive {
        /// Where to write the kubeconfig of the simulated cluster.
        #[arg(long)]
        kubeconfig_out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    let done = |()| ExitCode::SUCCESS;
    match command {
        Cmd::CheckConfig { config } => {
            let config = Config::load(&config)?;
            print!("{}", config.summary());
            println!("config OK");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Render {
            config,
            app,
            pr,
            branch,
            repo_dir,
            sha,
        } => {
            let id = match (pr, branch) {
                (Some(pr), _) => preview_deploy::PreviewId::new(&app, pr),
                (None, Some(branch)) => preview_deploy::PreviewId::branch(&app, branch),
                (None, None) => anyhow::bail!("name the preview with --pr N or --branch NAME"),
            };
            render(&config, &id, &repo_dir, &sha).map(done)
        }
        Cmd::Exec { config, command } => {
            init_logging(false, "warn");
            let result = preview_bot::exec::run(&config, &command, &mut std::io::stdout()).await?;
            Ok(match result {
                ExecResult::Ok => ExitCode::SUCCESS,
                ExecResult::Failed => ExitCode::FAILURE,
                ExecResult::Invalid => ExitCode::from(2),
            })
        }
        #[cfg(feature = "testdrive")]
        Cmd::Testdrive { kubeconfig_out } => {
            init_logging(false, "warn");
            preview_bot::testdrive::run(kubeconfig_out).await.map(done)
        }
        Cmd::Serve { config } => {
            init_logging(true, "info");
            serve(&config).await.map(done)
        }
    }
}

fn init_logging(json: bool, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Prints every wave an `up` would apply, in order, from a local checkout.
fn render(
    config: &std::path::Path,
    id: &preview_deploy::PreviewId,
    repo_dir: &std::path::Path,
    sha: &str,
) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let app = config
        .apps
        .get(&id.app)
        .with_context(|| format!("no app `{}` in the config", id.app))?;
    let ctx = preview_deploy::PreviewContext::for_id(&config, id, app, sha, None);
    let inputs = preview_deploy::plan::PlanInputs {
        pointers: &Default::default(),
        existing_password: &|_: &str| None,
        kustomize: &Default::default(),
        kustomize_timeout: Duration::from_secs(60),
    };
    let policies = preview_deploy::plan::policies(&config, &ctx).map_err(anyhow::Error::msg)?;
    let plan = preview_deploy::plan::plan(&config, app, &ctx, repo_dir, &inputs)
        .map_err(anyhow::Error::msg)?;
    for warning in &plan.app.warnings {
        eprintln!("note: {warning}");
    }
    if !config.deploy.copy_secrets.is_empty() {
        eprintln!(
            "note: the Secrets of deploy.copy_secrets are copied from the cluster at deploy time and not shown"
        );
    }
    let waves = [
        ("namespace guardrails", &policies),
        (
            "dependencies (applied and awaited first)",
            &plan.dependencies,
        ),
        ("the app", &plan.app.objects),
    ];
    for (wave, objects) in waves {
        if objects.is_empty() {
            continue;
        }
        println!("# {wave}, namespace {}", ctx.namespace);
        for object in objects {
            println!("---\n{}", serde_json::to_string_pretty(object)?);
        }
    }
    Ok(())
}

async fn serve(config_path: &std::path::Path) -> anyhow::Result<()> {
    let config = Arc::new(Config::load(config_path)?);
    let secrets = Secrets::from_env()?;
    secrets.require_for_serving(config.slack.mode)?;
    let metrics = Arc::new(preview_bot::metrics::Metrics::new());
    let client =
        preview_bot::kube_client::infer(metrics.clone(), config.bot.kubernetes_timeout.get())
            .await?;
    let cluster = Arc::new(Cluster::new(client, &config.bot.namespace_prefix));
    if let Err(e) = cluster.ping().await {
        tracing::warn!(error = %e, "the Kubernetes API is not reachable yet");
    }
    let slack = match &secrets.slack_bot_token {
        Some(token) => Some(SlackApi::from_config(&config.slack, token)?),
        None => None,
    };
    let github_auth = secrets
        .github
        .as_ref()
        .context("GitHub credentials are required")?;
    let github = GitHubApi::from_config(&config.github, github_auth)?;
    let notifier = Notifier::new(config.clone(), slack, Some(github.clone()), None);
    // This replica's watch of the kill switch, until shutdown: deploys ask it instead of the
    // API, and a kill switch turned on by any replica stops the deploys running here.
    let stop_kill_switch_view = tokio_util::sync::CancellationToken::new();
    let (engine, kill_switch_view) = Engine::new(
        config.clone(),
        cluster.clone(),
        SourceProvider::GitHub(github),
        notifier,
    )
    .with_metrics(metrics)
    .watching_kill_switch(stop_kill_switch_view.clone());
    let engine = Arc::new(engine);
    let mut bot = Bot::new(
        engine,
        secrets.slack_signing_secret.clone(),
        secrets.github_webhook_secret.clone(),
    );
    bot.status_token = secrets.status_token.clone();
    let bot = Arc::new(bot.with_admin_token(secrets.admin_token.clone()));
    let listener = tokio::net::TcpListener::bind(&config.bot.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.bot.listen))?
        // Answers go out at once, not held back by Nagle's algorithm (a slash command's
        // acknowledgement is one small write).
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    // Socket Mode: slash commands and button presses arrive over a WebSocket the bot opens; a
    // token Slack refuses stops the start here, with the reason (before anything else runs).
    let stop_socket = tokio_util::sync::CancellationToken::new();
    let socket = match config.slack.mode {
        SlackMode::Socket => {
            let app_token = secrets
                .slack_app_token
                .as_ref()
                .context("SLACK_APP_TOKEN is required with slack.mode = \"socket\"")?;
            let app = SlackApi::from_config(&config.slack, app_token)?;
            let client = SocketMode::new(bot.clone(), app);
            Some(client.start(stop_socket.clone()).await?)
        }
        SlackMode::Http => None,
    };
    // Schedules run in the background on the Lease holder only, until shutdown.
    let stop_schedules = tokio_util::sync::CancellationToken::new();
    let leadership = Leadership::lease(
        cluster.client().clone(),
        &config.bot.namespace,
        &replica_identity(),
        LeaseTiming::default(),
        stop_schedules.clone(),
    );
    let scheduler = Scheduler::new(bot.engine.clone(), leadership);
    let schedules = tokio::spawn(scheduler.clone().run(stop_schedules.clone()));
    tracing::info!(listen = %config.bot.listen, apps = config.apps.len(), slack = ?config.slack.mode, "preview-bot serving");
    let background = bot.background.clone();
    // Previews a previous process left mid-deploy are finished from what the cluster records.
    let engine = bot.engine.clone();
    background.spawn(async move {
        preview_bot::recovery::recover(&engine).await;
    });
    let stopping = stop_socket.clone();
    axum::serve(listener, http::router(bot))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // No new Slack commands over the socket while the last HTTP requests finish.
            stopping.cancel();
        })
        .await?;
    stop_socket.cancel();
    if let Some(socket) = socket {
        let _ = socket.await;
    }
    stop_schedules.cancel();
    let _ = schedules.await;
    scheduler.leadership().stopped().await;
    // The deploys still draining read the switch from the API from now on.
    stop_kill_switch_view.cancel();
    let _ = kill_switch_view.await;
    tracing::info!(running = background.running(), "draining background work");
    if tokio::time::timeout(Duration::from_secs(120), background.wait_idle())
        .await
        .is_err()
    {
        tracing::warn!(
            "background work still running at shutdown; it resumes from the cluster record on restart"
        );
    }
    Ok(())
}

/// This replica's name in the Lease: the pod name where there is one, and a random suffix so a
/// restarted pod with the same name is a new holder.
fn replica_identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "preview-bot".into());
    format!("{host}-{:08x}", rand::random::<u32>())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
