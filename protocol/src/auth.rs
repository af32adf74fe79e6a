//! JWT claims. Three kinds of token reach the control plane, told apart by their audience:
//! - workspace callback tokens, minted by the control plane for one workspace and handed to
//!   the node agent; they authorise only that workspace's callbacks (message ingest, status);
//! - node tokens, minted by the control plane for one node: the node presents them when it
//!   calls back (`hangar-node-callback`), the control plane when it calls the node
//!   (`hangar-node-control`);
//! - user tokens, issued by an OpenID Connect provider (Cognito, Auth0, Okta, Google, or the
//!   local stack's own); they name the user in `sub` and are checked against the provider's
//!   JWKS.

use serde::{Deserialize, Serialize};

use crate::ids::{NodeId, WorkspaceId};

/// `aud` of workspace callback tokens.
pub const CALLBACK_AUDIENCE: &str = "hangar-workspace-callback";

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

/// The claims Hangar reads from an OpenID Connect provider's access and ID tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserClaims {
    pub iss: String,
    pub sub: String,
    /// One audience or several (RFC 7519 allows both). Cognito's access tokens carry none and
    /// name their client in `client_id` instead.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aud: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `access` or `id` where the provider says (Cognito does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_use: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A boolean, or the strings "true"/"false" some providers send.
    #[serde(
        default,
        deserialize_with = "loose_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// `token_use` of a token an API call carries, and of one that tells who signed in.
pub const ACCESS_TOKEN_USE: &str = "access";
pub const ID_TOKEN_USE: &str = "id";

fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::One(one)) => vec![one],
        Some(OneOrMany::Many(many)) => many,
    })
}

fn loose_bool<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Loose {
        Bool(bool),
        Text(String),
    }
    Ok(match Option::<Loose>::deserialize(deserializer)? {
        None => None,
        Some(Loose::Bool(value)) => Some(value),
        Some(Loose::Text(text)) => Some(text == "true"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_audience_or_several_and_loose_booleans_are_read() {
        let one: UserClaims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "s", "aud": "web", "exp": 1, "email_verified": "true"
        }))
        .expect("claims");
        assert_eq!(
            (one.aud, one.email_verified),
            (vec!["web".to_string()], Some(true))
        );
        let many: UserClaims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "s", "aud": ["a", "b"], "exp": 1, "email_verified": false
        }))
        .expect("claims");
        assert_eq!((many.aud.len(), many.email_verified), (2, Some(false)));
        let cognito_access: UserClaims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "s", "client_id": "c", "token_use": "access", "exp": 1
        }))
        .expect("claims");
        assert!(cognito_access.aud.is_empty());
    }
}
