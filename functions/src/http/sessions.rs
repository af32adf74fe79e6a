//! The session routes: its history, a member's message to its agent, and answers to the
//! permissions its agent asks for.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use hangar_protocol::permissions::{AnswerPermissionRequest, PermissionView};
use hangar_protocol::{
    ErrorCode, MessagesPage, PermissionId, PostMessageRequest, PostedMessage, ProjectId, SessionId,
};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, JsonBody, PathIds};
use crate::domain::history::{self, PageRequest};
use crate::domain::permissions;

type Answer<T> = Result<Json<T>, ApiError>;

pub(super) async fn list_messages(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, session)): PathIds<(ProjectId, SessionId)>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer<MessagesPage> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::bad_request(ErrorCode::InvalidQuery, rejection.body_text())
    })?;
    let page = PageRequest::from_query(&query)?;
    Ok(Json(
        history::list_messages(state.store.as_ref(), &user, &project, &session, page).await?,
    ))
}

pub(super) async fn post_message(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, session)): PathIds<(ProjectId, SessionId)>,
    JsonBody(request): JsonBody<PostMessageRequest>,
) -> Result<(axum::http::StatusCode, Json<PostedMessage>), ApiError> {
    let posted = state
        .tasks
        .post_message(&user, &project, &session, request)
        .await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(posted)))
}

pub(super) async fn answer_permission(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, session, permission)): PathIds<(ProjectId, SessionId, PermissionId)>,
    JsonBody(request): JsonBody<AnswerPermissionRequest>,
) -> Answer<PermissionView> {
    Ok(Json(
        permissions::answer_permission(
            state.store.as_ref(),
            &state.live,
            &user,
            &project,
            &session,
            &permission,
            request,
        )
        .await?,
    ))
}
