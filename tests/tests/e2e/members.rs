//! Members by email: an address nobody has signed in with waits as an invitation and turns
//! into a membership at that person's first sign-in; the owner removes members; a member
//! may leave.

use hangar_infra::oidc::DevUser;
use hangar_protocol::ProjectId;
use hangar_protocol::routes;
use hangar_protocol::users::EMAIL_MAX_BYTES;
use hangar_tests::fixtures::user;
use hangar_tests::{TestStack, unique};
use serde_json::{Value, json};

/// Signs `user` in as the page does after the provider's redirect: the access token for the
/// API, the ID token recorded at `POST /api/me`.
async fn sign_in(stack: &TestStack, user: &DevUser) -> (String, Value) {
    let identity = &stack.stack.identity;
    let access = identity.access_token(&user.subject, 600).expect("access");
    let id_token = identity.id_token(user, None).expect("id");
    let (status, me) = stack
        .call(
            "POST",
            routes::ME,
            Some(&access),
            Some(json!({"idToken": id_token})),
        )
        .await;
    assert_eq!(status, 200, "{me}");
    (access, me)
}

fn newcomer(name: &str) -> DevUser {
    let email = format!("{}@example.com", unique(name));
    DevUser {
        subject: format!("local|{email}"),
        email,
        name: name.into(),
    }
}

async fn project_status(stack: &TestStack, token: &str, project: &ProjectId) -> u16 {
    stack
        .call("GET", &routes::project(project), Some(token), None)
        .await
        .0
}

/// The test the issue names: failed before (members were added by user id only).
#[tokio::test]
async fn a_member_added_by_email_before_their_first_sign_in_gets_access_at_it() {
    let stack = TestStack::start().await;
    let owner = user();
    let owner_token = stack.user_token(&owner);
    let project = stack.new_project(&owner).await;
    let ada = newcomer("ada");

    let shouted = ada.email.to_uppercase();
    let (status, view) = stack
        .call(
            "POST",
            &routes::members(&project),
            Some(&owner_token),
            Some(json!({"email": shouted})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["invited"], json!([ada.email]));

    // Before signing in (even with a valid token) Ada sees nothing of the project.
    let ada_early = stack
        .stack
        .identity
        .access_token(&ada.subject, 600)
        .expect("token");
    assert_eq!(project_status(&stack, &ada_early, &project).await, 403);

    let (ada_token, me) = sign_in(&stack, &ada).await;
    assert_eq!(me["joined"], json!([project.as_str()]), "{me}");
    assert_eq!(project_status(&stack, &ada_token, &project).await, 200);
    let (_, view) = stack
        .call("GET", &routes::project(&project), Some(&owner_token), None)
        .await;
    assert_eq!(view["invited"], json!([]));
    assert!(
        view["members"]
            .as_array()
            .expect("members")
            .contains(&me["id"]),
        "{view}"
    );
    // A second sign-in joins nothing again.
    let (_, again) = sign_in(&stack, &ada).await;
    assert_eq!(again["joined"], json!([]));

    // Someone who signed in before is added at once by their email.
    let bob = newcomer("bob");
    let (bob_token, bob_me) = sign_in(&stack, &bob).await;
    let (status, view) = stack
        .call(
            "POST",
            &routes::members(&project),
            Some(&owner_token),
            Some(json!({"email": bob.email})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert!(
        view["members"]
            .as_array()
            .expect("members")
            .contains(&bob_me["id"])
    );
    assert_eq!(project_status(&stack, &bob_token, &project).await, 200);
}

/// An email nobody verified matches nothing: the provider's `email_verified` is required.
#[tokio::test]
async fn an_unverified_email_does_not_take_an_invitation() {
    let stack = TestStack::start().await;
    let owner = user();
    let project = stack.new_project(&owner).await;
    let eve = newcomer("eve");
    let (status, _) = stack
        .call(
            "POST",
            &routes::members(&project),
            Some(&stack.user_token(&owner)),
            Some(json!({"email": eve.email})),
        )
        .await;
    assert_eq!(status, 200);
    let identity = &stack.stack.identity;
    let access = identity.access_token(&eve.subject, 600).expect("access");
    let now = hangar_protocol::time::now_ms() / 1000;
    let unverified = identity
        .sign(&json!({
            "iss": identity.issuer(), "sub": eve.subject, "aud": hangar_infra::oidc::LOCAL_CLIENT_ID,
            "token_use": "id", "email": eve.email, "email_verified": false, "exp": now + 600,
        }))
        .expect("id token");
    let (status, me) = stack
        .call(
            "POST",
            routes::ME,
            Some(&access),
            Some(json!({"idToken": unverified})),
        )
        .await;
    assert_eq!((status, me["joined"].clone()), (200, json!([])), "{me}");
    assert_eq!(project_status(&stack, &access, &project).await, 403);
    // An ID token of someone else is refused outright.
    let other = identity.id_token(&newcomer("mallory"), None).expect("id");
    let (status, body) = stack
        .call(
            "POST",
            routes::ME,
            Some(&access),
            Some(json!({"idToken": other})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("invalid_token"))
    );
}

#[tokio::test]
async fn members_are_checked_removed_by_the_owner_and_may_leave() {
    let stack = TestStack::start().await;
    let owner = user();
    let owner_token = stack.user_token(&owner);
    let project = stack.new_project(&owner).await;
    let members = routes::members(&project);
    let add = |body: Value| {
        let (members, owner_token) = (members.clone(), owner_token.clone());
        let stack = &stack;
        async move {
            stack
                .call("POST", &members, Some(&owner_token), Some(body))
                .await
        }
    };
    for (body, code) in [
        (json!({"email": "not-an-email"}), "invalid_email"),
        (
            json!({"email": format!("{}@example.com", "a".repeat(EMAIL_MAX_BYTES))}),
            "invalid_email",
        ),
        (json!({}), "invalid_body"),
        (
            json!({"email": "a@example.com", "userId": "someone"}),
            "invalid_body",
        ),
    ] {
        let (status, answer) = add(body.clone()).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }

    let (carol, dave) = (user(), user());
    for member in [&carol, &dave] {
        assert_eq!(add(json!({"userId": member})).await.0, 200);
    }
    let invited = format!("{}@example.com", unique("frank"));
    assert_eq!(add(json!({"email": invited})).await.0, 200);
    let member_path = |member: &str| format!("{members}/{member}");
    let carol_token = stack.user_token(&carol);

    // Only the owner removes others; nobody removes the owner.
    let (status, body) = stack
        .call(
            "DELETE",
            &member_path(dave.as_str()),
            Some(&carol_token),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_the_owner"))
    );
    let (status, body) = stack
        .call(
            "DELETE",
            &member_path(owner.as_str()),
            Some(&owner_token),
            None,
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("owner_stays")));

    let (status, view) = stack
        .call(
            "DELETE",
            &member_path(dave.as_str()),
            Some(&owner_token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert!(
        !view["members"]
            .as_array()
            .expect("members")
            .contains(&json!(dave))
    );
    assert_eq!(
        project_status(&stack, &stack.user_token(&dave), &project).await,
        403
    );
    // An invitation is withdrawn by its email: signing in with it later joins nothing.
    let (status, view) = stack
        .call("DELETE", &member_path(&invited), Some(&owner_token), None)
        .await;
    assert_eq!((status, view["invited"].clone()), (200, json!([])));

    // Carol leaves on her own.
    let (status, _) = stack
        .call(
            "DELETE",
            &member_path(carol.as_str()),
            Some(&carol_token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(project_status(&stack, &carol_token, &project).await, 403);
    let (_, listed) = stack
        .call("GET", routes::PROJECTS, Some(&carol_token), None)
        .await;
    assert_eq!(listed, json!([]));
}
