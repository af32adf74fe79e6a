//! Projects as their members see them: create, list, share, and the input rules.

use hangar_protocol::routes;
use hangar_tests::TestStack;
use hangar_tests::fixtures::user;
use serde_json::json;

#[tokio::test]
async fn projects_are_created_listed_and_shared_only_with_members() {
    let stack = TestStack::start().await;
    let (owner, other) = (user(), user());
    let project = stack.new_project(&owner).await;
    let owner_token = stack.user_token(&owner);
    let other_token = stack.user_token(&other);

    let (status, body) = stack
        .call("GET", routes::PROJECTS, Some(&owner_token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().map(Vec::len), Some(1));
    assert_eq!(body[0]["defaultVmSize"], "small");
    let (_, body) = stack
        .call("GET", routes::PROJECTS, Some(&other_token), None)
        .await;
    assert_eq!(body, json!([]));
    let (status, body) = stack
        .call("GET", &routes::project(&project), Some(&other_token), None)
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("not_a_member")));

    let add = json!({"userId": other.as_str()});
    let (status, body) = stack
        .call(
            "POST",
            &routes::members(&project),
            Some(&other_token),
            Some(add.clone()),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("not_a_member")));
    let (status, body) = stack
        .call(
            "POST",
            &routes::members(&project),
            Some(&owner_token),
            Some(add),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = stack
        .call("GET", &routes::project(&project), Some(&other_token), None)
        .await;
    assert_eq!(status, 200);
    let (_, body) = stack
        .call("GET", routes::PROJECTS, Some(&other_token), None)
        .await;
    assert_eq!(body.as_array().map(Vec::len), Some(1));
    // A member who is not the owner cannot add members.
    let (status, body) = stack
        .call(
            "POST",
            &routes::members(&project),
            Some(&other_token),
            Some(json!({"userId": "someone"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_the_owner"))
    );

    for (body, code) in [
        (
            json!({"name": "", "repo": "https://github.com/a/b.git"}),
            "invalid_name",
        ),
        (
            json!({"name": "x".repeat(201), "repo": "https://github.com/a/b.git"}),
            "invalid_name",
        ),
        (
            json!({"name": "ok", "repo": "https://github.com/a/b.git", "defaultVmSize": "huge"}),
            "invalid_body",
        ),
        (
            json!({"repo": "https://github.com/a/b.git"}),
            "invalid_body",
        ),
    ] {
        let (status, answer) = stack
            .call("POST", routes::PROJECTS, Some(&owner_token), Some(body))
            .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some(code)),
            "{answer}"
        );
    }
    let (status, _) = stack
        .call(
            "POST",
            routes::PROJECTS,
            Some(&owner_token),
            Some(json!({"name": "x".repeat(200), "repo": "https://github.com/a/b.git"})),
        )
        .await;
    assert_eq!(status, 201, "a name of exactly the limit is fine");
    let (status, body) = stack.call("GET", routes::PROJECTS, None, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("missing_token"))
    );
}

/// Projects are read in batches of 100 (BatchGetItem): a member of more sees them all,
/// newest first.
#[tokio::test]
async fn a_member_of_more_projects_than_one_batch_read_sees_them_all_newest_first() {
    let stack = TestStack::start().await;
    let owner = hangar_tests::fixtures::user();
    let token = stack.user_token(&owner);
    let mut made = Vec::new();
    for i in 0..105 {
        let body = json!({"name": format!("P{i}"), "repo": "https://github.com/acme/shop.git"});
        let (status, project) = stack
            .call("POST", routes::PROJECTS, Some(&token), Some(body))
            .await;
        assert_eq!(status, 201, "{project}");
        made.push(project["id"].as_str().expect("id").to_string());
    }
    let (status, listed) = stack
        .call("GET", routes::PROJECTS, Some(&token), None)
        .await;
    assert_eq!(status, 200, "{listed}");
    let listed: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(listed.len(), 105);
    let mut expected: Vec<&str> = made.iter().map(String::as_str).collect();
    expected.sort();
    let mut got = listed.clone();
    got.sort();
    assert_eq!(got, expected, "every project, once");
    assert_eq!(
        listed.first().copied(),
        made.last().map(String::as_str),
        "newest first"
    );
}

/// Found by schemathesis: serde reads a struct from an array, so `[null, null]` passed as a
/// project change, at the top of a body or inside it; and a rule the document cannot state
/// (a forge's repository taken from the stored URL) is a conflict, not a bad request.
#[tokio::test]
async fn bodies_are_objects_all_the_way_down_and_a_forge_needs_a_repository_it_can_name() {
    let stack = TestStack::start().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let token = stack.user_token(&owner);
    let patch = routes::project(&project);
    for body in [
        json!([null, null]),
        json!({"agent": [null, null, null, null]}),
        json!({"forge": ["github"]}),
        json!({"forge": {"kind": "github", "repository": "acme/shop", "app": [1, 2, "k"]}}),
    ] {
        let (status, answer) = stack
            .call("PATCH", &patch, Some(&token), Some(body.clone()))
            .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("invalid_body")),
            "{body}"
        );
    }
    let (status, answer) = stack
        .call(
            "POST",
            routes::PROJECTS,
            Some(&token),
            Some(json!({"name": "x", "repo": "https://h/x", "agent": [null]})),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalid_body"))
    );

    // The stored URL names no owner/name: a forge without one conflicts with it (409); the
    // same forge beside a URL in the same request that names none is a bad request (400).
    let forge = json!({"kind": "github", "token": "t0k3n"});
    let (status, answer) = stack
        .call(
            "PATCH",
            &patch,
            Some(&token),
            Some(json!({"repo": "https://h/x", "forge": forge})),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalid_forge"))
    );
    let (status, _) = stack
        .call(
            "PATCH",
            &patch,
            Some(&token),
            Some(json!({"repo": "https://h/x"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = stack
        .call("PATCH", &patch, Some(&token), Some(json!({"forge": forge})))
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("invalid_forge"))
    );
    let named = json!({"repo": "git@github.com:acme/shop.git/", "forge": forge});
    let (status, answer) = stack.call("PATCH", &patch, Some(&token), Some(named)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["forge"]["repository"], "acme/shop");
}

/// Failed before: `auth0|abc` is no id, so its token was refused (401 invalid_token). An
/// identity provider's subject that is not an id maps to one of its own.
#[tokio::test]
async fn a_subject_that_is_no_id_signs_in_as_a_stable_user_of_its_own() {
    let stack = TestStack::start().await;
    let token = |subject: &str| {
        stack
            .stack
            .identity
            .access_token(subject, 600)
            .expect("token")
    };
    let create = json!({"name": "Shop", "repo": "https://github.com/acme/shop.git"});
    let (status, created) = stack
        .call(
            "POST",
            routes::PROJECTS,
            Some(&token("auth0|abc")),
            Some(create),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let owner = created["owner"].as_str().expect("owner");
    assert!(owner.starts_with('u') && owner.len() == 41, "{owner}");

    // The same subject again is the same user; another one is not.
    let (_, mine) = stack
        .call("GET", routes::PROJECTS, Some(&token("auth0|abc")), None)
        .await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    let (_, theirs) = stack
        .call("GET", routes::PROJECTS, Some(&token("auth0|abd")), None)
        .await;
    assert_eq!(theirs, json!([]));
    // A subject that is an id already (a Cognito UUID) is itself.
    let uuid = "0b5c8a5e-7d1f-4c0e-9a57-3f1d2e4b6c8a";
    let (status, created) = stack
        .call(
            "POST",
            routes::PROJECTS,
            Some(&token(uuid)),
            Some(json!({"name": "Mine", "repo": "https://github.com/acme/mine.git"})),
        )
        .await;
    assert_eq!((status, created["owner"].as_str()), (201, Some(uuid)));
}
