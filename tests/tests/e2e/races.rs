//! The races a review found, each forced into its bad interleaving: the steps are called in
//! the racy order, or one flow is stopped right after a read (a gate in front of the real
//! store) while the other runs. Each test failed on the code before its fix (checked).

use std::sync::Arc;

use hangar_functions::domain::members;
use hangar_functions::domain::records::Task;
use hangar_functions::domain::tasks::Tasks;
use hangar_protocol::tasks::{NodeStatus, TaskStatus, VmSize, WorkspaceStatus};
use hangar_protocol::users::AddMemberRequest;
use hangar_protocol::{RELEASE, UserId};
use hangar_tests::TestStack;
use hangar_tests::fixtures::{fake_task, user, warm_node};
use hangar_tests::gate::{GatedStore, Read};

/// The stack's task service over another store (the gated one).
fn tasks_over(stack: &TestStack, store: Arc<GatedStore>) -> Arc<Tasks> {
    let tasks = &stack.stack.state.tasks;
    Arc::new(Tasks {
        store,
        pool: tasks.pool.clone(),
        tokens: tasks.tokens.clone(),
        live: tasks.live.clone(),
        address: tasks.address.clone(),
        timeouts: tasks.timeouts,
        repos: tasks.repos.clone(),
        forges: tasks.forges.clone(),
        dispatch: tokio::sync::Mutex::new(()),
    })
}

/// A stack whose nodes never start by themselves (the test plays their callbacks).
async fn silent_nodes() -> TestStack {
    TestStack::start_with(|options| options.nodes.agent_binary = "/bin/false".into()).await
}

/// Failed before: the claim writes the node before the task, and the sweep, seeing a claimed
/// node whose task did not name it, returned it to the warm pool.
#[tokio::test]
async fn the_sweep_leaves_a_node_claimed_between_its_claim_and_its_task_start() {
    let stack = TestStack::start().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let state = &stack.stack.state;
    let mut node = warm_node(VmSize::Small, 1);
    node.project_id = Some(project.clone());
    state.store.save_node(&node, None).await.expect("seed node");
    let task = Task {
        project_id: project.clone(),
        ..fake_task(VmSize::Small)
    };
    state.store.save_task(&task, None).await.expect("seed task");

    let claimed = state.tasks.pool.claim_node(&task).await.expect("claim");
    let claimed = claimed.expect("the warm node is claimed");
    let report = state.tasks.sweep().await;
    assert!(!report.released_nodes.contains(&node.id), "{report:?}");
    assert_eq!(stack.node(&node.id).await.status, NodeStatus::Claimed);

    state
        .tasks
        .start_workspace(&task, claimed)
        .await
        .expect("start");
    let started = state
        .store
        .get_task(&project, &task.id)
        .await
        .expect("read")
        .expect("task");
    assert_eq!(started.status, TaskStatus::Starting);
    assert!(started.holds(&node.id));
    state.tasks.sweep().await;
    assert_eq!(stack.node(&node.id).await.status, NodeStatus::Claimed);
}

/// Failed before: the acknowledgement read the workspace as creating, a cancel closed it,
/// and the acknowledgement then wrote it back as running.
#[tokio::test]
async fn a_late_start_acknowledgement_never_revives_a_workspace_a_cancel_closed() {
    let stack = silent_nodes().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let submitted = stack.submit_task(&owner, &project, "Race", "run").await;
    let node = submitted.node_id.clone().expect("a node is provisioned");
    let state = &stack.stack.state;
    state
        .tasks
        .node_ready(&node, Some(RELEASE.into()))
        .await
        .expect("ready");
    let starting = stack.task(&owner, &submitted).await;
    assert_eq!(starting.status, TaskStatus::Starting);
    let workspace = starting.workspace_id.clone().expect("workspace");

    let gated = GatedStore::new(state.store.clone());
    let mut paused = gated.pause_after(Read::Workspace);
    let acknowledging = tasks_over(&stack, gated);
    let ack = tokio::spawn({
        let workspace = workspace.clone();
        async move { acknowledging.workspace_started(&workspace).await }
    });
    paused.reached().await;
    state
        .tasks
        .cancel_task(&owner, &project, &submitted.id)
        .await
        .expect("cancel");
    let closed = stack.workspace_status(&workspace).await;
    paused.release();
    ack.await
        .expect("joined")
        .expect("the late acknowledgement is harmless");

    assert_ne!(closed, Some(WorkspaceStatus::Running));
    assert_eq!(stack.workspace_status(&workspace).await, closed);
    assert_eq!(
        stack.task(&owner, &submitted).await.status,
        TaskStatus::Cancelled
    );
}

/// Failed before: each call read the project, added its member and put the whole item, so
/// the later put dropped the earlier member.
#[tokio::test]
async fn two_members_added_at_once_are_both_members() {
    let stack = TestStack::start().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let store = stack.stack.state.store.clone();
    let (first, second): (UserId, UserId) = (user(), user());

    let gated = GatedStore::new(store.clone());
    let mut paused = gated.pause_after(Read::Project);
    let adding_first = tokio::spawn({
        let (owner, project, member) = (owner.clone(), project.clone(), first.clone());
        async move {
            let request = AddMemberRequest {
                user_id: Some(member),
                ..AddMemberRequest::default()
            };
            members::add_member(gated.as_ref(), &owner, &project, request).await
        }
    });
    paused.reached().await;
    let request = AddMemberRequest {
        user_id: Some(second.clone()),
        ..AddMemberRequest::default()
    };
    members::add_member(store.as_ref(), &owner, &project, request)
        .await
        .expect("second member");
    paused.release();
    adding_first.await.expect("joined").expect("first member");

    let members = store
        .get_project(&project)
        .await
        .expect("read")
        .expect("project")
        .members;
    assert!(
        members.contains(&first) && members.contains(&second),
        "{members:?}"
    );
    for member in [&first, &second] {
        let listed = store.list_projects_for(member).await.expect("list");
        assert_eq!(listed.len(), 1, "{member} sees the project");
    }
}

/// Failed before: a ready callback that timed out after marking the node claimed left the
/// task provisioning, and the agent's repeated callback was taken as a no-op.
#[tokio::test]
async fn a_repeated_ready_callback_after_a_lost_first_one_starts_the_work() {
    let stack = silent_nodes().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let submitted = stack
        .submit_task(&owner, &project, "Ready twice", "run")
        .await;
    assert_eq!(submitted.status, TaskStatus::Provisioning);
    let node = submitted.node_id.clone().expect("a node is provisioned");
    let tasks = &stack.stack.state.tasks;
    // The first callback got as far as the node (then its Lambda timed out).
    tasks
        .pool
        .update_node(&node, |node| {
            node.ready(Some(RELEASE.into()));
            true
        })
        .await
        .expect("first half of the first callback");

    // The agent calls again, twice at once: the work starts once, the node stays with it.
    let (again, and_again) = tokio::join!(
        tasks.node_ready(&node, Some(RELEASE.into())),
        tasks.node_ready(&node, Some(RELEASE.into()))
    );
    again.expect("repeated callback");
    and_again.expect("repeated callback");
    let started = stack.task(&owner, &submitted).await;
    assert_eq!(
        started.status,
        TaskStatus::Starting,
        "{:?}",
        started.history
    );
    let workspace = started.workspace_id.expect("workspace");
    assert_eq!(
        stack.workspace_status(&workspace).await,
        Some(WorkspaceStatus::Creating)
    );
    assert_eq!(stack.node(&node).await.status, NodeStatus::Claimed);
}
