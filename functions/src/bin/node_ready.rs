//! Lambda: POST /api/nodes/{nodeId}/ready

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_http("node-ready").await
}
