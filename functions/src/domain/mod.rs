//! The control plane's domain, one module per flow. Nothing here names an AWS type or an
//! HTTP status: the outside world is reached through [`ports`], and failures are
//! [`error::Error`]s that each boundary maps to its own terms.

pub mod access;
pub mod agent;
pub mod api_tokens;
pub mod error;
pub mod forge;
pub mod history;
pub mod idempotency;
pub mod ingest;
pub mod live;
pub mod members;
pub mod permissions;
pub mod pool;
pub mod ports;
pub mod projects;
pub mod records;
pub mod sweep;
pub mod tasks;
pub mod users;
pub mod webhooks;

pub use error::Error;

/// How many nodes may live at once (creating, warm, claimed, destroying): capacity, and a
/// bound on what the stack spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeQuotas {
    pub total: u64,
    pub per_project: u64,
}

/// What nodes should run now. A warm node of another agent version or image is retired (the
/// sweep destroys it, no task claims it), so a deploy never leaves tasks on old nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeRelease {
    /// The node agent version expected (`None`: any).
    pub agent_version: Option<String>,
    /// The machine image new nodes launch from (`None`: any).
    pub image: Option<String>,
}

impl NodeRelease {
    /// Why `node` is out of date, if it is. A node that has not reported its version yet
    /// is not judged on it.
    pub fn outdated(&self, node: &records::Node) -> Option<String> {
        if let (Some(expected), Some(running)) = (&self.agent_version, &node.agent_version)
            && expected != running
        {
            return Some(format!("runs agent {running}, the release is {expected}"));
        }
        match (&self.image, &node.image) {
            (Some(expected), Some(image)) if expected != image => {
                Some(format!("runs image {image}, the release is {expected}"))
            }
            _ => None,
        }
    }
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
    /// A failed or cancelled task's workspace is kept this long for a retry (0: not kept),
    /// never past its node's lifetime.
    pub workspace_retention_ms: u64,
    /// A run-now task may wait this long for a node to free up.
    pub queue_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    use hangar_protocol::NodeId;
    use hangar_protocol::tasks::{NodeStatus, VmSize};

    fn node(agent_version: Option<&str>, image: Option<&str>) -> records::Node {
        records::Node {
            id: NodeId::new(),
            status: NodeStatus::Warm,
            size: VmSize::Small,
            generation: 1,
            warm_since: Some(0),
            created_at: 0,
            updated_at: 0,
            provider_id: None,
            agent_version: agent_version.map(Into::into),
            image: image.map(Into::into),
            task_id: None,
            project_id: None,
            revision: 0,
            counted: true,
        }
    }

    #[test]
    fn a_node_of_another_version_or_image_is_outdated_and_an_unknown_one_is_not_judged() {
        let release = NodeRelease {
            agent_version: Some("1.2.0".into()),
            image: Some("ami-new".into()),
        };
        assert_eq!(
            release.outdated(&node(Some("1.2.0"), Some("ami-new"))),
            None
        );
        assert!(
            release
                .outdated(&node(Some("1.1.0"), Some("ami-new")))
                .is_some()
        );
        assert!(
            release
                .outdated(&node(Some("1.2.0"), Some("ami-old")))
                .is_some()
        );
        assert_eq!(release.outdated(&node(None, None)), None);
        assert_eq!(
            NodeRelease::default().outdated(&node(Some("0.0.1"), Some("ami-old"))),
            None
        );
    }
}
