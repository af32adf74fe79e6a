//! A project whose forge credential is a GitHub App installation: a fresh installation token
//! is minted (with an RS256 JWT of the app) for every use, and a key the app does not have
//! fails the task with GitHub's answer.

use hangar_tests::forge::StubApp;

use super::*;

/// An RSA key pair made with openssl: (private PEM, public PEM).
fn rsa_key_pair() -> (String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let private = dir.path().join("app.pem");
    let run = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        status.stdout
    };
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &private.display().to_string(),
    ]);
    let public = run(&["pkey", "-in", &private.display().to_string(), "-pubout"]);
    (
        std::fs::read_to_string(&private).expect("private key"),
        String::from_utf8(public).expect("public key"),
    )
}

#[tokio::test]
async fn a_github_app_mints_an_installation_token_for_the_clone_the_push_and_the_pull_request() {
    let (private_pem, public_pem) = rsa_key_pair();
    let installation_token = format!("ghs_{}", unique("inst").replace('-', ""));
    let repo = BareRepo::seeded();
    let root = repo.dir.parent().expect("root").to_path_buf();
    let server = GitHttpServer::start(root, &installation_token).await;
    let app = StubApp {
        app_id: 4242,
        installation_id: 77,
        public_pem,
    };
    let github = GitHubStub::start_with(&installation_token, Some(app)).await;
    let (_dir, script) = shared_script(json!([{"shell": "echo app > app.txt"}]));
    let stack = TestStack::start().await;
    let owner = hangar_tests::fixtures::user();
    let body = json!({
        "name": "App shop", "repo": server.url("shop.git"), "acpCommand": scripted_command(&script),
        "forge": {"kind": "github", "apiUrl": github.api_url(), "repository": "acme/shop",
                  "app": {"appId": 4242, "installationId": 77, "privateKey": private_pem}},
    });
    let (project, created) = create(&stack, &owner, body).await;
    assert!(
        !created.contains("PRIVATE KEY"),
        "the key is never returned: {created}"
    );
    let shown: Value = serde_json::from_str(&created).expect("json");
    assert_eq!(
        shown["forge"]["app"],
        json!({"appId": 4242, "installationId": 77})
    );

    let task = stack
        .submit_task(&owner, &project, "With the app", "run")
        .await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Completed)
        .await;
    let output = task.output.expect("output");
    assert!(output.pull_request_url.is_some(), "{output:?}");
    assert_eq!(
        repo.file(&output.branch, "app.txt").as_deref(),
        Some("app\n")
    );
    // Minted for each use: before the clone, before the push, for the pull request.
    assert!(github.minted() >= 3, "minted {}", github.minted());
    assert!(server.presented().contains(&installation_token));

    // A key the app does not have: the mint is refused, and the task fails saying so.
    let (other_private, _) = rsa_key_pair();
    let (status, answer) = stack
        .call("PATCH", &routes::project(&project), Some(&stack.user_token(&owner)), Some(json!({
            "forge": {"kind": "github", "apiUrl": github.api_url(), "repository": "acme/shop",
                      "app": {"appId": 4242, "installationId": 77, "privateKey": other_private}},
        })))
        .await;
    assert_eq!(status, 200, "{answer}");
    let task = stack
        .submit_task(&owner, &project, "Wrong key", "run")
        .await;
    let task = stack
        .wait_for_status(&owner, &task, TaskStatus::Failed)
        .await;
    let reason = last_reason(&task);
    assert!(
        reason.contains("cannot mint an installation token") && reason.contains("401"),
        "{reason}"
    );
}
