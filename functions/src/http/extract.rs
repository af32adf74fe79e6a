//! Typed extractors: a handler names what it needs (the signed-in user, the ids in its path,
//! a verified caller, a JSON body) and gets it checked, or the request is refused with an
//! [`ApiError`] before the handler runs.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use hangar_protocol::{
    ApiTokenId, ErrorCode, IdError, NodeId, PermissionId, ProjectId, SessionId, TaskId, UserId,
    WorkspaceId,
};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::domain::api_tokens;
use crate::domain::idempotency::IdempotencyKey;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn authorization(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
}

/// The path's parameters by name.
async fn path_params(
    parts: &mut Parts,
    state: &AppState,
) -> Result<Vec<(String, String)>, ApiError> {
    Path::<Vec<(String, String)>>::from_request_parts(parts, state)
        .await
        .map(|Path(params)| params)
        .map_err(|rejection| ApiError::bad_request(ErrorCode::InvalidPath, rejection.body_text()))
}

/// An id that a route's path carries, by its parameter name.
pub trait PathId: Sized {
    const NAME: &'static str;
    fn parse(value: String) -> Result<Self, IdError>;
}

macro_rules! path_id {
    ($($id:ident = $name:literal),+ $(,)?) => {
        $(impl PathId for $id {
            const NAME: &'static str = $name;
            fn parse(value: String) -> Result<Self, IdError> {
                $id::parse(value)
            }
        })+
    };
}

path_id!(
    ProjectId = "projectId",
    TaskId = "taskId",
    SessionId = "sessionId",
    WorkspaceId = "workspaceId",
    NodeId = "nodeId",
    PermissionId = "permissionId",
    ApiTokenId = "tokenId",
);

fn param<T: PathId>(params: &[(String, String)]) -> Result<T, ApiError> {
    let value = params
        .iter()
        .find(|(key, _)| key == T::NAME)
        .map(|(_, value)| value.clone())
        .ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::InvalidPath,
                format!("no {} in the path", T::NAME),
            )
        })?;
    T::parse(value).map_err(|err| ApiError::bad_request(ErrorCode::InvalidPath, err.to_string()))
}

/// Typed ids of the path: `PathIds<ProjectId>`, `PathIds<(ProjectId, TaskId)>`.
pub struct PathIds<T>(pub T);

impl<A: PathId> FromRequestParts<AppState> for PathIds<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = path_params(parts, state).await?;
        Ok(PathIds(param(&params)?))
    }
}

impl<A: PathId, B: PathId> FromRequestParts<AppState> for PathIds<(A, B)> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = path_params(parts, state).await?;
        Ok(PathIds((param(&params)?, param(&params)?)))
    }
}

impl<A: PathId, B: PathId, C: PathId> FromRequestParts<AppState> for PathIds<(A, B, C)> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = path_params(parts, state).await?;
        Ok(PathIds((param(&params)?, param(&params)?, param(&params)?)))
    }
}

/// The user a request is from: an access token of the identity provider, or one of the
/// user's personal API tokens (`Authorization: Bearer <token>`).
pub struct AuthUser(pub UserId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = super::auth::bearer(authorization(parts))?;
        super::user_of_token(state, token).await.map(AuthUser)
    }
}

/// A user signed in through the identity provider, not with an API token: what makes and
/// revokes API tokens.
pub struct SignedInUser(pub UserId);

impl FromRequestParts<AppState> for SignedInUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = super::auth::bearer(authorization(parts))?;
        if api_tokens::is_api_token(token) {
            return Err(ApiError::forbidden(
                ErrorCode::SignInNeeded,
                "API tokens are made and revoked by a signed-in person, not by another token",
            ));
        }
        state.auth.verify_user_token(token).await.map(SignedInUser)
    }
}

/// The request's `Idempotency-Key`, checked, when it has one.
pub struct IdempotencyHeader(pub Option<IdempotencyKey>);

impl FromRequestParts<AppState> for IdempotencyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(IDEMPOTENCY_KEY) else {
            return Ok(IdempotencyHeader(None));
        };
        // A value that is not visible ASCII fails the same check as one too long.
        let key = IdempotencyKey::parse(value.to_str().unwrap_or("\u{0}"))?;
        Ok(IdempotencyHeader(Some(key)))
    }
}

/// The workspace of the path, called by its agent with the workspace's callback token.
pub struct WorkspaceCaller(pub WorkspaceId);

impl FromRequestParts<AppState> for WorkspaceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let PathIds(workspace) = PathIds::<WorkspaceId>::from_request_parts(parts, state).await?;
        state
            .auth
            .verify_callback(authorization(parts), &workspace)?;
        Ok(WorkspaceCaller(workspace))
    }
}

/// The node of the path, called by its agent with the node's token.
pub struct NodeCaller(pub NodeId);

impl FromRequestParts<AppState> for NodeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let PathIds(node) = PathIds::<NodeId>::from_request_parts(parts, state).await?;
        state.auth.verify_node(authorization(parts), &node)?;
        Ok(NodeCaller(node))
    }
}

/// The raw body, refused with `too_large` when it passes the router's read limit.
fn body_bytes(
    body: Result<Bytes, BytesRejection>,
    too_large: ErrorCode,
) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                too_large,
                rejection.body_text(),
            )
        } else {
            ApiError::bad_request(ErrorCode::UnreadableBody, rejection.body_text())
        }
    })
}

/// A JSON body, with the failing field named in the error.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let body = body_bytes(
            Bytes::from_request(request, state).await,
            ErrorCode::BodyTooLarge,
        )?;
        // serde reads a struct from an array too (`[null, null]`); every body is an object.
        if body.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidBody,
                "the body must be a JSON object",
            ));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(&mut deserializer)
            .map(JsonBody)
            .map_err(|err| {
                ApiError::bad_request(
                    ErrorCode::InvalidBody,
                    format!("{}: {}", err.path(), err.inner()),
                )
            })
    }
}

/// An ingest batch's raw body; the domain parses it (its limits have their own codes).
pub struct BatchBody(pub Bytes);

impl FromRequest<AppState> for BatchBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        body_bytes(
            Bytes::from_request(request, state).await,
            ErrorCode::BatchTooLarge,
        )
        .map(BatchBody)
    }
}
