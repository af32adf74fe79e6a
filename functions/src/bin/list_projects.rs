//! Lambda: GET /api/projects

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_http("list-projects").await
}
