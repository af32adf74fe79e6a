//! Lambda: POST /api/workspaces/{workspaceId}/messages

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_http("ingest-messages").await
}
