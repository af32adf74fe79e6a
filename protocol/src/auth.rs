//! JWT claims. Three kinds of token reach the control plane, told apart by their audience:
//! - workspace callback tokens, minted by the control plane for one workspace and handed to
//!   the node agent; they authorise only that workspace's callbacks (message ingest, status);
//! - node tokens, minted by the control plane for one node: the node presents them when it
//!   calls back (`hangar-node-callback`), the control plane when it calls the node
//!   (`hangar-node-control`);
//! - user tokens, minted by the user auth issuer; they name the user in `sub`.

use serde::{Deserialize, Serialize};

use crate::ids::{NodeId, WorkspaceId};

/// `aud` of workspace callback tokens.
pub const CALLBACK_AUDIENCE: &str = "hangar-workspace-callback";
/// `aud` of user tokens.
pub const USER_AUDIENCE: &str = "hangar-user";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackClaims {
    pub iss: String,
    pub aud: String,
    /// `workspace:{workspaceId}`.
    pub sub: String,
    pub workspace_id: WorkspaceId,
    pub iat: u64,
    pub exp: u64,
}

impl CallbackClaims {
    pub fn subject_for(workspace_id: &WorkspaceId) -> String {
        format!("workspace:{workspace_id}")
    }
}

/// `aud` of tokens a node agent presents to the control plane (`/api/nodes/{id}/...`).
pub const NODE_CALLBACK_AUDIENCE: &str = "hangar-node-callback";
/// `aud` of tokens the control plane presents to a node agent's API.
pub const NODE_CONTROL_AUDIENCE: &str = "hangar-node-control";

/// Claims of node tokens, both directions; `aud` tells which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeClaims {
    pub iss: String,
    pub aud: String,
    /// `node:{nodeId}`.
    pub sub: String,
    pub node_id: NodeId,
    pub iat: u64,
    pub exp: u64,
}

impl NodeClaims {
    pub fn subject_for(node: &NodeId) -> String {
        format!("node:{node}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub iat: u64,
    pub exp: u64,
}
