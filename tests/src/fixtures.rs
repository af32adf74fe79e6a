//! Records made up for the tests that seed the store directly (races, the sweep).

use hangar_functions::config::Ec2Config;
use hangar_functions::domain::records::{Node, Task};
use hangar_protocol::tasks::{NodeStatus, TaskStatus, VmSize};
use hangar_protocol::time::now_ms;
use hangar_protocol::{NodeId, ProjectId, SessionId, TaskId, UserId};

use crate::unique;

/// A new user's id.
pub fn user() -> UserId {
    UserId::parse(unique("user")).expect("id")
}

/// The project of [`fake_task`]s and [`warm_node`]s.
pub fn fake_project() -> ProjectId {
    ProjectId::parse("p").expect("id")
}

/// A warm node of [`fake_project`] of `size` in `generation`, warm since now.
pub fn warm_node(size: VmSize, generation: u64) -> Node {
    let now = now_ms();
    Node {
        id: NodeId::new(),
        status: NodeStatus::Warm,
        size,
        generation,
        warm_since: Some(now),
        created_at: now,
        updated_at: now,
        provider_id: None,
        agent_version: None,
        image: None,
        task_id: None,
        project_id: Some(fake_project()),
        revision: 0,
        // Seeded directly: it holds no place in the quotas.
        counted: false,
    }
}

/// A queued task of `size` in [`fake_project`].
pub fn fake_task(size: VmSize) -> Task {
    let now = now_ms();
    Task {
        id: TaskId::new(),
        project_id: fake_project(),
        title: "t".into(),
        prompt: "p".into(),
        status: TaskStatus::Queued,
        vm_size: size,
        session_id: SessionId::new(),
        node_id: None,
        workspace_id: None,
        created_by: UserId::parse("u").expect("id"),
        created_at: now,
        updated_at: now,
        history: Vec::new(),
        base_branch: "main".into(),
        output: None,
        kept_until: None,
        deadline: None,
        version: 0,
        archived_at: None,
    }
}

/// The EC2 settings of stack `stack` against the loopback server at `endpoint` (moto).
pub fn ec2_config(stack: &str, endpoint: String) -> Ec2Config {
    Ec2Config {
        ami_id: "ami-12c6146b".into(),
        subnet_id: None,
        security_group_ids: Vec::new(),
        instance_profile: None,
        instance_types: vec![
            (VmSize::Small, "t3.medium".into()),
            (VmSize::Medium, "t3.xlarge".into()),
            (VmSize::Large, "t3.2xlarge".into()),
        ],
        stack: stack.to_string(),
        acp_command: "claude-code-acp".into(),
        agent_env_secret_arn: Some(
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:agent-env".into(),
        ),
        endpoint: Some(endpoint),
    }
}
