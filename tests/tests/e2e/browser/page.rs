//! What a watcher sees around the transcript: the split button's options shape the task
//! (its title, its VM size), the session header follows the run (status, step, times), every
//! message shows when it was written (exact on hover), tool output folds, and the sidebar's
//! count and last activity move with the frames, without a reload.

use super::*;

async fn set(browser: &Browser, testid: &str, value: &str) {
    browser
        .js(&format!(
            "const e = document.querySelector('[data-testid=\"{testid}\"]'); e.value = {value:?};
             e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change')); return true;"
        ))
        .await;
}

const HEADER: &str = "const h = document.querySelector('[data-testid=\"session-header\"]');
    return h ? [h.dataset.status, h.querySelector('[data-testid=\"session-step\"]').textContent] : null;";

#[tokio::test]
async fn the_header_times_sidebar_and_options_follow_a_run() {
    let lines: String = (1..=10).map(|i| format!("line {i}\n")).collect();
    let script = script_file(json!([
        {"say": "Looking.", "chunks": 2}, {"sleepMs": 400},
        {"update": {"sessionUpdate": "tool_call", "toolCallId": "t1", "title": "Run the tests", "kind": "execute", "status": "pending"}},
        {"sleepMs": 400},
        {"update": {"sessionUpdate": "tool_call_update", "toolCallId": "t1", "status": "completed",
                    "content": [{"type": "content", "content": {"type": "text", "text": lines}}]}},
        {"say": "Done."}
    ]));
    let stack = ui_stack(Some(&script)).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await;
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, project.as_str(), &owner)).await;

    browser.click("split-toggle").await;
    set(&browser, "task-title", "Health check").await;
    set(&browser, "task-vm-size", "medium").await;
    browser
        .type_into("prompt", "Add a health check endpoint")
        .await;
    browser.click("run-now").await;

    let header = browser
        .wait_until(
            "the header shows the agent working",
            RUN_WAIT,
            HEADER,
            |h| h[0] == "running",
        )
        .await;
    assert_eq!(header[1], "the agent is working");
    browser
        .wait_until("the run completes", RUN_WAIT, HEADER, |h| {
            h[0] == "completed"
        })
        .await;
    let tasks = stack
        .call(
            "GET",
            &routes::tasks(&project),
            Some(&stack.user_token(&owner)),
            None,
        )
        .await
        .1;
    assert_eq!(tasks["tasks"][0]["title"], "Health check");
    assert_eq!(tasks["tasks"][0]["vmSize"], "medium");

    // Every message says when it was written; the exact time is on hover.
    let times = browser
        .js("return [...document.querySelectorAll('[data-testid=\"message\"]')].map(m => {
                const t = m.querySelector('[data-testid=\"message-time\"]');
                return t ? [t.textContent, t.getAttribute('title'), t.getAttribute('datetime')] : null; });")
        .await;
    let times = times.as_array().expect("times");
    assert!(times.len() >= 3, "{times:?}");
    for time in times {
        assert_eq!(time[0], "just now", "{time}");
        assert!(time[1].as_str().is_some_and(|t| !t.is_empty()), "{time}");
        assert!(time[2].as_str().is_some_and(|t| t.ends_with('Z')), "{time}");
    }
    // The tool call's long output starts folded under its card.
    let folded = browser
        .js("return [...document.querySelectorAll('[data-testid=\"tool-output\"]')].map(d => [d.open, d.querySelector('summary').textContent]);")
        .await;
    assert_eq!(folded, json!([[false, "Output (10 lines)"]]));

    // The sidebar counted every message as it arrived, with no reload.
    let shown = browser
        .js("return document.querySelectorAll('[data-testid=\"message\"]').length;")
        .await;
    let meta = browser
        .js("return document.querySelector('[data-testid=\"session-meta\"]').textContent;")
        .await;
    let stored = stack_messages_count(&stack, &owner, &project).await;
    assert!(shown.as_u64().is_some_and(|n| n >= 3));
    assert_eq!(meta, format!("{stored} messages · just now"));
    browser.close().await;
}

async fn stack_messages_count(stack: &TestStack, owner: &UserId, project: &ProjectId) -> u64 {
    let (_, sessions) = stack
        .call(
            "GET",
            &routes::sessions(project),
            Some(&stack.user_token(owner)),
            None,
        )
        .await;
    sessions[0]["messageCount"].as_u64().expect("count")
}
