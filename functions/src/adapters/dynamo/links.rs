//! Node sockets in the table: the link by node (commands find the socket) and by connection
//! (`$disconnect` and heartbeats find the node).

use async_trait::async_trait;
use hangar_protocol::NodeId;

use super::DynamoStore;
use super::items::{key, n, node_link_key, node_link_lookup_key, s, to_item};
use crate::adapters::aws::SdkFailure;
use crate::domain::ports::{NodeLinkStore, Saved, StoreError};
use crate::domain::records::NodeLink;

#[async_trait]
impl NodeLinkStore for DynamoStore {
    async fn put_node_link(&self, link: &NodeLink) -> Result<(), StoreError> {
        let by_connection = node_link_lookup_key(&link.connection_id);
        self.put(to_item(link, by_connection, "node-link")?).await?;
        self.put(to_item(link, node_link_key(&link.node_id), "node-link")?)
            .await
    }

    async fn get_node_link(&self, node: &NodeId) -> Result<Option<NodeLink>, StoreError> {
        self.get(node_link_key(node), "node-link").await
    }

    async fn link_of_connection(&self, connection: &str) -> Result<Option<NodeLink>, StoreError> {
        self.get(node_link_lookup_key(connection), "node-link")
            .await
    }

    async fn delete_node_link(&self, link: &NodeLink) -> Result<(), StoreError> {
        self.delete(node_link_lookup_key(&link.connection_id))
            .await?;
        // The node may have reconnected on another connection meanwhile: keep that link.
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(node_link_key(&link.node_id))))
            .condition_expression("connection_id = :connection")
            .expression_attribute_values(":connection", s(&link.connection_id))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(err) => match SdkFailure::from(err) {
                failure if failure.is("ConditionalCheckFailedException") => Ok(()),
                failure => Err(failure.into()),
            },
        }
    }

    async fn record_heartbeat(
        &self,
        node: &NodeId,
        connection: &str,
        at: u64,
    ) -> Result<Saved, StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(node_link_key(node))))
            .update_expression("SET heartbeat_at = :at")
            .condition_expression("connection_id = :connection")
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":connection", s(connection))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(Saved::Yes),
            Err(err) => match SdkFailure::from(err) {
                failure if failure.is("ConditionalCheckFailedException") => Ok(Saved::Conflict),
                failure => Err(failure.into()),
            },
        }
    }
}
