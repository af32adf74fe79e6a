//! `hangar-agent node`: the long-lived agent of a node. It serves the node API to the control
//! plane (create and destroy workspaces; every request carries a control-plane JWT that the
//! node checks with the control plane's public key), runs one ACP session per workspace, and
//! delivers every workspace's messages through one outbox and reporter, each with its own
//! workspace token and session, so a reused node never mixes sessions.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use backon::{ExponentialBuilder, Retryable};
use hangar_protocol::auth::{NODE_CONTROL_AUDIENCE, NodeClaims};
use hangar_protocol::tasks::{
    CreateWorkspaceRequest, NodeReadyRequest, WorkspaceOutcome, WorkspaceStatusReport,
};
use hangar_protocol::{ErrorBody, WorkspaceId};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::acp::{AcpAgentCommand, Recorder, run_prompt};
use crate::config::NodeConfig;
use crate::outbox::{Delivery, Outbox};
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
    Ready(String),
    #[error("{0}")]
    Http(String),
}

struct Running {
    stop: CancellationToken,
    dir: PathBuf,
}

struct Node {
    config: NodeConfig,
    key: DecodingKey,
    validation: Validation,
    outbox: Outbox,
    http: reqwest::Client,
    workspaces: Mutex<HashMap<WorkspaceId, Running>>,
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            code: code.into(),
            message: message.into(),
        }),
    )
        .into_response()
}

impl Node {
    fn authorize(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Box::new(error(
                    StatusCode::UNAUTHORIZED,
                    "missing_token",
                    "send 'Authorization: Bearer <jwt>'",
                ))
            })?;
        let claims = jsonwebtoken::decode::<NodeClaims>(token, &self.key, &self.validation)
            .map_err(|err| {
                Box::new(error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    format!("the token is not valid: {err}"),
                ))
            })?
            .claims;
        if claims.node_id != self.config.node_id {
            return Err(Box::new(error(
                StatusCode::FORBIDDEN,
                "node_mismatch",
                "the token is for another node",
            )));
        }
        Ok(())
    }

    fn workspace_dir(&self, id: &WorkspaceId) -> PathBuf {
        self.config.dir.join("workspaces").join(id.as_str())
    }

    /// Runs one workspace's session to its end, then reports the outcome once its messages
    /// are delivered (so the transcript is complete when the task shows as finished).
    async fn run_workspace(
        self: Arc<Self>,
        request: CreateWorkspaceRequest,
        stop: CancellationToken,
        dir: PathBuf,
    ) {
        let recorder = Arc::new(Mutex::new(Recorder::new(
            self.outbox.clone(),
            request.workspace_id.clone(),
        )));
        let agent = AcpAgentCommand {
            command: self.config.acp.command.clone(),
            workdir: dir,
            policy: self.config.acp.policy,
        };
        let outcome = tokio::select! {
            result = run_prompt(&agent, &request.prompt, Arc::clone(&recorder)) => match result {
                Ok(stop_reason) if stop_reason == "end_turn" => (WorkspaceOutcome::Completed, format!("the agent ended its turn ({stop_reason})")),
                Ok(stop_reason) => (WorkspaceOutcome::Failed, format!("the agent stopped: {stop_reason}")),
                Err(err) => (WorkspaceOutcome::Failed, format!("the agent session failed: {err}")),
            },
            () = stop.cancelled() => {
                // Destroyed by the control plane: keep what was streamed, report nothing.
                if let Err(err) = recorder.lock().await.close().await {
                    tracing::error!(workspace = %request.workspace_id, error = %err, "could not persist the open message");
                }
                return;
            }
        };
        let deadline = tokio::time::Instant::now() + self.config.reporter.retry_max_elapsed;
        while self
            .outbox
            .pending_for(&request.workspace_id)
            .await
            .unwrap_or(0)
            > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let report = WorkspaceStatusReport {
            outcome: outcome.0,
            reason: Some(outcome.1),
        };
        let url = format!(
            "{}/api/workspaces/{}/status",
            request.api_url, request.workspace_id
        );
        let send = || async {
            let response = self
                .http
                .post(&url)
                .bearer_auth(&request.callback_token)
                .json(&report)
                .send()
                .await
                .map_err(|err| err.to_string())?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!(
                    "{}: {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                ))
            }
        };
        let retry = ExponentialBuilder::default()
            .with_min_delay(self.config.reporter.retry_initial_interval)
            .with_max_delay(self.config.reporter.retry_max_interval)
            .with_jitter()
            .with_total_delay(Some(self.config.reporter.retry_max_elapsed));
        match send.retry(retry).sleep(tokio::time::sleep).await {
            Ok(()) => {
                tracing::info!(workspace = %request.workspace_id, outcome = %report.outcome, "reported the workspace's end")
            }
            Err(err) => {
                tracing::error!(workspace = %request.workspace_id, error = %err, "could not report the workspace's end; the sweep will time the task out")
            }
        }
    }
}

async fn create_workspace(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Json(request): Json<CreateWorkspaceRequest>,
) -> Response {
    if let Err(response) = node.authorize(&headers) {
        return *response;
    }
    let mut workspaces = node.workspaces.lock().await;
    if workspaces.contains_key(&request.workspace_id) {
        return StatusCode::OK.into_response(); // a repeated create
    }
    let dir = node.workspace_dir(&request.workspace_id);
    if let Err(err) = tokio::fs::create_dir_all(&dir).await {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "workspace_dir",
            format!("cannot create {}: {err}", dir.display()),
        );
    }
    let delivery = Delivery {
        workspace_id: request.workspace_id.clone(),
        project_id: request.project_id.to_string(),
        session_id: request.session_id.clone(),
        api_url: request.api_url.clone(),
        callback_token: request.callback_token.clone(),
    };
    if let Err(err) = node.outbox.register(delivery).await {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "outbox", err.to_string());
    }
    let stop = CancellationToken::new();
    workspaces.insert(
        request.workspace_id.clone(),
        Running {
            stop: stop.clone(),
            dir: dir.clone(),
        },
    );
    tracing::info!(workspace = %request.workspace_id, session = %request.session_id, "starting a workspace");
    tokio::spawn(Arc::clone(&node).run_workspace(request, stop, dir));
    StatusCode::CREATED.into_response()
}

async fn destroy_workspace(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = node.authorize(&headers) {
        return *response;
    }
    let Ok(id) = WorkspaceId::parse(id) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            "not a workspace id",
        );
    };
    let running = node.workspaces.lock().await.remove(&id);
    let dir = match running {
        Some(running) => {
            running.stop.cancel();
            running.dir
        }
        None => node.workspace_dir(&id),
    };
    // Undelivered messages stay in the outbox and are still delivered.
    if let Err(err) = tokio::fs::remove_dir_all(&dir).await
        && err.kind() != std::io::ErrorKind::NotFound
    {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "workspace_dir",
            format!("cannot remove {}: {err}", dir.display()),
        );
    }
    tracing::info!(workspace = %id, "workspace destroyed");
    StatusCode::NO_CONTENT.into_response()
}

async fn health() -> &'static str {
    "ok"
}

/// Serves the node until SIGTERM; then stops the sessions and drains the outbox.
pub async fn run(config: NodeConfig) -> Result<u64, NodeError> {
    let key = DecodingKey::from_ed_pem(config.control_public_key_pem.as_bytes())
        .map_err(|err| NodeError::Key(err.to_string()))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[NODE_CONTROL_AUDIENCE]);
    validation.set_issuer(&[config.control_issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.leeway = 30;

    tokio::fs::create_dir_all(&config.dir)
        .await
        .map_err(|err| NodeError::Http(err.to_string()))?;
    let outbox = Outbox::open(&config.dir.join("outbox.db"), config.outbox_max_size)?;
    outbox.requeue_exhausted().await?;
    let reporter = Reporter::new(outbox.clone(), config.reporter.clone())
        .map_err(|err| NodeError::Http(err.to_string()))?;
    let stop_reporter = CancellationToken::new();
    let background = {
        let (reporter, stop) = (reporter.clone(), stop_reporter.clone());
        tokio::spawn(async move { reporter.run(stop).await })
    };

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
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|err| NodeError::Http(err.to_string()))?;
    let node = Arc::new(Node {
        config,
        key,
        validation,
        outbox,
        http,
        workspaces: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/workspaces", post(create_workspace))
        .route("/workspaces/{id}", delete(destroy_workspace))
        .route("/health", get(health))
        .with_state(Arc::clone(&node));
    let shutdown = CancellationToken::new();
    let server = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        })
    };
    tracing::info!(%addr, %endpoint, node = %node.config.node_id, "node agent listening");

    // Tell the control plane we are ready, retrying while it is unreachable.
    let ready_url = format!(
        "{}/api/nodes/{}/ready",
        node.config.api_url, node.config.node_id
    );
    let ready = || async {
        let response = node
            .http
            .post(&ready_url)
            .bearer_auth(&node.config.node_token)
            .json(&NodeReadyRequest {
                endpoint: endpoint.clone(),
            })
            .send()
            .await
            .map_err(|err| (true, err.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err((
            status.is_server_error() || status.as_u16() == 429,
            format!("{status}: {body}"),
        ))
    };
    let retry = ExponentialBuilder::default()
        .with_min_delay(node.config.reporter.retry_initial_interval)
        .with_max_delay(node.config.reporter.retry_max_interval)
        .with_jitter()
        .with_total_delay(Some(node.config.reporter.retry_max_elapsed));
    ready
        .retry(retry)
        .sleep(tokio::time::sleep)
        .when(|(transient, _)| *transient)
        .await
        .map_err(|(_, err)| NodeError::Ready(err))?;

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|err| NodeError::Http(err.to_string()))?;
    terminate.recv().await;
    tracing::info!("SIGTERM: stopping workspaces and flushing the outbox");
    for (_, running) in node.workspaces.lock().await.drain() {
        running.stop.cancel();
    }
    // Give cancelled sessions a moment to persist what they were streaming.
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    let _ = server.await;
    stop_reporter.cancel();
    let _ = background.await;
    Ok(reporter
        .drain(node.config.reporter.shutdown_flush_deadline)
        .await?)
}
