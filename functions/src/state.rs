use std::sync::Arc;

use crate::auth::{Authenticator, KeyError};
use crate::config::{Config, ConfigError};
use crate::dynamo::DynamoStore;
use crate::ports::Store;

/// Everything a handler needs, built once per process (Lambda cold start, local stack start).
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("keys: {0}")]
    Key(#[from] KeyError),
}

impl AppState {
    /// Production and local start-up alike: config from the environment, the DynamoDB store.
    pub async fn from_env() -> Result<Self, StartupError> {
        let config = Config::from_env()?;
        Self::from_config(&config).await
    }

    pub async fn from_config(config: &Config) -> Result<Self, StartupError> {
        let store =
            DynamoStore::connect(config.dynamodb_endpoint.as_deref(), &config.table_name).await;
        Ok(AppState {
            store: Arc::new(store),
            auth: Arc::new(Authenticator::from_config(config)?),
        })
    }
}
