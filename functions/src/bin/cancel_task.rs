//! Lambda: POST /api/projects/{projectId}/tasks/{taskId}/cancel

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_http("cancel-task").await
}
