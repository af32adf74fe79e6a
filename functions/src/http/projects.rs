//! Projects: create one, list mine (the archived ones apart), read one, change its settings.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use hangar_protocol::ProjectId;
use hangar_protocol::forge::UpdateProjectRequest;
use hangar_protocol::tasks::{CreateProjectRequest, ProjectView};

use super::AppState;
use super::archive;
use super::error::ApiError;
use super::extract::{AuthUser, JsonBody, PathIds};
use crate::domain::projects as domain_projects;

type Answer<T> = Result<Json<T>, ApiError>;

pub async fn create_project(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    JsonBody(request): JsonBody<CreateProjectRequest>,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    let tasks = &state.tasks;
    let project = domain_projects::create_project(
        state.store.as_ref(),
        &tasks.forges,
        &tasks.repos,
        &user,
        request,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(project)))
}

pub async fn list_projects(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer<Vec<ProjectView>> {
    let archived = archive::archived_query(query)?;
    Ok(Json(
        domain_projects::list_projects(state.store.as_ref(), &user, archived).await?,
    ))
}

pub async fn get_project(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds(project): PathIds<ProjectId>,
) -> Answer<ProjectView> {
    Ok(Json(
        domain_projects::get_project(state.store.as_ref(), &user, &project).await?,
    ))
}

pub async fn update_project(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds(project): PathIds<ProjectId>,
    JsonBody(request): JsonBody<UpdateProjectRequest>,
) -> Answer<ProjectView> {
    let tasks = &state.tasks;
    let store = state.store.as_ref();
    Ok(Json(
        domain_projects::update_project(
            store,
            &tasks.forges,
            &tasks.repos,
            &user,
            &project,
            request,
        )
        .await?,
    ))
}
