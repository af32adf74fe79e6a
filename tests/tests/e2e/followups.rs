//! Members write to a session's agent: a follow-up to a running agent is stored as the
//! session's next `user` message and prompted after the current turn; a follow-up to an
//! ended task continues it (on its branch, the conversation so far as context); Stop ends
//! the current turn without cancelling the task. Real node processes, the scripted ACP
//! agent, a real bare repository.

use hangar_protocol::tasks::{TaskStatus, TaskView};
use hangar_protocol::{ChatMessage, ErrorCode, MessageRole, PostedMessage, UserId, routes};
use hangar_tests::fixtures::user;
use hangar_tests::scripted::ScriptedProject;
use hangar_tests::{LIMIT, TestStack, eventually};
use serde_json::{Value, json};

struct Running {
    task: TaskView,
    project: ScriptedProject,
}

async fn start(stack: &TestStack, owner: &UserId, steps: Value, mode: &str) -> Running {
    let project = stack.scripted_project(owner, steps, json!({})).await;
    let task = stack.submit_task(owner, &project.id, "Do it", mode).await;
    Running { task, project }
}

async fn post(stack: &TestStack, user: &UserId, task: &TaskView, content: &str) -> (u16, Value) {
    let path = routes::session_messages(&task.project_id, &task.session_id);
    stack
        .call(
            "POST",
            &path,
            Some(&stack.user_token(user)),
            Some(json!({"content": content})),
        )
        .await
}

async fn transcript(stack: &TestStack, owner: &UserId, task: &TaskView) -> Vec<ChatMessage> {
    stack
        .session_messages(owner, &task.project_id, &task.session_id)
        .await
}

fn said(messages: &[ChatMessage]) -> Vec<(MessageRole, String)> {
    messages
        .iter()
        .map(|m| (m.role, m.content.clone()))
        .collect()
}

#[tokio::test]
async fn a_follow_up_to_a_running_agent_is_stored_in_order_and_prompted_after_its_turn() {
    let stack = TestStack::start().await;
    let owner = user();
    // The thought ends the first text message, so it is stored while the turn goes on.
    let steps = json!([{"say": "Working."}, {"think": "Planning."}, {"sleepMs": 1500}, {"say": "First turn done."}]);
    let run = start(&stack, &owner, steps, "run").await;
    let task = &run.task;
    eventually("the agent is working", LIMIT, async || {
        transcript(&stack, &owner, task)
            .await
            .iter()
            .any(|m| m.content == "Working.")
    })
    .await;

    let (status, body) = post(&stack, &owner, task, "Also update the docs").await;
    assert_eq!(status, 202, "{body}");
    let posted: PostedMessage = serde_json::from_value(body).expect("posted");
    assert_eq!(posted.delivery, hangar_protocol::FollowUpDelivery::Sent);

    let done = stack
        .wait_for_status(&owner, task, TaskStatus::Completed)
        .await;
    let messages = transcript(&stack, &owner, task).await;
    let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=messages.len() as u64).collect::<Vec<_>>());
    use MessageRole::*;
    assert_eq!(
        said(&messages),
        [
            (User, "Do it".to_string()),
            (Assistant, "Working.".into()),
            (Thought, "Planning.".into()),
            (User, "Also update the docs".into()),
            (Assistant, "First turn done.".into()),
            (Assistant, "Follow-up received: Also update the docs".into()),
        ],
        "stored where it was written, prompted after the turn"
    );
    let stored = messages
        .iter()
        .find(|m| m.content == "Also update the docs")
        .expect("the follow-up");
    assert_eq!(
        stored.message_id, posted.message_id,
        "the page finds its copy by id"
    );
    assert_eq!(
        done.history.last().map(|t| t.to),
        Some(TaskStatus::Completed)
    );
}

#[tokio::test]
async fn a_follow_up_is_checked_and_a_backlog_task_takes_none() {
    let stack = TestStack::start().await;
    let owner = user();
    let run = start(&stack, &owner, json!([{"say": "hi"}]), "backlog").await;
    let task = &run.task;
    let (status, body) = post(&stack, &owner, task, "Hello?").await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!(ErrorCode::NotRunning.as_str()))
    );
    let (status, body) = post(&stack, &owner, task, " \n ").await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!("invalid_message"))
    );
    let big = "x".repeat(hangar_protocol::limits::MESSAGE_CONTENT_MAX_BYTES + 1);
    let (status, body) = post(&stack, &owner, task, &big).await;
    assert_eq!(
        (status, body["code"].clone()),
        (413, json!("message_too_large"))
    );
    let (status, body) = post(&stack, &user(), task, "Hello?").await;
    assert_eq!((status, body["code"].clone()), (403, json!("not_a_member")));
    let path = routes::session_messages(&task.project_id, &"nope".parse().expect("id"));
    let (status, body) = stack
        .call(
            "POST",
            &path,
            Some(&stack.user_token(&owner)),
            Some(json!({"content": "x"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (404, json!("session_not_found"))
    );
    assert!(
        transcript(&stack, &owner, task).await.is_empty(),
        "nothing was stored for a refused message"
    );
}

#[tokio::test]
async fn a_follow_up_continues_a_completed_task_on_its_branch_with_the_conversation() {
    let stack = TestStack::start().await;
    let owner = user();
    let steps = json!([
        {"echoPrompt": true},
        {"shell": "date +%s%N >> notes.txt && echo noted"}
    ]);
    let run = start(&stack, &owner, steps, "run").await;
    let task = &run.task;
    let first = stack
        .wait_for_status(&owner, task, TaskStatus::Completed)
        .await;
    let branch = first.output.as_ref().expect("output").branch.clone();
    let before = transcript(&stack, &owner, task).await.len() as u64;

    let (status, body) = post(&stack, &owner, task, "Add one more note").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["delivery"], "reopened");
    eventually("the task runs again", LIMIT, async || {
        stack.task(&owner, task).await.status != TaskStatus::Completed
    })
    .await;
    let again = stack
        .wait_for_status(&owner, task, TaskStatus::Completed)
        .await;
    let reopened = again
        .history
        .iter()
        .find(|t| t.from == Some(TaskStatus::Completed) && t.to == TaskStatus::Queued)
        .expect("a recorded completed -> queued");
    assert!(reopened.reason.contains("continue"), "{}", reopened.reason);

    let messages = transcript(&stack, &owner, task).await;
    let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=messages.len() as u64).collect::<Vec<_>>(),
        "the seq continues"
    );
    assert_eq!(messages[before as usize].role, MessageRole::User);
    assert_eq!(messages[before as usize].content, "Add one more note");
    let echoed = messages[before as usize..]
        .iter()
        .find(|m| m.content.starts_with("Prompt: "))
        .expect("the second run's prompt");
    assert!(
        echoed.content.contains("[user] Do it")
            && echoed
                .content
                .contains("The user now writes:\n\nAdd one more note"),
        "the conversation so far, then the message: {}",
        echoed.content
    );
    // The second run continued the branch the first one pushed.
    let runs = hangar_tests::git::git(
        &run.project.repo.dir,
        &["rev-list", "--count", &format!("main..{branch}")],
    );
    assert_eq!(runs.trim(), "2", "one commit per run on the task's branch");
}

#[tokio::test]
async fn stop_ends_the_current_turn_and_the_task_still_completes() {
    let stack = TestStack::start().await;
    let owner = user();
    let steps = json!([{"say": "Starting."}, {"think": "Slowly."}, {"sleepMs": 60000}, {"say": "Never said."}]);
    let run = start(&stack, &owner, steps, "run").await;
    let task = &run.task;
    eventually("the agent is working", LIMIT, async || {
        transcript(&stack, &owner, task)
            .await
            .iter()
            .any(|m| m.content == "Starting.")
    })
    .await;
    let path = routes::task_stop(&task.project_id, &task.id);
    let token = stack.user_token(&owner);
    let (status, body) = stack.call("POST", &path, Some(&token), None).await;
    assert_eq!(status, 200, "{body}");

    let done = stack
        .wait_for_status(&owner, task, TaskStatus::Completed)
        .await;
    let messages = transcript(&stack, &owner, task).await;
    assert!(
        !messages.iter().any(|m| m.content == "Never said."),
        "{messages:#?}"
    );
    assert_eq!(done.status, TaskStatus::Completed, "stopped, not cancelled");
    let (status, body) = stack.call("POST", &path, Some(&token), None).await;
    assert_eq!((status, body["code"].clone()), (409, json!("not_running")));
}
