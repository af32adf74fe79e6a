//! Message ingest against the local stack on a real DynamoDB-compatible server: dedup,
//! every limit at its edge, malformed batches, conflicts.

use hangar_protocol::limits::{MESSAGE_CONTENT_MAX_BYTES, MSG_BATCH_MAX_BYTES, MSG_BATCH_MAX_SIZE};
use hangar_protocol::{ErrorCode, IngestResponse, MessageRole, SessionId, WorkspaceId};
use hangar_tests::wire::{all_messages, batch, expect_error, ingest_ok, message, range, seqs};
use hangar_tests::{TestStack, unique};
use serde_json::json;

#[tokio::test]
async fn a_resent_batch_is_all_duplicates_and_stored_once() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let body = batch(&seeded.session, range(1..=5));

    let first = ingest_ok(&stack, &seeded, body.clone()).await;
    assert_eq!(
        first,
        IngestResponse {
            persisted: 5,
            duplicates: 0,
            rejected: Vec::new()
        }
    );
    let second = ingest_ok(&stack, &seeded, body).await;
    assert_eq!(
        second,
        IngestResponse {
            persisted: 0,
            duplicates: 5,
            rejected: Vec::new()
        }
    );

    // A batch overlapping the stored ones persists only what is new.
    let overlap = ingest_ok(&stack, &seeded, batch(&seeded.session, range(4..=7))).await;
    assert_eq!(
        overlap,
        IngestResponse {
            persisted: 2,
            duplicates: 2,
            rejected: Vec::new()
        }
    );

    let page = all_messages(&stack, &seeded).await;
    assert_eq!(seqs(&page), (1..=7).collect::<Vec<_>>());
    let session = stack
        .stack
        .state
        .store
        .get_session(&seeded.project, &seeded.session)
        .await
        .expect("read session")
        .expect("session exists");
    assert_eq!(session.message_count, 7);
    assert_eq!(session.last_message_at, Some(1_700_000_000_007));
}

/// A body of exactly `size` bytes: two messages whose contents pad it out.
fn body_of_size(session: &SessionId, size: usize) -> Vec<u8> {
    let empty = batch(session, vec![message(1, ""), message(2, "")]);
    let padding = size - empty.len();
    let first = padding / 2;
    let body = batch(
        session,
        vec![
            message(1, &"a".repeat(first)),
            message(2, &"b".repeat(padding - first)),
        ],
    );
    assert_eq!(body.len(), size);
    body
}

#[tokio::test]
async fn every_batch_limit_is_enforced_at_its_edge() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let token = stack.callback_token(&seeded.workspace);
    let post = |body: Vec<u8>| stack.post_messages(&seeded.workspace, Some(&token), body);

    // Message count: MSG_BATCH_MAX_SIZE passes, one more is refused.
    let over = range(1..=(MSG_BATCH_MAX_SIZE as u64 + 1));
    expect_error(
        post(batch(&seeded.session, over)).await,
        413,
        "too_many_messages",
    )
    .await;
    let at_limit = ingest_ok(
        &stack,
        &seeded,
        batch(&seeded.session, range(1..=MSG_BATCH_MAX_SIZE as u64)),
    )
    .await;
    assert_eq!(at_limit.persisted, MSG_BATCH_MAX_SIZE as u32);

    // Body bytes: exactly MSG_BATCH_MAX_BYTES passes, one more byte is refused.
    let fresh = stack.seed().await;
    let fresh_token = stack.callback_token(&fresh.workspace);
    let response = stack
        .post_messages(
            &fresh.workspace,
            Some(&fresh_token),
            body_of_size(&fresh.session, MSG_BATCH_MAX_BYTES + 1),
        )
        .await;
    expect_error(response, 413, "batch_too_large").await;
    let ok = ingest_ok(
        &stack,
        &fresh,
        body_of_size(&fresh.session, MSG_BATCH_MAX_BYTES),
    )
    .await;
    assert_eq!(ok.persisted, 2);

    // Content bytes: exactly MESSAGE_CONTENT_MAX_BYTES (counted in UTF-8 bytes) passes.
    let third = stack.seed().await;
    let euro = "\u{20ac}"; // three bytes
    let too_long = format!("{}{}", euro.repeat(MESSAGE_CONTENT_MAX_BYTES / 3), "xyz");
    assert_eq!(too_long.len(), MESSAGE_CONTENT_MAX_BYTES + 1);
    let just_fits = &too_long[..too_long.len() - 1];
    let fits = ingest_ok(
        &stack,
        &third,
        batch(&third.session, vec![message(1, just_fits)]),
    )
    .await;
    assert_eq!(fits.persisted, 1);
    let answer = ingest_ok(
        &stack,
        &third,
        batch(&third.session, vec![message(2, &too_long)]),
    )
    .await;
    assert_eq!(answer.persisted, 0);
    assert_eq!(
        answer
            .rejected
            .iter()
            .map(|r| (r.seq, r.code.as_str()))
            .collect::<Vec<_>>(),
        [(2, "message_too_large")],
        "one byte over is refused, alone"
    );
    let page = all_messages(&stack, &third).await;
    assert_eq!(
        page.messages[0].content, just_fits,
        "multi-byte content survives intact"
    );
}

/// Every rule of the batch parser has its own unit test (`domain/ingest/batch.rs`); here,
/// one refusal of each kind crosses the real HTTP boundary with its status and code.
#[tokio::test]
async fn malformed_batches_get_clear_errors_and_store_nothing() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let token = stack.callback_token(&seeded.workspace);
    let session = &seeded.session;

    let mut bad_role = message(2, "x");
    bad_role["role"] = json!("robot");

    let cases: Vec<(Vec<u8>, u16, ErrorCode)> = vec![
        (b"{not json".to_vec(), 400, ErrorCode::InvalidBody),
        (
            batch(session, vec![message(2, "b"), message(1, "a")]),
            400,
            ErrorCode::SeqNotAscending,
        ),
        (
            batch(session, vec![message(1, "ok"), message(0, "zero")]),
            400,
            ErrorCode::InvalidSeq,
        ),
    ];
    for (body, status, code) in cases {
        let response = stack
            .post_messages(&seeded.workspace, Some(&token), body)
            .await;
        expect_error(response, status, code.as_str()).await;
    }
    // The valid first message of each unreadable batch was not written.
    assert!(all_messages(&stack, &seeded).await.messages.is_empty());

    // A message breaking a rule of its own is refused alone: its neighbours are stored and
    // a placeholder holds its seq, so viewers see no gap; a resend finds it again.
    let body = batch(
        session,
        vec![
            message(1, "before"),
            bad_role,
            message(3, "between"),
            huge_tool_at(4),
            message(5, "after"),
        ],
    );
    let answer = ingest_ok(&stack, &seeded, body.clone()).await;
    assert_eq!((answer.persisted, answer.duplicates), (3, 0));
    let refused: Vec<(u64, &str)> = answer
        .rejected
        .iter()
        .map(|r| (r.seq, r.code.as_str()))
        .collect();
    assert_eq!(refused, [(2, "invalid_role"), (4, "tool_info_too_large")]);
    let stored = all_messages(&stack, &seeded).await;
    assert_eq!(seqs(&stored), (1..=5).collect::<Vec<_>>());
    assert_eq!(stored.messages[1].role, MessageRole::System);
    assert!(
        stored.messages[1].content.contains("invalid_role"),
        "{}",
        stored.messages[1].content
    );
    let again = ingest_ok(&stack, &seeded, body).await;
    assert_eq!(
        (again.persisted, again.duplicates, again.rejected.len()),
        (0, 3, 2)
    );
    assert_eq!(
        seqs(&all_messages(&stack, &seeded).await),
        (1..=5).collect::<Vec<_>>()
    );
}

/// `message(seq, "")` whose tool title makes its tool info too large.
fn huge_tool_at(seq: u64) -> serde_json::Value {
    let mut huge = message(seq, "");
    huge["tool"] = json!({"toolCallId": "c1", "title": "t".repeat(9000)});
    huge
}

#[tokio::test]
async fn a_bad_batch_loses_nothing_in_flight_beside_it() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let token = stack.callback_token(&seeded.workspace);
    let mut requests = Vec::new();
    for chunk in 0..10u64 {
        let good = batch(&seeded.session, range(chunk * 5 + 1..=chunk * 5 + 5));
        let bad = batch(
            &seeded.session,
            vec![message(
                1000 + chunk,
                // Past the batch's byte limit: refused whole, before it is read.
                &"x".repeat(MSG_BATCH_MAX_BYTES + 1),
            )],
        );
        requests.push(stack.post_messages(&seeded.workspace, Some(&token), good));
        requests.push(stack.post_messages(&seeded.workspace, Some(&token), bad));
    }
    let statuses: Vec<u16> = futures::future::join_all(requests)
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 413).count(), 10);
    assert_eq!(
        seqs(&all_messages(&stack, &seeded).await),
        (1..=50).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn unknown_workspace_or_session_is_404_not_500() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;

    let ghost = WorkspaceId::parse(unique("ghost")).expect("id");
    let token = stack.callback_token(&ghost);
    let response = stack
        .post_messages(&ghost, Some(&token), batch(&seeded.session, range(1..=1)))
        .await;
    expect_error(response, 404, "workspace_not_found").await;

    let token = stack.callback_token(&seeded.workspace);
    let other_session = SessionId::parse(unique("session")).expect("id");
    let response = stack
        .post_messages(
            &seeded.workspace,
            Some(&token),
            batch(&other_session, range(1..=1)),
        )
        .await;
    expect_error(response, 404, "session_not_found").await;

    // Another project's session is not reachable through this workspace either.
    let other = stack.seed().await;
    let response = stack
        .post_messages(
            &seeded.workspace,
            Some(&token),
            batch(&other.session, range(1..=1)),
        )
        .await;
    expect_error(response, 404, "session_not_found").await;
    assert!(all_messages(&stack, &other).await.messages.is_empty());
}

#[tokio::test]
async fn a_sequence_held_by_another_message_is_a_conflict() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    ingest_ok(&stack, &seeded, batch(&seeded.session, range(1..=2))).await;
    let mut impostor = message(2, "different");
    impostor["messageId"] = json!("m-other");
    let token = stack.callback_token(&seeded.workspace);
    let response = stack
        .post_messages(
            &seeded.workspace,
            Some(&token),
            batch(
                &seeded.session,
                vec![message(1, "message 1"), impostor, message(3, "three")],
            ),
        )
        .await;
    let body = expect_error(response, 409, "sequence_conflict").await;
    assert!(body.message.contains("seq 2"), "{}", body.message);
    let page = all_messages(&stack, &seeded).await;
    assert_eq!(seqs(&page), vec![1, 2, 3]);
    assert_eq!(
        page.messages[1].message_id.as_str(),
        "m-0002",
        "the stored message is never overwritten"
    );
}
