//! Nodes the control plane drives without reaching them: a node process dials the local
//! stack's socket (as an EC2 node dials the WebSocket API), takes commands down it, and
//! converges on its assignments after every reconnect.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use hangar_protocol::tasks::{NodeStatus, TaskStatus, TaskView};
use hangar_protocol::{ErrorCode, NodeId, ProjectId, UserId, routes};
use hangar_tests::fixtures::user;
use hangar_tests::wire::{batch, message};
use hangar_tests::{LIMIT, TestStack, eventually};
use serde_json::json;

/// A script that keeps the agent working for a minute after one message.
fn slow_script(dir: &tempfile::TempDir, pid_file: Option<&PathBuf>) -> String {
    let mut steps = vec![json!({"say": "working", "chunks": 2})];
    if let Some(pid_file) = pid_file {
        steps.push(json!({"spawn": ["sleep", "300"], "pidFile": pid_file}));
    }
    steps.push(json!({"sleepMs": 60000}));
    let path = dir.path().join("slow.json");
    std::fs::write(&path, serde_json::Value::Array(steps).to_string()).expect("script");
    path.display().to_string()
}

/// The pid of a local node's agent process (the local provisioner's `local-{pid}` handle).
async fn node_pid(stack: &TestStack, node: &NodeId) -> u32 {
    let provider = stack.node(node).await.provider_id.expect("provisioned");
    provider
        .strip_prefix("local-")
        .and_then(|pid| pid.parse().ok())
        .expect("a local pid")
}

/// Socket inodes the process holds open.
fn socket_inodes(pid: u32) -> HashSet<String> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("the process's fds");
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.display().to_string();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect()
}

/// Inodes of TCP sockets listening anywhere on this machine.
fn listening_inodes() -> HashSet<String> {
    let mut listening = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // st (index 3) 0A is LISTEN; the inode is index 9.
            if fields.get(3) == Some(&"0A")
                && let Some(inode) = fields.get(9)
            {
                listening.insert(inode.to_string());
            }
        }
    }
    listening
}

#[tokio::test]
async fn a_node_with_no_listening_port_runs_a_task_end_to_end() {
    let dir = tempfile::tempdir().expect("dir");
    let script = slow_script(&dir, None);
    let stack = TestStack::start_with(|options| {
        options
            .nodes
            .env
            .push(("SCRIPTED_ACP_SCRIPT".into(), script))
    })
    .await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let submitted = stack.submit_task(&owner, &project, "Long job", "run").await;
    let running = stack
        .wait_for_status(&owner, &submitted, TaskStatus::Running)
        .await;
    let pid = node_pid(&stack, running.node_id.as_ref().expect("node")).await;
    let sockets = socket_inodes(pid);
    assert!(!sockets.is_empty(), "the node holds its outbound socket");
    let listening_here = listening_inodes();
    let listening: Vec<_> = sockets.intersection(&listening_here).collect();
    assert!(listening.is_empty(), "the node listens on {listening:?}");
    assert_eq!(
        stack.stack.hub.node_sockets(),
        1,
        "the node dialled the hub"
    );
}

/// Submits a slow task and waits until it runs.
async fn running_task(stack: &TestStack, owner: &UserId) -> TaskView {
    let project = stack.new_project(owner).await;
    let submitted = stack.submit_task(owner, &project, "Long job", "run").await;
    stack
        .wait_for_status(owner, &submitted, TaskStatus::Running)
        .await
}

#[tokio::test]
async fn a_node_whose_socket_dropped_reconnects_and_converges_on_what_it_missed() {
    let dir = tempfile::tempdir().expect("dir");
    let pid_file = dir.path().join("tool.pid");
    let script = slow_script(&dir, Some(&pid_file));
    let stack = TestStack::start_with(|options| {
        options
            .nodes
            .env
            .push(("SCRIPTED_ACP_SCRIPT".into(), script));
    })
    .await;
    let owner = user();
    let running = running_task(&stack, &owner).await;
    eventually("the agent's tool started", LIMIT, async || {
        pid_file.exists()
    })
    .await;

    // The socket drops and the gateway refuses it back while the task is cancelled: the
    // destroy command finds no socket.
    stack.stack.hub.refuse_connections(true);
    assert_eq!(stack.stack.hub.drop_nodes(), 1);
    let path = routes::task_cancel(&running.project_id, &running.id);
    let (status, body) = stack
        .call("POST", &path, Some(&stack.user_token(&owner)), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let tool: u32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid");
    assert!(process_alive(tool), "nothing reached the node yet");

    // Back: the node dials again, finds the workspace only kept (a cancelled task keeps it
    // for a retry), and stops its agent with the agent's whole process group.
    stack.stack.hub.refuse_connections(false);
    eventually("the node reconnected", LIMIT, async || {
        stack.stack.hub.node_sockets() == 1
    })
    .await;
    eventually("the agent's tool was stopped", LIMIT, async || {
        !process_alive(tool)
    })
    .await;
    let node = running.node_id.expect("node");
    assert_eq!(stack.node(&node).await.status, NodeStatus::Retained);
}

/// Whether `pid` is a live process (not a zombie).
fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.split_whitespace()
                .nth(2)
                .is_none_or(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// A project whose first task completed, so its node is warm, linked and converged: the
/// next task's create command is the next frame the node gets.
async fn warm_project(stack: &TestStack, owner: &UserId) -> ProjectId {
    let project = stack.new_project(owner).await;
    let first = stack.submit_task(owner, &project, "Warm up", "run").await;
    let first = stack
        .wait_for_status(owner, &first, TaskStatus::Completed)
        .await;
    let node = first.node_id.expect("node");
    assert_eq!(
        stack.wait_for_node(&node, NodeStatus::Warm).await.status,
        NodeStatus::Warm
    );
    project
}

#[tokio::test]
async fn a_dropped_create_command_still_starts_the_task_through_the_sweep() {
    let stack = TestStack::start_with(|options| options.timeouts.command_resend_ms = 300).await;
    let owner = user();
    let project = warm_project(&stack, &owner).await;
    // The create command is lost on the way to the node.
    stack.stack.hub.drop_next_node_frames(1);
    let submitted = stack.submit_task(&owner, &project, "Fix it", "run").await;
    assert_eq!(
        submitted.status,
        TaskStatus::Starting,
        "{:#?}",
        submitted.history
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        stack.task(&owner, &submitted).await.status,
        TaskStatus::Starting,
        "the lost command started nothing"
    );
    let report = stack.stack.state.tasks.sweep().await;
    assert_eq!(
        report.resent_commands,
        vec![submitted.workspace_id.clone().expect("ws")]
    );
    stack
        .wait_for_status(&owner, &submitted, TaskStatus::Completed)
        .await;
}

#[tokio::test]
async fn a_dropped_create_command_still_starts_the_task_after_a_reconnect() {
    let stack = TestStack::start().await;
    let owner = user();
    let project = warm_project(&stack, &owner).await;
    stack.stack.hub.drop_next_node_frames(1);
    let submitted = stack.submit_task(&owner, &project, "Fix it", "run").await;
    assert_eq!(
        submitted.status,
        TaskStatus::Starting,
        "{:#?}",
        submitted.history
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        stack.task(&owner, &submitted).await.status,
        TaskStatus::Starting
    );
    // The socket drops; the node dials again and converges on its assignments.
    assert_eq!(stack.stack.hub.drop_nodes(), 1);
    stack
        .wait_for_status(&owner, &submitted, TaskStatus::Completed)
        .await;
}

#[tokio::test]
async fn a_token_captured_during_a_run_writes_nothing_after_the_task_ends() {
    let stack = TestStack::start_with(|options| options.timeouts.workspace_grace_ms = 300).await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let submitted = stack.submit_task(&owner, &project, "Fix it", "run").await;
    let done = stack
        .wait_for_status(&owner, &submitted, TaskStatus::Completed)
        .await;
    let workspace = done.workspace_id.clone().expect("workspace");
    let stored = stack
        .session_messages(&owner, &project, &done.session_id)
        .await;
    // A token as the node held it while the task ran (signed by the control plane's key).
    let captured = stack.callback_token(&workspace);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let next = stored.last().map_or(1, |m| m.seq + 1);
    let response = stack
        .post_messages(
            &workspace,
            Some(&captured),
            batch(&done.session_id, vec![message(next, "late")]),
        )
        .await;
    assert_eq!(response.status().as_u16(), 410);
    let body: hangar_protocol::ErrorBody = response.json().await.expect("error body");
    assert_eq!(body.code, ErrorCode::WorkspaceClosed);
    let path = routes::workspace_status(&workspace);
    let (status, _) = stack
        .call(
            "POST",
            &path,
            Some(&captured),
            Some(json!({"outcome": "failed"})),
        )
        .await;
    assert_eq!(status, 410, "no callback of a closed workspace is taken");
    assert_eq!(
        stack
            .session_messages(&owner, &project, &done.session_id)
            .await,
        stored,
        "nothing was written"
    );
    // The node forgot the workspace's token once its run was reported and delivered.
    let node = done.node_id.expect("node");
    let outbox = stack.stack.provisioner.node_dir(&node).join("outbox.db");
    let conn = rusqlite::Connection::open(&outbox).expect("the node's outbox");
    let tokens: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM workspaces WHERE workspace_id = ?1",
            [workspace.as_str()],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(tokens, 0, "the run's delivery row and token are gone");
}

#[tokio::test]
async fn a_projects_task_never_lands_on_another_projects_warm_node() {
    let stack = TestStack::start().await;
    let owner = user();
    let first_project = stack.new_project(&owner).await;
    let first = stack
        .submit_task(&owner, &first_project, "First", "run")
        .await;
    let first = stack
        .wait_for_status(&owner, &first, TaskStatus::Completed)
        .await;
    let warm = first.node_id.clone().expect("node");
    assert_eq!(
        stack.wait_for_node(&warm, NodeStatus::Warm).await.status,
        NodeStatus::Warm
    );

    let other_project = stack.new_project(&owner).await;
    let other = stack
        .submit_task(&owner, &other_project, "Other", "run")
        .await;
    assert_eq!(
        other.status,
        TaskStatus::Provisioning,
        "{:#?}",
        other.history
    );
    assert_ne!(other.node_id.as_ref(), Some(&warm));
    assert_eq!(
        stack.node(&warm).await.status,
        NodeStatus::Warm,
        "left alone"
    );
    let again = stack
        .submit_task(&owner, &first_project, "Again", "run")
        .await;
    assert_eq!(
        again.node_id.as_ref(),
        Some(&warm),
        "its own project's node is reused"
    );
}
