//! The reconciliation sweep, run on a rate schedule: the safety net for what a crash or a
//! lost callback left behind. Tasks stuck past their deadline fail, workspaces without a
//! live task are destroyed, nodes past their warm timeout or lifetime are destroyed, claimed
//! nodes whose task ended return to the pool, and schedules of nodes that moved on go.

use hangar_protocol::tasks::{NodeStatus, TaskStatus, WorkspaceStatus};
use hangar_protocol::time::now_ms;
use hangar_protocol::{NodeId, TaskId, WorkspaceId};

use super::error::Result;
use super::records::Node;
use super::tasks::Tasks;

/// What one sweep repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub failed_tasks: Vec<TaskId>,
    pub destroyed_nodes: Vec<NodeId>,
    pub released_nodes: Vec<NodeId>,
    pub destroyed_workspaces: Vec<WorkspaceId>,
    pub deleted_schedules: Vec<String>,
    /// Workspaces whose create command was pushed again.
    pub resent_commands: Vec<WorkspaceId>,
    /// Machines of this stack that no live node owned, terminated.
    pub terminated_orphans: Vec<String>,
    /// Nodes whose socket fell silent: their task failed, the node was destroyed.
    pub lost_nodes: Vec<NodeId>,
}

impl Tasks {
    pub async fn sweep(&self) -> Result<SweepReport> {
        let now = now_ms();
        let mut report = SweepReport::default();
        self.sweep_tasks(now, &mut report).await?;
        self.sweep_workspaces(now, &mut report).await?;
        for node in self.store.list_live_nodes().await? {
            self.sweep_node(node, now, &mut report).await?;
        }
        self.sweep_instances(&mut report).await?;
        self.sweep_schedules(&mut report).await?;
        if report != SweepReport::default() {
            tracing::info!(?report, "sweep repaired state");
        }
        // Whatever it freed, and whatever a lost nudge left waiting.
        self.start_queued().await?;
        Ok(report)
    }

    /// Fails tasks past the deadline of their transient status.
    async fn sweep_tasks(&self, now: u64, report: &mut SweepReport) -> Result<()> {
        for task in self.store.list_active_tasks().await? {
            let Some(deadline) = task.deadline.filter(|deadline| *deadline <= now) else {
                continue;
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
            self.fail_task(&task, reason).await?;
            report.failed_tasks.push(task.id);
        }
        Ok(())
    }

    /// Destroys workspaces whose task ended or moved on.
    async fn sweep_workspaces(&self, now: u64, report: &mut SweepReport) -> Result<()> {
        for workspace in self.store.list_live_workspaces().await? {
            let task = match &workspace.task_id {
                Some(task) => self.store.get_task(&workspace.project_id, task).await?,
                None => None,
            };
            let orphan = task.as_ref().is_none_or(|task| {
                task.status.is_terminal() || task.workspace_id.as_ref() != Some(&workspace.id)
            });
            // A workspace being created belongs to a start in progress; only time ends that.
            let creating_recently = workspace.status == WorkspaceStatus::Creating
                && workspace.created_at + self.timeouts.start_ms > now;
            if orphan && !creating_recently {
                self.destroy_workspace(&workspace).await?;
                report.destroyed_workspaces.push(workspace.id.clone());
            } else if let Some(task) = task.filter(|_| !orphan)
                && workspace.status == WorkspaceStatus::Creating
                && task.status == TaskStatus::Starting
                && workspace.created_at + self.timeouts.command_resend_ms <= now
            {
                // The node never acknowledged the create: push it again.
                self.send_create(&task, &workspace).await?;
                report.resent_commands.push(workspace.id.clone());
            }
        }
        Ok(())
    }

    async fn sweep_node(&self, node: Node, now: u64, report: &mut SweepReport) -> Result<()> {
        if self.is_lost(&node, now).await? {
            return self.lose_node(node, report).await;
        }
        let too_old = node.is_past_lifetime(self.timeouts.max_node_lifetime_ms, now);
        let destroy_for = match node.status {
            NodeStatus::Warm => {
                let cold = node
                    .warm_since
                    .is_some_and(|since| since + self.timeouts.node_warm_ms <= now);
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
                // Nothing outlives its node: a task still on it fails with it.
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
                None
            }
            NodeStatus::Claimed => {
                if self.holder_is_done(&node).await? {
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

    /// Whether a claimed node's task ended (or moved to another node) and left no live
    /// workspace on it.
    async fn holder_is_done(&self, node: &Node) -> Result<bool> {
        let task = match (&node.project_id, &node.task_id) {
            (Some(project), Some(task)) => self.store.get_task(project, task).await?,
            _ => None,
        };
        let holder_done = task
            .as_ref()
            .is_none_or(|task| task.status.is_terminal() || !task.holds(&node.id));
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

    /// Terminates machines of this stack that no live node record owns: a launch whose node
    /// was given up, a record lost after its instance started.
    async fn sweep_instances(&self, report: &mut SweepReport) -> Result<()> {
        let instances = match self.pool.provisioner.list().await {
            Ok(instances) => instances,
            Err(err) => {
                tracing::warn!(error = %err, "could not list the stack's machines");
                return Ok(());
            }
        };
        for instance in instances {
            let owner = match &instance.node_id {
                Some(node) => self.store.get_node(node).await?,
                None => None,
            };
            let owned = owner.is_some_and(|node| {
                node.status != NodeStatus::Destroyed
                    && node
                        .provider_id
                        .as_ref()
                        .is_none_or(|id| *id == instance.provider_id)
            });
            if owned {
                continue;
            }
            tracing::warn!(instance = %instance.provider_id, node = ?instance.node_id, "terminating a machine no node owns");
            match self.pool.provisioner.destroy(&instance.provider_id).await {
                Ok(()) => report.terminated_orphans.push(instance.provider_id),
                Err(err) => {
                    tracing::warn!(instance = %instance.provider_id, error = %err, "could not terminate an orphan")
                }
            }
        }
        Ok(())
    }

    /// Deletes warm-timeout schedules of nodes no longer warm in that generation.
    async fn sweep_schedules(&self, report: &mut SweepReport) -> Result<()> {
        let schedules = match self.pool.scheduler.list().await {
            Ok(schedules) => schedules,
            Err(err) => {
                tracing::warn!(error = %err, "could not list schedules");
                return Ok(());
            }
        };
        for schedule in schedules {
            let node = self.store.get_node(&schedule.event.node_id).await?;
            let current = node.is_some_and(|node| {
                node.status == NodeStatus::Warm && node.generation == schedule.event.generation
            });
            if current {
                continue;
            }
            match self.pool.scheduler.delete(&schedule.name).await {
                Ok(()) => report.deleted_schedules.push(schedule.name),
                Err(err) => {
                    tracing::warn!(schedule = %schedule.name, error = %err, "could not delete an orphaned schedule")
                }
            }
        }
        Ok(())
    }
}
