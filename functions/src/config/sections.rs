//! The sections of the configuration a function reads only when it needs them.

use hangar_protocol::config::{ConfigError, Vars};
use hangar_protocol::tasks::VmSize;

/// Where the key that signs workspace and node tokens comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKey {
    /// The PEM itself (local stack and tests).
    Pem(String),
    /// A Secrets Manager secret holding the PEM, read at cold start.
    Secret {
        arn: String,
        /// Only locally and in tests: the loopback endpoint.
        endpoint: Option<String>,
    },
}

/// What a function that signs tokens needs: the key, and what it tells nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningConfig {
    pub key: SigningKey,
    /// The API base URL nodes call back to.
    pub public_api_url: String,
    /// The WebSocket API URL nodes dial (`wss://…/{stage}`).
    pub node_socket_url: String,
}

/// EventBridge Scheduler: where warm-timeout schedules go and what they invoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    pub group: String,
    /// ARN of the warm-timeout Lambda.
    pub target_arn: String,
    /// Role EventBridge Scheduler assumes to invoke it.
    pub role_arn: String,
    /// Only locally: the loopback endpoint.
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Config {
    pub ami_id: String,
    pub subnet_id: Option<String>,
    pub security_group_ids: Vec<String>,
    pub instance_profile: Option<String>,
    /// Instance type per VM size.
    pub instance_types: Vec<(VmSize, String)>,
    /// Tagged on every instance (`hangar:stack`): what the sweep may terminate.
    pub stack: String,
    /// The ACP agent nodes run unless a project names another.
    pub acp_command: String,
    /// The Secrets Manager secret with the coding agent's environment, read by nodes.
    pub agent_env_secret_arn: Option<String>,
    /// Only locally and in tests: the loopback endpoint.
    pub endpoint: Option<String>,
}

/// A `ws://` or `wss://` URL, without a trailing slash.
pub(super) fn socket_url(name: &'static str, value: &str) -> Result<String, ConfigError> {
    if value.starts_with("ws://") || value.starts_with("wss://") {
        Ok(value.trim_end_matches('/').to_string())
    } else {
        Err(ConfigError::Invalid {
            name,
            value: value.into(),
            reason: "must be a ws:// or wss:// URL".into(),
        })
    }
}

pub fn signing(vars: Vars) -> Result<SigningConfig, ConfigError> {
    let key = match vars.get("HANGAR_SIGNING_KEY_SECRET_ARN") {
        Some(arn) => SigningKey::Secret {
            arn: arn.to_string(),
            endpoint: vars.optional_url("HANGAR_SECRETS_ENDPOINT")?,
        },
        None => SigningKey::Pem(vars.pem(
            "HANGAR_CALLBACK_PRIVATE_KEY",
            "the PEM key that signs workspace and node tokens (or HANGAR_SIGNING_KEY_SECRET_ARN)",
        )?),
    };
    let socket = vars.required("HANGAR_NODE_SOCKET_URL", "the WebSocket API URL nodes dial")?;
    Ok(SigningConfig {
        key,
        public_api_url: vars.url(
            "HANGAR_PUBLIC_API_URL",
            "the API base URL nodes call back to",
        )?,
        node_socket_url: socket_url("HANGAR_NODE_SOCKET_URL", socket)?,
    })
}

pub fn scheduler(vars: Vars) -> Result<SchedulerConfig, ConfigError> {
    Ok(SchedulerConfig {
        group: vars.get_or("HANGAR_SCHEDULE_GROUP", "hangar").to_string(),
        target_arn: vars
            .required("HANGAR_WARM_TIMEOUT_ARN", "the warm-timeout Lambda's ARN")?
            .to_string(),
        role_arn: vars
            .required(
                "HANGAR_SCHEDULER_ROLE_ARN",
                "the role EventBridge Scheduler assumes",
            )?
            .to_string(),
        endpoint: vars.optional_url("HANGAR_SCHEDULER_ENDPOINT")?,
    })
}

const DEFAULT_INSTANCE_TYPES: &str = "small=t3.medium,medium=t3.xlarge,large=t3.2xlarge";

fn instance_types(value: &str) -> Result<Vec<(VmSize, String)>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "HANGAR_EC2_INSTANCE_TYPES",
        value: value.into(),
        reason,
    };
    let mut types = Vec::new();
    for pair in value
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
    {
        let (size, instance_type) = pair
            .split_once('=')
            .ok_or_else(|| invalid(format!("{pair:?} is not size=instance-type")))?;
        let size: VmSize = size.trim().parse().map_err(invalid)?;
        types.push((size, instance_type.trim().to_string()));
    }
    for size in VmSize::ALL {
        if !types.iter().any(|(known, _)| known == size) {
            return Err(invalid(format!("no instance type for size {size}")));
        }
    }
    Ok(types)
}

fn id_list(value: Option<&str>) -> Vec<String> {
    value
        .map(|ids| {
            ids.split(',')
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

pub fn ec2(vars: Vars) -> Result<Ec2Config, ConfigError> {
    Ok(Ec2Config {
        ami_id: vars
            .required(
                "HANGAR_EC2_AMI_ID",
                "the node image, with hangar-agent installed",
            )?
            .to_string(),
        subnet_id: vars.get("HANGAR_EC2_SUBNET_ID").map(String::from),
        security_group_ids: id_list(vars.get("HANGAR_EC2_SECURITY_GROUP_IDS")),
        instance_profile: vars.get("HANGAR_EC2_INSTANCE_PROFILE").map(String::from),
        instance_types: instance_types(
            vars.get_or("HANGAR_EC2_INSTANCE_TYPES", DEFAULT_INSTANCE_TYPES),
        )?,
        stack: vars
            .required(
                "HANGAR_STACK_NAME",
                "the stack's name, tagged on its instances",
            )?
            .to_string(),
        acp_command: vars
            .get_or("HANGAR_NODE_ACP_COMMAND", "claude-code-acp")
            .to_string(),
        agent_env_secret_arn: vars
            .get("HANGAR_NODE_AGENT_ENV_SECRET_ARN")
            .map(String::from),
        endpoint: vars.optional_url("HANGAR_EC2_ENDPOINT")?,
    })
}

/// What a function with forges needs: where credentials are kept, and the UI's address for
/// the links in pull requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeConfig {
    /// The name prefix of the projects' credential secrets (`hangar/<stack>/forge/`).
    pub secret_prefix: String,
    /// Only locally and in tests: the loopback Secrets Manager endpoint.
    pub secrets_endpoint: Option<String>,
    pub ui_origin: String,
}

pub fn forge(vars: Vars) -> Result<ForgeConfig, ConfigError> {
    let secret_prefix = vars
        .required(
            "HANGAR_FORGE_SECRET_PREFIX",
            "the name prefix of projects' forge credential secrets",
        )?
        .to_string();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    if !secret_prefix.chars().all(allowed) || secret_prefix.len() > 400 {
        return Err(ConfigError::Invalid {
            name: "HANGAR_FORGE_SECRET_PREFIX",
            value: secret_prefix,
            reason: "a Secrets Manager name has letters, digits and /_+=.@- only".into(),
        });
    }
    Ok(ForgeConfig {
        secret_prefix,
        secrets_endpoint: vars.optional_url("HANGAR_SECRETS_ENDPOINT")?,
        ui_origin: vars
            .url(
                "HANGAR_UI_ORIGIN",
                "the UI's address, linked from pull requests",
            )?
            .trim_end_matches('/')
            .to_string(),
    })
}
