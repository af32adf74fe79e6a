//! `hangar-agent node`: the long-lived agent of a node. It serves the node API to the control
//! plane ([`api`]), runs one ACP session per workspace ([`workspace`]), and delivers every
//! workspace's messages through one outbox and reporter, each with its own workspace token
//! and session, so a reused node never mixes sessions.

pub mod api;
pub mod workspace;

use std::sync::Arc;
use std::time::Duration;

use hangar_protocol::auth::NODE_CONTROL_AUDIENCE;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio_util::sync::CancellationToken;

use self::api::NodeApi;
use self::workspace::WorkspaceRunner;
use crate::config::NodeConfig;
use crate::control_plane::{CallError, Caller, ControlPlane};
use crate::outbox::Outbox;
use crate::reporter::Reporter;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("the control plane public key is unusable: {0}")]
    Key(String),
    #[error("outbox: {0}")]
    Outbox(#[from] crate::outbox::OutboxError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the control plane never took the ready callback: {0}")]
    Ready(CallError),
    #[error("{0}")]
    Io(String),
}

/// How the node checks the control plane's tokens.
fn control_plane_key(config: &NodeConfig) -> Result<(DecodingKey, Validation), NodeError> {
    let key = DecodingKey::from_ed_pem(config.control_public_key_pem.as_bytes())
        .map_err(|err| NodeError::Key(err.to_string()))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[NODE_CONTROL_AUDIENCE]);
    validation.set_issuer(&[config.control_issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.leeway = 30;
    Ok((key, validation))
}

/// Serves the node until SIGTERM; then stops the sessions and drains the outbox. Returns the
/// rows left undelivered.
pub async fn run(config: NodeConfig) -> Result<u64, NodeError> {
    let key = control_plane_key(&config)?;
    tokio::fs::create_dir_all(&config.dir)
        .await
        .map_err(|err| NodeError::Io(err.to_string()))?;
    let outbox = Outbox::open(
        &config.dir.join("outbox.db"),
        config.delivery.outbox_max_size,
    )?;
    outbox.requeue_exhausted().await?;
    let control_plane =
        ControlPlane::new(config.delivery.retry).map_err(|err| NodeError::Io(err.to_string()))?;
    let reporter = Reporter::new(outbox.clone(), control_plane.clone(), config.delivery.batch);
    let stop_reporter = CancellationToken::new();
    let background = {
        let (reporter, stop) = (reporter.clone(), stop_reporter.clone());
        tokio::spawn(async move { reporter.run(stop).await })
    };
    let runner = Arc::new(WorkspaceRunner {
        outbox,
        control_plane: control_plane.clone(),
        acp: config.acp.clone(),
        delivery_deadline: config.delivery.retry.max_elapsed,
    });
    let node = Arc::new(NodeApi::new(
        config.node_id.clone(),
        key,
        config.dir.clone(),
        runner,
    ));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| NodeError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| NodeError::Listen {
        addr: config.listen,
        source,
    })?;
    let endpoint = config
        .advertise_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let shutdown = CancellationToken::new();
    let server = {
        let (app, shutdown) = (node.router(), shutdown.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        })
    };
    tracing::info!(%addr, %endpoint, node = %config.node_id, "node agent listening");

    // Tell the control plane we are ready, retrying while it is unreachable.
    let caller = Caller {
        api_url: &config.api_url,
        token: &config.node_token,
    };
    control_plane
        .ready(caller, &config.node_id, &endpoint)
        .await
        .map_err(NodeError::Ready)?;

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|err| NodeError::Io(err.to_string()))?;
    terminate.recv().await;
    tracing::info!("SIGTERM: stopping workspaces and flushing the outbox");
    node.stop_all().await;
    // Give cancelled sessions a moment to persist what they were streaming.
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    let _ = server.await;
    stop_reporter.cancel();
    let _ = background.await;
    Ok(reporter
        .drain(config.delivery.shutdown_flush_deadline)
        .await?)
}
