//! The API Gateway Management API adapter of [`Push`]: posts frames to WebSocket
//! connections; `GoneException` means the browser left without a `$disconnect` yet.

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::primitives::Blob;

use crate::adapters::aws::{SdkFailure, sdk_config};
use crate::domain::ports::{Delivery, PortError, Push};

pub struct ApiGatewayPush {
    client: Client,
}

impl ApiGatewayPush {
    /// `endpoint`: the WebSocket API's management URL,
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.
    pub async fn connect(endpoint: &str) -> Self {
        let sdk = sdk_config(Some(endpoint)).await;
        ApiGatewayPush {
            client: Client::new(&sdk),
        }
    }
}

#[async_trait]
impl Push for ApiGatewayPush {
    async fn post(&self, connection_id: &str, frame: &str) -> Result<Delivery, PortError> {
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(frame.as_bytes()))
            .send()
            .await
        {
            Ok(_) => Ok(Delivery::Delivered),
            Err(err) => match SdkFailure::from(err) {
                failure if failure.is("GoneException") => Ok(Delivery::Gone),
                failure => Err(failure.into()),
            },
        }
    }
}
