//! Permission prompts through the whole stack: a task on a local node whose scripted ACP
//! agent asks (`session/request_permission`), the prompt stored as a message, a member's
//! answer posted to the API and pushed down the node's socket to the waiting agent, the
//! project's per-kind policy and its timeout.

use hangar_protocol::permissions::{AnsweredBy, PermissionInfo, PermissionStatus, PermissionView};
use hangar_protocol::tasks::{TaskStatus, TaskView};
use hangar_protocol::{ChatMessage, ErrorCode, PermissionId, UserId, routes};
use hangar_tests::fixtures::user;
use hangar_tests::git::BareRepo;
use hangar_tests::scripted::ScriptedProject;
use hangar_tests::{LIMIT, TestStack, eventually};
use serde_json::{Value, json};

/// A running task of a project whose agent plays `steps`, under `permissions`.
struct Asked {
    task: TaskView,
    project: ScriptedProject,
}

async fn run_task(stack: &TestStack, owner: &UserId, steps: Value, permissions: Value) -> Asked {
    let fields = json!({"permissions": permissions});
    let project = stack.scripted_project(owner, steps, fields).await;
    let task = stack.submit_task(owner, &project.id, "Do it", "run").await;
    Asked { task, project }
}

async fn transcript(stack: &TestStack, owner: &UserId, task: &TaskView) -> Vec<ChatMessage> {
    stack
        .session_messages(owner, &task.project_id, &task.session_id)
        .await
}

/// The first prompt of the task's session, once it is stored.
async fn prompt(stack: &TestStack, owner: &UserId, task: &TaskView) -> PermissionInfo {
    let mut found = None;
    eventually("the permission prompt is stored", LIMIT, async || {
        found = transcript(stack, owner, task)
            .await
            .into_iter()
            .filter_map(|message| message.permission)
            .find(|info| info.answer.is_none());
        found.is_some()
    })
    .await;
    found.expect("a prompt")
}

async fn answer(
    stack: &TestStack,
    user: &UserId,
    task: &TaskView,
    permission: &PermissionId,
    option: &str,
) -> (u16, Value) {
    let path = routes::session_permission(&task.project_id, &task.session_id, permission);
    stack
        .call(
            "POST",
            &path,
            Some(&stack.user_token(user)),
            Some(json!({"optionId": option})),
        )
        .await
}

/// The agent's own line saying which outcome it got.
fn outcome_said(messages: &[ChatMessage]) -> String {
    messages
        .iter()
        .find(|m| m.content.contains("Permission outcome"))
        .map(|m| m.content.clone())
        .unwrap_or_default()
}

fn settled_by(messages: &[ChatMessage]) -> Vec<(AnsweredBy, Option<String>, Option<UserId>)> {
    messages
        .iter()
        .filter_map(|m| m.permission.as_ref()?.answer.clone())
        .map(|answer| (answer.by, answer.option_id, answer.user_id))
        .collect()
}

#[tokio::test]
async fn a_member_answers_an_asked_permission_and_the_agent_gets_that_answer() {
    let stack = TestStack::start().await;
    let owner = user();
    let steps = json!([{"permission": "Run the tests", "kind": "execute"}, {"say": "done"}]);
    let asked = run_task(&stack, &owner, steps, json!({"default": "ask"})).await;
    let task = &asked.task;
    let info = prompt(&stack, &owner, task).await;
    let offered: Vec<&str> = info.options.iter().map(|o| o.option_id.as_str()).collect();
    assert_eq!(offered, ["allow", "reject"]);
    assert_eq!(
        stack.task(&owner, task).await.status,
        TaskStatus::Running,
        "the agent waits"
    );

    let (status, body) = answer(&stack, &user(), task, &info.permission_id, "allow").await;
    assert_eq!((status, body["code"].clone()), (403, json!("not_a_member")));
    let (status, body) = answer(&stack, &owner, task, &info.permission_id, "maybe").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], ErrorCode::InvalidOption.as_str());
    let unknown = PermissionId::parse("nope").expect("id");
    let (status, body) = answer(&stack, &owner, task, &unknown, "allow").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], ErrorCode::PermissionNotFound.as_str());

    let (status, body) = answer(&stack, &owner, task, &info.permission_id, "allow").await;
    assert_eq!(status, 200, "{body}");
    let view: PermissionView = serde_json::from_value(body).expect("view");
    assert_eq!(view.status, PermissionStatus::Answered);
    let (status, body) = answer(&stack, &owner, task, &info.permission_id, "reject").await;
    assert_eq!(status, 409, "the first answer wins: {body}");
    assert_eq!(body["code"], ErrorCode::PermissionAnswered.as_str());

    stack
        .wait_for_status(&owner, task, TaskStatus::Completed)
        .await;
    let messages = transcript(&stack, &owner, task).await;
    assert!(
        outcome_said(&messages).contains("\"optionId\":\"allow\""),
        "{messages:#?}"
    );
    assert_eq!(
        settled_by(&messages),
        [(AnsweredBy::User, Some("allow".into()), Some(owner.clone()))],
        "the answer and who gave it are in the transcript"
    );
    let said = messages
        .iter()
        .find(|m| m.content.starts_with("Permission for Run the tests"))
        .expect("the answer's message");
    assert!(said.content.contains(owner.as_str()), "{}", said.content);
}

#[tokio::test]
async fn a_permission_nobody_answers_is_denied_when_its_timeout_passes() {
    let stack = TestStack::start().await;
    let owner = user();
    let steps = json!([{"permission": "Deploy", "kind": "execute"}, {"say": "done"}]);
    let asked = run_task(
        &stack,
        &owner,
        steps,
        json!({"default": "ask", "timeoutSecs": 1}),
    )
    .await;
    let task = &asked.task;
    let info = prompt(&stack, &owner, task).await;
    stack
        .wait_for_status(&owner, task, TaskStatus::Completed)
        .await;
    let messages = transcript(&stack, &owner, task).await;
    assert!(
        outcome_said(&messages).contains("\"optionId\":\"reject\""),
        "{messages:#?}"
    );
    assert_eq!(
        settled_by(&messages),
        [(AnsweredBy::Timeout, Some("reject".into()), None)]
    );
    // Settled by the timeout: a late answer is told so, and the agent never sees it.
    let (status, body) = answer(&stack, &owner, task, &info.permission_id, "allow").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], ErrorCode::PermissionAnswered.as_str());
    assert!(
        body["message"].as_str().unwrap_or("").contains("in time"),
        "{body}"
    );
}

#[tokio::test]
async fn the_policy_for_a_tool_kind_answers_at_once_without_asking() {
    let stack = TestStack::start().await;
    let owner = user();
    let steps = json!([
        {"permission": "Read the README", "kind": "read"},
        {"permission": "Remove the build", "kind": "delete"},
        {"say": "done"}
    ]);
    // Everything else would ask, for a day: the task ends only if neither is asked.
    let settings = json!({"default": "ask", "timeoutSecs": 86400,
                          "byKind": {"read": "allow", "delete": "deny"}});
    let asked = run_task(&stack, &owner, steps, settings).await;
    let task = &asked.task;
    stack
        .wait_for_status(&owner, task, TaskStatus::Completed)
        .await;
    let messages = transcript(&stack, &owner, task).await;
    assert_eq!(
        settled_by(&messages),
        [
            (AnsweredBy::Policy, Some("allow".into()), None),
            (AnsweredBy::Policy, Some("reject".into()), None)
        ]
    );
    assert!(
        messages.iter().any(|m| m.content
            == "Permission requested: Remove the build. Answered: Reject (reject_once)."),
        "{messages:#?}"
    );
}

#[tokio::test]
async fn permission_settings_are_checked_and_kept_with_the_project() {
    let stack = TestStack::start().await;
    let owner = user();
    let token = stack.user_token(&owner);
    let repo = BareRepo::seeded();
    for bad in [
        json!({"byKind": {"launch": "allow"}}),
        json!({"timeoutSecs": 0}),
        json!({"timeoutSecs": 86401}),
        json!({"default": "sometimes"}),
        json!([]),
    ] {
        let body = json!({"name": "P", "repo": repo.url(), "permissions": bad});
        let (status, answer) = stack
            .call("POST", routes::PROJECTS, Some(&token), Some(body))
            .await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(
            ["invalid_permissions", "invalid_body"]
                .contains(&answer["code"].as_str().unwrap_or("")),
            "{bad}: {answer}"
        );
    }
    let body = json!({"name": "P", "repo": repo.url()});
    let (status, created) = stack
        .call("POST", routes::PROJECTS, Some(&token), Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["permissions"],
        json!({"default": "ask", "timeoutSecs": 600}),
        "a project asks by default, for ten minutes"
    );
    let path = format!(
        "{}/{}",
        routes::PROJECTS,
        created["id"].as_str().expect("id")
    );
    let edge = json!({"permissions": {"default": "allow", "byKind": {"execute": "ask"}, "timeoutSecs": 86400}});
    let (status, changed) = stack.call("PATCH", &path, Some(&token), Some(edge)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["permissions"]["byKind"], json!({"execute": "ask"}));
    assert_eq!(changed["permissions"]["timeoutSecs"], 86400);
}

#[tokio::test]
async fn an_answer_given_while_the_node_socket_is_down_reaches_the_agent_when_it_reconnects() {
    let stack = TestStack::start().await;
    let owner = user();
    let steps = json!([{"permission": "Push", "kind": "execute"}, {"say": "done"}]);
    let asked = run_task(&stack, &owner, steps, json!({"default": "ask"})).await;
    let task = &asked.task;
    let info = prompt(&stack, &owner, task).await;

    stack.stack.hub.refuse_connections(true);
    assert_eq!(stack.stack.hub.drop_nodes(), 1);
    let (status, body) = answer(&stack, &owner, task, &info.permission_id, "allow").await;
    assert_eq!(
        status, 200,
        "the answer is kept though no socket took it: {body}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(stack.task(&owner, task).await.status, TaskStatus::Running);

    stack.stack.hub.refuse_connections(false);
    stack
        .wait_for_status(&owner, task, TaskStatus::Completed)
        .await;
    let messages = transcript(&stack, &owner, task).await;
    assert!(
        outcome_said(&messages).contains("\"optionId\":\"allow\""),
        "{messages:#?}"
    );
}

/// The pid of the scripted ACP agent playing the script at `script`.
fn acp_agent_pid(script: &str) -> Option<i32> {
    let wanted = format!("SCRIPTED_ACP_SCRIPT={script}");
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let entry = entry.ok()?;
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let environ = std::fs::read(entry.path().join("environ")).ok()?;
        let plays = environ
            .split(|b| *b == 0)
            .any(|var| var == wanted.as_bytes());
        let is_agent = String::from_utf8_lossy(&cmdline).contains("scripted-acp-agent");
        (plays && is_agent).then_some(pid)
    })
}

#[tokio::test]
async fn an_agent_killed_while_its_permission_waits_fails_the_task_and_closes_the_prompt() {
    let stack = TestStack::start().await;
    let owner = user();
    let steps = json!([{"permission": "Format the disk", "kind": "execute"}, {"say": "done"}]);
    let asked = run_task(&stack, &owner, steps, json!({"default": "ask"})).await;
    let task = &asked.task;
    let info = prompt(&stack, &owner, task).await;
    let pid = acp_agent_pid(&asked.project.script_path).expect("the ACP agent runs");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill -KILL");
    assert!(killed.success());

    let failed = stack
        .wait_for_status(&owner, task, TaskStatus::Failed)
        .await;
    let reason = failed
        .history
        .last()
        .map(|t| t.reason.clone())
        .unwrap_or_default();
    assert!(reason.contains("agent session failed"), "{reason}");
    let messages = transcript(&stack, &owner, task).await;
    let prompts = messages
        .iter()
        .filter(|m| {
            m.permission
                .as_ref()
                .is_some_and(|p| p.permission_id == info.permission_id)
        })
        .count();
    assert_eq!(prompts, 1, "the prompt is stored once: {messages:#?}");
    // Nobody is left to take an answer: it is refused, not kept for nothing.
    let (status, body) = answer(&stack, &owner, task, &info.permission_id, "allow").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], ErrorCode::PermissionClosed.as_str());
}
