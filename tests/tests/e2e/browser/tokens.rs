//! Personal API tokens from the projects page: a name makes one, shown once, that a script
//! then uses; Revoke stops it at once.

use hangar_protocol::{UserId, routes};
use hangar_tests::browser::Browser;
use hangar_tests::unique;

use super::{UI_WAIT, ui_stack};

const TOKENS: &str = "return [...document.querySelectorAll('[data-testid=\"api-token\"] .token-name')].map(e => e.textContent);";

#[tokio::test]
async fn a_token_is_made_on_the_page_used_by_a_script_and_revoked() {
    let stack = ui_stack(None).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await;
    let browser = Browser::start().await;
    browser
        .goto(
            &stack
                .stack
                .url(&format!("/#token={}", stack.user_token(&owner))),
        )
        .await;
    browser
        .wait_until("the tokens section", UI_WAIT, TOKENS, |names| {
            names == &serde_json::json!([])
        })
        .await;

    browser.type_into("token-name", "nightly script").await;
    browser.click("token-create").await;
    let token = browser
        .wait_until(
            "the new token, shown once",
            UI_WAIT,
            "const el = document.querySelector('[data-testid=\"token-secret\"]'); return el ? el.value : null;",
            |v| v.as_str().is_some_and(|t| t.starts_with("hgr_")),
        )
        .await;
    let token = token.as_str().expect("token").to_string();
    browser
        .wait_until("listed", UI_WAIT, TOKENS, |names| {
            names == &serde_json::json!(["nightly script"])
        })
        .await;

    let (status, listed) = stack
        .call("GET", routes::PROJECTS, Some(&token), None)
        .await;
    assert_eq!(
        (status, listed[0]["id"].as_str()),
        (200, Some(project.as_str()))
    );

    browser.click("token-revoke").await;
    browser
        .wait_until("gone from the list", UI_WAIT, TOKENS, |names| {
            names == &serde_json::json!([])
        })
        .await;
    let (status, _) = stack
        .call("GET", routes::PROJECTS, Some(&token), None)
        .await;
    assert_eq!(status, 401, "revoked at once");
    browser.close().await;
}
