//! The queue of run-now tasks. A task that finds no warm node of its project and no room in
//! the node quotas waits in `queued`; whenever capacity may have freed (a task ended, a node
//! went warm or away, a new task came), the queue is worked from its oldest task: tasks of
//! one project start in the order they were submitted, and a project with no room left does
//! not hold back the others. When the stack is full, a warm node of another project gives
//! its place up for the oldest waiting task; a node retained for a failed task's kept
//! workspace gives its place up to waiting work of its project (the kept workspace goes).

use std::collections::HashSet;

use hangar_protocol::tasks::{NodeStatus, TaskStatus};
use hangar_protocol::time::now_ms;

use super::Tasks;
use crate::domain::error::Result;
use crate::domain::ports::QuotaScope;
use crate::domain::records::Task;

/// How starting a queued task went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// It moved on (or was not queued any more).
    Yes,
    /// No warm node, and this quota has no room for a new one: it waits.
    NoCapacity(QuotaScope),
}

impl Tasks {
    /// Starts queued tasks, oldest first, while capacity lasts. One pass runs at a time in
    /// this process; passes of other processes race safely (every step is conditional).
    pub async fn start_queued(&self) -> Result<()> {
        let _turn = self.dispatch.lock().await;
        let mut queued: Vec<Task> = self
            .store
            .list_active_tasks()
            .await?
            .into_iter()
            .filter(|task| task.status == TaskStatus::Queued)
            .collect();
        queued.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let mut waiting = HashSet::new();
        let mut stack_full = false;
        for task in queued {
            if waiting.contains(&task.project_id) {
                continue; // its project's older task waits: no overtaking
            }
            match self.start_one(&task, stack_full).await {
                Ok(Started::Yes) => {}
                Ok(Started::NoCapacity(scope)) => {
                    stack_full |= scope == QuotaScope::All;
                    waiting.insert(task.project_id.clone());
                    self.note_waiting(&task, scope).await?;
                }
                Err(err) => {
                    tracing::error!(task = %task.id, error = %err, "starting a queued task failed; it stays queued");
                    waiting.insert(task.project_id.clone());
                }
            }
        }
        Ok(())
    }

    /// Starts one task: a warm node of its project, else a new node, making room in a full
    /// stack by evicting another project's warm node.
    async fn start_one(&self, task: &Task, stack_full: bool) -> Result<Started> {
        if stack_full {
            return match self.pool.claim_node(task).await? {
                Some(node) => {
                    self.start_workspace(task, node.clone()).await?;
                    self.pool.forget_warm_timeout(&node).await;
                    Ok(Started::Yes)
                }
                None => Ok(Started::NoCapacity(QuotaScope::All)),
            };
        }
        match self.start(task).await? {
            Started::NoCapacity(QuotaScope::All)
                if self.pool.evict_warm_node(&task.project_id).await? =>
            {
                self.start(task).await
            }
            Started::NoCapacity(_) if self.give_up_kept(task).await? => self.start(task).await,
            started => Ok(started),
        }
    }

    /// Frees the longest-retained node of the task's project (its kept workspace goes) so
    /// the waiting task can have it; false when there is none.
    async fn give_up_kept(&self, waiting: &Task) -> Result<bool> {
        let mut retained: Vec<_> = self
            .store
            .list_live_nodes()
            .await?
            .into_iter()
            .filter(|node| {
                node.status == NodeStatus::Retained
                    && node.project_id.as_ref() == Some(&waiting.project_id)
            })
            .collect();
        retained.sort_by_key(|node| node.updated_at);
        for node in retained {
            let Some(holder) = &node.task_id else {
                continue;
            };
            if holder == &waiting.id {
                continue; // its own kept workspace: a retry reclaims it
            }
            if let Some(task) = self.store.get_task(&waiting.project_id, holder).await? {
                tracing::info!(node = %node.id, kept_for = %task.id, waiting = %waiting.id, "a kept workspace gives its node up to waiting work");
                self.release_kept(&task).await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Records once why the task waits, and gives it the queue's deadline.
    async fn note_waiting(&self, task: &Task, scope: QuotaScope) -> Result<()> {
        let reason = match scope {
            QuotaScope::All => format!(
                "waiting for a node: the stack runs its maximum of {} nodes",
                self.pool.quotas.total
            ),
            QuotaScope::Project => format!(
                "waiting for a node: the project runs its maximum of {} nodes",
                self.pool.quotas.per_project
            ),
        };
        let now = now_ms();
        let deadline = now + self.timeouts.queue_ms;
        self.update_task(&task.project_id, &task.id, |task| {
            let noted = task
                .history
                .last()
                .is_some_and(|step| step.reason == reason);
            if task.status != TaskStatus::Queued || noted {
                return false;
            }
            task.transition(TaskStatus::Queued, reason.clone(), now, Some(deadline));
            true
        })
        .await?;
        Ok(())
    }
}
