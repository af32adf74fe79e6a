//! User tokens, checked as OpenID Connect says: the header's `alg` among those allowed and
//! its `kid` in the issuer's JWKS, the signature, `iss`, `aud` (or Cognito's `client_id`),
//! `exp`, `nbf`, and `token_use` where the provider sets it. HTTP requests and WebSocket
//! connections come through here alike.

use std::sync::Arc;

use base64::Engine;
use hangar_protocol::ErrorCode;
use hangar_protocol::auth::UserClaims;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::error::ApiError;
use crate::adapters::oidc::{IssuerError, OidcIssuer};
use crate::config::{OidcConfig, TokenAlgorithm};

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

/// Which kind of token a check expects: an API call carries an access token, the sign-in
/// record an ID token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    Access,
    Id,
}

impl TokenUse {
    fn claim(self) -> &'static str {
        match self {
            TokenUse::Access => hangar_protocol::auth::ACCESS_TOKEN_USE,
            TokenUse::Id => hangar_protocol::auth::ID_TOKEN_USE,
        }
    }
}

pub struct UserTokens {
    issuer: Arc<OidcIssuer>,
    issuer_url: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
}

/// The part of a JWT header read before anything is verified.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

impl UserTokens {
    pub fn new(config: &OidcConfig, issuer: Arc<OidcIssuer>) -> Self {
        UserTokens {
            issuer,
            issuer_url: config.issuer.clone(),
            audiences: config.audiences.clone(),
            algorithms: config
                .algorithms
                .iter()
                .map(|algorithm| match algorithm {
                    TokenAlgorithm::Rs256 => Algorithm::RS256,
                    TokenAlgorithm::Es256 => Algorithm::ES256,
                    TokenAlgorithm::EdDsa => Algorithm::EdDSA,
                })
                .collect(),
        }
    }

    pub fn issuer(&self) -> &OidcIssuer {
        &self.issuer
    }

    /// Checks `token` in full and returns its claims.
    pub async fn verify(&self, token: &str, expected: TokenUse) -> Result<UserClaims, ApiError> {
        let header = raw_header(token)?;
        let algorithm = self.allowed(&header.alg)?;
        let kid = header.kid.ok_or_else(|| {
            invalid(
                ErrorCode::InvalidToken,
                "the token's header names no key (kid)",
            )
        })?;
        let key = self.issuer.key(&kid).await.map_err(|err| match err {
            IssuerError::UnknownKey(_) => invalid(
                ErrorCode::UnknownSigningKey,
                format!("the token is signed by key {kid:?}, which the identity provider does not publish"),
            ),
            IssuerError::Unavailable(reason) => {
                tracing::warn!(%reason, "cannot fetch the identity provider's keys");
                ApiError::unavailable(
                    ErrorCode::IdentityProviderUnavailable,
                    "the identity provider's keys cannot be fetched; try again shortly",
                )
            }
        })?;
        if key.algorithm.is_some_and(|pinned| pinned != algorithm) {
            return Err(invalid(
                ErrorCode::AlgorithmNotAllowed,
                format!("key {kid:?} is not used with {}", header.alg),
            ));
        }
        let mut validation = Validation::new(algorithm);
        // The audience is checked below: Cognito's access tokens name it in `client_id`.
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer_url]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let claims = jsonwebtoken::decode::<UserClaims>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(refusal)?;
        let names_us = claims.aud.iter().any(|aud| self.audiences.contains(aud))
            || claims
                .client_id
                .as_ref()
                .is_some_and(|client| self.audiences.contains(client));
        if !names_us {
            return Err(invalid(
                ErrorCode::WrongAudience,
                "the token was issued for another client (aud / client_id)",
            ));
        }
        if let Some(token_use) = &claims.token_use
            && token_use != expected.claim()
        {
            return Err(invalid(
                ErrorCode::WrongTokenUse,
                format!(
                    "an {} token is expected here, not {token_use:?}",
                    expected.claim()
                ),
            ));
        }
        Ok(claims)
    }

    fn allowed(&self, alg: &str) -> Result<Algorithm, ApiError> {
        let refused = || {
            let allowed: Vec<String> = self.algorithms.iter().map(|a| format!("{a:?}")).collect();
            invalid(
                ErrorCode::AlgorithmNotAllowed,
                if alg.eq_ignore_ascii_case("none") {
                    "unsigned tokens (alg: none) are refused".to_string()
                } else {
                    format!(
                        "alg {alg:?} is not allowed; allowed: {}",
                        allowed.join(", ")
                    )
                },
            )
        };
        let algorithm: Algorithm = alg.parse().map_err(|_| refused())?;
        if self.algorithms.contains(&algorithm) {
            Ok(algorithm)
        } else {
            Err(refused())
        }
    }
}

fn raw_header(token: &str) -> Result<RawHeader, ApiError> {
    let not_a_jwt = || invalid(ErrorCode::InvalidToken, "the token is not a JWT");
    let header = token.split('.').next().ok_or_else(not_a_jwt)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .map_err(|_| not_a_jwt())?;
    serde_json::from_slice(&json).map_err(|_| not_a_jwt())
}

fn invalid(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::unauthorized(code, message)
}

fn refusal(err: jsonwebtoken::errors::Error) -> ApiError {
    let (code, message) = match err.kind() {
        ErrorKind::ExpiredSignature => (ErrorCode::TokenExpired, "the token has expired".into()),
        ErrorKind::ImmatureSignature => (
            ErrorCode::TokenNotYetValid,
            "the token is not valid yet (nbf)".into(),
        ),
        ErrorKind::InvalidSignature => (
            ErrorCode::InvalidToken,
            "the token's signature does not verify".into(),
        ),
        ErrorKind::InvalidIssuer => (
            ErrorCode::WrongIssuer,
            "the token's issuer is not the one this stack trusts".into(),
        ),
        ErrorKind::InvalidAlgorithm => (
            ErrorCode::AlgorithmNotAllowed,
            "the token is signed with another algorithm than its key's".into(),
        ),
        ErrorKind::MissingRequiredClaim(claim) => (
            ErrorCode::InvalidToken,
            format!("the token has no {claim:?} claim"),
        ),
        other => (
            ErrorCode::InvalidToken,
            format!("the token is not valid: {other:?}"),
        ),
    };
    invalid(code, message)
}
