//! Lambda: WebSocket API $connect (?token=<user jwt>&projectId=<project>)

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_ws_connect().await
}
