//! How the node agent's reporter batches: size and byte limits, and no fixed wait.

use std::time::Duration;

use crate::agent::{EXIT_LIMIT, assert_dense_and_unique};
use hangar_tests::TestStack;
use hangar_tests::agent::{AgentSetup, FaultProxy};
use serde_json::json;

fn batch_sizes(proxy: &FaultProxy) -> Vec<(usize, usize)> {
    proxy
        .seen()
        .iter()
        .filter(|(_, status)| *status == 200)
        .map(|(body, _)| {
            let count = body["messages"].as_array().map_or(0, Vec::len);
            let bytes = serde_json::to_vec(body).map_or(0, |json| json.len());
            (count, bytes)
        })
        .collect()
}

#[tokio::test]
async fn batches_stop_at_the_size_limit() {
    let stack = TestStack::start().await;
    let (seeded, _) = stack.seed_running_task().await;
    let proxy = FaultProxy::start(stack.url("")).await;
    // Slow answers let rows pile up, so batches fill.
    proxy.set_delay(Duration::from_millis(100));
    let mut setup = AgentSetup::new(
        &stack,
        &seeded,
        &proxy.url(),
        Some(json!([{"burst": {"count": 40}}])),
    );
    setup.set("MSG_BATCH_MAX_SIZE", "7");
    let (code, log) = setup.spawn("run").wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");
    let sizes: Vec<usize> = batch_sizes(&proxy)
        .iter()
        .map(|(count, _)| *count)
        .collect();
    assert!(sizes.iter().all(|count| *count <= 7), "{sizes:?}");
    assert!(sizes.contains(&7), "some batches are full: {sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 41);
    assert_dense_and_unique(&stack.stored(&seeded).await, 41);
}

#[tokio::test]
async fn batches_stop_at_the_byte_limit() {
    let stack = TestStack::start().await;
    let (seeded, _) = stack.seed_running_task().await;
    let proxy = FaultProxy::start(stack.url("")).await;
    proxy.set_delay(Duration::from_millis(100));
    // Alternating thoughts and answers of 1,500 bytes: each closes the other into a message.
    let steps: Vec<_> = (0..12)
        .map(|i| {
            if i % 2 == 0 {
                json!({"think": "t".repeat(1_500)})
            } else {
                json!({"say": "s".repeat(1_500), "chunks": 3})
            }
        })
        .collect();
    let mut setup = AgentSetup::new(&stack, &seeded, &proxy.url(), Some(json!(steps)));
    setup.set("MSG_BATCH_MAX_BYTES", "4096");
    let (code, log) = setup.spawn("run").wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");
    let sizes = batch_sizes(&proxy);
    assert!(sizes.iter().all(|(_, bytes)| *bytes <= 4_096), "{sizes:?}");
    assert!(
        sizes.iter().any(|(count, _)| *count == 2),
        "batches fill up to the byte limit: {sizes:?}"
    );
    assert_dense_and_unique(&stack.stored(&seeded).await, 13);
}

/// Fails on the reporter that gathered for `MSG_BATCH_MAX_WAIT_MS` after each send: with a
/// one-minute wait the stream would be held far past the exit limit.
#[tokio::test]
async fn a_lone_message_goes_alone_and_a_stream_gathers_while_a_batch_is_on_the_wire() {
    let stack = TestStack::start().await;
    let (seeded, _) = stack.seed_running_task().await;
    let proxy = FaultProxy::start(stack.url("")).await;
    // Every batch is on the wire for at least 100 ms; the stream's messages come 20 ms apart.
    proxy.set_delay(Duration::from_millis(100));
    let script = json!([
        {"sleepMs": 500}, {"burst": {"count": 1}}, {"sleepMs": 500}, {"burst": {"count": 1}}, {"sleepMs": 500},
        {"burst": {"count": 30, "delayMs": 20}}
    ]);
    let mut setup = AgentSetup::new(&stack, &seeded, &proxy.url(), Some(script));
    setup.set("MSG_BATCH_MAX_WAIT_MS", "60000");
    let (code, log) = setup.spawn("run").wait(EXIT_LIMIT).await;
    assert_eq!(code, Some(0), "{log}");

    // (first seq, count) of every batch, in the order they were answered.
    let batches: Vec<(u64, usize)> = proxy
        .seen()
        .iter()
        .map(|(body, status)| {
            assert_eq!(*status, 200);
            let messages = body["messages"].as_array().cloned().unwrap_or_default();
            (messages[0]["seq"].as_u64().unwrap_or(0), messages.len())
        })
        .collect();
    // The prompt and the two lone messages each went alone: nothing waited to gather.
    assert_eq!(&batches[..3], &[(1, 1), (2, 1), (3, 1)], "{batches:?}");
    // The stream (seqs 4..=33) gathered while earlier batches were on the wire: not one
    // request per message, and not held back into one.
    let stream: Vec<_> = batches.iter().filter(|(seq, _)| *seq >= 4).collect();
    assert!(
        (2..=15).contains(&stream.len()),
        "gathered behind the batch in flight: {batches:?}"
    );
    assert_dense_and_unique(&stack.stored(&seeded).await, 33);
}
