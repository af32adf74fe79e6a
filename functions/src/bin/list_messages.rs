//! Lambda: GET /api/projects/{projectId}/sessions/{sessionId}/messages (paged history).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::telemetry::init();
    let state = hangar_functions::AppState::from_env().await?;
    lambda_http::run(hangar_functions::http::lambda_router(
        "list-messages",
        state,
    ))
    .await
}
