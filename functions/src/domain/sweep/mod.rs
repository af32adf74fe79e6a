//! The reconciliation sweep, run on a rate schedule: the safety net for what a crash or a
//! lost callback left behind. Tasks stuck past their deadline fail, workspaces without a
//! live task are destroyed, nodes past their warm timeout or lifetime (or of an old release)
//! are destroyed, claimed nodes whose task ended return to the pool, machines and schedules
//! nobody owns go. Each item is its own step: one that fails is logged, counted in the
//! report's failures (which the sweep Lambda turns into a metric with an alarm) and skipped.

mod machines;
mod nodes;

use std::fmt::Display;

use hangar_protocol::tasks::{NodeStatus, TaskStatus, WorkspaceStatus};
use hangar_protocol::time::now_ms;
use hangar_protocol::{NodeId, TaskId, WorkspaceId};

use super::error::{Error, Result};
use super::records::{Task, Workspace};
use super::tasks::Tasks;

/// Items of one deletion a sweep marks to expire at most (a sweep stays well within its
/// Lambda's time; a long session takes a few sweeps).
const EXPIRE_PAGE: usize = 500;

/// What one sweep repaired, and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub failed_tasks: Vec<TaskId>,
    pub destroyed_nodes: Vec<NodeId>,
    pub released_nodes: Vec<NodeId>,
    /// Warm nodes of another agent version or image than the release, destroyed.
    pub retired_nodes: Vec<NodeId>,
    pub destroyed_workspaces: Vec<WorkspaceId>,
    pub deleted_schedules: Vec<String>,
    /// Workspaces whose create command was pushed again.
    pub resent_commands: Vec<WorkspaceId>,
    /// Machines of this stack that no live node owned, terminated.
    pub terminated_orphans: Vec<String>,
    /// Nodes whose socket fell silent: their task failed, the node was destroyed.
    pub lost_nodes: Vec<NodeId>,
    /// Items of deleted tasks and projects marked to expire (the table's TTL).
    pub expired_items: usize,
    /// Steps that failed (and were skipped).
    pub failures: Vec<SweepFailure>,
}

/// A step the sweep could not take: the item, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepFailure {
    pub item: String,
    pub error: String,
}

impl SweepReport {
    /// Settles one step: a failure is logged and counted, and the sweep goes on.
    fn settle(&mut self, item: impl Display, outcome: Result<()>) {
        if let Err(err) = outcome {
            tracing::error!(%item, error = %err, "sweep step failed; skipped until the next sweep");
            self.failures.push(SweepFailure {
                item: item.to_string(),
                error: err.to_string(),
            });
        }
    }

    /// The items of a listing, or none (and a failure) when the listing failed.
    fn listed<T>(&mut self, what: &str, listing: Result<Vec<T>, impl Into<Error>>) -> Vec<T> {
        match listing {
            Ok(items) => items,
            Err(err) => {
                self.settle(format!("listing {what}"), Err(err.into()));
                Vec::new()
            }
        }
    }

    fn repaired_something(&self) -> bool {
        let quiet = SweepReport {
            failures: self.failures.clone(),
            ..SweepReport::default()
        };
        *self != quiet
    }
}

impl Tasks {
    pub async fn sweep(&self) -> SweepReport {
        let now = now_ms();
        let mut report = SweepReport::default();
        let tasks = self.store.list_active_tasks().await;
        for task in report.listed("tasks", tasks) {
            let outcome = self.sweep_task(&task, now, &mut report).await;
            report.settle(format_args!("task {}", task.id), outcome);
        }
        let workspaces = self.store.list_live_workspaces().await;
        for workspace in report.listed("workspaces", workspaces) {
            let outcome = self.sweep_workspace(&workspace, now, &mut report).await;
            report.settle(format_args!("workspace {}", workspace.id), outcome);
        }
        let nodes = self.store.list_live_nodes().await;
        for node in report.listed("nodes", nodes) {
            let id = node.id.clone();
            let outcome = self.sweep_node(node, now, &mut report).await;
            report.settle(format_args!("node {id}"), outcome);
        }
        self.sweep_machines(&mut report).await;
        self.sweep_schedules(&mut report).await;
        self.sweep_deleted(now, &mut report).await;
        // Whatever it freed, and whatever a lost nudge left waiting.
        let queue = self.start_queued().await;
        report.settle("the queue", queue);
        if report.repaired_something() {
            tracing::info!(?report, "sweep repaired state");
        }
        report
    }

    /// Marks what deleted tasks and projects left to expire, [`EXPIRE_PAGE`] items of each a
    /// sweep; a deletion whose items are all marked is done.
    async fn sweep_deleted(&self, now: u64, report: &mut SweepReport) {
        let deleted = self.store.list_expiring().await;
        for what in report.listed("deletions", deleted) {
            let marked = self.store.expire_some(&what, EXPIRE_PAGE, now / 1000).await;
            let outcome = match marked {
                Ok(marked) => {
                    report.expired_items += marked;
                    if marked < EXPIRE_PAGE {
                        self.store.delete_expiring(&what).await.map_err(Into::into)
                    } else {
                        Ok(())
                    }
                }
                Err(err) => Err(err.into()),
            };
            report.settle(format_args!("deleted {what:?}"), outcome);
        }
    }

    /// Fails the task if it is past the deadline of its transient status.
    async fn sweep_task(&self, task: &Task, now: u64, report: &mut SweepReport) -> Result<()> {
        let Some(deadline) = task.deadline.filter(|deadline| *deadline <= now) else {
            return Ok(());
        };
        let reason = format!(
            "timed out in {} ({} s past its deadline)",
            task.status,
            (now - deadline) / 1000
        );
        if task.status == TaskStatus::Provisioning
            && let Some(node) = match &task.node_id {
                Some(id) => self.store.get_node(id).await?,
                None => None,
            }
            && node.status == NodeStatus::Creating
            && self.pool.destroy_node(&node, "never became ready").await?
        {
            report.destroyed_nodes.push(node.id);
        }
        self.fail_task(task, reason).await?;
        report.failed_tasks.push(task.id.clone());
        Ok(())
    }

    /// Destroys the workspace if its task ended or moved on; pushes its create command
    /// again if its node never acknowledged it.
    async fn sweep_workspace(
        &self,
        workspace: &Workspace,
        now: u64,
        report: &mut SweepReport,
    ) -> Result<()> {
        let task = match &workspace.task_id {
            Some(task) => self.store.get_task(&workspace.project_id, task).await?,
            None => None,
        };
        if workspace.status == WorkspaceStatus::Kept {
            if self.sweep_kept(workspace, task.as_ref(), now).await? {
                report.destroyed_workspaces.push(workspace.id.clone());
            }
            return Ok(());
        }
        let orphan = task.as_ref().is_none_or(|task| {
            task.status.is_terminal() || task.workspace_id.as_ref() != Some(&workspace.id)
        });
        // A workspace being created belongs to a start in progress; only time ends that.
        let creating_recently = workspace.status == WorkspaceStatus::Creating
            && workspace.created_at + self.timeouts.start_ms > now;
        if orphan && !creating_recently {
            self.destroy_workspace(workspace).await?;
            report.destroyed_workspaces.push(workspace.id.clone());
        } else if let Some(task) = task.filter(|_| !orphan)
            && workspace.status == WorkspaceStatus::Creating
            && task.status == TaskStatus::Starting
            && workspace.created_at + self.timeouts.command_resend_ms <= now
        {
            self.send_create(&task, workspace).await?;
            report.resent_commands.push(workspace.id.clone());
        }
        Ok(())
    }
}
