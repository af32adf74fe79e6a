//! Idempotent submission: a task submitted with an `Idempotency-Key` (per user and project,
//! kept 24 hours) is made once; a retry with the same key and body gets the same task, the
//! same key with another body is refused.

use hangar_protocol::tasks::CreateTaskRequest;
use hangar_protocol::time::now_ms;
use hangar_protocol::{ErrorCode, ProjectId, TaskId, UserId};

use super::error::{Error, Result};
use super::ports::{FirstUse, IdempotencyStore, IdempotentRequest};

/// How long a key is remembered.
pub const KEY_TTL_SECS: u64 = 24 * 60 * 60;
/// Longest key accepted.
pub const KEY_MAX_LEN: usize = 128;

/// A checked idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// 1 to 128 visible ASCII characters.
    pub fn parse(value: &str) -> Result<Self> {
        let valid =
            (1..=KEY_MAX_LEN).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(Error::invalid(
                ErrorCode::InvalidIdempotencyKey,
                format!("an Idempotency-Key has 1 to {KEY_MAX_LEN} visible ASCII characters"),
            ));
        }
        Ok(IdempotencyKey(value.to_string()))
    }
}

/// A stable digest of what was asked (FNV-1a over its JSON): the same on every deployment,
/// unlike the standard library's hasher.
fn fingerprint(request: &CreateTaskRequest) -> u64 {
    let json = serde_json::to_vec(request).unwrap_or_default();
    json.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The task `request` makes: a new id on the key's first use, the first request's task on
/// a retry.
pub async fn task_for(
    store: &dyn IdempotencyStore,
    (user, project): (&UserId, &ProjectId),
    key: &IdempotencyKey,
    request: &CreateTaskRequest,
) -> Result<Submission> {
    let now_secs = now_ms() / 1000;
    let claim = IdempotentRequest {
        user: user.clone(),
        project: project.clone(),
        key: key.0.clone(),
        fingerprint: fingerprint(request),
        task_id: TaskId::new(),
        expires_at: now_secs + KEY_TTL_SECS,
    };
    match store.claim_key(&claim, now_secs).await? {
        FirstUse::Yes => Ok(Submission::New(claim.task_id)),
        FirstUse::Before {
            fingerprint,
            task_id,
            expires_at,
        } if fingerprint == claim.fingerprint => Ok(Submission::Repeat {
            task_id,
            claimed_at: expires_at.saturating_sub(KEY_TTL_SECS),
        }),
        FirstUse::Before { .. } => Err(Error::unprocessable(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used for another request in the last 24 hours",
        )),
    }
}

/// What a submission makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    /// A new task, with this id.
    New(TaskId),
    /// The task of an earlier submission with the same key and body, claimed at this time
    /// (Unix epoch seconds).
    Repeat { task_id: TaskId, claimed_at: u64 },
}
