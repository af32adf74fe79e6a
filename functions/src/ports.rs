//! Ports: what the domain needs from the world, as traits over plain records.
//! The DynamoDB adapter implements [`Store`]; nothing here names an AWS type.

use async_trait::async_trait;
use hangar_protocol::{ChatMessage, MessageId, ProjectId, SessionId, TaskId, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub repo: String,
    pub default_vm_size: String,
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
    pub message_count: u64,
    pub last_message_at: Option<u64>,
    pub created_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub project_id: ProjectId,
    pub session_id: SessionId,
    pub created_at: u64,
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

#[async_trait]
pub trait Store: Send + Sync {
    async fn put_project(&self, project: &Project) -> Result<(), StoreError>;
    async fn get_project(&self, id: &ProjectId) -> Result<Option<Project>, StoreError>;

    async fn put_session(&self, session: &ChatSession) -> Result<(), StoreError>;
    async fn get_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError>;

    async fn put_workspace(&self, workspace: &Workspace) -> Result<(), StoreError>;
    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError>;

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

    /// Messages of `session` with `seq > after`, ascending, at most `limit`.
    async fn list_messages(
        &self,
        session: &SessionId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError>;
}
