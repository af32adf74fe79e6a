//! The HTTP API: one route table, shared by the local stack (all routes in one router), each
//! Lambda (its own route only) and the template/OpenAPI checks.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use hangar_protocol::{IngestResponse, MessagesPage, ProjectId, SessionId, UserId, WorkspaceId};

use crate::error::ApiError;
use crate::history::{self, PageRequest};
use crate::ingest;
use crate::state::AppState;

/// One HTTP route and the Lambda (binary in `src/bin/`) that serves it in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    pub lambda: &'static str,
    pub method: &'static str,
    /// API Gateway path syntax, which axum 0.8 shares.
    pub path: &'static str,
}

pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        lambda: "ingest-messages",
        method: "POST",
        path: "/api/workspaces/{workspaceId}/messages",
    },
    RouteSpec {
        lambda: "list-messages",
        method: "GET",
        path: "/api/projects/{projectId}/sessions/{sessionId}/messages",
    },
];

/// Bodies above this are refused before they are read; batch limits are checked after, with
/// their own codes, so the cap only has to be above `MSG_BATCH_MAX_BYTES`.
const BODY_READ_LIMIT: usize = 1024 * 1024;

fn handler(lambda: &str) -> Option<MethodRouter<AppState>> {
    Some(match lambda {
        "ingest-messages" => post(ingest_messages),
        "list-messages" => get(list_messages),
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
    let mut router = Router::new();
    for route in ROUTES.iter().filter(|route| keep(route)) {
        if let Some(method_router) = handler(route.lambda) {
            router = router.route(route.path, method_router.fallback(method_not_allowed));
        }
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
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("batch_too_large", rejection.body_text())
        } else {
            ApiError::bad_request("unreadable_body", rejection.body_text())
        }
    })?;
    Ok(Json(
        ingest::ingest(state.store.as_ref(), &workspace, &body).await?,
    ))
}

async fn list_messages(
    State(state): State<AppState>,
    Path((project, session)): Path<(String, String)>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Json<MessagesPage>, ApiError> {
    let user: UserId = state.auth.verify_user(authorization(&headers))?;
    let project = path_id(&project, ProjectId::parse)?;
    let session = path_id(&session, SessionId::parse)?;
    let Query(query) =
        query.map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    let page = PageRequest::from_query(&query)?;
    Ok(Json(
        history::list_messages(state.store.as_ref(), &user, &project, &session, page).await?,
    ))
}
