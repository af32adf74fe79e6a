//! The stack's own custom resources (CloudFormation's documented contract: an event with a
//! `RequestType` and a pre-signed `ResponseURL` the answer is PUT to), served by the
//! `stack-resources` Lambda:
//!
//! - `Custom::SigningKey` makes the Ed25519 key that signs workspace and node tokens into its
//!   secret and answers with the public half (`PublicKeyPem`), which the template hands to
//!   every function as a variable: functions that only verify never read the secret. Made
//!   once: an update keeps the key the secret holds.
//! - `Custom::NodeCleanup`, on the stack's deletion, terminates the stack's node instances
//!   (tagged `hangar:stack`) and waits until they are gone, so the nodes' security group and
//!   instance profile can go too.

use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::adapters::aws::{SdkFailure, sdk_config};
use crate::adapters::ec2::{Ec2Provisioner, STACK_TAG};
use crate::config::Ec2Config;
use crate::domain::ports::Provisioner;

/// The instance states of a node that is not gone yet.
const NOT_GONE: &[&str] = &["pending", "running", "stopping", "stopped", "shutting-down"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceEvent {
    pub request_type: RequestType,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub resource_type: String,
    pub logical_resource_id: String,
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_properties: Properties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    #[serde(default)]
    pub secret_arn: Option<String>,
    #[serde(default)]
    pub stack_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceResponse {
    /// `SUCCESS` or `FAILED`.
    pub status: String,
    pub reason: String,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub data: serde_json::Value,
}

pub struct StackResources {
    secrets: aws_sdk_secretsmanager::Client,
    endpoint: Option<String>,
    http: reqwest::Client,
    /// How long a cleanup waits for instances to be gone, and how often it looks.
    pub cleanup_wait: Duration,
    pub cleanup_poll: Duration,
}

impl StackResources {
    /// `endpoint`: only locally and in tests, the loopback server of Secrets Manager and EC2.
    pub async fn connect(endpoint: Option<&str>) -> Result<Self, String> {
        Ok(StackResources {
            secrets: aws_sdk_secretsmanager::Client::new(&sdk_config(endpoint).await),
            endpoint: endpoint.map(String::from),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|err| err.to_string())?,
            cleanup_wait: Duration::from_secs(12 * 60),
            cleanup_poll: Duration::from_secs(10),
        })
    }

    /// Does what the event asks and says how it went (never fails: a failure is the answer).
    pub async fn handle(&self, event: &CustomResourceEvent) -> CustomResourceResponse {
        let outcome = match event.resource_type.as_str() {
            "Custom::SigningKey" => self.signing_key(event).await,
            "Custom::NodeCleanup" => self.node_cleanup(event).await,
            other => Err(format!("{other} is not a resource this function makes")),
        };
        let (status, reason, data) = match outcome {
            Ok(data) => ("SUCCESS", String::new(), data),
            Err(reason) => {
                tracing::error!(resource = %event.logical_resource_id, %reason, "custom resource failed");
                ("FAILED", reason, json!({}))
            }
        };
        CustomResourceResponse {
            status: status.into(),
            reason,
            // Kept across updates, so CloudFormation never sees a replacement.
            physical_resource_id: event
                .physical_resource_id
                .clone()
                .unwrap_or_else(|| format!("{}-{}", event.logical_resource_id, event.request_id)),
            stack_id: event.stack_id.clone(),
            request_id: event.request_id.clone(),
            logical_resource_id: event.logical_resource_id.clone(),
            data,
        }
    }

    /// PUTs the answer to the event's pre-signed URL (no content type: S3 signs without one).
    pub async fn respond(
        &self,
        event: &CustomResourceEvent,
        response: &CustomResourceResponse,
    ) -> Result<(), String> {
        let body = serde_json::to_vec(response).map_err(|err| err.to_string())?;
        let answer = self
            .http
            .put(&event.response_url)
            .header(reqwest::header::CONTENT_TYPE, "")
            .body(body)
            .send()
            .await
            .map_err(|err| format!("cannot answer CloudFormation: {err}"))?;
        if !answer.status().is_success() {
            return Err(format!("CloudFormation's URL answered {}", answer.status()));
        }
        Ok(())
    }

    async fn signing_key(&self, event: &CustomResourceEvent) -> Result<serde_json::Value, String> {
        if event.request_type == RequestType::Delete {
            // The secret is the stack's own resource, deleted with it.
            return Ok(json!({}));
        }
        let arn = event
            .resource_properties
            .secret_arn
            .as_deref()
            .ok_or("the SigningKey resource needs a SecretArn")?;
        let held = self
            .secrets
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|err| format!("cannot read {arn}: {}", SdkFailure::from(err).detail))?;
        let existing = held
            .secret_string()
            .map(|pem| pem.replace("\\n", "\n"))
            .and_then(|pem| SigningKey::from_pkcs8_pem(&pem).ok());
        let key = match existing {
            Some(key) => key,
            None => {
                let key = SigningKey::generate(&mut rand_core::OsRng);
                let private = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|err| err.to_string())?;
                self.secrets
                    .put_secret_value()
                    .secret_id(arn)
                    .secret_string(private.as_str())
                    .send()
                    .await
                    .map_err(|err| {
                        format!("cannot write {arn}: {}", SdkFailure::from(err).detail)
                    })?;
                key
            }
        };
        let public = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|err| err.to_string())?;
        Ok(json!({ "PublicKeyPem": public }))
    }

    async fn node_cleanup(&self, event: &CustomResourceEvent) -> Result<serde_json::Value, String> {
        if event.request_type != RequestType::Delete {
            return Ok(json!({}));
        }
        let stack = event
            .resource_properties
            .stack_name
            .clone()
            .ok_or("the NodeCleanup resource needs a StackName")?;
        let ec2 = Ec2Provisioner::connect(&Ec2Config {
            ami_id: String::new(),
            subnet_id: None,
            security_group_ids: Vec::new(),
            instance_profile: None,
            instance_types: Vec::new(),
            stack: stack.clone(),
            acp_command: String::new(),
            agent_env_secret_arn: None,
            endpoint: self.endpoint.clone(),
        })
        .await;
        let instances = ec2.list().await.map_err(|err| err.to_string())?;
        for instance in &instances {
            ec2.destroy(&instance.provider_id)
                .await
                .map_err(|err| err.to_string())?;
        }
        let started = Instant::now();
        loop {
            let left = remaining(&ec2, &stack).await?;
            if left == 0 {
                return Ok(json!({ "Terminated": instances.len() }));
            }
            if started.elapsed() >= self.cleanup_wait {
                return Err(format!(
                    "{left} node instances of {stack} are still shutting down"
                ));
            }
            tokio::time::sleep(self.cleanup_poll).await;
        }
    }
}

/// How many of the stack's instances are not terminated yet.
async fn remaining(ec2: &Ec2Provisioner, stack: &str) -> Result<usize, String> {
    let states = NOT_GONE.iter().map(|state| state.to_string()).collect();
    let page = ec2
        .client()
        .describe_instances()
        .filters(
            Filter::builder()
                .name(format!("tag:{STACK_TAG}"))
                .values(stack)
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(states))
                .build(),
        )
        .send()
        .await
        .map_err(|err| SdkFailure::from(err).detail)?;
    Ok(page
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum())
}

/// The Lambda: each event handled, then answered; only a failure to answer fails the
/// invocation (CloudFormation would otherwise wait an hour for the answer).
pub async fn serve() -> Result<(), lambda_http::Error> {
    let endpoint = std::env::var("HANGAR_AWS_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty());
    let resources = std::sync::Arc::new(StackResources::connect(endpoint.as_deref()).await?);
    lambda_http::lambda_runtime::run(lambda_http::service_fn(
        move |event: lambda_http::LambdaEvent<CustomResourceEvent>| {
            let resources = resources.clone();
            async move {
                let response = resources.handle(&event.payload).await;
                resources.respond(&event.payload, &response).await?;
                Ok::<_, lambda_http::Error>(())
            }
        },
    ))
    .await
}
