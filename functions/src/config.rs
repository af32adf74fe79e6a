//! Control-plane configuration, read once from the environment at cold start. Every variable
//! is validated there, so a misconfigured function fails at start with a sentence naming the
//! variable instead of failing a request later.

use std::collections::HashMap;

pub use hangar_protocol::config::FromEnv;
use hangar_protocol::config::{ConfigError, Vars};
use hangar_protocol::limits;
use hangar_protocol::tasks::VmSize;

use crate::domain::Timeouts;

/// Which signature algorithm user tokens are checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserTokenAlgorithm {
    EdDsa,
    Es256,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    /// Only set locally and in tests: the loopback DynamoDB-compatible server.
    pub dynamodb_endpoint: Option<String>,
    /// PEM (SPKI) Ed25519 key that verifies workspace callback tokens.
    pub callback_public_key_pem: String,
    /// `iss` of callback tokens.
    pub callback_issuer: String,
    /// PEM (SPKI) key that verifies user tokens, with its algorithm and expected `iss`.
    pub user_public_key_pem: String,
    pub user_token_algorithm: UserTokenAlgorithm,
    pub user_issuer: String,
    /// PEM (PKCS#8) Ed25519 key that signs workspace, node and node-control tokens.
    pub callback_private_key_pem: String,
    /// The API base URL nodes call back to.
    pub public_api_url: String,
    /// The WebSocket API's management endpoint frames are posted to
    /// (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`). The local stack
    /// pushes through its own hub and leaves it unused.
    pub push_endpoint: String,
    pub scheduler: SchedulerConfig,
    pub ec2: Ec2Config,
    pub timeouts: Timeouts,
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
    /// Port the node agent listens on.
    pub agent_port: u16,
    /// Only locally and in tests: the loopback endpoint.
    pub endpoint: Option<String>,
}

/// Milliseconds of any length are accepted for the control plane's timeouts.
const ANY_MILLIS: u64 = u64::MAX;

/// The timeouts of DESIGN.md section 5 and of each task stage.
pub fn timeouts(vars: Vars) -> Result<Timeouts, ConfigError> {
    let max_node_lifetime_ms = vars.millis(
        "MAX_AUTO_NODE_LIFETIME_MS",
        limits::MAX_AUTO_NODE_LIFETIME_MS,
        ANY_MILLIS,
    )?;
    Ok(Timeouts {
        node_warm_ms: vars.millis(
            "NODE_WARM_TIMEOUT_MS",
            limits::NODE_WARM_TIMEOUT_MS,
            ANY_MILLIS,
        )?,
        max_node_lifetime_ms,
        provision_ms: vars.millis("HANGAR_PROVISION_TIMEOUT_MS", 600_000, ANY_MILLIS)?,
        start_ms: vars.millis("HANGAR_START_TIMEOUT_MS", 300_000, ANY_MILLIS)?,
        run_ms: vars.millis(
            "HANGAR_TASK_RUN_TIMEOUT_MS",
            max_node_lifetime_ms,
            ANY_MILLIS,
        )?,
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

fn table_name(vars: Vars) -> Result<String, ConfigError> {
    let name = vars.required("HANGAR_TABLE_NAME", "the DynamoDB table")?;
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        || !(3..=255).contains(&name.len())
    {
        return Err(ConfigError::Invalid {
            name: "HANGAR_TABLE_NAME",
            value: name.into(),
            reason: "a DynamoDB table name has 3 to 255 characters of a-z, A-Z, 0-9, '_', '-', '.'"
                .into(),
        });
    }
    Ok(name.to_string())
}

fn ec2(vars: Vars) -> Result<Ec2Config, ConfigError> {
    Ok(Ec2Config {
        ami_id: vars
            .required(
                "HANGAR_EC2_AMI_ID",
                "the node image, with hangar-agent installed",
            )?
            .to_string(),
        subnet_id: vars.get("HANGAR_EC2_SUBNET_ID").map(String::from),
        security_group_ids: vars
            .get("HANGAR_EC2_SECURITY_GROUP_IDS")
            .map(|ids| {
                ids.split(',')
                    .map(|id| id.trim().to_string())
                    .filter(|id| !id.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        instance_profile: vars.get("HANGAR_EC2_INSTANCE_PROFILE").map(String::from),
        instance_types: instance_types(
            vars.get_or("HANGAR_EC2_INSTANCE_TYPES", DEFAULT_INSTANCE_TYPES),
        )?,
        agent_port: vars.number("HANGAR_NODE_AGENT_PORT", 7070, 1, u64::from(u16::MAX))? as u16,
        endpoint: vars.optional_url("HANGAR_EC2_ENDPOINT")?,
    })
}

impl FromEnv for Config {
    fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let vars = Vars(vars);
        Ok(Config {
            table_name: table_name(vars)?,
            dynamodb_endpoint: vars.optional_url("HANGAR_DYNAMODB_ENDPOINT")?,
            callback_public_key_pem: vars.pem(
                "HANGAR_CALLBACK_PUBLIC_KEY",
                "the PEM public key that verifies workspace callback tokens",
            )?,
            callback_issuer: vars
                .get_or("HANGAR_CALLBACK_ISSUER", "hangar-control-plane")
                .to_string(),
            user_public_key_pem: vars.pem(
                "HANGAR_USER_JWT_PUBLIC_KEY",
                "the PEM public key of the user auth issuer",
            )?,
            user_token_algorithm: vars.choice(
                "HANGAR_USER_JWT_ALG",
                UserTokenAlgorithm::EdDsa,
                &[
                    ("EdDSA", UserTokenAlgorithm::EdDsa),
                    ("ES256", UserTokenAlgorithm::Es256),
                ],
            )?,
            user_issuer: vars
                .required("HANGAR_USER_JWT_ISSUER", "the iss of user tokens")?
                .to_string(),
            callback_private_key_pem: vars.pem(
                "HANGAR_CALLBACK_PRIVATE_KEY",
                "the PEM private key that signs workspace and node tokens",
            )?,
            public_api_url: vars.url(
                "HANGAR_PUBLIC_API_URL",
                "the API base URL nodes call back to",
            )?,
            push_endpoint: vars.url(
                "HANGAR_WS_ENDPOINT",
                "the WebSocket API's management URL live frames are posted to",
            )?,
            scheduler: SchedulerConfig {
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
            },
            ec2: ec2(vars)?,
            timeouts: timeouts(vars)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HashMap<String, String> {
        [
            ("HANGAR_TABLE_NAME", "hangar"),
            (
                "HANGAR_CALLBACK_PUBLIC_KEY",
                "-----BEGIN PUBLIC KEY-----\\nabc\\n-----END PUBLIC KEY-----",
            ),
            (
                "HANGAR_USER_JWT_PUBLIC_KEY",
                "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----",
            ),
            ("HANGAR_USER_JWT_ISSUER", "https://auth.example"),
            (
                "HANGAR_CALLBACK_PRIVATE_KEY",
                "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----",
            ),
            ("HANGAR_PUBLIC_API_URL", "https://api.example/"),
            (
                "HANGAR_WARM_TIMEOUT_ARN",
                "arn:aws:lambda:us-east-1:1:function:warm",
            ),
            ("HANGAR_SCHEDULER_ROLE_ARN", "arn:aws:iam::1:role/scheduler"),
            ("HANGAR_EC2_AMI_ID", "ami-123"),
            (
                "HANGAR_WS_ENDPOINT",
                "https://abc.execute-api.us-east-1.amazonaws.com/live",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn defaults_apply_and_escaped_newlines_are_restored() {
        let config = Config::from_vars(&base()).expect("valid");
        assert_eq!(config.timeouts.node_warm_ms, 1_800_000);
        assert_eq!(config.timeouts.max_node_lifetime_ms, 14_400_000);
        assert_eq!(config.timeouts.run_ms, 14_400_000);
        assert_eq!(config.public_api_url, "https://api.example");
        assert_eq!(config.ec2.instance_types.len(), 3);
        assert_eq!(config.scheduler.group, "hangar");
        assert!(config.callback_public_key_pem.contains("KEY-----\nabc\n"));
        assert_eq!(config.user_token_algorithm, UserTokenAlgorithm::EdDsa);
    }

    /// The error of starting with `base()` changed by `change` (`None` removes the variable).
    fn error_with(name: &str, change: Option<&str>) -> ConfigError {
        let mut vars = base();
        match change {
            Some(value) => vars.insert(name.into(), value.into()),
            None => vars.remove(name),
        };
        Config::from_vars(&vars).expect_err(name)
    }

    fn named(err: &ConfigError) -> &'static str {
        match err {
            ConfigError::Missing { name, .. } | ConfigError::Invalid { name, .. } => name,
        }
    }

    #[test]
    fn each_bad_variable_is_named() {
        let missing = error_with("HANGAR_TABLE_NAME", None);
        assert!(
            missing
                .to_string()
                .starts_with("HANGAR_TABLE_NAME is required"),
            "{missing}"
        );
        let soon = error_with("NODE_WARM_TIMEOUT_MS", Some("soon"));
        assert!(
            soon.to_string()
                .contains("NODE_WARM_TIMEOUT_MS is \"soon\""),
            "{soon}"
        );
        let sizes = error_with("HANGAR_EC2_INSTANCE_TYPES", Some("small=t3.micro"));
        assert!(
            sizes
                .to_string()
                .contains("no instance type for size medium"),
            "{sizes}"
        );
        for (name, value, invalid) in [
            ("MAX_AUTO_NODE_LIFETIME_MS", Some("0"), true),
            ("HANGAR_USER_JWT_ALG", Some("HS256"), true),
            ("HANGAR_CALLBACK_PUBLIC_KEY", Some("not a pem"), true),
            (
                "HANGAR_EC2_INSTANCE_TYPES",
                Some("small=t3.micro,huge=x"),
                true,
            ),
            ("HANGAR_TABLE_NAME", Some("bad name!"), true),
            ("HANGAR_WARM_TIMEOUT_ARN", None, false),
        ] {
            let err = error_with(name, value);
            assert_eq!(named(&err), name, "{err}");
            assert_eq!(matches!(err, ConfigError::Invalid { .. }), invalid, "{err}");
        }
    }
}
