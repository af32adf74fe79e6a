//! The ports beyond the table: schedules, machines, pushes to live connections, tokens,
//! the credential vault and the forge.

use async_trait::async_trait;
use hangar_protocol::forge::{ForgeView, GitHubApp};
use hangar_protocol::tasks::{VmSize, WarmTimeoutEvent};
use hangar_protocol::webhooks::WebhookEvent;
use hangar_protocol::{NodeId, ProjectId, WorkspaceId};

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Failed(String),
}

/// A one-time schedule: at `at_ms`, the warm timeout runs with `event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmSchedule {
    pub name: String,
    pub at_ms: u64,
    pub event: WarmTimeoutEvent,
}

impl WarmSchedule {
    /// One name per node and generation: a node's next warm period gets a new schedule.
    pub fn name_for(event: &WarmTimeoutEvent) -> String {
        format!("warm-{}-{}", event.node_id, event.generation)
    }
}

/// Creates and removes warm-timeout schedules (EventBridge Scheduler).
#[async_trait]
pub trait Scheduler: Send + Sync {
    async fn create(&self, schedule: &WarmSchedule) -> Result<(), PortError>;
    /// Removes a schedule; a missing one is fine.
    async fn delete(&self, name: &str) -> Result<(), PortError>;
    async fn list(&self) -> Result<Vec<WarmSchedule>, PortError>;
}

/// What a new node needs to know to boot its agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLaunch {
    pub node_id: NodeId,
    /// The one project the node serves.
    pub project_id: ProjectId,
    pub size: VmSize,
    /// The control plane's API base URL, for the node's callbacks.
    pub api_url: String,
    /// The WebSocket API URL the node dials for its commands.
    pub socket_url: String,
    /// The node's token: its callbacks and its socket.
    pub node_token: String,
}

/// A machine the provider runs for this stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub provider_id: String,
    /// The node it was launched for (its tag), if it has one.
    pub node_id: Option<NodeId>,
}

/// Creates and destroys nodes (EC2 instances, local processes).
#[async_trait]
pub trait Provisioner: Send + Sync {
    /// Starts a node; returns the provider's handle. Repeating it for the same node never
    /// starts a second machine.
    async fn provision(&self, launch: &NodeLaunch) -> Result<String, PortError>;
    /// Destroys it; destroying an already gone node is fine.
    async fn destroy(&self, provider_id: &str) -> Result<(), PortError>;
    /// This stack's machines that still run (the sweep terminates those no node owns).
    async fn list(&self) -> Result<Vec<Instance>, PortError>;
}

/// What posting a frame to a connection found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// The connection is gone (API Gateway's `GoneException`): forget it.
    Gone,
}

/// Posts frames to live connections (API Gateway Management API, the local hub).
#[async_trait]
pub trait Push: Send + Sync {
    async fn post(&self, connection_id: &str, frame: &str) -> Result<Delivery, PortError>;
}

/// Mints the tokens the control plane hands out (signed JWTs).
pub trait Tokens: Send + Sync {
    /// The token a workspace's agent presents on its callbacks, valid for `ttl_secs`.
    fn workspace_token(&self, workspace: &WorkspaceId, ttl_secs: u64) -> Result<String, PortError>;
    /// The token a node presents when it calls back, valid for `ttl_secs`.
    fn node_token(&self, node: &NodeId, ttl_secs: u64) -> Result<String, PortError>;
}

/// Which of a project's secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultSlot {
    /// The forge credential (a token).
    ForgeToken,
    /// The agent's secret variables (a JSON object).
    AgentSecrets,
    /// A GitHub App's credentials (JSON, with its private key).
    ForgeApp,
}

/// Where projects' secrets are kept, apart from the table (Secrets Manager).
#[async_trait]
pub trait CredentialVault: Send + Sync {
    /// Keeps `value` in the project's `slot`, replacing an earlier one.
    async fn put(&self, project: &ProjectId, slot: VaultSlot, value: &str)
    -> Result<(), PortError>;
    async fn get(&self, project: &ProjectId, slot: VaultSlot) -> Result<Option<String>, PortError>;
    /// Forgets it; a missing one is fine.
    async fn delete(&self, project: &ProjectId, slot: VaultSlot) -> Result<(), PortError>;
}

/// A pull request to open: from `head` into `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The forge answered no: its status and its own message (bad credentials, no access).
    #[error("the forge refused ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the forge cannot be reached: {0}")]
    Unreachable(String),
}

/// Opens pull requests on a project's forge (GitHub's REST API).
#[async_trait]
pub trait Forge: Send + Sync {
    /// Opens the pull request, or finds the open one of the same branch; its web address.
    async fn open_pull_request(
        &self,
        forge: &ForgeView,
        token: &str,
        request: &PullRequest,
    ) -> Result<String, ForgeError>;
    /// Mints a short-lived installation token of `app` (GitHub App).
    async fn installation_token(
        &self,
        forge: &ForgeView,
        app: &GitHubApp,
    ) -> Result<String, ForgeError>;
}

/// Posts events to projects' webhooks.
#[async_trait]
pub trait Webhooks: Send + Sync {
    async fn post(&self, url: &str, event: &WebhookEvent) -> Result<(), PortError>;
}
