//! Members' messages to a session's agent, beside the session's messages:
//! `SESSION#{id}` / `FOLLOW#{messageId}` (a ULID: they list in the order they were sent).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use hangar_protocol::{MessageId, SessionId};

use super::DynamoStore;
use super::items::{Key, key, message_pk, to_item};
use crate::adapters::aws::SdkFailure;
use crate::domain::ports::{FollowUpStore, StoreError};
use crate::domain::tasks::FollowUpRecord;

const FOLLOW_UP_PREFIX: &str = "FOLLOW#";
const ENTITY: &str = "follow-up";

fn follow_up_key(session: &SessionId, id: &MessageId) -> Key {
    (message_pk(session), format!("{FOLLOW_UP_PREFIX}{id}"))
}

#[async_trait]
impl FollowUpStore for DynamoStore {
    async fn put_follow_up(&self, follow_up: &FollowUpRecord) -> Result<(), StoreError> {
        let key = follow_up_key(&follow_up.session_id, &follow_up.message_id);
        self.put(to_item(follow_up, key, ENTITY)?).await
    }

    async fn pending_follow_ups(
        &self,
        session: &SessionId,
    ) -> Result<Vec<FollowUpRecord>, StoreError> {
        let all: Vec<FollowUpRecord> = self
            .query_prefix(message_pk(session), FOLLOW_UP_PREFIX, ENTITY)
            .await?;
        Ok(all.into_iter().filter(|f| !f.stored).collect())
    }

    async fn follow_up_stored(
        &self,
        session: &SessionId,
        id: &MessageId,
    ) -> Result<(), StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(follow_up_key(session, id))))
            // STORED is one of DynamoDB's reserved words.
            .update_expression("SET #stored = :yes")
            .expression_attribute_names("#stored", "stored")
            // Only an existing follow-up is marked: the task's own prompt is no follow-up.
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(err) => match SdkFailure::from(err) {
                failure if failure.is("ConditionalCheckFailedException") => Ok(()),
                failure => Err(failure.into()),
            },
        }
    }
}
