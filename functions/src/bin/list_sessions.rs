//! Lambda: GET /api/projects/{projectId}/sessions

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_http("list-sessions").await
}
