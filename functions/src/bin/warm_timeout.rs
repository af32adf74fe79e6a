//! Lambda: the warm timeout, invoked by a one-time EventBridge Scheduler schedule.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_warm_timeout().await
}
