//! What a workspace's coding agent can reach on its node: none of the node agent's own
//! configuration (its token among it), and, with a user per workspace (as on EC2), not the
//! outbox nor another workspace. Real processes, real users (the tests run as root, as the
//! node agent does on EC2). Also: a project names its own ACP agent by configuration alone.

use hangar_protocol::tasks::{TaskStatus, TaskView};
use hangar_protocol::{MessageRole, UserId, routes};
use hangar_tests::TestStack;
use hangar_tests::agent::shared_script;
use hangar_tests::fixtures::user;
use serde_json::json;

/// What the agent said in the task's session.
async fn said(stack: &TestStack, owner: &UserId, task: &TaskView) -> String {
    stack
        .session_messages(owner, &task.project_id, &task.session_id)
        .await
        .into_iter()
        .filter(|message| message.role == MessageRole::Assistant)
        .map(|message| message.content)
        .collect()
}

#[tokio::test]
async fn a_workspace_agent_runs_as_its_own_user_and_reaches_neither_outbox_nor_token() {
    assert_eq!(
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .expect("id")
            .stdout,
        b"0\n",
        "isolation needs root (as the node agent on EC2): run the tests as root"
    );
    // The checkout is <node>/workspaces/<id>/checkout: the outbox is three levels up.
    let probe = "echo uid=$(id -u); \
                 cat ../../../outbox.db > /dev/null 2>&1 && echo outbox=read || echo outbox=denied; \
                 ls ../../ > /dev/null 2>&1 && echo others=listed || echo others=hidden; \
                 echo own-vars=$(env | grep -c '^HANGAR_'); \
                 echo probed > probe.txt";
    let (_dir, script) = shared_script(json!([{"shell": probe}]));
    let stack = TestStack::start_with(|options| {
        options.nodes.env.extend([
            ("SCRIPTED_ACP_SCRIPT".to_string(), script),
            ("HANGAR_WORKSPACE_USERS".to_string(), "true".to_string()),
        ]);
    })
    .await;
    let owner = user();
    let (project, repo) = stack.new_project_with_repo(&owner).await;
    let task = stack.submit_task(&owner, &project, "probe", "run").await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    let output = said(&stack, &owner, &task).await;
    assert!(!output.contains("uid=0"), "the agent ran as root: {output}");
    assert!(output.contains("uid="), "{output}");
    assert!(output.contains("outbox=denied"), "{output}");
    assert!(output.contains("others=hidden"), "{output}");
    assert!(output.contains("own-vars=0"), "{output}");
    // The agent's user owns the checkout it changed; its work was committed and pushed.
    let kept = task.output.clone().expect("output");
    assert_eq!(
        kept.commit.as_deref(),
        Some(repo.commit_of(&kept.branch).as_str())
    );
    assert_eq!(
        repo.file(&kept.branch, "probe.txt").as_deref(),
        Some("probed\n")
    );

    // The workspace's user goes with the workspace.
    let workspace = task.workspace_id.expect("workspace");
    let name = format!(
        "hw-{}",
        workspace.as_str().chars().take(28).collect::<String>()
    );
    hangar_tests::eventually(
        "the workspace user removed",
        hangar_tests::LIMIT,
        async || {
            !std::process::Command::new("id")
                .arg(&name)
                .output()
                .expect("id")
                .status
                .success()
        },
    )
    .await;
}

#[tokio::test]
async fn a_project_runs_the_acp_agent_its_configuration_names() {
    let (_dir, script) = shared_script(json!([{"say": "the project's own agent speaking"}]));
    let stack = TestStack::start().await;
    let owner = user();
    let token = stack.user_token(&owner);
    let agent = hangar_tests::agent::workspace_binary("scripted-acp-agent");
    // Configuration alone: a command line, here with its environment through `env`.
    let command = format!("env SCRIPTED_ACP_SCRIPT={script} {}", agent.display());
    let repo = hangar_tests::git::BareRepo::seeded();
    let (status, project) = stack
        .call(
            "POST",
            routes::PROJECTS,
            Some(&token),
            Some(json!({"name": "Own agent", "repo": repo.url(), "acpCommand": command})),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    assert_eq!(project["acpCommand"], command.as_str());
    let project =
        hangar_protocol::ProjectId::parse(project["id"].as_str().expect("id").to_string())
            .expect("project id");
    let task = stack.submit_task(&owner, &project, "hello", "run").await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    assert_eq!(
        said(&stack, &owner, &task).await,
        "the project's own agent speaking"
    );

    // A command line is one printable line, and has an edge.
    for bad in [
        json!("line one\nline two"),
        json!(" "),
        json!("x".repeat(1001)),
    ] {
        let (status, body) = stack
            .call(
                "POST",
                routes::PROJECTS,
                Some(&token),
                Some(json!({"name": "Bad", "repo": "https://github.com/acme/bad.git", "acpCommand": bad})),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_acp_command"))
        );
    }
    let (status, body) = stack
        .call(
            "POST",
            routes::PROJECTS,
            Some(&token),
            Some(json!({"name": "Edge", "repo": "https://github.com/acme/edge.git", "acpCommand": "x".repeat(1000)})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}
