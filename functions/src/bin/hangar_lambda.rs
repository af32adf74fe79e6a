//! The bootstrap of every Hangar Lambda: `HANGAR_LAMBDA` names which one this function is.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::run().await
}
