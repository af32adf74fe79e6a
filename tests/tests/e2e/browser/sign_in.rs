//! Signing in from the page through the local stack's OpenID Connect provider: "Sign in",
//! the provider's page, back signed in by the authorization code flow with PKCE (no token in
//! the address), the user's name in the header, an access token that expires every few
//! seconds renewed by the refresh token while the page keeps working, and sign-out.

use std::time::Duration;

use hangar_protocol::routes;
use hangar_tests::browser::Browser;
use hangar_tests::fixtures::user;
use hangar_tests::unique;
use serde_json::json;

use super::{CARDS, UI_WAIT};

const ENTER: &str = "\u{E007}";
/// Access tokens last this long in this test (seconds).
const ACCESS_TTL: u64 = 4;

fn text_of(testid: &str) -> String {
    format!(
        "const el = document.querySelector('[data-testid=\"{testid}\"]'); return el ? el.textContent : null;"
    )
}

#[tokio::test]
async fn a_person_signs_in_with_pkce_and_stays_signed_in_across_token_expiry() {
    let root = hangar_tests::browser::web_root();
    // As deployed: the page takes no bare token, only the provider's sign-in.
    let stack = hangar_tests::TestStack::start_with(move |options| {
        options.web_root = Some(root);
        options.dev_token_sign_in = false;
    })
    .await;
    stack.stack.identity.set_access_ttl(ACCESS_TTL);
    let owner = user();
    let project = stack.new_project(&owner).await;
    // Ada has never signed in: the owner adds her by email.
    let email = format!("{}@example.com", unique("ada"));
    let (status, _) = stack
        .call(
            "POST",
            &routes::members(&project),
            Some(&stack.user_token(&owner)),
            Some(json!({"email": email})),
        )
        .await;
    assert_eq!(status, 200);

    let browser = Browser::start().await;
    // A bare token in the address is not taken here (development stacks only).
    let bare = stack.user_token(&owner);
    browser
        .goto(
            &stack
                .stack
                .url(&format!("/?project={project}#token={bare}")),
        )
        .await;
    browser
        .wait_until("the sign-in button", UI_WAIT, &text_of("sign-in"), |v| {
            v == "Sign in"
        })
        .await;
    assert_eq!(
        browser
            .js("return document.querySelector('[data-testid=\"token-input\"]') === null;")
            .await,
        json!(true),
        "no place to paste a token"
    );
    let violations = super::a11y::axe_violations(&browser).await;
    assert_eq!(
        violations,
        json!([]),
        "the sign-in page, axe-core: {violations:#}"
    );
    browser.click("sign-in").await;
    browser
        .wait_until(
            "the provider's sign-in page",
            UI_WAIT,
            "return document.querySelector('#another') ? location.pathname : null;",
            |v| v == "/oidc/authorize",
        )
        .await;
    browser
        .js(&format!(
            "const form = document.querySelector('#another');
             form.querySelector('input[name=email]').value = '{email}';
             form.querySelector('input[name=name]').value = 'Ada Lovelace';
             form.submit(); return true;"
        ))
        .await;

    browser
        .wait_until(
            "the project, signed in",
            UI_WAIT,
            &text_of("project-name"),
            |v| v == "Shop",
        )
        .await;
    browser
        .wait_until("the user's name", UI_WAIT, &text_of("user-name"), |v| {
            v == "Ada Lovelace"
        })
        .await;
    let address = browser.js("return location.href;").await;
    let address = address.as_str().expect("href");
    assert!(
        address.ends_with(&format!("/?project={project}")),
        "no code, state or token left in the address: {address}"
    );

    // Past two lifetimes of the first access token, the page has renewed it and still works.
    tokio::time::sleep(Duration::from_secs(ACCESS_TTL * 2 + 1)).await;
    assert!(
        stack.stack.identity.refreshes() >= 2,
        "refreshed {} times",
        stack.stack.identity.refreshes()
    );
    browser
        .type_into("prompt", &format!("Fix the footer{ENTER}"))
        .await;
    browser
        .wait_until(
            "the task submitted with a renewed token",
            UI_WAIT,
            CARDS,
            |cards| cards.as_array().is_some_and(|cards| cards.len() == 1),
        )
        .await;

    browser.click("sign-out").await;
    browser
        .wait_until("signed out", UI_WAIT, &text_of("sign-in"), |v| {
            v == "Sign in"
        })
        .await;
    let kept = browser
        .js("return localStorage.getItem('hangar.session');")
        .await;
    assert_eq!(kept, serde_json::Value::Null, "no token stays behind");
    browser.close().await;
}
