//! Node sockets: a node dials the WebSocket API with its node token, and commands are
//! pushed down that socket. A push is only a nudge: every command is also desired state in
//! the store, and a node fetches its assignments after each (re)connect, so a command that
//! finds no socket, or a socket that drops it, costs a reconnect, never a task.

use hangar_protocol::limits::LIVE_FRAME_MAX_BYTES;
use hangar_protocol::node::NodeCommand;
use hangar_protocol::tasks::NodeStatus;
use hangar_protocol::time::now_ms;
use hangar_protocol::{ErrorCode, NodeId};

use super::{Live, check_connection_id};
use crate::domain::error::{Error, Result};
use crate::domain::ports::{Delivery, Saved};
use crate::domain::records::NodeLink;

/// What sending a command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Posted to the node's socket.
    Pushed,
    /// The node has no socket now; it converges when it reconnects.
    NotConnected,
}

impl Live {
    /// `$connect` of a node: the socket commands for `node` go to.
    pub async fn connect_node(&self, connection_id: &str, node: &NodeId) -> Result<NodeLink> {
        check_connection_id(connection_id)?;
        let known = self.store.get_node(node).await?;
        if known.is_none_or(|node| node.status == NodeStatus::Destroyed) {
            return Err(Error::not_found(
                ErrorCode::NodeNotFound,
                format!("node {node} does not exist or was destroyed"),
            ));
        }
        let now = now_ms();
        let link = NodeLink {
            node_id: node.clone(),
            connection_id: connection_id.to_string(),
            connected_at: now,
            heartbeat_at: now,
        };
        self.store.put_node_link(&link).await?;
        tracing::info!(connection = %connection_id, %node, "node connected");
        Ok(link)
    }

    /// Whether `connection_id` is a node's socket (not a viewer's).
    pub async fn is_node_socket(&self, connection_id: &str) -> bool {
        matches!(
            self.store.link_of_connection(connection_id).await,
            Ok(Some(_))
        )
    }

    /// A node's heartbeat on its socket.
    pub async fn heartbeat(&self, connection_id: &str) -> Result<()> {
        check_connection_id(connection_id)?;
        let Some(link) = self.store.link_of_connection(connection_id).await? else {
            return Err(Error::not_found(
                ErrorCode::InvalidConnection,
                format!("connection {connection_id} is not a node's socket"),
            ));
        };
        let saved = self
            .store
            .record_heartbeat(&link.node_id, connection_id, now_ms())
            .await?;
        if saved == Saved::Conflict {
            tracing::debug!(node = %link.node_id, "heartbeat on a replaced socket");
        }
        Ok(())
    }

    /// Pushes `command` to `node`'s socket, if it has one.
    pub async fn send_to_node(&self, node: &NodeId, command: &NodeCommand) -> Result<Sent> {
        let link = self.store.get_node_link(node).await?;
        self.send_over(node, link, command).await
    }

    /// Pushes `command` down `link` (the node's socket as just read, if it has one).
    pub async fn send_over(
        &self,
        node: &NodeId,
        link: Option<NodeLink>,
        command: &NodeCommand,
    ) -> Result<Sent> {
        let Some(link) = link else {
            tracing::info!(%node, "no socket; the node converges when it reconnects");
            return Ok(Sent::NotConnected);
        };
        let encode = |command: &NodeCommand| {
            serde_json::to_string(command)
                .map_err(|err| Error::Internal(format!("cannot encode a node command: {err}")))
        };
        let mut frame = encode(command)?;
        if frame.len() > LIVE_FRAME_MAX_BYTES {
            // Too large for the gateway (a long prompt): the node reads it from its
            // assignments over HTTP instead.
            frame = encode(&NodeCommand::Converge)?;
        }
        match self.push.post(&link.connection_id, &frame).await {
            Ok(Delivery::Delivered) => Ok(Sent::Pushed),
            Ok(Delivery::Gone) => {
                self.store.delete_node_link(&link).await?;
                tracing::info!(%node, "the node's socket is gone; it converges when it reconnects");
                Ok(Sent::NotConnected)
            }
            Err(err) => {
                tracing::warn!(%node, error = %err, "could not push a command; the node converges later");
                Ok(Sent::NotConnected)
            }
        }
    }
}
