//! The control plane's domain, one module per flow. Nothing here names an AWS type or an
//! HTTP status: the outside world is reached through [`ports`], and failures are
//! [`error::Error`]s that each boundary maps to its own terms.

pub mod access;
pub mod error;
pub mod history;
pub mod idempotency;
pub mod ingest;
pub mod live;
pub mod pool;
pub mod ports;
pub mod projects;
pub mod records;
pub mod sweep;
pub mod tasks;

pub use error::Error;

/// How many nodes may live at once (creating, warm, claimed, destroying): capacity, and a
/// bound on what the stack spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeQuotas {
    pub total: u64,
    pub per_project: u64,
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
    /// A closed workspace's callback token still works this long, so its agent can flush.
    pub workspace_grace_ms: u64,
    /// A create command not acknowledged within this is pushed again by the sweep.
    pub command_resend_ms: u64,
    /// A node whose socket sent no heartbeat within this is lost.
    pub node_lost_ms: u64,
    /// A run-now task may wait this long for a node to free up.
    pub queue_ms: u64,
}
