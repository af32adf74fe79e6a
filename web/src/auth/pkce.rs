//! The authorization code flow with PKCE (RFC 7636): the verifier and state kept in the
//! tab's session storage, the browser sent to the provider, the code exchanged at its token
//! endpoint, and the sign-in recorded (`POST /api/me`).

use base64::Engine;
use gloo_net::http::Request;
use hangar_protocol::routes;
use hangar_protocol::users::{MeView, SignInRequest, StackConfig};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;

use super::{SESSION, Session, encode, keep, network, replace_address, session_storage};
use crate::api::{Api, Failure};

/// Where a sign-in under way keeps its verifier, state and the address to come back to.
const PENDING_KEY: &str = "hangar.pending";

#[derive(Serialize, Deserialize)]
struct Pending {
    verifier: String,
    state: String,
    /// The address's query when the sign-in began (`?project=…`).
    back_to: String,
}

/// The token endpoint's answer (RFC 6749 5.1).
#[derive(Deserialize)]
pub(super) struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    expires_in: Option<f64>,
}

fn random(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    if let Some(crypto) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = crypto.get_random_values_with_u8_array(&mut buffer);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

/// `BASE64URL(SHA-256(verifier))`, by the browser's SubtleCrypto.
async fn challenge(verifier: &str) -> Option<String> {
    let subtle = web_sys::window()?.crypto().ok()?.subtle();
    let bytes = verifier.as_bytes().to_vec();
    let promise = subtle
        .digest_with_str_and_u8_array("SHA-256", &bytes)
        .ok()?;
    let digest = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    let buffer: js_sys::ArrayBuffer = digest.dyn_into().ok()?;
    let hash = js_sys::Uint8Array::new(&buffer).to_vec();
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash))
}

/// Where the provider sends the browser back: this page, without its query.
pub(super) fn redirect_uri() -> String {
    let location = web_sys::window().expect("a browser window").location();
    format!(
        "{}{}",
        location.origin().unwrap_or_default(),
        location.pathname().unwrap_or_default()
    )
}

/// Sends the browser to the provider's sign-in page.
pub async fn begin(config: &StackConfig) {
    let window = web_sys::window().expect("a browser window");
    let verifier = random(48);
    let Some(challenge) = challenge(&verifier).await else {
        web_sys::console::error_1(&"this browser cannot hash the PKCE verifier".into());
        return;
    };
    let pending = Pending {
        verifier,
        state: random(16),
        back_to: window.location().search().unwrap_or_default(),
    };
    if let Some(storage) = session_storage() {
        let _ = storage.set_item(
            PENDING_KEY,
            &serde_json::to_string(&pending).unwrap_or_default(),
        );
    }
    let sign_in = &config.sign_in;
    let url = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&code_challenge={challenge}&code_challenge_method=S256",
        sign_in.authorization_endpoint,
        encode(&sign_in.client_id),
        encode(&redirect_uri()),
        encode(&sign_in.scopes),
        encode(&pending.state),
    );
    let _ = window.location().assign(&url);
}

/// Finishes a sign-in the provider sent back (`?code=…&state=…`): exchanges the code,
/// records the sign-in (`POST /api/me`), and puts the address back as it was.
pub async fn complete(
    api: &Api,
    config: &StackConfig,
    code: &str,
    state: &str,
) -> Result<(), Failure> {
    let refused = |message: &str| Failure {
        status: 0,
        code: "sign_in_failed".into(),
        message: message.to_string(),
    };
    let pending: Pending = session_storage()
        .and_then(|s| s.get_item(PENDING_KEY).ok().flatten())
        .and_then(|json| serde_json::from_str(&json).ok())
        .ok_or_else(|| refused("no sign-in was under way in this tab; sign in again"))?;
    if let Some(storage) = session_storage() {
        let _ = storage.remove_item(PENDING_KEY);
    }
    if pending.state != state {
        return Err(refused(
            "the sign-in answer does not match the request (state); sign in again",
        ));
    }
    let body = format!(
        "grant_type=authorization_code&client_id={}&redirect_uri={}&code={}&code_verifier={}",
        encode(&config.sign_in.client_id),
        encode(&redirect_uri()),
        encode(code),
        encode(&pending.verifier),
    );
    let tokens = token_request(config, body).await?;
    store_tokens(tokens, None);
    replace_address(&pending.back_to);
    record_sign_in(api).await;
    Ok(())
}

/// `POST /api/me` with the ID token: the stack learns the user's email and name, and joins
/// them to the projects that invited them.
async fn record_sign_in(api: &Api) {
    let Some(id_token) = SESSION.with(|s| s.borrow().as_ref().and_then(|s| s.id_token.clone()))
    else {
        return;
    };
    match api
        .post::<MeView>(routes::ME, Some(&SignInRequest { id_token }))
        .await
    {
        Ok(me) => SESSION.with(|session| {
            let mut session = session.borrow().clone();
            if let Some(session) = &mut session {
                session.name = me.name.or(me.email);
            }
            keep(session);
        }),
        Err(failure) => web_sys::console::warn_1(&failure.describe().into()),
    }
}

pub(super) async fn token_request(
    config: &StackConfig,
    body: String,
) -> Result<TokenResponse, Failure> {
    let response = Request::post(&config.sign_in.token_endpoint)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .map_err(network)?
        .send()
        .await
        .map_err(network)?;
    if !response.ok() {
        return Err(Failure {
            status: response.status(),
            code: "sign_in_failed".into(),
            message: "the identity provider refused the sign-in".into(),
        });
    }
    response.json().await.map_err(network)
}

pub(super) fn store_tokens(tokens: TokenResponse, earlier: Option<Session>) {
    let earlier = earlier.unwrap_or_default();
    let lifetime_ms = tokens.expires_in.map(|seconds| seconds * 1000.0);
    keep(Some(Session {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token.or(earlier.refresh_token),
        id_token: tokens.id_token.or(earlier.id_token),
        expires_at_ms: lifetime_ms.map(|lifetime| js_sys::Date::now() + lifetime),
        lifetime_ms,
        name: earlier.name,
    }));
}
