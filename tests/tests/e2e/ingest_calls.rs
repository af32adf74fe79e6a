//! What one ingest costs the store, counted by a proxy in front of the DynamoDB-compatible
//! server: the workspace and the session read in one round trip when the agent names the
//! project, one conditional put per message, one session update per batch; and a project
//! named wrongly reaches nothing.

use hangar_protocol::IngestResponse;
use hangar_tests::store_proxy::StoreProxy;
use hangar_tests::wire::{all_messages, batch, expect_error, ingest_ok, range};
use hangar_tests::{Seeded, TestStack};
use serde_json::{Value, json};

/// A batch body naming `project` as the workspace's.
fn batch_of_project(seeded: &Seeded, project: &str, messages: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "sessionId": seeded.session,
        "projectId": project,
        "messages": messages,
    }))
    .expect("json")
}

async fn stack_behind_proxy() -> (StoreProxy, TestStack) {
    let proxy = StoreProxy::start(&hangar_tests::dynamodb_endpoint()).await;
    let stack = TestStack::start_with(|options| {
        options.dynamodb_endpoint = proxy.url.clone();
    })
    .await;
    (proxy, stack)
}

#[tokio::test]
async fn a_batch_naming_its_project_is_read_in_one_round_trip_and_written_once_per_message() {
    let (proxy, stack) = stack_behind_proxy().await;
    let seeded = stack.seed().await;
    let named = batch_of_project(&seeded, seeded.project.as_str(), range(1..=5));

    let (before, writes_before) = (proxy.calls(), proxy.writes());
    let stored = ingest_ok(&stack, &seeded, named).await;
    let calls = proxy.calls_since(&before);
    assert_eq!(stored.persisted, 5);
    assert_eq!(calls.get("batchgetitem"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("getitem"), None, "{calls:?}");
    assert_eq!(calls.get("putitem"), Some(&5), "{calls:?}");
    assert_eq!(calls.get("updateitem"), Some(&1), "{calls:?}");
    assert_eq!(proxy.writes() - writes_before, 6);

    // An agent that leaves the project out still works, at one more read.
    let before = proxy.calls();
    let stored = ingest_ok(&stack, &seeded, batch(&seeded.session, range(6..=8))).await;
    let calls = proxy.calls_since(&before);
    assert_eq!(stored.persisted, 3);
    assert_eq!(calls.get("getitem"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("batchgetitem"), None, "{calls:?}");

    // A re-sent batch writes no session update: nothing new was stored.
    let before = proxy.calls();
    let again = ingest_ok(
        &stack,
        &seeded,
        batch_of_project(&seeded, seeded.project.as_str(), range(1..=5)),
    )
    .await;
    assert_eq!(
        again,
        IngestResponse {
            persisted: 0,
            duplicates: 5,
            rejected: Vec::new()
        }
    );
    let calls = proxy.calls_since(&before);
    assert_eq!(calls.get("updateitem"), None, "{calls:?}");
}

#[tokio::test]
async fn a_batch_naming_another_project_reaches_nothing_and_a_bad_project_id_is_refused() {
    let (proxy, stack) = stack_behind_proxy().await;
    let seeded = stack.seed().await;
    let other = stack.seed().await;
    let token = stack.callback_token(&seeded.workspace);

    // The workspace's own session, under the other project: not the workspace's.
    let before = proxy.writes();
    let response = stack
        .post_messages(
            &seeded.workspace,
            Some(&token),
            batch_of_project(&seeded, other.project.as_str(), range(1..=2)),
        )
        .await;
    expect_error(response, 404, "session_not_found").await;
    // The other project's session, named with its own project: still not this workspace's.
    let theirs =
        json!({"sessionId": other.session, "projectId": other.project, "messages": range(1..=2)});
    let response = stack
        .post_messages(
            &seeded.workspace,
            Some(&token),
            serde_json::to_vec(&theirs).expect("json"),
        )
        .await;
    expect_error(response, 404, "session_not_found").await;
    assert_eq!(proxy.writes(), before, "a refused batch wrote to the store");
    assert!(all_messages(&stack, &seeded).await.messages.is_empty());
    assert!(all_messages(&stack, &other).await.messages.is_empty());

    for bad in [json!("bad id"), json!(""), json!(7)] {
        let body = json!({"sessionId": seeded.session, "projectId": bad, "messages": range(1..=1)});
        let response = stack
            .post_messages(
                &seeded.workspace,
                Some(&token),
                serde_json::to_vec(&body).expect("json"),
            )
            .await;
        expect_error(response, 400, "invalid_body").await;
    }
    assert!(all_messages(&stack, &seeded).await.messages.is_empty());
}
