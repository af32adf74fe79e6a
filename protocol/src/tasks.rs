//! Projects, tasks, chat sessions and the node/workspace control messages.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::agent::{AgentRequest, AgentSettings};
use crate::forge::{ForgeRequest, ForgeView};
use crate::git::{CheckoutSpec, TaskOutput};
use crate::ids::{NodeId, ProjectId, SessionId, TaskId, UserId, WorkspaceId};
use crate::limits::TASK_SUMMARY_HISTORY;
use crate::node::FollowUp;
use crate::permissions::PermissionSettings;
use crate::webhooks::WebhookSettings;

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(value: &str) -> Result<Self, String> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == value)
                    .ok_or_else(|| {
                        let expected: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        format!("unknown {} {value:?}; expected one of {}", stringify!($name), expected.join(", "))
                    })
            }
        }
    };
}

wire_enum!(
    /// Node sizes, smallest first; a node fits a task when it is at least the task's size.
    VmSize { Small = "small", Medium = "medium", Large = "large" }
);

impl VmSize {
    /// This size and every larger one, smallest first.
    pub fn fitting(self) -> impl Iterator<Item = VmSize> {
        VmSize::ALL
            .iter()
            .copied()
            .filter(move |size| *size as u8 >= self as u8)
    }
}

wire_enum!(
    /// Where a task is. `queued`, `provisioning`, `starting` and `running` are transient: a
    /// task in one of them always has a deadline, after which the sweep fails it.
    TaskStatus {
        Backlog = "backlog",
        Queued = "queued",
        Provisioning = "provisioning",
        Starting = "starting",
        Running = "running",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

impl TaskStatus {
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            TaskStatus::Queued
                | TaskStatus::Provisioning
                | TaskStatus::Starting
                | TaskStatus::Running
        )
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

wire_enum!(
    /// "Run now" or "Save to backlog".
    SubmitMode { RunNow = "run", Backlog = "backlog" }
);

wire_enum!(
    /// `retained`: holding a failed or cancelled task's kept workspace for a retry; not warm.
    NodeStatus {
        Creating = "creating",
        Warm = "warm",
        Claimed = "claimed",
        Retained = "retained",
        Destroying = "destroying",
        Destroyed = "destroyed",
    }
);

wire_enum!(
    /// `kept`: its run ended (failed, cancelled) and its directory is kept for a retry.
    WorkspaceStatus {
        Creating = "creating",
        Running = "running",
        Kept = "kept",
        Destroyed = "destroyed",
    }
);

wire_enum!(
    /// How a workspace's agent session ended, as the node reports it.
    WorkspaceOutcome { Completed = "completed", Failed = "failed" }
);

/// One recorded step of a task's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskTransition {
    pub from: Option<TaskStatus>,
    pub to: TaskStatus,
    pub at: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    pub id: TaskId,
    pub project_id: ProjectId,
    pub title: String,
    /// Absent in listings (summaries): read the task for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
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
    pub base_branch: String,
    /// What the task left, once it completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<TaskOutput>,
    /// Until when its workspace is kept for a retry (failed and cancelled tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_until: Option<u64>,
    /// When it was archived (hidden, read-only), with its session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<u64>,
}

impl TaskView {
    /// What a listing carries of the task: no prompt, the latest transitions only, so a
    /// page of summaries stays small however long the prompts and histories grow.
    pub fn summary(mut self) -> TaskView {
        self.prompt = None;
        let skip = self.history.len().saturating_sub(TASK_SUMMARY_HISTORY);
        self.history.drain(..skip);
        self
    }
}

/// A page of `GET /api/projects/{projectId}/tasks`: summaries, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskPage {
    pub tasks: Vec<TaskView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<TaskId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTaskRequest {
    #[serde(default)]
    pub title: Option<String>,
    pub prompt: String,
    pub mode: SubmitMode,
    #[serde(default)]
    pub vm_size: Option<VmSize>,
    /// The branch the work starts from; the project's default branch when absent.
    #[serde(default)]
    pub base_branch: Option<String>,
}

/// `PATCH /api/projects/{projectId}/tasks/{taskId}`: a backlog task changed before it runs;
/// each field present is changed (a blank title is made from the prompt again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTaskRequest {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub vm_size: Option<VmSize>,
    #[serde(default)]
    pub base_branch: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    pub id: ProjectId,
    pub name: String,
    pub repo: String,
    pub default_branch: String,
    pub default_vm_size: VmSize,
    /// Where pull requests are opened (none: tasks push their branch only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge: Option<ForgeView>,
    /// Its agent's preset, environment, secret names and setup script.
    #[serde(default)]
    pub agent: AgentSettings,
    /// What its agent may do without asking, and how long a question waits.
    #[serde(default)]
    pub permissions: PermissionSettings,
    /// Where it posts an event when a task ends or a permission waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSettings>,
    /// The ACP agent command line its nodes run (`None`: the stack's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acp_command: Option<String>,
    pub owner: UserId,
    pub members: Vec<UserId>,
    /// Emails added as members by people who have not signed in yet.
    #[serde(default)]
    pub invited: Vec<String>,
    pub created_at: u64,
    /// When it was archived (hidden, read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateProjectRequest {
    pub name: String,
    /// The repository tasks clone: `https://…`, `ssh://…` or `git@host:path`
    /// (`file:///…` on the local stack).
    pub repo: String,
    /// The branch tasks start from (`main` when absent).
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub default_vm_size: Option<VmSize>,
    /// Where pull requests are opened, with the credential to keep (write-only).
    #[serde(default, deserialize_with = "crate::forge::object")]
    pub forge: Option<ForgeRequest>,
    /// The agent's preset, environment, secrets (write-only) and setup script.
    #[serde(default, deserialize_with = "crate::forge::object")]
    pub agent: Option<AgentRequest>,
    /// Per tool kind: ask, allow or deny (absent: ask for everything, 10 minutes).
    #[serde(default, deserialize_with = "crate::forge::object")]
    pub permissions: Option<PermissionSettings>,
    /// Where to post an event when a task ends or a permission waits.
    #[serde(default, deserialize_with = "crate::forge::object")]
    pub webhook: Option<WebhookSettings>,
    /// The ACP agent command line (e.g. `claude-code-acp`, `codex-acp`, `gemini
    /// --experimental-acp`); the stack's default when absent.
    #[serde(default)]
    pub acp_command: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: SessionId,
    pub project_id: ProjectId,
    pub task_id: Option<TaskId>,
    pub workspace_id: Option<WorkspaceId>,
    pub title: String,
    pub message_count: u64,
    pub last_message_at: Option<u64>,
    pub created_at: u64,
    /// When its task was archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<u64>,
}

/// `POST /api/nodes/{nodeId}/ready`: the node agent is up (and dials its socket next).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReadyRequest {
    /// The agent's version; warm nodes of another version than the control plane expects
    /// are retired.
    #[serde(default)]
    pub agent_version: Option<String>,
}

/// `POST /api/workspaces/{workspaceId}/status`: the workspace's agent session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceStatusReport {
    pub outcome: WorkspaceOutcome,
    #[serde(default)]
    pub reason: Option<String>,
    /// What the run left (completed runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<TaskOutput>,
    /// The agent's last message, for the pull request's description (not stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<String>,
    /// Whether the workspace holds a checkout worth keeping for a retry (a failed clone
    /// leaves none).
    #[serde(default)]
    pub keep: bool,
}

/// A workspace as a node is told to run it (the create command and the assignments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateWorkspaceRequest {
    pub workspace_id: WorkspaceId,
    pub project_id: ProjectId,
    pub session_id: SessionId,
    /// The checkout to make, and where its work goes.
    pub checkout: CheckoutSpec,
    pub prompt: String,
    /// The workspace's callback JWT, for message ingest and status reports.
    pub callback_token: String,
    /// The control plane's API base URL.
    pub api_url: String,
    /// The project's ACP agent command line; the node's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acp_command: Option<String>,
    /// The seq the run's first message takes: a later run of a session continues after
    /// the last stored message.
    #[serde(default = "first_seq")]
    pub first_seq: u64,
    /// A kept workspace of the same task on this node whose directory (and checkout) the
    /// run takes over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<WorkspaceId>,
    /// Plain variables of the ACP agent's (and the setup script's) environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub agent_env: BTreeMap<String, String>,
    /// Whether the project keeps secret variables for its agent (fetched by the node).
    #[serde(default)]
    pub agent_secrets: bool,
    /// Run in the checkout after the clone, before the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_script: Option<String>,
    /// The project's permission settings (absent: the node's own policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PermissionSettings>,
    /// Members' messages that continue the session: when there are any, the run prompts
    /// them (after `context`) instead of the task's prompt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_ups: Vec<FollowUp>,
    /// The conversation so far (its latest part), for a run that continues a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

fn first_seq() -> u64 {
    1
}

/// Payload of the warm-timeout schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarmTimeoutEvent {
    pub node_id: NodeId,
    pub generation: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_fit_upwards() {
        assert_eq!(
            VmSize::Medium.fitting().collect::<Vec<_>>(),
            vec![VmSize::Medium, VmSize::Large]
        );
        assert_eq!(VmSize::Small.fitting().count(), 3);
    }

    #[test]
    fn statuses_round_trip_and_classify() {
        for status in TaskStatus::ALL {
            let json = serde_json::to_string(status).expect("json");
            assert_eq!(
                serde_json::from_str::<TaskStatus>(&json).expect("parse"),
                *status
            );
            assert_eq!(status.as_str().parse::<TaskStatus>(), Ok(*status));
            assert!(!(status.is_transient() && status.is_terminal()));
        }
        assert!(TaskStatus::Running.is_transient());
        assert!("done".parse::<TaskStatus>().is_err());
    }
}
