//! Control-plane configuration, read once from the environment at cold start. Every variable
//! is validated there, so a misconfigured function fails at start with a sentence naming the
//! variable instead of failing a request later.

use std::collections::HashMap;

use hangar_protocol::limits;
use hangar_protocol::tasks::VmSize;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} is required but not set{hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("{name} is {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

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
    /// (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`). Required in
    /// production; the local stack pushes through its own hub instead.
    pub push_endpoint: Option<String>,
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

/// How long each stage may take before the sweep steps in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub node_warm_ms: u64,
    pub max_node_lifetime_ms: u64,
    /// A new node must call back ready within this.
    pub provision_ms: u64,
    /// A task may wait this long in `queued` or `starting`.
    pub start_ms: u64,
    /// A task may run this long.
    pub run_ms: u64,
}

impl Timeouts {
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let max_node_lifetime_ms = millis(
            vars,
            "MAX_AUTO_NODE_LIFETIME_MS",
            limits::MAX_AUTO_NODE_LIFETIME_MS,
        )?;
        Ok(Timeouts {
            node_warm_ms: millis(vars, "NODE_WARM_TIMEOUT_MS", limits::NODE_WARM_TIMEOUT_MS)?,
            max_node_lifetime_ms,
            provision_ms: millis(vars, "HANGAR_PROVISION_TIMEOUT_MS", 600_000)?,
            start_ms: millis(vars, "HANGAR_START_TIMEOUT_MS", 300_000)?,
            run_ms: millis(vars, "HANGAR_TASK_RUN_TIMEOUT_MS", max_node_lifetime_ms)?,
        })
    }
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

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| vars.get(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str, hint: &'static str| {
            get(name)
                .cloned()
                .ok_or(ConfigError::Missing { name, hint })
        };

        let table_name = required("HANGAR_TABLE_NAME", "")?;
        if !table_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
            || !(3..=255).contains(&table_name.len())
        {
            return Err(ConfigError::Invalid {
                name: "HANGAR_TABLE_NAME",
                value: table_name,
                reason:
                    "a DynamoDB table name has 3 to 255 characters of a-z, A-Z, 0-9, '_', '-', '.'"
                        .into(),
            });
        }

        let dynamodb_endpoint = get("HANGAR_DYNAMODB_ENDPOINT")
            .map(|value| url("HANGAR_DYNAMODB_ENDPOINT", value.clone()))
            .transpose()?;

        let callback_public_key_pem = pem(
            "HANGAR_CALLBACK_PUBLIC_KEY",
            required(
                "HANGAR_CALLBACK_PUBLIC_KEY",
                " (the PEM public key that verifies workspace callback tokens)",
            )?,
        )?;
        let user_public_key_pem = pem(
            "HANGAR_USER_JWT_PUBLIC_KEY",
            required(
                "HANGAR_USER_JWT_PUBLIC_KEY",
                " (the PEM public key of the user auth issuer)",
            )?,
        )?;
        let user_token_algorithm = match get("HANGAR_USER_JWT_ALG").map(String::as_str) {
            None | Some("EdDSA") => UserTokenAlgorithm::EdDsa,
            Some("ES256") => UserTokenAlgorithm::Es256,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "HANGAR_USER_JWT_ALG",
                    value: other.into(),
                    reason: "expected EdDSA or ES256".into(),
                });
            }
        };

        Ok(Config {
            table_name,
            dynamodb_endpoint,
            callback_public_key_pem,
            callback_issuer: get("HANGAR_CALLBACK_ISSUER")
                .cloned()
                .unwrap_or_else(|| "hangar-control-plane".into()),
            user_public_key_pem,
            user_token_algorithm,
            user_issuer: required("HANGAR_USER_JWT_ISSUER", " (the iss of user tokens)")?,
            callback_private_key_pem: pem(
                "HANGAR_CALLBACK_PRIVATE_KEY",
                required(
                    "HANGAR_CALLBACK_PRIVATE_KEY",
                    " (the PEM private key that signs workspace and node tokens)",
                )?,
            )?,
            public_api_url: url(
                "HANGAR_PUBLIC_API_URL",
                required(
                    "HANGAR_PUBLIC_API_URL",
                    " (the API base URL nodes call back to)",
                )?,
            )?,
            push_endpoint: Some(url(
                "HANGAR_WS_ENDPOINT",
                required(
                    "HANGAR_WS_ENDPOINT",
                    " (the WebSocket API's management URL live frames are posted to)",
                )?,
            )?),
            scheduler: SchedulerConfig {
                group: get("HANGAR_SCHEDULE_GROUP")
                    .cloned()
                    .unwrap_or_else(|| "hangar".into()),
                target_arn: required(
                    "HANGAR_WARM_TIMEOUT_ARN",
                    " (the warm-timeout Lambda's ARN)",
                )?,
                role_arn: required(
                    "HANGAR_SCHEDULER_ROLE_ARN",
                    " (the role EventBridge Scheduler assumes)",
                )?,
                endpoint: get("HANGAR_SCHEDULER_ENDPOINT")
                    .map(|value| url("HANGAR_SCHEDULER_ENDPOINT", value.clone()))
                    .transpose()?,
            },
            ec2: Ec2Config {
                ami_id: required(
                    "HANGAR_EC2_AMI_ID",
                    " (the node image, with hangar-agent installed)",
                )?,
                subnet_id: get("HANGAR_EC2_SUBNET_ID").cloned(),
                security_group_ids: get("HANGAR_EC2_SECURITY_GROUP_IDS")
                    .map(|ids| {
                        ids.split(',')
                            .map(|id| id.trim().to_string())
                            .filter(|id| !id.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                instance_profile: get("HANGAR_EC2_INSTANCE_PROFILE").cloned(),
                instance_types: instance_types(
                    get("HANGAR_EC2_INSTANCE_TYPES").map_or(DEFAULT_INSTANCE_TYPES, String::as_str),
                )?,
                agent_port: match get("HANGAR_NODE_AGENT_PORT") {
                    None => 7070,
                    Some(port) => port.parse().map_err(|_| ConfigError::Invalid {
                        name: "HANGAR_NODE_AGENT_PORT",
                        value: port.clone(),
                        reason: "must be a TCP port".into(),
                    })?,
                },
                endpoint: get("HANGAR_EC2_ENDPOINT")
                    .map(|value| url("HANGAR_EC2_ENDPOINT", value.clone()))
                    .transpose()?,
            },
            timeouts: Timeouts::from_vars(vars)?,
        })
    }
}

fn url(name: &'static str, value: String) -> Result<String, ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.trim_end_matches('/').to_string())
    } else {
        Err(ConfigError::Invalid {
            name,
            value,
            reason: "must be an http:// or https:// URL".into(),
        })
    }
}

/// PEM keys often arrive through environments that cannot hold newlines; accept `\n` escapes.
fn pem(name: &'static str, value: String) -> Result<String, ConfigError> {
    let value = value.replace("\\n", "\n");
    if !value.contains("-----BEGIN ") {
        return Err(ConfigError::Invalid {
            name,
            value: value.chars().take(40).collect(),
            reason: "expected a PEM block (-----BEGIN PUBLIC KEY----- ...)".into(),
        });
    }
    Ok(value)
}

/// A positive whole number of milliseconds, or the default when unset.
pub fn millis(
    vars: &HashMap<String, String>,
    name: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    match vars.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(default),
        Some(value) => match value.parse::<u64>() {
            Ok(0) => Err(ConfigError::Invalid {
                name,
                value: value.into(),
                reason: "must be greater than 0".into(),
            }),
            Ok(parsed) => Ok(parsed),
            Err(_) => Err(ConfigError::Invalid {
                name,
                value: value.into(),
                reason: "must be a whole number of milliseconds".into(),
            }),
        },
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

    #[test]
    fn each_bad_variable_is_named() {
        let mut vars = base();
        vars.remove("HANGAR_TABLE_NAME");
        let err = Config::from_vars(&vars).expect_err("missing table");
        assert!(
            err.to_string().starts_with("HANGAR_TABLE_NAME is required"),
            "{err}"
        );

        let mut vars = base();
        vars.insert("NODE_WARM_TIMEOUT_MS".into(), "soon".into());
        let err = Config::from_vars(&vars).expect_err("not a number");
        assert!(
            err.to_string().contains("NODE_WARM_TIMEOUT_MS is \"soon\""),
            "{err}"
        );

        let mut vars = base();
        vars.insert("MAX_AUTO_NODE_LIFETIME_MS".into(), "0".into());
        assert!(matches!(
            Config::from_vars(&vars),
            Err(ConfigError::Invalid {
                name: "MAX_AUTO_NODE_LIFETIME_MS",
                ..
            })
        ));

        let mut vars = base();
        vars.insert("HANGAR_USER_JWT_ALG".into(), "HS256".into());
        assert!(matches!(
            Config::from_vars(&vars),
            Err(ConfigError::Invalid {
                name: "HANGAR_USER_JWT_ALG",
                ..
            })
        ));

        let mut vars = base();
        vars.insert("HANGAR_CALLBACK_PUBLIC_KEY".into(), "not a pem".into());
        assert!(matches!(
            Config::from_vars(&vars),
            Err(ConfigError::Invalid {
                name: "HANGAR_CALLBACK_PUBLIC_KEY",
                ..
            })
        ));

        let mut vars = base();
        vars.insert(
            "HANGAR_EC2_INSTANCE_TYPES".into(),
            "small=t3.micro,huge=x".into(),
        );
        assert!(matches!(
            Config::from_vars(&vars),
            Err(ConfigError::Invalid {
                name: "HANGAR_EC2_INSTANCE_TYPES",
                ..
            })
        ));

        let mut vars = base();
        vars.insert("HANGAR_EC2_INSTANCE_TYPES".into(), "small=t3.micro".into());
        let err = Config::from_vars(&vars)
            .expect_err("sizes missing")
            .to_string();
        assert!(err.contains("no instance type for size medium"), "{err}");

        let mut vars = base();
        vars.remove("HANGAR_WARM_TIMEOUT_ARN");
        assert!(matches!(
            Config::from_vars(&vars),
            Err(ConfigError::Missing {
                name: "HANGAR_WARM_TIMEOUT_ARN",
                ..
            })
        ));

        let mut vars = base();
        vars.insert("HANGAR_TABLE_NAME".into(), "bad name!".into());
        assert!(matches!(
            Config::from_vars(&vars),
            Err(ConfigError::Invalid {
                name: "HANGAR_TABLE_NAME",
                ..
            })
        ));
    }
}
