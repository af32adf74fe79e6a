//! Lambda: POST /api/projects/{projectId}/tasks/{taskId}/run

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_http("run-task").await
}
