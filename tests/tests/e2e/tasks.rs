//! The task lifecycle end to end: submit, backlog, run, cancel and the callbacks, with nodes
//! as real `hangar-agent node` processes running the scripted ACP agent, and the schedule
//! runner firing warm timeouts.

use std::time::{Duration, Instant};

use hangar_protocol::auth::{NODE_CALLBACK_AUDIENCE, NODE_CONTROL_AUDIENCE};
use hangar_protocol::tasks::{NodeStatus, TaskStatus, TaskView, VmSize, WorkspaceStatus};
use hangar_protocol::time::now_ms;
use hangar_protocol::{MessageRole, NodeId, routes};
use hangar_tests::fixtures::user;
use hangar_tests::{LIMIT, TestStack};
use serde_json::json;

fn statuses(view: &TaskView) -> Vec<TaskStatus> {
    view.history.iter().map(|step| step.to).collect()
}

#[tokio::test]
async fn backlog_tasks_wait_and_transitions_are_checked() {
    let stack = TestStack::start().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let token = stack.user_token(&owner);

    let saved = stack
        .submit_task(&owner, &project, "Add a README\nwith usage", "backlog")
        .await;
    assert_eq!(saved.status, TaskStatus::Backlog);
    assert_eq!(saved.title, "Add a README");
    assert_eq!(saved.vm_size, VmSize::Small);
    let (_, sessions) = stack
        .call("GET", &routes::sessions(&project), Some(&token), None)
        .await;
    assert_eq!(sessions[0]["id"], json!(saved.session_id));
    assert_eq!(sessions[0]["taskId"], json!(saved.id));
    let (_, tasks) = stack
        .call("GET", &routes::tasks(&project), Some(&token), None)
        .await;
    assert_eq!(tasks["tasks"].as_array().map(Vec::len), Some(1));

    let cancel = routes::task_cancel(&project, &saved.id);
    let (status, body) = stack.call("POST", &cancel, Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    let (status, body) = stack.call("POST", &cancel, Some(&token), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_transition"))
    );
    let (status, body) = stack
        .call(
            "POST",
            &routes::task_run(&project, &saved.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_transition"))
    );
    let cancelled = stack.task(&owner, &saved).await;
    assert_eq!(
        statuses(&cancelled),
        vec![TaskStatus::Backlog, TaskStatus::Cancelled]
    );
    assert!(cancelled.history[1].reason.contains("cancelled by"));

    let prompts = routes::tasks(&project);
    for (body, status, code) in [
        (
            json!({"prompt": "   ", "mode": "run"}),
            400,
            "invalid_prompt",
        ),
        (
            json!({"prompt": "x".repeat(32_769), "mode": "run"}),
            413,
            "prompt_too_large",
        ),
        (json!({"prompt": "x", "mode": "later"}), 400, "invalid_body"),
        (
            json!({"prompt": "x", "mode": "run", "title": "t".repeat(201)}),
            400,
            "invalid_title",
        ),
        (
            json!({"prompt": "x", "mode": "run", "vmSize": "giant"}),
            400,
            "invalid_body",
        ),
    ] {
        let (got, answer) = stack.call("POST", &prompts, Some(&token), Some(body)).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{answer}"
        );
    }
    let (status, _) = stack
        .call(
            "POST",
            &prompts,
            Some(&token),
            Some(json!({"prompt": "x".repeat(32_768), "mode": "backlog"})),
        )
        .await;
    assert_eq!(status, 201, "a prompt of exactly the limit is fine");
    let outsider = stack.user_token(&user());
    let (status, _) = stack
        .call(
            "POST",
            &prompts,
            Some(&outsider),
            Some(json!({"prompt": "x", "mode": "run"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = stack
        .call(
            "GET",
            &format!("{}/nope", routes::tasks(&project)),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("task_not_found"))
    );
}

#[tokio::test]
async fn submit_run_complete_warm_reuse_timeout_destroyed_with_the_real_agent() {
    let stack = TestStack::start_with(|options| options.timeouts.node_warm_ms = 2_500).await;
    let owner = user();
    let project = stack.new_project(&owner).await;

    // First task: no warm node, so one is provisioned (a real node agent process).
    let first = stack
        .submit_task(&owner, &project, "Fix the login bug", "run")
        .await;
    assert_eq!(
        first.status,
        TaskStatus::Provisioning,
        "{:#?}",
        first.history
    );
    let first = stack
        .wait_for_status(&owner, &first, TaskStatus::Completed)
        .await;
    assert_eq!(
        statuses(&first),
        vec![
            TaskStatus::Queued,
            TaskStatus::Provisioning,
            TaskStatus::Starting,
            TaskStatus::Running,
            TaskStatus::Completed
        ]
    );
    let node_id = first.node_id.clone().expect("node");
    assert_eq!(stack.stack.provisioner.running().len(), 1);
    let first_messages = stack
        .session_messages(&owner, &project, &first.session_id)
        .await;
    assert_eq!(first_messages[0].role, MessageRole::User);
    assert_eq!(first_messages[0].content, "Fix the login bug");
    assert!(
        first_messages
            .iter()
            .any(|m| m.role == MessageRole::Assistant && m.content.contains("Fix the login bug"))
    );

    // The node went back to the pool with a new generation, and its workspace is gone.
    let warm = stack.wait_for_node(&node_id, NodeStatus::Warm).await;
    assert_eq!(warm.status, NodeStatus::Warm);
    assert_eq!(
        stack
            .workspace_status(first.workspace_id.as_ref().expect("ws"))
            .await,
        Some(WorkspaceStatus::Destroyed)
    );

    // Second task reuses the warm node: no new process, straight to starting.
    let second = stack
        .submit_task(&owner, &project, "Add a dark mode", "run")
        .await;
    let second = stack
        .wait_for_status(&owner, &second, TaskStatus::Completed)
        .await;
    assert_eq!(second.node_id.as_ref(), Some(&node_id));
    assert_eq!(
        statuses(&second),
        vec![
            TaskStatus::Queued,
            TaskStatus::Starting,
            TaskStatus::Running,
            TaskStatus::Completed
        ]
    );
    assert_eq!(stack.stack.provisioner.running().len(), 1, "no second node");

    // No message of one session leaks into the other.
    let second_messages = stack
        .session_messages(&owner, &project, &second.session_id)
        .await;
    assert_eq!(second_messages[0].content, "Add a dark mode");
    assert!(
        second_messages.iter().all(|m| !m.content.contains("login")),
        "{second_messages:#?}"
    );
    let first_again = stack
        .session_messages(&owner, &project, &first.session_id)
        .await;
    assert_eq!(
        first_again, first_messages,
        "the first session is unchanged"
    );

    // Warm again; its timeout fires and destroys it.
    let warm = stack.wait_for_node(&node_id, NodeStatus::Warm).await;
    assert_eq!(warm.status, NodeStatus::Warm);
    assert!(
        warm.generation > 2,
        "claimed and re-warmed: generation {}",
        warm.generation
    );
    let start = Instant::now();
    loop {
        let current = stack.node(&node_id).await;
        if current.status == NodeStatus::Destroyed {
            break;
        }
        assert!(
            start.elapsed() < LIMIT,
            "node still {} after the warm timeout",
            current.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    hangar_tests::eventually("the node process gone", LIMIT, async || {
        stack.stack.provisioner.running().is_empty()
    })
    .await;
    // Removed after the node is destroyed, a moment later on a slower store.
    hangar_tests::eventually("the fired schedule removed", LIMIT, async || {
        stack.stack.scheduler_names().await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn without_retention_cancelling_a_running_task_destroys_its_workspace_and_warms_the_node() {
    let script_dir = tempfile::tempdir().expect("dir");
    let script = script_dir.path().join("slow.json");
    std::fs::write(
        &script,
        json!([{"say": "working", "chunks": 2}, {"sleepMs": 60000}]).to_string(),
    )
    .expect("script");
    let script_env = script.display().to_string();
    let stack = TestStack::start_with(|options| {
        // HANGAR_WORKSPACE_RETENTION_MS=0: nothing is kept (retry.rs has the kept side).
        options.timeouts.workspace_retention_ms = 0;
        options
            .nodes
            .env
            .push(("SCRIPTED_ACP_SCRIPT".into(), script_env))
    })
    .await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let submitted = stack.submit_task(&owner, &project, "Long job", "run").await;
    let running = stack
        .wait_for_status(&owner, &submitted, TaskStatus::Running)
        .await;
    let token = stack.user_token(&owner);
    let (status, body) = stack
        .call(
            "POST",
            &routes::task_cancel(&project, &running.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    let node_id = running.node_id.expect("node");
    assert_eq!(stack.node(&node_id).await.status, NodeStatus::Warm);
    assert_eq!(
        stack
            .workspace_status(running.workspace_id.as_ref().expect("ws"))
            .await,
        Some(WorkspaceStatus::Destroyed)
    );
}

#[tokio::test]
async fn node_and_workspace_callbacks_check_their_tokens() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let node_id = NodeId::new();
    let other = NodeId::new();
    let issuer = stack.issuer();
    let now = now_ms() / 1000;
    let ready = json!({"agentVersion": "0.1.0"});
    let path = routes::node_ready(&node_id);

    let (status, body) = stack.call("POST", &path, None, Some(ready.clone())).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("missing_token"))
    );
    let wrong = issuer
        .mint_node(&other, NODE_CALLBACK_AUDIENCE, now, 60)
        .expect("token");
    let (status, body) = stack
        .call("POST", &path, Some(&wrong), Some(ready.clone()))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("node_mismatch"))
    );
    let control = issuer
        .mint_node(&node_id, NODE_CONTROL_AUDIENCE, now, 60)
        .expect("token");
    let (status, body) = stack
        .call("POST", &path, Some(&control), Some(ready.clone()))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token")),
        "a control token is not a callback token"
    );
    let right = issuer
        .mint_node(&node_id, NODE_CALLBACK_AUDIENCE, now, 60)
        .expect("token");
    let (status, body) = stack.call("POST", &path, Some(&right), Some(ready)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("node_not_found"))
    );
    let (status, body) = stack
        .call(
            "POST",
            &path,
            Some(&right),
            Some(json!({"agentVersion": 7})),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_body")));

    let status_path = routes::workspace_status(&seeded.workspace);
    let user_token = stack.user_token(&seeded.owner);
    let (status, _) = stack
        .call(
            "POST",
            &status_path,
            Some(&user_token),
            Some(json!({"outcome": "completed"})),
        )
        .await;
    assert_eq!(status, 401);
    let callback = stack.callback_token(&seeded.workspace);
    let (status, body) = stack
        .call(
            "POST",
            &status_path,
            Some(&callback),
            Some(json!({"outcome": "exploded"})),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_body")));
    let (status, body) = stack
        .call(
            "POST",
            &status_path,
            Some(&callback),
            Some(json!({"outcome": "completed"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("workspace_has_no_task")),
        "{body}"
    );
}
