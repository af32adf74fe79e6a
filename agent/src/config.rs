//! Agent configuration from the environment (DESIGN.md section 5 plus what the agent needs to
//! reach the control plane and its ACP agent). Validated at start: a bad value stops the
//! agent with a sentence naming the variable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use hangar_protocol::limits;
use hangar_protocol::{NodeId, ProjectId, SessionId, WorkspaceId};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} is required but not set: {meaning}")]
    Missing {
        name: &'static str,
        meaning: &'static str,
    },
    #[error("{name} is {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// How the agent answers an ACP agent's permission requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionPolicy {
    /// Choose an allow option (once rather than always, when both are offered).
    Allow,
    /// Choose a reject option (once rather than always); cancel if none is offered.
    Reject,
    /// Answer every request as cancelled.
    Cancel,
}

/// Batching and retry of the reporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReporterConfig {
    pub batch_max_wait: Duration,
    pub batch_max_size: usize,
    pub batch_max_bytes: usize,
    pub retry_initial_interval: Duration,
    pub retry_max_interval: Duration,
    pub retry_max_elapsed: Duration,
    /// How long SIGTERM waits for the outbox to drain before the agent exits anyway.
    pub shutdown_flush_deadline: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    pub project_id: ProjectId,
    pub session_id: SessionId,
    pub workspace_id: WorkspaceId,
    /// Base URL of the control plane API, e.g. `https://api.example.com`.
    pub api_url: String,
    /// The workspace's callback JWT.
    pub callback_token: String,
    pub outbox_path: PathBuf,
    pub outbox_max_size: u64,
    /// The ACP agent command line: program and arguments.
    pub acp_command: Vec<String>,
    /// Working directory of the ACP agent (the workspace checkout).
    pub workdir: PathBuf,
    pub permission_policy: PermissionPolicy,
    pub reporter: ReporterConfig,
}

struct Vars<'a>(&'a HashMap<String, String>);

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str, meaning: &'static str) -> Result<&str, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing { name, meaning })
    }

    fn id<T>(
        &self,
        name: &'static str,
        meaning: &'static str,
        parse: fn(String) -> Result<T, hangar_protocol::IdError>,
    ) -> Result<T, ConfigError> {
        let value = self.required(name, meaning)?;
        parse(value.to_string()).map_err(|err| ConfigError::Invalid {
            name,
            value: value.into(),
            reason: err.to_string(),
        })
    }

    /// A whole number within `min..=max`, or `default` when unset.
    fn number(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let Some(value) = self.get(name) else {
            return Ok(default);
        };
        let invalid = |reason: String| ConfigError::Invalid {
            name,
            value: value.into(),
            reason,
        };
        let parsed: u64 = value
            .parse()
            .map_err(|_| invalid("must be a whole number".into()))?;
        if !(min..=max).contains(&parsed) {
            return Err(invalid(format!("must be between {min} and {max}")));
        }
        Ok(parsed)
    }

    fn millis(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        // A day is far beyond any sensible wait; larger values are typos.
        self.number(name, default, 1, 86_400_000)
            .map(Duration::from_millis)
    }
}

fn outbox_max_size(vars: &Vars) -> Result<u64, ConfigError> {
    vars.number(
        "MSG_OUTBOX_MAX_SIZE",
        limits::MSG_OUTBOX_MAX_SIZE,
        1,
        10_000_000,
    )
}

fn api_url(vars: &Vars) -> Result<String, ConfigError> {
    let api_url = vars
        .required("HANGAR_API_URL", "the control plane's base URL")?
        .trim_end_matches('/')
        .to_string();
    if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
        return Err(ConfigError::Invalid {
            name: "HANGAR_API_URL",
            value: api_url,
            reason: "must be an http:// or https:// URL".into(),
        });
    }
    Ok(api_url)
}

/// How to run the ACP agent and answer its permission requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpSettings {
    pub command: Vec<String>,
    pub policy: PermissionPolicy,
}

impl AcpSettings {
    fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let command_line = vars.required(
            "HANGAR_ACP_COMMAND",
            "the ACP agent's command line, e.g. 'claude-code-acp'",
        )?;
        let policy = match vars.get("HANGAR_PERMISSION_POLICY").unwrap_or("allow") {
            "allow" => PermissionPolicy::Allow,
            "reject" => PermissionPolicy::Reject,
            "cancel" => PermissionPolicy::Cancel,
            other => {
                return Err(ConfigError::Invalid {
                    name: "HANGAR_PERMISSION_POLICY",
                    value: other.into(),
                    reason: "expected allow, reject or cancel".into(),
                });
            }
        };
        Ok(AcpSettings {
            command: command_line.split_whitespace().map(String::from).collect(),
            policy,
        })
    }
}

impl ReporterConfig {
    fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let reporter = ReporterConfig {
            batch_max_wait: vars.millis("MSG_BATCH_MAX_WAIT_MS", limits::MSG_BATCH_MAX_WAIT_MS)?,
            batch_max_size: vars.number(
                "MSG_BATCH_MAX_SIZE",
                limits::MSG_BATCH_MAX_SIZE as u64,
                1,
                limits::MSG_BATCH_MAX_SIZE as u64,
            )? as usize,
            // A batch must hold at least one message of the largest size.
            batch_max_bytes: vars.number(
                "MSG_BATCH_MAX_BYTES",
                limits::MSG_BATCH_MAX_BYTES as u64,
                4_096,
                limits::MSG_BATCH_MAX_BYTES as u64,
            )? as usize,
            retry_initial_interval: vars.millis(
                "MSG_RETRY_INITIAL_INTERVAL_MS",
                limits::MSG_RETRY_INITIAL_INTERVAL_MS,
            )?,
            retry_max_interval: vars.millis(
                "MSG_RETRY_MAX_INTERVAL_MS",
                limits::MSG_RETRY_MAX_INTERVAL_MS,
            )?,
            retry_max_elapsed: vars.millis(
                "MSG_RETRY_MAX_ELAPSED_TIME_MS",
                limits::MSG_RETRY_MAX_ELAPSED_TIME_MS,
            )?,
            shutdown_flush_deadline: vars.millis("HANGAR_SHUTDOWN_FLUSH_MS", 10_000)?,
        };
        if reporter.retry_max_interval < reporter.retry_initial_interval {
            return Err(ConfigError::Invalid {
                name: "MSG_RETRY_MAX_INTERVAL_MS",
                value: reporter.retry_max_interval.as_millis().to_string(),
                reason: "must not be below MSG_RETRY_INITIAL_INTERVAL_MS".into(),
            });
        }
        Ok(reporter)
    }
}

/// `hangar-agent node`: a long-lived agent serving the node API, one workspace per task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub node_id: NodeId,
    pub api_url: String,
    /// The node callback JWT (ready callback).
    pub node_token: String,
    /// PEM Ed25519 key that verifies the control plane's requests.
    pub control_public_key_pem: String,
    /// `iss` of the control plane's tokens.
    pub control_issuer: String,
    pub listen: SocketAddr,
    /// The URL the control plane reaches this node at; defaults to `http://{listen}`.
    pub advertise_url: Option<String>,
    /// Workspaces and the outbox live under it.
    pub dir: PathBuf,
    pub outbox_max_size: u64,
    pub acp: AcpSettings,
    pub reporter: ReporterConfig,
}

impl NodeConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let vars = Vars(vars);
        let listen = vars.get("HANGAR_NODE_LISTEN").unwrap_or("127.0.0.1:0");
        let listen: SocketAddr = listen.parse().map_err(|_| ConfigError::Invalid {
            name: "HANGAR_NODE_LISTEN",
            value: listen.into(),
            reason: "expected host:port".into(),
        })?;
        let key = vars
            .required(
                "HANGAR_CONTROL_PLANE_PUBLIC_KEY",
                "the PEM key that verifies the control plane's requests",
            )?
            .replace("\\n", "\n");
        if !key.contains("-----BEGIN ") {
            return Err(ConfigError::Invalid {
                name: "HANGAR_CONTROL_PLANE_PUBLIC_KEY",
                value: key.chars().take(40).collect(),
                reason: "expected a PEM block".into(),
            });
        }
        Ok(NodeConfig {
            node_id: vars.id("NODE_ID", "this node's id", NodeId::parse)?,
            api_url: api_url(&vars)?,
            node_token: vars
                .required("HANGAR_NODE_TOKEN", "the node callback JWT")?
                .to_string(),
            control_public_key_pem: key,
            control_issuer: vars
                .get("HANGAR_CONTROL_PLANE_ISSUER")
                .unwrap_or("hangar-control-plane")
                .to_string(),
            listen,
            advertise_url: vars
                .get("HANGAR_NODE_ADVERTISE_URL")
                .map(|url| url.trim_end_matches('/').to_string()),
            dir: PathBuf::from(vars.get("HANGAR_NODE_DIR").unwrap_or(".")),
            outbox_max_size: outbox_max_size(&vars)?,
            acp: AcpSettings::from_vars(&vars)?,
            reporter: ReporterConfig::from_vars(&vars)?,
        })
    }
}

impl AgentConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let vars = Vars(vars);
        let api_url = api_url(&vars)?;
        let acp = AcpSettings::from_vars(&vars)?;
        let reporter = ReporterConfig::from_vars(&vars)?;

        Ok(AgentConfig {
            project_id: vars.id(
                "PROJECT_ID",
                "the project this workspace belongs to",
                ProjectId::parse,
            )?,
            session_id: vars.id(
                "CHAT_SESSION_ID",
                "the chat session to persist messages to",
                SessionId::parse,
            )?,
            workspace_id: vars.id(
                "HANGAR_WORKSPACE_ID",
                "the workspace this agent runs",
                WorkspaceId::parse,
            )?,
            api_url,
            callback_token: vars
                .required("HANGAR_CALLBACK_TOKEN", "the workspace callback JWT")?
                .to_string(),
            outbox_path: PathBuf::from(
                vars.get("HANGAR_OUTBOX_PATH").unwrap_or("hangar-outbox.db"),
            ),
            outbox_max_size: outbox_max_size(&vars)?,
            acp_command: acp.command,
            workdir: PathBuf::from(vars.get("HANGAR_WORKDIR").unwrap_or(".")),
            permission_policy: acp.policy,
            reporter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HashMap<String, String> {
        [
            ("PROJECT_ID", "p1"),
            ("CHAT_SESSION_ID", "s1"),
            ("HANGAR_WORKSPACE_ID", "w1"),
            ("HANGAR_API_URL", "http://127.0.0.1:9/"),
            ("HANGAR_CALLBACK_TOKEN", "jwt"),
            ("HANGAR_ACP_COMMAND", "scripted-acp-agent --fast"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn with(name: &str, value: &str) -> Result<AgentConfig, ConfigError> {
        let mut vars = base();
        vars.insert(name.into(), value.into());
        AgentConfig::from_vars(&vars)
    }

    #[test]
    fn defaults_are_those_of_the_design() {
        let config = AgentConfig::from_vars(&base()).expect("valid");
        assert_eq!(config.api_url, "http://127.0.0.1:9");
        assert_eq!(config.acp_command, vec!["scripted-acp-agent", "--fast"]);
        assert_eq!(config.outbox_max_size, 10_000);
        let r = &config.reporter;
        assert_eq!(r.batch_max_wait, Duration::from_millis(2_000));
        assert_eq!((r.batch_max_size, r.batch_max_bytes), (50, 65_536));
        assert_eq!(r.retry_initial_interval, Duration::from_millis(1_000));
        assert_eq!(r.retry_max_interval, Duration::from_millis(30_000));
        assert_eq!(r.retry_max_elapsed, Duration::from_millis(300_000));
        assert_eq!(config.permission_policy, PermissionPolicy::Allow);
    }

    #[test]
    fn limits_are_enforced_at_their_edges() {
        assert!(with("MSG_BATCH_MAX_SIZE", "50").is_ok());
        assert!(matches!(
            with("MSG_BATCH_MAX_SIZE", "51"),
            Err(ConfigError::Invalid {
                name: "MSG_BATCH_MAX_SIZE",
                ..
            })
        ));
        assert!(matches!(
            with("MSG_BATCH_MAX_SIZE", "0"),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(with("MSG_BATCH_MAX_BYTES", "65536").is_ok());
        assert!(matches!(
            with("MSG_BATCH_MAX_BYTES", "65537"),
            Err(ConfigError::Invalid {
                name: "MSG_BATCH_MAX_BYTES",
                ..
            })
        ));
        assert!(matches!(
            with("MSG_OUTBOX_MAX_SIZE", "0"),
            Err(ConfigError::Invalid {
                name: "MSG_OUTBOX_MAX_SIZE",
                ..
            })
        ));
        assert!(matches!(
            with("MSG_BATCH_MAX_WAIT_MS", "-5"),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(matches!(
            with("MSG_RETRY_MAX_INTERVAL_MS", "10"),
            Err(ConfigError::Invalid {
                name: "MSG_RETRY_MAX_INTERVAL_MS",
                ..
            })
        ));
    }

    #[test]
    fn each_bad_or_missing_variable_is_named() {
        let mut vars = base();
        vars.remove("CHAT_SESSION_ID");
        let err = AgentConfig::from_vars(&vars)
            .expect_err("missing")
            .to_string();
        assert!(err.starts_with("CHAT_SESSION_ID is required"), "{err}");
        let err = with("PROJECT_ID", "a#b").expect_err("bad id").to_string();
        assert!(err.starts_with("PROJECT_ID is \"a#b\""), "{err}");
        assert!(matches!(
            with("HANGAR_API_URL", "ftp://x"),
            Err(ConfigError::Invalid {
                name: "HANGAR_API_URL",
                ..
            })
        ));
        assert!(matches!(
            with("HANGAR_PERMISSION_POLICY", "maybe"),
            Err(ConfigError::Invalid {
                name: "HANGAR_PERMISSION_POLICY",
                ..
            })
        ));
    }
}
