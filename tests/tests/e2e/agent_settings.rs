//! A project's agent settings by configuration alone: a preset or a command line, plain
//! variables, secret variables (write-only, kept in Secrets Manager, delivered only into the
//! ACP agent's environment) and a setup script whose output joins the transcript.

use hangar_protocol::tasks::{ProjectView, TaskStatus, TaskView};
use hangar_protocol::{MessageRole, UserId, routes};
use hangar_tests::agent::{scripted_command, shared_script};
use hangar_tests::fixtures::user;
use hangar_tests::git::BareRepo;
use hangar_tests::{TestStack, unique};
use serde_json::{Value, json};

fn last_reason(task: &TaskView) -> String {
    task.history
        .last()
        .map(|t| t.reason.clone())
        .unwrap_or_default()
}

async fn call(
    stack: &TestStack,
    owner: &UserId,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    stack
        .call(method, path, Some(&stack.user_token(owner)), Some(body))
        .await
}

#[tokio::test]
async fn the_agent_gets_its_variables_and_secrets_after_the_setup_script_ran() {
    let secret = format!("sk-{}", unique("secret"));
    let (_dir, script) = shared_script(json!([
        {"shell": "echo PLAIN=$PLAIN_VAR; echo secret-length=${#MODEL_KEY}; cat setup.out; env | grep -c '^HANGAR_' || true"},
        {"say": "done"}
    ]));
    let stack = TestStack::start().await;
    let owner = user();
    let repo = BareRepo::seeded();
    let body = json!({
        "name": "Configured", "repo": repo.url(), "acpCommand": scripted_command(&script),
        "permissions": {"default": "allow"},
        "agent": {
            "env": {"PLAIN_VAR": "hello"},
            "secrets": {"MODEL_KEY": secret},
            "setupScript": "echo installing > setup.out\necho setup-ran $PLAIN_VAR\ntest -n \"$MODEL_KEY\" && echo setup-has-secret",
        },
    });
    let (status, created) = call(&stack, &owner, "POST", routes::PROJECTS, body).await;
    assert_eq!(status, 201, "{created}");
    let project: ProjectView = serde_json::from_value(created.clone()).expect("project");
    assert_eq!(project.agent.secret_names, ["MODEL_KEY"]);
    assert_eq!(
        project.agent.env.get("PLAIN_VAR").map(String::as_str),
        Some("hello")
    );

    let task = stack
        .submit_task(&owner, &project.id, "Use the settings", "run")
        .await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    let messages = stack
        .session_messages(&owner, &project.id, &task.session_id)
        .await;
    assert_eq!(
        messages[0].role,
        MessageRole::User,
        "the prompt comes first"
    );
    let setup = messages
        .iter()
        .find(|m| m.tool.as_ref().and_then(|t| t.title.as_deref()) == Some("Setup script"))
        .expect("the setup script's output is in the transcript");
    assert!(
        setup.content.contains("setup-ran hello") && setup.content.contains("setup-has-secret"),
        "{}",
        setup.content
    );
    let said: String = messages
        .iter()
        .filter(|m| m.role == MessageRole::Assistant)
        .map(|m| m.content.as_str())
        .collect();
    let length = format!("secret-length={}", secret.len());
    assert!(
        said.contains("PLAIN=hello") && said.contains(&length),
        "{said}"
    );
    assert!(
        said.contains("installing"),
        "the setup ran in the checkout first: {said}"
    );
    assert!(
        said.contains("\n0\n"),
        "none of Hangar's own variables: {said}"
    );

    // The secret itself is nowhere it could be read back.
    let everything = serde_json::to_string(&messages).expect("json");
    assert!(
        !everything.contains(&secret),
        "the secret is in the transcript"
    );
    let (_, shown) = call(
        &stack,
        &owner,
        "GET",
        &routes::project(&project.id),
        Value::Null,
    )
    .await;
    assert!(!shown.to_string().contains(&secret) && !created.to_string().contains(&secret));
    let stored = stack
        .stack
        .state
        .store
        .get_project(&project.id)
        .await
        .expect("read");
    assert!(
        !format!("{stored:?}").contains(&secret),
        "the table holds no secret"
    );

    // A secret is removed by null; the others and the plain variables stay.
    let (status, changed) = call(
        &stack,
        &owner,
        "PATCH",
        &routes::project(&project.id),
        json!({"agent": {"secrets": {"MODEL_KEY": null, "OTHER": "x"}}}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["agent"]["secretNames"], json!(["OTHER"]));
    assert_eq!(changed["agent"]["env"]["PLAIN_VAR"], "hello");
}

#[tokio::test]
async fn a_failing_setup_script_fails_the_task_with_its_status_and_its_output_is_kept() {
    let stack = TestStack::start().await;
    let owner = user();
    let repo = BareRepo::seeded();
    let project = stack
        .create_project(&owner, json!({
            "name": "Broken setup", "repo": repo.url(),
            "agent": {"setupScript": "echo resolving packages\necho 'no such package' >&2\nexit 3"},
        }))
        .await;
    let task = stack.submit_task(&owner, &project, "Anything", "run").await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Failed)
        .await;
    assert_eq!(last_reason(&task), "the setup script exited with status 3");
    let messages = stack
        .session_messages(&owner, &project, &task.session_id)
        .await;
    let setup = messages
        .iter()
        .find(|m| m.role == MessageRole::Tool)
        .expect("setup output");
    assert_eq!(setup.content, "resolving packages\nno such package\n");
    assert_eq!(
        setup.tool.as_ref().and_then(|t| t.status.as_deref()),
        Some("failed")
    );
    assert!(
        !messages.iter().any(|m| m.role == MessageRole::Assistant),
        "the agent never ran"
    );
}

#[tokio::test]
async fn a_preset_names_the_agent_and_agent_settings_are_checked_at_their_limits() {
    let stack = TestStack::start().await;
    let owner = user();
    let repo = BareRepo::seeded();
    let project = stack
        .create_project(
            &owner,
            json!({"name": "Gemini", "repo": repo.url(), "agent": {"preset": "gemini"}}),
        )
        .await;
    let (_, shown) = call(
        &stack,
        &owner,
        "GET",
        &routes::project(&project),
        Value::Null,
    )
    .await;
    assert_eq!(shown["agent"]["preset"], "gemini");
    // The preset's command line is what the node starts (not installed here).
    let task = stack.submit_task(&owner, &project, "Hello", "run").await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Failed)
        .await;
    assert!(
        last_reason(&task).contains("\"gemini --experimental-acp\""),
        "{}",
        last_reason(&task)
    );
    // A command line replaces the preset.
    let (status, changed) = call(
        &stack,
        &owner,
        "PATCH",
        &routes::project(&project),
        json!({"acpCommand": "my-agent --acp"}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert!(
        changed["agent"].get("preset").is_none() && changed["acpCommand"] == "my-agent --acp",
        "{changed}"
    );

    let many: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("V{i}"), json!("x"))).collect();
    let fifty: serde_json::Map<String, Value> =
        (0..50).map(|i| (format!("V{i}"), json!("x"))).collect();
    for (agent, extra) in [
        (json!({"preset": "gemini"}), json!({"acpCommand": "x"})),
        (json!({"preset": "cursor"}), json!({})),
        (json!({"env": {"HANGAR_NODE_TOKEN": "x"}}), json!({})),
        (json!({"env": {"1BAD": "x"}}), json!({})),
        (json!({"env": many}), json!({})),
        (json!({"env": {"BIG": "x".repeat(4097)}}), json!({})),
        (json!({"secrets": {"lower-case": "x"}}), json!({})),
        (json!({"setupScript": "x".repeat(16_385)}), json!({})),
    ] {
        let mut body = json!({"name": "Bad", "repo": repo.url(), "agent": agent});
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        let (status, answer) = call(&stack, &owner, "POST", routes::PROJECTS, body).await;
        let code = if answer["code"] == "invalid_body" {
            "invalid_body"
        } else {
            "invalid_agent"
        };
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some(code)),
            "{answer}"
        );
        assert!(
            code == "invalid_agent" || agent["preset"] == "cursor",
            "{answer}"
        );
    }
    let edge = json!({"name": "Edge", "repo": repo.url(), "agent": {
        "env": fifty, "secrets": {"BIG": "y".repeat(4096)}, "setupScript": "x".repeat(16_384),
    }});
    let (status, answer) = call(&stack, &owner, "POST", routes::PROJECTS, edge).await;
    assert_eq!(status, 201, "every limit holds at its edge: {answer}");
}
