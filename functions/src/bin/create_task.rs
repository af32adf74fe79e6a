//! Lambda: POST /api/projects/{projectId}/tasks

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_http("create-task").await
}
