//! The task lifecycle: every step of a task's life is a recorded transition saved with
//! optimistic concurrency. [`requests`] holds what users ask for (create, run, cancel, read),
//! [`lifecycle`] the steps that move a task along (claim or provision a node, start the
//! workspace, take its outcome), and this module what both share: updating a task, failing
//! it and cleaning up after it.

mod archive;
mod edit;
mod followups;
mod kept;
mod lifecycle;
mod node_reads;
mod queue;
mod requests;
mod submit;

pub use followups::FollowUpRecord;
pub use queue::Started;
pub use requests::{TaskPageRequest, archived_param};
pub use submit::Submitted;

use std::sync::Arc;

use hangar_protocol::node::NodeCommand;
use hangar_protocol::tasks::{NodeStatus, TaskStatus, WarmTimeoutEvent, WorkspaceStatus};
use hangar_protocol::time::now_ms;
use hangar_protocol::{ProjectId, TaskId, WorkspaceId};

use super::Timeouts;
use super::access::open_workspace;
use super::error::{Error, Result};
use super::forge::Forges;
use super::live::Live;
use super::pool::{Pool, UPDATE_ATTEMPTS, WarmTimeoutOutcome};
use super::ports::{Saved, Store, Tokens};
use super::projects::RepoPolicy;
use super::records::{Task, Workspace};

/// Where nodes reach the control plane (known to the functions that sign nodes' tokens).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlPlaneAddress {
    /// The API base URL nodes call back to.
    pub api_url: String,
    /// The WebSocket API URL nodes dial for their commands.
    pub socket_url: String,
}

pub struct Tasks {
    pub store: Arc<dyn Store>,
    pub pool: Arc<Pool>,
    pub tokens: Arc<dyn Tokens>,
    /// Every saved task change is pushed to the project's viewers, and node commands go
    /// down the nodes' sockets.
    pub live: Arc<Live>,
    pub address: ControlPlaneAddress,
    pub timeouts: Timeouts,
    /// What repositories may be cloned, and who commits the work.
    pub repos: RepoPolicy,
    /// Projects' forges: credentials and pull requests.
    pub forges: Forges,
    /// One pass over the queue at a time in this process (see [`Tasks::start_queued`]).
    pub dispatch: tokio::sync::Mutex<()>,
}

impl Tasks {
    /// Applies `change` to the stored task until the save wins, and tells the project's
    /// viewers; `change` returns false when the task (as read) should not change, and then
    /// nothing is written.
    pub async fn update_task(
        &self,
        project: &ProjectId,
        id: &TaskId,
        change: impl FnMut(&mut Task) -> bool,
    ) -> Result<Option<Task>> {
        let task = self.change_task(project, id, change).await?;
        if let Some(task) = &task {
            self.live.task_changed(task).await;
        }
        Ok(task)
    }

    /// [`Tasks::update_task`] without telling the viewers (the caller does, when it suits).
    pub(super) async fn change_task(
        &self,
        project: &ProjectId,
        id: &TaskId,
        mut change: impl FnMut(&mut Task) -> bool,
    ) -> Result<Option<Task>> {
        for _ in 0..UPDATE_ATTEMPTS {
            let Some(read) = self.store.get_task(project, id).await? else {
                return Ok(None);
            };
            let mut task = read.clone();
            if !change(&mut task) {
                return Ok(None);
            }
            task.version = read.version + 1;
            if self.store.save_task(&task, Some(read.version)).await? == Saved::Yes {
                return Ok(Some(task));
            }
        }
        Err(Error::Internal(format!(
            "task {id} kept changing under an update"
        )))
    }

    /// The warm timeout of `event`; a destroyed node leaves room for a queued task.
    pub async fn warm_timeout(&self, event: &WarmTimeoutEvent) -> Result<WarmTimeoutOutcome> {
        let outcome = self.pool.warm_timeout(event).await?;
        if outcome == WarmTimeoutOutcome::Destroyed {
            self.start_queued().await?;
        }
        Ok(outcome)
    }

    /// Fails `task` (if it is not finished yet) and cleans up after it.
    pub async fn fail_task(&self, task: &Task, reason: String) -> Result<()> {
        tracing::warn!(task = %task.id, %reason, "task failed");
        let now = now_ms();
        let failed = self
            .update_task(&task.project_id, &task.id, |task| {
                if task.status.is_terminal() || task.status == TaskStatus::Backlog {
                    return false;
                }
                task.transition(TaskStatus::Failed, reason.clone(), now, None);
                true
            })
            .await?;
        if let Some(task) = failed {
            self.clean_up(&task).await?;
        }
        Ok(())
    }

    /// After a task ended: destroy its workspace and give its node back to the pool.
    pub async fn clean_up(&self, task: &Task) -> Result<()> {
        if self.keep_workspace(task).await? {
            return Ok(());
        }
        if let Some(workspace_id) = &task.workspace_id
            && let Some(workspace) = self.store.get_workspace(workspace_id).await?
            && workspace.status != WorkspaceStatus::Destroyed
        {
            self.destroy_workspace(&workspace).await?;
        }
        let Some(node_id) = &task.node_id else {
            return Ok(());
        };
        match self.store.get_node(node_id).await? {
            Some(node)
                if node.status == NodeStatus::Claimed
                    && node.task_id.as_ref() == Some(&task.id) =>
            {
                self.pool.release_node(&node).await
            }
            _ => Ok(()),
        }
    }

    /// Closes a workspace (its callback token dies after the grace) and tells its node to
    /// remove it; a node that misses the command removes it when it next converges.
    pub async fn destroy_workspace(&self, workspace: &Workspace) -> Result<()> {
        self.store
            .put_workspace(&workspace.closed(now_ms()))
            .await?;
        if let Some(node) = &workspace.node_id {
            let command = NodeCommand::DestroyWorkspace {
                workspace_id: workspace.id.clone(),
            };
            self.live.send_to_node(node, &command).await?;
        }
        Ok(())
    }

    /// The workspace a callback is about, if its token is still good.
    pub async fn open_workspace(&self, id: &WorkspaceId) -> Result<Workspace> {
        open_workspace(self.store.as_ref(), id, self.timeouts.workspace_grace_ms).await
    }
}
