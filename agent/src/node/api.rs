//! The node API the control plane calls: create and destroy workspaces. Every request
//! carries a control-plane JWT that the node checks with the control plane's public key.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use hangar_protocol::auth::NodeClaims;
use hangar_protocol::tasks::CreateWorkspaceRequest;
use hangar_protocol::{ErrorBody, ErrorCode, NodeId, WorkspaceId, routes};
use jsonwebtoken::{DecodingKey, Validation};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::workspace::{PrepareError, WorkspaceRun, WorkspaceRunner};
use crate::outbox::Delivery;

struct Running {
    stop: CancellationToken,
    dir: PathBuf,
}

/// The node's API state: who may call, and the workspaces it runs.
pub struct NodeApi {
    pub node_id: NodeId,
    pub key: DecodingKey,
    pub validation: Validation,
    /// Workspaces live under `{dir}/workspaces/{id}`.
    pub dir: PathBuf,
    pub runner: Arc<WorkspaceRunner>,
    workspaces: Mutex<HashMap<WorkspaceId, Running>>,
}

/// A refusal of the node API, as `{code, message}` with its status.
struct Refusal(StatusCode, ErrorCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Refusal(status, code, message) = self;
        let body = ErrorBody {
            code: code.as_str().into(),
            message,
        };
        (status, Json(body)).into_response()
    }
}

impl From<PrepareError> for Refusal {
    fn from(err: PrepareError) -> Self {
        let code = match err {
            PrepareError::Dir { .. } => ErrorCode::WorkspaceDir,
            PrepareError::Outbox(_) => ErrorCode::Outbox,
        };
        Refusal(StatusCode::INTERNAL_SERVER_ERROR, code, err.to_string())
    }
}

/// A request the control plane signed for this node.
struct FromControlPlane;

impl FromRequestParts<Arc<NodeApi>> for FromControlPlane {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, node: &Arc<NodeApi>) -> Result<Self, Refusal> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Refusal(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::MissingToken,
                    "send 'Authorization: Bearer <jwt>'".into(),
                )
            })?;
        let claims = jsonwebtoken::decode::<NodeClaims>(token, &node.key, &node.validation)
            .map_err(|err| {
                Refusal(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::InvalidToken,
                    format!("the token is not valid: {err}"),
                )
            })?
            .claims;
        if claims.node_id != node.node_id {
            return Err(Refusal(
                StatusCode::FORBIDDEN,
                ErrorCode::NodeMismatch,
                "the token is for another node".into(),
            ));
        }
        Ok(FromControlPlane)
    }
}

impl NodeApi {
    pub fn new(
        node_id: NodeId,
        (key, validation): (DecodingKey, Validation),
        dir: PathBuf,
        runner: Arc<WorkspaceRunner>,
    ) -> Self {
        NodeApi {
            node_id,
            key,
            validation,
            dir,
            runner,
            workspaces: Mutex::new(HashMap::new()),
        }
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(routes::NODE_WORKSPACES, post(create_workspace))
            .route(routes::NODE_WORKSPACE, delete(destroy_workspace))
            .route("/health", get(|| async { "ok" }))
            .with_state(Arc::clone(self))
    }

    fn workspace_dir(&self, id: &WorkspaceId) -> PathBuf {
        self.dir.join("workspaces").join(id.as_str())
    }

    /// Stops every running workspace (SIGTERM).
    pub async fn stop_all(&self) {
        for (_, running) in self.workspaces.lock().await.drain() {
            running.stop.cancel();
        }
    }
}

async fn create_workspace(
    State(node): State<Arc<NodeApi>>,
    _caller: FromControlPlane,
    Json(request): Json<CreateWorkspaceRequest>,
) -> Result<StatusCode, Refusal> {
    let mut workspaces = node.workspaces.lock().await;
    if workspaces.contains_key(&request.workspace_id) {
        return Ok(StatusCode::OK); // a repeated create
    }
    let run = WorkspaceRun {
        delivery: Delivery {
            workspace_id: request.workspace_id.clone(),
            project_id: request.project_id.to_string(),
            session_id: request.session_id.clone(),
            api_url: request.api_url.clone(),
            callback_token: request.callback_token.clone(),
        },
        prompt: request.prompt,
        dir: node.workspace_dir(&request.workspace_id),
    };
    node.runner.prepare(&run).await?;
    let stop = CancellationToken::new();
    workspaces.insert(
        request.workspace_id.clone(),
        Running {
            stop: stop.clone(),
            dir: run.dir.clone(),
        },
    );
    tracing::info!(workspace = %request.workspace_id, session = %request.session_id, "starting a workspace");
    let runner = Arc::clone(&node.runner);
    tokio::spawn(async move { runner.run(run, stop).await });
    Ok(StatusCode::CREATED)
}

async fn destroy_workspace(
    State(node): State<Arc<NodeApi>>,
    _caller: FromControlPlane,
    Path(id): Path<String>,
) -> Result<StatusCode, Refusal> {
    let id = WorkspaceId::parse(id).map_err(|err| {
        Refusal(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidPath,
            err.to_string(),
        )
    })?;
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
        return Err(Refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::WorkspaceDir,
            format!("cannot remove {}: {err}", dir.display()),
        ));
    }
    tracing::info!(workspace = %id, "workspace destroyed");
    Ok(StatusCode::NO_CONTENT)
}
