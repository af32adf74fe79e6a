//! An OpenID Connect issuer as the control plane reads it: its discovery document and its
//! JWKS, fetched on first use and kept for the life of the process. A token naming a key
//! the cached set lacks makes one fetch again (at most one per [`REFETCH_AFTER`], so a
//! stream of made-up `kid`s cannot turn into a stream of fetches): a rotated key is picked up
//! without a restart. The set is also fetched again once it is [`MAX_AGE`] old, so a key the
//! provider withdrew stops verifying.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

/// Fetches for unknown keys are at least this far apart.
pub const REFETCH_AFTER: Duration = Duration::from_secs(2);
/// A key set older than this is fetched again before it is used.
pub const MAX_AGE: Duration = Duration::from_secs(3600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("the identity provider cannot be reached: {0}")]
    Unavailable(String),
    #[error("the identity provider has no key {0:?}")]
    UnknownKey(String),
}

/// What the discovery document says, as far as Hangar and its UI use it.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// One key of the set, ready to verify with.
pub struct VerifyingKey {
    pub key: DecodingKey,
    /// The algorithm the set pins the key to (`alg`), when it does.
    pub algorithm: Option<Algorithm>,
}

#[derive(Default)]
struct Cached {
    discovery: Option<Discovery>,
    keys: HashMap<String, Arc<VerifyingKey>>,
    fetched_at: Option<Instant>,
}

pub struct OidcIssuer {
    http: reqwest::Client,
    issuer: String,
    jwks_url: Option<String>,
    cached: RwLock<Cached>,
    /// Held while fetching, so concurrent misses make one fetch.
    fetching: Mutex<()>,
}

impl OidcIssuer {
    pub fn new(issuer: &str, jwks_url: Option<String>) -> Result<Self, IssuerError> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|err| IssuerError::Unavailable(err.to_string()))?;
        Ok(OidcIssuer {
            http,
            issuer: issuer.to_string(),
            jwks_url,
            cached: RwLock::default(),
            fetching: Mutex::new(()),
        })
    }

    /// The issuer's discovery document (fetched once).
    pub async fn discovery(&self) -> Result<Discovery, IssuerError> {
        if let Some(discovery) = &self.cached.read().await.discovery {
            return Ok(discovery.clone());
        }
        let discovery = self.fetch_discovery().await?;
        self.cached.write().await.discovery = Some(discovery.clone());
        Ok(discovery)
    }

    /// The key `kid` names.
    pub async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, IssuerError> {
        if let Some(key) = self.fresh_key(kid).await {
            return Ok(key);
        }
        let _fetching = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.fresh_key(kid).await {
            return Ok(key);
        }
        let (fetched_at, stale) = {
            let cached = self.cached.read().await;
            let stale = cached.fetched_at.is_none_or(|at| at.elapsed() >= MAX_AGE);
            (cached.fetched_at, stale)
        };
        let recently = fetched_at.is_some_and(|at| at.elapsed() < REFETCH_AFTER);
        if !recently || stale {
            match self.fetch_keys().await {
                Ok(keys) => {
                    let mut cached = self.cached.write().await;
                    cached.keys = keys;
                    cached.fetched_at = Some(Instant::now());
                }
                // A stale set still verifies while the provider cannot be reached.
                Err(err) if fetched_at.is_some() => {
                    tracing::warn!(error = %err, "cannot refresh the identity provider's keys");
                }
                Err(err) => return Err(err),
            }
        }
        self.cached
            .read()
            .await
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| IssuerError::UnknownKey(kid.to_string()))
    }

    async fn fresh_key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        let cached = self.cached.read().await;
        let fresh = cached.fetched_at.is_some_and(|at| at.elapsed() < MAX_AGE);
        fresh.then(|| cached.keys.get(kid).cloned()).flatten()
    }

    async fn fetch_discovery(&self) -> Result<Discovery, IssuerError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = self.get_json(&url).await?;
        if discovery.issuer != self.issuer {
            return Err(IssuerError::Unavailable(format!(
                "the discovery document at {url} names issuer {:?}, not {:?}",
                discovery.issuer, self.issuer
            )));
        }
        Ok(discovery)
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, Arc<VerifyingKey>>, IssuerError> {
        let url = match &self.jwks_url {
            Some(url) => url.clone(),
            None => self.discovery().await?.jwks_uri,
        };
        let set: JwkSet = self.get_json(&url).await?;
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                match verifying_key(jwk) {
                    Some(key) => Some((kid, Arc::new(key))),
                    None => {
                        tracing::debug!(%kid, "a JWKS key Hangar cannot verify with is skipped");
                        None
                    }
                }
            })
            .collect();
        Ok(keys)
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<T, IssuerError> {
        let unavailable = |err: reqwest::Error| IssuerError::Unavailable(format!("{url}: {err}"));
        self.http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }
}

/// A signing key of the set (`use` absent or `sig`), with its pinned algorithm.
fn verifying_key(jwk: &Jwk) -> Option<VerifyingKey> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|usage| *usage != jsonwebtoken::jwk::PublicKeyUse::Signature)
    {
        return None;
    }
    let algorithm = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(_) => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyingKey { key, algorithm })
}
