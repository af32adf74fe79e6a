//! The local stack's OpenID Connect provider, so the same sign-in runs locally, in the
//! browser tests and with any OIDC client library as on a deployed stack: a discovery
//! document, a JWKS, a minimal sign-in page for development users, the authorization code
//! flow with PKCE (S256 only; public clients, no secret), refresh tokens, and sign-out. It
//! signs with the development user key (so tokens survive a restart); tests rotate to new
//! keys of any allowed algorithm, which the JWKS then publishes beside the old ones.

mod keys;
mod routes;

pub use self::routes::{dev_users, router};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use hangar_protocol::auth::{ACCESS_TOKEN_USE, ID_TOKEN_USE, UserClaims};
use hangar_protocol::time::now_ms;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, Header};

pub use self::keys::KeyError;
use self::keys::ProviderKey;

/// The client id of the UI the local provider knows.
pub const LOCAL_CLIENT_ID: &str = "hangar-web";
/// Where the provider lives under the stack's origin; the issuer is `{origin}{ISSUER_PATH}`.
pub const ISSUER_PATH: &str = "/oidc";
/// Seconds an authorization code stays good.
const CODE_TTL_SECONDS: u64 = 60;

/// A development user the sign-in page offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevUser {
    /// The token's `sub`: a user id itself (`dev-user`), or any provider subject.
    pub subject: String,
    pub email: String,
    pub name: String,
}

/// A code handed out at sign-in, waiting for its exchange.
struct Grant {
    user: DevUser,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    expires_at: u64,
}

/// Tokens the token endpoint answers with.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

pub struct DevIdentityProvider {
    issuer: String,
    /// Every key the JWKS publishes; the last one signs.
    keys: RwLock<Vec<ProviderKey>>,
    grants: Mutex<HashMap<String, Grant>>,
    refresh_tokens: Mutex<HashMap<String, DevUser>>,
    access_ttl_seconds: AtomicU64,
    /// How many refresh grants were answered (tests check the UI refreshed).
    refreshes: AtomicU64,
}

impl DevIdentityProvider {
    /// A provider at `issuer` signing with the Ed25519 key `signing_pem` (PKCS#8).
    pub fn new(
        issuer: String,
        signing_pem: &str,
        access_ttl_seconds: u64,
    ) -> Result<Self, KeyError> {
        Ok(DevIdentityProvider {
            issuer,
            keys: RwLock::new(vec![ProviderKey::from_ed_pem(signing_pem)?]),
            grants: Mutex::default(),
            refresh_tokens: Mutex::default(),
            access_ttl_seconds: AtomicU64::new(access_ttl_seconds),
            refreshes: AtomicU64::new(0),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs from now on with a new key of `algorithm`; the old keys stay published.
    /// Returns the new key's `kid`.
    pub fn rotate(&self, algorithm: Algorithm) -> Result<String, KeyError> {
        let key = ProviderKey::generate(algorithm)?;
        let kid = key.kid.clone();
        self.keys
            .write()
            .map_err(|_| KeyError("the key list lock is poisoned".into()))?
            .push(key);
        Ok(kid)
    }

    /// Stops publishing the key `kid` (a withdrawn key).
    pub fn withdraw(&self, kid: &str) {
        if let Ok(mut keys) = self.keys.write() {
            keys.retain(|key| key.kid != kid);
        }
    }

    pub fn set_access_ttl(&self, seconds: u64) {
        self.access_ttl_seconds.store(seconds, Ordering::Relaxed);
    }

    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    pub fn jwks(&self) -> JwkSet {
        let keys = self
            .keys
            .read()
            .map(|keys| keys.iter().map(|key| key.jwk.clone()).collect());
        JwkSet {
            keys: keys.unwrap_or_default(),
        }
    }

    /// An access token for `subject`, good for `ttl_seconds`.
    pub fn access_token(&self, subject: &str, ttl_seconds: u64) -> Result<String, KeyError> {
        let now = now_ms() / 1000;
        self.sign(&UserClaims {
            iss: self.issuer.clone(),
            sub: subject.to_string(),
            aud: vec![LOCAL_CLIENT_ID.to_string()],
            client_id: Some(LOCAL_CLIENT_ID.to_string()),
            token_use: Some(ACCESS_TOKEN_USE.to_string()),
            exp: now + ttl_seconds,
            iat: Some(now),
            ..UserClaims::default()
        })
    }

    /// An ID token saying who `user` is.
    pub fn id_token(&self, user: &DevUser, nonce: Option<&str>) -> Result<String, KeyError> {
        let now = now_ms() / 1000;
        let mut claims = serde_json::to_value(UserClaims {
            iss: self.issuer.clone(),
            sub: user.subject.clone(),
            aud: vec![LOCAL_CLIENT_ID.to_string()],
            token_use: Some(ID_TOKEN_USE.to_string()),
            email: Some(user.email.clone()),
            email_verified: Some(true),
            name: Some(user.name.clone()),
            exp: now + self.access_ttl_seconds.load(Ordering::Relaxed),
            iat: Some(now),
            ..UserClaims::default()
        })
        .map_err(|err| KeyError(err.to_string()))?;
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        self.sign(&claims)
    }

    /// Signs any claims with the current key (tests make tokens that are wrong on purpose).
    pub fn sign(&self, claims: &impl serde::Serialize) -> Result<String, KeyError> {
        let keys = self
            .keys
            .read()
            .map_err(|_| KeyError("the key list lock is poisoned".into()))?;
        let key = keys
            .last()
            .ok_or_else(|| KeyError("no signing key".into()))?;
        let mut header = Header::new(key.algorithm);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|err| KeyError(err.to_string()))
    }

    /// The tokens of a fresh sign-in (or a refresh) of `user`.
    fn tokens(
        &self,
        user: &DevUser,
        nonce: Option<&str>,
        refresh_token: Option<String>,
    ) -> Result<TokenResponse, KeyError> {
        let ttl = self.access_ttl_seconds.load(Ordering::Relaxed);
        let refresh_token = refresh_token.unwrap_or_else(random_token);
        if let Ok(mut refresh_tokens) = self.refresh_tokens.lock() {
            refresh_tokens.insert(refresh_token.clone(), user.clone());
        }
        Ok(TokenResponse {
            access_token: self.access_token(&user.subject, ttl)?,
            id_token: self.id_token(user, nonce)?,
            refresh_token,
            token_type: "Bearer".into(),
            expires_in: ttl,
        })
    }

    fn grant(
        &self,
        user: DevUser,
        redirect_uri: String,
        challenge: String,
        nonce: Option<String>,
    ) -> String {
        let code = random_token();
        if let Ok(mut grants) = self.grants.lock() {
            let now = now_ms() / 1000;
            grants.retain(|_, grant| grant.expires_at > now);
            grants.insert(
                code.clone(),
                Grant {
                    user,
                    redirect_uri,
                    challenge,
                    nonce,
                    expires_at: now + CODE_TTL_SECONDS,
                },
            );
        }
        code
    }
}

/// 32 random bytes, base64url: codes and refresh tokens.
fn random_token() -> String {
    use base64::Engine;
    use rand_core::RngCore;
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
