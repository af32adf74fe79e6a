//! The project's settings panel: the owner sets the agent, its variables and a secret, and
//! the forge with its token; the secret and the token are taken and never shown again.

use super::*;

/// Replaces a field's value as typing would (the form is filled from the project).
async fn set(browser: &Browser, testid: &str, value: &str) {
    browser
        .js(&format!(
            "const e = document.querySelector('[data-testid=\"{testid}\"]'); e.value = {value:?}; e.dispatchEvent(new Event('input')); return true;"
        ))
        .await;
}

#[tokio::test]
async fn the_settings_panel_saves_agent_settings_and_write_only_secrets() {
    let stack = ui_stack(None).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await;
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, project.as_str(), &owner)).await;

    browser.click("settings-toggle").await;
    set(&browser, "settings-branch", "develop").await;
    set(&browser, "settings-agent", "codex-acp").await;
    browser.type_into("settings-env", "LOG_LEVEL=debug").await;
    browser
        .type_into("settings-secrets", "OPENAI_API_KEY=sk-browser-secret")
        .await;
    browser.type_into("settings-setup", "npm ci").await;
    browser
        .type_into("settings-forge-repository", "acme/shop")
        .await;
    browser
        .type_into("settings-forge-token", "ghp_browser_token")
        .await;
    browser.click("settings-save").await;
    browser
        .wait_until(
            "the panel closed after saving",
            UI_WAIT,
            "return !document.querySelector('[data-testid=\"settings\"]');",
            |closed| closed == true,
        )
        .await;

    let (_, saved) = stack
        .call(
            "GET",
            &routes::project(&project),
            Some(&stack.user_token(&owner)),
            None,
        )
        .await;
    assert_eq!(saved["defaultBranch"], "develop", "{saved}");
    assert_eq!(saved["agent"]["preset"], "codex-acp", "{saved}");
    assert_eq!(saved["agent"]["env"], json!({"LOG_LEVEL": "debug"}));
    assert_eq!(saved["agent"]["secretNames"], json!(["OPENAI_API_KEY"]));
    assert_eq!(saved["agent"]["setupScript"], "npm ci");
    assert_eq!(saved["forge"]["hasCredential"], true);
    let text = saved.to_string();
    assert!(
        !text.contains("sk-browser-secret") && !text.contains("ghp_browser_token"),
        "{text}"
    );

    // Opened again, the form shows the names, never the values.
    browser.click("settings-toggle").await;
    let shown = browser
        .js("return [document.querySelector('[data-testid=\"settings\"]').textContent, document.querySelector('[data-testid=\"settings-secrets\"]').value, document.querySelector('[data-testid=\"settings-forge-token\"]').value];")
        .await;
    assert!(
        shown[0]
            .as_str()
            .is_some_and(|t| t.contains("OPENAI_API_KEY") && t.contains("one is kept")),
        "{shown}"
    );
    assert_eq!((&shown[1], &shown[2]), (&json!(""), &json!("")));
    browser.close().await;
}
