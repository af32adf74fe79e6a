//! Projects, tasks, the task runner and the warm pool, end to end: the local stack on moto
//! (DynamoDB and EventBridge Scheduler), nodes as real `hangar-agent node` processes running
//! the scripted ACP agent, and the schedule runner firing warm timeouts.

use std::time::{Duration, Instant};

use hangar_functions::clock::now_ms;
use hangar_functions::ports::{Node, Saved, Scheduler, Task, WarmSchedule, Workspace};
use hangar_functions::runner::{WarmTimeoutOutcome, new_id};
use hangar_protocol::tasks::{
    NodeStatus, TaskStatus, TaskView, VmSize, WarmTimeoutEvent, WorkspaceStatus,
};
use hangar_protocol::{
    ChatMessage, MessageRole, MessagesPage, NodeId, ProjectId, SessionId, TaskId, UserId,
    WorkspaceId,
};
use hangar_tests::{TestStack, unique};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(30);

fn user() -> UserId {
    UserId::parse(unique("user")).expect("id")
}

async fn task(stack: &TestStack, owner: &UserId, view: &TaskView) -> TaskView {
    let token = stack.user_token(owner);
    let (status, body) = stack
        .call(
            "GET",
            &format!("/api/projects/{}/tasks/{}", view.project_id, view.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).expect("task view")
}

async fn wait_for_status(
    stack: &TestStack,
    owner: &UserId,
    view: &TaskView,
    wanted: TaskStatus,
) -> TaskView {
    let start = Instant::now();
    loop {
        let current = task(stack, owner, view).await;
        if current.status == wanted {
            return current;
        }
        assert!(
            !current.status.is_terminal() && start.elapsed() < LIMIT,
            "task is {} (wanted {wanted}); history {:#?}",
            current.status,
            current.history
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn messages(
    stack: &TestStack,
    owner: &UserId,
    project: &ProjectId,
    session: &SessionId,
) -> Vec<ChatMessage> {
    let token = stack.user_token(owner);
    let response = stack
        .http
        .get(stack.url(&format!(
            "/api/projects/{project}/sessions/{session}/messages?limit=200"
        )))
        .bearer_auth(token)
        .send()
        .await
        .expect("history");
    assert_eq!(response.status(), 200);
    response
        .json::<MessagesPage>()
        .await
        .expect("page")
        .messages
}

async fn node(stack: &TestStack, id: &NodeId) -> Node {
    stack
        .stack
        .state
        .store
        .get_node(id)
        .await
        .expect("read node")
        .expect("node exists")
}

/// The node once it reached `wanted`: a finished task is recorded before its node is
/// released, so the node may still be on its way back to the pool.
async fn wait_for_node(stack: &TestStack, id: &NodeId, wanted: NodeStatus) -> Node {
    let start = Instant::now();
    loop {
        let current = node(stack, id).await;
        if current.status == wanted || start.elapsed() > LIMIT {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn statuses(view: &TaskView) -> Vec<TaskStatus> {
    view.history.iter().map(|step| step.to).collect()
}

#[tokio::test]
async fn projects_are_created_listed_and_shared_only_with_members() {
    let stack = TestStack::start().await;
    let (owner, other) = (user(), user());
    let project = stack.new_project(&owner).await;
    let owner_token = stack.user_token(&owner);
    let other_token = stack.user_token(&other);

    let (status, body) = stack
        .call("GET", "/api/projects", Some(&owner_token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().map(Vec::len), Some(1));
    assert_eq!(body[0]["defaultVmSize"], "small");
    let (_, body) = stack
        .call("GET", "/api/projects", Some(&other_token), None)
        .await;
    assert_eq!(body, json!([]));
    let (status, body) = stack
        .call(
            "GET",
            &format!("/api/projects/{project}"),
            Some(&other_token),
            None,
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("not_a_member")));

    let add = json!({"userId": other.as_str()});
    let (status, body) = stack
        .call(
            "POST",
            &format!("/api/projects/{project}/members"),
            Some(&other_token),
            Some(add.clone()),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("not_a_member")));
    let (status, body) = stack
        .call(
            "POST",
            &format!("/api/projects/{project}/members"),
            Some(&owner_token),
            Some(add),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = stack
        .call(
            "GET",
            &format!("/api/projects/{project}"),
            Some(&other_token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = stack
        .call("GET", "/api/projects", Some(&other_token), None)
        .await;
    assert_eq!(body.as_array().map(Vec::len), Some(1));
    // A member who is not the owner cannot add members.
    let (status, body) = stack
        .call(
            "POST",
            &format!("/api/projects/{project}/members"),
            Some(&other_token),
            Some(json!({"userId": "someone"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_the_owner"))
    );

    for (body, code) in [
        (json!({"name": "", "repo": "a/b"}), "invalid_name"),
        (
            json!({"name": "x".repeat(201), "repo": "a/b"}),
            "invalid_name",
        ),
        (
            json!({"name": "ok", "repo": "a/b", "defaultVmSize": "huge"}),
            "invalid_body",
        ),
        (json!({"repo": "a/b"}), "invalid_body"),
    ] {
        let (status, answer) = stack
            .call("POST", "/api/projects", Some(&owner_token), Some(body))
            .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some(code)),
            "{answer}"
        );
    }
    let (status, _) = stack
        .call(
            "POST",
            "/api/projects",
            Some(&owner_token),
            Some(json!({"name": "x".repeat(200), "repo": "a/b"})),
        )
        .await;
    assert_eq!(status, 201, "a name of exactly the limit is fine");
    let (status, body) = stack.call("GET", "/api/projects", None, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("missing_token"))
    );
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
        .call(
            "GET",
            &format!("/api/projects/{project}/sessions"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(sessions[0]["id"], json!(saved.session_id));
    assert_eq!(sessions[0]["taskId"], json!(saved.id));
    let (_, tasks) = stack
        .call(
            "GET",
            &format!("/api/projects/{project}/tasks"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(tasks.as_array().map(Vec::len), Some(1));

    let path = |action: &str| format!("/api/projects/{project}/tasks/{}/{action}", saved.id);
    let (status, body) = stack
        .call("POST", &path("cancel"), Some(&token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    let (status, body) = stack
        .call("POST", &path("cancel"), Some(&token), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_transition"))
    );
    let (status, body) = stack.call("POST", &path("run"), Some(&token), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_transition"))
    );
    let cancelled = task(&stack, &owner, &saved).await;
    assert_eq!(
        statuses(&cancelled),
        vec![TaskStatus::Backlog, TaskStatus::Cancelled]
    );
    assert!(cancelled.history[1].reason.contains("cancelled by"));

    let prompts = format!("/api/projects/{project}/tasks");
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
            &format!("/api/projects/{project}/tasks/nope"),
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
    let first = wait_for_status(&stack, &owner, &first, TaskStatus::Completed).await;
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
    let first_messages = messages(&stack, &owner, &project, &first.session_id).await;
    assert_eq!(first_messages[0].role, MessageRole::User);
    assert_eq!(first_messages[0].content, "Fix the login bug");
    assert!(
        first_messages
            .iter()
            .any(|m| m.role == MessageRole::Assistant && m.content.contains("Fix the login bug"))
    );

    // The node went back to the pool with a new generation, and its workspace is gone.
    let warm = wait_for_node(&stack, &node_id, NodeStatus::Warm).await;
    assert_eq!(warm.status, NodeStatus::Warm);
    let workspace = stack
        .stack
        .state
        .store
        .get_workspace(first.workspace_id.as_ref().expect("ws"))
        .await
        .expect("read");
    assert_eq!(
        workspace.map(|w| w.status),
        Some(WorkspaceStatus::Destroyed)
    );

    // Second task reuses the warm node: no new process, straight to starting.
    let second = stack
        .submit_task(&owner, &project, "Add a dark mode", "run")
        .await;
    let second = wait_for_status(&stack, &owner, &second, TaskStatus::Completed).await;
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
    let second_messages = messages(&stack, &owner, &project, &second.session_id).await;
    assert_eq!(second_messages[0].content, "Add a dark mode");
    assert!(
        second_messages.iter().all(|m| !m.content.contains("login")),
        "{second_messages:#?}"
    );
    let first_again = messages(&stack, &owner, &project, &first.session_id).await;
    assert_eq!(
        first_again, first_messages,
        "the first session is unchanged"
    );

    // Warm again; its timeout fires and destroys it.
    let warm = wait_for_node(&stack, &node_id, NodeStatus::Warm).await;
    assert_eq!(warm.status, NodeStatus::Warm);
    assert!(
        warm.generation > 2,
        "claimed and re-warmed: generation {}",
        warm.generation
    );
    let start = Instant::now();
    loop {
        let current = node(&stack, &node_id).await;
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
    assert!(
        stack.stack.provisioner.running().is_empty(),
        "the node process is gone"
    );
    assert!(
        stack.stack.scheduler_names().await.is_empty(),
        "the fired schedule was removed"
    );
}

fn warm_node(size: VmSize, generation: u64) -> Node {
    let now = now_ms();
    Node {
        id: NodeId::parse(new_id()).expect("id"),
        status: NodeStatus::Warm,
        size,
        generation,
        warm_since: Some(now),
        created_at: now,
        updated_at: now,
        provider_id: None,
        endpoint: Some("http://127.0.0.1:9".into()),
        task_id: None,
        project_id: None,
        revision: 0,
    }
}

fn fake_task(size: VmSize) -> Task {
    let now = now_ms();
    Task {
        id: TaskId::parse(new_id()).expect("id"),
        project_id: ProjectId::parse("p").expect("id"),
        title: "t".into(),
        prompt: "p".into(),
        status: TaskStatus::Queued,
        vm_size: size,
        session_id: SessionId::parse(new_id()).expect("id"),
        node_id: None,
        workspace_id: None,
        created_by: UserId::parse("u").expect("id"),
        created_at: now,
        updated_at: now,
        history: Vec::new(),
        deadline: None,
        version: 0,
    }
}

#[tokio::test]
async fn concurrent_claims_on_warm_nodes_have_exactly_as_many_winners_as_nodes() {
    let stack = TestStack::start().await;
    let store = &stack.stack.state.store;
    let runner = &stack.stack.state.runner;
    for (claimers, nodes) in [(8usize, 3usize), (3, 5), (6, 6)] {
        let size = VmSize::Large; // a size no other round leaves nodes of
        for node in store.warm_nodes(size).await.expect("pool") {
            let mut gone = node.clone();
            gone.status = NodeStatus::Destroyed;
            gone.revision += 1;
            store.save_node(&gone, Some(&node)).await.expect("clear");
        }
        for _ in 0..nodes {
            assert_eq!(
                store
                    .save_node(&warm_node(size, 1), None)
                    .await
                    .expect("seed"),
                Saved::Yes
            );
        }
        let tasks: Vec<Task> = (0..claimers).map(|_| fake_task(size)).collect();
        let claims =
            futures::future::join_all(tasks.iter().map(|task| runner.claim_node(task))).await;
        let mut winners: Vec<NodeId> = claims
            .into_iter()
            .filter_map(|claim| claim.expect("claim").map(|node| node.id))
            .collect();
        assert_eq!(
            winners.len(),
            claimers.min(nodes),
            "{claimers} claims on {nodes} nodes"
        );
        winners.sort();
        winners.dedup();
        assert_eq!(winners.len(), claimers.min(nodes), "no node claimed twice");
        for id in &winners {
            let claimed = node(&stack, id).await;
            assert_eq!(
                (claimed.status, claimed.generation),
                (NodeStatus::Claimed, 2)
            );
        }
    }
}

#[tokio::test]
async fn a_warm_timeout_racing_a_claim_never_destroys_a_claimed_node() {
    let stack = TestStack::start().await;
    let store = &stack.stack.state.store;
    let runner = &stack.stack.state.runner;
    let (mut claims_won, mut timeouts_won) = (0, 0);
    for _ in 0..20 {
        let seeded = warm_node(VmSize::Medium, 4);
        store.save_node(&seeded, None).await.expect("seed");
        let task = fake_task(VmSize::Medium);
        let event = WarmTimeoutEvent {
            node_id: seeded.id.clone(),
            generation: 4,
        };
        let (claim, timeout) = tokio::join!(runner.claim_node(&task), runner.warm_timeout(&event));
        let claimed = claim
            .expect("claim")
            .is_some_and(|node| node.id == seeded.id);
        let destroyed = timeout.expect("timeout") == WarmTimeoutOutcome::Destroyed;
        let after = node(&stack, &seeded.id).await;
        assert!(
            !(claimed && destroyed),
            "both won the race for {}",
            seeded.id
        );
        if claimed {
            claims_won += 1;
            assert_eq!(
                after.status,
                NodeStatus::Claimed,
                "a claimed node stays alive"
            );
        } else {
            timeouts_won += 1;
            assert!(destroyed, "one of the two always wins");
            assert_eq!(after.status, NodeStatus::Destroyed);
        }
        // Whoever won, the node left the pool.
        assert!(
            store
                .warm_nodes(VmSize::Medium)
                .await
                .expect("pool")
                .iter()
                .all(|n| n.id != seeded.id)
        );
    }
    assert_eq!(claims_won + timeouts_won, 20);

    // A timeout for an older generation never touches a node warm again in a newer one.
    let rewarmed = warm_node(VmSize::Medium, 9);
    store.save_node(&rewarmed, None).await.expect("seed");
    let stale = WarmTimeoutEvent {
        node_id: rewarmed.id.clone(),
        generation: 7,
    };
    assert!(matches!(
        runner.warm_timeout(&stale).await.expect("timeout"),
        WarmTimeoutOutcome::Skipped(_)
    ));
    assert_eq!(node(&stack, &rewarmed.id).await.status, NodeStatus::Warm);
}

#[tokio::test]
async fn the_sweep_repairs_stuck_tasks_cold_and_old_nodes_orphaned_workspaces_and_schedules() {
    let stack = TestStack::start_with(|options| {
        options.timeouts.node_warm_ms = 300;
        options.timeouts.max_node_lifetime_ms = 60_000;
        options.timeouts.start_ms = 300;
    })
    .await;
    let store = &stack.stack.state.store;
    let runner = &stack.stack.state.runner;
    let owner = user();
    let project = stack.new_project(&owner).await;

    // A task stuck in queued (its start never happened).
    let mut stuck = fake_task(VmSize::Small);
    stuck.project_id = project.clone();
    stuck.deadline = Some(now_ms() + 200);
    store.save_task(&stuck, None).await.expect("seed task");
    // A warm node whose warm timeout schedule was lost, one past its lifetime, one fresh.
    let cold = warm_node(VmSize::Small, 2);
    let mut old = warm_node(VmSize::Small, 2);
    old.created_at = now_ms() - 120_000;
    old.warm_since = Some(now_ms());
    for node in [&cold, &old] {
        store.save_node(node, None).await.expect("seed node");
    }
    // A workspace whose task is long finished, on a claimed node.
    let mut finished = fake_task(VmSize::Small);
    finished.project_id = project.clone();
    finished.status = TaskStatus::Completed;
    let mut holder = warm_node(VmSize::Small, 3);
    holder.status = NodeStatus::Claimed;
    holder.endpoint = None;
    holder.task_id = Some(finished.id.clone());
    holder.project_id = Some(project.clone());
    finished.node_id = Some(holder.id.clone());
    let orphan = Workspace {
        id: WorkspaceId::parse(new_id()).expect("id"),
        project_id: project.clone(),
        session_id: finished.session_id.clone(),
        task_id: Some(finished.id.clone()),
        node_id: Some(holder.id.clone()),
        status: WorkspaceStatus::Running,
        created_at: now_ms() - 10_000,
    };
    finished.workspace_id = Some(orphan.id.clone());
    store.save_task(&finished, None).await.expect("seed");
    store.save_node(&holder, None).await.expect("seed");
    store.put_workspace(&orphan).await.expect("seed");
    // A schedule for a generation the node has left.
    let orphan_event = WarmTimeoutEvent {
        node_id: holder.id.clone(),
        generation: 1,
    };
    stack
        .stack
        .scheduler
        .create(&WarmSchedule {
            name: WarmSchedule::name_for(&orphan_event),
            at_ms: now_ms() + 3_600_000,
            event: orphan_event,
        })
        .await
        .expect("schedule");

    tokio::time::sleep(Duration::from_millis(400)).await;
    let fresh_later = warm_node(VmSize::Small, 2);
    store
        .save_node(&fresh_later, None)
        .await
        .expect("seed node");
    let report = runner.sweep().await.expect("sweep");

    assert_eq!(report.failed_tasks, vec![stuck.id.clone()]);
    let failed = store
        .get_task(&project, &stuck.id)
        .await
        .expect("read")
        .expect("task");
    assert_eq!(failed.status, TaskStatus::Failed);
    assert!(
        failed
            .history
            .last()
            .is_some_and(|step| step.reason.starts_with("timed out in queued")),
        "{:?}",
        failed.history
    );
    for gone in [&cold.id, &old.id] {
        assert!(report.destroyed_nodes.contains(gone), "{report:?}");
        assert_eq!(node(&stack, gone).await.status, NodeStatus::Destroyed);
    }
    assert_eq!(
        node(&stack, &fresh_later.id).await.status,
        NodeStatus::Warm,
        "a fresh warm node stays"
    );
    assert_eq!(report.destroyed_workspaces, vec![orphan.id.clone()]);
    assert_eq!(
        report.released_nodes,
        vec![holder.id.clone()],
        "the finished task's node went back to the pool"
    );
    assert_eq!(node(&stack, &holder.id).await.status, NodeStatus::Warm);
    assert!(
        report
            .deleted_schedules
            .contains(&format!("warm-{}-1", holder.id)),
        "{report:?}"
    );

    // Nothing is left to repair.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let again = runner.sweep().await.expect("sweep");
    assert!(
        again.failed_tasks.is_empty()
            && again.destroyed_workspaces.is_empty()
            && again.released_nodes.is_empty(),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_node_that_never_calls_back_fails_its_task_after_the_provision_timeout() {
    let stack = TestStack::start_with(|options| {
        options.timeouts.provision_ms = 300;
        // A node agent that cannot start: the ready callback never comes.
        options.nodes.agent_binary = "/bin/false".into();
    })
    .await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let submitted = stack
        .submit_task(&owner, &project, "Never starts", "run")
        .await;
    assert_eq!(submitted.status, TaskStatus::Provisioning);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let report = stack.stack.state.runner.sweep().await.expect("sweep");
    assert_eq!(report.failed_tasks, vec![submitted.id.clone()]);
    let failed = task(&stack, &owner, &submitted).await;
    assert_eq!(failed.status, TaskStatus::Failed);
    assert!(
        failed
            .history
            .last()
            .is_some_and(|step| step.reason.starts_with("timed out in provisioning"))
    );
    let node_id = submitted.node_id.expect("node");
    assert_eq!(node(&stack, &node_id).await.status, NodeStatus::Destroyed);
}

#[tokio::test]
async fn cancelling_a_running_task_stops_its_workspace_and_warms_the_node() {
    let script_dir = tempfile::tempdir().expect("dir");
    let script = script_dir.path().join("slow.json");
    std::fs::write(
        &script,
        json!([{"say": "working", "chunks": 2}, {"sleepMs": 60000}]).to_string(),
    )
    .expect("script");
    let script_env = script.display().to_string();
    let stack = TestStack::start_with(|options| {
        options
            .nodes
            .env
            .push(("SCRIPTED_ACP_SCRIPT".into(), script_env))
    })
    .await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let submitted = stack.submit_task(&owner, &project, "Long job", "run").await;
    let running = wait_for_status(&stack, &owner, &submitted, TaskStatus::Running).await;
    let token = stack.user_token(&owner);
    let (status, body) = stack
        .call(
            "POST",
            &format!("/api/projects/{project}/tasks/{}/cancel", running.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    let node_id = running.node_id.expect("node");
    assert_eq!(node(&stack, &node_id).await.status, NodeStatus::Warm);
    let workspace = stack
        .stack
        .state
        .store
        .get_workspace(running.workspace_id.as_ref().expect("ws"))
        .await
        .expect("read");
    assert_eq!(
        workspace.map(|w| w.status),
        Some(WorkspaceStatus::Destroyed)
    );
}

#[tokio::test]
async fn node_and_workspace_callbacks_check_their_tokens() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let node_id = NodeId::parse(new_id()).expect("id");
    let other = NodeId::parse(new_id()).expect("id");
    let issuer = hangar_functions::auth::TokenIssuer::from_pem(
        &stack.keys.callback_private_pem,
        "hangar-control-plane",
    )
    .expect("key");
    let now = now_ms() / 1000;
    let ready = json!({"endpoint": "http://127.0.0.1:1"});
    let path = format!("/api/nodes/{node_id}/ready");

    let (status, body) = stack.call("POST", &path, None, Some(ready.clone())).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("missing_token"))
    );
    let wrong = issuer.mint_node_callback(&other, now, 60).expect("token");
    let (status, body) = stack
        .call("POST", &path, Some(&wrong), Some(ready.clone()))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("node_mismatch"))
    );
    let control = issuer.mint_node_control(&node_id, now, 60).expect("token");
    let (status, body) = stack
        .call("POST", &path, Some(&control), Some(ready.clone()))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token")),
        "a control token is not a callback token"
    );
    let right = issuer.mint_node_callback(&node_id, now, 60).expect("token");
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
            Some(json!({"endpoint": "ftp://x"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_endpoint"))
    );

    let status_path = format!("/api/workspaces/{}/status", seeded.workspace);
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

#[tokio::test]
async fn the_scheduler_adapter_round_trips_schedules_through_the_local_server() {
    let stack = TestStack::start().await;
    let scheduler = &stack.stack.scheduler;
    let event = WarmTimeoutEvent {
        node_id: NodeId::parse(new_id()).expect("id"),
        generation: 7,
    };
    let at_ms = (now_ms() / 1000 + 3_600) * 1000;
    let schedule = WarmSchedule {
        name: WarmSchedule::name_for(&event),
        at_ms,
        event,
    };
    scheduler.create(&schedule).await.expect("create");
    assert_eq!(
        scheduler.list().await.expect("list"),
        vec![schedule.clone()]
    );
    scheduler.delete(&schedule.name).await.expect("delete");
    scheduler
        .delete(&schedule.name)
        .await
        .expect("deleting twice is fine");
    assert!(scheduler.list().await.expect("list").is_empty());
}

#[tokio::test]
async fn the_ec2_provisioner_launches_and_terminates_instances_with_cloud_init() {
    use hangar_functions::config::Ec2Config;
    use hangar_functions::ec2::Ec2Provisioner;
    use hangar_functions::ports::{NodeLaunch, Provisioner};

    let config = Ec2Config {
        ami_id: "ami-12c6146b".into(),
        subnet_id: None,
        security_group_ids: Vec::new(),
        instance_profile: None,
        instance_types: vec![
            (VmSize::Small, "t3.medium".into()),
            (VmSize::Medium, "t3.xlarge".into()),
            (VmSize::Large, "t3.2xlarge".into()),
        ],
        agent_port: 7070,
        endpoint: Some(hangar_tests::dynamodb_endpoint()),
    };
    let provisioner = Ec2Provisioner::connect(&config).await;
    let launch = NodeLaunch {
        node_id: NodeId::parse(new_id()).expect("id"),
        size: VmSize::Medium,
        api_url: "https://api.example".into(),
        node_token: "node.jwt.token".into(),
        control_public_key_pem: "-----BEGIN PUBLIC KEY-----\nMCow\n-----END PUBLIC KEY-----\n"
            .into(),
    };
    let instance_id = provisioner.provision(&launch).await.expect("run instance");

    let described = provisioner
        .client()
        .describe_instances()
        .instance_ids(&instance_id)
        .send()
        .await
        .expect("describe");
    let instance = described.reservations()[0].instances()[0].clone();
    assert_eq!(
        instance.instance_type().map(|t| t.as_str()),
        Some("t3.xlarge")
    );
    let tags: Vec<(String, String)> = instance
        .tags()
        .iter()
        .map(|tag| {
            (
                tag.key().unwrap_or_default().to_string(),
                tag.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        tags.contains(&("hangar:node-id".to_string(), launch.node_id.to_string())),
        "{tags:?}"
    );
    let attribute = provisioner
        .client()
        .describe_instance_attribute()
        .instance_id(&instance_id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .expect("user data");
    use base64::Engine;
    let encoded = attribute
        .user_data()
        .and_then(|value| value.value())
        .expect("user data set");
    let user_data = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64"),
    )
    .expect("utf8");
    assert!(user_data.starts_with("#cloud-config"), "{user_data}");
    assert!(user_data.contains(&format!("NODE_ID=\"{}\"", launch.node_id)));
    assert!(user_data.contains("HANGAR_NODE_TOKEN=\"node.jwt.token\""));
    assert!(
        user_data
            .contains("HANGAR_CONTROL_PLANE_PUBLIC_KEY=\"-----BEGIN PUBLIC KEY-----\\nMCow\\n"),
        "{user_data}"
    );
    assert!(user_data.contains("systemctl, enable, --now, hangar-agent.service"));

    provisioner.destroy(&instance_id).await.expect("terminate");
    let described = provisioner
        .client()
        .describe_instances()
        .instance_ids(&instance_id)
        .send()
        .await
        .expect("describe");
    let state = described.reservations()[0].instances()[0]
        .state()
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_string());
    assert!(
        matches!(state.as_deref(), Some("terminated" | "shutting-down")),
        "{state:?}"
    );
    provisioner
        .destroy("i-00000000000000000")
        .await
        .expect("an unknown instance is already gone");
}
