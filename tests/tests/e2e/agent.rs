//! The node agent as a real process, on the path every node runs (`run` is one workspace
//! of a node): the scripted ACP agent on its stdio, the SQLite outbox on
//! disk, the ingest endpoint of a local stack on moto (behind a fault-injecting proxy where
//! needed), SIGKILL and SIGTERM sent for real.

use std::time::Duration;

use hangar_protocol::tasks::TaskStatus;
use hangar_protocol::{ChatMessage, MessageRole};
use hangar_tests::agent::{AgentSetup, Fault, FaultProxy};
use hangar_tests::{TestStack, eventually};
use serde_json::json;

pub(crate) const EXIT_LIMIT: Duration = Duration::from_secs(30);

pub(crate) fn assert_dense_and_unique(messages: &[ChatMessage], count: u64) {
    let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=count).collect::<Vec<_>>(),
        "every seq exactly once"
    );
    let mut ids: Vec<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, count, "message ids are unique");
}

pub(crate) fn burst_titles(messages: &[ChatMessage]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| m.tool.as_ref().and_then(|t| t.title.clone()))
        .collect()
}

#[tokio::test]
async fn a_task_transcript_arrives_coalesced_and_in_order() {
    let stack = TestStack::start().await;
    let (seeded, task) = stack.seed_running_task().await;
    let setup = AgentSetup::new(&stack, &seeded, &stack.url(""), None);

    let (code, log) = setup.spawn("run").wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");
    // As on a node: the outcome is reported once the transcript is delivered.
    let finished = stack.task(&seeded.owner, &task).await;
    assert_eq!(
        finished.status,
        TaskStatus::Completed,
        "{:#?}",
        finished.history
    );

    let messages = stack.stored(&seeded).await;
    let summary: Vec<(MessageRole, String)> = messages
        .iter()
        .map(|m| (m.role, m.content.clone()))
        .collect();
    let roles: Vec<MessageRole> = summary.iter().map(|(role, _)| *role).collect();
    use MessageRole::*;
    assert_eq!(
        roles,
        vec![
            User, Thought, Plan, Tool, System, Assistant, Tool, Assistant
        ],
        "{summary:#?}"
    );
    assert_eq!(summary[0].1, "Fix the failing test");
    assert!(
        summary[2].1.contains("- [in_progress] Make the change"),
        "{}",
        summary[2].1
    );
    assert_eq!(
        summary[4].1,
        "Permission requested: Edit src/main.rs. Answered: Allow once (allow_once)."
    );
    assert!(
        summary[5].1.contains("\"optionId\":\"allow\""),
        "{}",
        summary[5].1
    );
    assert_eq!(summary[6].1, "1 file changed");
    assert_eq!(
        messages[6].tool.as_ref().and_then(|t| t.status.as_deref()),
        Some("completed")
    );
    // Streamed word by word, stored as one message.
    assert_eq!(
        summary[7].1,
        "I worked on \"Fix the failing test\": the change is made and the tests pass."
    );
    assert_dense_and_unique(&messages, 8);
    assert_eq!(
        setup.outbox().pending().await.expect("len"),
        0,
        "delivered rows are deleted"
    );
}

#[tokio::test]
async fn permission_requests_follow_the_reject_policy() {
    let stack = TestStack::start().await;
    let (seeded, _) = stack.seed_running_task().await;
    let mut setup = AgentSetup::new(
        &stack,
        &seeded,
        &stack.url(""),
        Some(json!([{"permission": "Delete the repo"}])),
    );
    setup.set("HANGAR_PERMISSION_POLICY", "reject");
    let (code, log) = setup.spawn("run").wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");
    let messages = stack.stored(&seeded).await;
    assert_eq!(
        messages[1].content,
        "Permission requested: Delete the repo. Answered: Reject (reject_once)."
    );
    assert!(
        messages[2].content.contains("\"optionId\":\"reject\""),
        "{}",
        messages[2].content
    );
}

#[tokio::test]
async fn sigkill_mid_stream_then_restart_delivers_every_message_exactly_once() {
    let stack = TestStack::start().await;
    let (seeded, _) = stack.seed_running_task().await;
    // Each request is held a while, so a kill can land while a batch is on the wire.
    let proxy = FaultProxy::start(stack.url("")).await;
    proxy.set_delay(Duration::from_millis(60));
    let setup = AgentSetup::new(
        &stack,
        &seeded,
        &proxy.url(),
        Some(json!([{"burst": {"count": 400, "delayMs": 3}}])),
    );

    // First kill: mid-stream, with a batch in flight and some already stored.
    let mut agent = setup.spawn("run");
    eventually(
        "a batch in flight after some deliveries",
        EXIT_LIMIT,
        || async { proxy.in_flight() > 0 && stack.stored(&seeded).await.len() >= 20 },
    )
    .await;
    agent.sigkill().await;
    proxy.drop_held();
    let outbox = setup.outbox();
    let committed = outbox.last_seq(&seeded.session).await.expect("last seq");
    assert!(
        committed < 401,
        "killed mid-stream, not after the end ({committed} committed)"
    );
    assert!(
        outbox.pending().await.expect("len") > 0,
        "rows were left to deliver"
    );

    // Second kill: during the restart's drain, again with a batch in flight.
    let mut drain = setup.spawn("drain");
    eventually("a drain batch in flight", EXIT_LIMIT, || async {
        proxy.in_flight() > 0
    })
    .await;
    drain.sigkill().await;
    proxy.drop_held();

    proxy.set_delay(Duration::ZERO);
    let (code, log) = setup.spawn("drain").wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");

    let messages = stack.stored(&seeded).await;
    assert_dense_and_unique(&messages, committed);
    assert_eq!(messages[0].role, MessageRole::User);
    let expected: Vec<String> = (1..committed).map(|i| format!("step {i}")).collect();
    assert_eq!(
        burst_titles(&messages),
        expected,
        "the stream's prefix, in order, nothing skipped"
    );
    assert_eq!(outbox.pending().await.expect("len"), 0);
}

#[tokio::test]
async fn transient_failures_are_retried_until_the_endpoint_recovers() {
    let stack = TestStack::start().await;
    let (seeded, _) = stack.seed_running_task().await;
    let proxy = FaultProxy::start(stack.url("")).await;
    proxy.queue(&[
        Fault::Status(503),
        Fault::Status(429),
        Fault::Status(408),
        Fault::Status(500),
        Fault::Status(503),
    ]);
    let setup = AgentSetup::new(
        &stack,
        &seeded,
        &proxy.url(),
        Some(json!([{"burst": {"count": 20}}])),
    );

    let (code, log) = setup.spawn("run").wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");

    assert_dense_and_unique(&stack.stored(&seeded).await, 21);
    let statuses: Vec<u16> = proxy.seen().iter().map(|(_, status)| *status).collect();
    assert_eq!(&statuses[..5], &[503, 429, 408, 500, 503]);
    assert!(
        statuses[5..].iter().all(|status| *status == 200),
        "{statuses:?}"
    );
    assert!(
        setup
            .outbox()
            .set_aside_rows()
            .await
            .expect("rows")
            .is_empty()
    );
    assert!(log.contains("retrying"), "retries are logged");
}

#[tokio::test]
async fn a_permanently_refused_batch_is_set_aside_and_never_retried() {
    let stack = TestStack::start().await;
    let (seeded, _) = stack.seed_running_task().await;
    let proxy = FaultProxy::start(stack.url("")).await;
    proxy.queue(&[Fault::Status(400)]);
    let setup = AgentSetup::new(
        &stack,
        &seeded,
        &proxy.url(),
        Some(json!([{"sleepMs": 200}, {"burst": {"count": 10}}])),
    );

    let (code, log) = setup.spawn("run").wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");

    // The first batch (the prompt, sent alone while the agent was idle) was refused.
    let set_aside = setup.outbox().set_aside_rows().await.expect("rows");
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    assert_eq!(
        (
            set_aside[0].seq,
            set_aside[0].reason.as_str(),
            set_aside[0].http_status
        ),
        (1, "rejected", Some(400))
    );
    assert!(set_aside[0].detail.contains("injected"));
    let refused_id = set_aside[0].message_id.clone();
    let sends_of_refused = proxy
        .seen()
        .iter()
        .filter(|(body, _)| {
            body["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["messageId"] == json!(refused_id)))
        })
        .count();
    assert_eq!(sends_of_refused, 1, "a permanent refusal is not retried");

    let messages = stack.stored(&seeded).await;
    assert_eq!(
        messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (2..=11).collect::<Vec<_>>()
    );
    assert!(log.contains("set aside"), "the refusal is logged");
    assert_eq!(setup.outbox().pending().await.expect("len"), 0);
}

#[tokio::test]
async fn a_full_outbox_holds_the_agent_until_space_frees() {
    let stack = TestStack::start().await;
    let (seeded, _) = stack.seed_running_task().await;
    let proxy = FaultProxy::start(stack.url("")).await;
    proxy.set_always(Some(Fault::Status(503)));
    let mut setup = AgentSetup::new(
        &stack,
        &seeded,
        &proxy.url(),
        Some(json!([{"burst": {"count": 30}}])),
    );
    setup.set("MSG_OUTBOX_MAX_SIZE", "5");

    let agent = setup.spawn("run");
    let path = setup.outbox_path();
    eventually("the outbox file", EXIT_LIMIT, || async { path.exists() }).await;
    let outbox = setup.outbox();
    eventually("a full outbox", EXIT_LIMIT, || async {
        outbox.pending().await.unwrap_or(0) == 5
    })
    .await;
    // It stays at the bound while the endpoint is down: the agent is held, nothing dropped.
    for _ in 0..25 {
        assert!(outbox.pending().await.expect("len") <= 5);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        outbox.last_seq(&seeded.session).await.expect("seq"),
        5,
        "no enqueue past the bound"
    );
    assert!(stack.stored(&seeded).await.is_empty());

    proxy.set_always(None);
    let (code, log) = agent.wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");
    let messages = stack.stored(&seeded).await;
    assert_dense_and_unique(&messages, 31);
    assert_eq!(
        burst_titles(&messages),
        (1..=30).map(|i| format!("step {i}")).collect::<Vec<_>>()
    );
    assert!(log.contains("outbox full"), "backpressure is logged");
}

#[tokio::test]
async fn bad_configuration_exits_2_naming_the_variable() {
    let stack = TestStack::start().await;
    let (seeded, _) = stack.seed_running_task().await;
    for (name, value) in [
        ("MSG_BATCH_MAX_SIZE", "51"),
        ("MSG_BATCH_MAX_BYTES", "65537"),
        ("MSG_OUTBOX_MAX_SIZE", "none"),
        ("MSG_RETRY_MAX_ELAPSED_TIME_MS", "0"),
        ("CHAT_SESSION_ID", ""),
    ] {
        let mut setup = AgentSetup::new(&stack, &seeded, &stack.url(""), None);
        setup.set(name, value);
        let (code, log) = setup.spawn("run").wait(EXIT_LIMIT).await;
        assert_eq!(code, Some(2), "{name}={value}: {log}");
        assert!(log.contains(name), "{name} is named: {log}");
    }
}
