//! The EventBridge Scheduler adapter of [`Scheduler`]: one-time `at()` schedules that invoke
//! the warm-timeout Lambda with `{nodeId, generation}`, deleted after they fire.

use async_trait::async_trait;
use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};
use hangar_protocol::tasks::WarmTimeoutEvent;

use crate::adapters::aws::{SdkFailure, sdk_config};
use crate::adapters::utc::{format_utc_seconds, parse_utc_seconds};
use crate::config::SchedulerConfig;
use crate::domain::ports::{PortError, Scheduler, WarmSchedule};

/// The service's code for a schedule (or group) that does not exist.
const NOT_FOUND: &str = "ResourceNotFoundException";

pub struct EventBridgeScheduler {
    client: Client,
    config: SchedulerConfig,
}

impl EventBridgeScheduler {
    pub async fn connect(config: &SchedulerConfig) -> Self {
        let sdk = sdk_config(config.endpoint.as_deref()).await;
        EventBridgeScheduler {
            client: Client::new(&sdk),
            config: config.clone(),
        }
    }

    /// Creates the schedule group unless it exists (local stack; production has it from the
    /// template).
    pub async fn ensure_group(&self) -> Result<(), PortError> {
        match self
            .client
            .create_schedule_group()
            .name(&self.config.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match SdkFailure::from(err) {
                failure if failure.is("ConflictException") => Ok(()),
                failure => Err(failure.into()),
            },
        }
    }
}

#[async_trait]
impl Scheduler for EventBridgeScheduler {
    async fn create(&self, schedule: &WarmSchedule) -> Result<(), PortError> {
        let input = serde_json::to_string(&schedule.event)
            .map_err(|err| PortError::Failed(err.to_string()))?;
        let target = Target::builder()
            .arn(&self.config.target_arn)
            .role_arn(&self.config.role_arn)
            .input(input)
            .build()
            .map_err(|err| PortError::Failed(err.to_string()))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|err| PortError::Failed(err.to_string()))?;
        self.client
            .create_schedule()
            .name(&schedule.name)
            .group_name(&self.config.group)
            .schedule_expression(format!("at({})", format_utc_seconds(schedule.at_ms)))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await
            .map_err(SdkFailure::from)?;
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), PortError> {
        match self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.config.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match SdkFailure::from(err) {
                failure if failure.is(NOT_FOUND) => Ok(()),
                failure => Err(failure.into()),
            },
        }
    }

    async fn list(&self) -> Result<Vec<WarmSchedule>, PortError> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_schedules()
                .group_name(&self.config.group)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(SdkFailure::from)?;
            names.extend(
                page.schedules()
                    .iter()
                    .filter_map(|s| s.name().map(String::from)),
            );
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        let mut schedules = Vec::new();
        for name in names {
            let schedule = match self
                .client
                .get_schedule()
                .name(&name)
                .group_name(&self.config.group)
                .send()
                .await
            {
                Ok(schedule) => schedule,
                Err(err) => match SdkFailure::from(err) {
                    // Deleted between the listing and now.
                    failure if failure.is(NOT_FOUND) => continue,
                    failure => return Err(failure.into()),
                },
            };
            let at_ms = schedule
                .schedule_expression()
                .and_then(|expr| {
                    expr.strip_prefix("at(")?
                        .strip_suffix(')')
                        .map(String::from)
                })
                .and_then(|at| parse_utc_seconds(&at));
            let event = schedule
                .target()
                .and_then(|target| target.input())
                .and_then(|input| serde_json::from_str::<WarmTimeoutEvent>(input).ok());
            match (at_ms, event) {
                (Some(at_ms), Some(event)) => schedules.push(WarmSchedule { name, at_ms, event }),
                _ => {
                    tracing::warn!(%name, "schedule in the group is not a warm timeout; left alone")
                }
            }
        }
        Ok(schedules)
    }
}
