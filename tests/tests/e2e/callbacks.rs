//! The workspace callbacks' tokens: every way a token can be wrong is refused, and stores
//! nothing.

use hangar_protocol::WorkspaceId;
use hangar_tests::wire::{all_messages, batch, expect_error, ingest_ok, range};
use hangar_tests::{TestStack, unique};

#[tokio::test]
async fn callback_auth_failures_are_refused() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let body = || batch(&seeded.session, range(1..=1));

    expect_error(
        stack.post_messages(&seeded.workspace, None, body()).await,
        401,
        "missing_token",
    )
    .await;
    expect_error(
        stack
            .post_messages(&seeded.workspace, Some(""), body())
            .await,
        401,
        "missing_token",
    )
    .await;
    expect_error(
        stack
            .post_messages(&seeded.workspace, Some("not.a.jwt"), body())
            .await,
        401,
        "invalid_token",
    )
    .await;

    // Signed by a key the control plane does not trust.
    let stranger = TestStack::start().await;
    let forged = stranger.callback_token(&seeded.workspace);
    expect_error(
        stack
            .post_messages(&seeded.workspace, Some(&forged), body())
            .await,
        401,
        "invalid_token",
    )
    .await;

    // Tampered payload: the signature no longer matches.
    let genuine = stack.callback_token(&seeded.workspace);
    let other_ws = WorkspaceId::parse(unique("ws")).expect("id");
    let other_token = stack.callback_token(&other_ws);
    let parts: Vec<&str> = genuine.split('.').collect();
    let other_parts: Vec<&str> = other_token.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    expect_error(
        stack
            .post_messages(&other_ws, Some(&tampered), body())
            .await,
        401,
        "invalid_token",
    )
    .await;

    // Expired an hour ago (beyond any clock-skew leeway).
    let now = hangar_protocol::time::now_ms() / 1000;
    let expired = stack
        .issuer()
        .mint(&seeded.workspace, now - 7200, 3600)
        .expect("mint");
    expect_error(
        stack
            .post_messages(&seeded.workspace, Some(&expired), body())
            .await,
        401,
        "token_expired",
    )
    .await;

    // Minted by the right key but for another issuer.
    let wrong_issuer = hangar_functions::adapters::tokens::TokenIssuer::from_pem(
        &stack.keys.callback_private_pem,
        "someone-else",
    )
    .expect("key")
    .mint(&seeded.workspace, now, 3600)
    .expect("mint");
    expect_error(
        stack
            .post_messages(&seeded.workspace, Some(&wrong_issuer), body())
            .await,
        401,
        "invalid_token",
    )
    .await;

    // A valid token of another workspace.
    let other = stack.seed().await;
    let theirs = stack.callback_token(&other.workspace);
    expect_error(
        stack
            .post_messages(&seeded.workspace, Some(&theirs), body())
            .await,
        403,
        "workspace_mismatch",
    )
    .await;

    // A user token is not a callback token.
    let user = stack.user_token(&seeded.owner);
    expect_error(
        stack
            .post_messages(&seeded.workspace, Some(&user), body())
            .await,
        401,
        "invalid_token",
    )
    .await;

    assert!(all_messages(&stack, &seeded).await.messages.is_empty());
    // And the genuine token still works.
    assert_eq!(ingest_ok(&stack, &seeded, body()).await.persisted, 1);
}

/// A node's status report carries a reason of any length; the task keeps its last 2000
/// characters' worth (cut and marked), so a record and its frame stay small.
#[tokio::test]
async fn a_reported_reason_is_kept_within_its_limit() {
    let stack = TestStack::start().await;
    let (seeded, task) = stack.seed_running_task().await;
    let token = stack.callback_token(&seeded.workspace);
    let reason = "r".repeat(hangar_protocol::limits::REASON_MAX_CHARS * 5);
    let (status, body) = stack
        .call(
            "POST",
            &hangar_protocol::routes::workspace_status(&seeded.workspace),
            Some(&token),
            Some(serde_json::json!({"outcome": "failed", "reason": reason})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let failed = stack.task(&seeded.owner, &task).await;
    let kept = &failed.history.last().expect("history").reason;
    assert_eq!(
        kept.chars().count(),
        hangar_protocol::limits::REASON_MAX_CHARS
    );
    assert!(kept.ends_with('…'), "{kept}");
}

/// The development keys file holds private keys: its owner's only.
#[test]
fn the_development_keys_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("dev-keys.json");
    hangar_infra::DevKeys::load_or_generate(&path).expect("keys");
    let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}
