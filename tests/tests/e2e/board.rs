//! The board's listing: pages of task summaries, however many tasks and however long their
//! prompts, so no answer nears Lambda's 6 MB response limit.

use hangar_protocol::limits::TASK_PROMPT_MAX_BYTES;
use hangar_protocol::routes;
use hangar_protocol::tasks::TaskPage;
use hangar_tests::TestStack;
use hangar_tests::fixtures::user;

/// What a Lambda function may answer (synchronous invocation payload).
const LAMBDA_RESPONSE_MAX_BYTES: usize = 6 * 1024 * 1024;

/// Failed before: the listing returned every task with its whole prompt in one answer.
#[tokio::test]
async fn a_board_of_two_hundred_long_tasks_is_read_in_small_pages_of_summaries() {
    let stack = TestStack::start().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let token = stack.user_token(&owner);
    let total = 200;
    for n in 0..total {
        let prompt = format!("{n:03}{}", "x".repeat(TASK_PROMPT_MAX_BYTES - 3));
        stack
            .submit_task(&owner, &project, &prompt, "backlog")
            .await;
    }

    let mut seen: Vec<String> = Vec::new();
    let mut path = routes::tasks(&project);
    let mut pages = 0;
    loop {
        let response = stack
            .http
            .get(stack.url(&path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("list");
        assert_eq!(response.status(), 200);
        let body = response.bytes().await.expect("body");
        assert!(
            body.len() < LAMBDA_RESPONSE_MAX_BYTES / 10,
            "{} bytes",
            body.len()
        );
        let page: TaskPage = serde_json::from_slice(&body).expect("a page");
        pages += 1;
        assert!(page.tasks.len() <= 50, "the default page");
        for task in &page.tasks {
            assert_eq!(task.prompt, None, "a summary carries no prompt");
            seen.push(task.title.clone());
        }
        match page.next_cursor {
            Some(cursor) => path = format!("{}?cursor={cursor}", routes::tasks(&project)),
            None => break,
        }
    }
    assert_eq!(seen.len(), total, "every task once");
    assert!((4..=5).contains(&pages), "{pages} pages");
    // Titles come from the prompts: newest first means the highest number first.
    let numbers: Vec<u32> = seen
        .iter()
        .map(|title| title[..3].parse().expect("numbered title"))
        .collect();
    let expected: Vec<u32> = (0..total as u32).rev().collect();
    assert_eq!(numbers, expected);
}

#[tokio::test]
async fn a_listing_refuses_a_limit_out_of_range_and_a_cursor_that_is_no_task_id() {
    let stack = TestStack::start().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let token = stack.user_token(&owner);
    for n in 0..3 {
        stack
            .submit_task(&owner, &project, &format!("task {n}"), "backlog")
            .await;
    }
    let list = |query: &str| format!("{}?{query}", routes::tasks(&project));
    for (query, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("limit=ten", "invalid_limit"),
        ("cursor=..%2F..", "invalid_cursor"),
    ] {
        let (status, body) = stack.call("GET", &list(query), Some(&token), None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{query}"
        );
    }
    let (status, first) = stack
        .call("GET", &list("limit=2"), Some(&token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(first["tasks"].as_array().map(Vec::len), Some(2));
    let cursor = first["nextCursor"].as_str().expect("a second page");
    let (_, rest) = stack
        .call(
            "GET",
            &list(&format!("limit=100&cursor={cursor}")),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(rest["tasks"].as_array().map(Vec::len), Some(1));
    assert!(rest.get("nextCursor").is_none(), "{rest}");
    let (_, max) = stack
        .call("GET", &list("limit=100"), Some(&token), None)
        .await;
    assert_eq!(max["tasks"].as_array().map(Vec::len), Some(3));
}
