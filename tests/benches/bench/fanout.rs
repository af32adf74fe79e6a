//! One ingest call (a batch of 10 messages, stored through the DynamoDB-compatible server,
//! then pushed to every viewer of the project) with 1, 100 and 1,000 viewers, through the
//! production push adapter to a Management API stand-in that takes 20 ms per post.

use std::time::{Duration, Instant};

use hangar_functions::domain::ingest::ingest;
use hangar_functions::domain::live::POST_CONCURRENCY;
use hangar_tests::TestStack;
use hangar_tests::management_api::{ManagementApi, live_through, viewers_of};
use hangar_tests::wire::message;
use serde_json::json;

use crate::table::{Row, Table};

const BATCHES: u64 = 20;
const PER_BATCH: u64 = 10;

async fn ingest_with_viewers(table: &mut Table, viewers: usize) {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let gateway = ManagementApi::start(Duration::from_millis(20)).await;
    let state = &stack.stack.state;
    let live = live_through(&stack, &gateway).await;
    viewers_of(&stack, &seeded, viewers).await;
    let mut samples = Vec::new();
    for batch in 0..BATCHES {
        let first = batch * PER_BATCH + 1;
        let messages: Vec<_> = (first..first + PER_BATCH)
            .map(|seq| message(seq, &format!("message {seq} {}", "x".repeat(150))))
            .collect();
        let body = json!({
            "sessionId": seeded.session,
            "projectId": seeded.project,
            "messages": messages,
        });
        let body = serde_json::to_vec(&body).expect("json");
        let started = Instant::now();
        let stored = ingest(
            state.store.as_ref(),
            &live,
            &seeded.workspace,
            &body,
            60_000,
        )
        .await
        .expect("ingest");
        samples.push(started.elapsed().as_millis() as u64);
        assert_eq!(stored.persisted as u64, PER_BATCH);
    }
    let posts = gateway.posts();
    assert_eq!(
        posts.len(),
        viewers * BATCHES as usize,
        "a frame per viewer per batch"
    );
    // Each batch's posts, first answered to last (plus the first one's own 20 ms).
    let push: Vec<u64> = posts
        .chunks(viewers)
        .map(|batch| {
            let span = batch[batch.len() - 1].at.duration_since(batch[0].at);
            (span + Duration::from_millis(20)).as_millis() as u64
        })
        .collect();
    table.add(Row {
        measure: format!("ingest of 10 messages, {viewers} viewer(s), 20 ms per post"),
        unit: "ms",
        samples,
        note: format!(
            "store and push; up to {POST_CONCURRENCY} posts at once (seen: {})",
            gateway.most_at_once()
        ),
        seed: "",
    });
    table.add(Row {
        measure: format!("  of which posting the frame to {viewers} viewer(s)"),
        unit: "ms",
        samples: push,
        note: "the rest of the ingest is store calls".into(),
        seed: "",
    });
}

pub async fn run(table: &mut Table) {
    for viewers in [1, 100, 1_000] {
        ingest_with_viewers(table, viewers).await;
    }
}
