//! The EventBridge Scheduler adapter of [`Scheduler`]: one-time `at()` schedules that invoke
//! the warm-timeout Lambda with `{nodeId, generation}`, deleted after they fire.

use async_trait::async_trait;
use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};
use hangar_protocol::tasks::WarmTimeoutEvent;

use crate::clock::{format_utc_seconds, parse_utc_seconds};
use crate::config::SchedulerConfig;
use crate::ports::{PortError, Scheduler, WarmSchedule};

fn port_error<E, R>(err: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = DisplayErrorContext(&err).to_string();
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            PortError::Unavailable(detail)
        }
        _ => PortError::Failed(detail),
    }
}

pub struct EventBridgeScheduler {
    client: Client,
    config: SchedulerConfig,
}

impl EventBridgeScheduler {
    pub async fn connect(config: &SchedulerConfig) -> Self {
        let sdk = crate::aws::sdk_config(config.endpoint.as_deref()).await;
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
            Err(err)
                if err.as_service_error().and_then(|e| e.code()) == Some("ConflictException") =>
            {
                Ok(())
            }
            Err(err) => Err(port_error(err)),
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
            .map_err(port_error)?;
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
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(port_error(err)),
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
                .map_err(port_error)?;
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
                // Deleted between the listing and now.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    continue;
                }
                Err(err) => return Err(port_error(err)),
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
