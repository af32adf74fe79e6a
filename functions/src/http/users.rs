//! The signed-in user, the record of a sign-in, members, and the page's configuration.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hangar_protocol::tasks::ProjectView;
use hangar_protocol::users::{
    AddMemberRequest, ApiTokenView, CreateApiTokenRequest, CreatedApiToken, MeView, SignInConfig,
    SignInRequest, StackConfig,
};
use hangar_protocol::{ApiTokenId, ErrorCode, IdError, ProjectId};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, JsonBody, PathId, PathIds, SignedInUser};
use crate::adapters::oidc::IssuerError;
use crate::domain::{api_tokens, members, users};

type Answer<T> = Result<Json<T>, ApiError>;

/// The `{member}` of a member's path: a user id, or the email of an invitation.
pub struct MemberRef(pub String);

impl PathId for MemberRef {
    const NAME: &'static str = "member";
    fn parse(value: String) -> Result<Self, IdError> {
        Ok(MemberRef(value))
    }
}

/// What the page needs before anyone signs in: where the provider signs people in, and the
/// WebSocket API. Served without a token.
pub async fn get_config(State(state): State<AppState>) -> Answer<StackConfig> {
    let oidc = &state.site.oidc;
    let discovery = state.auth.issuer().discovery().await.map_err(|err| {
        let reason = match err {
            IssuerError::Unavailable(reason) | IssuerError::UnknownKey(reason) => reason,
        };
        tracing::warn!(%reason, "cannot read the identity provider's discovery document");
        ApiError::unavailable(
            ErrorCode::IdentityProviderUnavailable,
            "the identity provider cannot be reached; try again shortly",
        )
    })?;
    Ok(Json(StackConfig {
        sign_in: SignInConfig {
            issuer: oidc.issuer.clone(),
            client_id: oidc.client_id.clone(),
            authorization_endpoint: discovery.authorization_endpoint,
            token_endpoint: discovery.token_endpoint,
            end_session_endpoint: discovery
                .end_session_endpoint
                .or_else(|| oidc.logout_url.clone()),
            scopes: oidc.scopes.clone(),
        },
        ws_url: state.site.ws_url.clone(),
        dev_token_sign_in: state.site.dev_token_sign_in,
    }))
}

pub async fn get_me(State(state): State<AppState>, AuthUser(user): AuthUser) -> Answer<MeView> {
    Ok(Json(users::me(state.store.as_ref(), &user).await?))
}

/// Records a sign-in: the ID token says who signed in (email, name); invitations waiting on
/// a verified email turn into memberships here.
pub async fn sign_in(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    JsonBody(request): JsonBody<SignInRequest>,
) -> Answer<MeView> {
    let claims = state.auth.verify_id_token(&request.id_token, &user).await?;
    let identity = users::Identity {
        issuer: claims.iss,
        subject: claims.sub,
        email: claims.email,
        email_verified: claims.email_verified.unwrap_or(false),
        name: claims.name.or(claims.preferred_username),
    };
    Ok(Json(
        users::sign_in(state.store.as_ref(), &user, identity).await?,
    ))
}

pub async fn add_member(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds(project): PathIds<ProjectId>,
    JsonBody(request): JsonBody<AddMemberRequest>,
) -> Answer<ProjectView> {
    Ok(Json(
        members::add_member(state.store.as_ref(), &user, &project, request).await?,
    ))
}

pub async fn remove_member(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathIds((project, MemberRef(member))): PathIds<(ProjectId, MemberRef)>,
) -> Answer<ProjectView> {
    Ok(Json(
        members::remove_member(state.store.as_ref(), &user, &project, &member).await?,
    ))
}

/// Makes a personal API token; its secret is in this answer and nowhere else.
pub async fn create_api_token(
    State(state): State<AppState>,
    SignedInUser(user): SignedInUser,
    JsonBody(request): JsonBody<CreateApiTokenRequest>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    let created = api_tokens::create(state.store.as_ref(), &user, request).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn list_api_tokens(
    State(state): State<AppState>,
    SignedInUser(user): SignedInUser,
) -> Answer<Vec<ApiTokenView>> {
    Ok(Json(api_tokens::list(state.store.as_ref(), &user).await?))
}

pub async fn revoke_api_token(
    State(state): State<AppState>,
    SignedInUser(user): SignedInUser,
    PathIds(id): PathIds<ApiTokenId>,
) -> Result<StatusCode, ApiError> {
    api_tokens::revoke(state.store.as_ref(), &user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
