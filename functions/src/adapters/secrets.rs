//! Secrets Manager: where a signing function reads the token-signing key at cold start.
//! Only the functions that sign are granted this secret (see `lambda::catalog`).

use aws_sdk_secretsmanager::Client;

use crate::adapters::aws::{SdkFailure, sdk_config};
use crate::domain::ports::PortError;

/// The secret's string value (the PEM of the signing key).
pub async fn read_secret(arn: &str, endpoint: Option<&str>) -> Result<String, PortError> {
    let client = Client::new(&sdk_config(endpoint).await);
    let secret = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(SdkFailure::from)?;
    secret
        .secret_string()
        .map(str::to_string)
        .ok_or_else(|| PortError::Failed(format!("secret {arn} holds no string")))
}
