//! Node quotas and the queue, and idempotent submission, end to end on the local stack: the
//! quota counters are real conditional writes on the loopback store, and nodes are real
//! agent processes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hangar_functions::domain::NodeQuotas;
use hangar_protocol::tasks::{TaskStatus, TaskView};
use hangar_protocol::{ProjectId, UserId, routes};
use hangar_tests::fixtures::user;
use hangar_tests::{LIMIT, TestStack, eventually};
use serde_json::{Value, json};

/// A stack capped at `total` nodes, `per_project` per project, whose agents run `script`.
async fn capped_stack(
    total: u64,
    per_project: u64,
    script: Value,
) -> (TestStack, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("script.json");
    std::fs::write(&path, script.to_string()).expect("script");
    let stack = TestStack::start_with(|options| {
        options.quotas = NodeQuotas { total, per_project };
        options
            .nodes
            .env
            .push(("SCRIPTED_ACP_SCRIPT".into(), path.display().to_string()));
    })
    .await;
    (stack, dir)
}

/// When the task first left `queued` (it may be noted as waiting there first).
fn left_queue_at(task: &TaskView) -> Option<u64> {
    task.history
        .iter()
        .find(|step| step.from == Some(TaskStatus::Queued) && step.to != TaskStatus::Queued)
        .map(|step| step.at)
}

#[tokio::test]
async fn fifty_run_now_tasks_under_a_cap_of_three_never_run_more_than_three_nodes_and_start_in_submit_order()
 {
    // Each task outlasts a few submissions, so the three nodes fill and tasks queue.
    let script = json!([{"say": "working", "chunks": 1}, {"sleepMs": 1500}]);
    let (stack, _script) = capped_stack(3, 3, script).await;
    let owner = user();
    let project = stack.new_project(&owner).await;

    // Node processes are sampled while the tasks run: the cap is on what really runs.
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let peak = Arc::clone(&peak);
        let provisioner = Arc::clone(&stack.stack.provisioner);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(provisioner.running().len(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let mut submitted = Vec::new();
    for n in 0..50 {
        // Every submission is accepted (201), queued or not: never a 500.
        submitted.push(
            stack
                .submit_task(&owner, &project, &format!("task {n}"), "run")
                .await,
        );
    }
    let mut finished = Vec::new();
    for task in &submitted {
        finished.push(
            stack
                .wait_for_status(&owner, task, TaskStatus::Completed)
                .await,
        );
    }
    sampler.abort();

    let peak = peak.load(Ordering::SeqCst);
    assert!(
        peak <= 3,
        "{peak} node processes ran at once under a cap of 3"
    );
    let nodes = stack
        .stack
        .state
        .store
        .list_live_nodes()
        .await
        .expect("nodes");
    assert!(nodes.len() <= 3, "{} live node records", nodes.len());
    let waited = finished
        .iter()
        .filter(|task| {
            task.history
                .iter()
                .any(|step| step.reason.starts_with("waiting for a node"))
        })
        .count();
    assert!(
        waited > 0,
        "with 50 tasks on 3 nodes some must have waited: {:#?}",
        finished[10].history
    );
    let starts: Vec<u64> = finished
        .iter()
        .map(|task| left_queue_at(task).expect("left the queue"))
        .collect();
    for (n, pair) in starts.windows(2).enumerate() {
        assert!(
            pair[0] <= pair[1],
            "task {} started at {} after task {} at {}: {:#?} {:#?}",
            n,
            pair[0],
            n + 1,
            pair[1],
            finished[n].history,
            finished[n + 1].history
        );
    }
}

#[tokio::test]
async fn a_project_at_its_quota_waits_while_another_project_starts_and_goes_on_when_a_node_frees() {
    // Each task runs until cancelled.
    let (stack, _script) = capped_stack(
        3,
        1,
        json!([{"say": "working", "chunks": 1}, {"sleepMs": 60000}]),
    )
    .await;
    let owner = user();
    let busy = stack.new_project(&owner).await;
    let other = stack.new_project(&owner).await;
    let first = stack.submit_task(&owner, &busy, "first", "run").await;
    let first = stack
        .wait_for_status(&owner, &first, TaskStatus::Running)
        .await;
    let second = stack.submit_task(&owner, &busy, "second", "run").await;
    let elsewhere = stack.submit_task(&owner, &other, "elsewhere", "run").await;
    stack
        .wait_for_status(&owner, &elsewhere, TaskStatus::Running)
        .await;

    let waiting = stack.task(&owner, &second).await;
    assert_eq!(waiting.status, TaskStatus::Queued);
    let reason = &waiting.history.last().expect("history").reason;
    assert!(
        reason.contains("the project runs its maximum of 1"),
        "{reason}"
    );

    let token = stack.user_token(&owner);
    let (status, body) = stack
        .call(
            "POST",
            &routes::task_cancel(&busy, &first.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let started = stack
        .wait_for_status(&owner, &second, TaskStatus::Running)
        .await;
    // The freed node is warm, and the waiting task took it instead of a new one.
    assert_eq!(started.node_id, first.node_id);
}

/// `POST /tasks` with an `Idempotency-Key` header: status, the replay header and the body.
async fn submit_with_key(
    stack: &TestStack,
    (owner, project): (&UserId, &ProjectId),
    key: &str,
    body: Value,
) -> (u16, Option<String>, Value) {
    let response = stack
        .http
        .post(stack.url(&routes::tasks(project)))
        .bearer_auth(stack.user_token(owner))
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .and_then(|value| value.to_str().ok())
        .map(String::from);
    (status, replayed, response.json().await.expect("json"))
}

#[tokio::test]
async fn the_same_idempotency_key_gets_the_same_task_and_another_body_is_refused() {
    let stack = TestStack::start().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let caller = (&owner, &project);
    let body = json!({"prompt": "Fix the login bug", "mode": "backlog"});

    let (status, replayed, first) = submit_with_key(&stack, caller, "retry-1", body.clone()).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (201, Some("false")),
        "{first}"
    );
    let (status, replayed, again) = submit_with_key(&stack, caller, "retry-1", body.clone()).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (201, Some("true")),
        "{again}"
    );
    assert_eq!(again["id"], first["id"]);
    let token = stack.user_token(&owner);
    let (_, tasks) = stack
        .call("GET", &routes::tasks(&project), Some(&token), None)
        .await;
    assert_eq!(
        tasks["tasks"].as_array().map(Vec::len),
        Some(1),
        "one task for two submissions"
    );

    let other_body = json!({"prompt": "Something else", "mode": "backlog"});
    let (status, _, refused) = submit_with_key(&stack, caller, "retry-1", other_body).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );

    // Keys are per user: another member's same key is a new submission.
    let member = UserId::parse("second-member".to_string()).expect("user");
    let (status, added) = stack
        .call(
            "POST",
            &routes::members(&project),
            Some(&token),
            Some(json!({"userId": member.as_str()})),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    let (status, _, theirs) =
        submit_with_key(&stack, (&member, &project), "retry-1", body.clone()).await;
    assert_eq!(status, 201, "{theirs}");
    assert_ne!(theirs["id"], first["id"]);

    // The key's limits, at their edges.
    let longest = "k".repeat(128);
    let (status, _, made) = submit_with_key(&stack, caller, &longest, body.clone()).await;
    assert_eq!(status, 201, "{made}");
    for bad in ["k".repeat(129), "has space".to_string(), String::new()] {
        let (status, _, refused) = submit_with_key(&stack, caller, &bad, body.clone()).await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (400, Some("invalid_idempotency_key")),
            "key {bad:?}"
        );
    }
    // A refused body claims no key: fixed, the same key makes the task.
    let (status, _, refused) = submit_with_key(
        &stack,
        caller,
        "retry-2",
        json!({"prompt": " ", "mode": "backlog"}),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("invalid_prompt"))
    );
    let (status, replayed, made) = submit_with_key(&stack, caller, "retry-2", body).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (201, Some("false")),
        "{made}"
    );
}

#[tokio::test]
async fn a_replay_of_a_run_now_submission_starts_nothing_more() {
    let stack = TestStack::start().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let body = json!({"prompt": "Run it once", "mode": "run"});
    let submissions = futures::future::join_all(
        (0..4).map(|_| submit_with_key(&stack, (&owner, &project), "once", body.clone())),
    )
    .await;
    let first = &submissions[0].2;
    for (status, _, task) in &submissions {
        assert_eq!(*status, 201, "{task}");
        assert_eq!(task["id"], first["id"]);
    }
    let view: TaskView = serde_json::from_value(first.clone()).expect("task");
    stack
        .wait_for_status(&owner, &view, TaskStatus::Completed)
        .await;
    eventually("one node only", LIMIT, async || {
        stack
            .stack
            .state
            .store
            .list_live_nodes()
            .await
            .expect("nodes")
            .len()
            == 1
    })
    .await;
}
