//! The ACP host serves `fs/read_text_file` and `fs/write_text_file` confined to the checkout,
//! made as the workspace's own user (the tests run as root, as the node agent on EC2): what
//! the agent writes through them is committed with the rest, and a path outside the checkout
//! is refused and nothing is written there.

use hangar_protocol::MessageRole;
use hangar_protocol::git::FileChange;
use hangar_protocol::tasks::TaskStatus;
use hangar_tests::agent::{scripted_command, shared_script};
use hangar_tests::fixtures::user;
use hangar_tests::git::BareRepo;
use hangar_tests::{TestStack, unique};
use serde_json::json;

#[tokio::test]
async fn the_agent_reads_and_writes_its_checkout_through_acp_and_nothing_outside() {
    let outside = std::env::temp_dir().join(unique("outside"));
    let outside = outside.display().to_string();
    let (_dir, script) = shared_script(json!([
        {"writeFile": "docs/agent.md", "content": "written through ACP\n"},
        {"readFile": "README.md"},
        {"writeFile": "../escape.txt", "content": "x"},
        {"writeFile": outside, "content": "x"},
        {"readFile": "/etc/hostname"},
        {"readFile": "../../../outbox.db"}
    ]));
    let stack = TestStack::start_with(|options| {
        options
            .nodes
            .env
            .push(("HANGAR_WORKSPACE_USERS".into(), "true".into()));
    })
    .await;
    let owner = user();
    let repo = BareRepo::seeded();
    let project = stack
        .create_project(
            &owner,
            json!({"name": "Fs", "repo": repo.url(), "acpCommand": scripted_command(&script)}),
        )
        .await;
    let task = stack
        .submit_task(&owner, &project, "Use the fs", "run")
        .await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;

    let said: String = stack
        .session_messages(&owner, &project, &task.session_id)
        .await
        .into_iter()
        .filter(|message| message.role == MessageRole::Assistant)
        .map(|message| message.content)
        .collect();
    assert!(said.contains("wrote docs/agent.md"), "{said}");
    assert!(said.contains("read README.md: # Shop"), "{said}");
    for refused in [
        "../escape.txt",
        outside.as_str(),
        "/etc/hostname",
        "../../../outbox.db",
    ] {
        let verb = if refused.contains("outbox") || refused.contains("hostname") {
            "read"
        } else {
            "write"
        };
        assert!(
            said.contains(&format!("{verb} {refused} refused: "))
                && said.contains("outside the workspace's checkout"),
            "{refused}: {said}"
        );
    }
    assert!(!std::path::Path::new(&outside).exists());

    let output = task.output.expect("output");
    assert_eq!(
        output.files,
        vec![FileChange {
            path: "docs/agent.md".into(),
            added: 1,
            removed: 0
        }]
    );
    assert_eq!(
        repo.file(&output.branch, "docs/agent.md").as_deref(),
        Some("written through ACP\n")
    );
}
