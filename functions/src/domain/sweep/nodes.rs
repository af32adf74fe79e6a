//! The sweep's look at each live node: lost (its socket fell silent), past its warm timeout
//! or lifetime, of an old release, never ready, or claimed by a task that ended.

use hangar_protocol::tasks::{NodeStatus, TaskStatus, WorkspaceStatus};

use super::SweepReport;
use crate::domain::error::Result;
use crate::domain::records::{Node, Task};
use crate::domain::tasks::Tasks;

impl Tasks {
    pub(super) async fn sweep_node(
        &self,
        node: Node,
        now: u64,
        report: &mut SweepReport,
    ) -> Result<()> {
        if self.is_lost(&node, now).await? {
            return self.lose_node(node, report).await;
        }
        let too_old = node.is_past_lifetime(self.timeouts.max_node_lifetime_ms, now);
        let destroy_for = match node.status {
            NodeStatus::Warm => {
                let cold = node
                    .warm_since
                    .is_some_and(|since| since + self.timeouts.node_warm_ms <= now);
                if let Some(why) = self.pool.release.outdated(&node) {
                    if self
                        .pool
                        .destroy_node(&node, &format!("retired: {why}"))
                        .await?
                    {
                        report.retired_nodes.push(node.id.clone());
                    }
                    return Ok(());
                }
                match (too_old, cold) {
                    (true, _) => Some("past its maximum lifetime"),
                    (false, true) => Some("warm past its timeout"),
                    (false, false) => None,
                }
            }
            NodeStatus::Creating => (node.created_at + self.timeouts.provision_ms <= now)
                .then_some("never became ready"),
            NodeStatus::Destroying => Some("finishing an earlier destroy"),
            NodeStatus::Claimed if too_old => {
                self.end_of_life(&node, report).await?;
                None
            }
            NodeStatus::Claimed => {
                if self.holder_is_done(&node, now).await? {
                    self.pool.release_node(&node).await?;
                    report.released_nodes.push(node.id.clone());
                }
                None
            }
            // Its kept workspace goes with it; the sweep of the workspace tidies the task.
            NodeStatus::Retained if too_old => Some("past its maximum lifetime"),
            NodeStatus::Retained => {
                if !self.holder_keeps(&node).await? {
                    self.pool.release_node(&node).await?;
                    report.released_nodes.push(node.id.clone());
                }
                None
            }
            NodeStatus::Destroyed => None,
        };
        if let Some(reason) = destroy_for
            && self.pool.destroy_node(&node, reason).await?
        {
            report.destroyed_nodes.push(node.id);
        }
        Ok(())
    }

    /// A claimed node past its lifetime: nothing outlives its node, so a task still on it
    /// fails with it.
    async fn end_of_life(&self, node: &Node, report: &mut SweepReport) -> Result<()> {
        if let (Some(project), Some(task)) = (&node.project_id, &node.task_id)
            && let Some(task) = self.store.get_task(project, task).await?
            && task.holds(&node.id)
        {
            self.fail_task(
                &task,
                format!("node {} reached its maximum lifetime", node.id),
            )
            .await?;
        }
        let current = self.store.get_node(&node.id).await?;
        if let Some(current) = current.filter(|n| n.status != NodeStatus::Destroyed)
            && self
                .pool
                .destroy_node(&current, "past its maximum lifetime")
                .await?
        {
            report.destroyed_nodes.push(node.id.clone());
        }
        Ok(())
    }

    /// Whether a ready node's socket fell silent for `node_lost_ms`: no heartbeat since, or
    /// no socket at all that long after it last changed.
    async fn is_lost(&self, node: &Node, now: u64) -> Result<bool> {
        if !matches!(node.status, NodeStatus::Claimed | NodeStatus::Warm) {
            return Ok(false);
        }
        let heard_at = match self.store.get_node_link(&node.id).await? {
            Some(link) => link.heartbeat_at,
            None => node.updated_at,
        };
        Ok(heard_at + self.timeouts.node_lost_ms <= now)
    }

    /// Fails the lost node's task and destroys the node.
    async fn lose_node(&self, node: Node, report: &mut SweepReport) -> Result<()> {
        let reason = format!(
            "node {} was lost (no heartbeat for {} s)",
            node.id,
            self.timeouts.node_lost_ms / 1000
        );
        // Destroyed first, so failing the task does not return it to the pool.
        if !self.pool.destroy_node(&node, &reason).await? {
            return Ok(());
        }
        if let (Some(project), Some(task)) = (&node.project_id, &node.task_id)
            && let Some(task) = self.store.get_task(project, task).await?
            && task.holds(&node.id)
        {
            self.fail_task(&task, reason).await?;
        }
        report.lost_nodes.push(node.id);
        Ok(())
    }

    /// Whether the task a retained node holds still keeps its workspace there.
    async fn holder_keeps(&self, node: &Node) -> Result<bool> {
        let task = match (&node.project_id, &node.task_id) {
            (Some(project), Some(task)) => self.store.get_task(project, task).await?,
            _ => None,
        };
        Ok(task.is_some_and(|task| task.kept_until.is_some() && task.holds(&node.id)))
    }

    /// Whether a claimed node's task ended (or moved to another node) and left no live
    /// workspace on it. A claim writes the node before the task: a task still queued is on
    /// its way to this node, unless the claim is older than a start may take (its claimer
    /// died; the queue finds the task another node).
    async fn holder_is_done(&self, node: &Node, now: u64) -> Result<bool> {
        let task = match (&node.project_id, &node.task_id) {
            (Some(project), Some(task)) => self.store.get_task(project, task).await?,
            _ => None,
        };
        let claim_in_flight = |task: &Task| {
            task.status == TaskStatus::Queued && node.updated_at + self.timeouts.start_ms > now
        };
        let holder_done = task.as_ref().is_none_or(|task| {
            task.status.is_terminal() || (!task.holds(&node.id) && !claim_in_flight(task))
        });
        if !holder_done {
            return Ok(false);
        }
        let workspace_live = match task.and_then(|task| task.workspace_id) {
            Some(id) => self
                .store
                .get_workspace(&id)
                .await?
                .is_some_and(|w| w.status != WorkspaceStatus::Destroyed),
            None => false,
        };
        Ok(!workspace_live)
    }
}
