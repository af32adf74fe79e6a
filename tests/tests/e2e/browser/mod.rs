//! The Sycamore UI in a real headless Chromium against the local stack: the split button's
//! two choices, messages streaming in from a real agent, the kanban following the task,
//! a killed socket restored without a gap, and the empty and error states.

mod a11y;
mod cards;
mod composer;
mod followups;
mod history;
mod page;
mod permissions;
mod retry;
mod settings;
mod sign_in;
mod tokens;

use std::time::Duration;

use hangar_protocol::{ProjectId, SessionId, TaskId, UserId, routes};
use hangar_tests::browser::{Browser, web_root};
use hangar_tests::wire::{batch, ingest_ok, range};
use hangar_tests::{TestStack, unique};
use serde_json::{Value, json};

const UI_WAIT: Duration = Duration::from_secs(20);
/// A whole task run by the real agent, from submit to completed.
const RUN_WAIT: Duration = Duration::from_secs(45);

/// A script for the nodes' scripted agent, in a file that lives as long as the value.
fn script_file(steps: Value) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("script file");
    std::fs::write(file.path(), steps.to_string()).expect("write script");
    file
}

/// An agent that takes its time, so the page shows messages while the task is running.
fn slow_script() -> tempfile::NamedTempFile {
    let script = json!([
        {"say": "Looking at the repository.", "chunks": 3},
        {"sleepMs": 500},
        {"update": {"sessionUpdate": "tool_call", "toolCallId": "call-1", "title": "Edit src/lib.rs", "kind": "edit", "status": "pending"}},
        {"sleepMs": 500},
        {"shell": "echo '// health check' >> src/lib.rs && echo edited"},
        {"update": {"sessionUpdate": "tool_call_update", "toolCallId": "call-1", "status": "completed"}},
        {"sleepMs": 500},
        {"say": "The change is made and the tests pass.", "chunks": 4}
    ]);
    let file = tempfile::NamedTempFile::new().expect("script file");
    std::fs::write(file.path(), script.to_string()).expect("write script");
    file
}

async fn ui_stack(script: Option<&tempfile::NamedTempFile>) -> TestStack {
    let root = web_root();
    let script = script.map(|file| file.path().display().to_string());
    TestStack::start_with(move |options| {
        options.web_root = Some(root);
        if let Some(path) = script {
            options.nodes.env.push(("SCRIPTED_ACP_SCRIPT".into(), path));
        }
    })
    .await
}

fn page_url(stack: &TestStack, project: &str, user: &UserId) -> String {
    stack.stack.url(&format!(
        "/?project={project}#token={}",
        stack.user_token(user)
    ))
}

async fn open_live(browser: &Browser, url: &str) {
    browser.goto(url).await;
    browser
        .wait_until(
            "the socket is live",
            UI_WAIT,
            "const el = document.querySelector('[data-testid=\"link-state\"]'); return el ? el.textContent : null;",
            |v| v == "live",
        )
        .await;
}

/// The cards of the board: `[{id, status, column}]`.
const CARDS: &str =
    "return [...document.querySelectorAll('[data-testid=\"task-card\"]')].map(c => ({
    id: c.dataset.taskId, status: c.dataset.status,
    column: c.closest('[data-testid^=\"column-\"]').dataset.testid }));";

/// The seqs the shown messages stand for, in page order (a tool call's card stands for the
/// call and its updates).
const SEQS: &str = "return [...document.querySelectorAll('[data-testid=\"message\"]')]
    .flatMap(m => m.dataset.seqs.split(' ').map(Number));";

/// Whether the page caught up after opening its socket and reads no history now.
const IDLE: &str = "const m = document.querySelector('[data-testid=\"messages\"]');
    return m.dataset.catchUps >= 1 && m.getAttribute('aria-busy') === 'false';";

/// Records every status a task's card is drawn with (cards are redrawn on each change).
const RECORD_STATUSES: &str = "window.seenStatuses = {};
    const record = () => document.querySelectorAll('[data-testid=\"task-card\"]').forEach(c => {
        const seen = (window.seenStatuses[c.dataset.taskId] ||= []);
        if (seen[seen.length - 1] !== c.dataset.status) seen.push(c.dataset.status);
    });
    new MutationObserver(record).observe(document.body, {subtree: true, childList: true, attributes: true});
    record(); return true;";

fn card<'a>(cards: &'a Value, status: &str) -> Option<&'a Value> {
    cards
        .as_array()?
        .iter()
        .find(|card| card["status"] == status)
}

#[tokio::test]
async fn run_now_streams_messages_and_the_card_moves_across_the_board() {
    let script = slow_script();
    let stack = ui_stack(Some(&script)).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await.to_string();
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, &project, &owner)).await;
    browser.js(RECORD_STATUSES).await;

    // Empty states first.
    let empty = browser
        .js("return ['sessions-empty','tasks-empty','messages-empty'].map(id => !!document.querySelector(`[data-testid=\"${id}\"]`));")
        .await;
    assert_eq!(empty, json!([true, true, true]));
    let disabled = browser
        .js("return document.querySelector('[data-testid=\"run-now\"]').disabled;")
        .await;
    assert_eq!(disabled, json!(true), "nothing to submit yet");

    browser
        .type_into("prompt", "Add a health check endpoint")
        .await;
    browser.click("run-now").await;

    // Messages appear while the task is still running: streamed, not loaded at the end.
    browser
        .wait_until(
            "messages shown while the task runs",
            RUN_WAIT,
            "const running = document.querySelector('[data-testid=\"task-card\"][data-status=\"running\"]');
             return running ? document.querySelectorAll('[data-testid=\"message\"]').length : 0;",
            |v| v.as_u64().unwrap_or(0) >= 2,
        )
        .await;
    let cards = browser
        .wait_until("the task completes", RUN_WAIT, CARDS, |cards| {
            card(cards, "completed").is_some()
        })
        .await;
    let done = card(&cards, "completed").expect("completed card");
    assert_eq!(done["column"], "column-done");
    let task_id = done["id"].as_str().expect("task id").to_string();

    // The board followed every step of the run.
    let seen = browser
        .js(&format!("return window.seenStatuses['{task_id}'];"))
        .await;
    let seen: Vec<&str> = seen
        .as_array()
        .expect("statuses")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(seen.last(), Some(&"completed"), "{seen:?}");
    assert!(
        seen.contains(&"running"),
        "the card was drawn running: {seen:?}"
    );
    assert!(!seen.contains(&"backlog"), "run now never parks: {seen:?}");

    // The card shows the pushed branch; the chat header the files it changed.
    let kept = browser
        .wait_until(
            "the task's output is shown",
            UI_WAIT,
            "const branch = document.querySelector('[data-testid=\"task-card\"] [data-testid=\"task-branch\"]');
             const files = [...document.querySelectorAll('[data-testid=\"chat-outcome\"] [data-testid=\"output-file\"]')];
             return branch && files.length ? [branch.textContent, files.map(f => f.textContent)] : null;",
            |v| !v.is_null(),
        )
        .await;
    assert!(
        kept[0].as_str().is_some_and(
            |b| b.starts_with("hangar/") && b.ends_with("-add-a-health-check-endpoint")
        ),
        "{kept}"
    );
    assert_eq!(kept[1], json!(["src/lib.rs +1 −0"]), "{kept}");

    // The whole transcript, in order and without gaps, with the tool call drawn as one.
    let expected = stack_messages(&stack, &owner, &project, &task_id).await;
    let seqs = browser
        .wait_until("every stored message is shown", UI_WAIT, SEQS, |v| {
            v.as_array().map(Vec::len) == Some(expected)
        })
        .await;
    let mut seqs: Vec<u64> = seqs
        .as_array()
        .expect("seqs")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=expected as u64).collect::<Vec<_>>(), "each once");
    // Entries in the order of their first message (a card sits where its call began).
    let firsts = browser
        .js("return [...document.querySelectorAll('[data-testid=\"message\"]')].map(m => Number(m.dataset.seq));")
        .await;
    let firsts: Vec<u64> = firsts
        .as_array()
        .expect("firsts")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert!(
        firsts.windows(2).all(|pair| pair[0] < pair[1]),
        "{firsts:?}"
    );
    // The call and its update are one card, under the call's title, with the latest status.
    let tools = browser
        .js("return [...document.querySelectorAll('[data-testid=\"tool-call\"]')].map(t => t.textContent);")
        .await;
    let tools: Vec<&str> = tools
        .as_array()
        .expect("tool calls")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(tools.len(), 1, "one card per tool call: {tools:?}");
    assert!(
        tools[0].contains("Edit src/lib.rs") && tools[0].contains("completed"),
        "{tools:?}"
    );
    assert!(!tools[0].contains("pending"), "{tools:?}");
    let first = browser
        .js("return document.querySelector('[data-testid=\"message\"]').textContent;")
        .await;
    assert!(
        first
            .as_str()
            .is_some_and(|t| t.contains("Add a health check endpoint"))
    );
    browser.close().await;
}

/// How many messages the store holds for the task's session.
async fn stack_messages(stack: &TestStack, owner: &UserId, project: &str, task: &str) -> usize {
    let token = stack.user_token(owner);
    let project = ProjectId::parse(project).expect("project id");
    let task = TaskId::parse(task).expect("task id");
    let (_, task) = stack
        .call("GET", &routes::task(&project, &task), Some(&token), None)
        .await;
    let session = SessionId::parse(task["sessionId"].as_str().expect("session")).expect("id");
    let messages = stack.session_messages(owner, &project, &session).await;
    assert!(
        messages.len() >= 4,
        "the agent wrote its transcript: {messages:?}"
    );
    messages.len()
}

#[tokio::test]
async fn save_to_backlog_parks_the_task_until_run() {
    let stack = ui_stack(None).await;
    let owner = UserId::parse(unique("user")).expect("id");
    let project = stack.new_project(&owner).await.to_string();
    let browser = Browser::start().await;
    open_live(&browser, &page_url(&stack, &project, &owner)).await;
    browser.js(RECORD_STATUSES).await;

    browser
        .type_into("prompt", "Refactor the billing module")
        .await;
    browser.click("split-toggle").await;
    browser.click("save-to-backlog").await;
    let cards = browser
        .wait_until("the task is in the backlog", UI_WAIT, CARDS, |cards| {
            card(cards, "backlog").is_some()
        })
        .await;
    let parked = card(&cards, "backlog").expect("backlog card");
    assert_eq!(parked["column"], "column-backlog");
    let task_id = parked["id"].as_str().expect("id").to_string();
    // Parked means parked: no node is asked for.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cards = browser.js(CARDS).await;
    assert_eq!(cards.as_array().map(Vec::len), Some(1));
    assert_eq!(cards[0]["status"], "backlog");
    assert!(
        stack.stack.provisioner.running().is_empty(),
        "no node started for a backlog task"
    );

    browser.click("task-run").await;
    browser
        .wait_until("the task runs to completion", RUN_WAIT, CARDS, |cards| {
            card(cards, "completed").is_some()
        })
        .await;
    let seen = browser
        .js(&format!("return window.seenStatuses['{task_id}'];"))
        .await;
    assert_eq!(seen[0], "backlog", "{seen}");
    assert_eq!(
        seen.as_array().and_then(|s| s.last()),
        Some(&json!("completed")),
        "{seen}"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_killed_socket_is_restored_and_the_gap_is_paged() {
    let stack = ui_stack(None).await;
    let seeded = stack.seed().await;
    let browser = Browser::start().await;
    open_live(
        &browser,
        &page_url(&stack, seeded.project.as_str(), &seeded.owner),
    )
    .await;

    ingest_ok(&stack, &seeded, batch(&seeded.session, range(1..=5))).await;
    browser
        .wait_until("the first batch is shown", UI_WAIT, SEQS, |v| {
            *v == json!([1, 2, 3, 4, 5])
        })
        .await;
    // Idle: the catch-up after opening is over and no page of history is being read.
    browser
        .wait_until("the page is idle", UI_WAIT, IDLE, |v| *v == json!(true))
        .await;

    // Kill the socket from the gateway's side, keep it down, and store messages nobody is
    // connected for.
    stack.stack.hub.refuse_connections(true);
    assert_eq!(stack.stack.hub.drop_all(), 1);
    browser
        .wait_until(
            "the page sees the socket down",
            UI_WAIT,
            "return document.querySelector('[data-testid=\"link-state\"]').textContent;",
            |v| v != "live",
        )
        .await;
    ingest_ok(&stack, &seeded, batch(&seeded.session, range(6..=9))).await;
    assert_eq!(stack.stack.hub.open_connections(), 0);
    assert_eq!(
        browser.js(SEQS).await,
        json!([1, 2, 3, 4, 5]),
        "nothing arrives while the socket is down"
    );
    stack.stack.hub.refuse_connections(false);

    // The page reconnects by itself; what follows arrives live and the gap is paged.
    browser
        .wait_until(
            "the socket is live again",
            UI_WAIT,
            "return document.querySelector('[data-testid=\"link-state\"]').textContent;",
            |v| v == "live",
        )
        .await;
    ingest_ok(&stack, &seeded, batch(&seeded.session, range(10..=12))).await;
    let expected: Vec<u64> = (1..=12).collect();
    browser
        .wait_until("every message, in order, once", UI_WAIT, SEQS, |v| {
            *v == json!(expected)
        })
        .await;
    browser.close().await;
}

#[tokio::test]
async fn a_project_of_someone_else_shows_the_error() {
    let stack = ui_stack(None).await;
    let seeded = stack.seed().await;
    let stranger = UserId::parse(unique("user")).expect("id");
    let browser = Browser::start().await;
    browser
        .goto(&page_url(&stack, seeded.project.as_str(), &stranger))
        .await;
    let error = browser
        .wait_until(
            "the error is shown",
            UI_WAIT,
            "const el = document.querySelector('[data-testid=\"error\"]'); return el ? el.textContent : null;",
            |v| v.is_string(),
        )
        .await;
    assert!(
        error.as_str().is_some_and(|e| e.contains("not_a_member")),
        "{error}"
    );
    browser.close().await;
}
