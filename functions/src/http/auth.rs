//! Token checks at the boundary. Three kinds of token arrive, all asymmetric JWTs whose
//! audience tells them apart: workspace callback tokens and node callback tokens (minted by
//! the control plane, see [`crate::adapters::tokens`]), checked here with the control plane's
//! public key, and user tokens (issued by the OpenID Connect provider), checked in
//! [`super::user_tokens`] against its JWKS.

use std::fmt::Display;

use std::sync::Arc;

use hangar_protocol::auth::{
    CALLBACK_AUDIENCE, CallbackClaims, NODE_CALLBACK_AUDIENCE, NodeClaims, UserClaims,
};
use hangar_protocol::{ErrorCode, NodeId, UserId, WorkspaceId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::user_tokens::{TokenUse, UserTokens};
use crate::adapters::oidc::OidcIssuer;
use crate::adapters::tokens::KeyError;
use crate::config::Config;

/// Seconds of clock skew tolerated on `exp`/`nbf`.
const LEEWAY_SECONDS: u64 = 30;

pub struct Authenticator {
    callback_key: DecodingKey,
    callback_validation: Validation,
    node_validation: Validation,
    users: UserTokens,
}

impl Authenticator {
    pub fn from_config(config: &Config) -> Result<Self, KeyError> {
        let callback_key = DecodingKey::from_ed_pem(config.callback_public_key_pem.as_bytes())
            .map_err(|err| KeyError {
                name: "HANGAR_CALLBACK_PUBLIC_KEY",
                algorithm: "Ed25519",
                reason: err.to_string(),
            })?;
        let issuer =
            OidcIssuer::new(&config.oidc.issuer, config.oidc.jwks_url.clone()).map_err(|err| {
                KeyError {
                    name: "HANGAR_OIDC_ISSUER",
                    algorithm: "JWKS",
                    reason: err.to_string(),
                }
            })?;
        let callback_issuer = &config.callback_issuer;
        Ok(Authenticator {
            callback_key,
            callback_validation: validation(Algorithm::EdDSA, CALLBACK_AUDIENCE, callback_issuer),
            node_validation: validation(Algorithm::EdDSA, NODE_CALLBACK_AUDIENCE, callback_issuer),
            users: UserTokens::new(&config.oidc, Arc::new(issuer)),
        })
    }

    /// The identity provider user tokens come from.
    pub fn issuer(&self) -> &OidcIssuer {
        self.users.issuer()
    }

    /// Checks a callback token and that it was minted for `workspace`.
    pub fn verify_callback(
        &self,
        authorization: Option<&str>,
        workspace: &WorkspaceId,
    ) -> Result<CallbackClaims, ApiError> {
        verify_scoped(
            authorization,
            &self.callback_key,
            &self.callback_validation,
            workspace,
        )
    }

    /// Checks a node callback token and that it was minted for `node`.
    pub fn verify_node(
        &self,
        authorization: Option<&str>,
        node: &NodeId,
    ) -> Result<NodeClaims, ApiError> {
        verify_scoped(
            authorization,
            &self.callback_key,
            &self.node_validation,
            node,
        )
    }

    /// Checks the token a WebSocket `$connect` carries: a user token opens a viewer's
    /// connection, a node token a node's socket. The token's audience tells which.
    pub async fn verify_connect(&self, token: Option<&str>) -> Result<Peer, ApiError> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized(ErrorCode::MissingToken, "connect with ?token=<jwt>")
            })?;
        if audience(token).as_deref() == Some(NODE_CALLBACK_AUDIENCE) {
            let claims: NodeClaims =
                decode_token(token, &self.callback_key, &self.node_validation)?;
            if claims.sub != NodeClaims::subject_for(&claims.node_id) {
                return Err(ApiError::unauthorized(
                    ErrorCode::InvalidToken,
                    "the token's subject does not name its node",
                ));
            }
            return Ok(Peer::Node(claims.node_id));
        }
        self.verify_user_token(token).await.map(Peer::User)
    }

    /// Checks a bare user access token (the WebSocket `$connect` gets it in the query string,
    /// since browsers cannot set headers on a WebSocket).
    pub async fn verify_user_token(&self, token: &str) -> Result<UserId, ApiError> {
        let claims = self.users.verify(token, TokenUse::Access).await?;
        user_of_claims(&claims)
    }

    /// Checks an ID token (what the provider says of who signed in) and that it names `user`.
    pub async fn verify_id_token(
        &self,
        token: &str,
        user: &UserId,
    ) -> Result<UserClaims, ApiError> {
        let claims = self.users.verify(token, TokenUse::Id).await?;
        if &user_of_claims(&claims)? != user {
            return Err(ApiError::forbidden(
                ErrorCode::InvalidToken,
                "the ID token names another user than the access token",
            ));
        }
        Ok(claims)
    }
}

fn user_of_claims(claims: &UserClaims) -> Result<UserId, ApiError> {
    user_of_subject(&claims.iss, &claims.sub).ok_or_else(|| {
        ApiError::unauthorized(ErrorCode::InvalidToken, "the token's subject is empty")
    })
}

/// The user an identity provider's subject names. A subject that is an id already is itself
/// (`dev-user`, a Cognito UUID, Google's digits); any other (`auth0|abc`, `github|42`) is `u`
/// and 40 hex digits of SHA-256 over its issuer and itself: the same on every sign-in, and
/// never the same for two subjects.
pub fn user_of_subject(issuer: &str, subject: &str) -> Option<UserId> {
    if subject.is_empty() {
        return None;
    }
    if let Ok(user) = UserId::parse(subject) {
        return Some(user);
    }
    let digest = Sha256::new()
        .chain_update(issuer.as_bytes())
        .chain_update([0u8])
        .chain_update(subject.as_bytes())
        .finalize();
    let hex: String = digest
        .iter()
        .take(20)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    UserId::parse(format!("u{hex}")).ok()
}

/// Who opens a WebSocket connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A browser on a project page.
    User(UserId),
    /// A node's agent, for its commands.
    Node(NodeId),
}

/// The `aud` a token claims, read without verifying it: only to pick the key and rules that
/// then verify it in full.
fn audience(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    claims.get("aud")?.as_str().map(String::from)
}

/// Claims of a token scoped to one workspace or node.
trait Scoped: DeserializeOwned {
    type Scope: PartialEq + Display;
    /// What the scope is called in messages.
    const KIND: &'static str;
    /// The code of a token used for another scope than the request's.
    const MISMATCH: ErrorCode;
    fn subject(&self) -> &str;
    fn scope(&self) -> &Self::Scope;
    fn subject_for(scope: &Self::Scope) -> String;
}

impl Scoped for CallbackClaims {
    type Scope = WorkspaceId;
    const KIND: &'static str = "workspace";
    const MISMATCH: ErrorCode = ErrorCode::WorkspaceMismatch;
    fn subject(&self) -> &str {
        &self.sub
    }
    fn scope(&self) -> &WorkspaceId {
        &self.workspace_id
    }
    fn subject_for(scope: &WorkspaceId) -> String {
        CallbackClaims::subject_for(scope)
    }
}

impl Scoped for NodeClaims {
    type Scope = NodeId;
    const KIND: &'static str = "node";
    const MISMATCH: ErrorCode = ErrorCode::NodeMismatch;
    fn subject(&self) -> &str {
        &self.sub
    }
    fn scope(&self) -> &NodeId {
        &self.node_id
    }
    fn subject_for(scope: &NodeId) -> String {
        NodeClaims::subject_for(scope)
    }
}

/// Checks a scoped token: its signature and claims, that its subject names its scope, and
/// that the scope is the one the request is about.
fn verify_scoped<C: Scoped>(
    authorization: Option<&str>,
    key: &DecodingKey,
    validation: &Validation,
    requested: &C::Scope,
) -> Result<C, ApiError> {
    let claims: C = decode_token(bearer(authorization)?, key, validation)?;
    if claims.subject() != C::subject_for(claims.scope()) {
        return Err(ApiError::unauthorized(
            ErrorCode::InvalidToken,
            format!("the token's subject does not name its {}", C::KIND),
        ));
    }
    if claims.scope() != requested {
        return Err(ApiError::forbidden(
            C::MISMATCH,
            format!(
                "the token is scoped to {} {}, not {requested}",
                C::KIND,
                claims.scope()
            ),
        ));
    }
    Ok(claims)
}

fn validation(algorithm: Algorithm, audience: &str, issuer: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    // A token not valid yet is refused too (within the same leeway).
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECONDS;
    validation
}

/// The token of an `Authorization: Bearer <jwt>` header.
pub fn bearer(authorization: Option<&str>) -> Result<&str, ApiError> {
    let Some(header) = authorization else {
        return Err(ApiError::unauthorized(
            ErrorCode::MissingToken,
            "send the token as 'Authorization: Bearer <jwt>'",
        ));
    };
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                ErrorCode::MissingToken,
                "the Authorization header must be 'Bearer <jwt>'",
            )
        })
}

fn decode_token<T: DeserializeOwned>(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<T, ApiError> {
    jsonwebtoken::decode::<T>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|err| {
            let (code, message) = match err.kind() {
                ErrorKind::ExpiredSignature => {
                    (ErrorCode::TokenExpired, "the token has expired".into())
                }
                ErrorKind::ImmatureSignature => (
                    ErrorCode::TokenNotYetValid,
                    "the token is not valid yet (nbf)".into(),
                ),
                ErrorKind::InvalidSignature => (
                    ErrorCode::InvalidToken,
                    "the token's signature does not verify".into(),
                ),
                ErrorKind::InvalidAudience => (
                    ErrorCode::InvalidToken,
                    "the token was not issued for this use (wrong audience)".into(),
                ),
                ErrorKind::InvalidIssuer => (
                    ErrorCode::InvalidToken,
                    "the token's issuer is not trusted".into(),
                ),
                ErrorKind::InvalidAlgorithm => (
                    ErrorCode::InvalidToken,
                    "the token is signed with the wrong algorithm".into(),
                ),
                other => (
                    ErrorCode::InvalidToken,
                    format!("the token is not valid: {other:?}"),
                ),
            };
            ApiError::unauthorized(code, message)
        })
}
