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
