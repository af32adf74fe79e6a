//! User tokens from an OpenID Connect provider: the local stack's own (`hangar_infra::oidc`),
//! which implements the documented contract of discovery, JWKS, the authorization code flow
//! with PKCE and refresh, as Cognito or Auth0 would be reached on AWS. Each check of a token
//! refuses with its own code, on HTTP and on the WebSocket alike.

use std::time::Duration;

use base64::Engine;
use hangar_infra::DevIdentityProvider;
use hangar_infra::oidc::LOCAL_CLIENT_ID;
use hangar_protocol::routes;
use hangar_protocol::time::now_ms;
use hangar_tests::TestStack;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::live::{refused, ws_path};

fn claims(stack: &TestStack, change: impl FnOnce(&mut Value)) -> Value {
    let now = now_ms() / 1000;
    let mut claims = json!({
        "iss": stack.stack.identity.issuer(), "sub": "claims-user", "aud": LOCAL_CLIENT_ID,
        "token_use": "access", "iat": now, "exp": now + 600,
    });
    change(&mut claims);
    claims
}

async fn code_of(stack: &TestStack, token: &str) -> (u16, String) {
    let (status, body) = stack.call("GET", routes::PROJECTS, Some(token), None).await;
    (
        status,
        body["code"].as_str().unwrap_or_default().to_string(),
    )
}

/// Every refusal is checked against the same claims signed right, which are taken: only the
/// one thing wrong was wrong.
#[tokio::test]
async fn tokens_failing_any_check_are_refused_with_a_code_of_their_own() {
    let stack = TestStack::start().await;
    let provider = &stack.stack.identity;
    let now = now_ms() / 1000;
    let good = provider.sign(&claims(&stack, |_| {})).expect("token");
    assert_eq!(code_of(&stack, &good).await, (200, String::new()));

    // A key the provider does not publish: another provider under the same issuer.
    let stranger_keys = hangar_infra::DevKeys::generate().expect("keys");
    let stranger = DevIdentityProvider::new(
        provider.issuer().to_string(),
        &stranger_keys.user_private_pem,
        600,
    )
    .expect("provider");
    let unsigned = {
        let encode = |value: Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
        };
        let kid = provider.jwks().keys[0].common.key_id.clone();
        format!(
            "{}.{}.",
            encode(json!({"alg": "none", "kid": kid})),
            encode(claims(&stack, |_| {}))
        )
    };
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "unknown key",
            stranger.sign(&claims(&stack, |_| {})).expect("token"),
            401,
            "unknown_signing_key",
        ),
        (
            "wrong audience",
            provider
                .sign(&claims(&stack, |c| c["aud"] = json!("someone-else")))
                .expect("token"),
            401,
            "wrong_audience",
        ),
        (
            "no audience, another client_id",
            provider
                .sign(&claims(&stack, |c| {
                    c.as_object_mut().expect("object").remove("aud");
                    c["client_id"] = json!("someone-else");
                }))
                .expect("token"),
            401,
            "wrong_audience",
        ),
        (
            "expired past the leeway",
            provider
                .sign(&claims(&stack, |c| c["exp"] = json!(now - 120)))
                .expect("token"),
            401,
            "token_expired",
        ),
        (
            "not valid yet",
            provider
                .sign(&claims(&stack, |c| c["nbf"] = json!(now + 3600)))
                .expect("token"),
            401,
            "token_not_yet_valid",
        ),
        (
            "another issuer",
            provider
                .sign(&claims(&stack, |c| {
                    c["iss"] = json!("https://elsewhere.example")
                }))
                .expect("token"),
            401,
            "wrong_issuer",
        ),
        (
            "an ID token as an access token",
            provider
                .sign(&claims(&stack, |c| c["token_use"] = json!("id")))
                .expect("token"),
            401,
            "wrong_token_use",
        ),
        ("alg: none", unsigned, 401, "algorithm_not_allowed"),
        ("not a JWT", "not-a-jwt".into(), 401, "invalid_token"),
    ];
    for (what, token, status, code) in cases {
        assert_eq!(
            code_of(&stack, &token).await,
            (status, code.to_string()),
            "{what}"
        );
        // The WebSocket's $connect checks the same way.
        let (ws_status, body) = refused(&stack, &ws_path(Some(&token), Some("any"))).await;
        assert_eq!(
            (ws_status, body.code.as_str()),
            (status, code),
            "{what} (socket)"
        );
    }
    // A Cognito-style access token (no aud, our client_id) is taken.
    let cognito = provider
        .sign(&claims(&stack, |c| {
            c.as_object_mut().expect("object").remove("aud");
            c["client_id"] = json!(LOCAL_CLIENT_ID);
        }))
        .expect("token");
    assert_eq!(code_of(&stack, &cognito).await.0, 200);
}

/// Failed before: user tokens were checked against one static key. Now a token signed by a
/// key the provider started publishing after the stack read its JWKS is taken once the
/// stack fetches again (at most one fetch per 2 s for unknown keys), for each algorithm.
#[tokio::test]
async fn a_rotated_key_is_picked_up_without_a_restart_in_every_algorithm() {
    let stack = TestStack::start().await;
    let provider = &stack.stack.identity;
    let first = provider.access_token("rotating-user", 600).expect("token");
    assert_eq!(code_of(&stack, &first).await.0, 200);
    for algorithm in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let kid = provider.rotate(algorithm).expect("rotate");
        let rotated = provider.access_token("rotating-user", 600).expect("token");
        let header = jsonwebtoken::decode_header(&rotated).expect("header");
        assert_eq!(
            (header.alg, header.kid.as_deref()),
            (algorithm, Some(kid.as_str()))
        );
        hangar_tests::eventually(
            &format!("the {algorithm:?} key is taken"),
            Duration::from_secs(6),
            async || code_of(&stack, &rotated).await.0 == 200,
        )
        .await;
        // The key published before still verifies.
        assert_eq!(code_of(&stack, &first).await.0, 200);
    }
}

fn challenge_of(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The authorization code flow with PKCE, as the page (or any OIDC client) runs it against
/// the local provider, found through `GET /api/config`.
#[tokio::test]
async fn the_code_flow_with_pkce_signs_in_and_refreshes_through_the_local_provider() {
    let stack = TestStack::start().await;
    let (status, config) = stack.call("GET", routes::CONFIG, None, None).await;
    assert_eq!(status, 200, "{config}");
    let sign_in = &config["signIn"];
    assert_eq!(sign_in["clientId"], LOCAL_CLIENT_ID);
    let authorize = sign_in["authorizationEndpoint"]
        .as_str()
        .expect("authorize")
        .to_string();
    let token_endpoint = sign_in["tokenEndpoint"]
        .as_str()
        .expect("token")
        .to_string();
    assert!(sign_in["endSessionEndpoint"].as_str().is_some(), "{config}");

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let verifier = "v".repeat(20) + &hangar_tests::unique("verifier") + &"x".repeat(20);
    let redirect_uri = stack.url("/");
    let params = [
        ("response_type", "code"),
        ("client_id", LOCAL_CLIENT_ID),
        ("redirect_uri", redirect_uri.as_str()),
        ("state", "s-42"),
        ("code_challenge_method", "S256"),
    ];
    // Without PKCE the provider refuses.
    let plain = http
        .get(&authorize)
        .query(&params)
        .send()
        .await
        .expect("authorize");
    assert_eq!(plain.status().as_u16(), 400);
    let challenge = challenge_of(&verifier);
    let page = http
        .get(&authorize)
        .query(&params)
        .query(&[("code_challenge", challenge.as_str())])
        .send()
        .await
        .expect("authorize");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.expect("page").contains("Sign in"));

    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.extend([
        ("code_challenge", challenge.as_str()),
        ("email", "pkce@example.com"),
        ("name", "Pat Kce"),
    ]);
    let signed_in = http
        .post(&authorize)
        .form(&form)
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status().as_u16(), 303);
    let location = signed_in.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(
        location.starts_with(&redirect_uri) && location.ends_with("&state=s-42"),
        "{location}"
    );
    let code = location
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("code="))
        .expect("code")
        .to_string();

    let exchange = |verifier: String, code: String| {
        let http = http.clone();
        let (token_endpoint, redirect_uri) = (token_endpoint.clone(), redirect_uri.clone());
        async move {
            let response = http
                .post(&token_endpoint)
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", LOCAL_CLIENT_ID),
                    ("redirect_uri", redirect_uri.as_str()),
                    ("code", code.as_str()),
                    ("code_verifier", verifier.as_str()),
                ])
                .send()
                .await
                .expect("token");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let wrong = exchange("w".repeat(50), code.clone()).await;
    assert_eq!(
        (wrong.0, wrong.1["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The wrong verifier spent the code: a code is good for one exchange.
    let spent = exchange(verifier.clone(), code).await;
    assert_eq!(spent.0, 400);

    let again = http
        .post(&authorize)
        .form(&form)
        .send()
        .await
        .expect("sign in");
    let location = again.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let code = location
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("code="))
        .expect("code")
        .to_string();
    let (status, tokens) = exchange(verifier.clone(), code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access");
    let id_token = tokens["id_token"].as_str().expect("id");
    assert_eq!(code_of(&stack, access).await.0, 200);

    // The sign-in is recorded from the ID token: email and name.
    let (status, me) = stack
        .call(
            "POST",
            routes::ME,
            Some(access),
            Some(json!({"idToken": id_token})),
        )
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["email"].as_str(), me["name"].as_str()),
        (Some("pkce@example.com"), Some("Pat Kce"))
    );
    let (_, read) = stack.call("GET", routes::ME, Some(access), None).await;
    assert_eq!(read["name"], "Pat Kce");
    // An ID token where an access token belongs, and an access token as the ID token, fail.
    assert_eq!(
        code_of(&stack, id_token).await,
        (401, "wrong_token_use".into())
    );
    let (status, body) = stack
        .call(
            "POST",
            routes::ME,
            Some(access),
            Some(json!({"idToken": access})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("wrong_token_use"))
    );

    let refreshed = http
        .post(&token_endpoint)
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", LOCAL_CLIENT_ID),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().expect("refresh"),
            ),
        ])
        .send()
        .await
        .expect("refresh")
        .json::<Value>()
        .await
        .expect("json");
    let renewed = refreshed["access_token"].as_str().expect("renewed");
    assert_eq!(code_of(&stack, renewed).await.0, 200);
    assert_eq!(stack.stack.identity.refreshes(), 1);
}
