//! Lambda: the reconciliation sweep, invoked on a rate schedule.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hangar_functions::lambda::serve_reconcile().await
}
