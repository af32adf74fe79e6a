//! The handlers of the routes nodes and workspaces call back on (workspace and node
//! tokens): ingest, start, status, their secrets, readiness and assignments.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hangar_protocol::agent::AgentSecrets;
use hangar_protocol::forge::GitCredential;
use hangar_protocol::node::Assignments;
use hangar_protocol::tasks::{NodeReadyRequest, WorkspaceStatusReport};
use hangar_protocol::{DraftRequest, IngestResponse};

use super::AppState;
use super::error::ApiError;
use super::extract::{BatchBody, JsonBody, NodeCaller, WorkspaceCaller};
use crate::domain::ingest;

type Answer<T> = Result<Json<T>, ApiError>;

pub(super) async fn ingest_messages(
    State(state): State<AppState>,
    WorkspaceCaller(workspace): WorkspaceCaller,
    BatchBody(body): BatchBody,
) -> Answer<IngestResponse> {
    let grace_ms = state.tasks.timeouts.workspace_grace_ms;
    let ingested = ingest::ingest(
        state.store.as_ref(),
        &state.live,
        &workspace,
        &body,
        grace_ms,
    )
    .await?;
    Ok(Json(ingested))
}

pub(super) async fn workspace_draft(
    State(state): State<AppState>,
    WorkspaceCaller(workspace): WorkspaceCaller,
    JsonBody(request): JsonBody<DraftRequest>,
) -> Result<StatusCode, ApiError> {
    let grace_ms = state.tasks.timeouts.workspace_grace_ms;
    state
        .live
        .draft_posted(&workspace, request, grace_ms)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn workspace_status(
    State(state): State<AppState>,
    WorkspaceCaller(workspace): WorkspaceCaller,
    JsonBody(report): JsonBody<WorkspaceStatusReport>,
) -> Result<StatusCode, ApiError> {
    state.tasks.workspace_finished(&workspace, report).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn workspace_git_credential(
    State(state): State<AppState>,
    WorkspaceCaller(workspace): WorkspaceCaller,
) -> Answer<GitCredential> {
    Ok(Json(state.tasks.git_credential(&workspace).await?))
}

pub(super) async fn workspace_agent_secrets(
    State(state): State<AppState>,
    WorkspaceCaller(workspace): WorkspaceCaller,
) -> Answer<AgentSecrets> {
    Ok(Json(state.tasks.agent_secrets(&workspace).await?))
}

pub(super) async fn node_ready(
    State(state): State<AppState>,
    NodeCaller(node): NodeCaller,
    JsonBody(request): JsonBody<NodeReadyRequest>,
) -> Result<StatusCode, ApiError> {
    state.tasks.node_ready(&node, request.agent_version).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn node_assignments(
    State(state): State<AppState>,
    NodeCaller(node): NodeCaller,
) -> Answer<Assignments> {
    Ok(Json(state.tasks.assignments(&node).await?))
}

pub(super) async fn workspace_started(
    State(state): State<AppState>,
    WorkspaceCaller(workspace): WorkspaceCaller,
) -> Result<StatusCode, ApiError> {
    state.tasks.workspace_started(&workspace).await?;
    Ok(StatusCode::NO_CONTENT)
}
