//! JWT claims. Two kinds of token reach the control plane:
//! - callback tokens, minted by the control plane for one workspace and handed to the node
//!   agent; they authorise only that workspace's callbacks (message ingest, status reports);
//! - user tokens, minted by the user auth issuer; they name the user in `sub`.

use serde::{Deserialize, Serialize};

use crate::ids::WorkspaceId;

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
