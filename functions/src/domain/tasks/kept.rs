//! A failed or cancelled task keeps its workspace (its checkout and what the agent left) for
//! `HANGAR_WORKSPACE_RETENTION_MS`, never past its node's lifetime; the node is `retained`
//! meanwhile, neither warm nor claimable. Retry runs the task again, in the kept workspace
//! when its node still holds it (else on any node, from a fresh clone that continues the
//! task's branch if it was pushed); Discard, or the sweep once the time is up, destroys it
//! and frees the node.

use hangar_protocol::node::NodeCommand;
use hangar_protocol::tasks::{NodeStatus, TaskStatus, TaskView, WorkspaceStatus};
use hangar_protocol::time::now_ms;
use hangar_protocol::{ErrorCode, ProjectId, TaskId, UserId};

use super::Tasks;
use super::requests::writable_task;
use crate::domain::access::writable_project;
use crate::domain::error::{Error, Result};
use crate::domain::records::{Node, Task, Workspace};

fn ended(status: TaskStatus) -> bool {
    matches!(status, TaskStatus::Failed | TaskStatus::Cancelled)
}

impl Tasks {
    /// Keeps the workspace of `task`, which just failed or was cancelled, instead of
    /// destroying it; true when it is kept.
    pub(super) async fn keep_workspace(&self, task: &Task) -> Result<bool> {
        let retention = self.timeouts.workspace_retention_ms;
        let (Some(workspace_id), Some(node_id)) = (&task.workspace_id, &task.node_id) else {
            return Ok(false);
        };
        if retention == 0 || !ended(task.status) || task.kept_until.is_some() {
            return Ok(false);
        }
        let (workspace, node) = tokio::join!(
            self.store.get_workspace(workspace_id),
            self.store.get_node(node_id)
        );
        // A failed clone's workspace is destroyed before this; one whose start was not
        // acknowledged yet (a run that failed at once) may still hold a checkout.
        let live = |w: &Workspace| {
            matches!(
                w.status,
                WorkspaceStatus::Running | WorkspaceStatus::Creating
            )
        };
        let Some(workspace) = workspace?.filter(live) else {
            return Ok(false);
        };
        let Some(node) = node?.filter(|n| n.status == NodeStatus::Claimed && n.holds(task)) else {
            return Ok(false);
        };
        let now = now_ms();
        let until = (now + retention).min(node.created_at + self.timeouts.max_node_lifetime_ms);
        if until <= now {
            return Ok(false);
        }
        let retained = self
            .pool
            .update_node(&node.id, |current| {
                if current.status != NodeStatus::Claimed || current.generation != node.generation {
                    return false;
                }
                current.retain();
                true
            })
            .await?;
        if retained.is_none() {
            return Ok(false);
        }
        // A cancelled run may still be going: stopped, its directory left in place.
        let stop = NodeCommand::StopWorkspace {
            workspace_id: workspace.id.clone(),
        };
        self.live.send_to_node(&node.id, &stop).await?;
        self.store
            .put_workspace(&workspace.kept(now, until))
            .await?;
        self.update_task(&task.project_id, &task.id, |current| {
            if !ended(current.status) || current.workspace_id.as_ref() != Some(&workspace.id) {
                return false;
            }
            current.kept_until = Some(until);
            // Viewers keep the latest frame of a task by this.
            current.updated_at = now;
            true
        })
        .await?;
        tracing::info!(task = %task.id, workspace = %workspace.id, node = %node.id, until, "workspace kept");
        Ok(true)
    }

    /// Destroys the task's kept workspace and frees its node (Discard, or time is up).
    pub(crate) async fn release_kept(&self, task: &Task) -> Result<()> {
        if let Some(workspace_id) = &task.workspace_id
            && let Some(workspace) = self.store.get_workspace(workspace_id).await?
            && workspace.status == WorkspaceStatus::Kept
        {
            self.destroy_workspace(&workspace).await?;
        }
        if let Some(node_id) = &task.node_id
            && let Some(node) = self.store.get_node(node_id).await?
            && node.status == NodeStatus::Retained
            && node.holds(task)
        {
            self.pool.release_node(&node).await?;
        }
        let now = now_ms();
        self.update_task(&task.project_id, &task.id, |current| {
            let kept = current.kept_until.take();
            current.updated_at = now;
            kept.is_some()
        })
        .await?;
        Ok(())
    }

    /// The retained node of the task's kept workspace, claimed again for its retry.
    pub(super) async fn reclaim_kept(&self, task: &Task) -> Result<Option<Node>> {
        let (Some(_), Some(node)) = (task.kept_until, &task.node_id) else {
            return Ok(None);
        };
        self.pool
            .update_node(node, |node| {
                if node.status != NodeStatus::Retained || !node.holds(task) {
                    return false;
                }
                node.reclaim();
                true
            })
            .await
    }

    /// Retry: a failed or cancelled task runs again.
    pub async fn retry_task(
        &self,
        user: &UserId,
        project: &ProjectId,
        id: &TaskId,
    ) -> Result<TaskView> {
        let rule = ("retry", "a failed or cancelled task can be retried");
        self.queue_again(user, (project, id), rule, ended).await
    }

    /// Discard: the kept workspace of a failed or cancelled task goes now.
    pub async fn discard_task(
        &self,
        user: &UserId,
        project: &ProjectId,
        id: &TaskId,
    ) -> Result<TaskView> {
        writable_project(self.store.as_ref(), user, project).await?;
        let task = self.stored_task(project, id).await?;
        writable_task(&task)?;
        if task.kept_until.is_none() || !ended(task.status) {
            return Err(Error::conflict(
                ErrorCode::NothingKept,
                format!("task {id} is {} and keeps no workspace", task.status),
            ));
        }
        self.release_kept(&task).await?;
        self.start_queued_logged().await;
        self.load_task(project, id).await
    }

    /// The sweep's look at a kept workspace: discarded once its time is up, or when its task
    /// no longer keeps it (retried elsewhere, discarded half-way).
    pub(crate) async fn sweep_kept(
        &self,
        workspace: &Workspace,
        task: Option<&Task>,
        now: u64,
    ) -> Result<bool> {
        let kept_by_task = task.is_some_and(|task| {
            task.kept_until.is_some() && task.workspace_id.as_ref() == Some(&workspace.id)
        });
        let expired = workspace.kept_until.is_none_or(|until| until <= now);
        match task {
            Some(task) if kept_by_task && expired => self.release_kept(task).await?,
            Some(_) if kept_by_task => return Ok(false),
            _ => self.destroy_workspace(workspace).await?,
        }
        Ok(true)
    }
}
