//! Lambda: POST /api/projects/{projectId}/members

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_http("add-member").await
}
