//! The EC2 adapter of [`Provisioner`]: one instance per node, booted by cloud-init user data
//! that writes the node agent's environment and starts its service. The image (`ami_id`) is
//! expected to carry `/usr/local/bin/hangar-agent` and the `hangar-agent.service` unit.

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    IamInstanceProfileSpecification, InstanceType, ResourceType, Tag, TagSpecification,
};
use base64::Engine;

use crate::adapters::aws::{SdkFailure, sdk_config};
use crate::config::Ec2Config;
use crate::domain::ports::{NodeLaunch, PortError, Provisioner};

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

/// The cloud-init user data of a node.
pub fn user_data(launch: &NodeLaunch, agent_port: u16) -> String {
    let env = [
        ("NODE_ID", launch.node_id.to_string()),
        ("HANGAR_API_URL", launch.api_url.clone()),
        ("HANGAR_NODE_TOKEN", launch.node_token.clone()),
        (
            "HANGAR_CONTROL_PLANE_PUBLIC_KEY",
            launch.control_public_key_pem.clone(),
        ),
        ("HANGAR_NODE_LISTEN", format!("0.0.0.0:{agent_port}")),
        ("HANGAR_NODE_DIR", "/var/lib/hangar".to_string()),
    ]
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
         - [sh, -c, 'echo HANGAR_NODE_ADVERTISE_URL=\"http://$(curl -s http://169.254.169.254/latest/meta-data/local-ipv4):{agent_port}\" >> /etc/hangar/agent.env']\n  \
         - [systemctl, enable, --now, hangar-agent.service]\n"
    )
}

pub struct Ec2Provisioner {
    client: Client,
    config: Ec2Config,
}

impl Ec2Provisioner {
    pub async fn connect(config: &Ec2Config) -> Self {
        let sdk = sdk_config(config.endpoint.as_deref()).await;
        Ec2Provisioner {
            client: Client::new(&sdk),
            config: config.clone(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl Provisioner for Ec2Provisioner {
    async fn provision(&self, launch: &NodeLaunch) -> Result<String, PortError> {
        let instance_type = self
            .config
            .instance_types
            .iter()
            .find(|(size, _)| *size == launch.size)
            .map(|(_, instance_type)| InstanceType::from(instance_type.as_str()))
            .ok_or_else(|| {
                PortError::Failed(format!("no instance type for size {}", launch.size))
            })?;
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::Instance)
            .tags(
                Tag::builder()
                    .key("Name")
                    .value(format!("hangar-node-{}", launch.node_id))
                    .build(),
            )
            .tags(
                Tag::builder()
                    .key("hangar:node-id")
                    .value(launch.node_id.as_str())
                    .build(),
            )
            .build();
        let user_data = base64::engine::general_purpose::STANDARD
            .encode(user_data(launch, self.config.agent_port));
        let output = self
            .client
            .run_instances()
            .image_id(&self.config.ami_id)
            .instance_type(instance_type)
            .min_count(1)
            .max_count(1)
            .user_data(user_data)
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
            .tag_specifications(tags)
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
}
