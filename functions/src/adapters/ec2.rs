//! The EC2 adapter of [`Provisioner`]: one instance per node, booted by cloud-init user data
//! that writes the node agent's environment and starts its service (the image, built from
//! `infra/node-image`, carries both). Instances require IMDSv2, terminate when they shut
//! down, and carry this stack's and the node's tags.
//!
//! A launch is idempotent: it first looks the node's instance up by its tag, and sends a
//! `ClientToken` derived from the node id, so a retried launch whose first answer was lost
//! never makes a second instance.

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, HttpTokensState, IamInstanceProfileSpecification, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, InstanceType, ResourceType, ShutdownBehavior, Tag,
    TagSpecification,
};
use base64::Engine;
use hangar_protocol::NodeId;

use crate::adapters::aws::{SdkFailure, sdk_config};
use crate::config::Ec2Config;
use crate::domain::ports::{Instance, NodeLaunch, PortError, Provisioner};

/// The tag naming the node an instance runs.
pub const NODE_TAG: &str = "hangar:node-id";
/// The tag naming the stack an instance belongs to (what the sweep may terminate).
pub const STACK_TAG: &str = "hangar:stack";

/// Launches tried before a provision gives up (each one looks the instance up first).
const LAUNCH_ATTEMPTS: usize = 3;

/// Instance states that still cost money or may come back.
const LIVE_STATES: &[&str] = &["pending", "running", "stopping", "stopped"];

/// Escapes a value for a systemd EnvironmentFile line (double-quoted, newlines as `\n`).
fn env_value(value: &str) -> String {
    format!(
        "\"{}\"",
        value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    )
}

/// The cloud-init user data of a node: the agent's environment (readable by root only; the
/// node image blocks the instance metadata service for every other user, so workspaces
/// cannot read it either), then the agent's service. The node dials out; nothing listens.
pub fn user_data(launch: &NodeLaunch, config: &Ec2Config) -> String {
    let mut env = vec![
        ("NODE_ID", launch.node_id.to_string()),
        ("HANGAR_API_URL", launch.api_url.clone()),
        ("HANGAR_SOCKET_URL", launch.socket_url.clone()),
        ("HANGAR_NODE_TOKEN", launch.node_token.clone()),
        ("HANGAR_ACP_COMMAND", config.acp_command.clone()),
        ("HANGAR_NODE_DIR", "/var/lib/hangar".to_string()),
        // The agent runs as root on EC2; each workspace's coding agent as its own user.
        ("HANGAR_WORKSPACE_USERS", "true".to_string()),
    ];
    if let Some(arn) = &config.agent_env_secret_arn {
        // Read at boot by the image's hangar-node-env, with the node's instance role.
        env.push(("HANGAR_AGENT_ENV_SECRET_ARN", arn.clone()));
    }
    let env = env
        .iter()
        .map(|(name, value)| format!("      {name}={}", env_value(value)))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "#cloud-config\n\
         write_files:\n  \
         - path: /etc/hangar/agent.env\n    \
         permissions: \"0600\"\n    \
         content: |\n{env}\n\
         runcmd:\n  \
         - [systemctl, enable, --now, hangar-agent.service]\n"
    )
}

/// The idempotency token of a node's launch (EC2 takes up to 64 ASCII characters).
pub fn client_token(node: &NodeId) -> String {
    format!("hangar-{node}")
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

pub struct Ec2Provisioner {
    client: Client,
    config: Ec2Config,
}

impl Ec2Provisioner {
    pub async fn connect(config: &Ec2Config) -> Self {
        let sdk = sdk_config(config.endpoint.as_deref()).await;
        // The SDK would resend a launch itself; this adapter retries by looking up first.
        let ec2 = aws_sdk_ec2::config::Builder::from(&sdk)
            .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
            .build();
        Ec2Provisioner {
            client: Client::from_conf(ec2),
            config: config.clone(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// This stack's live instances matching `filter` (and their node tags).
    async fn instances(&self, filter: Option<Filter>) -> Result<Vec<Instance>, PortError> {
        let states = LIVE_STATES.iter().map(|state| state.to_string()).collect();
        let mut filters = vec![
            Filter::builder()
                .name(format!("tag:{STACK_TAG}"))
                .values(&self.config.stack)
                .build(),
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(states))
                .build(),
        ];
        filters.extend(filter);
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .describe_instances()
                .set_filters(Some(filters.clone()))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(SdkFailure::from)?;
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                let Some(id) = instance.instance_id() else {
                    continue;
                };
                let node = instance
                    .tags()
                    .iter()
                    .find(|tag| tag.key() == Some(NODE_TAG))
                    .and_then(|tag| tag.value())
                    .and_then(|value| NodeId::parse(value).ok());
                found.push(Instance {
                    provider_id: id.to_string(),
                    node_id: node,
                });
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => return Ok(found),
            }
        }
    }

    /// The instance already launched for `node`, if any.
    async fn launched_for(&self, node: &NodeId) -> Result<Option<String>, PortError> {
        let by_tag = Filter::builder()
            .name(format!("tag:{NODE_TAG}"))
            .values(node.as_str())
            .build();
        Ok(self
            .instances(Some(by_tag))
            .await?
            .into_iter()
            .next()
            .map(|instance| instance.provider_id))
    }

    async fn launch(&self, launch: &NodeLaunch) -> Result<String, PortError> {
        let instance_type = self
            .config
            .instance_types
            .iter()
            .find(|(size, _)| *size == launch.size)
            .map(|(_, instance_type)| InstanceType::from(instance_type.as_str()))
            .ok_or_else(|| {
                PortError::Failed(format!("no instance type for size {}", launch.size))
            })?;
        let tags = |resource| {
            TagSpecification::builder()
                .resource_type(resource)
                .tags(tag("Name", &format!("hangar-node-{}", launch.node_id)))
                .tags(tag(NODE_TAG, launch.node_id.as_str()))
                .tags(tag(STACK_TAG, &self.config.stack))
                .tags(tag("hangar:project", launch.project_id.as_str()))
                .build()
        };
        let user_data =
            base64::engine::general_purpose::STANDARD.encode(user_data(launch, &self.config));
        let metadata = InstanceMetadataOptionsRequest::builder()
            .http_tokens(HttpTokensState::Required)
            .http_endpoint(InstanceMetadataEndpointState::Enabled)
            .http_put_response_hop_limit(1)
            .build();
        let output = self
            .client
            .run_instances()
            .client_token(client_token(&launch.node_id))
            .image_id(&self.config.ami_id)
            .instance_type(instance_type)
            .min_count(1)
            .max_count(1)
            .user_data(user_data)
            .metadata_options(metadata)
            .instance_initiated_shutdown_behavior(ShutdownBehavior::Terminate)
            .set_subnet_id(self.config.subnet_id.clone())
            .set_security_group_ids(
                (!self.config.security_group_ids.is_empty())
                    .then(|| self.config.security_group_ids.clone()),
            )
            .set_iam_instance_profile(self.config.instance_profile.as_ref().map(|name| {
                IamInstanceProfileSpecification::builder()
                    .name(name)
                    .build()
            }))
            .tag_specifications(tags(ResourceType::Instance))
            .tag_specifications(tags(ResourceType::Volume))
            .send()
            .await
            .map_err(SdkFailure::from)?;
        output
            .instances()
            .first()
            .and_then(|instance| instance.instance_id())
            .map(String::from)
            .ok_or_else(|| PortError::Failed("RunInstances returned no instance".into()))
    }
}

#[async_trait]
impl Provisioner for Ec2Provisioner {
    async fn provision(&self, launch: &NodeLaunch) -> Result<String, PortError> {
        let mut last = PortError::Failed("no launch was tried".into());
        for attempt in 1..=LAUNCH_ATTEMPTS {
            if let Some(instance) = self.launched_for(&launch.node_id).await? {
                tracing::info!(node = %launch.node_id, %instance, attempt, "the node's instance exists");
                return Ok(instance);
            }
            match self.launch(launch).await {
                Ok(instance) => return Ok(instance),
                Err(PortError::Unavailable(detail)) => {
                    tracing::warn!(node = %launch.node_id, attempt, %detail, "launch failed; looking the instance up before trying again");
                    last = PortError::Unavailable(detail);
                }
                Err(permanent) => return Err(permanent),
            }
        }
        Err(last)
    }

    async fn destroy(&self, provider_id: &str) -> Result<(), PortError> {
        match self
            .client
            .terminate_instances()
            .instance_ids(provider_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match SdkFailure::from(err) {
                failure if failure.is("InvalidInstanceID.NotFound") => Ok(()),
                failure => Err(failure.into()),
            },
        }
    }

    async fn list(&self) -> Result<Vec<Instance>, PortError> {
        self.instances(None).await
    }
}
