//! Chat messages in the table.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use hangar_protocol::{ChatMessage, SessionId};

use super::DynamoStore;
use super::items::{MESSAGE_PREFIX, from_item, message_pk, message_sk, s, to_item};
use crate::adapters::aws::SdkFailure;
use crate::domain::ports::{InsertOutcome, MessageStore, StoreError};

#[async_trait]
impl MessageStore for DynamoStore {
    async fn insert_message(
        &self,
        session: &SessionId,
        message: &ChatMessage,
    ) -> Result<InsertOutcome, StoreError> {
        let item_key = (message_pk(session), message_sk(message.seq));
        let item = to_item(message, item_key.clone(), "message")?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(InsertOutcome::Inserted),
            Err(err) => err,
        };
        let Some(PutItemError::ConditionalCheckFailedException(failed)) = err.as_service_error()
        else {
            return Err(SdkFailure::from(err).into());
        };
        // Which message holds this sequence decides between a resend and a confused sender.
        let existing: Option<ChatMessage> = match failed.item() {
            Some(item) => Some(from_item(item.clone(), "message")?),
            None => self.get(item_key, "message").await?,
        };
        match existing {
            Some(existing) if existing.message_id == message.message_id => {
                Ok(InsertOutcome::Duplicate)
            }
            Some(existing) => Ok(InsertOutcome::SequenceTaken {
                existing: existing.message_id,
            }),
            None => Err(StoreError::ConditionFailed(format!(
                "message seq {} of session {session} was reported present but cannot be read",
                message.seq
            ))),
        }
    }

    async fn last_message_seq(&self, session: &SessionId) -> Result<u64, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(message_pk(session)))
            .expression_attribute_values(":prefix", s(MESSAGE_PREFIX))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(1)
            .projection_expression("seq")
            .send()
            .await
            .map_err(SdkFailure::from)?;
        let seq = output
            .items
            .unwrap_or_default()
            .into_iter()
            .next()
            .and_then(|item| match item.get("seq") {
                Some(AttributeValue::N(n)) => n.parse().ok(),
                _ => None,
            });
        Ok(seq.unwrap_or(0))
    }

    async fn list_messages(
        &self,
        session: &SessionId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        self.query_messages(session, (after.saturating_add(1), u64::MAX), true, limit)
            .await
    }

    async fn list_messages_before(
        &self,
        session: &SessionId,
        before: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        if before <= 1 {
            return Ok(Vec::new());
        }
        // Read backwards from just below `before`, then turned to ascending.
        let mut messages = self
            .query_messages(session, (1, before - 1), false, limit)
            .await?;
        messages.reverse();
        Ok(messages)
    }
}

impl DynamoStore {
    /// Up to `limit` messages of `session` with seqs in `from..=to`, ascending when
    /// `forward`, else descending.
    async fn query_messages(
        &self,
        session: &SessionId,
        (from, to): (u64, u64),
        forward: bool,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(message_pk(session)))
            .expression_attribute_values(":from", s(message_sk(from)))
            .expression_attribute_values(":to", s(message_sk(to)))
            .scan_index_forward(forward)
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(SdkFailure::from)?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item(item, "message"))
            .collect()
    }
}
