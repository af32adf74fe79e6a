//! Lambda: POST /api/workspaces/{workspaceId}/status

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_http("workspace-status").await
}
