//! Lambda: GET /api/projects/{projectId}/tasks/{taskId}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_http("get-task").await
}
