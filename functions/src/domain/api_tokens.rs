//! Personal API tokens: for scripts and a command line, scoped to the user who made them,
//! shown once, kept only as a hash, revocable, and expiring (90 days unless asked, at most
//! a year). A token is `hgr_{id}_{secret}`: the id finds its record in one read, the
//! secret's SHA-256 must match the one kept. Tokens are made and revoked only by a person
//! signed in through the identity provider, never by another token.

use base64::Engine;
use hangar_protocol::time::now_ms;
use hangar_protocol::users::{
    API_TOKEN_DEFAULT_DAYS, API_TOKEN_MAX_DAYS, API_TOKEN_NAME_MAX_CHARS, API_TOKEN_PREFIX,
    API_TOKENS_PER_USER, ApiTokenView, CreateApiTokenRequest, CreatedApiToken,
};
use hangar_protocol::{ApiTokenId, ErrorCode, UserId};
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{Error, Result};
use super::ports::ApiTokenStore;

const DAY_MS: u64 = 86_400_000;

/// A token as kept: its secret only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    pub id: ApiTokenId,
    pub user_id: UserId,
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    pub created_at: u64,
    pub expires_at: u64,
}

impl From<ApiTokenRecord> for ApiTokenView {
    fn from(record: ApiTokenRecord) -> Self {
        ApiTokenView {
            id: record.id,
            name: record.name,
            created_at: record.created_at,
            expires_at: record.expires_at,
        }
    }
}

/// Why a presented API token does not sign anyone in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not one of ours, revoked, or the secret does not match.
    Unknown,
    Expired,
}

fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether a bearer token is a personal API token (not a JWT).
pub fn is_api_token(token: &str) -> bool {
    token.starts_with(API_TOKEN_PREFIX)
}

pub async fn create(
    store: &dyn ApiTokenStore,
    user: &UserId,
    request: CreateApiTokenRequest,
) -> Result<CreatedApiToken> {
    let name = request.name.trim().to_string();
    if name.is_empty() || name.chars().count() > API_TOKEN_NAME_MAX_CHARS {
        return Err(Error::invalid(
            ErrorCode::InvalidTokenName,
            format!("a token's name has 1 to {API_TOKEN_NAME_MAX_CHARS} characters"),
        ));
    }
    let days = request.expires_in_days.unwrap_or(API_TOKEN_DEFAULT_DAYS);
    if !(1..=API_TOKEN_MAX_DAYS).contains(&days) {
        return Err(Error::invalid(
            ErrorCode::InvalidExpiry,
            format!("expiresInDays is 1 to {API_TOKEN_MAX_DAYS}"),
        ));
    }
    let now = now_ms();
    let held = store
        .list_api_tokens(user)
        .await?
        .into_iter()
        .filter(|token| token.expires_at > now)
        .count();
    if held >= API_TOKENS_PER_USER {
        return Err(Error::conflict(
            ErrorCode::TooManyTokens,
            format!("a user holds at most {API_TOKENS_PER_USER} tokens; revoke one first"),
        ));
    }
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let record = ApiTokenRecord {
        id: ApiTokenId::new(),
        user_id: user.clone(),
        name,
        secret_hash: hash(&secret),
        created_at: now,
        expires_at: now + u64::from(days) * DAY_MS,
    };
    store.put_api_token(&record).await?;
    let token = format!("{API_TOKEN_PREFIX}{}_{secret}", record.id);
    Ok(CreatedApiToken {
        view: record.into(),
        token,
    })
}

pub async fn list(store: &dyn ApiTokenStore, user: &UserId) -> Result<Vec<ApiTokenView>> {
    let mut tokens = store.list_api_tokens(user).await?;
    tokens.sort_by_key(|token| std::cmp::Reverse(token.created_at));
    Ok(tokens.into_iter().map(Into::into).collect())
}

pub async fn revoke(store: &dyn ApiTokenStore, user: &UserId, id: &ApiTokenId) -> Result<()> {
    match store.get_api_token(id).await? {
        Some(token) if &token.user_id == user => Ok(store.delete_api_token(id).await?),
        // Another user's token is as unknown as none.
        _ => Err(Error::not_found(
            ErrorCode::ApiTokenNotFound,
            format!("you have no API token {id}"),
        )),
    }
}

/// The user a presented API token signs in, or why it does not.
pub async fn authenticate(
    store: &dyn ApiTokenStore,
    token: &str,
) -> Result<std::result::Result<UserId, Refusal>> {
    let Some((id, secret)) = token
        .strip_prefix(API_TOKEN_PREFIX)
        .and_then(|rest| rest.split_once('_'))
    else {
        return Ok(Err(Refusal::Unknown));
    };
    let Ok(id) = ApiTokenId::parse(id) else {
        return Ok(Err(Refusal::Unknown));
    };
    let Some(record) = store.get_api_token(&id).await? else {
        return Ok(Err(Refusal::Unknown));
    };
    if record.secret_hash != hash(secret) {
        return Ok(Err(Refusal::Unknown));
    }
    if record.expires_at <= now_ms() {
        return Ok(Err(Refusal::Expired));
    }
    Ok(Ok(record.user_id))
}
