//! A failed task's card in the browser: its reason, that its workspace is kept, and the
//! Discard and Retry buttons doing what they say.

use super::*;

/// `[kept?, retry?, discard?]` of the one card, with its status.
const ENDED_CARD: &str = "const c = document.querySelector('[data-testid=\"task-card\"]');
    if (!c) return null;
    const has = id => !!c.querySelector(`[data-testid=\"${id}\"]`);
    return {status: c.dataset.status, kept: has('task-kept'), retry: has('task-retry'),
            discard: has('task-discard'), reason: has('task-reason')};";

#[tokio::test]
async fn a_failed_task_shows_its_kept_workspace_and_discard_and_retry_work() {
    let script = tempfile::NamedTempFile::new().expect("script file");
    std::fs::write(
        script.path(),
        json!([{"say": "no"}, {"stop": "refusal"}]).to_string(),
    )
    .expect("write script");
    let stack = ui_stack(Some(&script)).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await.to_string();
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, &project, &owner)).await;

    browser.type_into("prompt", "Refuse this").await;
    browser.click("run-now").await;
    let ended = browser
        .wait_until(
            "the failed card offers its kept workspace",
            RUN_WAIT,
            ENDED_CARD,
            |card| card["status"] == "failed" && card["kept"] == true,
        )
        .await;
    assert_eq!(
        (&ended["retry"], &ended["discard"], &ended["reason"]),
        (&json!(true), &json!(true), &json!(true))
    );

    browser.click("task-discard").await;
    browser
        .wait_until("discarded", UI_WAIT, ENDED_CARD, |card| {
            card["kept"] == false && card["discard"] == false && card["retry"] == true
        })
        .await;

    browser.click("task-retry").await;
    let statuses = browser
        .wait_until(
            "the retried task ran and failed again, kept again",
            RUN_WAIT,
            ENDED_CARD,
            |card| card["status"] == "failed" && card["kept"] == true,
        )
        .await;
    assert_eq!(statuses["retry"], true);
    browser.close().await;
}

/// Failed before: a task that failed before its agent wrote anything (here no machine could
/// be started for it) left "No messages yet … appear here as they arrive" up for good.
#[tokio::test]
async fn a_task_that_failed_before_any_message_says_so_under_its_reason() {
    let stack = TestStack::start_with(|options| {
        options.web_root = Some(hangar_tests::browser::web_root());
        options.nodes.agent_binary = "/nonexistent/hangar-agent".into();
    })
    .await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await.to_string();
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, &project, &owner)).await;
    browser
        .type_into("prompt", "Run where no machine starts")
        .await;
    browser.click("run-now").await;
    let shown = browser
        .wait_until(
            "the failure and its reason shown",
            RUN_WAIT,
            "const has = id => !!document.querySelector(`[data-testid=\"${id}\"]`);
             return {reason: has('chat-reason'), ended: has('messages-ended'), empty: has('messages-empty')};",
            |v| v["reason"] == true && v["ended"] == true,
        )
        .await;
    assert_eq!(shown["empty"], false, "{shown}");
    browser.close().await;
}
