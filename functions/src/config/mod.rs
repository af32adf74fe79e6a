//! Control-plane configuration, read once from the environment at cold start. Every variable
//! is validated there, so a misconfigured function fails at start with a sentence naming the
//! variable instead of failing a request later. A function reads only the sections its
//! needs name (see `lambda::catalog`): one that never signs is never given the key.

mod oidc;
mod sections;

use std::collections::HashMap;

pub use hangar_protocol::config::FromEnv;
pub use hangar_protocol::config::{ConfigError, Vars};
use hangar_protocol::limits;

pub use self::oidc::{OidcConfig, TokenAlgorithm};
pub use self::sections::{Ec2Config, ForgeConfig, SchedulerConfig, SigningConfig, SigningKey};
use crate::domain::live::ConnectionCaps;
use crate::domain::projects::RepoPolicy;
use crate::domain::{NodeQuotas, Timeouts};
use crate::lambda::catalog::Need;
use hangar_protocol::git::GitIdentity;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    /// Only set locally and in tests: the loopback DynamoDB-compatible server.
    pub dynamodb_endpoint: Option<String>,
    /// PEM (SPKI) Ed25519 key that verifies workspace and node tokens.
    pub callback_public_key_pem: String,
    /// `iss` of workspace and node tokens.
    pub callback_issuer: String,
    /// The identity provider user tokens come from.
    pub oidc: OidcConfig,
    /// `HANGAR_PUBLIC_WS_URL`: the WebSocket API the page dials (unset: the page's origin).
    pub public_ws_url: Option<String>,
    /// `HANGAR_DEV_TOKEN_SIGN_IN` (`false`; the local stack: `true`): whether the page takes
    /// a bare access token (`#token=`, or pasted) instead of signing in with the provider.
    pub dev_token_sign_in: bool,
    pub timeouts: Timeouts,
    pub quotas: NodeQuotas,
    /// `HANGAR_MAX_CONNECTIONS_PER_USER` and `HANGAR_MAX_CONNECTIONS_PER_PROJECT`: live viewer
    /// connections one user, and one project, may hold.
    pub connection_caps: ConnectionCaps,
    /// `HANGAR_NODE_AGENT_VERSION`: the node agent version warm nodes must run (default this
    /// build's release; `any` for none).
    pub node_agent_version: Option<String>,
    /// `HANGAR_ALLOW_LOCAL_REPOS`, `HANGAR_GIT_AUTHOR_NAME`, `HANGAR_GIT_AUTHOR_EMAIL`.
    pub repos: RepoPolicy,
    /// [`Need::Sign`]: the signing key and what nodes are told.
    pub signing: Option<SigningConfig>,
    /// [`Need::Push`]: the WebSocket API's management endpoint frames are posted to
    /// (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`).
    pub push_endpoint: Option<String>,
    /// [`Need::Schedule`].
    pub scheduler: Option<SchedulerConfig>,
    /// [`Need::Provision`] and [`Need::Terminate`].
    pub ec2: Option<Ec2Config>,
    /// [`Need::Forge`].
    pub forge: Option<ForgeConfig>,
}

/// Milliseconds of any length are accepted for the control plane's timeouts.
const ANY_MILLIS: u64 = u64::MAX;

/// The design's timeouts (DESIGN.md section 5) and those of each task stage.
impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            node_warm_ms: limits::NODE_WARM_TIMEOUT_MS,
            max_node_lifetime_ms: limits::MAX_AUTO_NODE_LIFETIME_MS,
            provision_ms: 600_000,
            start_ms: 300_000,
            run_ms: limits::MAX_AUTO_NODE_LIFETIME_MS,
            workspace_grace_ms: 60_000,
            command_resend_ms: 30_000,
            node_lost_ms: 300_000,
            workspace_retention_ms: 7_200_000,
            queue_ms: 3_600_000,
        }
    }
}

/// How many nodes may live at once, unless told otherwise.
impl Default for NodeQuotas {
    fn default() -> Self {
        NodeQuotas {
            total: 10,
            per_project: 5,
        }
    }
}

/// The node quotas (`HANGAR_MAX_NODES`, `HANGAR_MAX_NODES_PER_PROJECT`).
pub fn quotas(vars: Vars) -> Result<NodeQuotas, ConfigError> {
    let default = NodeQuotas::default();
    Ok(NodeQuotas {
        total: vars.number("HANGAR_MAX_NODES", default.total, 1, 100_000)?,
        per_project: vars.number(
            "HANGAR_MAX_NODES_PER_PROJECT",
            default.per_project,
            1,
            100_000,
        )?,
    })
}

/// `HANGAR_NODE_AGENT_VERSION`.
pub fn node_agent_version(vars: Vars) -> Option<String> {
    match vars.get_or("HANGAR_NODE_AGENT_VERSION", hangar_protocol::RELEASE) {
        "any" => None,
        version => Some(version.to_string()),
    }
}

/// `HANGAR_MAX_CONNECTIONS_PER_USER` and `HANGAR_MAX_CONNECTIONS_PER_PROJECT`.
pub fn connection_caps(vars: Vars) -> Result<ConnectionCaps, ConfigError> {
    let defaults = ConnectionCaps::default();
    Ok(ConnectionCaps {
        per_user: vars.number(
            "HANGAR_MAX_CONNECTIONS_PER_USER",
            defaults.per_user,
            1,
            10_000,
        )?,
        per_project: vars.number(
            "HANGAR_MAX_CONNECTIONS_PER_PROJECT",
            defaults.per_project,
            1,
            100_000,
        )?,
    })
}

/// The timeouts, each variable overriding its default.
pub fn timeouts(vars: Vars) -> Result<Timeouts, ConfigError> {
    let default = Timeouts::default();
    let ms = |name, default| vars.millis(name, default, ANY_MILLIS);
    let max_node_lifetime_ms = ms("MAX_AUTO_NODE_LIFETIME_MS", default.max_node_lifetime_ms)?;
    Ok(Timeouts {
        node_warm_ms: ms("NODE_WARM_TIMEOUT_MS", default.node_warm_ms)?,
        max_node_lifetime_ms,
        provision_ms: ms("HANGAR_PROVISION_TIMEOUT_MS", default.provision_ms)?,
        start_ms: ms("HANGAR_START_TIMEOUT_MS", default.start_ms)?,
        // A task may run as long as a node lives, unless told otherwise.
        run_ms: ms("HANGAR_TASK_RUN_TIMEOUT_MS", max_node_lifetime_ms)?,
        workspace_grace_ms: ms("HANGAR_WORKSPACE_GRACE_MS", default.workspace_grace_ms)?,
        command_resend_ms: ms("HANGAR_COMMAND_RESEND_MS", default.command_resend_ms)?,
        node_lost_ms: ms("HANGAR_NODE_LOST_MS", default.node_lost_ms)?,
        // 0: a failed task's workspace is not kept.
        workspace_retention_ms: vars.number(
            "HANGAR_WORKSPACE_RETENTION_MS",
            default.workspace_retention_ms,
            0,
            ANY_MILLIS,
        )?,
        queue_ms: ms("HANGAR_QUEUE_TIMEOUT_MS", default.queue_ms)?,
    })
}

/// What repositories projects may name (`file://` only when `HANGAR_ALLOW_LOCAL_REPOS` is
/// `true`: the local stack) and the identity that commits tasks' work.
pub fn repos(vars: Vars) -> Result<RepoPolicy, ConfigError> {
    let default = RepoPolicy::default();
    let allow_local = vars.choice(
        "HANGAR_ALLOW_LOCAL_REPOS",
        false,
        &[("true", true), ("false", false)],
    )?;
    let text = |name: &'static str, default: &str| -> Result<String, ConfigError> {
        let value = vars.get_or(name, default).trim();
        if value.is_empty()
            || value.len() > 200
            || value.chars().any(|c| c.is_control() || "<>".contains(c))
        {
            return Err(ConfigError::Invalid {
                name,
                value: value.into(),
                reason: "one line of at most 200 characters, without '<' or '>'".into(),
            });
        }
        Ok(value.to_string())
    };
    Ok(RepoPolicy {
        allow_local,
        author: GitIdentity {
            name: text("HANGAR_GIT_AUTHOR_NAME", &default.author.name)?,
            email: text("HANGAR_GIT_AUTHOR_EMAIL", &default.author.email)?,
        },
    })
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

impl Config {
    /// The configuration of a function with `needs`: every section it needs must be set.
    pub fn for_needs(vars: &HashMap<String, String>, needs: &[Need]) -> Result<Self, ConfigError> {
        let vars = Vars(vars);
        let needs_any = |wanted: &[Need]| wanted.iter().any(|need| needs.contains(need));
        Ok(Config {
            table_name: table_name(vars)?,
            dynamodb_endpoint: vars.optional_url("HANGAR_DYNAMODB_ENDPOINT")?,
            callback_public_key_pem: vars.pem(
                "HANGAR_CALLBACK_PUBLIC_KEY",
                "the PEM public key that verifies workspace and node tokens",
            )?,
            callback_issuer: vars
                .get_or("HANGAR_CALLBACK_ISSUER", "hangar-control-plane")
                .to_string(),
            oidc: oidc::oidc(vars)?,
            dev_token_sign_in: vars.choice(
                "HANGAR_DEV_TOKEN_SIGN_IN",
                false,
                &[("true", true), ("false", false)],
            )?,
            public_ws_url: vars
                .get("HANGAR_PUBLIC_WS_URL")
                .map(|url| sections::socket_url("HANGAR_PUBLIC_WS_URL", url))
                .transpose()?,
            timeouts: timeouts(vars)?,
            quotas: quotas(vars)?,
            connection_caps: connection_caps(vars)?,
            node_agent_version: node_agent_version(vars),
            repos: repos(vars)?,
            signing: needs_any(&[Need::Sign])
                .then(|| sections::signing(vars))
                .transpose()?,
            push_endpoint: needs_any(&[Need::Push])
                .then(|| {
                    vars.url(
                        "HANGAR_WS_ENDPOINT",
                        "the WebSocket API's management URL frames are posted to",
                    )
                })
                .transpose()?,
            scheduler: needs_any(&[Need::Schedule])
                .then(|| sections::scheduler(vars))
                .transpose()?,
            ec2: needs_any(&[Need::Provision, Need::Terminate])
                .then(|| sections::ec2(vars))
                .transpose()?,
            forge: needs_any(&[Need::Forge])
                .then(|| sections::forge(vars))
                .transpose()?,
        })
    }
}

/// Everything, as the local stack and a function with every need read it.
impl FromEnv for Config {
    fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Config::for_needs(vars, crate::lambda::catalog::TASK_STEPS)
    }
}

#[cfg(test)]
mod tests;
