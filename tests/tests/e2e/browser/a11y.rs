//! The page for everyone: axe-core's WCAG 2 A and AA rules find nothing on a project page
//! with a finished task, the page is usable by keyboard alone, and on a 390 x 844 phone
//! one panel shows at a time, with a switcher, nothing cut off.

use super::*;

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

/// axe-core, as `scripts/setup` installs it (`HANGAR_TEST_AXE`, set by `scripts/test`).
fn axe_source() -> String {
    let path = std::env::var("HANGAR_TEST_AXE").expect(
        "HANGAR_TEST_AXE names axe.min.js (scripts/test sets it; scripts/setup installs it)",
    );
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// A project page with one finished task, its session open; the page's address.
/// What axe-core's WCAG 2 A and AA rules find on the page the browser shows.
pub(super) async fn axe_violations(browser: &Browser) -> serde_json::Value {
    browser.js(&format!("{}\nreturn true;", axe_source())).await;
    browser
        .js("return axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})
               .then(r => r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' '))})));")
        .await
}

async fn finished_task(browser: &Browser, stack: &TestStack, owner: &UserId) -> String {
    let project = stack.new_project(owner).await.to_string();
    let url = page_url(stack, &project, owner);
    open_live(browser, &url).await;
    browser.type_into("prompt", "Add a changelog").await;
    browser.click("run-now").await;
    browser
        .wait_until("the task completes", RUN_WAIT, CARDS, |cards| {
            card(cards, "completed").is_some()
        })
        .await;
    url
}

#[tokio::test]
async fn the_page_passes_axe_wcag_a_and_aa_and_works_by_keyboard() {
    let stack = ui_stack(None).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let browser = Browser::start().await;
    let url = finished_task(&browser, &stack, &owner).await;

    let violations = axe_violations(&browser).await;
    assert_eq!(violations, json!([]), "axe-core: {violations:#}");

    // By keyboard alone, on a fresh page: Tab reaches the session in the sidebar, Enter
    // opens it.
    open_live(&browser, &url).await;
    browser
        .wait_until(
            "the sessions load",
            UI_WAIT,
            "return document.querySelectorAll('[data-testid=\"session\"]').length;",
            |n| n == 1,
        )
        .await;
    let mut reached = false;
    for _ in 0..40 {
        browser.press(TAB).await;
        let focused = browser
            .js("return document.activeElement.dataset.testid || document.activeElement.tagName;")
            .await;
        if focused == "session" {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab reaches the session");
    browser.press(ENTER).await;
    browser
        .wait_until(
            "Enter opens the session",
            UI_WAIT,
            "return document.querySelectorAll('[data-testid=\"message\"]').length;",
            |n| n.as_u64().unwrap_or(0) >= 2,
        )
        .await;
    browser.close().await;
}

/// What each panel shows: `[sessions, chat, board]` displayed, and whether the page is
/// wider than the viewport.
const SHOWN: &str = "const shown = sel => { const e = document.querySelector(sel); return !!e && getComputedStyle(e).display !== 'none'; };
    return [shown('.sidebar'), shown('.chat'), shown('.board'),
            document.documentElement.scrollWidth > window.innerWidth, window.innerWidth];";

#[tokio::test]
async fn a_task_is_submitted_and_watched_on_a_phone() {
    let stack = ui_stack(None).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await.to_string();
    let browser = Browser::start().await;
    browser.resize(390, 844).await;
    open_live(&browser, &page_url(&stack, &project, &owner)).await;
    let shown = browser.js(SHOWN).await;
    assert_eq!(shown[4], 390, "the viewport is a phone's");
    assert_eq!(
        shown,
        json!([false, true, false, false, 390]),
        "the chat, alone, not cut off"
    );
    let composer = browser
        .js("const r = document.querySelector('[data-testid=\"prompt\"]').getBoundingClientRect();
             return r.width > 100 && r.right <= window.innerWidth && r.bottom <= window.innerHeight;")
        .await;
    assert_eq!(composer, true, "the composer is on screen");

    browser
        .type_into("prompt", "Fix the typo in the README")
        .await;
    browser.click("run-now").await;
    browser
        .wait_until(
            "messages stream in the chat",
            RUN_WAIT,
            "return document.querySelectorAll('[data-testid=\"message\"]').length;",
            |n| n.as_u64().unwrap_or(0) >= 2,
        )
        .await;

    browser.click("show-board").await;
    assert_eq!(
        browser.js(SHOWN).await,
        json!([false, false, true, false, 390])
    );
    browser
        .wait_until("the card is done, on screen", RUN_WAIT,
            "const c = document.querySelector('[data-testid=\"task-card\"][data-status=\"completed\"]');
             return c ? c.getBoundingClientRect().right <= window.innerWidth : false;",
            |v| v == true)
        .await;

    browser.click("show-sessions").await;
    assert_eq!(
        browser.js(SHOWN).await,
        json!([true, false, false, false, 390])
    );
    browser.click("show-chat").await;
    assert_eq!(
        browser.js(SHOWN).await,
        json!([false, true, false, false, 390])
    );
    browser.close().await;
}

#[tokio::test]
async fn the_board_opens_full_width_and_a_backlog_card_dragged_onto_running_runs() {
    let stack = ui_stack(None).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await.to_string();
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, &project, &owner)).await;
    browser.type_into("prompt", "Later: tidy the imports").await;
    browser.click("split-toggle").await;
    browser.click("save-to-backlog").await;
    browser
        .wait_until("the card is parked", UI_WAIT, CARDS, |cards| {
            card(cards, "backlog").is_some()
        })
        .await;

    // Edited on its card before it runs.
    browser.click("task-edit").await;
    browser
        .wait_until("the form holds the task's prompt", UI_WAIT,
            "const p = document.querySelector('[data-testid=\"edit-prompt\"]'); return p ? p.value : null;",
            |v| v == "Later: tidy the imports")
        .await;
    browser
        .js("const t = document.querySelector('[data-testid=\"edit-title\"]'); t.value = 'Tidy imports';
             t.dispatchEvent(new Event('input')); return true;")
        .await;
    browser.click("edit-save").await;
    browser
        .wait_until("the card shows the new title", UI_WAIT,
            "const c = document.querySelector('[data-testid=\"task-card\"] .card-title'); return c ? c.textContent : null;",
            |v| v == "Tidy imports")
        .await;

    browser.click("show-board").await;
    browser
        .wait_until(
            "the board opens full width, a column per status",
            UI_WAIT,
            "return [getComputedStyle(document.querySelector('.chat')).display,
                     getComputedStyle(document.querySelector('.kanban')).gridTemplateColumns.split(' ').length];",
            |wide| wide == &json!(["none", 5]),
        )
        .await;

    browser
        .js("const card = document.querySelector('[data-testid=\"task-card\"][data-status=\"backlog\"]');
             const running = document.querySelector('[data-testid=\"column-running\"]');
             const data = new DataTransfer();
             card.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: data}));
             running.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: data}));
             running.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: data}));
             return true;")
        .await;
    browser
        .wait_until(
            "the dropped task runs to its end",
            RUN_WAIT,
            CARDS,
            |cards| card(cards, "completed").is_some(),
        )
        .await;

    // Back to the chat: it kept its session and messages.
    browser.click("show-chat").await;
    let chat = browser
        .js(
            "return [getComputedStyle(document.querySelector('.chat')).display,
                     document.querySelectorAll('[data-testid=\"message\"]').length];",
        )
        .await;
    assert_eq!(chat[0], "flex");
    browser.close().await;
}
