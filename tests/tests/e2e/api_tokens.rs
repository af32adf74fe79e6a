//! Personal API tokens: made by a signed-in person, shown once, used by scripts on HTTP and
//! on the WebSocket, listed without their secret, revoked, expiring, and checked at their
//! limits.

use hangar_functions::domain::api_tokens::ApiTokenRecord;
use hangar_protocol::routes;
use hangar_protocol::time::now_ms;
use hangar_protocol::users::{API_TOKEN_MAX_DAYS, API_TOKEN_NAME_MAX_CHARS, API_TOKENS_PER_USER};
use hangar_tests::TestStack;
use hangar_tests::fixtures::user;
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;

use crate::live::{refused, ws_path};

async fn make(stack: &TestStack, bearer: &str, body: Value) -> (u16, Value) {
    stack
        .call("POST", routes::API_TOKENS, Some(bearer), Some(body))
        .await
}

#[tokio::test]
async fn a_token_is_shown_once_works_for_scripts_and_stops_when_revoked() {
    let stack = TestStack::start().await;
    let owner = user();
    let signed_in = stack.user_token(&owner);
    let project = stack.new_project(&owner).await;

    let (status, created) = make(&stack, &signed_in, json!({"name": "laptop CLI"})).await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"]
        .as_str()
        .expect("the token, once")
        .to_string();
    assert!(token.starts_with("hgr_"), "{token}");
    let ninety_days = 90 * 86_400_000;
    let lifetime = created["expiresAt"].as_u64().expect("expiry")
        - created["createdAt"].as_u64().expect("made");
    assert_eq!(lifetime, ninety_days);

    // A script reads and writes with it as the user.
    let (status, listed) = stack
        .call("GET", routes::PROJECTS, Some(&token), None)
        .await;
    assert_eq!(
        (status, listed[0]["id"].as_str()),
        (200, Some(project.as_str()))
    );
    // And follows a project live.
    let url = stack
        .stack
        .ws_url(&ws_path(Some(&token), Some(project.as_str())));
    let (socket, _) = connect_async(url)
        .await
        .expect("a viewer's socket with an API token");
    drop(socket);

    // Listed without its secret.
    let (status, tokens) = stack
        .call("GET", routes::API_TOKENS, Some(&signed_in), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(tokens.as_array().map(Vec::len), Some(1));
    assert_eq!(tokens[0]["name"], "laptop CLI");
    assert!(tokens[0].get("token").is_none() && !tokens.to_string().contains(&token[20..]));

    // A token cannot make or revoke tokens: that takes a person signed in.
    let (status, body) = make(&stack, &token, json!({"name": "more"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("sign_in_needed"))
    );

    // Another user cannot revoke it; its owner can, and then it stops at once.
    let id = created["id"].as_str().expect("id");
    let path = routes::fill(routes::API_TOKEN, &[id]);
    let (status, body) = stack
        .call("DELETE", &path, Some(&stack.user_token(&user())), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("api_token_not_found"))
    );
    let (status, _) = stack.call("DELETE", &path, Some(&signed_in), None).await;
    assert_eq!(status, 204);
    let (status, body) = stack
        .call("GET", routes::PROJECTS, Some(&token), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );
    let (status, body) = refused(&stack, &ws_path(Some(&token), Some(project.as_str()))).await;
    assert_eq!((status, body.code.as_str()), (401, "invalid_token"));

    // A mistyped secret of a live token is no token either.
    let (_, other) = make(&stack, &signed_in, json!({"name": "ci"})).await;
    let live = other["token"].as_str().expect("token");
    let mistyped = format!("{}x", &live[..live.len() - 1]);
    let (status, _) = stack
        .call("GET", routes::PROJECTS, Some(&mistyped), None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn tokens_are_checked_at_their_limits_and_an_expired_one_is_refused() {
    let stack = TestStack::start().await;
    let owner = user();
    let signed_in = stack.user_token(&owner);
    let longest = "n".repeat(API_TOKEN_NAME_MAX_CHARS);
    let too_long = "n".repeat(API_TOKEN_NAME_MAX_CHARS + 1);
    for (body, status, code) in [
        (json!({"name": "  "}), 400, Some("invalid_token_name")),
        (json!({"name": too_long}), 400, Some("invalid_token_name")),
        (
            json!({"name": "zero", "expiresInDays": 0}),
            400,
            Some("invalid_expiry"),
        ),
        (
            json!({"name": "long", "expiresInDays": API_TOKEN_MAX_DAYS + 1}),
            400,
            Some("invalid_expiry"),
        ),
        (
            json!({"name": longest, "expiresInDays": API_TOKEN_MAX_DAYS}),
            201,
            None,
        ),
        (json!({"name": "a day", "expiresInDays": 1}), 201, None),
    ] {
        let (got, answer) = make(&stack, &signed_in, body.clone()).await;
        assert_eq!((got, answer["code"].as_str()), (status, code), "{body}");
    }
    for n in 2..API_TOKENS_PER_USER {
        let (status, _) = make(&stack, &signed_in, json!({"name": format!("t{n}")})).await;
        assert_eq!(status, 201);
    }
    let (status, body) = make(&stack, &signed_in, json!({"name": "one too many"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("too_many_tokens"))
    );

    // A token past its expiry signs nobody in (its record aged in the store).
    let other = user();
    let (_, created) = make(&stack, &stack.user_token(&other), json!({"name": "old"})).await;
    let token = created["token"].as_str().expect("token");
    let id = hangar_protocol::ApiTokenId::parse(created["id"].as_str().expect("id")).expect("id");
    let store = &stack.stack.state.store;
    let record: ApiTokenRecord = store.get_api_token(&id).await.expect("read").expect("kept");
    store
        .put_api_token(&ApiTokenRecord {
            expires_at: now_ms() - 1,
            ..record
        })
        .await
        .expect("age it");
    let (status, body) = stack.call("GET", routes::PROJECTS, Some(token), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("token_expired"))
    );
}
