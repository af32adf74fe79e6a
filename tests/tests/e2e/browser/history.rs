//! A long session in the browser: it opens on its newest page (the last message after at
//! most 2 history requests, however long the session), and "Load earlier" pages back.
//! Failed before: the page read the history from seq 1 forward, 50 requests for 10,000.

use hangar_tests::browser::Browser;
use hangar_tests::wire::{batch, ingest_ok, range};

use super::{IDLE, SEQS, UI_WAIT, open_live, page_url, ui_stack};

const MESSAGES: u64 = 10_000;
/// The UI's page (the history route's largest).
const PAGE: u64 = 200;

/// How many history requests the page made so far.
const HISTORY_REQUESTS: &str = "return performance.getEntriesByType('resource')
    .filter(e => e.name.includes('/messages')).length;";

#[tokio::test]
async fn a_ten_thousand_message_session_opens_on_its_newest_page_and_loads_earlier_ones() {
    let stack = ui_stack(None).await;
    let seeded = stack.seed().await;
    stack.seed_messages(&seeded, 1..=MESSAGES - 1).await;
    // The last one through ingest, as the node sends it: the session's count and time move.
    ingest_ok(
        &stack,
        &seeded,
        batch(&seeded.session, range(MESSAGES..=MESSAGES)),
    )
    .await;

    let browser = Browser::start().await;
    let url = page_url(&stack, seeded.project.as_str(), &seeded.owner);
    open_live(&browser, &url).await;
    browser
        .wait_until("the history read", UI_WAIT, IDLE, |v| v == true)
        .await;
    let newest: Vec<u64> = ((MESSAGES - PAGE + 1)..=MESSAGES).collect();
    browser
        .wait_until("the newest page shown", UI_WAIT, SEQS, |v| {
            *v == serde_json::json!(newest)
        })
        .await;
    let requests = browser.js(HISTORY_REQUESTS).await;
    assert!(
        requests.as_u64().is_some_and(|n| (1..=2).contains(&n)),
        "{requests} history requests"
    );

    browser.click("load-earlier").await;
    let two_pages: Vec<u64> = ((MESSAGES - 2 * PAGE + 1)..=MESSAGES).collect();
    browser
        .wait_until("the page before shown in front", UI_WAIT, SEQS, |v| {
            *v == serde_json::json!(two_pages)
        })
        .await;
    browser.close().await;
}
