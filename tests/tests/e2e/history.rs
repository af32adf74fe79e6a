//! History: the stored messages paged by seq, for members only.

use hangar_protocol::{MessagesPage, SessionId, UserId, routes};
use hangar_tests::wire::{all_messages, batch, expect_error, ingest_ok, message, range, seqs};
use hangar_tests::{Seeded, TestStack, unique};

#[tokio::test]
async fn history_is_ordered_by_sequence_whatever_the_arrival_order() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    ingest_ok(&stack, &seeded, batch(&seeded.session, range(11..=15))).await;
    ingest_ok(&stack, &seeded, batch(&seeded.session, range(1..=10))).await;
    // Seq 100 sorts after 15 only if the store orders numerically, not as text.
    ingest_ok(
        &stack,
        &seeded,
        batch(&seeded.session, vec![message(100, "late")]),
    )
    .await;

    let page = all_messages(&stack, &seeded).await;
    let mut expected: Vec<u64> = (1..=15).collect();
    expected.push(100);
    assert_eq!(seqs(&page), expected);
    assert_eq!(page.messages[0].content, "message 1");
    assert_eq!(page.next_after, 100);
    assert!(!page.has_more);
}

#[tokio::test]
async fn history_pages_from_a_cursor() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    ingest_ok(&stack, &seeded, batch(&seeded.session, range(1..=25))).await;
    let token = stack.user_token(&seeded.owner);

    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let response = stack
            .get_messages(&seeded, Some(&token), &format!("?after={after}&limit=10"))
            .await;
        assert_eq!(response.status(), 200);
        let page: MessagesPage = response.json().await.expect("page");
        pages.push(seqs(&page));
        after = page.next_after;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(
        pages,
        vec![
            (1..=10).collect::<Vec<_>>(),
            (11..=20).collect(),
            (21..=25).collect()
        ]
    );

    // Past the end: empty, and the cursor stays put so a poller can reuse it.
    let response = stack.get_messages(&seeded, Some(&token), "?after=25").await;
    let page: MessagesPage = response.json().await.expect("page");
    assert!(page.messages.is_empty());
    assert_eq!(page.next_after, 25);
    assert!(!page.has_more);

    // Exactly a full page left: has_more is false, not a phantom next page.
    let response = stack
        .get_messages(&seeded, Some(&token), "?after=15&limit=10")
        .await;
    let page: MessagesPage = response.json().await.expect("page");
    assert_eq!(seqs(&page), (16..=25).collect::<Vec<_>>());
    assert!(!page.has_more);

    for (query, code) in [
        ("?limit=0", "invalid_limit"),
        ("?limit=201", "invalid_limit"),
        ("?after=-3", "invalid_after"),
    ] {
        expect_error(
            stack.get_messages(&seeded, Some(&token), query).await,
            400,
            code,
        )
        .await;
    }
    let response = stack
        .get_messages(&seeded, Some(&token), "?limit=200")
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn history_requires_a_member_user_token() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    ingest_ok(&stack, &seeded, batch(&seeded.session, range(1..=3))).await;

    expect_error(
        stack.get_messages(&seeded, None, "").await,
        401,
        "missing_token",
    )
    .await;
    let callback = stack.callback_token(&seeded.workspace);
    expect_error(
        stack.get_messages(&seeded, Some(&callback), "").await,
        401,
        "invalid_token",
    )
    .await;
    let outsider = stack.user_token(&UserId::parse(unique("user")).expect("id"));
    expect_error(
        stack.get_messages(&seeded, Some(&outsider), "").await,
        403,
        "not_a_member",
    )
    .await;

    let owner = stack.user_token(&seeded.owner);
    let mut ghost_project = Seeded {
        project: hangar_protocol::ProjectId::parse(unique("p")).expect("id"),
        ..stack.seed().await
    };
    ghost_project.owner = seeded.owner.clone();
    expect_error(
        stack.get_messages(&ghost_project, Some(&owner), "").await,
        404,
        "project_not_found",
    )
    .await;
    let ghost_session = Seeded {
        project: seeded.project.clone(),
        owner: seeded.owner.clone(),
        session: SessionId::parse(unique("session")).expect("id"),
        workspace: seeded.workspace.clone(),
    };
    expect_error(
        stack.get_messages(&ghost_session, Some(&owner), "").await,
        404,
        "session_not_found",
    )
    .await;

    let response = stack
        .http
        .get(stack.url("/api/projects/bad%23id/sessions/x/messages"))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("request");
    expect_error(response, 400, "invalid_path").await;
    let response = stack
        .http
        .delete(stack.url(&routes::workspace_messages(&seeded.workspace)))
        .send()
        .await
        .expect("request");
    expect_error(response, 405, "method_not_allowed").await;
    let response = stack
        .http
        .get(stack.url("/api/nowhere"))
        .send()
        .await
        .expect("request");
    expect_error(response, 404, "route_not_found").await;
}

/// A session opens on its newest page in one request, and pages back with `before` to the
/// first message; `after` keeps paging forward from where a page ends.
#[tokio::test]
async fn history_opens_on_the_newest_page_and_loads_earlier_ones_with_before() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    for start in (1..=250).step_by(50) {
        let body = batch(&seeded.session, range(start..=start + 49));
        ingest_ok(&stack, &seeded, body).await;
    }
    let token = stack.user_token(&seeded.owner);
    let page = |query: String| {
        let (stack, seeded, token) = (&stack, &seeded, &token);
        async move {
            let response = stack.get_messages(seeded, Some(token), &query).await;
            assert_eq!(response.status(), 200, "{query}");
            response.json::<MessagesPage>().await.expect("page")
        }
    };
    let newest = page("?limit=100".into()).await;
    assert_eq!(seqs(&newest), (151..=250).collect::<Vec<_>>());
    assert_eq!((newest.has_earlier, newest.has_more), (Some(true), false));
    assert_eq!(newest.next_after, 250);

    let mut first = newest.messages[0].seq;
    let mut earlier = Vec::new();
    loop {
        let older = page(format!("?before={first}&limit=100")).await;
        earlier.push(seqs(&older));
        first = older.messages[0].seq;
        if older.has_earlier != Some(true) {
            break;
        }
    }
    assert_eq!(
        earlier,
        vec![(51..=150).collect::<Vec<_>>(), (1..=50).collect()]
    );
    let none = page("?before=1".into()).await;
    assert!(none.messages.is_empty());
    assert_eq!(none.has_earlier, Some(false));
    let forward = page("?after=0&limit=3".into()).await;
    assert_eq!(seqs(&forward), vec![1, 2, 3]);
    assert_eq!(forward.has_earlier, None);

    let window = page("?after=3&before=9".into()).await;
    assert_eq!(seqs(&window), vec![4, 5, 6, 7, 8]);
    assert!(!window.has_more);
    let response = stack.get_messages(&seeded, Some(&token), "?before=x").await;
    expect_error(response, 400, "invalid_before").await;
}
