//! Live frames through the production push adapter (the AWS SDK's Management API client)
//! against a loopback stand-in for API Gateway's Management API (AWS cannot be reached from
//! here): every viewer of the project gets the frame, posts go out concurrently but never
//! more at once than the bound, and a connection the gateway says is gone is forgotten.

use std::time::Duration;

use hangar_functions::domain::live::POST_CONCURRENCY;
use hangar_protocol::time::now_ms;
use hangar_protocol::{ChatMessage, MessageId, MessageRole};
use hangar_tests::TestStack;
use hangar_tests::management_api::{ManagementApi, live_through, viewers_of};

#[tokio::test]
async fn a_frame_reaches_every_viewer_at_a_bounded_concurrency_and_a_gone_one_is_forgotten() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let gateway = ManagementApi::start(Duration::from_millis(20)).await;
    let state = &stack.stack.state;
    let live = live_through(&stack, &gateway).await;
    let viewers = POST_CONCURRENCY * 3 + 1;
    let connections = viewers_of(&stack, &seeded, viewers).await;
    let gone = &connections[5];
    gateway.set_gone(&gone.id);

    let message = ChatMessage {
        message_id: MessageId::new(),
        seq: 1,
        role: MessageRole::Assistant,
        content: "hello, viewers".into(),
        tool: None,
        permission: None,
        created_at: now_ms(),
    };
    live.messages_stored(
        &seeded.project,
        &seeded.session,
        std::slice::from_ref(&message),
    )
    .await;

    let posts = gateway.posts();
    assert_eq!(posts.len(), viewers - 1, "every viewer but the gone one");
    for connection in connections.iter().filter(|c| c.id != gone.id) {
        let post = posts
            .iter()
            .find(|post| post.connection == connection.id)
            .unwrap_or_else(|| panic!("no frame for {}", connection.id));
        assert!(post.frame.contains("hello, viewers"), "{}", post.frame);
    }
    let most = gateway.most_at_once();
    assert!(
        most > 1 && most <= POST_CONCURRENCY,
        "{most} posts at once; the bound is {POST_CONCURRENCY}"
    );
    let forgotten = state.store.get_connection(&gone.id).await.expect("read");
    assert!(forgotten.is_none(), "the gone connection was kept");
    let kept = state
        .store
        .get_connection(&connections[0].id)
        .await
        .expect("read");
    assert!(kept.is_some());
}
