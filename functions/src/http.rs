//! The HTTP API: one route table, shared by the local stack (all routes in one router), each
//! Lambda (its own route only) and the template/OpenAPI checks.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use hangar_protocol::tasks::{
    AddMemberRequest, CreateProjectRequest, CreateTaskRequest, NodeReadyRequest, ProjectView,
    SessionView, TaskView, WorkspaceStatusReport,
};
use hangar_protocol::{
    IngestResponse, MessagesPage, NodeId, ProjectId, SessionId, TaskId, UserId, WorkspaceId,
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::history::{self, PageRequest};
use crate::ingest;
use crate::projects;
use crate::state::AppState;

/// One HTTP route and the Lambda (binary in `src/bin/`) that serves it in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    pub lambda: &'static str,
    pub method: &'static str,
    /// API Gateway path syntax, which axum 0.8 shares.
    pub path: &'static str,
}

const fn route(lambda: &'static str, method: &'static str, path: &'static str) -> RouteSpec {
    RouteSpec {
        lambda,
        method,
        path,
    }
}

pub const ROUTES: &[RouteSpec] = &[
    route("create-project", "POST", "/api/projects"),
    route("list-projects", "GET", "/api/projects"),
    route("get-project", "GET", "/api/projects/{projectId}"),
    route("add-member", "POST", "/api/projects/{projectId}/members"),
    route("create-task", "POST", "/api/projects/{projectId}/tasks"),
    route("list-tasks", "GET", "/api/projects/{projectId}/tasks"),
    route(
        "get-task",
        "GET",
        "/api/projects/{projectId}/tasks/{taskId}",
    ),
    route(
        "run-task",
        "POST",
        "/api/projects/{projectId}/tasks/{taskId}/run",
    ),
    route(
        "cancel-task",
        "POST",
        "/api/projects/{projectId}/tasks/{taskId}/cancel",
    ),
    route("list-sessions", "GET", "/api/projects/{projectId}/sessions"),
    route(
        "list-messages",
        "GET",
        "/api/projects/{projectId}/sessions/{sessionId}/messages",
    ),
    route(
        "ingest-messages",
        "POST",
        "/api/workspaces/{workspaceId}/messages",
    ),
    route(
        "workspace-status",
        "POST",
        "/api/workspaces/{workspaceId}/status",
    ),
    route("node-ready", "POST", "/api/nodes/{nodeId}/ready"),
];

/// Bodies above this are refused before they are read; batch limits are checked after, with
/// their own codes, so the cap only has to be above `MSG_BATCH_MAX_BYTES`.
const BODY_READ_LIMIT: usize = 1024 * 1024;

fn handler(lambda: &str) -> Option<MethodRouter<AppState>> {
    Some(match lambda {
        "create-project" => post(create_project),
        "list-projects" => get(list_projects),
        "get-project" => get(get_project),
        "add-member" => post(add_member),
        "create-task" => post(create_task),
        "list-tasks" => get(list_tasks),
        "get-task" => get(get_task),
        "run-task" => post(run_task),
        "cancel-task" => post(cancel_task),
        "list-sessions" => get(list_sessions),
        "list-messages" => get(list_messages),
        "ingest-messages" => post(ingest_messages),
        "workspace-status" => post(workspace_status),
        "node-ready" => post(node_ready),
        _ => return None,
    })
}

/// Every route: the local stack.
pub fn router(state: AppState) -> Router {
    build(state, |_| true)
}

/// Only the routes served by one Lambda.
pub fn lambda_router(lambda: &str, state: AppState) -> Router {
    build(state, |route| route.lambda == lambda)
}

fn build(state: AppState, keep: impl Fn(&RouteSpec) -> bool) -> Router {
    // One method router per path, so GET and POST of a path share it and its fallback.
    let mut paths: Vec<(&str, MethodRouter<AppState>)> = Vec::new();
    for route in ROUTES.iter().filter(|route| keep(route)) {
        let Some(method_router) = handler(route.lambda) else {
            continue;
        };
        match paths.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(method_router),
            None => paths.push((route.path, method_router)),
        }
    }
    let mut router = Router::new();
    for (path, method_router) in paths {
        router = router.route(path, method_router.fallback(method_not_allowed));
    }
    router
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_READ_LIMIT))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("route_not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed {
        message: "this route does not accept that method".into(),
    }
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
}

fn path_id<T>(
    value: &str,
    parse: fn(String) -> Result<T, hangar_protocol::IdError>,
) -> Result<T, ApiError> {
    parse(value.to_string()).map_err(|err| ApiError::bad_request("invalid_path", err.to_string()))
}

fn body_bytes(
    body: Result<Bytes, BytesRejection>,
    too_large_code: &'static str,
) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(too_large_code, rejection.body_text())
        } else {
            ApiError::bad_request("unreadable_body", rejection.body_text())
        }
    })
}

/// A JSON body, with the failing field named in the error.
fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body_bytes(body, "body_too_large")?;
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        ApiError::bad_request("invalid_body", format!("{}: {}", err.path(), err.inner()))
    })
}

fn user(state: &AppState, headers: &HeaderMap) -> Result<UserId, ApiError> {
    state.auth.verify_user(authorization(headers))
}

async fn create_project(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    let user = user(&state, &headers)?;
    let request: CreateProjectRequest = json_body(body)?;
    Ok((
        StatusCode::CREATED,
        Json(projects::create_project(&state.runner, &user, request).await?),
    ))
}

async fn list_projects(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<ProjectView>>, ApiError> {
    let user = user(&state, &headers)?;
    Ok(Json(projects::list_projects(&state.runner, &user).await?))
}

async fn get_project(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
) -> Result<Json<ProjectView>, ApiError> {
    let user = user(&state, &headers)?;
    let project = path_id(&project, ProjectId::parse)?;
    Ok(Json(
        projects::get_project(&state.runner, &user, &project).await?,
    ))
}

async fn add_member(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ProjectView>, ApiError> {
    let user = user(&state, &headers)?;
    let project = path_id(&project, ProjectId::parse)?;
    let request: AddMemberRequest = json_body(body)?;
    Ok(Json(
        projects::add_member(&state.runner, &user, &project, request).await?,
    ))
}

async fn create_task(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<TaskView>), ApiError> {
    let user = user(&state, &headers)?;
    let project = path_id(&project, ProjectId::parse)?;
    let request: CreateTaskRequest = json_body(body)?;
    Ok((
        StatusCode::CREATED,
        Json(projects::create_task(&state.runner, &user, &project, request).await?),
    ))
}

async fn list_tasks(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    let user = user(&state, &headers)?;
    let project = path_id(&project, ProjectId::parse)?;
    Ok(Json(
        projects::list_tasks(&state.runner, &user, &project).await?,
    ))
}

fn task_path(project: &str, task: &str) -> Result<(ProjectId, TaskId), ApiError> {
    Ok((
        path_id(project, ProjectId::parse)?,
        path_id(task, TaskId::parse)?,
    ))
}

async fn get_task(
    State(state): State<AppState>,
    Path((project, task)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<TaskView>, ApiError> {
    let user = user(&state, &headers)?;
    let (project, task) = task_path(&project, &task)?;
    Ok(Json(
        projects::get_task(&state.runner, &user, &project, &task).await?,
    ))
}

async fn run_task(
    State(state): State<AppState>,
    Path((project, task)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<TaskView>, ApiError> {
    let user = user(&state, &headers)?;
    let (project, task) = task_path(&project, &task)?;
    Ok(Json(
        projects::run_task(&state.runner, &user, &project, &task).await?,
    ))
}

async fn cancel_task(
    State(state): State<AppState>,
    Path((project, task)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<TaskView>, ApiError> {
    let user = user(&state, &headers)?;
    let (project, task) = task_path(&project, &task)?;
    Ok(Json(
        projects::cancel_task(&state.runner, &user, &project, &task).await?,
    ))
}

async fn list_sessions(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let user = user(&state, &headers)?;
    let project = path_id(&project, ProjectId::parse)?;
    Ok(Json(
        projects::list_sessions(&state.runner, &user, &project).await?,
    ))
}

async fn ingest_messages(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestResponse>, ApiError> {
    let workspace = path_id(&workspace, WorkspaceId::parse)?;
    state
        .auth
        .verify_callback(authorization(&headers), &workspace)?;
    let body = body_bytes(body, "batch_too_large")?;
    Ok(Json(
        ingest::ingest(state.store.as_ref(), &state.live, &workspace, &body).await?,
    ))
}

async fn workspace_status(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let workspace = path_id(&workspace, WorkspaceId::parse)?;
    state
        .auth
        .verify_callback(authorization(&headers), &workspace)?;
    let report: WorkspaceStatusReport = json_body(body)?;
    state
        .runner
        .workspace_finished(&workspace, report.outcome, report.reason)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn node_ready(
    State(state): State<AppState>,
    Path(node): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let node = path_id(&node, NodeId::parse)?;
    state.auth.verify_node(authorization(&headers), &node)?;
    let request: NodeReadyRequest = json_body(body)?;
    if !(request.endpoint.starts_with("http://") || request.endpoint.starts_with("https://")) {
        return Err(ApiError::bad_request(
            "invalid_endpoint",
            "endpoint must be an http:// or https:// URL",
        ));
    }
    state
        .runner
        .node_ready(&node, request.endpoint.trim_end_matches('/'))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_messages(
    State(state): State<AppState>,
    Path((project, session)): Path<(String, String)>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<MessagesPage>, ApiError> {
    let user = user(&state, &headers)?;
    let project = path_id(&project, ProjectId::parse)?;
    let session = path_id(&session, SessionId::parse)?;
    let Query(query) =
        query.map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    let page = PageRequest::from_query(&query)?;
    Ok(Json(
        history::list_messages(state.store.as_ref(), &user, &project, &session, page).await?,
    ))
}
