//! Fault tests: nothing is lost when a part the agent depends on fails for longer than it
//! was told to wait. Loopback only, bounded, each test stops by itself.

use std::time::Duration;

use hangar_functions::domain::NodeQuotas;
use hangar_protocol::tasks::{NodeStatus, TaskStatus};
use hangar_tests::TestStack;
use hangar_tests::agent::{AgentSetup, Fault, FaultProxy};
use hangar_tests::store_proxy::{Outage, StoreProxy};
use serde_json::json;

use crate::agent::{EXIT_LIMIT, assert_dense_and_unique};

/// Fails on the reporter that set a batch aside as `retry_exhausted` once its retry budget
/// ran out (checked): the messages of the outage were missing from the store, and the
/// outcome was reported without them.
#[tokio::test]
async fn an_outage_longer_than_the_retry_budget_loses_nothing_and_the_outcome_waits_for_delivery() {
    let stack = TestStack::start().await;
    let (seeded, task) = stack.seed_running_task().await;
    let proxy = FaultProxy::start(stack.url("")).await;
    proxy.set_always(Some(Fault::Status(503)));
    let mut setup = AgentSetup::new(
        &stack,
        &seeded,
        &proxy.url(),
        Some(json!([{"burst": {"count": 20}}])),
    );
    // A budget of 300 ms against an outage of 2 s: spent several times over.
    setup.set("MSG_RETRY_MAX_ELAPSED_TIME_MS", "300");
    setup.set("MSG_RETRY_MAX_INTERVAL_MS", "100");
    let agent = setup.spawn("run");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        stack.task(&seeded.owner, &task).await.status,
        TaskStatus::Running,
        "no outcome while the transcript is undelivered"
    );
    proxy.set_always(None);

    let (code, log) = agent.wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("retry budget spent"), "{log}");
    assert_dense_and_unique(&stack.stored(&seeded).await, 21);
    assert!(
        setup
            .outbox()
            .set_aside_rows()
            .await
            .expect("rows")
            .is_empty()
    );
    let done = stack.task(&seeded.owner, &task).await;
    assert_eq!(done.status, TaskStatus::Completed, "{:?}", done.history);
    // Reported after the last message was taken.
    let last_ingest = proxy.answered_at().into_iter().max().expect("ingests");
    let reported = done.history.last().expect("history").at;
    assert!(
        reported >= last_ingest,
        "reported at {reported}, last ingest at {last_ingest}"
    );
}

/// Fails on the agent that enqueued tool info as the ACP agent sent it (checked): the
/// batch holding the 9,000-byte title was refused whole, and with it the text around it.
#[tokio::test]
async fn a_tool_call_with_a_title_past_the_limit_is_fitted_and_takes_no_neighbour_with_it() {
    let stack = TestStack::start().await;
    let (seeded, _) = stack.seed_running_task().await;
    let title = "Edit ".to_string() + &"a/very/long/path/".repeat(530);
    assert!(title.len() > 9_000);
    let setup = AgentSetup::new(
        &stack,
        &seeded,
        &stack.url(""),
        Some(json!([
            {"say": "before"},
            {"update": {"sessionUpdate": "tool_call", "toolCallId": "long-1", "title": title, "kind": "edit", "status": "pending"}},
            {"say": "after"}
        ])),
    );
    let (code, log) = setup.spawn("run").wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");
    let stored = stack.stored(&seeded).await;
    let contents: Vec<&str> = stored.iter().map(|m| m.content.as_str()).collect();
    assert!(
        contents.contains(&"before") && contents.contains(&"after"),
        "{contents:?}"
    );
    let tool = stored
        .iter()
        .find_map(|m| m.tool.as_ref().filter(|t| t.tool_call_id == "long-1"))
        .expect("the tool call is stored");
    let shown = tool.title.as_deref().unwrap_or_default();
    assert!(
        shown.starts_with("Edit a/very/long/path/") && shown.ends_with('…'),
        "{shown}"
    );
    assert!(
        setup
            .outbox()
            .set_aside_rows()
            .await
            .expect("rows")
            .is_empty()
    );
    assert_dense_and_unique(&stored, stored.len() as u64);
}

/// Fails on the code that pushed a task's whole record and the create command as they were
/// (checked): a prompt of control characters (six bytes each once escaped) made both pass
/// the gateway's 128 KiB frame limit, which the local hub now enforces as API Gateway does,
/// so the viewer saw no task frame and the node never got its command.
#[tokio::test]
async fn a_prompt_past_the_frame_limit_still_reaches_its_node_and_its_viewers() {
    use futures::StreamExt;
    use hangar_protocol::limits::{LIVE_FRAME_MAX_BYTES, TASK_PROMPT_MAX_BYTES};
    use hangar_protocol::live::LiveEvent;

    let stack = TestStack::start().await;
    let owner = hangar_tests::fixtures::user();
    let project = stack.new_project(&owner).await;
    let mut viewer = stack.viewer(&owner, &project).await;
    let prompt = format!("go{}", "\u{1}".repeat(TASK_PROMPT_MAX_BYTES - 2));
    assert!(serde_json::to_string(&prompt).expect("json").len() > LIVE_FRAME_MAX_BYTES);
    let task = stack.submit_task(&owner, &project, &prompt, "run").await;
    let done = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    assert_eq!(
        done.prompt.as_deref().map(str::len),
        Some(TASK_PROMPT_MAX_BYTES),
        "the API still returns it whole"
    );

    // The viewer saw the task reach `completed` through frames within the limit.
    let mut seen = Vec::new();
    while !seen.contains(&TaskStatus::Completed) {
        let frame = tokio::time::timeout(Duration::from_secs(10), viewer.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        let text = frame.into_text().expect("text frame");
        assert!(text.len() <= LIVE_FRAME_MAX_BYTES, "{} bytes", text.len());
        if let Ok(LiveEvent::Task { task: shown, .. }) = serde_json::from_str(&text)
            && shown.id == task.id
        {
            seen.push(shown.status);
        }
    }
}

/// The store goes away in the middle of a run (connections hung up on, then 503s), and comes
/// back: every message is stored once with no gap, and the task completes. Written after
/// this first step (transient failures are retried until delivered) and passing on
/// it; not run against the code before that step.
#[tokio::test]
async fn a_store_outage_in_the_middle_of_a_run_loses_nothing_and_the_task_completes() {
    let proxy = StoreProxy::start(&hangar_tests::dynamodb_endpoint()).await;
    let stack =
        TestStack::start_with(|options| options.dynamodb_endpoint = proxy.url.clone()).await;
    let (seeded, task) = stack.seed_running_task().await;
    let mut setup = AgentSetup::new(
        &stack,
        &seeded,
        &stack.url(""),
        Some(json!([{"burst": {"count": 60, "delayMs": 40}}])),
    );
    // A budget shorter than the outage: transient failures must outlast it anyway.
    setup.set("MSG_RETRY_MAX_ELAPSED_TIME_MS", "500");
    let agent = setup.spawn("run");
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.set(Outage::Refuse);
    hold(&proxy, |(refused, _)| refused).await;
    proxy.set(Outage::Unavailable);
    hold(&proxy, |(_, unavailable)| unavailable).await;
    proxy.set(Outage::None);

    let (code, log) = agent.wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");
    let (refused, unavailable) = proxy.faults();
    assert!(
        refused > 0 && unavailable > 0,
        "the outage was hit: {refused}, {unavailable}"
    );
    assert_dense_and_unique(&stack.stored(&seeded).await, 61);
    let done = stack.task(&seeded.owner, &task).await;
    assert_eq!(done.status, TaskStatus::Completed, "{:?}", done.history);
}

/// Keeps an outage for a second, and until the store was asked (and failed) a few times.
async fn hold(proxy: &StoreProxy, count: fn((usize, usize)) -> usize) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    hangar_tests::eventually(
        "the store to be asked",
        Duration::from_secs(20),
        async || count(proxy.faults()) >= 3,
    )
    .await;
}

/// The provisioner refuses to start a machine (as EC2 refuses RunInstances: the adapter
/// answers the same port error): the task fails with the provider's reason and its place in
/// the quota is free again, so the next task is tried at once instead of waiting behind a
/// node that never was. The failure path predates this issue; the test guards it.
#[tokio::test]
async fn a_provisioner_that_refuses_fails_the_task_with_its_reason_and_frees_its_place() {
    let stack = TestStack::start_with(|options| {
        options.quotas = NodeQuotas {
            total: 1,
            per_project: 1,
        };
        options.nodes.agent_binary = "/nonexistent/hangar-agent".into();
    })
    .await;
    let owner = hangar_tests::fixtures::user();
    let project = stack.new_project(&owner).await;
    for attempt in ["first", "second"] {
        let submitted = stack.submit_task(&owner, &project, attempt, "run").await;
        let failed = stack
            .wait_for_status(&owner, &submitted, TaskStatus::Failed)
            .await;
        let reason = &failed.history.last().expect("history").reason;
        assert!(
            reason.starts_with("could not provision a node") && reason.contains("nonexistent"),
            "{attempt}: {reason}"
        );
        if let Some(node) = &submitted.node_id {
            assert_eq!(stack.node(node).await.status, NodeStatus::Destroyed);
        }
    }
}

/// The outbox's file fills up (SQLITE_FULL, made with `max_page_count`) while the control
/// plane is away: the agent is held back with a clear error instead of failing, and once
/// delivery frees space every message is stored once. Fails without the wait on
/// SQLITE_FULL (checked): the enqueue error ended the turn, 78 of 401 messages were stored,
/// and the agent still exited 0.
#[tokio::test]
async fn a_full_outbox_disk_holds_the_agent_back_and_loses_nothing() {
    let stack = TestStack::start().await;
    let (seeded, task) = stack.seed_running_task().await;
    let proxy = FaultProxy::start(stack.url("")).await;
    proxy.set_always(Some(Fault::Status(503)));
    let count: usize = 400;
    let mut setup = AgentSetup::new(
        &stack,
        &seeded,
        &proxy.url(),
        Some(json!([{"burst": {"count": count}}])),
    );
    setup.set("MSG_OUTBOX_MAX_BYTES", "65536");
    let agent = setup.spawn("run");
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set_always(None);

    let (code, log) = agent.wait(EXIT_LIMIT).await;
    let stored = stack.stored(&seeded).await;
    assert_eq!(stored.len(), count + 1, "{code:?} {log}");
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("SQLITE_FULL"), "the disk filled up: {log}");
    assert_dense_and_unique(&stored, stored.len() as u64);
    let done = stack.task(&seeded.owner, &task).await;
    assert_eq!(done.status, TaskStatus::Completed, "{:?}", done.history);
}
