//! Live viewer connections in the table: under the project (for fan-out), under the id (for
//! `$disconnect`) and under the user (for the per-user cap).

use async_trait::async_trait;
use hangar_protocol::{ProjectId, UserId};

use super::DynamoStore;
use super::items::{
    CONNECTION_PREFIX, connection_key, connection_lookup_key, membership_pk, project_pk, to_item,
    user_connection_key,
};
use crate::domain::ports::{ConnectionStore, StoreError};
use crate::domain::records::Connection;

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
        let connections = self
            .query_prefix(membership_pk(user), CONNECTION_PREFIX, "connection")
            .await?;
        Ok(live(connections, now_secs).len())
    }
}
