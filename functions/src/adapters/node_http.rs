//! The HTTP adapter of [`NodeClient`]: calls a node agent's API with a short-lived
//! node-control token signed by the control plane.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hangar_protocol::auth::NODE_CONTROL_AUDIENCE;
use hangar_protocol::tasks::CreateWorkspaceRequest;
use hangar_protocol::time::now_ms;
use hangar_protocol::{WorkspaceId, routes};

use crate::adapters::tokens::TokenIssuer;
use crate::domain::ports::{NodeClient, PortError};
use crate::domain::records::Node;

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
        self.tokens.mint_node(
            &node.id,
            NODE_CONTROL_AUDIENCE,
            now_ms() / 1000,
            CONTROL_TOKEN_TTL_SECONDS,
        )
    }

    /// Sends `call` with a fresh control token; a 404 counts as done when `ok_not_found`.
    async fn send(
        &self,
        node: &Node,
        call: reqwest::RequestBuilder,
        ok_not_found: bool,
    ) -> Result<(), PortError> {
        let response = call.bearer_auth(self.token(node)?).send().await;
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
        let url = format!("{}{}", self.endpoint(node)?, routes::NODE_WORKSPACES);
        let call = self.http.post(url).json(request);
        self.send(node, call, false).await
    }

    async fn destroy_workspace(
        &self,
        node: &Node,
        workspace: &WorkspaceId,
    ) -> Result<(), PortError> {
        let url = format!(
            "{}{}",
            self.endpoint(node)?,
            routes::node_workspace(workspace)
        );
        self.send(node, self.http.delete(url), true).await
    }
}
