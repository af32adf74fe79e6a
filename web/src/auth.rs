//! Signing in: the authorization code flow with PKCE (RFC 7636) against the stack's OpenID
//! Connect provider, which `GET /api/config` names. The tokens stay in local storage; the
//! access token is refreshed (refresh token grant) before it expires, and sign-out ends the
//! provider's session too. A token in `#token=` (development only) signs in without a
//! provider and without refresh.

use std::cell::RefCell;

use base64::Engine;
use gloo_net::http::Request;
use hangar_protocol::routes;
use hangar_protocol::users::{MeView, SignInRequest, StackConfig};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;

use crate::api::{Api, Failure};

const SESSION_KEY: &str = "hangar.session";
/// Where a sign-in under way keeps its verifier, state and the address to come back to.
const PENDING_KEY: &str = "hangar.pending";
/// Refresh this long before the access token expires (or at three quarters of a shorter
/// lifetime).
const REFRESH_AHEAD_MS: f64 = 60_000.0;

/// The signed-in user's tokens.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Session {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    /// When the access token expires and how long it lasted (ms).
    #[serde(default)]
    expires_at_ms: Option<f64>,
    #[serde(default)]
    lifetime_ms: Option<f64>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    verifier: String,
    state: String,
    /// The address's query when the sign-in began (`?project=…`).
    back_to: String,
}

/// The token endpoint's answer (RFC 6749 5.1).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    expires_in: Option<f64>,
}

thread_local! {
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
    static CONFIG: RefCell<Option<StackConfig>> = const { RefCell::new(None) };
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

fn keep(session: Option<Session>) {
    if let Some(storage) = storage() {
        let _ = match &session {
            Some(session) => storage.set_item(
                SESSION_KEY,
                &serde_json::to_string(session).unwrap_or_default(),
            ),
            None => storage.remove_item(SESSION_KEY),
        };
    }
    SESSION.with(|current| *current.borrow_mut() = session);
}

pub fn access_token() -> Option<String> {
    SESSION.with(|session| session.borrow().as_ref().map(|s| s.access_token.clone()))
}

/// The signed-in user's name, as the provider gave it.
pub fn user_name() -> Option<String> {
    SESSION.with(|session| session.borrow().as_ref().and_then(|s| s.name.clone()))
}

/// The session of an earlier sign-in, or the development token of `#token=` (then removed
/// from the address).
pub fn restore() -> bool {
    let window = web_sys::window().expect("a browser window");
    let hash = window.location().hash().unwrap_or_default();
    if let Some(token) = hash.strip_prefix("#token=").filter(|t| !t.is_empty()) {
        keep(Some(Session {
            access_token: token.to_string(),
            ..Session::default()
        }));
        replace_address(&window.location().search().unwrap_or_default());
        return true;
    }
    let stored = storage()
        .and_then(|s| s.get_item(SESSION_KEY).ok().flatten())
        .and_then(|json| serde_json::from_str::<Session>(&json).ok());
    let restored = stored.is_some();
    SESSION.with(|current| *current.borrow_mut() = stored);
    restored
}

/// Keeps a pasted development token.
pub fn use_token(token: &str) {
    keep(Some(Session {
        access_token: token.trim().to_string(),
        ..Session::default()
    }));
}

fn replace_address(query: &str) {
    if let Some(window) = web_sys::window() {
        let path = window.location().pathname().unwrap_or_default();
        if let Ok(history) = window.history() {
            let url = format!("{path}{query}");
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    }
}

/// The config document, once fetched.
pub fn cached_config() -> Option<StackConfig> {
    CONFIG.with(|c| c.borrow().clone())
}

/// The stack's sign-in settings (fetched once).
pub async fn config(base: &str) -> Result<StackConfig, Failure> {
    if let Some(config) = CONFIG.with(|c| c.borrow().clone()) {
        return Ok(config);
    }
    let url = format!("{base}{}", routes::CONFIG);
    let response = Request::get(&url).send().await.map_err(network)?;
    if !response.ok() {
        return Err(Failure {
            status: response.status(),
            code: "no_config".into(),
            message: "the stack's sign-in settings cannot be read".into(),
        });
    }
    let config: StackConfig = response.json().await.map_err(network)?;
    CONFIG.with(|c| *c.borrow_mut() = Some(config.clone()));
    Ok(config)
}

fn network(err: impl std::fmt::Display) -> Failure {
    Failure {
        status: 0,
        code: "network".into(),
        message: format!("cannot reach the sign-in service: {err}"),
    }
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
fn redirect_uri() -> String {
    let location = web_sys::window().expect("a browser window").location();
    format!(
        "{}{}",
        location.origin().unwrap_or_default(),
        location.pathname().unwrap_or_default()
    )
}

fn encode(value: &str) -> String {
    js_sys::encode_uri_component(value).into()
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

async fn token_request(config: &StackConfig, body: String) -> Result<TokenResponse, Failure> {
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

fn store_tokens(tokens: TokenResponse, earlier: Option<Session>) {
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

/// Renews the access token with the refresh token; false when there is none or the
/// provider refuses (the user signs in again).
pub async fn refresh() -> bool {
    let Some(session) = SESSION.with(|s| s.borrow().clone()) else {
        return false;
    };
    let (Some(refresh_token), Some(config)) = (
        session.refresh_token.clone(),
        CONFIG.with(|c| c.borrow().clone()),
    ) else {
        return false;
    };
    let body = format!(
        "grant_type=refresh_token&client_id={}&refresh_token={}",
        encode(&config.sign_in.client_id),
        encode(&refresh_token),
    );
    match token_request(&config, body).await {
        Ok(tokens) => {
            store_tokens(tokens, Some(session));
            true
        }
        Err(failure) => {
            web_sys::console::warn_1(&failure.describe().into());
            false
        }
    }
}

/// Refreshes the access token ahead of its expiry for as long as the page is open.
pub fn keep_fresh() {
    wasm_bindgen_futures::spawn_local(async move {
        loop {
            let Some(session) = SESSION.with(|s| s.borrow().clone()) else {
                return;
            };
            let (Some(expires_at), Some(_)) = (session.expires_at_ms, &session.refresh_token)
            else {
                return;
            };
            let ahead = REFRESH_AHEAD_MS.min(session.lifetime_ms.unwrap_or(0.0) / 4.0);
            let wait = (expires_at - ahead - js_sys::Date::now()).max(0.0);
            gloo_timers::future::sleep(std::time::Duration::from_millis(wait as u64)).await;
            if !refresh().await {
                // Tried once more in a while; a request meanwhile tries too.
                gloo_timers::future::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    });
}

/// Forgets the tokens and ends the provider's session too, coming back to this page.
pub fn sign_out() {
    keep(None);
    let Some(window) = web_sys::window() else {
        return;
    };
    let back = redirect_uri();
    let target = CONFIG
        .with(|c| c.borrow().clone())
        .and_then(|config| {
            let end = config.sign_in.end_session_endpoint?;
            // OpenID Connect's parameter, and Cognito's `/logout` names.
            Some(format!(
                "{end}?client_id={}&post_logout_redirect_uri={back}&logout_uri={back}",
                encode(&config.sign_in.client_id),
                back = encode(&back),
            ))
        })
        .unwrap_or(back);
    let _ = window.location().assign(&target);
}
