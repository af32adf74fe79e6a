use std::sync::Arc;

use crate::apigw::ApiGatewayPush;
use crate::auth::{Authenticator, KeyError, TokenIssuer};
use crate::config::{Config, ConfigError};
use crate::dynamo::DynamoStore;
use crate::ec2::Ec2Provisioner;
use crate::eventbridge::EventBridgeScheduler;
use crate::live::Live;
use crate::node_http::HttpNodeClient;
use crate::ports::{PortError, Provisioner, Push, Scheduler, Store};
use crate::runner::Runner;

/// Everything a handler needs, built once per process (Lambda cold start, local stack start).
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
    pub runner: Arc<Runner>,
    pub live: Arc<Live>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("keys: {0}")]
    Key(#[from] KeyError),
    #[error("{0}")]
    Port(#[from] PortError),
}

impl AppState {
    /// Production: config from the environment; DynamoDB, EventBridge Scheduler, EC2, the
    /// API Gateway Management API.
    pub async fn from_env() -> Result<Self, StartupError> {
        let config = Config::from_env()?;
        let store = Arc::new(
            DynamoStore::connect(config.dynamodb_endpoint.as_deref(), &config.table_name).await,
        );
        let scheduler = Arc::new(EventBridgeScheduler::connect(&config.scheduler).await);
        let provisioner = Arc::new(Ec2Provisioner::connect(&config.ec2).await);
        let push_endpoint = config
            .push_endpoint
            .as_deref()
            .ok_or(ConfigError::Missing {
                name: "HANGAR_WS_ENDPOINT",
                hint: "",
            })?;
        let push = Arc::new(ApiGatewayPush::connect(push_endpoint).await);
        Self::from_parts(&config, store, scheduler, provisioner, push)
    }

    /// Any store, scheduler, provisioner and push (the local stack runs nodes as processes
    /// and serves WebSockets itself).
    pub fn from_parts(
        config: &Config,
        store: Arc<dyn Store>,
        scheduler: Arc<dyn Scheduler>,
        provisioner: Arc<dyn Provisioner>,
        push: Arc<dyn Push>,
    ) -> Result<Self, StartupError> {
        let live = Arc::new(Live {
            store: Arc::clone(&store),
            push,
        });
        let tokens = Arc::new(TokenIssuer::from_pem(
            &config.callback_private_key_pem,
            config.callback_issuer.clone(),
        )?);
        let runner = Runner {
            store: Arc::clone(&store),
            scheduler,
            provisioner,
            nodes: Arc::new(HttpNodeClient::new(Arc::clone(&tokens))?),
            tokens,
            live: Arc::clone(&live),
            control_public_key_pem: config.callback_public_key_pem.clone(),
            api_url: config.public_api_url.clone(),
            timeouts: config.timeouts,
        };
        Ok(AppState {
            store,
            auth: Arc::new(Authenticator::from_config(config)?),
            runner: Arc::new(runner),
            live,
        })
    }
}
