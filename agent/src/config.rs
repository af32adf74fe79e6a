//! Agent configuration from the environment (DESIGN.md section 5 plus what the agent needs to
//! reach the control plane and its ACP agent). Validated at start: a bad value stops the
//! agent with a sentence naming the variable.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

pub use hangar_protocol::config::ConfigError;
pub use hangar_protocol::config::FromEnv;
use hangar_protocol::config::Vars;

use crate::node::isolation::Isolation;
use hangar_protocol::limits;
use hangar_protocol::permissions::PermissionMode;
use hangar_protocol::{NodeId, ProjectId, SessionId, WorkspaceId};

/// The outbox file's default size cap: far past any backlog, short of filling a node's disk.
const OUTBOX_MAX_BYTES: u64 = 4 << 30;

/// A day is far beyond any sensible wait of the agent; larger values are typos.
const MAX_WAIT_MS: u64 = 86_400_000;

/// How large a batch may grow (`MSG_BATCH_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_size: usize,
    pub max_bytes: usize,
}

/// How failed calls to the control plane are retried (`MSG_RETRY_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_interval: Duration,
    pub max_interval: Duration,
    /// Total time spent waiting between tries of one call.
    pub max_elapsed: Duration,
}

/// The outbox and its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    pub outbox_max_size: u64,
    /// Most bytes the outbox file may take (SQLite's `max_page_count`).
    pub outbox_max_bytes: u64,
    pub batch: BatchLimits,
    pub retry: RetryPolicy,
    /// How long SIGTERM waits for the outbox to drain before the agent exits anyway.
    pub shutdown_flush_deadline: Duration,
    /// How long a finished run waits for its transcript to be delivered before it gives up
    /// reporting its outcome (kept for a later report): an outage longer than the retry
    /// budget loses nothing.
    pub report_deadline: Duration,
}

impl DeliveryConfig {
    fn from_vars(vars: Vars) -> Result<Self, ConfigError> {
        let millis = |name, default| {
            vars.millis(name, default, MAX_WAIT_MS)
                .map(Duration::from_millis)
        };
        let retry = RetryPolicy {
            initial_interval: millis(
                "MSG_RETRY_INITIAL_INTERVAL_MS",
                limits::MSG_RETRY_INITIAL_INTERVAL_MS,
            )?,
            max_interval: millis(
                "MSG_RETRY_MAX_INTERVAL_MS",
                limits::MSG_RETRY_MAX_INTERVAL_MS,
            )?,
            max_elapsed: millis(
                "MSG_RETRY_MAX_ELAPSED_TIME_MS",
                limits::MSG_RETRY_MAX_ELAPSED_TIME_MS,
            )?,
        };
        if retry.max_interval < retry.initial_interval {
            return Err(ConfigError::Invalid {
                name: "MSG_RETRY_MAX_INTERVAL_MS",
                value: retry.max_interval.as_millis().to_string(),
                reason: "must not be below MSG_RETRY_INITIAL_INTERVAL_MS".into(),
            });
        }
        // DESIGN.md's MSG_BATCH_MAX_WAIT_MS is still checked, but nothing waits for it: a
        // batch goes as soon as its workspace has nothing in flight (see reporter.rs).
        millis("MSG_BATCH_MAX_WAIT_MS", limits::MSG_BATCH_MAX_WAIT_MS)?;
        Ok(DeliveryConfig {
            outbox_max_size: vars.number(
                "MSG_OUTBOX_MAX_SIZE",
                limits::MSG_OUTBOX_MAX_SIZE,
                1,
                10_000_000,
            )?,
            outbox_max_bytes: vars.number(
                "MSG_OUTBOX_MAX_BYTES",
                OUTBOX_MAX_BYTES,
                64 * 1024,
                1 << 44,
            )?,
            batch: BatchLimits {
                max_size: vars.number(
                    "MSG_BATCH_MAX_SIZE",
                    limits::MSG_BATCH_MAX_SIZE as u64,
                    1,
                    limits::MSG_BATCH_MAX_SIZE as u64,
                )? as usize,
                // A batch must hold at least one message of the largest size.
                max_bytes: vars.number(
                    "MSG_BATCH_MAX_BYTES",
                    limits::MSG_BATCH_MAX_BYTES as u64,
                    4_096,
                    limits::MSG_BATCH_MAX_BYTES as u64,
                )? as usize,
            },
            retry,
            shutdown_flush_deadline: millis("HANGAR_SHUTDOWN_FLUSH_MS", 10_000)?,
            report_deadline: millis("HANGAR_REPORT_DEADLINE_MS", 3_600_000)?,
        })
    }
}

/// How to run the ACP agent and answer its permission requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpSettings {
    pub command: Vec<String>,
    /// How permission requests are answered when the workspace's project says nothing
    /// (`hangar-agent run`, a control plane of an older release).
    pub policy: PermissionMode,
    /// How often at most a streamed message's draft goes out (`HANGAR_DRAFT_INTERVAL_MS`;
    /// 0: no drafts).
    pub draft_interval: Duration,
}

impl AcpSettings {
    fn from_vars(vars: Vars) -> Result<Self, ConfigError> {
        let command_line = vars.required(
            "HANGAR_ACP_COMMAND",
            "the ACP agent's command line, e.g. 'claude-code-acp'",
        )?;
        let policy = vars.choice(
            "HANGAR_PERMISSION_POLICY",
            PermissionMode::Allow,
            &[
                ("allow", PermissionMode::Allow),
                ("reject", PermissionMode::Deny),
                ("deny", PermissionMode::Deny),
                ("ask", PermissionMode::Ask),
            ],
        )?;
        let draft_ms = vars.millis(
            "HANGAR_DRAFT_INTERVAL_MS",
            limits::DRAFT_INTERVAL_MS,
            MAX_WAIT_MS,
        )?;
        Ok(AcpSettings {
            command: command_line.split_whitespace().map(String::from).collect(),
            policy,
            draft_interval: Duration::from_millis(draft_ms),
        })
    }
}

/// `hangar-agent run | drain`: one workspace's session, outside a node.
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
    /// Working directory of the ACP agent (the workspace checkout).
    pub workdir: PathBuf,
    pub acp: AcpSettings,
    pub delivery: DeliveryConfig,
}

impl FromEnv for AgentConfig {
    fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let vars = Vars(vars);
        let api_url = vars.url("HANGAR_API_URL", "the control plane's base URL")?;
        let acp = AcpSettings::from_vars(vars)?;
        let delivery = DeliveryConfig::from_vars(vars)?;
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
            outbox_path: PathBuf::from(vars.get_or("HANGAR_OUTBOX_PATH", "hangar-outbox.db")),
            workdir: PathBuf::from(vars.get_or("HANGAR_WORKDIR", ".")),
            acp,
            delivery,
        })
    }
}

/// `hangar-agent node`: the long-lived agent of a node, one workspace per task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub node_id: NodeId,
    /// The control plane's API base URL (its HTTPS callbacks).
    pub api_url: String,
    /// The WebSocket API URL the node dials for its commands (`wss://…`).
    pub socket_url: String,
    /// The node's JWT: its callbacks and its socket.
    pub node_token: String,
    /// How often the node tells the control plane it is alive, over its socket.
    pub heartbeat: Duration,
    /// Workspaces and the outbox live under it.
    pub dir: PathBuf,
    pub acp: AcpSettings,
    /// `HANGAR_WORKSPACE_USERS=true`: each workspace's ACP agent runs as its own user.
    pub isolation: Isolation,
    pub delivery: DeliveryConfig,
}

impl FromEnv for NodeConfig {
    fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let vars = Vars(vars);
        let socket_url =
            vars.required("HANGAR_SOCKET_URL", "the WebSocket API URL the node dials")?;
        if !(socket_url.starts_with("ws://") || socket_url.starts_with("wss://")) {
            return Err(ConfigError::Invalid {
                name: "HANGAR_SOCKET_URL",
                value: socket_url.into(),
                reason: "must be a ws:// or wss:// URL".into(),
            });
        }
        Ok(NodeConfig {
            node_id: vars.id("NODE_ID", "this node's id", NodeId::parse)?,
            api_url: vars.url("HANGAR_API_URL", "the control plane's base URL")?,
            socket_url: socket_url.trim_end_matches('/').to_string(),
            node_token: vars
                .required("HANGAR_NODE_TOKEN", "the node's JWT")?
                .to_string(),
            heartbeat: Duration::from_millis(vars.millis(
                "HANGAR_NODE_HEARTBEAT_MS",
                60_000,
                MAX_WAIT_MS,
            )?),
            dir: PathBuf::from(vars.get_or("HANGAR_NODE_DIR", ".")),
            acp: AcpSettings::from_vars(vars)?,
            isolation: vars.choice(
                "HANGAR_WORKSPACE_USERS",
                Isolation::SameUser,
                &[
                    ("false", Isolation::SameUser),
                    ("true", Isolation::UserPerWorkspace),
                ],
            )?,
            delivery: DeliveryConfig::from_vars(vars)?,
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

    /// The variable a refused value is named by (`None` when it was accepted).
    fn refused(name: &str, value: &str) -> Option<&'static str> {
        match with(name, value) {
            Ok(_) => None,
            Err(ConfigError::Invalid { name, .. } | ConfigError::Missing { name, .. }) => {
                Some(name)
            }
        }
    }

    #[test]
    fn defaults_are_those_of_the_design() {
        let config = AgentConfig::from_vars(&base()).expect("valid");
        assert_eq!(config.api_url, "http://127.0.0.1:9");
        assert_eq!(config.acp.command, vec!["scripted-acp-agent", "--fast"]);
        let d = &config.delivery;
        assert_eq!(d.outbox_max_size, 10_000);
        assert_eq!((d.batch.max_size, d.batch.max_bytes), (50, 65_536));
        assert_eq!(d.retry.initial_interval, Duration::from_millis(1_000));
        assert_eq!(d.retry.max_interval, Duration::from_millis(30_000));
        assert_eq!(d.retry.max_elapsed, Duration::from_millis(300_000));
        assert_eq!(config.acp.policy, PermissionMode::Allow);
    }

    #[test]
    fn limits_are_enforced_at_their_edges() {
        for (name, value, refused_as) in [
            ("MSG_BATCH_MAX_SIZE", "50", None),
            ("MSG_BATCH_MAX_SIZE", "51", Some("MSG_BATCH_MAX_SIZE")),
            ("MSG_BATCH_MAX_SIZE", "0", Some("MSG_BATCH_MAX_SIZE")),
            ("MSG_BATCH_MAX_BYTES", "65536", None),
            ("MSG_BATCH_MAX_BYTES", "65537", Some("MSG_BATCH_MAX_BYTES")),
            ("MSG_OUTBOX_MAX_SIZE", "0", Some("MSG_OUTBOX_MAX_SIZE")),
            ("MSG_BATCH_MAX_WAIT_MS", "-5", Some("MSG_BATCH_MAX_WAIT_MS")),
            (
                "MSG_RETRY_MAX_INTERVAL_MS",
                "10",
                Some("MSG_RETRY_MAX_INTERVAL_MS"),
            ),
        ] {
            assert_eq!(refused(name, value), refused_as, "{name}={value}");
        }
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
        assert_eq!(refused("HANGAR_API_URL", "ftp://x"), Some("HANGAR_API_URL"));
        assert_eq!(
            refused("HANGAR_PERMISSION_POLICY", "maybe"),
            Some("HANGAR_PERMISSION_POLICY")
        );
    }
}
