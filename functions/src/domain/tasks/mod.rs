//! The task lifecycle: every step of a task's life is a recorded transition saved with
//! optimistic concurrency. [`requests`] holds what users ask for (create, run, cancel, read),
//! [`lifecycle`] the steps that move a task along (claim or provision a node, start the
//! workspace, take its outcome), and this module what both share: updating a task, failing
//! it and cleaning up after it.

mod lifecycle;
mod requests;

use std::sync::Arc;

use hangar_protocol::tasks::{NodeStatus, TaskStatus, WorkspaceStatus};
use hangar_protocol::time::now_ms;
use hangar_protocol::{ProjectId, TaskId};

use super::Timeouts;
use super::error::{Error, Result};
use super::live::Live;
use super::pool::{Pool, UPDATE_ATTEMPTS};
use super::ports::{NodeClient, Saved, Store, Tokens};
use super::records::{Task, Workspace};

/// What new nodes and workspaces are told about the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneAddress {
    /// The API base URL nodes call back to.
    pub api_url: String,
    /// PEM key with which nodes verify the control plane's requests.
    pub control_public_key_pem: String,
}

pub struct Tasks {
    pub store: Arc<dyn Store>,
    pub pool: Arc<Pool>,
    pub nodes: Arc<dyn NodeClient>,
    pub tokens: Arc<dyn Tokens>,
    /// Every saved task change is pushed to the project's viewers.
    pub live: Arc<Live>,
    pub address: ControlPlaneAddress,
    pub timeouts: Timeouts,
}

impl Tasks {
    /// Applies `change` to the stored task until the save wins; `change` returns false when
    /// the task (as read) should not change, and then nothing is written.
    pub async fn update_task(
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
                self.live.task_changed(&task).await;
                return Ok(Some(task));
            }
        }
        Err(Error::Internal(format!(
            "task {id} kept changing under an update"
        )))
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

    /// After a task ended: destroy its workspace and give its node back to the pool. What
    /// fails here is left for the sweep.
    pub async fn clean_up(&self, task: &Task) -> Result<()> {
        if let Some(workspace_id) = &task.workspace_id
            && let Some(workspace) = self.store.get_workspace(workspace_id).await?
            && workspace.status != WorkspaceStatus::Destroyed
            && !self.destroy_workspace(&workspace).await?
        {
            return Ok(());
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

    /// Destroys a workspace on its node; false when the node could not be reached.
    pub async fn destroy_workspace(&self, workspace: &Workspace) -> Result<bool> {
        let node = match &workspace.node_id {
            Some(node) => self.store.get_node(node).await?,
            None => None,
        };
        if let Some(node) =
            node.filter(|node| node.endpoint.is_some() && node.status != NodeStatus::Destroyed)
            && let Err(err) = self.nodes.destroy_workspace(&node, &workspace.id).await
        {
            tracing::warn!(workspace = %workspace.id, node = %node.id, error = %err, "could not destroy the workspace; the sweep will retry");
            return Ok(false);
        }
        self.store
            .put_workspace(&workspace.with_status(WorkspaceStatus::Destroyed))
            .await?;
        Ok(true)
    }
}
