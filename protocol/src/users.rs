//! Who is signed in, how members are added, and what the UI learns of the stack before
//! anyone signs in.

use serde::{Deserialize, Serialize};

use crate::ids::{ApiTokenId, ProjectId, UserId};

/// The longest email address accepted (RFC 5321's path limit).
pub const EMAIL_MAX_BYTES: usize = 254;

/// `POST /api/me`: what the identity provider says of the user who just signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInRequest {
    /// The ID token of the same sign-in as the request's access token.
    pub id_token: String,
}

/// The signed-in user, as recorded at their first sign-in and refreshed at each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeView {
    pub id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Projects an invitation by email made them a member of at this sign-in.
    #[serde(default)]
    pub joined: Vec<ProjectId>,
}

/// `POST /api/projects/{p}/members`: a user by id, or anyone by email (who becomes a member
/// at once when they have signed in before, at their first sign-in otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddMemberRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `GET /api/config`: what the page needs to sign a person in (no token needed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackConfig {
    pub sign_in: SignInConfig,
    /// The WebSocket API (`None`: this origin's `/ws`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws_url: Option<String>,
    /// Whether the page takes a bare access token (`#token=`, pasted): development stacks
    /// only; a deployed stack signs people in through its provider alone.
    #[serde(default)]
    pub dev_token_sign_in: bool,
}

/// An OpenID Connect provider and the UI's public client (authorization code with PKCE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInConfig {
    pub issuer: String,
    pub client_id: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// Where sign-out ends the provider's session too, when it has such a place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    pub scopes: String,
}

/// Personal API tokens start with this, then the token's id, `_`, and its secret.
pub const API_TOKEN_PREFIX: &str = "hgr_";
/// Tokens one user may hold at once.
pub const API_TOKENS_PER_USER: usize = 20;
pub const API_TOKEN_NAME_MAX_CHARS: usize = 100;
/// How long a token lasts: 90 days unless asked, at most a year.
pub const API_TOKEN_DEFAULT_DAYS: u32 = 90;
pub const API_TOKEN_MAX_DAYS: u32 = 365;

/// `POST /api/me/tokens`: a personal API token for scripts and a command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateApiTokenRequest {
    pub name: String,
    /// Whole days; `82.0` is 82, as JSON numbers go.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::numbers::optional_whole"
    )]
    pub expires_in_days: Option<u32>,
}

/// A personal API token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenView {
    pub id: ApiTokenId,
    pub name: String,
    pub created_at: u64,
    pub expires_at: u64,
}

/// The answer to creating a token: the token itself, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub view: ApiTokenView,
    pub token: String,
}

/// An email address as members are matched by it: trimmed, lower case, one `@` between a
/// non-empty local part and a domain with a dot, no spaces, at most [`EMAIL_MAX_BYTES`].
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c))
        && email.len() <= EMAIL_MAX_BYTES;
    plausible.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_days_are_whole_numbers_however_json_writes_them() {
        let read = |body: &str| serde_json::from_str::<CreateApiTokenRequest>(body);
        let days = |body: &str| read(body).expect("read").expires_in_days;
        assert_eq!(days(r#"{"name":"a","expiresInDays":82.0}"#), Some(82));
        assert_eq!(days(r#"{"name":"a","expiresInDays":7}"#), Some(7));
        assert_eq!(days(r#"{"name":"a","expiresInDays":null}"#), None);
        assert_eq!(days(r#"{"name":"a"}"#), None);
        assert!(read(r#"{"name":"a","expiresInDays":1.5}"#).is_err());
        assert!(read(r#"{"name":"a","expiresInDays":-3}"#).is_err());
    }

    #[test]
    fn emails_are_normalized_and_checked_at_their_edges() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").as_deref(),
            Some("ada@example.com")
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "a@b@c.de",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
        let longest = format!("{}@example.com", "a".repeat(EMAIL_MAX_BYTES - 12));
        assert_eq!(longest.len(), EMAIL_MAX_BYTES);
        assert!(normalize_email(&longest).is_some());
        assert!(normalize_email(&format!("a{longest}")).is_none());
    }
}
