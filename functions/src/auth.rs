//! Token checks. Callback tokens (workspace -> control plane) and user tokens (browser ->
//! control plane) are both asymmetric JWTs: the control plane holds only public keys to
//! verify them; the private callback key signs tokens when a workspace is created.

use hangar_protocol::auth::{
    CALLBACK_AUDIENCE, CallbackClaims, NODE_CALLBACK_AUDIENCE, NODE_CONTROL_AUDIENCE, NodeClaims,
    USER_AUDIENCE, UserClaims,
};
use hangar_protocol::{NodeId, UserId, WorkspaceId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;

use crate::config::{Config, UserTokenAlgorithm};
use crate::error::ApiError;

/// Seconds of clock skew tolerated on `exp`/`nbf`.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{name} is not a usable {algorithm} public key: {reason}")]
    BadKey {
        name: &'static str,
        algorithm: &'static str,
        reason: String,
    },
}

/// Verifies the two kinds of token.
#[derive(Clone)]
pub struct Authenticator {
    callback_key: DecodingKey,
    callback_validation: Validation,
    node_validation: Validation,
    user_key: DecodingKey,
    user_validation: Validation,
}

impl Authenticator {
    pub fn from_config(config: &Config) -> Result<Self, KeyError> {
        let callback_key = DecodingKey::from_ed_pem(config.callback_public_key_pem.as_bytes())
            .map_err(|err| KeyError::BadKey {
                name: "HANGAR_CALLBACK_PUBLIC_KEY",
                algorithm: "Ed25519",
                reason: err.to_string(),
            })?;
        let (user_key, user_algorithm) = match config.user_token_algorithm {
            UserTokenAlgorithm::EdDsa => (
                DecodingKey::from_ed_pem(config.user_public_key_pem.as_bytes()),
                Algorithm::EdDSA,
            ),
            UserTokenAlgorithm::Es256 => (
                DecodingKey::from_ec_pem(config.user_public_key_pem.as_bytes()),
                Algorithm::ES256,
            ),
        };
        let user_key = user_key.map_err(|err| KeyError::BadKey {
            name: "HANGAR_USER_JWT_PUBLIC_KEY",
            algorithm: if user_algorithm == Algorithm::EdDSA {
                "Ed25519"
            } else {
                "P-256"
            },
            reason: err.to_string(),
        })?;
        Ok(Authenticator {
            callback_key,
            callback_validation: validation(
                Algorithm::EdDSA,
                CALLBACK_AUDIENCE,
                &config.callback_issuer,
            ),
            node_validation: validation(
                Algorithm::EdDSA,
                NODE_CALLBACK_AUDIENCE,
                &config.callback_issuer,
            ),
            user_key,
            user_validation: validation(user_algorithm, USER_AUDIENCE, &config.user_issuer),
        })
    }

    /// Checks a callback token and that it was minted for `workspace`.
    pub fn verify_callback(
        &self,
        authorization: Option<&str>,
        workspace: &WorkspaceId,
    ) -> Result<CallbackClaims, ApiError> {
        let claims: CallbackClaims =
            decode(authorization, &self.callback_key, &self.callback_validation)?;
        if claims.sub != CallbackClaims::subject_for(&claims.workspace_id) {
            return Err(ApiError::unauthorized(
                "invalid_token",
                "the token's subject does not name its workspace",
            ));
        }
        if &claims.workspace_id != workspace {
            return Err(ApiError::forbidden(
                "workspace_mismatch",
                format!(
                    "the token is scoped to workspace {}, not {workspace}",
                    claims.workspace_id
                ),
            ));
        }
        Ok(claims)
    }

    /// Checks a node callback token and that it was minted for `node`.
    pub fn verify_node(
        &self,
        authorization: Option<&str>,
        node: &NodeId,
    ) -> Result<NodeClaims, ApiError> {
        let claims: NodeClaims = decode(authorization, &self.callback_key, &self.node_validation)?;
        if claims.sub != NodeClaims::subject_for(&claims.node_id) {
            return Err(ApiError::unauthorized(
                "invalid_token",
                "the token's subject does not name its node",
            ));
        }
        if &claims.node_id != node {
            return Err(ApiError::forbidden(
                "node_mismatch",
                format!("the token is scoped to node {}, not {node}", claims.node_id),
            ));
        }
        Ok(claims)
    }

    /// Checks a user token; returns the user it names.
    pub fn verify_user(&self, authorization: Option<&str>) -> Result<UserId, ApiError> {
        self.verify_user_token(Some(bearer(authorization)?))
    }

    /// Checks a bare user token (the WebSocket `$connect` gets it in the query string, since
    /// browsers cannot set headers on a WebSocket).
    pub fn verify_user_token(&self, token: Option<&str>) -> Result<UserId, ApiError> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("missing_token", "connect with ?token=<user jwt>")
            })?;
        let claims: UserClaims = decode_token(token, &self.user_key, &self.user_validation)?;
        UserId::parse(claims.sub).map_err(|err| {
            ApiError::unauthorized(
                "invalid_token",
                format!("the token's subject is not a user id: {err}"),
            )
        })
    }
}

fn validation(algorithm: Algorithm, audience: &str, issuer: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.leeway = LEEWAY_SECONDS;
    validation
}

fn decode<T: DeserializeOwned>(
    authorization: Option<&str>,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<T, ApiError> {
    decode_token(bearer(authorization)?, key, validation)
}

/// The token of an `Authorization: Bearer <jwt>` header.
fn bearer(authorization: Option<&str>) -> Result<&str, ApiError> {
    let Some(header) = authorization else {
        return Err(ApiError::unauthorized(
            "missing_token",
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
                "missing_token",
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
        .map_err(|err| match err.kind() {
            ErrorKind::ExpiredSignature => {
                ApiError::unauthorized("token_expired", "the token has expired")
            }
            ErrorKind::InvalidSignature => {
                ApiError::unauthorized("invalid_token", "the token's signature does not verify")
            }
            ErrorKind::InvalidAudience => ApiError::unauthorized(
                "invalid_token",
                "the token was not issued for this use (wrong audience)",
            ),
            ErrorKind::InvalidIssuer => {
                ApiError::unauthorized("invalid_token", "the token's issuer is not trusted")
            }
            ErrorKind::InvalidAlgorithm => ApiError::unauthorized(
                "invalid_token",
                "the token is signed with the wrong algorithm",
            ),
            other => ApiError::unauthorized(
                "invalid_token",
                format!("the token is not valid: {other:?}"),
            ),
        })
}

/// Mints the tokens the control plane hands out: workspace callback tokens, node callback
/// tokens, and the tokens it presents to node agents. One Ed25519 key signs them all; the
/// audience keeps them apart.
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
}

impl TokenIssuer {
    pub fn from_pem(private_key_pem: &str, issuer: impl Into<String>) -> Result<Self, KeyError> {
        let key = EncodingKey::from_ed_pem(private_key_pem.as_bytes()).map_err(|err| {
            KeyError::BadKey {
                name: "HANGAR_CALLBACK_PRIVATE_KEY",
                algorithm: "Ed25519",
                reason: err.to_string(),
            }
        })?;
        Ok(TokenIssuer {
            key,
            issuer: issuer.into(),
        })
    }

    fn sign(&self, claims: &impl serde::Serialize) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &self.key)
            .map_err(|err| ApiError::Internal(format!("cannot sign a token: {err}")))
    }

    /// A workspace callback token valid from `now_seconds` for `ttl_seconds`.
    pub fn mint(
        &self,
        workspace: &WorkspaceId,
        now_seconds: u64,
        ttl_seconds: u64,
    ) -> Result<String, ApiError> {
        self.sign(&CallbackClaims {
            iss: self.issuer.clone(),
            aud: CALLBACK_AUDIENCE.into(),
            sub: CallbackClaims::subject_for(workspace),
            workspace_id: workspace.clone(),
            iat: now_seconds,
            exp: now_seconds + ttl_seconds,
        })
    }

    fn node_token(
        &self,
        node: &NodeId,
        audience: &str,
        now_seconds: u64,
        ttl_seconds: u64,
    ) -> Result<String, ApiError> {
        self.sign(&NodeClaims {
            iss: self.issuer.clone(),
            aud: audience.into(),
            sub: NodeClaims::subject_for(node),
            node_id: node.clone(),
            iat: now_seconds,
            exp: now_seconds + ttl_seconds,
        })
    }

    /// The token a node presents when it calls the control plane.
    pub fn mint_node_callback(
        &self,
        node: &NodeId,
        now_seconds: u64,
        ttl_seconds: u64,
    ) -> Result<String, ApiError> {
        self.node_token(node, NODE_CALLBACK_AUDIENCE, now_seconds, ttl_seconds)
    }

    /// The token the control plane presents to a node's API.
    pub fn mint_node_control(
        &self,
        node: &NodeId,
        now_seconds: u64,
        ttl_seconds: u64,
    ) -> Result<String, ApiError> {
        self.node_token(node, NODE_CONTROL_AUDIENCE, now_seconds, ttl_seconds)
    }
}
