//! `hangar-agent agent-env`: at a node's boot, writes the coding agent's environment (its API
//! keys) from the Secrets Manager secret the user data names, as a root-only systemd
//! environment file the node agent's service loads. The node reads it with its instance
//! role, which may read that secret and nothing else; the values never pass through the
//! user data or the control plane.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use aws_sdk_secretsmanager::Client;
use hangar_protocol::config::{ConfigError, FromEnv, Vars};

/// Where the environment file goes unless told otherwise.
pub const DEFAULT_FILE: &str = "/etc/hangar/acp.env";
/// The node agent's own variables: a secret may not set them.
const RESERVED_PREFIX: &str = "HANGAR_";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEnvConfig {
    /// `HANGAR_AGENT_ENV_SECRET_ARN`: none, and the file is written empty.
    pub secret_arn: Option<String>,
    /// `HANGAR_AGENT_ENV_FILE`.
    pub file: PathBuf,
    /// `HANGAR_SECRETS_ENDPOINT`: only locally and in tests.
    pub endpoint: Option<String>,
}

impl FromEnv for AgentEnvConfig {
    fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let vars = Vars(vars);
        Ok(AgentEnvConfig {
            secret_arn: vars.get("HANGAR_AGENT_ENV_SECRET_ARN").map(String::from),
            file: PathBuf::from(vars.get_or("HANGAR_AGENT_ENV_FILE", DEFAULT_FILE)),
            endpoint: vars.optional_url("HANGAR_SECRETS_ENDPOINT")?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentEnvError {
    /// Names the line, never its value.
    #[error("the secret's line {line} is not KEY=VALUE with a KEY of letters, digits and _")]
    Malformed { line: usize },
    #[error("the secret's line {line} sets {key}, which is the node agent's own")]
    Reserved { line: usize, key: String },
    #[error("cannot read the secret: {0}")]
    Secret(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn is_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The variables of a secret's text: `KEY=VALUE` lines; blank lines and `#` comments skipped.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, AgentEnvError> {
    let mut variables = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (key, value) = trimmed
            .split_once('=')
            .filter(|(key, _)| is_key(key))
            .ok_or(AgentEnvError::Malformed { line: line_number })?;
        if key.starts_with(RESERVED_PREFIX) {
            return Err(AgentEnvError::Reserved {
                line: line_number,
                key: key.to_string(),
            });
        }
        variables.push((key.to_string(), value.to_string()));
    }
    Ok(variables)
}

/// One systemd environment-file line: the value double-quoted, with `\`, `"` escaped.
fn env_line(key: &str, value: &str) -> String {
    let value = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{key}=\"{value}\"\n")
}

/// Writes `variables` to `path`, readable by root alone, replacing it whole.
fn write_file(path: &Path, variables: &[(String, String)]) -> Result<(), AgentEnvError> {
    let failed = |source| AgentEnvError::Write {
        path: path.to_path_buf(),
        source,
    };
    let partial = path.with_extension("new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(failed)?;
    for (key, value) in variables {
        file.write_all(env_line(key, value).as_bytes())
            .map_err(failed)?;
    }
    file.sync_all().map_err(failed)?;
    std::fs::rename(&partial, path).map_err(failed)
}

async fn read_secret(arn: &str, endpoint: Option<&str>) -> Result<String, AgentEnvError> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let client = Client::new(&loader.load().await);
    let secret = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|err| {
            AgentEnvError::Secret(
                aws_sdk_secretsmanager::error::DisplayErrorContext(err).to_string(),
            )
        })?;
    secret
        .secret_string()
        .map(String::from)
        .ok_or_else(|| AgentEnvError::Secret(format!("{arn} holds no string")))
}

/// Writes the environment file; returns how many variables it holds.
pub async fn write_agent_env(config: &AgentEnvConfig) -> Result<usize, AgentEnvError> {
    let variables = match &config.secret_arn {
        Some(arn) => parse(&read_secret(arn, config.endpoint.as_deref()).await?)?,
        None => Vec::new(),
    };
    write_file(&config.file, &variables)?;
    Ok(variables.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_variables_and_bad_or_reserved_ones_are_refused_by_line() {
        let parsed = parse("# keys\nANTHROPIC_API_KEY=sk-1=2\n\n  OTHER_KEY=\"quoted\"  \n")
            .expect("parses");
        assert_eq!(
            parsed,
            vec![
                ("ANTHROPIC_API_KEY".to_string(), "sk-1=2".to_string()),
                ("OTHER_KEY".to_string(), "\"quoted\"".to_string())
            ]
        );
        assert!(matches!(
            parse("A=1\nnot a line\n"),
            Err(AgentEnvError::Malformed { line: 2 })
        ));
        assert!(matches!(
            parse("1ABC=x"),
            Err(AgentEnvError::Malformed { line: 1 })
        ));
        assert!(matches!(
            parse("HANGAR_NODE_TOKEN=stolen"),
            Err(AgentEnvError::Reserved { line: 1, .. })
        ));
        assert_eq!(env_line("K", r#"a"b\c"#), "K=\"a\\\"b\\\\c\"\n");
    }
}
