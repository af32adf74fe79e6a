//! What passes between the control plane and a node agent. A node accepts no inbound
//! connection: it dials the WebSocket API with its node token, the control plane pushes
//! [`NodeCommand`]s down that socket, and the node answers over HTTPS. Every command is also
//! desired state in the store, so a lost push costs a reconnect ([`Assignments`]), never a
//! task.

use serde::{Deserialize, Serialize};

use crate::ids::{MessageId, PermissionId, UserId, WorkspaceId};
use crate::tasks::CreateWorkspaceRequest;

/// A command pushed to a node over its socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum NodeCommand {
    /// Start this workspace's session (a repeated create of a known workspace is ignored).
    CreateWorkspace(Box<CreateWorkspaceRequest>),
    /// Stop the workspace's agent and remove the workspace (unknown ones are fine).
    #[serde(rename_all = "camelCase")]
    DestroyWorkspace { workspace_id: WorkspaceId },
    /// Stop the workspace's agent and keep its directory (a cancelled task, kept for a
    /// retry).
    #[serde(rename_all = "camelCase")]
    StopWorkspace { workspace_id: WorkspaceId },
    /// A member answered a permission the workspace's agent waits on.
    AnswerPermission(PermissionAnswered),
    /// A member wrote to the workspace's agent: stored as the session's next `user` message
    /// and prompted once the current turn ends (at once when the agent is idle).
    FollowUp(FollowUp),
    /// End the agent's current turn (ACP `session/cancel`); the task goes on.
    #[serde(rename_all = "camelCase")]
    StopTurn { workspace_id: WorkspaceId },
    /// Fetch the assignments and converge (sent when the desired state changed in a way a
    /// single command does not describe).
    Converge,
}

/// `GET /api/nodes/{nodeId}/assignments`: what should run on the node now. Workspaces the
/// node runs that are not listed are to be destroyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignments {
    pub workspaces: Vec<CreateWorkspaceRequest>,
    /// Workspaces whose run ended but whose directory is kept (for a retry): not run, not
    /// removed.
    #[serde(default)]
    pub kept: Vec<WorkspaceId>,
    /// Answers given to permissions its workspaces wait on (a push may have been missed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<PermissionAnswered>,
    /// Members' messages its workspaces' agents have not stored yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_ups: Vec<FollowUp>,
}

/// A member's message to a session's agent. Its `messageId` is the id of the `user` message
/// the agent stores it as, so a repeat is recognised and the control plane sees it arrive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowUp {
    pub workspace_id: WorkspaceId,
    pub message_id: MessageId,
    pub content: String,
    pub user_id: UserId,
}

/// A member's answer to a permission, on its way to the agent that asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionAnswered {
    pub workspace_id: WorkspaceId,
    pub permission_id: PermissionId,
    pub option_id: String,
    pub user_id: UserId,
}

/// What a node sends up its socket. API Gateway routes it by `action`
/// (`$request.body.action`); the local hub reads the same JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum NodeMessage {
    /// The node is alive (every `HANGAR_NODE_HEARTBEAT_MS`).
    Heartbeat,
}

/// The route key of [`NodeMessage::Heartbeat`] on the WebSocket API.
pub const HEARTBEAT_ROUTE: &str = "heartbeat";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_messages_are_tagged_json() {
        let destroy = NodeCommand::DestroyWorkspace {
            workspace_id: WorkspaceId::parse("w1").unwrap(),
        };
        let json = serde_json::to_value(&destroy).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "destroyWorkspace", "workspaceId": "w1"})
        );
        assert_eq!(
            serde_json::from_value::<NodeCommand>(json).unwrap(),
            destroy
        );
        let heartbeat = serde_json::to_value(NodeMessage::Heartbeat).unwrap();
        assert_eq!(heartbeat, serde_json::json!({"action": HEARTBEAT_ROUTE}));
    }
}
