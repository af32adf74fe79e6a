//! Permissions in the table, beside their session's messages: `SESSION#{id}` /
//! `PERM#{permissionId}`. A member's answer is a conditional put on a pending one, so the
//! first answer wins.

use async_trait::async_trait;
use hangar_protocol::permissions::{PermissionAnswer, PermissionStatus};
use hangar_protocol::{PermissionId, SessionId};

use super::DynamoStore;
use super::items::{Key, message_pk, s, to_item};
use crate::domain::permissions::Permission;
use crate::domain::ports::{PermissionStore, Saved, StoreError};

const PERMISSION_PREFIX: &str = "PERM#";
const ENTITY: &str = "permission";

fn permission_key(session: &SessionId, id: &PermissionId) -> Key {
    (message_pk(session), format!("{PERMISSION_PREFIX}{id}"))
}

fn status(status: PermissionStatus) -> &'static str {
    match status {
        PermissionStatus::Pending => "pending",
        PermissionStatus::Answered => "answered",
        PermissionStatus::Settled => "settled",
    }
}

#[async_trait]
impl PermissionStore for DynamoStore {
    async fn open_permission(&self, permission: &Permission) -> Result<bool, StoreError> {
        let key = permission_key(&permission.session_id, &permission.id);
        // A resent prompt finds it kept: whatever happened to it since stays.
        Ok(self.put_new(to_item(permission, key, ENTITY)?).await? == Saved::Yes)
    }

    async fn get_permission(
        &self,
        session: &SessionId,
        id: &PermissionId,
    ) -> Result<Option<Permission>, StoreError> {
        self.get(permission_key(session, id), ENTITY).await
    }

    async fn answer_permission(
        &self,
        session: &SessionId,
        id: &PermissionId,
        answer: &PermissionAnswer,
    ) -> Result<Saved, StoreError> {
        let Some(mut permission) = self.get_permission(session, id).await? else {
            return Ok(Saved::Conflict);
        };
        permission.status = PermissionStatus::Answered;
        permission.answer = Some(answer.clone());
        self.put_if(
            to_item(&permission, permission_key(session, id), ENTITY)?,
            "#status = :pending",
            vec![(":pending", s(status(PermissionStatus::Pending)))],
        )
        .await
    }

    async fn settle_permission(
        &self,
        session: &SessionId,
        id: &PermissionId,
        answer: &PermissionAnswer,
    ) -> Result<(), StoreError> {
        let Some(mut permission) = self.get_permission(session, id).await? else {
            return Ok(());
        };
        if permission.status == PermissionStatus::Settled {
            return Ok(());
        }
        permission.status = PermissionStatus::Settled;
        permission.answer = Some(answer.clone());
        self.put(to_item(&permission, permission_key(session, id), ENTITY)?)
            .await
    }

    async fn answered_permissions(
        &self,
        session: &SessionId,
    ) -> Result<Vec<Permission>, StoreError> {
        let all: Vec<Permission> = self
            .query_prefix(message_pk(session), PERMISSION_PREFIX, ENTITY)
            .await?;
        Ok(all
            .into_iter()
            .filter(|permission| permission.status == PermissionStatus::Answered)
            .collect())
    }
}
