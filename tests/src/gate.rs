//! A store that pauses at one chosen read: the real store (moto) behind it, with a gate the
//! race tests close so that one flow stops right after reading, another runs, and the first
//! goes on with what it read. Forces the interleavings a race needs instead of hoping for them.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hangar_functions::domain::NodeQuotas;
use hangar_functions::domain::api_tokens::ApiTokenRecord;
use hangar_functions::domain::permissions::Permission;
use hangar_functions::domain::ports::{
    ApiTokenStore, ConnectionStore, DeletionStore, Expiring, FirstUse, FollowUpStore,
    IdempotencyStore, IdempotentRequest, InsertOutcome, NodeLinkStore, NodeStore, PermissionStore,
    ProjectStore, Reserved, Saved, SessionStore, Store, StoreError, TaskStore, UserStore,
    WorkspaceStore,
};
use hangar_functions::domain::records::{
    ChatSession, Connection, Node, NodeLink, Project, Task, Workspace,
};
use hangar_functions::domain::tasks::FollowUpRecord;
use hangar_functions::domain::users::{Invitation, UserRecord};
use hangar_protocol::permissions::PermissionAnswer;
use hangar_protocol::tasks::{VmSize, WorkspaceStatus};
use hangar_protocol::{
    ApiTokenId, ChatMessage, MessageId, NodeId, PermissionId, ProjectId, SessionId, TaskId, UserId,
    WorkspaceId,
};
use tokio::sync::oneshot;

type Result<T> = std::result::Result<T, StoreError>;

/// The reads the gate can stop after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Project,
    Workspace,
}

pub struct GatedStore {
    inner: Arc<dyn Store>,
    armed: Mutex<Option<Armed>>,
}

struct Armed {
    read: Read,
    reached: oneshot::Sender<()>,
    go: oneshot::Receiver<()>,
}

/// The flow stopped at the gate: wait until it got there, then let it go on.
pub struct Paused {
    reached: oneshot::Receiver<()>,
    go: oneshot::Sender<()>,
}

impl Paused {
    /// Returns once the flow has made the read and stopped.
    pub async fn reached(&mut self) {
        (&mut self.reached)
            .await
            .expect("the gated flow reached the gate");
    }

    pub fn release(self) {
        let _ = self.go.send(());
    }
}

impl GatedStore {
    pub fn new(inner: Arc<dyn Store>) -> Arc<GatedStore> {
        Arc::new(GatedStore {
            inner,
            armed: Mutex::new(None),
        })
    }

    /// The next `read` (and only that one) stops after reading until released.
    pub fn pause_after(&self, read: Read) -> Paused {
        let (reached_tx, reached) = oneshot::channel();
        let (go, go_rx) = oneshot::channel();
        *self.armed.lock().expect("gate") = Some(Armed {
            read,
            reached: reached_tx,
            go: go_rx,
        });
        Paused { reached, go }
    }

    async fn pass(&self, read: Read) {
        let armed = {
            let mut armed = self.armed.lock().expect("gate");
            match armed.as_ref() {
                Some(gate) if gate.read == read => armed.take(),
                _ => None,
            }
        };
        if let Some(gate) = armed {
            let _ = gate.reached.send(());
            let _ = gate.go.await;
        }
    }
}

impl Store for GatedStore {}

#[async_trait]
impl ProjectStore for GatedStore {
    async fn create_project(&self, project: &Project) -> Result<Saved> {
        self.inner.create_project(project).await
    }
    async fn save_project(&self, project: &Project, read: u64) -> Result<Saved> {
        self.inner.save_project(project, read).await
    }
    async fn get_project(&self, id: &ProjectId) -> Result<Option<Project>> {
        let read = self.inner.get_project(id).await;
        self.pass(Read::Project).await;
        read
    }
    async fn list_projects_for(&self, user: &UserId) -> Result<Vec<Project>> {
        self.inner.list_projects_for(user).await
    }
}

#[async_trait]
impl DeletionStore for GatedStore {
    async fn delete_task_records(&self, task: &Task) -> Result<()> {
        self.inner.delete_task_records(task).await
    }
    async fn delete_project_record(&self, project: &ProjectId) -> Result<()> {
        self.inner.delete_project_record(project).await
    }
    async fn put_expiring(&self, what: &Expiring) -> Result<()> {
        self.inner.put_expiring(what).await
    }
    async fn list_expiring(&self) -> Result<Vec<Expiring>> {
        self.inner.list_expiring().await
    }
    async fn expire_some(&self, what: &Expiring, limit: usize, now_secs: u64) -> Result<usize> {
        self.inner.expire_some(what, limit, now_secs).await
    }
    async fn delete_expiring(&self, what: &Expiring) -> Result<()> {
        self.inner.delete_expiring(what).await
    }
}

#[async_trait]
impl ApiTokenStore for GatedStore {
    async fn put_api_token(&self, token: &ApiTokenRecord) -> Result<()> {
        self.inner.put_api_token(token).await
    }
    async fn get_api_token(&self, id: &ApiTokenId) -> Result<Option<ApiTokenRecord>> {
        self.inner.get_api_token(id).await
    }
    async fn list_api_tokens(&self, user: &UserId) -> Result<Vec<ApiTokenRecord>> {
        self.inner.list_api_tokens(user).await
    }
    async fn delete_api_token(&self, id: &ApiTokenId) -> Result<()> {
        self.inner.delete_api_token(id).await
    }
}

#[async_trait]
impl UserStore for GatedStore {
    async fn put_user(&self, user: &UserRecord) -> Result<()> {
        self.inner.put_user(user).await
    }
    async fn get_user(&self, id: &UserId) -> Result<Option<UserRecord>> {
        self.inner.get_user(id).await
    }
    async fn put_email_owner(&self, email: &str, user: &UserId) -> Result<()> {
        self.inner.put_email_owner(email, user).await
    }
    async fn email_owner(&self, email: &str) -> Result<Option<UserId>> {
        self.inner.email_owner(email).await
    }
    async fn put_invitation(&self, invitation: &Invitation) -> Result<()> {
        self.inner.put_invitation(invitation).await
    }
    async fn invitations_for(&self, email: &str) -> Result<Vec<Invitation>> {
        self.inner.invitations_for(email).await
    }
    async fn delete_invitation(&self, email: &str, project: &ProjectId) -> Result<()> {
        self.inner.delete_invitation(email, project).await
    }
}

#[async_trait]
impl WorkspaceStore for GatedStore {
    async fn put_workspace(&self, workspace: &Workspace) -> Result<()> {
        self.inner.put_workspace(workspace).await
    }
    async fn advance_workspace(
        &self,
        workspace: &Workspace,
        from: WorkspaceStatus,
    ) -> Result<Saved> {
        self.inner.advance_workspace(workspace, from).await
    }
    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>> {
        let read = self.inner.get_workspace(id).await;
        self.pass(Read::Workspace).await;
        read
    }
    async fn get_workspace_and_session(
        &self,
        id: &WorkspaceId,
        project: &ProjectId,
        session: &SessionId,
    ) -> Result<(Option<Workspace>, Option<ChatSession>)> {
        let read = self
            .inner
            .get_workspace_and_session(id, project, session)
            .await;
        self.pass(Read::Workspace).await;
        read
    }
    async fn list_live_workspaces(&self) -> Result<Vec<Workspace>> {
        self.inner.list_live_workspaces().await
    }
    async fn node_workspaces(&self, node: &NodeId) -> Result<Vec<Workspace>> {
        self.inner.node_workspaces(node).await
    }
}

#[async_trait]
impl SessionStore for GatedStore {
    async fn put_session(&self, session: &ChatSession) -> Result<()> {
        self.inner.put_session(session).await
    }
    async fn get_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>> {
        self.inner.get_session(project, id).await
    }
    async fn list_sessions(&self, project: &ProjectId) -> Result<Vec<ChatSession>> {
        self.inner.list_sessions(project).await
    }
    async fn record_session_messages(
        &self,
        project: &ProjectId,
        session: &SessionId,
        count: u64,
        last_message_at: u64,
    ) -> Result<()> {
        self.inner
            .record_session_messages(project, session, count, last_message_at)
            .await
    }
}

#[async_trait]
impl TaskStore for GatedStore {
    async fn save_task(&self, task: &Task, expected_version: Option<u64>) -> Result<Saved> {
        self.inner.save_task(task, expected_version).await
    }
    async fn get_task(&self, project: &ProjectId, id: &TaskId) -> Result<Option<Task>> {
        self.inner.get_task(project, id).await
    }
    async fn list_tasks(
        &self,
        project: &ProjectId,
        limit: u32,
        before: Option<&TaskId>,
    ) -> Result<(Vec<Task>, bool)> {
        self.inner.list_tasks(project, limit, before).await
    }
    async fn list_active_tasks(&self) -> Result<Vec<Task>> {
        self.inner.list_active_tasks().await
    }
}

#[async_trait]
impl NodeStore for GatedStore {
    async fn create_node(&self, node: &Node, quotas: NodeQuotas) -> Result<Reserved> {
        self.inner.create_node(node, quotas).await
    }
    async fn save_node(&self, node: &Node, read: Option<&Node>) -> Result<Saved> {
        self.inner.save_node(node, read).await
    }
    async fn get_node(&self, id: &NodeId) -> Result<Option<Node>> {
        self.inner.get_node(id).await
    }
    async fn warm_nodes(&self, project: &ProjectId, size: VmSize) -> Result<Vec<Node>> {
        self.inner.warm_nodes(project, size).await
    }
    async fn list_live_nodes(&self) -> Result<Vec<Node>> {
        self.inner.list_live_nodes().await
    }
}

#[async_trait]
impl NodeLinkStore for GatedStore {
    async fn put_node_link(&self, link: &NodeLink) -> Result<()> {
        self.inner.put_node_link(link).await
    }
    async fn get_node_link(&self, node: &NodeId) -> Result<Option<NodeLink>> {
        self.inner.get_node_link(node).await
    }
    async fn link_of_connection(&self, connection: &str) -> Result<Option<NodeLink>> {
        self.inner.link_of_connection(connection).await
    }
    async fn delete_node_link(&self, link: &NodeLink) -> Result<()> {
        self.inner.delete_node_link(link).await
    }
    async fn record_heartbeat(&self, node: &NodeId, connection: &str, at: u64) -> Result<Saved> {
        self.inner.record_heartbeat(node, connection, at).await
    }
}

#[async_trait]
impl hangar_functions::domain::ports::MessageStore for GatedStore {
    async fn insert_message(
        &self,
        session: &SessionId,
        message: &ChatMessage,
    ) -> Result<InsertOutcome> {
        self.inner.insert_message(session, message).await
    }
    async fn last_message_seq(&self, session: &SessionId) -> Result<u64> {
        self.inner.last_message_seq(session).await
    }
    async fn list_messages(
        &self,
        session: &SessionId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>> {
        self.inner.list_messages(session, after, limit).await
    }
    async fn list_messages_before(
        &self,
        session: &SessionId,
        before: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>> {
        self.inner
            .list_messages_before(session, before, limit)
            .await
    }
}

#[async_trait]
impl IdempotencyStore for GatedStore {
    async fn claim_key(&self, request: &IdempotentRequest, now_secs: u64) -> Result<FirstUse> {
        self.inner.claim_key(request, now_secs).await
    }
}

#[async_trait]
impl PermissionStore for GatedStore {
    async fn open_permission(&self, permission: &Permission) -> Result<bool> {
        self.inner.open_permission(permission).await
    }
    async fn get_permission(
        &self,
        session: &SessionId,
        id: &PermissionId,
    ) -> Result<Option<Permission>> {
        self.inner.get_permission(session, id).await
    }
    async fn answer_permission(
        &self,
        session: &SessionId,
        id: &PermissionId,
        answer: &PermissionAnswer,
    ) -> Result<Saved> {
        self.inner.answer_permission(session, id, answer).await
    }
    async fn settle_permission(
        &self,
        session: &SessionId,
        id: &PermissionId,
        answer: &PermissionAnswer,
    ) -> Result<()> {
        self.inner.settle_permission(session, id, answer).await
    }
    async fn answered_permissions(&self, session: &SessionId) -> Result<Vec<Permission>> {
        self.inner.answered_permissions(session).await
    }
}

#[async_trait]
impl FollowUpStore for GatedStore {
    async fn put_follow_up(&self, follow_up: &FollowUpRecord) -> Result<()> {
        self.inner.put_follow_up(follow_up).await
    }
    async fn pending_follow_ups(&self, session: &SessionId) -> Result<Vec<FollowUpRecord>> {
        self.inner.pending_follow_ups(session).await
    }
    async fn follow_up_stored(&self, session: &SessionId, id: &MessageId) -> Result<()> {
        self.inner.follow_up_stored(session, id).await
    }
}

#[async_trait]
impl ConnectionStore for GatedStore {
    async fn put_connection(&self, connection: &Connection) -> Result<()> {
        self.inner.put_connection(connection).await
    }
    async fn get_connection(&self, id: &str) -> Result<Option<Connection>> {
        self.inner.get_connection(id).await
    }
    async fn delete_connection(&self, connection: &Connection) -> Result<()> {
        self.inner.delete_connection(connection).await
    }
    async fn list_connections(
        &self,
        project: &ProjectId,
        now_secs: u64,
    ) -> Result<Vec<Connection>> {
        self.inner.list_connections(project, now_secs).await
    }
    async fn count_user_connections(&self, user: &UserId, now_secs: u64) -> Result<usize> {
        self.inner.count_user_connections(user, now_secs).await
    }
    async fn count_project_connections(&self, project: &ProjectId, now_secs: u64) -> Result<usize> {
        self.inner
            .count_project_connections(project, now_secs)
            .await
    }
}
