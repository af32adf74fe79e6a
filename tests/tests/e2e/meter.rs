//! The local stack's meter, which the cost benchmark prices: each HTTP request is one
//! invocation of its route's function, each socket's `$connect` and `$disconnect` one
//! more, and each frame a viewer is sent one posted message.

use std::time::Duration;

use hangar_protocol::routes;
use hangar_tests::fixtures::user;
use hangar_tests::{TestStack, eventually};

#[tokio::test]
async fn the_local_stack_counts_each_invocation_under_its_route_and_each_frame_posted() {
    let stack = TestStack::start().await;
    let meter = &stack.stack.hub.meter;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let token = stack.user_token(&owner);
    for _ in 0..3 {
        let (status, _) = stack
            .call("GET", routes::PROJECTS, Some(&token), None)
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = stack
        .call("GET", "/api/no-such-route", Some(&token), None)
        .await;
    assert_eq!(status, 404);

    let invocations = meter.invocations();
    assert_eq!(
        invocations["POST /api/projects"].count, 1,
        "{invocations:?}"
    );
    assert_eq!(invocations["GET /api/projects"].count, 3, "{invocations:?}");
    assert!(
        !invocations
            .keys()
            .any(|route| route.contains("no-such-route")),
        "a request no route takes invokes no function: {invocations:?}"
    );

    let frames = meter.frames_posted();
    let viewer = stack.viewer(&owner, &project).await;
    stack
        .submit_task(&owner, &project, "Backlog", "backlog")
        .await;
    eventually(
        "the task frame is posted",
        Duration::from_secs(10),
        async || meter.frames_posted() > frames,
    )
    .await;
    drop(viewer);
    eventually("$disconnect runs", Duration::from_secs(10), async || {
        meter.invocations().contains_key("$disconnect")
    })
    .await;
    assert_eq!(meter.invocations()["$connect"].count, 1);
}
