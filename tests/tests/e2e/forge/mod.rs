//! A project with a forge: its repository wants a password (a real git server over HTTP on
//! loopback), its token is kept write-only in Secrets Manager (moto), reaches git only
//! through the node's credential helper, and opens the task's pull request on a stand-in of
//! GitHub's API. GitHub itself cannot be reached from here.

mod app;

use hangar_functions::domain::ports::VaultSlot;
use hangar_protocol::tasks::{ProjectView, TaskStatus, TaskView};
use hangar_protocol::{ProjectId, UserId, routes};
use hangar_tests::agent::{scripted_command, shared_script};
use hangar_tests::forge::{GitHttpServer, GitHubStub, PullAnswer};
use hangar_tests::git::BareRepo;
use hangar_tests::{TestStack, unique};
use serde_json::{Value, json};

/// A private repository, its git server, a GitHub stand-in and a token both accept.
struct Forge {
    repo: BareRepo,
    server: GitHttpServer,
    github: GitHubStub,
    token: String,
}

impl Forge {
    async fn start() -> Forge {
        let repo = BareRepo::seeded();
        let token = format!("ghp_{}", unique("secret").replace('-', ""));
        let root = repo.dir.parent().expect("root").to_path_buf();
        let server = GitHttpServer::start(root, &token).await;
        let github = GitHubStub::start(&token).await;
        Forge {
            repo,
            server,
            github,
            token,
        }
    }

    fn project_body(&self, script: &str) -> Value {
        json!({
            "name": "Private shop",
            "repo": self.server.url("shop.git"),
            "acpCommand": scripted_command(script),
            "forge": {"kind": "github", "apiUrl": self.github.api_url(),
                      "repository": "acme/shop", "token": self.token},
        })
    }
}

async fn create(stack: &TestStack, owner: &UserId, body: Value) -> (ProjectId, String) {
    let (status, answer) = stack
        .call(
            "POST",
            routes::PROJECTS,
            Some(&stack.user_token(owner)),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let id = ProjectId::parse(answer["id"].as_str().expect("id").to_string()).expect("id");
    (id, answer.to_string())
}

fn last_reason(task: &TaskView) -> String {
    task.history
        .last()
        .map(|t| t.reason.clone())
        .unwrap_or_default()
}

async fn transcript(stack: &TestStack, owner: &UserId, task: &TaskView) -> String {
    stack
        .session_messages(owner, &task.project_id, &task.session_id)
        .await
        .into_iter()
        .map(|message| message.content)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_task_on_a_private_repository_pushes_with_its_credential_and_opens_a_pull_request() {
    let forge = Forge::start().await;
    let (_dir, script) = shared_script(json!([
        {"shell": "env; cat .git/config; git config --list --show-origin; echo change > change.txt"},
        {"think": "Done; now the summary."},
        {"say": "Made the change you asked for."}
    ]));
    let stack = TestStack::start().await;
    let owner = hangar_tests::fixtures::user();
    let (project, created) = create(&stack, &owner, forge.project_body(&script)).await;
    assert!(
        !created.contains(&forge.token),
        "the token is never returned: {created}"
    );
    let (_, shown) = stack
        .call(
            "GET",
            &routes::project(&project),
            Some(&stack.user_token(&owner)),
            None,
        )
        .await;
    let shown: ProjectView = serde_json::from_value(shown).expect("project");
    let kept = shown.forge.expect("forge");
    assert!(kept.has_credential && kept.repository == "acme/shop");

    let task = stack
        .submit_task(&owner, &project, "Change it", "run")
        .await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    let output = task.output.clone().expect("output");
    assert_eq!(
        forge.repo.file(&output.branch, "change.txt").as_deref(),
        Some("change\n")
    );
    assert_eq!(
        output.pull_request_url.as_deref(),
        Some("https://github.example/acme/shop/pull/1")
    );
    // The pull request GitHub was asked for.
    let asked = forge.github.asked();
    assert_eq!(asked.len(), 1);
    let (repository, body, token) = &asked[0];
    assert_eq!(repository, "acme/shop");
    assert_eq!(token.as_deref(), Some(forge.token.as_str()));
    assert_eq!(body["title"], task.title.as_str());
    assert_eq!(
        (body["head"].as_str(), body["base"].as_str()),
        (Some(output.branch.as_str()), Some("main"))
    );
    let description = body["body"].as_str().unwrap_or_default();
    assert!(
        description.contains("Made the change you asked for."),
        "{description}"
    );
    assert!(
        description.contains(&format!("?project={project}&session={}", task.session_id)),
        "{description}"
    );
    // Git was given the token (clone and push), through the helper only.
    assert!(
        forge
            .server
            .presented()
            .iter()
            .filter(|p| **p == forge.token)
            .count()
            >= 2
    );

    // Nowhere else: not the transcript (the agent printed its environment and git config),
    // not the node's log, not the stored project.
    let said = transcript(&stack, &owner, &task).await;
    assert!(
        said.contains("remote.origin.url"),
        "the agent could read its git config: {said}"
    );
    assert!(
        !said.contains(&forge.token),
        "the token reached the agent: {said}"
    );
    let node = task.node_id.clone().expect("node");
    let log_file = stack.stack.provisioner.node_dir(&node).join("agent.log");
    let read_log = || std::fs::read_to_string(&log_file).unwrap_or_default();
    hangar_tests::eventually(
        "the node logged its report",
        hangar_tests::LIMIT,
        async || read_log().contains("reported the workspace's end"),
    )
    .await;
    let log = read_log();
    assert!(
        !log.contains(&forge.token),
        "the token is in the node's log"
    );
    let stored = stack
        .stack
        .state
        .store
        .get_project(&project)
        .await
        .expect("read");
    assert!(!format!("{stored:?}").contains(&forge.token));
}

#[tokio::test]
async fn an_open_pull_request_is_reused_and_a_refused_one_or_a_wrong_token_fails_the_task() {
    let forge = Forge::start().await;
    let (_dir, script) = shared_script(json!([{"shell": "date +%s%N > stamp.txt"}]));
    let stack = TestStack::start().await;
    let owner = hangar_tests::fixtures::user();
    let (project, _) = create(&stack, &owner, forge.project_body(&script)).await;

    forge.github.answer(PullAnswer::AlreadyExists);
    let task = stack.submit_task(&owner, &project, "Again", "run").await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    assert_eq!(
        task.output.and_then(|o| o.pull_request_url).as_deref(),
        Some("https://github.example/acme/shop/pull/7")
    );

    forge.github.answer(PullAnswer::Forbidden);
    let task = stack
        .submit_task(&owner, &project, "Forbidden", "run")
        .await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Failed)
        .await;
    let reason = last_reason(&task);
    assert!(
        reason.contains("cannot open the pull request")
            && reason.contains("403")
            && reason.contains("Resource not accessible by personal access token"),
        "{reason}"
    );
    // The branch was pushed before the forge refused: the output still says where.
    let output = task.output.expect("output");
    assert!(forge.repo.branches().contains(&output.branch));

    // A forge that does not take the token (401): the task fails with GitHub's message.
    let elsewhere = GitHubStub::start("a-token-we-do-not-have").await;
    let (status, answer) = stack
        .call(
            "PATCH",
            &routes::project(&project),
            Some(&stack.user_token(&owner)),
            Some(json!({"forge": {"kind": "github", "apiUrl": elsewhere.api_url(), "repository": "acme/shop"}})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["forge"]["hasCredential"], true,
        "the kept token stays"
    );
    let task = stack
        .submit_task(&owner, &project, "Unauthorized", "run")
        .await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Failed)
        .await;
    let reason = last_reason(&task);
    assert!(
        reason.contains("401") && reason.contains("Bad credentials"),
        "{reason}"
    );

    // A token the git server refuses fails the next task at its clone, with git's reason.
    let (status, answer) = stack
        .call(
            "PATCH",
            &routes::project(&project),
            Some(&stack.user_token(&owner)),
            Some(
                json!({"forge": {"kind": "github", "apiUrl": forge.github.api_url(),
                                  "repository": "acme/shop", "token": "ghp_wrong"}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let task = stack
        .submit_task(&owner, &project, "Wrong token", "run")
        .await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Failed)
        .await;
    let reason = last_reason(&task);
    assert!(
        reason.contains("cannot check out") && reason.contains("Authentication failed"),
        "{reason}"
    );
    assert!(!reason.contains("ghp_wrong"), "{reason}");
}

#[tokio::test]
async fn forge_settings_are_checked_changed_by_the_owner_only_and_removed_with_their_secret() {
    let stack = TestStack::start().await;
    let owner = hangar_tests::fixtures::user();
    let token = stack.user_token(&owner);
    let repo = "https://github.com/acme/shop.git";
    for forge in [
        json!({"kind": "github", "apiUrl": "http://api.github.com"}),
        json!({"kind": "github", "repository": "acme"}),
        json!({"kind": "github", "token": "has space"}),
        json!({"kind": "github", "token": "x".repeat(256)}),
    ] {
        let (status, body) = stack
            .call(
                "POST",
                routes::PROJECTS,
                Some(&token),
                Some(json!({"name": "Bad", "repo": repo, "forge": forge})),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_forge")),
            "{forge}: {body}"
        );
    }
    let (project, _) = create(
        &stack,
        &owner,
        json!({"name": "Shop", "repo": repo, "forge": {"kind": "github", "token": "t".repeat(255)}}),
    )
    .await;
    let (_, shown) = stack
        .call("GET", &routes::project(&project), Some(&token), None)
        .await;
    assert_eq!(
        shown["forge"]["repository"], "acme/shop",
        "taken from the repository URL"
    );
    assert_eq!(shown["forge"]["apiUrl"], "https://api.github.com");
    assert_eq!(shown["forge"]["hasCredential"], true);
    let vault = &stack.stack.state.tasks.forges.vault;
    assert_eq!(
        vault
            .get(&project, VaultSlot::ForgeToken)
            .await
            .expect("vault")
            .map(|t| t.len()),
        Some(255)
    );

    // Someone else may not change it; the owner may, field by field.
    let stranger = hangar_tests::fixtures::user();
    let (status, body) = stack
        .call(
            "PATCH",
            &routes::project(&project),
            Some(&stack.user_token(&stranger)),
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_a_member")),
        "{body}"
    );
    let (status, body) = stack
        .call(
            "PATCH",
            &routes::project(&project),
            Some(&token),
            Some(json!({"defaultBranch": "develop", "name": "Shop 2"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["name"].as_str(), body["defaultBranch"].as_str()),
        (Some("Shop 2"), Some("develop"))
    );
    assert_eq!(
        body["forge"]["hasCredential"], true,
        "an untouched forge keeps its credential"
    );
    let (status, body) = stack
        .call(
            "PATCH",
            &routes::project(&project),
            Some(&token),
            Some(json!({"defaultBranch": "a..b"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_branch"))
    );

    // `forge: null` removes it and deletes its secret.
    let (status, body) = stack
        .call(
            "PATCH",
            &routes::project(&project),
            Some(&token),
            Some(json!({"forge": null})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("forge").is_none(), "{body}");
    assert_eq!(
        vault
            .get(&project, VaultSlot::ForgeToken)
            .await
            .expect("vault"),
        None
    );
}
