//! What one task and its messages cost on AWS, from what a run on the local stack did: one
//! run-now task whose scripted agent makes 1,000 tool calls, watched by one viewer, until its
//! node's warm timeout fires. DynamoDB calls are counted by operation (the store proxy),
//! Lambda invocations and their durations, frames posted and socket route events by the
//! stack's meter, calls to the other AWS APIs by a proxy in front of them. Priced at
//! us-east-1 list prices ([`PRICES`]); the counts are what this run made, not estimates.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hangar_infra::meter::Tally;
use hangar_protocol::live::LiveEvent;
use hangar_protocol::tasks::TaskStatus;
use hangar_tests::aws_proxy::AwsProxy;
use hangar_tests::fixtures::user;
use hangar_tests::store_proxy::StoreProxy;
use hangar_tests::{TestStack, aws_endpoint, dynamodb_endpoint};
use serde_json::json;

use crate::table::Table;

/// US dollars per unit, us-east-1 list prices (on-demand DynamoDB, arm64 Lambda).
struct Prices {
    write_unit: f64,
    read_unit: f64,
    lambda_request: f64,
    lambda_gb_second: f64,
    http_request: f64,
    ws_message: f64,
    ws_connection_minute: f64,
    scheduler_invocation: f64,
}

const PRICES: Prices = Prices {
    write_unit: 0.625 / 1e6,
    read_unit: 0.125 / 1e6,
    lambda_request: 0.20 / 1e6,
    lambda_gb_second: 0.000_013_333_4,
    http_request: 1.00 / 1e6,
    ws_message: 1.00 / 1e6,
    ws_connection_minute: 0.25 / 1e6,
    scheduler_invocation: 1.00 / 1e6,
};

/// The functions' memory (the template's `MemorySize`), in GB.
const FUNCTION_GB: f64 = 0.25;
const TOOL_CALLS: u64 = 1_000;

fn tally_since(
    now: BTreeMap<String, Tally>,
    before: &BTreeMap<String, Tally>,
) -> BTreeMap<String, Tally> {
    now.into_iter()
        .map(|(what, tally)| {
            let earlier = before.get(&what).copied().unwrap_or_default();
            let made = Tally {
                count: tally.count - earlier.count,
                total: tally.total.saturating_sub(earlier.total),
            };
            (what, made)
        })
        .filter(|(_, tally)| tally.count > 0)
        .collect()
}

pub async fn run(table: &mut Table) {
    let store = StoreProxy::start(&dynamodb_endpoint()).await;
    let aws = AwsProxy::start(aws_endpoint()).await;
    let stack = TestStack::start_with(|options| {
        options.dynamodb_endpoint = store.url.clone();
        options.aws_endpoint = aws.url.clone();
        options.timeouts.node_warm_ms = 3_000;
    })
    .await;
    let owner = user();
    let steps = json!([{"stamped": {"count": TOOL_CALLS, "delayMs": 2, "tools": true}}]);
    let project = stack.scripted_project(&owner, steps, json!({})).await;
    let mut viewer = stack.viewer(&owner, &project.id).await;
    let meter = &stack.stack.hub.meter;
    let (calls_before, invoked_before, frames_before) =
        (store.calls(), meter.invocations(), meter.frames_posted());
    let aws_before = aws.bodies_with("").len();

    let started = Instant::now();
    stack.submit_task(&owner, &project.id, "Cost", "run").await;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(120), viewer.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        let Ok(LiveEvent::Task { task, .. }) =
            serde_json::from_str::<LiveEvent>(&frame.into_text().unwrap_or_default())
        else {
            continue;
        };
        if task.status.is_terminal() {
            assert_eq!(task.status, TaskStatus::Completed, "{:#?}", task.history);
            break;
        }
    }
    // The node stays warm, then its timeout fires and destroys it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !meter.invocations().contains_key("warm-timeout") {
        assert!(Instant::now() < deadline, "the warm timeout never fired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let calls = store.calls_since(&calls_before);
    let invoked = tally_since(meter.invocations(), &invoked_before);
    let frames = meter.frames_posted() - frames_before;
    let other_aws = aws.bodies_with("").len() - aws_before;
    table.add_text(cost_table(&calls, &invoked, frames, other_aws, minutes));
}

fn cost_table(
    calls: &BTreeMap<String, usize>,
    invoked: &BTreeMap<String, Tally>,
    frames: u64,
    other_aws: usize,
    minutes: f64,
) -> String {
    let count = |op: &str| calls.get(op).copied().unwrap_or(0) as f64;
    // Items here are under 1 KB (a write unit) and reads under 4 KB (a read unit); a
    // BatchGetItem of the ingest reads two items.
    let writes = count("putitem")
        + count("updateitem")
        + count("deleteitem")
        + count("transactwriteitems") * 2.0;
    let reads = count("getitem") + count("query") + 2.0 * count("batchgetitem");
    let invocations: u64 = invoked.values().map(|tally| tally.count).sum();
    let http: u64 = invoked
        .iter()
        .filter(|(what, _)| what.contains(" /api/"))
        .map(|(_, tally)| tally.count)
        .sum();
    let heartbeats = invoked.get("heartbeat").map_or(0, |tally| tally.count);
    let fired = invoked.get("warm-timeout").map_or(0, |tally| tally.count);
    let seconds: f64 = invoked
        .values()
        .map(|tally| tally.total.as_secs_f64())
        .sum();
    // One viewer and one node socket, open for the run.
    let socket_minutes = 2.0 * minutes;
    let rows = [
        ("DynamoDB write units", writes, PRICES.write_unit),
        ("DynamoDB read units", reads, PRICES.read_unit),
        (
            "Lambda invocations",
            invocations as f64,
            PRICES.lambda_request,
        ),
        (
            "Lambda GB-s (256 MB)",
            seconds * FUNCTION_GB,
            PRICES.lambda_gb_second,
        ),
        ("HTTP API requests", http as f64, PRICES.http_request),
        (
            "WebSocket messages (frames posted, heartbeats)",
            (frames + heartbeats) as f64,
            PRICES.ws_message,
        ),
        (
            "WebSocket connection minutes",
            socket_minutes,
            PRICES.ws_connection_minute,
        ),
        (
            "Scheduler invocations (warm timeout)",
            fired as f64,
            PRICES.scheduler_invocation,
        ),
    ];
    let total: f64 = rows.iter().map(|(_, n, price)| n * price).sum();
    let mut text = format!(
        "\nCost of one task whose agent makes {TOOL_CALLS} tool calls (one viewer), counted:\n\n\
         | what | counted | US$ per unit | US$ |\n|---|---:|---:|---:|\n"
    );
    for (what, n, price) in rows {
        text.push_str(&format!(
            "| {what} | {n:.2} | {price:.10} | {:.6} |\n",
            n * price
        ));
    }
    text.push_str(&format!("| **total** | | | **{total:.6}** |\n"));
    text.push_str(&format!(
        "\nDynamoDB calls: {calls:?}; invocations: {:?}; other AWS API calls (Scheduler, \
         Secrets Manager; not billed per call; the local stack also lists its schedules to \
         fire them, which AWS does itself): {other_aws}; run {minutes:.2} min.\n",
        invoked
            .iter()
            .map(|(what, tally)| (what.as_str(), tally.count))
            .collect::<BTreeMap<_, _>>()
    ));
    text
}
