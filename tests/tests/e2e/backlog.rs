//! A backlog task is edited before it runs: its title, prompt and VM size change under the
//! rules a submission follows, its session follows its title, the run takes the edited
//! prompt, and a task that left the backlog is not edited any more.

use hangar_protocol::tasks::TaskStatus;
use hangar_protocol::{MessageRole, routes};
use hangar_tests::TestStack;
use hangar_tests::fixtures::user;
use serde_json::json;

#[tokio::test]
async fn a_backlog_task_is_edited_before_it_runs_and_not_after() {
    let stack = TestStack::start().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let task = stack
        .submit_task(&owner, &project, "Fix the login form", "backlog")
        .await;
    let path = routes::task(&project, &task.id);
    let token = stack.user_token(&owner);

    for (body, status, code) in [
        (json!({"prompt": "  "}), 400, "invalid_prompt"),
        (json!({"title": "t".repeat(201)}), 400, "invalid_title"),
        (json!({"baseBranch": "bad..name"}), 400, "invalid_branch"),
        (json!({"vmSize": "huge"}), 400, "invalid_body"),
    ] {
        let (got, answer) = stack
            .call("PATCH", &path, Some(&token), Some(body.clone()))
            .await;
        assert_eq!(
            (got, answer["code"].clone()),
            (status, json!(code)),
            "{body}"
        );
    }
    let (got, answer) = stack
        .call(
            "PATCH",
            &path,
            Some(&stack.user_token(&user())),
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!((got, answer["code"].clone()), (403, json!("not_a_member")));

    // The title was made from the prompt: a new prompt makes it anew.
    let edit = json!({"prompt": "Fix the signup form\nand its tests", "vmSize": "large"});
    let (got, edited) = stack.call("PATCH", &path, Some(&token), Some(edit)).await;
    assert_eq!(got, 200, "{edited}");
    assert_eq!(edited["title"], "Fix the signup form");
    assert_eq!(edited["vmSize"], "large");
    assert_eq!(edited["status"], "backlog");
    let (got, edited) = stack
        .call(
            "PATCH",
            &path,
            Some(&token),
            Some(json!({"title": "Signup form"})),
        )
        .await;
    assert_eq!((got, edited["title"].clone()), (200, json!("Signup form")));
    let (_, sessions) = stack
        .call("GET", &routes::sessions(&project), Some(&token), None)
        .await;
    assert_eq!(sessions[0]["title"], "Signup form", "the session follows");

    let (got, _) = stack
        .call(
            "POST",
            &routes::task_run(&project, &task.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(got, 200);
    let (got, answer) = stack
        .call(
            "PATCH",
            &path,
            Some(&token),
            Some(json!({"title": "Too late"})),
        )
        .await;
    assert_eq!(
        (got, answer["code"].clone()),
        (409, json!("invalid_transition"))
    );
    let done = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    assert_eq!(done.title, "Signup form");
    let messages = stack
        .session_messages(&owner, &project, &task.session_id)
        .await;
    assert_eq!(messages[0].role, MessageRole::User);
    assert_eq!(
        messages[0].content, "Fix the signup form\nand its tests",
        "the run took the edit"
    );
}
