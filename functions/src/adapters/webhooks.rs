//! Webhooks over HTTPS: one JSON POST per event, `X-Hangar-Event` naming it, 5 s at most.

use std::time::Duration;

use async_trait::async_trait;
use hangar_protocol::webhooks::WebhookEvent;

use crate::domain::ports::{PortError, Webhooks};

pub struct HttpWebhooks {
    http: reqwest::Client,
}

impl HttpWebhooks {
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(HttpWebhooks {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .user_agent(concat!("hangar/", env!("CARGO_PKG_VERSION")))
                .build()?,
        })
    }
}

#[async_trait]
impl Webhooks for HttpWebhooks {
    async fn post(&self, url: &str, event: &WebhookEvent) -> Result<(), PortError> {
        let response = self
            .http
            .post(url)
            .header("X-Hangar-Event", event.name())
            .json(event)
            .send()
            .await
            .map_err(|err| PortError::Unavailable(err.to_string()))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(PortError::Failed(format!("the webhook answered {status}"))),
        }
    }
}
