//! Ingest batches as a node agent sends them, for the end-to-end tests.

use hangar_protocol::{ErrorBody, IngestResponse, MessagesPage, SessionId};
use serde_json::{Value, json};

use crate::{Seeded, TestStack};

/// An assistant message in wire form with a messageId derived from its seq.
pub fn message(seq: u64, content: &str) -> Value {
    json!({
        "messageId": format!("m-{seq:04}"),
        "seq": seq,
        "role": "assistant",
        "content": content,
        "createdAt": 1_700_000_000_000u64 + seq,
    })
}

/// A batch body of `messages` for `session`.
pub fn batch(session: &SessionId, messages: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "sessionId": session, "messages": messages })).expect("json")
}

/// Messages for every seq of `seqs`.
pub fn range(seqs: std::ops::RangeInclusive<u64>) -> Vec<Value> {
    seqs.map(|seq| message(seq, &format!("message {seq}")))
        .collect()
}

/// Posts `body` with the seeded workspace's token; the call must succeed.
pub async fn ingest_ok(stack: &TestStack, seeded: &Seeded, body: Vec<u8>) -> IngestResponse {
    let token = stack.callback_token(&seeded.workspace);
    let response = stack
        .post_messages(&seeded.workspace, Some(&token), body)
        .await;
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, 200, "ingest failed: {text}");
    serde_json::from_str(&text).expect("ingest response")
}

/// The response is the error `status` with `code` and a message.
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> ErrorBody {
    assert_eq!(response.status().as_u16(), status, "status for {code}");
    let body: ErrorBody = response.json().await.expect("error body is {code,message}");
    assert_eq!(body.code, code, "{}", body.message);
    assert!(!body.message.is_empty());
    body
}

/// Every stored message of the seeded session, as its owner reads them.
pub async fn all_messages(stack: &TestStack, seeded: &Seeded) -> MessagesPage {
    let token = stack.user_token(&seeded.owner);
    let response = stack.get_messages(seeded, Some(&token), "?limit=200").await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("page")
}

/// The seqs of a page, in order.
pub fn seqs(page: &MessagesPage) -> Vec<u64> {
    page.messages.iter().map(|m| m.seq).collect()
}
