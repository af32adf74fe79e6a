//! Hangar's project page, chat-first: the session sidebar, the message stream of the
//! selected session (live over the WebSocket, history paged over HTTP), the task kanban
//! board, and the composer with its split button "Run now / Save to backlog".
//!
//! The page needs a user token and a project: `?project=<id>` in the address, the token in
//! the fragment (`#token=<jwt>`, moved to local storage at once) or pasted into the sign-in
//! panel. The API base and the WebSocket URL come from `<meta>` tags of index.html and
//! default to this origin (`/api`, `/ws`).

mod api;
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

const TOKEN_KEY: &str = "hangar.token";

fn main() {
    let window = web_sys::window().expect("a browser window");
    let location = window.location();
    let search = location.search().unwrap_or_default();
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
    let project = params.as_ref().and_then(|p| p.get("project"));
    let token = take_token(&window);

    sycamore::render(move || match (token, project) {
        (None, _) => view::sign_in(),
        (Some(token), None) => view::project_picker(Rc::new(Api::new(api_base(), token))),
        (Some(token), Some(project)) => match ProjectId::parse(project) {
            Ok(project) => project_page(Api::new(api_base(), token), project),
            Err(err) => view::fatal(format!("The project id in the address is not valid: {err}")),
        },
    });
}

/// The token from `#token=` (then removed from the address and kept) or from storage.
fn take_token(window: &web_sys::Window) -> Option<String> {
    let storage = window.local_storage().ok().flatten();
    let hash = window.location().hash().unwrap_or_default();
    if let Some(token) = hash.strip_prefix("#token=").filter(|t| !t.is_empty()) {
        if let Some(storage) = &storage {
            let _ = storage.set_item(TOKEN_KEY, token);
        }
        if let Ok(history) = window.history() {
            let url = format!(
                "{}{}",
                window.location().pathname().unwrap_or_default(),
                window.location().search().unwrap_or_default()
            );
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
        return Some(token.to_string());
    }
    storage.and_then(|s| s.get_item(TOKEN_KEY).ok().flatten())
}

pub fn store_token(token: &str) {
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = storage.set_item(TOKEN_KEY, token.trim());
    }
}

pub fn forget_token() {
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = storage.remove_item(TOKEN_KEY);
    }
}

fn meta(name: &str) -> Option<String> {
    let document = web_sys::window()?.document()?;
    let element = document
        .query_selector(&format!("meta[name=\"{name}\"]"))
        .ok()??;
    element.get_attribute("content").filter(|c| !c.is_empty())
}

fn api_base() -> String {
    meta("hangar-api-base").unwrap_or_default()
}

fn ws_base() -> String {
    meta("hangar-ws-url").unwrap_or_else(|| {
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
    let ws_url = format!(
        "{}?{CONNECT_TOKEN_PARAM}={}&{CONNECT_PROJECT_PARAM}={}",
        ws_base(),
        js_sys::encode_uri_component(api.token()),
        js_sys::encode_uri_component(project_id.as_str()),
    );
    let ctx = Ctx::new(api, project_id);
    provide_context(Rc::clone(&ctx));
    wasm_bindgen_futures::spawn_local(async move {
        // Tasks, sessions and messages load when the socket opens, so nothing falls between
        // a first load and the first frame.
        if ctx.load_project().await {
            socket::keep_open(ws_url, Rc::new(PageSink(ctx)));
        }
    });
    view::project()
}
