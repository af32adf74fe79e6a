//! From the ACP agent's write to a WebSocket viewer: the scripted agent stamps each piece it
//! emits with the time (`t=<unix ms>;`), a viewer of the project notes when it first sees
//! each stamp. Streamed text is seen in drafts (before its message is stored), tool calls
//! in stored messages. Same machine, same clock.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use hangar_protocol::live::LiveEvent;
use hangar_protocol::tasks::TaskStatus;
use hangar_protocol::time::now_ms;
use hangar_tests::TestStack;
use hangar_tests::fixtures::user;
use serde_json::{Value, json};

use crate::table::{Row, Table};

/// Every `t=<ms>;` stamp in `text`.
fn stamps(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.split("t=")
        .skip(1)
        .filter_map(|rest| rest.split(';').next()?.parse().ok())
}

/// Runs one task playing `steps` and returns the latency of each stamp, first seen.
async fn seen_after(steps: Value) -> Vec<u64> {
    let stack = TestStack::start().await;
    let owner = user();
    let project = stack.scripted_project(&owner, steps, json!({})).await;
    let mut viewer = stack.viewer(&owner, &project.id).await;
    stack.submit_task(&owner, &project.id, "Bench", "run").await;
    let mut first_seen: HashMap<u64, u64> = HashMap::new();
    let mut see = |text: &str| {
        let now = now_ms();
        for stamp in stamps(text) {
            first_seen.entry(stamp).or_insert(now.saturating_sub(stamp));
        }
    };
    loop {
        let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_secs(60), viewer.next()).await
        else {
            break;
        };
        let Ok(event) = serde_json::from_str::<LiveEvent>(&frame.into_text().unwrap_or_default())
        else {
            continue;
        };
        match event {
            LiveEvent::Draft { draft, .. } => see(&draft.content),
            LiveEvent::Messages { messages, .. } => {
                for message in messages {
                    see(&message.content);
                    if let Some(title) = message.tool.and_then(|tool| tool.title) {
                        see(&title);
                    }
                }
            }
            LiveEvent::Task { task, .. } if task.status.is_terminal() => {
                assert_eq!(task.status, TaskStatus::Completed, "{:#?}", task.history);
                break;
            }
            LiveEvent::Task { .. } => {}
        }
    }
    first_seen.into_values().collect()
}

pub async fn run(table: &mut Table) {
    // 20 pieces a second for 15 s: one message streamed, then 300 tool calls.
    let text = seen_after(json!([{"stamped": {"count": 300, "delayMs": 50}}])).await;
    table.add(Row {
        measure: "streamed text: agent write -> viewer (draft)".into(),
        unit: "ms",
        samples: text,
        note: "20 chunks/s of one message; drafts every 100 ms".into(),
        seed: "",
    });
    let tools =
        seen_after(json!([{"stamped": {"count": 300, "delayMs": 50, "tools": true}}])).await;
    table.add(Row {
        measure: "tool-call message: agent write -> viewer (stored)".into(),
        unit: "ms",
        samples: tools,
        note: "20 tool calls/s; goal p99 < 150 ms".into(),
        seed: "p50 1217 ms, p99 2160 ms",
    });
}
