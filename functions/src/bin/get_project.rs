//! Lambda: GET /api/projects/{projectId}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_http("get-project").await
}
