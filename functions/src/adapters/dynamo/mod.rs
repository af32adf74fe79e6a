//! The DynamoDB adapter of the store ports: the production adapter, and the local one against
//! a DynamoDB-compatible server on loopback (only the endpoint differs). [`items`] holds the
//! key schema and the encoding, [`records`] and [`messages`] the port implementations, and
//! [`table`] the table definition the local stack creates.

mod api_tokens;
mod connections;
mod deletion;
mod followups;
mod idempotency;
mod items;
mod links;
mod messages;
mod nodes;
mod permissions;
mod records;
pub mod table;
mod users;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::de::DeserializeOwned;

use self::items::{Item, Key, from_item, key, s};

/// Keys one BatchGetItem takes at most (DynamoDB's limit).
const BATCH_GET_MAX: usize = 100;
/// Rounds of BatchGetItem for keys left unprocessed before giving up.
const BATCH_GET_ROUNDS: u64 = 5;
use crate::adapters::aws::{SdkFailure, sdk_config};
use crate::domain::ports::{Saved, Store, StoreError};

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// The one table holds every aggregate.
impl Store for DynamoStore {}

impl DynamoStore {
    pub async fn connect(endpoint: Option<&str>, table: &str) -> Self {
        let config = sdk_config(endpoint).await;
        DynamoStore {
            client: Client::new(&config),
            table: table.to_string(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(SdkFailure::from)?;
        Ok(())
    }

    /// Puts `item` if `condition` holds; `Conflict` when it does not.
    async fn put_if(
        &self,
        item: Item,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Saved, StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        // `status` is a DynamoDB reserved word.
        if condition.contains("#status") {
            request = request.expression_attribute_names("#status", "status");
        }
        match request.send().await {
            Ok(_) => Ok(Saved::Yes),
            Err(err) => {
                let failure = SdkFailure::of(&err);
                if failure.is("ConditionalCheckFailedException") {
                    Ok(Saved::Conflict)
                } else {
                    Err(failure.into())
                }
            }
        }
    }

    /// Puts `item` unless an item with its key exists.
    async fn put_new(&self, item: Item) -> Result<Saved, StoreError> {
        self.put_if(item, "attribute_not_exists(pk)", vec![]).await
    }

    /// All items of a query, following pages.
    async fn query_all<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        entity: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut records = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(String::from))
                // The base table reads what was just written; an index cannot.
                .consistent_read(index.is_none())
                .key_condition_expression(condition)
                .set_exclusive_start_key(start.take());
            for (name, value) in &values {
                request = request.expression_attribute_values(*name, value.clone());
            }
            let output = request.send().await.map_err(SdkFailure::from)?;
            for item in output.items.unwrap_or_default() {
                records.push(from_item(item, entity)?);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(records),
            }
        }
    }

    /// Every item of partition `pk` whose sort key starts with `prefix`.
    async fn query_prefix<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        entity: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.query_all(
            None,
            "pk = :pk AND begins_with(sk, :prefix)",
            vec![(":pk", s(pk)), (":prefix", s(prefix))],
            entity,
        )
        .await
    }

    /// Every item of partition `pk` of the sparse index `index` (`gsi1`, `gsi2`).
    async fn query_index<T: DeserializeOwned>(
        &self,
        index: &str,
        pk: String,
        entity: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.query_all(
            Some(index),
            &format!("{index}pk = :pk"),
            vec![(":pk", s(pk))],
            entity,
        )
        .await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        item_key: Key,
        entity: &str,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(item_key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(SdkFailure::from)?;
        output.item.map(|item| from_item(item, entity)).transpose()
    }

    /// The records of `keys` that exist (in any order): [`DynamoStore::get_items`] decoded.
    async fn get_many<T: DeserializeOwned>(
        &self,
        keys: Vec<Key>,
        entity: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.get_items(keys)
            .await?
            .into_iter()
            .map(|item| from_item(item, entity))
            .collect()
    }

    /// The items of `keys` that exist (in any order), read with BatchGetItem in rounds of
    /// at most [`BATCH_GET_MAX`] keys. Keys DynamoDB leaves unprocessed (throttling) are asked
    /// again after a short pause, a few times; past that the store is unavailable.
    async fn get_items(&self, keys: Vec<Key>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending: Vec<_> = chunk.iter().cloned().map(key).collect();
            for round in 1..=BATCH_GET_ROUNDS {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(|err| StoreError::Failed(err.to_string()))?;
                let mut output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(SdkFailure::from)?;
                let items = output
                    .responses
                    .as_mut()
                    .and_then(|responses| responses.remove(&self.table))
                    .unwrap_or_default();
                found.extend(items);
                pending = output
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(&self.table))
                    .map(|left| left.keys)
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if round == BATCH_GET_ROUNDS {
                    return Err(StoreError::Unavailable(format!(
                        "{} keys left unprocessed by BatchGetItem",
                        pending.len()
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 * round)).await;
            }
        }
        Ok(found)
    }

    async fn delete(&self, item_key: Key) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(item_key)))
            .send()
            .await
            .map_err(SdkFailure::from)?;
        Ok(())
    }
}
