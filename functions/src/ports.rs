//! Ports: what the domain needs from the world, as traits over plain records.
//! Adapters implement them (DynamoDB, EventBridge Scheduler, EC2 or local processes, HTTP to
//! node agents); nothing here names an AWS type.

use async_trait::async_trait;
use hangar_protocol::tasks::{
    CreateWorkspaceRequest, NodeStatus, TaskStatus, TaskTransition, VmSize, WarmTimeoutEvent,
    WorkspaceStatus,
};
use hangar_protocol::{
    ChatMessage, MessageId, NodeId, ProjectId, SessionId, TaskId, UserId, WorkspaceId,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub repo: String,
    pub default_vm_size: VmSize,
    pub owner: UserId,
    /// Users who may see and act on the project; the owner is always one of them.
    pub members: Vec<UserId>,
    pub created_at: u64,
}

impl Project {
    pub fn is_member(&self, user: &UserId) -> bool {
        &self.owner == user || self.members.contains(user)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSession {
    pub project_id: ProjectId,
    pub id: SessionId,
    pub task_id: Option<TaskId>,
    pub workspace_id: Option<WorkspaceId>,
    #[serde(default)]
    pub title: String,
    pub message_count: u64,
    pub last_message_at: Option<u64>,
    pub created_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub project_id: ProjectId,
    pub title: String,
    pub prompt: String,
    pub status: TaskStatus,
    pub vm_size: VmSize,
    pub session_id: SessionId,
    pub node_id: Option<NodeId>,
    pub workspace_id: Option<WorkspaceId>,
    pub created_by: UserId,
    pub created_at: u64,
    pub updated_at: u64,
    pub history: Vec<TaskTransition>,
    /// When a transient status must have moved on; the sweep fails the task after it.
    pub deadline: Option<u64>,
    /// Optimistic concurrency: every save expects the version it read.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    pub status: NodeStatus,
    pub size: VmSize,
    /// Bumped on every claim and every return to the pool, so a warm timeout scheduled for
    /// one warm period can never destroy the node in a later one.
    pub generation: u64,
    pub warm_since: Option<u64>,
    pub created_at: u64,
    pub updated_at: u64,
    /// The provider's handle (EC2 instance id, local process id).
    pub provider_id: Option<String>,
    /// Base URL of the node agent's API, known once the node called back ready.
    pub endpoint: Option<String>,
    /// The task holding the node while claimed (or the one it is being created for).
    pub task_id: Option<TaskId>,
    pub project_id: Option<ProjectId>,
    /// Bumped on every save; each save expects the revision it read.
    pub revision: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub project_id: ProjectId,
    pub session_id: SessionId,
    #[serde(default)]
    pub task_id: Option<TaskId>,
    #[serde(default)]
    pub node_id: Option<NodeId>,
    #[serde(default = "default_workspace_status")]
    pub status: WorkspaceStatus,
    pub created_at: u64,
}

fn default_workspace_status() -> WorkspaceStatus {
    WorkspaceStatus::Running
}

/// A browser's live connection to a project page (a WebSocket of API Gateway or the local hub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The gateway's connection id.
    pub id: String,
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub connected_at: u64,
    /// Unix epoch seconds after which the item is dead even without a `$disconnect` (the
    /// table's TTL attribute removes it eventually; readers skip it at once).
    pub ttl: u64,
}

/// What a conditional message insert found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    /// The same message (same id at the same sequence) was already stored.
    Duplicate,
    /// Another message already holds this sequence number: the sender is confused.
    SequenceTaken {
        existing: MessageId,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, timeouts, network trouble: the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// An item that cannot be read back as a record, or any other non-retryable failure.
    #[error("store failure: {0}")]
    Failed(String),
    /// A conditional write found the item in another state than required.
    #[error("store condition failed: {0}")]
    ConditionFailed(String),
}

/// Whether a conditional write happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Yes,
    /// The item was not in the expected state; nothing was written.
    Conflict,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Creates the project and the owner's membership; `Conflict` if the id is taken.
    async fn create_project(&self, project: &Project) -> Result<Saved, StoreError>;
    /// Replaces the project and writes a membership entry for every member.
    async fn put_project(&self, project: &Project) -> Result<(), StoreError>;
    async fn get_project(&self, id: &ProjectId) -> Result<Option<Project>, StoreError>;
    async fn list_projects_for(&self, user: &UserId) -> Result<Vec<Project>, StoreError>;

    async fn put_session(&self, session: &ChatSession) -> Result<(), StoreError>;
    async fn get_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError>;
    async fn list_sessions(&self, project: &ProjectId) -> Result<Vec<ChatSession>, StoreError>;

    /// Saves `task` if its stored version is `expected_version` (`None`: it must not exist).
    /// The saved item carries `task.version`.
    async fn save_task(
        &self,
        task: &Task,
        expected_version: Option<u64>,
    ) -> Result<Saved, StoreError>;
    async fn get_task(&self, project: &ProjectId, id: &TaskId) -> Result<Option<Task>, StoreError>;
    async fn list_tasks(&self, project: &ProjectId) -> Result<Vec<Task>, StoreError>;
    /// Tasks in a transient status, across projects.
    async fn list_active_tasks(&self) -> Result<Vec<Task>, StoreError>;

    /// Saves `node` if the stored one is still `read` (same status, generation and revision;
    /// `None`: it must not exist).
    async fn save_node(&self, node: &Node, read: Option<&Node>) -> Result<Saved, StoreError>;
    async fn get_node(&self, id: &NodeId) -> Result<Option<Node>, StoreError>;
    /// Warm nodes of exactly `size`, longest warm first.
    async fn warm_nodes(&self, size: VmSize) -> Result<Vec<Node>, StoreError>;
    /// Nodes not destroyed.
    async fn list_live_nodes(&self) -> Result<Vec<Node>, StoreError>;

    async fn put_workspace(&self, workspace: &Workspace) -> Result<(), StoreError>;
    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError>;
    /// Workspaces not destroyed.
    async fn list_live_workspaces(&self) -> Result<Vec<Workspace>, StoreError>;

    /// Stores `message` unless its sequence is taken; never overwrites.
    async fn insert_message(
        &self,
        session: &SessionId,
        message: &ChatMessage,
    ) -> Result<InsertOutcome, StoreError>;
    /// Adds `count` to the session's message counter and moves its last-message time.
    async fn record_session_messages(
        &self,
        project: &ProjectId,
        session: &SessionId,
        count: u64,
        last_message_at: u64,
    ) -> Result<(), StoreError>;
    /// Records a live connection, findable by project and by id.
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    async fn get_connection(&self, id: &str) -> Result<Option<Connection>, StoreError>;
    /// Removes a connection; a missing one is fine.
    async fn delete_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    /// The project's connections whose TTL has not passed at `now_secs`.
    async fn list_connections(
        &self,
        project: &ProjectId,
        now_secs: u64,
    ) -> Result<Vec<Connection>, StoreError>;

    /// The highest seq stored for `session` (0: none yet).
    async fn last_message_seq(&self, session: &SessionId) -> Result<u64, StoreError>;
    /// Messages of `session` with `seq > after`, ascending, at most `limit`.
    async fn list_messages(
        &self,
        session: &SessionId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError>;
}

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
    pub size: VmSize,
    /// The control plane's API base URL, for the ready callback.
    pub api_url: String,
    /// Node callback JWT (ready callback).
    pub node_token: String,
    /// PEM public key with which the node verifies the control plane's requests.
    pub control_public_key_pem: String,
}

/// Creates and destroys nodes (EC2 instances, local processes).
#[async_trait]
pub trait Provisioner: Send + Sync {
    /// Starts a node; returns the provider's handle.
    async fn provision(&self, launch: &NodeLaunch) -> Result<String, PortError>;
    /// Destroys it; destroying an already gone node is fine.
    async fn destroy(&self, provider_id: &str) -> Result<(), PortError>;
}

/// The control plane's calls to node agents.
#[async_trait]
pub trait NodeClient: Send + Sync {
    async fn create_workspace(
        &self,
        node: &Node,
        request: &CreateWorkspaceRequest,
    ) -> Result<(), PortError>;
    /// Stops the workspace's agent and removes it; a missing workspace is fine.
    async fn destroy_workspace(
        &self,
        node: &Node,
        workspace: &WorkspaceId,
    ) -> Result<(), PortError>;
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
