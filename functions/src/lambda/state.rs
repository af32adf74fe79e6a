//! Production wiring: configuration from the environment, and the AWS adapter of each port
//! the function needs; the others are [`Absent`].

use std::sync::Arc;

use super::catalog::{Lambda, Need};
use crate::adapters::absent::Absent;
use crate::adapters::apigw::ApiGatewayPush;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::ec2::Ec2Provisioner;
use crate::adapters::github::GitHub;
use crate::adapters::scheduler::EventBridgeScheduler;
use crate::adapters::secrets::{SecretsVault, read_secret};
use crate::adapters::tokens::TokenIssuer;
use crate::adapters::webhooks::HttpWebhooks;
use crate::config::{Config, SigningKey};
use crate::domain::ports::{
    CredentialVault, Forge, PortError, Provisioner, Push, Scheduler, Tokens,
};
use crate::http::{AppState, Ports, StartupError};

/// The state of `lambda`, built once at cold start, with the configuration it was built from.
pub async fn from_env(lambda: &Lambda) -> Result<(AppState, Config), StartupError> {
    let vars = std::env::vars().collect();
    let config = Config::for_needs(&vars, lambda.needs)?;
    let store = DynamoStore::connect(config.dynamodb_endpoint.as_deref(), &config.table_name).await;
    let scheduler: Arc<dyn Scheduler> = match &config.scheduler {
        Some(scheduler) => Arc::new(EventBridgeScheduler::connect(scheduler).await),
        None => Arc::new(Absent("warm-timeout schedules (Need::Schedule)")),
    };
    let provisioner: Arc<dyn Provisioner> = match &config.ec2 {
        Some(ec2) => Arc::new(Ec2Provisioner::connect(ec2).await),
        None => Arc::new(Absent("EC2 (Need::Provision)")),
    };
    let push: Arc<dyn Push> = match &config.push_endpoint {
        Some(endpoint) => Arc::new(ApiGatewayPush::connect(endpoint).await),
        None => Arc::new(Absent("the Management API (Need::Push)")),
    };
    let tokens: Arc<dyn Tokens> = match &config.signing {
        Some(signing) => {
            let pem = match &signing.key {
                SigningKey::Pem(pem) => pem.clone(),
                SigningKey::Secret { arn, endpoint } => read_secret(arn, endpoint.as_deref())
                    .await?
                    .replace("\\n", "\n"),
            };
            Arc::new(TokenIssuer::from_pem(&pem, config.callback_issuer.clone())?)
        }
        None => Arc::new(Absent("the signing key (Need::Sign)")),
    };
    debug_assert_eq!(lambda.needs(Need::Sign), config.signing.is_some());
    let (vault, forge): (Arc<dyn CredentialVault>, Arc<dyn Forge>) = match &config.forge {
        Some(forge) => (
            Arc::new(
                SecretsVault::connect(&forge.secret_prefix, forge.secrets_endpoint.as_deref())
                    .await,
            ),
            Arc::new(GitHub::new().map_err(|err| PortError::Failed(err.to_string()))?),
        ),
        None => (
            Arc::new(Absent("forge credentials (Need::Forge)")),
            Arc::new(Absent("the forge (Need::Forge)")),
        ),
    };
    let ports = Ports {
        store: Arc::new(store),
        scheduler,
        provisioner,
        push,
        tokens,
        vault,
        forge,
        webhooks: Arc::new(HttpWebhooks::new().map_err(|err| PortError::Failed(err.to_string()))?),
    };
    Ok((AppState::new(&config, ports)?, config))
}
