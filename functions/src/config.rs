//! Control-plane configuration, read once from the environment at cold start. Every variable
//! is validated there, so a misconfigured function fails at start with a sentence naming the
//! variable instead of failing a request later.

use std::collections::HashMap;

use hangar_protocol::limits;

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
    pub node_warm_timeout_ms: u64,
    pub max_auto_node_lifetime_ms: u64,
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

        let dynamodb_endpoint = get("HANGAR_DYNAMODB_ENDPOINT").cloned();
        if let Some(endpoint) = &dynamodb_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                name: "HANGAR_DYNAMODB_ENDPOINT",
                value: endpoint.clone(),
                reason: "must be an http:// or https:// URL".into(),
            });
        }

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
            node_warm_timeout_ms: millis(
                vars,
                "NODE_WARM_TIMEOUT_MS",
                limits::NODE_WARM_TIMEOUT_MS,
            )?,
            max_auto_node_lifetime_ms: millis(
                vars,
                "MAX_AUTO_NODE_LIFETIME_MS",
                limits::MAX_AUTO_NODE_LIFETIME_MS,
            )?,
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
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn defaults_apply_and_escaped_newlines_are_restored() {
        let config = Config::from_vars(&base()).expect("valid");
        assert_eq!(config.node_warm_timeout_ms, 1_800_000);
        assert_eq!(config.max_auto_node_lifetime_ms, 14_400_000);
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
