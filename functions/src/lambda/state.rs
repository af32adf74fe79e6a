//! Production wiring: configuration from the environment, the AWS adapters of every port.

use std::sync::Arc;

use crate::adapters::apigw::ApiGatewayPush;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::ec2::Ec2Provisioner;
use crate::adapters::scheduler::EventBridgeScheduler;
use crate::config::{Config, FromEnv};
use crate::http::{AppState, Ports, StartupError};

/// The state of a Lambda: DynamoDB, EventBridge Scheduler, EC2, the API Gateway Management API.
pub async fn from_env() -> Result<AppState, StartupError> {
    let config = Config::from_env()?;
    let store = DynamoStore::connect(config.dynamodb_endpoint.as_deref(), &config.table_name).await;
    let ports = Ports {
        store: Arc::new(store),
        scheduler: Arc::new(EventBridgeScheduler::connect(&config.scheduler).await),
        provisioner: Arc::new(Ec2Provisioner::connect(&config.ec2).await),
        push: Arc::new(ApiGatewayPush::connect(&config.push_endpoint).await),
    };
    AppState::new(&config, ports)
}
