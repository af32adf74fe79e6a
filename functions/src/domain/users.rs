//! The signed-in user: recorded at their first sign-in from what the identity provider says
//! of them (subject, email, name), refreshed at each, and matched then with the invitations
//! waiting on their verified email.

use hangar_protocol::time::now_ms;
use hangar_protocol::users::{MeView, normalize_email};
use hangar_protocol::{ProjectId, UserId};
use serde::{Deserialize, Serialize};

use super::error::Result;
use super::members::accept_invitations;
use super::ports::{Store, UserStore};

/// What the provider's ID token says of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// Only a verified email matches invitations: anyone can type an address at sign-up.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Display names longer than this are cut (a provider's `name` is free text).
const NAME_MAX_CHARS: usize = 120;

pub async fn sign_in(store: &dyn Store, user: &UserId, identity: Identity) -> Result<MeView> {
    let now = now_ms();
    let known = store.get_user(user).await?;
    let email = identity.email.as_deref().and_then(normalize_email);
    let name = identity
        .name
        .map(|name| name.trim().chars().take(NAME_MAX_CHARS).collect::<String>())
        .filter(|name| !name.is_empty());
    let record = UserRecord {
        id: user.clone(),
        issuer: identity.issuer,
        subject: identity.subject,
        email: email.clone(),
        name,
        first_seen_at: known.as_ref().map_or(now, |known| known.first_seen_at),
        last_seen_at: now,
    };
    store.put_user(&record).await?;
    let mut joined = Vec::new();
    if let Some(email) = email.filter(|_| identity.email_verified) {
        store.put_email_owner(&email, user).await?;
        joined = accept_invitations(store, user, &email).await?;
    }
    Ok(MeView {
        id: record.id,
        email: record.email,
        name: record.name,
        joined,
    })
}

/// The user as last recorded (only the id before their first recorded sign-in).
pub async fn me(store: &dyn UserStore, user: &UserId) -> Result<MeView> {
    let known = store.get_user(user).await?;
    Ok(MeView {
        id: user.clone(),
        email: known.as_ref().and_then(|known| known.email.clone()),
        name: known.and_then(|known| known.name),
        joined: Vec::new(),
    })
}

/// A user as the identity provider described them at their latest sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: UserId,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub first_seen_at: u64,
    pub last_seen_at: u64,
}

/// A project's membership waiting for whoever signs in with `email`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub email: String,
    pub project_id: ProjectId,
    pub invited_by: UserId,
    pub invited_at: u64,
}
