//! Permission prompts on the page: the agent's request shows as buttons in the chat, a click
//! answers it (the agent goes on with that answer), and a prompt nobody answers says it
//! timed out and offers no button any more.

use hangar_protocol::UserId;
use hangar_tests::browser::Browser;
use hangar_tests::git::BareRepo;
use hangar_tests::unique;
use serde_json::{Value, json};

use super::{CARDS, RUN_WAIT, UI_WAIT, card, open_live, page_url, script_file, ui_stack};

/// The permission cards: `[{asked, options: [ids enabled], answer}]`.
const PERMISSIONS: &str = "return [...document.querySelectorAll('[data-testid=\"permission\"]')].map(p => ({
    asked: p.querySelector('.permission-asked').textContent,
    options: [...p.querySelectorAll('[data-testid=\"permission-option\"]')].filter(b => !b.disabled).map(b => b.dataset.optionId),
    answer: (p.querySelector('[data-testid=\"permission-answer\"]') || {}).textContent || null }));";

async fn click_option(browser: &Browser, option: &str) {
    browser
        .js(&format!(
            "const waiting = [...document.querySelectorAll('[data-testid=\"permission\"]')]
               .find(p => p.querySelector('[data-testid=\"permission-option\"]:not(:disabled)'));
             waiting.querySelector('[data-option-id=\"{option}\"]').click(); return true;"
        ))
        .await;
}

/// The cards once `count` of them show an answer.
async fn answered(browser: &Browser, what: &str, count: usize) -> Value {
    browser
        .wait_until(what, RUN_WAIT, PERMISSIONS, |cards| {
            cards.as_array().is_some_and(|cards| {
                cards.iter().filter(|c| !c["answer"].is_null()).count() == count
            })
        })
        .await
}

#[tokio::test]
async fn permissions_are_allowed_and_denied_from_the_page_and_the_agent_follows() {
    let steps = script_file(json!([
        {"permission": "Run the tests", "kind": "execute"},
        {"permission": "Delete the cache", "kind": "delete"},
        {"say": "All done."}
    ]));
    let stack = ui_stack(Some(&steps)).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let repo = BareRepo::seeded();
    let project = stack
        .create_project(
            &owner,
            json!({"name": "Asks", "repo": repo.url(), "permissions": {"default": "ask"}}),
        )
        .await
        .to_string();
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, &project, &owner)).await;
    browser.type_into("prompt", "Tidy up").await;
    browser.click("run-now").await;

    let cards = browser
        .wait_until(
            "the first prompt shows its buttons",
            RUN_WAIT,
            PERMISSIONS,
            |cards| cards[0]["options"] == json!(["allow", "reject"]),
        )
        .await;
    assert_eq!(cards[0]["asked"], "Permission requested: Run the tests.");
    click_option(&browser, "allow").await;
    let cards = answered(&browser, "the first answer is shown", 1).await;
    assert_eq!(
        cards[0]["answer"],
        format!("Allow once, answered by {owner}"),
        "the answer and who gave it"
    );

    browser
        .wait_until(
            "the second prompt shows its buttons",
            RUN_WAIT,
            PERMISSIONS,
            |cards| {
                cards.as_array().is_some_and(|c| c.len() == 2)
                    && cards[1]["options"] == json!(["allow", "reject"])
            },
        )
        .await;
    click_option(&browser, "reject").await;
    let cards = answered(&browser, "the second answer is shown", 2).await;
    assert_eq!(cards[1]["answer"], format!("Reject, answered by {owner}"));
    assert_eq!(
        cards[0]["options"],
        json!([]),
        "no button left on an answered prompt"
    );

    browser
        .wait_until("the task completes", RUN_WAIT, CARDS, |cards| {
            card(cards, "completed").is_some()
        })
        .await;
    // The agent got each answer as given.
    let said = browser
        .js("return [...document.querySelectorAll('[data-role=\"assistant\"] .msg-body')].map(m => m.textContent).join('\\n');")
        .await;
    let said = said.as_str().unwrap_or_default();
    let allowed = said.find("\"optionId\":\"allow\"");
    let rejected = said.find("\"optionId\":\"reject\"");
    assert!(
        allowed.is_some() && rejected.is_some() && allowed < rejected,
        "{said}"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_permission_nobody_answers_says_it_timed_out_and_offers_no_button() {
    let steps =
        script_file(json!([{"permission": "Deploy", "kind": "execute"}, {"say": "Stopped."}]));
    let stack = ui_stack(Some(&steps)).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let repo = BareRepo::seeded();
    let project = stack
        .create_project(
            &owner,
            json!({"name": "Asks", "repo": repo.url(),
                   "permissions": {"default": "ask", "timeoutSecs": 2}}),
        )
        .await
        .to_string();
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, &project, &owner)).await;
    browser.type_into("prompt", "Ship it").await;
    browser.click("run-now").await;
    browser
        .wait_until(
            "the prompt shows its buttons",
            UI_WAIT,
            PERMISSIONS,
            |cards| cards[0]["options"] == json!(["allow", "reject"]),
        )
        .await;
    let cards = answered(&browser, "the timeout is shown", 1).await;
    assert_eq!(cards[0]["answer"], "Reject: nobody answered in time");
    assert_eq!(cards[0]["options"], json!([]));
    browser.close().await;
}

#[tokio::test]
async fn opted_in_notifications_tell_of_a_waiting_permission_and_of_the_task_ending() {
    let steps = script_file(json!([{"permission": "Deploy", "kind": "execute"}, {"say": "Done."}]));
    let stack = ui_stack(Some(&steps)).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let repo = BareRepo::seeded();
    let project = stack
        .create_project(
            &owner,
            json!({"name": "Asks", "repo": repo.url(),
                   "permissions": {"default": "ask", "timeoutSecs": 2}}),
        )
        .await;
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, project.as_str(), &owner)).await;
    // The browser's own Notification, with a record of what the page raised.
    let permission = browser
        .js("window.raised = []; const Shown = window.Notification;
             window.Notification = class extends Shown {
               constructor(title, options) { super(title, options); window.raised.push(title); } };
             return Shown.permission;")
        .await;
    assert_eq!(permission, "granted");
    browser.click("notify-toggle").await;
    browser
        .wait_until("notifications are on", UI_WAIT,
            "return document.querySelector('[data-testid=\"notify-toggle\"]').getAttribute('aria-pressed');",
            |v| v == "true")
        .await;
    stack.submit_task(&owner, &project, "Ship it", "run").await;
    let raised = browser
        .wait_until(
            "a notification for each",
            RUN_WAIT,
            "return window.raised;",
            |raised| raised.as_array().is_some_and(|r| r.len() >= 2),
        )
        .await;
    assert_eq!(
        raised,
        json!(["The agent asks for permission", "Task completed: Ship it"]),
        "once each"
    );
    browser.close().await;
}
