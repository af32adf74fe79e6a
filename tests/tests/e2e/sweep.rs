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
        options.timeouts.node_warm_ms = 300;
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
    let report = stack.stack.state.tasks.sweep().await.expect("sweep");

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
    let again = stack.stack.state.tasks.sweep().await.expect("sweep");
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
    let report = stack.stack.state.tasks.sweep().await.expect("sweep");
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

    let stack = TestStack::start().await;
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
    let report = stack.stack.state.tasks.sweep().await.expect("sweep");
    assert_eq!(report.terminated_orphans, vec![orphan.clone()]);
    assert!(
        !provisioner.running().contains(&orphan),
        "the process is gone"
    );
}
