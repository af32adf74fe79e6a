//! Ports: what the domain needs from the world, as traits over the records. The store is one
//! trait per aggregate (a service asks only for what it uses); adapters implement them
//! (DynamoDB, EventBridge Scheduler, EC2 or local processes, HTTP to node agents, JWT
//! signing); nothing here names an AWS type.

use async_trait::async_trait;
use hangar_protocol::permissions::PermissionAnswer;
use hangar_protocol::tasks::{VmSize, WorkspaceStatus};
use hangar_protocol::{
    ApiTokenId, ChatMessage, MessageId, NodeId, PermissionId, ProjectId, SessionId, TaskId, UserId,
    WorkspaceId,
};

mod services;

pub use self::services::*;
use super::NodeQuotas;
use super::api_tokens::ApiTokenRecord;
use super::permissions::Permission;
use super::records::{ChatSession, Connection, Node, NodeLink, Project, Task, Workspace};
use super::tasks::FollowUpRecord;
use super::users::{Invitation, UserRecord};

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

type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Creates the project and the owner's membership; `Conflict` if the id is taken.
    async fn create_project(&self, project: &Project) -> StoreResult<Saved>;
    /// Saves `project` if it is still stored at revision `read` (`Conflict` otherwise),
    /// and writes a membership entry for every member.
    async fn save_project(&self, project: &Project, read: u64) -> StoreResult<Saved>;
    async fn get_project(&self, id: &ProjectId) -> StoreResult<Option<Project>>;
    async fn list_projects_for(&self, user: &UserId) -> StoreResult<Vec<Project>>;
}

/// Users as they signed in, who owns which email, and the invitations waiting on an email.
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn put_user(&self, user: &UserRecord) -> StoreResult<()>;
    async fn get_user(&self, id: &UserId) -> StoreResult<Option<UserRecord>>;
    /// Records that `user` signed in with the verified `email`.
    async fn put_email_owner(&self, email: &str, user: &UserId) -> StoreResult<()>;
    async fn email_owner(&self, email: &str) -> StoreResult<Option<UserId>>;
    async fn put_invitation(&self, invitation: &Invitation) -> StoreResult<()>;
    async fn invitations_for(&self, email: &str) -> StoreResult<Vec<Invitation>>;
    async fn delete_invitation(&self, email: &str, project: &ProjectId) -> StoreResult<()>;
}

/// What a deletion leaves to expire: a session's messages (and follow-ups, permissions),
/// or everything a project held.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Expiring {
    Session(SessionId),
    Project(ProjectId),
}

/// Deleted tasks and projects: their own records go at once; what they held is marked to
/// expire through the table's TTL by the sweep, a page at a time.
#[async_trait]
pub trait DeletionStore: Send + Sync {
    /// Deletes the task's item and its session's.
    async fn delete_task_records(&self, task: &Task) -> StoreResult<()>;
    async fn delete_project_record(&self, project: &ProjectId) -> StoreResult<()>;
    async fn put_expiring(&self, what: &Expiring) -> StoreResult<()>;
    async fn list_expiring(&self) -> StoreResult<Vec<Expiring>>;
    /// Marks up to `limit` items of what `what` held to expire at `now_secs` (a project's
    /// sessions become `Expiring` themselves); how many it marked.
    async fn expire_some(&self, what: &Expiring, limit: usize, now_secs: u64)
    -> StoreResult<usize>;
    async fn delete_expiring(&self, what: &Expiring) -> StoreResult<()>;
}

/// Personal API tokens, by id and by their user.
#[async_trait]
pub trait ApiTokenStore: Send + Sync {
    async fn put_api_token(&self, token: &ApiTokenRecord) -> StoreResult<()>;
    async fn get_api_token(&self, id: &ApiTokenId) -> StoreResult<Option<ApiTokenRecord>>;
    async fn list_api_tokens(&self, user: &UserId) -> StoreResult<Vec<ApiTokenRecord>>;
    async fn delete_api_token(&self, id: &ApiTokenId) -> StoreResult<()>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn put_session(&self, session: &ChatSession) -> StoreResult<()>;
    async fn get_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
    ) -> StoreResult<Option<ChatSession>>;
    async fn list_sessions(&self, project: &ProjectId) -> StoreResult<Vec<ChatSession>>;
    /// Adds `count` to the session's message counter and moves its last-message time.
    async fn record_session_messages(
        &self,
        project: &ProjectId,
        session: &SessionId,
        count: u64,
        last_message_at: u64,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Saves `task` if its stored version is `expected_version` (`None`: it must not exist).
    /// The saved item carries `task.version`.
    async fn save_task(&self, task: &Task, expected_version: Option<u64>) -> StoreResult<Saved>;
    async fn get_task(&self, project: &ProjectId, id: &TaskId) -> StoreResult<Option<Task>>;
    /// Up to `limit` of the project's tasks, newest first, older than `before` when given;
    /// true when more may follow.
    async fn list_tasks(
        &self,
        project: &ProjectId,
        limit: u32,
        before: Option<&TaskId>,
    ) -> StoreResult<(Vec<Task>, bool)>;
    /// Tasks in a transient status, across projects.
    async fn list_active_tasks(&self) -> StoreResult<Vec<Task>>;
}

/// Which node quota was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    /// `HANGAR_MAX_NODES`: every project's nodes together.
    All,
    /// `HANGAR_MAX_NODES_PER_PROJECT`.
    Project,
}

/// What creating a counted node found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    Yes,
    /// No place left in this quota; nothing was written.
    Full(QuotaScope),
}

#[async_trait]
pub trait NodeStore: Send + Sync {
    /// Creates a counted node and takes its place in both quotas, in one write: no race can
    /// pass a quota.
    async fn create_node(&self, node: &Node, quotas: NodeQuotas) -> StoreResult<Reserved>;
    /// Saves `node` if the stored one is still `read` (same status, generation and revision;
    /// `None`: it must not exist). A counted node saved as destroyed gives its places back
    /// in the same write.
    async fn save_node(&self, node: &Node, read: Option<&Node>) -> StoreResult<Saved>;
    async fn get_node(&self, id: &NodeId) -> StoreResult<Option<Node>>;
    /// Warm nodes of `project` of exactly `size`, longest warm first.
    async fn warm_nodes(&self, project: &ProjectId, size: VmSize) -> StoreResult<Vec<Node>>;
    /// Nodes not destroyed.
    async fn list_live_nodes(&self) -> StoreResult<Vec<Node>>;
}

#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    async fn put_workspace(&self, workspace: &Workspace) -> StoreResult<()>;
    /// Puts `workspace` only if the stored one is still `from` (`Conflict` otherwise): a
    /// late acknowledgement never revives a workspace a cancel closed meanwhile.
    async fn advance_workspace(
        &self,
        workspace: &Workspace,
        from: WorkspaceStatus,
    ) -> StoreResult<Saved>;
    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>>;
    /// The workspace and a session of `project`, read together where the store can (one
    /// round trip for the ingest path).
    async fn get_workspace_and_session(
        &self,
        id: &WorkspaceId,
        project: &ProjectId,
        session: &SessionId,
    ) -> StoreResult<(Option<Workspace>, Option<ChatSession>)>;
    /// Workspaces not destroyed.
    async fn list_live_workspaces(&self) -> StoreResult<Vec<Workspace>>;
    /// Workspaces not destroyed on `node`.
    async fn node_workspaces(&self, node: &NodeId) -> StoreResult<Vec<Workspace>>;
}

#[async_trait]
pub trait NodeLinkStore: Send + Sync {
    /// Records the node's current socket (replacing an older one), findable by node and by
    /// connection id.
    async fn put_node_link(&self, link: &NodeLink) -> StoreResult<()>;
    async fn get_node_link(&self, node: &NodeId) -> StoreResult<Option<NodeLink>>;
    /// The node whose socket `connection` is, if it is one.
    async fn link_of_connection(&self, connection: &str) -> StoreResult<Option<NodeLink>>;
    /// Forgets the link, unless the node reconnected on another connection meanwhile.
    async fn delete_node_link(&self, link: &NodeLink) -> StoreResult<()>;
    /// Moves the link's heartbeat to `at`, if the node is still on `connection`.
    async fn record_heartbeat(
        &self,
        node: &NodeId,
        connection: &str,
        at: u64,
    ) -> StoreResult<Saved>;
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores `message` unless its sequence is taken; never overwrites.
    async fn insert_message(
        &self,
        session: &SessionId,
        message: &ChatMessage,
    ) -> StoreResult<InsertOutcome>;
    /// The highest seq stored for `session` (0: none yet).
    async fn last_message_seq(&self, session: &SessionId) -> StoreResult<u64>;
    /// Messages of `session` with `seq > after`, ascending, at most `limit`.
    async fn list_messages(
        &self,
        session: &SessionId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<ChatMessage>>;
    /// Messages of `session` with `seq < before`, the latest `limit` of them, ascending.
    async fn list_messages_before(
        &self,
        session: &SessionId,
        before: u64,
        limit: u32,
    ) -> StoreResult<Vec<ChatMessage>>;
}

/// Permissions the agents asked the viewers of a session.
#[async_trait]
pub trait PermissionStore: Send + Sync {
    /// Keeps a new pending permission (true); one kept already is left as it is (false).
    async fn open_permission(&self, permission: &Permission) -> StoreResult<bool>;
    async fn get_permission(
        &self,
        session: &SessionId,
        id: &PermissionId,
    ) -> StoreResult<Option<Permission>>;
    /// Records a member's answer if the permission is still pending.
    async fn answer_permission(
        &self,
        session: &SessionId,
        id: &PermissionId,
        answer: &PermissionAnswer,
    ) -> StoreResult<Saved>;
    /// The agent took `answer`: the permission is settled (a missing one is fine).
    async fn settle_permission(
        &self,
        session: &SessionId,
        id: &PermissionId,
        answer: &PermissionAnswer,
    ) -> StoreResult<()>;
    /// The session's permissions answered by a member and not yet settled by the agent.
    async fn answered_permissions(&self, session: &SessionId) -> StoreResult<Vec<Permission>>;
}

/// Members' messages to sessions' agents, kept until the agent stored them.
#[async_trait]
pub trait FollowUpStore: Send + Sync {
    async fn put_follow_up(&self, follow_up: &FollowUpRecord) -> StoreResult<()>;
    /// The session's messages its agent has not stored yet.
    async fn pending_follow_ups(&self, session: &SessionId) -> StoreResult<Vec<FollowUpRecord>>;
    /// The agent stored the message `id` (a message that is no follow-up is fine).
    async fn follow_up_stored(&self, session: &SessionId, id: &MessageId) -> StoreResult<()>;
}

/// A request a user makes once under an idempotency key, whatever its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentRequest {
    pub user: UserId,
    pub project: ProjectId,
    pub key: String,
    /// What was asked, so a reuse of the key for something else is told apart.
    pub fingerprint: u64,
    /// The task the first request makes.
    pub task_id: TaskId,
    /// Unix epoch seconds after which the key is forgotten (the table's TTL).
    pub expires_at: u64,
}

/// Whether a key was new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstUse {
    Yes,
    /// Used before (and not expired) for this request.
    Before {
        fingerprint: u64,
        task_id: TaskId,
        expires_at: u64,
    },
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Records the key for `request` unless it is recorded already.
    async fn claim_key(&self, request: &IdempotentRequest, now_secs: u64) -> StoreResult<FirstUse>;
}

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Records a live connection, findable by project and by id.
    async fn put_connection(&self, connection: &Connection) -> StoreResult<()>;
    async fn get_connection(&self, id: &str) -> StoreResult<Option<Connection>>;
    /// Removes a connection; a missing one is fine.
    async fn delete_connection(&self, connection: &Connection) -> StoreResult<()>;
    /// The project's connections whose TTL has not passed at `now_secs`.
    async fn list_connections(
        &self,
        project: &ProjectId,
        now_secs: u64,
    ) -> StoreResult<Vec<Connection>>;
    /// How many connections of `user` are live at `now_secs`.
    async fn count_user_connections(&self, user: &UserId, now_secs: u64) -> StoreResult<usize>;
    /// The project's live connections, counted.
    async fn count_project_connections(
        &self,
        project: &ProjectId,
        now_secs: u64,
    ) -> StoreResult<usize>;
}

/// The whole table, for the services that touch several aggregates.
pub trait Store:
    ProjectStore
    + UserStore
    + ApiTokenStore
    + DeletionStore
    + SessionStore
    + TaskStore
    + NodeStore
    + NodeLinkStore
    + WorkspaceStore
    + MessageStore
    + ConnectionStore
    + IdempotencyStore
    + PermissionStore
    + FollowUpStore
{
}
