//! Failed and cancelled tasks keep their workspace for a retry: the node is `retained`
//! meanwhile, Retry runs the task again in the kept checkout (or, when none is kept, in a
//! fresh clone that continues the task's pushed branch), Discard and the sweep free the
//! node, and a later run's messages continue the session's sequence.

use std::time::Duration;

use hangar_protocol::git::FileChange;
use hangar_protocol::tasks::{NodeStatus, TaskStatus, TaskView};
use hangar_protocol::{ProjectId, UserId, routes};
use hangar_tests::agent::{scripted_command, shared_script};
use hangar_tests::fixtures::user;
use hangar_tests::forge::{GitHubStub, PullAnswer};
use hangar_tests::git::BareRepo;
use hangar_tests::{LIMIT, TestStack, eventually};
use serde_json::{Value, json};

async fn project(
    stack: &TestStack,
    owner: &UserId,
    repo: &BareRepo,
    steps: Value,
) -> (ProjectId, tempfile::TempDir) {
    let (dir, script) = shared_script(steps);
    let project = stack
        .create_project(
            owner,
            json!({"name": "Shop", "repo": repo.url(), "acpCommand": scripted_command(&script)}),
        )
        .await;
    (project, dir)
}

async fn act(stack: &TestStack, owner: &UserId, path: String) -> (u16, Value) {
    stack
        .call("POST", &path, Some(&stack.user_token(owner)), None)
        .await
}

/// The session's stored seqs, in order.
async fn seqs(stack: &TestStack, owner: &UserId, task: &TaskView) -> Vec<u64> {
    stack
        .session_messages(owner, &task.project_id, &task.session_id)
        .await
        .iter()
        .map(|message| message.seq)
        .collect()
}

#[tokio::test]
async fn a_refused_push_keeps_the_workspace_and_retry_there_succeeds_once_the_hook_is_gone() {
    let stack = TestStack::start().await;
    let owner = user();
    let repo = BareRepo::seeded();
    let (project, _script) = project(
        &stack,
        &owner,
        &repo,
        json!([{"shell": "echo one >> notes.txt && echo wrote"}]),
    )
    .await;
    repo.refuse_pushes("frozen for the release");
    let task = stack
        .submit_task(&owner, &project, "Write notes", "run")
        .await;
    stack
        .wait_for_status(&owner, &task, TaskStatus::Failed)
        .await;
    // Kept just after the failure is recorded.
    eventually("the workspace kept", LIMIT, async || {
        stack.task(&owner, &task).await.kept_until.is_some()
    })
    .await;
    let failed = stack.task(&owner, &task).await;
    let node = failed.node_id.clone().expect("node");
    stack.wait_for_node(&node, NodeStatus::Retained).await;
    let kept = failed.workspace_id.clone().expect("workspace");
    let checkout = stack
        .stack
        .provisioner
        .node_dir(&node)
        .join("workspaces")
        .join(kept.as_str())
        .join("checkout");
    assert!(
        checkout.join("notes.txt").is_file(),
        "the kept checkout holds the agent's work"
    );
    let first_run = seqs(&stack, &owner, &failed).await;

    repo.accept_pushes();
    let (status, body) = act(&stack, &owner, routes::task_retry(&project, &task.id)).await;
    assert_eq!(status, 200, "{body}");
    let done = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    assert_eq!(
        done.node_id.as_ref(),
        Some(&node),
        "retried on the node that kept it"
    );
    assert_ne!(
        done.workspace_id.as_ref(),
        Some(&kept),
        "in a new workspace"
    );
    // The kept checkout was used: its first commit and the retry's second both went.
    let output = done.output.clone().expect("output");
    assert_eq!(
        output.files,
        vec![FileChange {
            path: "notes.txt".into(),
            added: 2,
            removed: 0
        }]
    );
    assert_eq!(
        repo.file(&output.branch, "notes.txt").as_deref(),
        Some("one\none\n")
    );
    assert!(done.kept_until.is_none());
    stack.wait_for_node(&node, NodeStatus::Warm).await;

    // One sequence for the session: the retry continued after the first run's messages.
    let all = seqs(&stack, &owner, &done).await;
    assert!(all.len() > first_run.len(), "{all:?}");
    assert_eq!(all, (1..=all.len() as u64).collect::<Vec<_>>());
    // Retry is for failed and cancelled tasks only.
    let (status, body) = act(&stack, &owner, routes::task_retry(&project, &task.id)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_transition")),
        "{body}"
    );
}

#[tokio::test]
async fn a_cancelled_task_keeps_its_workspace_until_discarded_or_its_time_is_up() {
    let stack =
        TestStack::start_with(|options| options.timeouts.workspace_retention_ms = 2_000).await;
    let owner = user();
    let repo = BareRepo::seeded();
    let (project, _script) = project(
        &stack,
        &owner,
        &repo,
        json!([{"shell": "echo started > started.txt"}, {"say": "working"}, {"sleepMs": 60000}]),
    )
    .await;
    let task = stack.submit_task(&owner, &project, "Long", "run").await;
    let running = stack
        .wait_for_status(&owner, &task, TaskStatus::Running)
        .await;
    let node = running.node_id.clone().expect("node");
    let dir = stack.stack.provisioner.node_dir(&node).join("workspaces");
    let workspace = dir.join(running.workspace_id.clone().expect("workspace").as_str());
    eventually("the agent wrote", LIMIT, async || {
        workspace.join("checkout/started.txt").is_file()
    })
    .await;
    let (status, body) = act(&stack, &owner, routes::task_cancel(&project, &task.id)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["keptUntil"].as_u64().is_some(), "{body}");
    stack.wait_for_node(&node, NodeStatus::Retained).await;
    assert!(workspace.join("checkout/started.txt").is_file());

    // Discard: the workspace goes, the node is warm again.
    let (status, body) = act(&stack, &owner, routes::task_discard(&project, &task.id)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("keptUntil").is_none(), "{body}");
    stack.wait_for_node(&node, NodeStatus::Warm).await;
    eventually("the kept workspace removed", LIMIT, async || {
        !workspace.exists()
    })
    .await;
    let (status, body) = act(&stack, &owner, routes::task_discard(&project, &task.id)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("nothing_kept")),
        "{body}"
    );

    // Kept past its time: the sweep discards it.
    let task = stack
        .submit_task(&owner, &project, "Long again", "run")
        .await;
    let running = stack
        .wait_for_status(&owner, &task, TaskStatus::Running)
        .await;
    act(&stack, &owner, routes::task_cancel(&project, &task.id)).await;
    let node = running.node_id.clone().expect("node");
    stack.wait_for_node(&node, NodeStatus::Retained).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let report = stack.stack.state.tasks.sweep().await;
    assert!(
        report
            .destroyed_workspaces
            .contains(running.workspace_id.as_ref().expect("ws")),
        "{report:?}"
    );
    stack.wait_for_node(&node, NodeStatus::Warm).await;
    assert!(stack.task(&owner, &running).await.kept_until.is_none());
}

#[tokio::test]
async fn a_retry_without_a_kept_workspace_continues_the_pushed_branch_in_a_fresh_clone() {
    let token = "ghp_retry";
    let github = GitHubStub::start(token).await;
    let stack = TestStack::start_with(|options| options.timeouts.workspace_retention_ms = 0).await;
    let owner = user();
    let repo = BareRepo::seeded();
    let (dir, script) = shared_script(json!([{"shell": "echo line >> notes.txt"}]));
    let project = stack
        .create_project(&owner, json!({
            "name": "Shop", "repo": repo.url(), "acpCommand": scripted_command(&script),
            "forge": {"kind": "github", "apiUrl": github.api_url(), "repository": "acme/shop", "token": token},
        }))
        .await;
    github.answer(PullAnswer::Forbidden);
    let task = stack.submit_task(&owner, &project, "Notes", "run").await;
    let failed = stack
        .wait_for_status(&owner, &task, TaskStatus::Failed)
        .await;
    assert!(failed.kept_until.is_none(), "retention 0 keeps nothing");
    let first = failed
        .output
        .clone()
        .expect("the branch was pushed")
        .commit
        .expect("commit");

    github.answer(PullAnswer::Open);
    let (status, body) = act(&stack, &owner, routes::task_retry(&project, &task.id)).await;
    assert_eq!(status, 200, "{body}");
    let done = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    let output = done.output.expect("output");
    assert_eq!(
        repo.commit_of(&format!("{}^", output.branch)),
        first,
        "on top of the first push"
    );
    assert_eq!(
        repo.file(&output.branch, "notes.txt").as_deref(),
        Some("line\nline\n")
    );
    assert!(output.pull_request_url.is_some());
    drop(dir);
}
