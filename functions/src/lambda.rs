//! What every Lambda main shares: logging, state built once at cold start, and the runtime
//! loop. Each `src/bin/*.rs` is one call into here.

use hangar_protocol::tasks::WarmTimeoutEvent;
use lambda_http::{Error, LambdaEvent, service_fn};

use crate::AppState;
use crate::runner::WarmTimeoutOutcome;

/// Serves the HTTP route(s) of the Lambda named `lambda` (see `http::ROUTES`).
pub async fn serve_http(lambda: &'static str) -> Result<(), Error> {
    crate::telemetry::init();
    let state = AppState::from_env().await?;
    lambda_http::run(crate::http::lambda_router(lambda, state)).await
}

/// The warm-timeout Lambda, invoked by its EventBridge Scheduler schedule.
pub async fn serve_warm_timeout() -> Result<(), Error> {
    crate::telemetry::init();
    let state = AppState::from_env().await?;
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<WarmTimeoutEvent>| {
        let state = state.clone();
        async move {
            let outcome = state.runner.warm_timeout(&event.payload).await?;
            tracing::info!(node = %event.payload.node_id, generation = event.payload.generation, ?outcome, "warm timeout");
            Ok::<_, Error>(matches!(outcome, WarmTimeoutOutcome::Destroyed))
        }
    }))
    .await
}

/// The reconciliation Lambda, invoked on a rate schedule.
pub async fn serve_reconcile() -> Result<(), Error> {
    crate::telemetry::init();
    let state = AppState::from_env().await?;
    lambda_http::lambda_runtime::run(service_fn(move |_event: LambdaEvent<serde_json::Value>| {
        let state = state.clone();
        async move {
            let report = state.runner.sweep().await?;
            Ok::<_, Error>(serde_json::json!({
                "failedTasks": report.failed_tasks.len(),
                "destroyedNodes": report.destroyed_nodes.len(),
                "releasedNodes": report.released_nodes.len(),
                "destroyedWorkspaces": report.destroyed_workspaces.len(),
                "deletedSchedules": report.deleted_schedules.len(),
            }))
        }
    }))
    .await
}
