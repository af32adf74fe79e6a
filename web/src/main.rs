//! Hangar's project page, chat-first: the session sidebar, the message stream of the
//! selected session (live over the WebSocket, history paged over HTTP), the task kanban
//! board, and the composer with its split button "Run now / Save to backlog".
//!
//! The page needs a signed-in user and a project (`?project=<id>` in the address). "Sign in"
//! runs the authorization code flow with PKCE against the stack's identity provider (see
//! [`auth`]); the API base comes from a `<meta>` tag of index.html (default: this origin),
//! the WebSocket URL from the stack's config document (default: this origin's `/ws`).

mod actions;
mod api;
mod auth;
mod notify;
mod page_sink;
mod socket;
mod state;
mod view;

use std::rc::Rc;

use hangar_protocol::ProjectId;
use hangar_protocol::live::{CONNECT_PROJECT_PARAM, CONNECT_TOKEN_PARAM};
use hangar_protocol::routes;
use sycamore::prelude::*;

use crate::api::Api;
use crate::page_sink::PageSink;
use crate::state::Ctx;

/// What the page shows while it finds out who is signed in.
#[derive(Clone)]
enum Stage {
    Loading,
    SignIn(Option<hangar_protocol::users::StackConfig>),
    Fatal(String),
    Picker,
    Project(ProjectId),
}

fn main() {
    let window = web_sys::window().expect("a browser window");
    let search = window.location().search().unwrap_or_default();
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
    let param = |name: &str| params.as_ref().and_then(|p| p.get(name));
    let (code, state) = (param("code"), param("state"));
    let restored = auth::restore();

    sycamore::render(move || {
        let stage = create_signal(Stage::Loading);
        wasm_bindgen_futures::spawn_local(async move {
            stage.set(decide(code, state, restored).await);
        });
        view! {
            (match stage.get_clone() {
                Stage::Loading => view! { main(class="centered") { p(class="muted") { "Loading…" } } },
                Stage::SignIn(config) => view::sign_in(config),
                Stage::Fatal(message) => view::fatal(message),
                Stage::Picker => view::project_picker(Rc::new(Api::new(api_base()))),
                Stage::Project(project) => project_page(Api::new(api_base()), project),
            })
        }
    });
}

/// Finishes a sign-in the provider sent back, or picks up an earlier one; then the project
/// of the address (or the picker).
async fn decide(code: Option<String>, state: Option<String>, restored: auth::Restored) -> Stage {
    let api = Api::new(api_base());
    let config = auth::config(&api_base()).await;
    let bare_tokens = config.as_ref().is_ok_and(|c| c.dev_token_sign_in);
    let signed_in = match restored {
        auth::Restored::Session => true,
        auth::Restored::BareToken if bare_tokens => true,
        auth::Restored::BareToken => {
            // A deployed stack signs people in through its provider only.
            auth::forget();
            false
        }
        auth::Restored::Nobody => false,
    };
    if let (Some(code), Some(state)) = (code, state) {
        let Ok(config) = &config else {
            return Stage::Fatal("The stack's sign-in settings cannot be read.".into());
        };
        if let Err(failure) = auth::complete(&api, config, &code, &state).await {
            return Stage::Fatal(format!("Signing in failed: {}", failure.describe()));
        }
    } else if !signed_in {
        return Stage::SignIn(config.ok());
    }
    auth::keep_fresh();
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let project = web_sys::UrlSearchParams::new_with_str(&search)
        .ok()
        .and_then(|p| p.get("project"));
    match project.map(ProjectId::parse) {
        None => Stage::Picker,
        Some(Ok(project)) => Stage::Project(project),
        Some(Err(err)) => {
            Stage::Fatal(format!("The project id in the address is not valid: {err}"))
        }
    }
}

fn meta(name: &str) -> Option<String> {
    let document = web_sys::window()?.document()?;
    let element = document
        .query_selector(&format!("meta[name=\"{name}\"]"))
        .ok()??;
    element.get_attribute("content").filter(|c| !c.is_empty())
}

/// The WebSocket API the stack's config document names.
fn auth_ws_url() -> Option<String> {
    auth::cached_config().and_then(|config| config.ws_url)
}

fn api_base() -> String {
    meta("hangar-api-base").unwrap_or_default()
}

fn ws_base() -> String {
    auth_ws_url().unwrap_or_else(|| {
        let location = web_sys::window().expect("window").location();
        let scheme = if location.protocol().unwrap_or_default() == "https:" {
            "wss"
        } else {
            "ws"
        };
        format!(
            "{scheme}://{}{}",
            location.host().unwrap_or_default(),
            routes::LIVE_SOCKET
        )
    })
}

/// Opens the project page: its state in context, the project loaded, then the live socket,
/// whose every (re)open loads tasks, sessions and messages.
fn project_page(api: Api, project_id: ProjectId) -> View {
    // Made at every (re)open: the access token may have been refreshed since the last.
    let ws_url = {
        let project = project_id.clone();
        move || {
            format!(
                "{}?{CONNECT_TOKEN_PARAM}={}&{CONNECT_PROJECT_PARAM}={}",
                ws_base(),
                js_sys::encode_uri_component(&auth::access_token().unwrap_or_default()),
                js_sys::encode_uri_component(project.as_str()),
            )
        }
    };
    let ctx = Ctx::new(api, project_id);
    provide_context(Rc::clone(&ctx));
    wasm_bindgen_futures::spawn_local(async move {
        // Tasks, sessions and messages load when the socket opens, so nothing falls between
        // a first load and the first frame.
        if ctx.load_project().await {
            socket::keep_open(Rc::new(ws_url), Rc::new(PageSink(ctx)));
        }
    });
    view::project()
}
