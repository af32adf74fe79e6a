//! Live viewer connections in the table: under the project (for fan-out), under the id (for
//! `$disconnect`) and under the user (for the per-user cap).

use async_trait::async_trait;
use hangar_protocol::{ProjectId, UserId};

use super::DynamoStore;
use super::items::{
    CONNECTION_PREFIX, connection_key, connection_lookup_key, membership_pk, n, project_pk, s,
    to_item, user_connection_key,
};
use crate::adapters::aws::SdkFailure;
use crate::domain::ports::{ConnectionStore, StoreError};
use crate::domain::records::Connection;
use aws_sdk_dynamodb::types::Select;

/// Only live ones: TTL deletion lags by up to days, and an expired item is already dead.
fn live(connections: Vec<Connection>, now_secs: u64) -> Vec<Connection> {
    connections
        .into_iter()
        .filter(|connection| connection.ttl > now_secs)
        .collect()
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let keys = [
            connection_lookup_key(&connection.id),
            user_connection_key(&connection.user_id, &connection.id),
            connection_key(&connection.project_id, &connection.id),
        ];
        for key in keys {
            self.put(to_item(connection, key, "connection")?).await?;
        }
        Ok(())
    }

    async fn get_connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        self.get(connection_lookup_key(id), "connection").await
    }

    async fn delete_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        self.delete(connection_key(&connection.project_id, &connection.id))
            .await?;
        self.delete(user_connection_key(&connection.user_id, &connection.id))
            .await?;
        self.delete(connection_lookup_key(&connection.id)).await
    }

    async fn list_connections(
        &self,
        project: &ProjectId,
        now_secs: u64,
    ) -> Result<Vec<Connection>, StoreError> {
        let connections = self
            .query_prefix(project_pk(project), CONNECTION_PREFIX, "connection")
            .await?;
        Ok(live(connections, now_secs))
    }

    async fn count_user_connections(
        &self,
        user: &UserId,
        now_secs: u64,
    ) -> Result<usize, StoreError> {
        self.count_live(membership_pk(user), now_secs).await
    }

    async fn count_project_connections(
        &self,
        project: &ProjectId,
        now_secs: u64,
    ) -> Result<usize, StoreError> {
        self.count_live(project_pk(project), now_secs).await
    }
}

impl DynamoStore {
    /// The live connections under `pk`, counted by the store (no item comes back).
    async fn count_live(&self, pk: String, now_secs: u64) -> Result<usize, StoreError> {
        let mut count = 0;
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .filter_expression("#ttl > :now")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(CONNECTION_PREFIX))
                .expression_attribute_values(":now", n(now_secs))
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(SdkFailure::from)?;
            count += usize::try_from(output.count).unwrap_or_default();
            match output.last_evaluated_key.filter(|key| !key.is_empty()) {
                Some(key) => start = Some(key),
                None => return Ok(count),
            }
        }
    }
}
