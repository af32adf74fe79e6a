//! The composer by keyboard: Enter runs the task, Shift+Enter is a new line, and the split
//! button's menu closes on Escape and on a click outside it. Failed before: Enter only
//! added a line, and the menu stayed open until its toggle was clicked again.

use hangar_protocol::UserId;
use hangar_tests::browser::Browser;
use hangar_tests::unique;

use super::{CARDS, UI_WAIT, open_live, page_url, ui_stack};

const ENTER: &str = "\u{E007}";
const SHIFT: &str = "\u{E008}";
/// Releases the modifiers held down so far.
const RELEASE: &str = "\u{E000}";
const ESCAPE: &str = "\u{E00C}";

const PROMPT_VALUE: &str = "return document.querySelector('[data-testid=\"prompt\"]').value;";
const MENU_OPEN: &str = "return !!document.querySelector('[data-testid=\"split-menu\"]');";

#[tokio::test]
async fn enter_runs_shift_enter_adds_a_line_and_escape_or_a_click_outside_closes_the_menu() {
    let stack = ui_stack(None).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await.to_string();
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, &project, &owner)).await;

    let typed = format!("Fix the login form{SHIFT}{ENTER}{RELEASE}and its tests");
    browser.type_into("prompt", &typed).await;
    let value = browser.js(PROMPT_VALUE).await;
    assert_eq!(value, "Fix the login form\nand its tests");
    assert_eq!(
        browser.js(CARDS).await,
        serde_json::json!([]),
        "nothing submitted yet"
    );

    browser.type_into("prompt", ENTER).await;
    browser
        .wait_until("the task submitted", UI_WAIT, CARDS, |cards| {
            cards.as_array().is_some_and(|cards| cards.len() == 1)
        })
        .await;
    browser
        .wait_until("the prompt cleared", UI_WAIT, PROMPT_VALUE, |v| v == "")
        .await;

    browser.click("split-toggle").await;
    assert_eq!(browser.js(MENU_OPEN).await, true);
    browser.type_into("prompt", ESCAPE).await;
    assert_eq!(browser.js(MENU_OPEN).await, false, "Escape closes it");

    browser.click("split-toggle").await;
    assert_eq!(browser.js(MENU_OPEN).await, true);
    // Outside the menu the page is covered by its backdrop: the click lands there.
    browser.click("menu-backdrop").await;
    assert_eq!(
        browser.js(MENU_OPEN).await,
        false,
        "a click outside closes it"
    );
    browser.close().await;
}
