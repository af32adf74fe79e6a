//! The reconciliation sweep against the real store and scheduler: what a crash or a lost
//! callback left behind is repaired.

use std::time::Duration;

use hangar_functions::domain::ports::{Scheduler, WarmSchedule};
use hangar_functions::domain::records::Workspace;
use hangar_protocol::WorkspaceId;
use hangar_protocol::tasks::{NodeStatus, TaskStatus, VmSize, WarmTimeoutEvent, WorkspaceStatus};
use hangar_protocol::time::now_ms;
use hangar_tests::TestStack;
use hangar_tests::fixtures::{fake_task, user, warm_node};

#[tokio::test]
async fn the_sweep_repairs_stuck_tasks_cold_and_old_nodes_orphaned_workspaces_and_schedules() {
    let stack = TestStack::start_with(|options| {
        // Long enough that the released node is still warm when the test looks.
        options.timeouts.node_warm_ms = 1_500;
        options.timeouts.max_node_lifetime_ms = 60_000;
        options.timeouts.start_ms = 300;
    })
    .await;
    let store = &stack.stack.state.store;
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
    holder.task_id = Some(finished.id.clone());
    holder.project_id = Some(project.clone());
    finished.node_id = Some(holder.id.clone());
    let orphan = Workspace {
        id: WorkspaceId::new(),
        project_id: project.clone(),
        session_id: finished.session_id.clone(),
        task_id: Some(finished.id.clone()),
        node_id: Some(holder.id.clone()),
        status: WorkspaceStatus::Running,
        created_at: now_ms() - 10_000,
        closed_at: None,
        kept_until: None,
        reuses: None,
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

    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let fresh_later = warm_node(VmSize::Small, 2);
    store
        .save_node(&fresh_later, None)
        .await
        .expect("seed node");
    let report = stack.stack.state.tasks.sweep().await;

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
        assert_eq!(stack.node(gone).await.status, NodeStatus::Destroyed);
    }
    assert_eq!(
        stack.node(&fresh_later.id).await.status,
        NodeStatus::Warm,
        "a fresh warm node stays"
    );
    assert_eq!(report.destroyed_workspaces, vec![orphan.id.clone()]);
    assert_eq!(
        report.released_nodes,
        vec![holder.id.clone()],
        "the finished task's node went back to the pool"
    );
    assert_eq!(stack.node(&holder.id).await.status, NodeStatus::Warm);
    assert!(
        report
            .deleted_schedules
            .contains(&format!("warm-{}-1", holder.id)),
        "{report:?}"
    );

    // Nothing is left to repair.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let again = stack.stack.state.tasks.sweep().await;
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
    let report = stack.stack.state.tasks.sweep().await;
    assert_eq!(report.failed_tasks, vec![submitted.id.clone()]);
    let failed = stack.task(&owner, &submitted).await;
    assert_eq!(failed.status, TaskStatus::Failed);
    assert!(
        failed
            .history
            .last()
            .is_some_and(|step| step.reason.starts_with("timed out in provisioning"))
    );
    let node_id = submitted.node_id.expect("node");
    assert_eq!(stack.node(&node_id).await.status, NodeStatus::Destroyed);
}

#[tokio::test]
async fn a_machine_of_the_stack_that_no_node_owns_is_terminated_by_the_sweep() {
    use hangar_functions::domain::ports::{NodeLaunch, Provisioner};

    // A machine that runs until stopped (a node agent here would give up on its own).
    let dir = tempfile::tempdir().expect("dir");
    let machine = dir.path().join("machine");
    std::fs::write(&machine, "#!/bin/sh\nexec sleep 300\n").expect("script");
    std::fs::set_permissions(
        &machine,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let stack = TestStack::start_with(|options| options.nodes.agent_binary = machine).await;
    let provisioner = &stack.stack.provisioner;
    // A machine launched for a node whose record never made it (or was lost).
    let orphan = provisioner
        .provision(&NodeLaunch {
            node_id: hangar_protocol::NodeId::new(),
            project_id: hangar_tests::fixtures::fake_project(),
            size: VmSize::Small,
            api_url: stack.url(""),
            socket_url: stack.stack.ws_url("/ws"),
            node_token: "not a token".into(),
        })
        .await
        .expect("launch");
    assert!(provisioner.running().contains(&orphan));
    let report = stack.stack.state.tasks.sweep().await;
    assert_eq!(report.terminated_orphans, vec![orphan.clone()]);
    hangar_tests::eventually("the process is gone", Duration::from_secs(20), async || {
        !provisioner.running().contains(&orphan)
    })
    .await;
}

#[tokio::test]
async fn one_item_the_sweep_cannot_repair_is_counted_and_skipped_and_the_rest_is_repaired() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use hangar_functions::adapters::dynamo::DynamoStore;

    let stack = TestStack::start_with(|options| options.timeouts.start_ms = 100).await;
    let store = &stack.stack.state.store;
    // A node record no code can read (a status from nowhere), and a warm timeout naming it:
    // that schedule's step fails on the read.
    let broken = hangar_protocol::NodeId::new();
    let raw = DynamoStore::connect(
        Some(
            &stack
                .stack
                .config
                .dynamodb_endpoint
                .clone()
                .expect("loopback"),
        ),
        &stack.stack.config.table_name,
    )
    .await;
    let text = |value: &str| AttributeValue::S(value.to_string());
    raw.client()
        .put_item()
        .table_name(raw.table())
        .item("pk", text(&format!("NODE#{broken}")))
        .item("sk", text("META"))
        .item("entity", text("node"))
        .item("status", text("exploded"))
        .send()
        .await
        .expect("put the broken item");
    let scheduler = &stack.stack.scheduler;
    let schedule = |node_id| {
        let event = WarmTimeoutEvent {
            node_id,
            generation: 1,
        };
        WarmSchedule {
            name: WarmSchedule::name_for(&event),
            at_ms: now_ms() + 3_600_000,
            event,
        }
    };
    let unreadable = schedule(broken);
    scheduler.create(&unreadable).await.expect("schedule");
    // Beside it, what the sweep must still repair: a stale schedule and a stuck task.
    let stale = schedule(hangar_protocol::NodeId::new());
    scheduler.create(&stale).await.expect("schedule");
    let mut stuck = fake_task(VmSize::Small);
    stuck.deadline = Some(now_ms());
    store.save_task(&stuck, None).await.expect("seed task");

    let report = stack.stack.state.tasks.sweep().await;
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(
        report.failures[0].item,
        format!("schedule {}", unreadable.name)
    );
    assert_eq!(report.deleted_schedules, vec![stale.name.clone()]);
    assert_eq!(report.failed_tasks, vec![stuck.id.clone()]);
}

#[tokio::test]
async fn warm_nodes_of_another_agent_version_are_never_claimed_and_the_sweep_retires_them() {
    let stack = TestStack::start().await;
    let store = &stack.stack.state.store;
    let mut old = warm_node(VmSize::Small, 1);
    old.agent_version = Some("0.0.9".into());
    old.warm_since = Some(now_ms() - 60_000); // longest warm: the first a claim would take
    let mut current = warm_node(VmSize::Small, 1);
    current.agent_version = Some(hangar_protocol::RELEASE.into());
    for node in [&old, &current] {
        store.save_node(node, None).await.expect("seed");
    }
    let claimed = stack
        .stack
        .state
        .tasks
        .pool
        .claim_node(&fake_task(VmSize::Small))
        .await
        .expect("claim");
    assert_eq!(claimed.map(|node| node.id), Some(current.id.clone()));

    let report = stack.stack.state.tasks.sweep().await;
    assert_eq!(report.retired_nodes, vec![old.id.clone()]);
    assert_eq!(stack.node(&old.id).await.status, NodeStatus::Destroyed);
}

#[tokio::test]
async fn a_node_of_an_old_release_is_destroyed_when_its_task_ends_instead_of_going_warm() {
    // The control plane expects a release the local node agent is not.
    let stack = TestStack::start_with(|options| {
        options.node_agent_version = Some("99.0.0".into());
    })
    .await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let first = stack.submit_task(&owner, &project, "first", "run").await;
    let first = stack
        .wait_for_status(&owner, &first, TaskStatus::Completed)
        .await;
    let old = first.node_id.expect("node");
    stack.wait_for_node(&old, NodeStatus::Destroyed).await;

    let second = stack.submit_task(&owner, &project, "second", "run").await;
    let second = stack
        .wait_for_status(&owner, &second, TaskStatus::Completed)
        .await;
    assert_ne!(
        second.node_id,
        Some(old),
        "the old node served no second task"
    );
}
