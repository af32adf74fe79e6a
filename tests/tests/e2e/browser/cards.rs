//! A card's Archive and Delete: the task and its session leave the page (and, deleted, the
//! API); Delete asks first.

use hangar_protocol::UserId;
use hangar_tests::browser::Browser;
use hangar_tests::unique;

use super::{CARDS, UI_WAIT, open_live, page_url, ui_stack};

/// A backlog card's Archive takes the task off the board and its session off the sidebar;
/// the archived listing still has it.
#[tokio::test]
async fn archive_takes_a_backlog_task_and_its_session_off_the_page() {
    let stack = ui_stack(None).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await;
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, project.as_str(), &owner)).await;

    browser.type_into("prompt", "Tidy the README").await;
    browser.click("split-toggle").await;
    browser.click("save-to-backlog").await;
    browser
        .wait_until("the backlog card", UI_WAIT, CARDS, |cards| {
            cards.as_array().is_some_and(|cards| cards.len() == 1)
        })
        .await;
    const SESSIONS: &str = "return document.querySelectorAll('[data-testid=\"session\"]').length;";
    browser
        .wait_until("its session in the sidebar", UI_WAIT, SESSIONS, |n| n == 1)
        .await;

    browser.click("task-archive").await;
    browser
        .wait_until("the card gone", UI_WAIT, CARDS, |cards| {
            cards.as_array().is_some_and(Vec::is_empty)
        })
        .await;
    browser
        .wait_until("the session gone", UI_WAIT, SESSIONS, |n| n == 0)
        .await;
    let (_, archived) = stack
        .call(
            "GET",
            &format!("{}?archived=true", hangar_protocol::routes::tasks(&project)),
            Some(&stack.user_token(&owner)),
            None,
        )
        .await;
    assert_eq!(
        archived["tasks"][0]["title"], "Tidy the README",
        "{archived}"
    );
    browser.close().await;
}

/// A card's Delete asks first, then the task and its session are gone, for the API too.
#[tokio::test]
async fn delete_asks_then_removes_a_backlog_task_for_good() {
    let stack = ui_stack(None).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await;
    let task = stack
        .submit_task(&owner, &project, "Drop the old logo", "backlog")
        .await;
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, project.as_str(), &owner)).await;
    browser
        .wait_until("the backlog card", UI_WAIT, CARDS, |cards| {
            cards.as_array().is_some_and(|cards| cards.len() == 1)
        })
        .await;

    // Declined: nothing happens.
    browser
        .js("window.confirm = () => false; return true;")
        .await;
    browser.click("task-delete").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(browser.js(CARDS).await.as_array().map(Vec::len), Some(1));

    browser
        .js("window.confirm = () => true; return true;")
        .await;
    browser.click("task-delete").await;
    browser
        .wait_until("the card gone", UI_WAIT, CARDS, |cards| {
            cards.as_array().is_some_and(Vec::is_empty)
        })
        .await;
    let (status, _) = stack
        .call(
            "GET",
            &hangar_protocol::routes::task(&project, &task.id),
            Some(&stack.user_token(&owner)),
            None,
        )
        .await;
    assert_eq!(status, 404);
    browser.close().await;
}
