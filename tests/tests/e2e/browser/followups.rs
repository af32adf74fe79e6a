//! Writing to the agent from the page: a message to a running agent shows as sending, then
//! as the session's stored `user` message, and the agent answers it after its turn; a
//! message to an ended task continues it; Stop ends the turn under way.

use hangar_protocol::UserId;
use hangar_tests::browser::Browser;
use hangar_tests::unique;
use serde_json::{Value, json};

use super::{CARDS, RUN_WAIT, UI_WAIT, card, open_live, page_url, script_file, ui_stack};

const ENTER: &str = "\u{E007}";

/// `[role, text]` of the shown messages, in page order.
const SHOWN: &str = "return [...document.querySelectorAll('[data-testid=\"message\"]')]
    .map(m => [m.dataset.role, (m.querySelector('.msg-body') || {}).textContent || '']);";

fn has(shown: &Value, role: &str, text: &str) -> bool {
    shown
        .as_array()
        .is_some_and(|all| all.iter().any(|m| m[0] == role && m[1] == text))
}

#[tokio::test]
async fn a_follow_up_reaches_the_running_agent_and_one_to_an_ended_task_continues_it() {
    // The thought ends the first text message, so it shows while the turn goes on.
    let steps = script_file(
        json!([{"say": "Working."}, {"think": "Hmm."}, {"sleepMs": 2500}, {"say": "Turn done."}]),
    );
    let stack = ui_stack(Some(&steps)).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await.to_string();
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, &project, &owner)).await;
    browser.type_into("prompt", "Fix the footer").await;
    browser.click("run-now").await;
    browser
        .wait_until("the agent is working", RUN_WAIT, SHOWN, |shown| {
            has(shown, "assistant", "Working.")
        })
        .await;

    browser
        .type_into("follow-up", &format!("Also the header{ENTER}"))
        .await;
    let sending = browser
        .js("return [...document.querySelectorAll('[data-testid=\"sending\"] .msg-body')].map(m => m.textContent);")
        .await;
    let shown = browser
        .wait_until("the follow-up is stored", UI_WAIT, SHOWN, |shown| {
            has(shown, "user", "Also the header")
        })
        .await;
    assert!(
        sending == json!(["Also the header"]) || has(&shown, "user", "Also the header"),
        "shown as sending until stored: {sending}"
    );
    browser
        .wait_until(
            "the agent answers it after its turn",
            RUN_WAIT,
            SHOWN,
            |shown| has(shown, "assistant", "Follow-up received: Also the header"),
        )
        .await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('[data-testid=\"sending\"]').length;")
            .await,
        0,
        "nothing left sending"
    );
    browser
        .wait_until("the task completes", RUN_WAIT, CARDS, |cards| {
            card(cards, "completed").is_some()
        })
        .await;

    // Written to the ended task: it runs again and the agent takes the message.
    browser
        .type_into("follow-up", &format!("One more thing{ENTER}"))
        .await;
    browser
        .wait_until("the task runs again", RUN_WAIT, CARDS, |cards| {
            card(cards, "running").is_some()
                || card(cards, "queued").is_some()
                || card(cards, "provisioning").is_some()
                || card(cards, "starting").is_some()
        })
        .await;
    let shown = browser
        .wait_until("the continued run answers", RUN_WAIT, SHOWN, |shown| {
            has(shown, "assistant", "Turn done.")
                && has(shown, "user", "One more thing")
                && shown
                    .as_array()
                    .is_some_and(|all| all.iter().filter(|m| m[1] == "Turn done.").count() == 2)
        })
        .await;
    let users: Vec<&Value> = shown
        .as_array()
        .expect("shown")
        .iter()
        .filter(|m| m[0] == "user")
        .map(|m| &m[1])
        .collect();
    assert_eq!(
        users,
        [
            &json!("Fix the footer"),
            &json!("Also the header"),
            &json!("One more thing")
        ]
    );
    browser.close().await;
}

#[tokio::test]
async fn stop_ends_the_turn_under_way_from_the_page() {
    let steps =
        script_file(json!([{"say": "Starting."}, {"sleepMs": 60000}, {"say": "Never said."}]));
    let stack = ui_stack(Some(&steps)).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await.to_string();
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, &project, &owner)).await;
    browser.type_into("prompt", "Take your time").await;
    browser.click("run-now").await;
    browser
        .wait_until(
            "Stop is offered while the agent works",
            RUN_WAIT,
            "return !!document.querySelector('[data-testid=\"stop-turn\"]');",
            |v| v == true,
        )
        .await;
    browser.click("stop-turn").await;
    browser
        .wait_until("the task completes", UI_WAIT, CARDS, |cards| {
            card(cards, "completed").is_some()
        })
        .await;
    let shown = browser.js(SHOWN).await;
    assert!(!has(&shown, "assistant", "Never said."), "{shown}");
    browser.close().await;
}
