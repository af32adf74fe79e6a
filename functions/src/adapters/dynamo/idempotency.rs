//! Idempotency keys in the table: one conditional put claims a key; a key past its expiry
//! counts as unused even before the table's TTL removes it.

use async_trait::async_trait;
use hangar_protocol::TaskId;
use serde::{Deserialize, Serialize};

use super::DynamoStore;
use super::items::{idempotency_key, n, to_item};
use crate::domain::ports::{FirstUse, IdempotencyStore, IdempotentRequest, Saved, StoreError};

#[derive(Serialize, Deserialize)]
struct KeyRecord {
    fingerprint: u64,
    task_id: TaskId,
    expires_at: u64,
    /// The table's TTL attribute.
    ttl: u64,
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn claim_key(
        &self,
        request: &IdempotentRequest,
        now_secs: u64,
    ) -> Result<FirstUse, StoreError> {
        let key = idempotency_key(&request.user, &request.project, &request.key);
        let record = KeyRecord {
            fingerprint: request.fingerprint,
            task_id: request.task_id.clone(),
            expires_at: request.expires_at,
            ttl: request.expires_at,
        };
        let item = to_item(&record, key.clone(), "idempotency key")?;
        let condition = "attribute_not_exists(pk) OR expires_at <= :now";
        if self
            .put_if(item, condition, vec![(":now", n(now_secs))])
            .await?
            == Saved::Yes
        {
            return Ok(FirstUse::Yes);
        }
        // Keys are never deleted before they expire, so the one that stopped the put is there.
        let earlier: KeyRecord = self
            .get(key, "idempotency key")
            .await?
            .ok_or_else(|| StoreError::Failed("an idempotency key vanished".into()))?;
        Ok(FirstUse::Before {
            fingerprint: earlier.fingerprint,
            task_id: earlier.task_id,
            expires_at: earlier.expires_at,
        })
    }
}
