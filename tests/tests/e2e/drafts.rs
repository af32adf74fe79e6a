//! Streamed text: while the agent writes a message, its text so far reaches a viewer as
//! draft frames keyed by the seq the message will take, and the stored message replaces
//! them. Drafts are never stored: the store's write requests are counted by a proxy in
//! front of it while a message streams.

use std::time::{Duration, Instant};

use futures::StreamExt;
use hangar_protocol::MessageRole;
use hangar_protocol::live::LiveEvent;
use hangar_protocol::tasks::TaskStatus;
use hangar_tests::TestStack;
use hangar_tests::fixtures::user;
use hangar_tests::store_proxy::StoreProxy;
use serde_json::json;

/// One growing message: 60 words, 50 ms apart (3 s), then a thought that closes it.
fn streaming_script() -> serde_json::Value {
    let words: String = (1..=60).map(|i| format!("word{i} ")).collect();
    json!([{"say": words, "delayMs": 50}, {"think": "Done."}, {"sleepMs": 1500}])
}

#[tokio::test]
async fn drafts_reach_a_viewer_while_a_message_grows_and_add_no_store_writes() {
    let proxy = StoreProxy::start(&hangar_tests::dynamodb_endpoint()).await;
    let stack = TestStack::start_with(|options| {
        options.dynamodb_endpoint = proxy.url.clone();
        // No heartbeat writes in the window measured.
        options
            .nodes
            .env
            .push(("HANGAR_NODE_HEARTBEAT_MS".into(), "600000".into()));
    })
    .await;
    let owner = user();
    let project = stack
        .scripted_project(&owner, streaming_script(), json!({}))
        .await;
    let mut viewer = stack.viewer(&owner, &project.id).await;
    let task = stack.submit_task(&owner, &project.id, "Talk", "run").await;

    // From the first draft to the stored message: every frame, and the writes meanwhile.
    let mut drafts: Vec<(u64, String, Instant)> = Vec::new();
    let mut writes_at_first_draft = None;
    let stored = loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), viewer.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        let Ok(event) = serde_json::from_str::<LiveEvent>(&frame.into_text().expect("text")) else {
            continue;
        };
        match event {
            // The closing thought streams too, once the answer is closed.
            LiveEvent::Draft { draft, .. } if draft.role == MessageRole::Assistant => {
                writes_at_first_draft.get_or_insert(proxy.writes());
                drafts.push((draft.seq, draft.content, Instant::now()));
            }
            LiveEvent::Draft { .. } => {}
            LiveEvent::Messages { messages, .. } => {
                if let Some(message) = messages
                    .into_iter()
                    .find(|m| m.role == MessageRole::Assistant)
                {
                    break (message, proxy.writes(), Instant::now());
                }
            }
            LiveEvent::Task { .. } => {}
        }
    };
    let (message, writes_at_message, stored_at) = stored;
    let writes = writes_at_message - writes_at_first_draft.expect("drafts came first");
    // A draft at most every 100 ms over 3 s; fewer on a loaded machine (a draft waits for
    // the last one's answer), but always several.
    assert!(drafts.len() >= 4, "{} drafts", drafts.len());
    // The message's own put and its session's counter (and the thought's, batched with
    // it): a write per draft would be 4 more at least.
    assert!(writes >= 1, "the proxy saw the message's own put");
    assert!(
        writes <= 4,
        "{writes} writes while {} drafts streamed",
        drafts.len()
    );
    for (seq, text, _) in &drafts {
        assert_eq!(*seq, message.seq, "keyed by the seq the message takes");
        assert!(message.content.starts_with(text.as_str()), "{text:?}");
    }
    let lengths: Vec<usize> = drafts.iter().map(|(_, text, _)| text.len()).collect();
    assert!(lengths.windows(2).all(|w| w[0] <= w[1]), "{lengths:?}");
    assert!(
        stored_at.duration_since(drafts[0].2) > Duration::from_millis(1000),
        "the text was seen long before the message was stored"
    );
    stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
}
