//! The HTTP API's route table: each entry names the Lambda that serves it in production,
//! its method and path, and mounts its handler. The local stack mounts every entry, each
//! Lambda its own, and the template and OpenAPI tests read the same table.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{MethodFilter, MethodRouter, on};
use hangar_protocol::tasks::{
    CreateTaskRequest, SessionView, TaskPage, TaskView, UpdateTaskRequest,
};
use hangar_protocol::{ProjectId, TaskId, routes};

use super::AppState;
use super::callbacks::{
    ingest_messages, node_assignments, node_ready, workspace_agent_secrets, workspace_draft,
    workspace_git_credential, workspace_started, workspace_status,
};
use super::error::ApiError;
use super::extract::{AuthUser, IdempotencyHeader, JsonBody, PathIds};
use super::sessions::{answer_permission, list_messages, post_message};
use super::{archive, projects, users};
use crate::domain::tasks::TaskPageRequest;
use crate::lambda::catalog::{
    CREDENTIALS, FINISH, NODE_READS, Need, READ, RECORD, RECORD_AND_PUSH, RECORD_SETTINGS,
    TASK_STEPS,
};

/// One HTTP route and the Lambda (binary in `src/bin/`) that serves it in production.
#[derive(Clone, Copy)]
pub struct Route {
    pub lambda: &'static str,
    pub method: &'static str,
    /// API Gateway path syntax, which axum 0.8 shares.
    pub path: &'static str,
    /// What its Lambda needs beyond reading the table (see `lambda::catalog`).
    pub needs: &'static [Need],
    mount: fn(MethodFilter) -> MethodRouter<AppState>,
}

impl Route {
    /// The handler, mounted for the route's method.
    pub fn method_router(&self) -> Result<MethodRouter<AppState>, String> {
        let method = axum::http::Method::from_bytes(self.method.as_bytes())
            .map_err(|err| format!("{}: {err}", self.lambda))?;
        let filter =
            MethodFilter::try_from(method).map_err(|err| format!("{}: {err}", self.lambda))?;
        Ok((self.mount)(filter))
    }
}

const fn route(
    lambda: &'static str,
    (method, path): (&'static str, &'static str),
    needs: &'static [Need],
    mount: fn(MethodFilter) -> MethodRouter<AppState>,
) -> Route {
    Route {
        lambda,
        method,
        path,
        needs,
        mount,
    }
}

pub const ROUTES: &[Route] = &[
    route(
        "create-project",
        ("POST", routes::PROJECTS),
        RECORD_SETTINGS,
        |m| on(m, projects::create_project),
    ),
    route("list-projects", ("GET", routes::PROJECTS), READ, |m| {
        on(m, projects::list_projects)
    }),
    route("get-project", ("GET", routes::PROJECT), READ, |m| {
        on(m, projects::get_project)
    }),
    route(
        "update-project",
        ("PATCH", routes::PROJECT),
        RECORD_SETTINGS,
        |m| on(m, projects::update_project),
    ),
    route("add-member", ("POST", routes::MEMBERS), RECORD, |m| {
        on(m, users::add_member)
    }),
    route("remove-member", ("DELETE", routes::MEMBER), RECORD, |m| {
        on(m, users::remove_member)
    }),
    route("get-me", ("GET", routes::ME), READ, |m| {
        on(m, users::get_me)
    }),
    route("sign-in", ("POST", routes::ME), RECORD, |m| {
        on(m, users::sign_in)
    }),
    route("get-config", ("GET", routes::CONFIG), READ, |m| {
        on(m, users::get_config)
    }),
    route(
        "create-api-token",
        ("POST", routes::API_TOKENS),
        RECORD,
        |m| on(m, users::create_api_token),
    ),
    route("list-api-tokens", ("GET", routes::API_TOKENS), READ, |m| {
        on(m, users::list_api_tokens)
    }),
    route(
        "revoke-api-token",
        ("DELETE", routes::API_TOKEN),
        RECORD,
        |m| on(m, users::revoke_api_token),
    ),
    route("create-task", ("POST", routes::TASKS), TASK_STEPS, |m| {
        on(m, create_task)
    }),
    route("list-tasks", ("GET", routes::TASKS), READ, |m| {
        on(m, list_tasks)
    }),
    route("get-task", ("GET", routes::TASK), READ, |m| on(m, get_task)),
    route("edit-task", ("PATCH", routes::TASK), RECORD_AND_PUSH, |m| {
        on(m, edit_task)
    }),
    route("run-task", ("POST", routes::TASK_RUN), TASK_STEPS, |m| {
        on(m, run_task)
    }),
    route(
        "retry-task",
        ("POST", routes::TASK_RETRY),
        TASK_STEPS,
        |m| on(m, retry_task),
    ),
    route(
        "discard-task",
        ("POST", routes::TASK_DISCARD),
        TASK_STEPS,
        |m| on(m, discard_task),
    ),
    route(
        "archive-task",
        ("POST", routes::TASK_ARCHIVE),
        RECORD,
        |m| on(m, archive::archive_task),
    ),
    route(
        "unarchive-task",
        ("POST", routes::TASK_UNARCHIVE),
        RECORD,
        |m| on(m, archive::unarchive_task),
    ),
    route("delete-task", ("DELETE", routes::TASK), TASK_STEPS, |m| {
        on(m, archive::delete_task)
    }),
    route("delete-project", ("DELETE", routes::PROJECT), RECORD, |m| {
        on(m, archive::delete_project)
    }),
    route(
        "archive-project",
        ("POST", routes::PROJECT_ARCHIVE),
        RECORD,
        |m| on(m, archive::archive_project),
    ),
    route(
        "unarchive-project",
        ("POST", routes::PROJECT_UNARCHIVE),
        RECORD,
        |m| on(m, archive::unarchive_project),
    ),
    route(
        "stop-task",
        ("POST", routes::TASK_STOP),
        RECORD_AND_PUSH,
        |m| on(m, stop_task),
    ),
    route(
        "cancel-task",
        ("POST", routes::TASK_CANCEL),
        TASK_STEPS,
        |m| on(m, cancel_task),
    ),
    route("list-sessions", ("GET", routes::SESSIONS), READ, |m| {
        on(m, list_sessions)
    }),
    route(
        "list-messages",
        ("GET", routes::SESSION_MESSAGES),
        READ,
        |m| on(m, list_messages),
    ),
    route(
        "post-message",
        ("POST", routes::SESSION_MESSAGES),
        TASK_STEPS,
        |m| on(m, post_message),
    ),
    route(
        "answer-permission",
        ("POST", routes::SESSION_PERMISSION),
        RECORD_AND_PUSH,
        |m| on(m, answer_permission),
    ),
    route(
        "ingest-messages",
        ("POST", routes::WORKSPACE_MESSAGES),
        RECORD_AND_PUSH,
        |m| on(m, ingest_messages),
    ),
    route(
        "workspace-draft",
        ("POST", routes::WORKSPACE_DRAFTS),
        RECORD_AND_PUSH,
        |m| on(m, workspace_draft),
    ),
    route(
        "workspace-started",
        ("POST", routes::WORKSPACE_STARTED),
        RECORD_AND_PUSH,
        |m| on(m, workspace_started),
    ),
    route(
        "workspace-status",
        ("POST", routes::WORKSPACE_STATUS),
        FINISH,
        |m| on(m, workspace_status),
    ),
    route(
        "workspace-git-credential",
        ("POST", routes::WORKSPACE_GIT_CREDENTIAL),
        CREDENTIALS,
        |m| on(m, workspace_git_credential),
    ),
    route(
        "workspace-agent-secrets",
        ("POST", routes::WORKSPACE_AGENT_SECRETS),
        CREDENTIALS,
        |m| on(m, workspace_agent_secrets),
    ),
    route(
        "node-ready",
        ("POST", routes::NODE_READY),
        TASK_STEPS,
        |m| on(m, node_ready),
    ),
    route(
        "node-assignments",
        ("GET", routes::NODE_ASSIGNMENTS),
        NODE_READS,
        |m| on(m, node_assignments),
    ),
];

type Answer<T> = Result<Json<T>, ApiError>;

/// Says whether a `POST /tasks` answer is a replay of an earlier submission's.
const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

async fn create_task(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds(project): PathIds<ProjectId>,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(request): JsonBody<CreateTaskRequest>,
) -> Result<
    (
        StatusCode,
        [(&'static str, &'static str); 1],
        Json<TaskView>,
    ),
    ApiError,
> {
    let submitted = state
        .tasks
        .create_task(&user, &project, request, key.as_ref())
        .await?;
    // A replay answers as the first submission did, and says it is one.
    let replayed = if submitted.replayed { "true" } else { "false" };
    Ok((
        StatusCode::CREATED,
        [(IDEMPOTENT_REPLAYED, replayed)],
        Json(submitted.task),
    ))
}

async fn list_tasks(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds(project): PathIds<ProjectId>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer<TaskPage> {
    let page = TaskPageRequest::from_query(&archive::query_map(query)?)?;
    Ok(Json(state.tasks.list_tasks(&user, &project, page).await?))
}

async fn get_task(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, task)): PathIds<(ProjectId, TaskId)>,
) -> Answer<TaskView> {
    Ok(Json(state.tasks.get_task(&user, &project, &task).await?))
}

async fn run_task(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, task)): PathIds<(ProjectId, TaskId)>,
) -> Answer<TaskView> {
    Ok(Json(state.tasks.run_task(&user, &project, &task).await?))
}

async fn cancel_task(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, task)): PathIds<(ProjectId, TaskId)>,
) -> Answer<TaskView> {
    Ok(Json(state.tasks.cancel_task(&user, &project, &task).await?))
}

async fn edit_task(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, task)): PathIds<(ProjectId, TaskId)>,
    JsonBody(request): JsonBody<UpdateTaskRequest>,
) -> Answer<TaskView> {
    Ok(Json(
        state
            .tasks
            .edit_task(&user, &project, &task, request)
            .await?,
    ))
}

async fn stop_task(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, task)): PathIds<(ProjectId, TaskId)>,
) -> Answer<TaskView> {
    Ok(Json(state.tasks.stop_turn(&user, &project, &task).await?))
}

async fn retry_task(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, task)): PathIds<(ProjectId, TaskId)>,
) -> Answer<TaskView> {
    Ok(Json(state.tasks.retry_task(&user, &project, &task).await?))
}

async fn discard_task(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, task)): PathIds<(ProjectId, TaskId)>,
) -> Answer<TaskView> {
    Ok(Json(
        state.tasks.discard_task(&user, &project, &task).await?,
    ))
}

async fn list_sessions(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds(project): PathIds<ProjectId>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer<Vec<SessionView>> {
    let archived = archive::archived_query(query)?;
    Ok(Json(
        state.tasks.list_sessions(&user, &project, archived).await?,
    ))
}
