//! The HTTP adapter of [`NodeClient`]: calls a node agent's API with a short-lived
//! node-control token signed by the control plane.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hangar_protocol::WorkspaceId;
use hangar_protocol::tasks::CreateWorkspaceRequest;

use crate::auth::TokenIssuer;
use crate::clock::now_ms;
use crate::ports::{Node, NodeClient, PortError};

const CONTROL_TOKEN_TTL_SECONDS: u64 = 300;

pub struct HttpNodeClient {
    http: reqwest::Client,
    tokens: Arc<TokenIssuer>,
}

impl HttpNodeClient {
    pub fn new(tokens: Arc<TokenIssuer>) -> Result<Self, PortError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|err| PortError::Failed(err.to_string()))?;
        Ok(HttpNodeClient { http, tokens })
    }

    fn endpoint<'a>(&self, node: &'a Node) -> Result<&'a str, PortError> {
        node.endpoint
            .as_deref()
            .ok_or_else(|| PortError::Failed(format!("node {} has no endpoint yet", node.id)))
    }

    fn token(&self, node: &Node) -> Result<String, PortError> {
        self.tokens
            .mint_node_control(&node.id, now_ms() / 1000, CONTROL_TOKEN_TTL_SECONDS)
            .map_err(|err| PortError::Failed(err.to_string()))
    }

    async fn check(
        response: Result<reqwest::Response, reqwest::Error>,
        ok_not_found: bool,
    ) -> Result<(), PortError> {
        let response =
            response.map_err(|err| PortError::Unavailable(format!("node unreachable: {err}")))?;
        let status = response.status();
        if status.is_success() || (ok_not_found && status == reqwest::StatusCode::NOT_FOUND) {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        if status.is_server_error() {
            Err(PortError::Unavailable(format!(
                "node answered {status}: {body}"
            )))
        } else {
            Err(PortError::Failed(format!("node answered {status}: {body}")))
        }
    }
}

#[async_trait]
impl NodeClient for HttpNodeClient {
    async fn create_workspace(
        &self,
        node: &Node,
        request: &CreateWorkspaceRequest,
    ) -> Result<(), PortError> {
        let response = self
            .http
            .post(format!("{}/workspaces", self.endpoint(node)?))
            .bearer_auth(self.token(node)?)
            .json(request)
            .send()
            .await;
        Self::check(response, false).await
    }

    async fn destroy_workspace(
        &self,
        node: &Node,
        workspace: &WorkspaceId,
    ) -> Result<(), PortError> {
        let response = self
            .http
            .delete(format!("{}/workspaces/{workspace}", self.endpoint(node)?))
            .bearer_auth(self.token(node)?)
            .send()
            .await;
        Self::check(response, true).await
    }
}
