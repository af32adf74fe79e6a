//! Archiving and deleting tasks (with their sessions) and projects, and the `archived`
//! filter of the listings.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use hangar_protocol::tasks::{ProjectView, TaskView};
use hangar_protocol::{ErrorCode, ProjectId, TaskId};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, PathIds};
use crate::domain::tasks::archived_param;

type Answer<T> = Result<Json<T>, ApiError>;

/// The query of a listing as a map, or `invalid_query`.
pub fn query_map(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(query)| query)
        .map_err(|rejection| ApiError::bad_request(ErrorCode::InvalidQuery, rejection.body_text()))
}

/// `?archived=true`: the archived ones instead of the others.
pub fn archived_query(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<bool, ApiError> {
    Ok(archived_param(&query_map(query)?)?)
}

pub async fn archive_task(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, task)): PathIds<(ProjectId, TaskId)>,
) -> Answer<TaskView> {
    Ok(Json(
        state
            .tasks
            .archive_task(&user, &project, &task, true)
            .await?,
    ))
}

pub async fn unarchive_task(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, task)): PathIds<(ProjectId, TaskId)>,
) -> Answer<TaskView> {
    Ok(Json(
        state
            .tasks
            .archive_task(&user, &project, &task, false)
            .await?,
    ))
}

pub async fn archive_project(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds(project): PathIds<ProjectId>,
) -> Answer<ProjectView> {
    Ok(Json(
        state.tasks.archive_project(&user, &project, true).await?,
    ))
}

pub async fn unarchive_project(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds(project): PathIds<ProjectId>,
) -> Answer<ProjectView> {
    Ok(Json(
        state.tasks.archive_project(&user, &project, false).await?,
    ))
}

pub async fn delete_task(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, task)): PathIds<(ProjectId, TaskId)>,
) -> Result<StatusCode, ApiError> {
    state.tasks.delete_task(&user, &project, &task).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_project(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds(project): PathIds<ProjectId>,
) -> Result<StatusCode, ApiError> {
    state.tasks.delete_project(&user, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}
