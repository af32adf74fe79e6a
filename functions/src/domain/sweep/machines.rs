//! What the sweep finds outside the table: machines of this stack no live node owns, and
//! warm-timeout schedules of nodes that moved on.

use hangar_protocol::tasks::NodeStatus;

use super::SweepReport;
use crate::domain::error::Result;
use crate::domain::ports::{Instance, WarmSchedule};
use crate::domain::tasks::Tasks;

impl Tasks {
    /// Terminates machines of this stack that no live node record owns: a launch whose node
    /// was given up, a record lost after its instance started.
    pub(super) async fn sweep_machines(&self, report: &mut SweepReport) {
        let machines = self.pool.provisioner.list().await;
        for machine in report.listed("machines", machines) {
            let outcome = self.sweep_machine(&machine, report).await;
            report.settle(format_args!("machine {}", machine.provider_id), outcome);
        }
    }

    async fn sweep_machine(&self, machine: &Instance, report: &mut SweepReport) -> Result<()> {
        let owner = match &machine.node_id {
            Some(node) => self.store.get_node(node).await?,
            None => None,
        };
        let owned = owner.is_some_and(|node| {
            node.status != NodeStatus::Destroyed
                && node
                    .provider_id
                    .as_ref()
                    .is_none_or(|id| *id == machine.provider_id)
        });
        if owned {
            return Ok(());
        }
        tracing::warn!(machine = %machine.provider_id, node = ?machine.node_id, "terminating a machine no node owns");
        self.pool.provisioner.destroy(&machine.provider_id).await?;
        report.terminated_orphans.push(machine.provider_id.clone());
        Ok(())
    }

    /// Deletes warm-timeout schedules of nodes no longer warm in that generation.
    pub(super) async fn sweep_schedules(&self, report: &mut SweepReport) {
        let schedules = self.pool.scheduler.list().await;
        for schedule in report.listed("schedules", schedules) {
            let outcome = self.sweep_schedule(&schedule, report).await;
            report.settle(format_args!("schedule {}", schedule.name), outcome);
        }
    }

    async fn sweep_schedule(
        &self,
        schedule: &WarmSchedule,
        report: &mut SweepReport,
    ) -> Result<()> {
        let node = self.store.get_node(&schedule.event.node_id).await?;
        let current = node.is_some_and(|node| {
            node.status == NodeStatus::Warm && node.generation == schedule.event.generation
        });
        if !current {
            self.pool.scheduler.delete(&schedule.name).await?;
            report.deleted_schedules.push(schedule.name.clone());
        }
        Ok(())
    }
}
