//! Signing in: the authorization code flow with PKCE (RFC 7636) against the stack's OpenID
//! Connect provider, which `GET /api/config` names. The tokens stay in local storage; the
//! access token is refreshed (refresh token grant) before it expires, and sign-out ends the
//! provider's session too. A token in `#token=` (development only) signs in without a
//! provider and without refresh.

mod pkce;

use std::cell::RefCell;

use gloo_net::http::Request;
use hangar_protocol::routes;
use hangar_protocol::users::StackConfig;
use serde::{Deserialize, Serialize};

pub use self::pkce::{begin, complete};
use self::pkce::{redirect_uri, store_tokens, token_request};
use crate::api::Failure;

const SESSION_KEY: &str = "hangar.session";
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

/// How the page found itself signed in, before the stack's settings are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    Nobody,
    /// The session of an earlier sign-in through the provider.
    Session,
    /// A bare access token (`#token=`, or pasted earlier): development stacks only.
    BareToken,
}

/// The session of an earlier sign-in, or the development token of `#token=` (then removed
/// from the address).
pub fn restore() -> Restored {
    let window = web_sys::window().expect("a browser window");
    let hash = window.location().hash().unwrap_or_default();
    if let Some(token) = hash.strip_prefix("#token=").filter(|t| !t.is_empty()) {
        keep(Some(Session {
            access_token: token.to_string(),
            ..Session::default()
        }));
        replace_address(&window.location().search().unwrap_or_default());
        return Restored::BareToken;
    }
    let stored = storage()
        .and_then(|s| s.get_item(SESSION_KEY).ok().flatten())
        .and_then(|json| serde_json::from_str::<Session>(&json).ok());
    let restored = match &stored {
        None => Restored::Nobody,
        Some(session) if session.refresh_token.is_none() && session.id_token.is_none() => {
            Restored::BareToken
        }
        Some(_) => Restored::Session,
    };
    SESSION.with(|current| *current.borrow_mut() = stored);
    restored
}

/// Forgets a bare token the stack does not take.
pub fn forget() {
    keep(None);
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

fn encode(value: &str) -> String {
    js_sys::encode_uri_component(value).into()
}

fn network(err: impl std::fmt::Display) -> Failure {
    Failure {
        status: 0,
        code: "network".into(),
        message: format!("cannot reach the sign-in service: {err}"),
    }
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
