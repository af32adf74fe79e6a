//! Lambda: WebSocket API $disconnect

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_ws_disconnect().await
}
