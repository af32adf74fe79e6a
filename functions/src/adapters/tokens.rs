//! The JWT adapter of [`Tokens`]: mints the tokens the control plane hands out (workspace
//! callback tokens, node callback tokens) and the ones it presents to node agents. One
//! Ed25519 key signs them all; the audience keeps them apart.

#[cfg(doc)]
use hangar_protocol::auth::NODE_CONTROL_AUDIENCE;
use hangar_protocol::auth::{
    CALLBACK_AUDIENCE, CallbackClaims, NODE_CALLBACK_AUDIENCE, NodeClaims,
};
use hangar_protocol::time::now_ms;
use hangar_protocol::{NodeId, WorkspaceId};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::domain::ports::{PortError, Tokens};

#[derive(Debug, thiserror::Error)]
#[error("{name} is not a usable {algorithm} key: {reason}")]
pub struct KeyError {
    pub name: &'static str,
    pub algorithm: &'static str,
    pub reason: String,
}

pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
}

impl TokenIssuer {
    pub fn from_pem(private_key_pem: &str, issuer: impl Into<String>) -> Result<Self, KeyError> {
        let key = EncodingKey::from_ed_pem(private_key_pem.as_bytes()).map_err(|err| KeyError {
            name: "HANGAR_CALLBACK_PRIVATE_KEY",
            algorithm: "Ed25519",
            reason: err.to_string(),
        })?;
        Ok(TokenIssuer {
            key,
            issuer: issuer.into(),
        })
    }

    fn sign(&self, claims: &impl serde::Serialize) -> Result<String, PortError> {
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &self.key)
            .map_err(|err| PortError::Failed(format!("cannot sign a token: {err}")))
    }

    /// A workspace callback token valid from `now_seconds` for `ttl_seconds`.
    pub fn mint(
        &self,
        workspace: &WorkspaceId,
        now_seconds: u64,
        ttl_seconds: u64,
    ) -> Result<String, PortError> {
        self.sign(&CallbackClaims {
            iss: self.issuer.clone(),
            aud: CALLBACK_AUDIENCE.into(),
            sub: CallbackClaims::subject_for(workspace),
            workspace_id: workspace.clone(),
            iat: now_seconds,
            exp: now_seconds + ttl_seconds,
        })
    }

    /// A node token for `audience`: [`NODE_CALLBACK_AUDIENCE`] (the node calls the control
    /// plane) or [`NODE_CONTROL_AUDIENCE`] (the control plane calls the node).
    pub fn mint_node(
        &self,
        node: &NodeId,
        audience: &str,
        now_seconds: u64,
        ttl_seconds: u64,
    ) -> Result<String, PortError> {
        self.sign(&NodeClaims {
            iss: self.issuer.clone(),
            aud: audience.into(),
            sub: NodeClaims::subject_for(node),
            node_id: node.clone(),
            iat: now_seconds,
            exp: now_seconds + ttl_seconds,
        })
    }
}

impl Tokens for TokenIssuer {
    fn workspace_token(&self, workspace: &WorkspaceId, ttl_secs: u64) -> Result<String, PortError> {
        self.mint(workspace, now_ms() / 1000, ttl_secs)
    }

    fn node_token(&self, node: &NodeId, ttl_secs: u64) -> Result<String, PortError> {
        self.mint_node(node, NODE_CALLBACK_AUDIENCE, now_ms() / 1000, ttl_secs)
    }
}
