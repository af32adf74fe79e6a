//! `hangar-agent`: the node agent, and one workspace's session on its own.
//!
//! - `hangar-agent node`: the long-lived node agent (see `node/`): dials the control plane's
//!   socket and runs one session per workspace it is told to.
//! - `hangar-agent agent-env`: writes the coding agent's environment from Secrets Manager
//!   (see `agent_env`), once at boot.
//! - `hangar-agent run`: one workspace exactly as a node runs it (`HANGAR_TASK_PROMPT` is its
//!   prompt): delivers what an earlier run left, runs the session, reports its outcome once
//!   its messages are delivered, then drains. SIGTERM stops the ACP agent, persists the
//!   message it was streaming, and drains within `HANGAR_SHUTDOWN_FLUSH_MS`.
//! - `hangar-agent drain`: only delivers what the outbox holds.
//!
//! Exit codes: 0 all delivered; 1 failure; 2 bad configuration; 3 messages remain in the
//! outbox (they are delivered by the next start).

use std::process::ExitCode;
use std::sync::Arc;

use hangar_agent::agent_env::{AgentEnvConfig, AgentEnvError, write_agent_env};
use hangar_agent::config::{AgentConfig, FromEnv, NodeConfig};
use hangar_agent::control_plane::ControlPlane;
use hangar_agent::node::isolation::Isolation;
use hangar_agent::node::workspace::{WorkspaceRun, WorkspaceRunner};
use hangar_agent::outbox::{Delivery, Outbox};
use hangar_agent::reporter::Reporter;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

enum Mode {
    Run { prompt: String },
    Drain,
    Node,
    AgentEnv,
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Runtime(String),
}

fn runtime(err: impl std::fmt::Display) -> Failure {
    Failure::Runtime(err.to_string())
}

fn parse_mode() -> Result<Mode, Failure> {
    match std::env::args().nth(1).as_deref() {
        Some("run") => {
            let prompt = std::env::var("HANGAR_TASK_PROMPT")
                .ok()
                .filter(|prompt| !prompt.trim().is_empty())
                .ok_or_else(|| {
                    Failure::Config(
                        "HANGAR_TASK_PROMPT is required but not set: the task's prompt".into(),
                    )
                })?;
            Ok(Mode::Run { prompt })
        }
        Some("drain") => Ok(Mode::Drain),
        Some("node") => Ok(Mode::Node),
        Some("agent-env") => Ok(Mode::AgentEnv),
        other => Err(Failure::Config(format!(
            "unknown command {other:?}; usage: hangar-agent run | drain | node | agent-env"
        ))),
    }
}

/// `run` and `drain`: returns how many rows were left undelivered.
async fn run(mode: Mode, config: AgentConfig) -> Result<u64, Failure> {
    let delivery = &config.delivery;
    let outbox = Outbox::open_limited(
        &config.outbox_path,
        delivery.outbox_max_size,
        delivery.outbox_max_bytes,
    )
    .map_err(runtime)?;
    let requeued = outbox.requeue_exhausted().await.map_err(runtime)?;
    if requeued > 0 {
        tracing::info!(
            requeued,
            "requeued messages whose retry budget ran out last time"
        );
    }
    let control_plane = ControlPlane::new(delivery.retry).map_err(runtime)?;
    let reporter = Reporter::new(
        outbox.clone(),
        control_plane.clone(),
        delivery.batch,
        delivery.retry.max_interval,
    );
    let delivery_to = Delivery {
        workspace_id: config.workspace_id.clone(),
        project_id: config.project_id.to_string(),
        session_id: config.session_id.clone(),
        api_url: config.api_url.clone(),
        callback_token: config.callback_token.clone(),
    };
    let Mode::Run { prompt } = mode else {
        // Rows of an earlier run go with the token given now.
        outbox.register(delivery_to).await.map_err(runtime)?;
        return reporter
            .drain(delivery.retry.max_elapsed)
            .await
            .map_err(runtime);
    };
    let mut workspace = WorkspaceRun {
        delivery: delivery_to,
        prompt,
        dir: config.workdir.clone(),
        checkout: None,
        scratch: config.workdir.clone(),
        acp_command: None,
        run_as: None,
        first_seq: 1,
        agent_env: Default::default(),
        agent_secrets: false,
        setup_script: None,
        permissions: None,
        follow_ups: Vec::new(),
        context: None,
    };
    let runner = Arc::new(WorkspaceRunner {
        outbox,
        control_plane,
        acp: config.acp.clone(),
        isolation: Isolation::SameUser,
        delivery_deadline: delivery.report_deadline,
        waiting: Arc::default(),
        inboxes: Arc::default(),
    });
    runner.prepare(&mut workspace).await.map_err(runtime)?;

    let stop_reporter = CancellationToken::new();
    let background = {
        let (reporter, stop) = (reporter.clone(), stop_reporter.clone());
        tokio::spawn(async move { reporter.run(stop).await })
    };
    let stop = CancellationToken::new();
    let mut terminate = signal(SignalKind::terminate()).map_err(runtime)?;
    let session = runner.run(workspace, stop.clone());
    tokio::pin!(session);
    let deadline = tokio::select! {
        end = &mut session => {
            tracing::info!(?end, "the workspace's run ended");
            delivery.retry.max_elapsed
        }
        _ = terminate.recv() => {
            tracing::info!("SIGTERM: stopping the agent and flushing the outbox");
            stop.cancel();
            session.await;
            delivery.shutdown_flush_deadline
        }
    };
    stop_reporter.cancel();
    background.await.map_err(runtime)?.map_err(runtime)?;
    reporter.drain(deadline).await.map_err(runtime)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match parse_mode() {
        Ok(Mode::Node) => match NodeConfig::from_env() {
            Ok(config) => hangar_agent::node::run(config).await.map_err(runtime),
            Err(err) => Err(Failure::Config(err.to_string())),
        },
        Ok(Mode::AgentEnv) => match AgentEnvConfig::from_env() {
            Ok(config) => match write_agent_env(&config).await {
                Ok(count) => {
                    tracing::info!(count, file = %config.file.display(), "wrote the coding agent's environment");
                    Ok(0)
                }
                Err(err @ (AgentEnvError::Malformed { .. } | AgentEnvError::Reserved { .. })) => {
                    Err(Failure::Config(err.to_string()))
                }
                Err(err) => Err(runtime(err)),
            },
            Err(err) => Err(Failure::Config(err.to_string())),
        },
        Ok(mode) => match AgentConfig::from_env() {
            Ok(config) => run(mode, config).await,
            Err(err) => Err(Failure::Config(err.to_string())),
        },
        Err(err) => Err(err),
    };
    match outcome {
        Ok(0) => ExitCode::SUCCESS,
        Ok(left) => {
            eprintln!("hangar-agent: {left} message(s) remain in the outbox");
            ExitCode::from(3)
        }
        Err(Failure::Config(message)) => {
            eprintln!("hangar-agent: configuration: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("hangar-agent: {message}");
            ExitCode::FAILURE
        }
    }
}
