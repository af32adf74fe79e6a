//! The records the control plane keeps, with the state changes that belong to them: a task
//! moves only through [`Task::transition`], a node only through the `Node` methods below, so
//! every change of status is made (and bumps its counters) in one place.

use hangar_protocol::agent::AgentSettings;
use hangar_protocol::forge::ForgeView;
use hangar_protocol::git::TaskOutput;
use hangar_protocol::permissions::PermissionSettings;
use hangar_protocol::tasks::{
    NodeStatus, SessionView, TaskStatus, TaskTransition, TaskView, VmSize, WorkspaceStatus,
};
use hangar_protocol::webhooks::WebhookSettings;
use hangar_protocol::{NodeId, ProjectId, SessionId, TaskId, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

/// The branch of projects and tasks saved before branches were recorded.
fn main_branch() -> String {
    "main".to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub repo: String,
    /// The branch tasks start from unless they name another.
    #[serde(default = "main_branch")]
    pub default_branch: String,
    pub default_vm_size: VmSize,
    /// The ACP agent command line its nodes run (`None`: the stack's default).
    #[serde(default)]
    pub acp_command: Option<String>,
    /// Where its pull requests are opened (its credential is in the vault, not here).
    #[serde(default)]
    pub forge: Option<ForgeView>,
    /// Its agent's preset, variables, secret names (the values are in the vault) and setup.
    #[serde(default)]
    pub agent: AgentSettings,
    /// What its agent may do without asking (default: ask, timing out to deny).
    #[serde(default)]
    pub permissions: PermissionSettings,
    /// Where it posts an event when a task ends or a permission waits.
    #[serde(default)]
    pub webhook: Option<WebhookSettings>,
    pub owner: UserId,
    /// Users who may see and act on the project; the owner is always one of them.
    pub members: Vec<UserId>,
    /// Emails added as members before their owners ever signed in: each becomes a member at
    /// that first sign-in (an `Invitation` item per email finds them).
    #[serde(default)]
    pub invited: Vec<String>,
    pub created_at: u64,
    /// Bumped on every save; each save expects the revision it read, so two owners'
    /// concurrent changes (two members added at once) both land.
    #[serde(default)]
    pub revision: u64,
    /// When its owner archived it (hidden, read-only).
    #[serde(default)]
    pub archived_at: Option<u64>,
}

impl Project {
    /// The ACP agent command line its nodes run: its command, else its preset's (`None`:
    /// the stack's default).
    pub fn agent_command(&self) -> Option<String> {
        self.acp_command
            .clone()
            .or_else(|| self.agent.preset.map(|preset| preset.command().to_string()))
    }

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
    /// When its task was archived.
    #[serde(default)]
    pub archived_at: Option<u64>,
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
    /// The branch the work starts from.
    #[serde(default = "main_branch")]
    pub base_branch: String,
    /// What the task left (its branch, commit and change), once a run reported it.
    #[serde(default)]
    pub output: Option<TaskOutput>,
    /// Until when its workspace (`workspace_id` on `node_id`) is kept for a retry.
    #[serde(default)]
    pub kept_until: Option<u64>,
    /// When a transient status must have moved on; the sweep fails the task after it.
    pub deadline: Option<u64>,
    /// Optimistic concurrency: every save expects the version it read.
    pub version: u64,
    /// When a member archived it (hidden, read-only).
    #[serde(default)]
    pub archived_at: Option<u64>,
}

impl Task {
    /// Moves the task to `to`, recording when and why; a transient status gets `deadline`.
    pub fn transition(
        &mut self,
        to: TaskStatus,
        reason: impl Into<String>,
        now: u64,
        deadline: Option<u64>,
    ) {
        self.history.push(TaskTransition {
            from: Some(self.status),
            to,
            at: now,
            reason: reason.into(),
        });
        self.status = to;
        self.updated_at = now;
        self.deadline = if to.is_transient() { deadline } else { None };
    }

    /// Whether the task holds `node` (a task that moved on to another node does not).
    pub fn holds(&self, node: &NodeId) -> bool {
        self.node_id.as_ref() == Some(node)
    }
}

impl From<Task> for TaskView {
    fn from(task: Task) -> Self {
        TaskView {
            id: task.id,
            project_id: task.project_id,
            title: task.title,
            prompt: Some(task.prompt),
            status: task.status,
            vm_size: task.vm_size,
            session_id: task.session_id,
            node_id: task.node_id,
            workspace_id: task.workspace_id,
            created_by: task.created_by,
            created_at: task.created_at,
            updated_at: task.updated_at,
            history: task.history,
            base_branch: task.base_branch,
            output: task.output,
            kept_until: task.kept_until,
            archived_at: task.archived_at,
        }
    }
}

impl From<ChatSession> for SessionView {
    fn from(session: ChatSession) -> Self {
        SessionView {
            id: session.id,
            project_id: session.project_id,
            task_id: session.task_id,
            workspace_id: session.workspace_id,
            title: session.title,
            message_count: session.message_count,
            last_message_at: session.last_message_at,
            created_at: session.created_at,
            archived_at: session.archived_at,
        }
    }
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
    /// The node agent's version, known once it called back ready.
    #[serde(default)]
    pub agent_version: Option<String>,
    /// The machine image it was launched from.
    #[serde(default)]
    pub image: Option<String>,
    /// The task holding the node while claimed (or the one it is being created for).
    pub task_id: Option<TaskId>,
    /// The one project the node serves, for its whole life: warm pools are per project.
    pub project_id: Option<ProjectId>,
    /// Bumped on every save; each save expects the revision it read.
    pub revision: u64,
    /// Whether it holds a place in the node quotas (given back when it is destroyed).
    #[serde(default)]
    pub counted: bool,
}

impl Node {
    /// A node being created for `task`.
    pub fn creating_for(task: &Task, now: u64) -> Node {
        Node {
            id: NodeId::new(),
            status: NodeStatus::Creating,
            size: task.vm_size,
            generation: 0,
            warm_since: None,
            created_at: now,
            updated_at: now,
            provider_id: None,
            agent_version: None,
            image: None,
            task_id: Some(task.id.clone()),
            project_id: Some(task.project_id.clone()),
            revision: 0,
            counted: true,
        }
    }

    /// Whether `task` holds the node.
    pub fn holds(&self, task: &Task) -> bool {
        self.task_id.as_ref() == Some(&task.id)
    }

    /// Whether the node has reached its maximum lifetime at `now`.
    pub fn is_past_lifetime(&self, max_lifetime_ms: u64, now: u64) -> bool {
        self.created_at + max_lifetime_ms <= now
    }

    /// Warm → claimed by `task`, in a new generation.
    pub fn claim_for(&mut self, task: &Task) {
        self.status = NodeStatus::Claimed;
        self.generation += 1;
        self.warm_since = None;
        self.task_id = Some(task.id.clone());
        self.project_id = Some(task.project_id.clone());
    }

    /// Creating → claimed by the task it was created for, its agent up at `agent_version`.
    pub fn ready(&mut self, agent_version: Option<String>) {
        self.agent_version = agent_version;
        self.status = NodeStatus::Claimed;
        self.generation += 1;
    }

    /// Claimed → retained: it keeps its (failed or cancelled) task's workspace for a retry,
    /// and is neither warm nor claimable.
    pub fn retain(&mut self) {
        self.status = NodeStatus::Retained;
    }

    /// Retained → claimed again by its task (a retry), in a new generation.
    pub fn reclaim(&mut self) {
        self.status = NodeStatus::Claimed;
        self.generation += 1;
    }

    /// Claimed or retained → warm since `now`, in a new generation, holding no task. It
    /// stays its project's: a node never serves a second project.
    pub fn release(&mut self, now: u64) {
        self.status = NodeStatus::Warm;
        self.generation += 1;
        self.warm_since = Some(now);
        self.task_id = None;
    }

    /// Any live status → destroying (the provider is asked next).
    pub fn start_destroying(&mut self) {
        self.status = NodeStatus::Destroying;
        self.warm_since = None;
    }

    /// The provider destroyed it (or it never started).
    pub fn mark_destroyed(&mut self) {
        self.status = NodeStatus::Destroyed;
        self.warm_since = None;
    }
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
    /// When it was destroyed: its callback token works for a grace after, then never again.
    #[serde(default)]
    pub closed_at: Option<u64>,
    /// Kept: until when its directory stays on its node.
    #[serde(default)]
    pub kept_until: Option<u64>,
    /// The kept workspace (of the same task, on the same node) whose directory it takes over.
    #[serde(default)]
    pub reuses: Option<WorkspaceId>,
}

fn default_workspace_status() -> WorkspaceStatus {
    WorkspaceStatus::Running
}

impl Workspace {
    /// A workspace for `task` being created on `node`.
    pub fn creating(task: &Task, node: &NodeId, now: u64) -> Workspace {
        Workspace {
            id: WorkspaceId::new(),
            project_id: task.project_id.clone(),
            session_id: task.session_id.clone(),
            task_id: Some(task.id.clone()),
            node_id: Some(node.clone()),
            status: WorkspaceStatus::Creating,
            created_at: now,
            closed_at: None,
            kept_until: None,
            reuses: None,
        }
    }

    /// Its run ended at `now`; its directory is kept until `until` (its token closes).
    pub fn kept(&self, now: u64, until: u64) -> Workspace {
        Workspace {
            status: WorkspaceStatus::Kept,
            closed_at: Some(now),
            kept_until: Some(until),
            ..self.clone()
        }
    }

    pub fn with_status(&self, status: WorkspaceStatus) -> Workspace {
        Workspace {
            status,
            ..self.clone()
        }
    }

    /// Destroyed at `now` (a kept one keeps its first close time).
    pub fn closed(&self, now: u64) -> Workspace {
        Workspace {
            status: WorkspaceStatus::Destroyed,
            closed_at: Some(self.closed_at.unwrap_or(now)),
            kept_until: None,
            ..self.clone()
        }
    }

    /// Whether its callbacks are still taken at `now`: until `grace_ms` after it closed.
    pub fn takes_callbacks(&self, now: u64, grace_ms: u64) -> bool {
        !matches!(
            self.status,
            WorkspaceStatus::Destroyed | WorkspaceStatus::Kept
        ) || self
            .closed_at
            .is_some_and(|closed| now <= closed + grace_ms)
    }
}

/// A node's outbound socket: the connection commands are pushed to, and when the node was
/// last heard from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLink {
    pub node_id: NodeId,
    /// The gateway's connection id.
    pub connection_id: String,
    pub connected_at: u64,
    pub heartbeat_at: u64,
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
