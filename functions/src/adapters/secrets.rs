//! Secrets Manager: where a signing function reads the token-signing key at cold start
//! (only the functions that sign are granted it), and where projects' secrets (the forge
//! credential, the agent's secret variables) are kept (only the functions with `Need::Forge`
//! reach them; see `lambda::catalog`).

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use hangar_protocol::ProjectId;

use crate::adapters::aws::{SdkFailure, sdk_config};
use crate::domain::ports::{CredentialVault, PortError, VaultSlot};

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

/// Projects' forge credentials, one secret per project under a prefix of this stack
/// (`hangar/<stack>/forge/<project>`), which is all the functions that keep or read them
/// are granted.
pub struct SecretsVault {
    client: Client,
    prefix: String,
}

impl SecretsVault {
    pub async fn connect(prefix: &str, endpoint: Option<&str>) -> Self {
        SecretsVault {
            client: Client::new(&sdk_config(endpoint).await),
            prefix: prefix.to_string(),
        }
    }

    fn name(&self, project: &ProjectId, slot: VaultSlot) -> String {
        match slot {
            VaultSlot::ForgeToken => format!("{}{project}", self.prefix),
            VaultSlot::AgentSecrets => format!("{}{project}/agent", self.prefix),
            VaultSlot::ForgeApp => format!("{}{project}/app", self.prefix),
        }
    }
}

/// Whether an SDK failure says the secret does not exist.
fn not_found<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| code == "ResourceNotFoundException")
}

#[async_trait]
impl CredentialVault for SecretsVault {
    async fn put(
        &self,
        project: &ProjectId,
        slot: VaultSlot,
        token: &str,
    ) -> Result<(), PortError> {
        let name = self.name(project, slot);
        let updated = self
            .client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(token)
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(err) if not_found(&err) => {
                self.client
                    .create_secret()
                    .name(&name)
                    .description("A Hangar project's forge credential")
                    .secret_string(token)
                    .send()
                    .await
                    .map_err(SdkFailure::from)?;
                Ok(())
            }
            Err(err) => Err(SdkFailure::from(err).into()),
        }
    }

    async fn get(&self, project: &ProjectId, slot: VaultSlot) -> Result<Option<String>, PortError> {
        match self
            .client
            .get_secret_value()
            .secret_id(self.name(project, slot))
            .send()
            .await
        {
            Ok(secret) => Ok(secret.secret_string().map(str::to_string)),
            Err(err) if not_found(&err) => Ok(None),
            Err(err) => Err(SdkFailure::from(err).into()),
        }
    }

    async fn delete(&self, project: &ProjectId, slot: VaultSlot) -> Result<(), PortError> {
        match self
            .client
            .delete_secret()
            .secret_id(self.name(project, slot))
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if not_found(&err) => Ok(()),
            Err(err) => Err(SdkFailure::from(err).into()),
        }
    }
}
