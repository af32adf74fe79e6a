//! Outbox enqueue throughput, and agent -> store latency through the real reporter, ingest
//! endpoint and DynamoDB-compatible server.

use std::time::{Duration, Instant};

use hangar_agent::config::{BatchLimits, RetryPolicy};
use hangar_agent::control_plane::ControlPlane;
use hangar_agent::outbox::{Delivery, Draft, Outbox};
use hangar_agent::reporter::Reporter;
use hangar_protocol::MessageRole;
use hangar_tests::TestStack;
use hangar_tests::agent::FaultProxy;
use hangar_tests::store_proxy::StoreProxy;
use tokio_util::sync::CancellationToken;

use crate::table::{Row, Table};

fn draft(i: usize, size: usize) -> Draft {
    Draft {
        role: MessageRole::Assistant,
        content: format!("{i:06} {}", "x".repeat(size)),
        tool: None,
        permission: None,
        id: None,
    }
}

/// The design's batch limits, with retries short enough for a benchmark.
fn reporter(outbox: Outbox) -> Reporter {
    let batch = BatchLimits {
        max_size: hangar_protocol::limits::MSG_BATCH_MAX_SIZE,
        max_bytes: hangar_protocol::limits::MSG_BATCH_MAX_BYTES,
    };
    let retry = RetryPolicy {
        initial_interval: Duration::from_millis(100),
        max_interval: Duration::from_millis(1_000),
        max_elapsed: Duration::from_secs(60),
    };
    Reporter::new(
        outbox,
        ControlPlane::new(retry).expect("http client"),
        batch,
        retry.max_interval,
    )
}

/// `producers` workspaces of one node, all at once, each enqueueing `each` messages
/// `together` at a time (one enqueue call): per-enqueue latency and the total rate, with
/// the transactions they took.
async fn enqueue_throughput(
    table: &mut Table,
    producers: usize,
    (each, together): (usize, usize),
    size: usize,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = Outbox::open(&dir.path().join("outbox.db"), u64::MAX).expect("outbox");
    let mut workspaces = Vec::new();
    for n in 0..producers {
        let workspace = hangar_protocol::WorkspaceId::parse(format!("bench-ws-{n}")).expect("id");
        outbox
            .register(Delivery {
                workspace_id: workspace.clone(),
                project_id: "bench".into(),
                session_id: hangar_protocol::SessionId::parse(format!("bench-session-{n}"))
                    .expect("id"),
                api_url: "http://127.0.0.1:9".into(),
                callback_token: "unused".into(),
            })
            .await
            .expect("register");
        workspaces.push(workspace);
    }
    let started = Instant::now();
    let running: Vec<_> = workspaces
        .into_iter()
        .map(|workspace| {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(each);
                for start in (0..each).step_by(together) {
                    let drafts = (start..each.min(start + together))
                        .map(|i| draft(i, size))
                        .collect();
                    let one = Instant::now();
                    outbox
                        .enqueue_all(&workspace, drafts)
                        .await
                        .expect("enqueue");
                    latencies.push(one.elapsed().as_micros() as u64);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(producers * each);
    for producer in running {
        latencies.extend(producer.await.expect("producer"));
    }
    let elapsed = started.elapsed();
    let count = producers * each;
    let who = match (producers, together) {
        (1, 1) => "one producer".to_string(),
        (n, 1) => format!("{n} producers at once"),
        (n, k) => format!("{n} producers at once, {k} messages per enqueue"),
    };
    let seed = if producers == 1 {
        "5.2k msg/s, a commit each"
    } else {
        ""
    };
    table.add(Row {
        measure: format!("outbox enqueue, {size} B, {who}"),
        unit: "us",
        samples: latencies,
        note: format!(
            "{:.0} msg/s, {:.1} rows per commit",
            count as f64 / elapsed.as_secs_f64(),
            count as f64 / outbox.commits().max(1) as f64
        ),
        seed,
    });
}

/// Enqueues `count` messages `gap` apart and reports enqueue -> ingest 2xx latency.
async fn delivery_latency(table: &mut Table, label: &str, count: usize, gap: Duration) {
    let store = StoreProxy::start(&hangar_tests::dynamodb_endpoint()).await;
    let stack = TestStack::start_with(|options| {
        options.dynamodb_endpoint = store.url.clone();
    })
    .await;
    let seeded = stack.seed().await;
    let proxy = FaultProxy::start(stack.url("")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = Outbox::open(&dir.path().join("outbox.db"), u64::MAX).expect("outbox");
    outbox
        .register(Delivery {
            workspace_id: seeded.workspace.clone(),
            project_id: seeded.project.to_string(),
            session_id: seeded.session.clone(),
            api_url: proxy.url(),
            callback_token: stack.callback_token(&seeded.workspace),
        })
        .await
        .expect("register");
    let reporter = reporter(outbox.clone());
    let stop = CancellationToken::new();
    let background = {
        let (reporter, stop) = (reporter.clone(), stop.clone());
        tokio::spawn(async move { reporter.run(stop).await })
    };

    let before = store.calls();
    let started = Instant::now();
    for i in 0..count {
        outbox
            .enqueue(&seeded.workspace, draft(i, 200))
            .await
            .expect("enqueue");
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
    }
    while outbox.pending().await.expect("pending") > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    let _ = background.await;

    let mut latencies = Vec::new();
    let mut batches = 0;
    for ((body, status), answered_at) in proxy.seen().iter().zip(proxy.answered_at()) {
        if *status != 200 {
            continue;
        }
        batches += 1;
        for message in body["messages"].as_array().into_iter().flatten() {
            let created = message["createdAt"].as_u64().unwrap_or(answered_at);
            latencies.push(answered_at.saturating_sub(created));
        }
    }
    let made = store.calls_since(&before);
    let made = |op: &str| made.get(op).copied().unwrap_or(0);
    table.add(Row {
        measure: format!("enqueue -> stored, {label}"),
        unit: "ms",
        samples: latencies,
        note: format!(
            "{batches} batches, {:.0} msg/s; store writes: {} puts, {} updates",
            count as f64 / elapsed.as_secs_f64(),
            made("putitem"),
            made("updateitem"),
        ),
        seed: "",
    });
}

/// Enqueue latency and rate, one producer and several at once.
pub async fn outbox(table: &mut Table) {
    enqueue_throughput(table, 1, (2_000, 1), 200).await;
    enqueue_throughput(table, 8, (10_000, 1), 200).await;
    enqueue_throughput(table, 8, (10_000, 8), 200).await;
    enqueue_throughput(table, 1, (500, 1), 8_000).await;
}

/// Every delivery measure.
pub async fn run(table: &mut Table) {
    delivery_latency(
        table,
        "sparse traffic (one message every 2.5 s)",
        8,
        Duration::from_millis(2_500),
    )
    .await;
    delivery_latency(
        table,
        "steady traffic (one message every 50 ms)",
        100,
        Duration::from_millis(50),
    )
    .await;
    delivery_latency(
        table,
        "burst (2,000 messages at once)",
        2_000,
        Duration::ZERO,
    )
    .await;
}
