//! A task's work is kept: the node clones the project's repository (a real bare repository
//! made here, reached over `file://` as the local stack allows), the scripted ACP agent
//! changes files in the checkout, and the work is committed and pushed to the task's branch.

use hangar_protocol::git::{FileChange, work_branch};
use hangar_protocol::tasks::{NodeStatus, TaskStatus, TaskView};
use hangar_protocol::{ProjectId, UserId, routes};
use hangar_tests::TestStack;
use hangar_tests::agent::{scripted_command, shared_script};
use hangar_tests::fixtures::user;
use hangar_tests::git::BareRepo;
use serde_json::{Value, json};

/// A project on a fresh seeded repository whose agent plays `steps`.
async fn project_playing(
    stack: &TestStack,
    owner: &UserId,
    steps: Value,
) -> (ProjectId, BareRepo, tempfile::TempDir) {
    let (dir, script) = shared_script(steps);
    let repo = BareRepo::seeded();
    let project = stack
        .create_project(
            owner,
            json!({"name": "Shop", "repo": repo.url(), "acpCommand": scripted_command(&script)}),
        )
        .await;
    (project, repo, dir)
}

async fn submit(stack: &TestStack, owner: &UserId, project: &ProjectId, body: Value) -> TaskView {
    let (status, task) = stack
        .call(
            "POST",
            &routes::tasks(project),
            Some(&stack.user_token(owner)),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    serde_json::from_value(task).expect("task view")
}

/// What the task's last transition says.
fn last_reason(task: &TaskView) -> &str {
    task.history.last().map_or("", |t| t.reason.as_str())
}

#[tokio::test]
async fn a_task_pushes_its_branch_with_the_repos_files_and_the_change_and_reports_it() {
    let stack = TestStack::start().await;
    let owner = user();
    let (project, repo, _script) = project_playing(
        &stack,
        &owner,
        json!([
            {"shell": "mkdir -p notes && printf 'one\\ntwo\\n' > notes/hello.txt && echo 'More.' >> README.md"},
            {"say": "Added a note."}
        ]),
    )
    .await;
    let task = submit(
        &stack,
        &owner,
        &project,
        json!({"prompt": "Write a note", "title": "Write a note!", "mode": "run"}),
    )
    .await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;

    let branch = work_branch(task.id.as_str(), "Write a note!");
    assert!(branch.ends_with("-write-a-note"), "{branch}");
    let output = task
        .output
        .clone()
        .expect("a completed task has its output");
    assert_eq!(
        (output.branch.as_str(), output.base_branch.as_str()),
        (branch.as_str(), "main")
    );
    assert_eq!(
        output.commit.as_deref(),
        Some(repo.commit_of(&branch).as_str())
    );
    assert_eq!(
        output.files,
        vec![
            FileChange {
                path: "README.md".into(),
                added: 1,
                removed: 0
            },
            FileChange {
                path: "notes/hello.txt".into(),
                added: 2,
                removed: 0
            },
        ]
    );
    assert_eq!(
        (output.files_changed, output.added, output.removed),
        (2, 3, 0)
    );
    assert!(last_reason(&task).contains(&branch), "{:?}", task.history);

    // The branch holds the repository's files and the change, on top of main.
    let mut files = repo.files(&branch);
    files.sort();
    assert_eq!(files, ["README.md", "notes/hello.txt", "src/lib.rs"]);
    assert_eq!(
        repo.file(&branch, "notes/hello.txt").as_deref(),
        Some("one\ntwo\n")
    );
    assert!(
        repo.file(&branch, "README.md")
            .is_some_and(|text| text.ends_with("More.\n"))
    );
    assert_eq!(
        repo.commit_of(&format!("{branch}^")),
        repo.commit_of("main")
    );
    // Authored by the bot identity, titled by the task, with the submitter as a trailer.
    assert_eq!(
        repo.show(&branch, "%an <%ae>").trim(),
        "Hangar <hangar@noreply.localhost>"
    );
    assert_eq!(repo.show(&branch, "%s").trim(), "Write a note!");
    assert!(
        repo.show(&branch, "%b")
            .contains(&format!("Submitted-by: {owner}")),
        "{}",
        repo.show(&branch, "%B")
    );
    // Nothing the agent keeps in its home went into the commit.
    assert!(!files.iter().any(|file| file.starts_with('.')));
}

#[tokio::test]
async fn a_task_that_changes_nothing_completes_with_no_changes_and_pushes_nothing() {
    let stack = TestStack::start().await;
    let owner = user();
    let (project, repo, _script) =
        project_playing(&stack, &owner, json!([{"shell": "cat README.md"}])).await;
    let task = submit(
        &stack,
        &owner,
        &project,
        json!({"prompt": "Read only", "mode": "run"}),
    )
    .await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    let output = task.output.clone().expect("output");
    assert!(output.no_changes(), "{output:?}");
    assert_eq!((output.files_changed, output.files.len()), (0, 0));
    assert!(
        last_reason(&task).contains("no changes"),
        "{:?}",
        task.history
    );
    assert_eq!(repo.branches(), ["develop", "main"]);
}

#[tokio::test]
async fn a_task_starts_from_the_base_branch_it_names_and_an_unknown_one_fails_it_fast() {
    let stack = TestStack::start().await;
    let owner = user();
    let (project, repo, _script) = project_playing(
        &stack,
        &owner,
        json!([{"shell": "test -f DEVELOP.md && echo done > done.txt"}]),
    )
    .await;
    let task = submit(
        &stack,
        &owner,
        &project,
        json!({"prompt": "On develop", "mode": "run", "baseBranch": "develop"}),
    )
    .await;
    assert_eq!(task.base_branch, "develop");
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    let output = task.output.expect("output");
    assert_eq!(output.base_branch, "develop");
    assert_eq!(
        repo.commit_of(&format!("{}^", output.branch)),
        repo.commit_of("develop")
    );
    assert_eq!(
        repo.file(&output.branch, "done.txt").as_deref(),
        Some("done\n")
    );

    let started = std::time::Instant::now();
    let task = submit(
        &stack,
        &owner,
        &project,
        json!({"prompt": "Nowhere", "mode": "run", "baseBranch": "no-such-branch"}),
    )
    .await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Failed)
        .await;
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        last_reason(&task).contains("no-such-branch"),
        "{:?}",
        task.history
    );
}

#[tokio::test]
async fn a_push_the_remote_refuses_fails_the_task_with_the_remotes_reason() {
    let stack = TestStack::start().await;
    let owner = user();
    let (project, repo, _script) =
        project_playing(&stack, &owner, json!([{"shell": "echo x > x.txt"}])).await;
    repo.refuse_pushes("pushes are frozen for the release");
    let task = submit(
        &stack,
        &owner,
        &project,
        json!({"prompt": "Change", "mode": "run"}),
    )
    .await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Failed)
        .await;
    let reason = last_reason(&task);
    assert!(
        reason.contains("pushes are frozen for the release"),
        "{reason}"
    );
    assert!(reason.contains("pushing the branch"), "{reason}");
    assert!(task.output.is_none());
    assert_eq!(repo.branches(), ["develop", "main"]);
}

#[tokio::test]
async fn a_missing_repository_fails_the_task_within_seconds_and_frees_the_node() {
    let stack = TestStack::start().await;
    let owner = user();
    let missing = std::env::temp_dir()
        .join(hangar_tests::unique("no-repo"))
        .join("gone.git");
    let project = stack
        .create_project(
            &owner,
            json!({"name": "Gone", "repo": format!("file://{}", missing.display())}),
        )
        .await;
    let started = std::time::Instant::now();
    let task = stack.submit_task(&owner, &project, "Anything", "run").await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Failed)
        .await;
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
    let reason = last_reason(&task);
    assert!(
        reason.contains("cannot check out") && reason.contains("gone.git"),
        "{reason}"
    );
    let node = task.node_id.clone().expect("the task had a node");
    stack.wait_for_node(&node, NodeStatus::Warm).await;
}

#[tokio::test]
async fn repository_urls_and_branches_are_checked_and_a_tasks_own_size_and_branch_win() {
    let stack = TestStack::start().await;
    let owner = user();
    let token = stack.user_token(&owner);
    let create = async |body: Value| {
        stack
            .call("POST", routes::PROJECTS, Some(&token), Some(body))
            .await
    };
    for (repo, code) in [
        ("acme/shop", "invalid_repo"),
        ("http://github.com/acme/shop.git", "invalid_repo"),
        ("ext::sh -c touch% /tmp/pwned", "invalid_repo"),
        (
            "https://x-access-token:ghp_x@github.com/acme/shop.git",
            "invalid_repo",
        ),
        ("git@github.com:-oProxyCommand=x", "invalid_repo"),
    ] {
        let (status, body) = create(json!({"name": "Bad", "repo": repo})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{repo}: {body}"
        );
    }
    for branch in ["a..b", "-x", "x y", "refs/heads/", &"b".repeat(201)] {
        let (status, body) = create(
            json!({"name": "Bad", "repo": "https://github.com/acme/shop.git", "defaultBranch": branch}),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_branch")),
            "{branch}: {body}"
        );
    }
    let (status, body) = create(json!({
        "name": "Edge", "repo": "git@github.com:acme/shop.git",
        "defaultBranch": "b".repeat(200), "defaultVmSize": "large"
    }))
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["defaultBranch"], "b".repeat(200).as_str());
    let project = ProjectId::parse(body["id"].as_str().expect("id").to_string()).expect("id");

    // A task takes the project's defaults unless it names its own.
    let backlog = |extra: Value| {
        let mut body = json!({"prompt": "p", "mode": "backlog"});
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        body
    };
    let plain = submit(&stack, &owner, &project, backlog(json!({}))).await;
    assert_eq!(
        (plain.vm_size.as_str(), plain.base_branch.len()),
        ("large", 200)
    );
    let own = submit(
        &stack,
        &owner,
        &project,
        backlog(json!({"vmSize": "small", "baseBranch": "release/2.0"})),
    )
    .await;
    assert_eq!(
        (own.vm_size.as_str(), own.base_branch.as_str()),
        ("small", "release/2.0")
    );
    let (status, body) = stack
        .call(
            "POST",
            &routes::tasks(&project),
            Some(&token),
            Some(backlog(json!({"baseBranch": "../main"}))),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_branch")),
        "{body}"
    );
}
