//! The node agent's SIGTERM: what it flushes, and where it stops.

use std::time::{Duration, Instant};

use crate::agent::{EXIT_LIMIT, assert_dense_and_unique};
use hangar_protocol::MessageRole;
use hangar_tests::agent::{AgentSetup, Fault, FaultProxy};
use hangar_tests::{TestStack, eventually};
use serde_json::json;

#[tokio::test]
async fn sigterm_flushes_the_outbox_and_the_open_message_before_exit() {
    let stack = TestStack::start().await;
    let (seeded, _) = stack.seed_running_task().await;
    let proxy = FaultProxy::start(stack.url("")).await;
    let setup = AgentSetup::new(
        &stack,
        &seeded,
        &proxy.url(),
        Some(
            json!([{"burst": {"count": 10}}, {"say": "a partial answer", "chunks": 4}, {"sleepMs": 60000}]),
        ),
    );
    // Delivery fails until after SIGTERM, so rows are waiting when it comes.
    proxy.set_always(Some(Fault::Status(503)));

    let agent = setup.spawn("run");
    let path = setup.outbox_path();
    eventually("the outbox file", EXIT_LIMIT, || async { path.exists() }).await;
    let outbox = setup.outbox();
    eventually("the burst in the outbox", EXIT_LIMIT, || async {
        outbox.last_seq(&seeded.session).await.unwrap_or(0) >= 11
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await; // the answer's chunks arrive
    agent.sigterm();
    proxy.set_always(None);

    let started = Instant::now();
    let (code, log) = agent.wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "flushed within the deadline"
    );
    let messages = stack.stored(&seeded).await;
    assert_dense_and_unique(&messages, 12);
    assert_eq!(messages[11].role, MessageRole::Assistant);
    assert_eq!(
        messages[11].content, "a partial answer",
        "the message being streamed is kept"
    );
}

#[tokio::test]
async fn sigterm_stops_at_the_flush_deadline_and_keeps_what_is_left() {
    let stack = TestStack::start().await;
    let (seeded, _) = stack.seed_running_task().await;
    let proxy = FaultProxy::start(stack.url("")).await;
    proxy.set_always(Some(Fault::Status(503)));
    let mut setup = AgentSetup::new(
        &stack,
        &seeded,
        &proxy.url(),
        Some(json!([{"burst": {"count": 5}}, {"sleepMs": 60000}])),
    );
    setup.set("HANGAR_SHUTDOWN_FLUSH_MS", "500");

    let agent = setup.spawn("run");
    let path = setup.outbox_path();
    eventually("the outbox file", EXIT_LIMIT, || async { path.exists() }).await;
    let outbox = setup.outbox();
    eventually("the burst in the outbox", EXIT_LIMIT, || async {
        outbox.pending().await.unwrap_or(0) >= 6
    })
    .await;
    let started = Instant::now();
    agent.sigterm();
    let (code, log) = agent.wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(3), "exit 3: messages remain; {log}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up at the deadline, took {:?}",
        started.elapsed()
    );
    assert_eq!(
        outbox.pending().await.expect("len"),
        6,
        "undelivered rows stay for the next start"
    );

    // The next start delivers them.
    proxy.set_always(None);
    let (code, log) = setup.spawn("drain").wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");
    assert_dense_and_unique(&stack.stored(&seeded).await, 6);
}
