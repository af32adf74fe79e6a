//! Hangar's project page, chat-first: the session sidebar, the message stream of the
//! selected session (live over the WebSocket, history paged over HTTP), the task kanban
//! board, and the composer with its split button "Run now / Save to backlog".
//!
//! The page needs a user token and a project: `?project=<id>` in the address, the token in
//! the fragment (`#token=<jwt>`, moved to local storage at once) or pasted into the sign-in
//! panel. The API base and the WebSocket URL come from `<meta>` tags of index.html and
//! default to this origin (`/api`, `/ws`).

mod api;
mod socket;
mod view;

use std::cell::Cell;
use std::rc::Rc;

use hangar_protocol::live::{CONNECT_PROJECT_PARAM, CONNECT_TOKEN_PARAM, LiveEvent};
use hangar_protocol::tasks::{ProjectView, SessionView, TaskView};
use hangar_protocol::{ChatMessage, ProjectId, SessionId};
use sycamore::prelude::*;

use crate::api::Api;
use crate::socket::{LinkState, LiveSink};

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
        format!("{scheme}://{}/ws", location.host().unwrap_or_default())
    })
}

/// Everything the project page shows; all signals, so the struct is `Copy`.
#[derive(Clone, Copy)]
pub struct Page {
    pub project: Signal<Option<ProjectView>>,
    pub tasks: Signal<Vec<TaskView>>,
    pub sessions: Signal<Vec<SessionView>>,
    pub selected: Signal<Option<SessionId>>,
    /// Messages of the selected session, ascending by seq, without gaps from seq 1.
    pub messages: Signal<Vec<ChatMessage>>,
    pub loading_messages: Signal<bool>,
    /// How many times the page caught up after the socket (re)opened.
    pub catch_ups: Signal<u32>,
    pub link: Signal<LinkState>,
    pub error: Signal<Option<String>>,
}

/// The page's state and what it needs to act.
pub struct Ctx {
    pub api: Api,
    pub project_id: ProjectId,
    pub page: Page,
    syncing: Cell<bool>,
    sync_again: Cell<bool>,
}

impl Ctx {
    pub fn fail(&self, failure: api::Failure) {
        self.page.error.set(Some(failure.describe()));
    }

    /// The highest seq shown for the selected session (0: none).
    fn last_seq(&self) -> u64 {
        self.page
            .messages
            .with_untracked(|messages| messages.last().map_or(0, |m| m.seq))
    }

    /// Adds the messages that continue the shown ones without a gap; the rest wait for a sync.
    fn merge_contiguous(&self, incoming: &[ChatMessage]) {
        let mut next = self.last_seq() + 1;
        let mut fresh = Vec::new();
        for message in incoming {
            if message.seq < next {
                continue;
            }
            if message.seq > next {
                break;
            }
            fresh.push(message.clone());
            next += 1;
        }
        if !fresh.is_empty() {
            self.page.messages.update(|messages| {
                for mut message in fresh {
                    inherit_tool_title(messages, &mut message);
                    messages.push(message);
                }
            });
        }
    }

    pub async fn reload_tasks(self: &Rc<Self>) {
        match self.api.tasks(&self.project_id).await {
            Ok(tasks) => self.page.tasks.set(tasks),
            Err(failure) => self.fail(failure),
        }
    }

    pub async fn reload_sessions(self: &Rc<Self>) {
        match self.api.sessions(&self.project_id).await {
            Ok(sessions) => {
                let newest = sessions.first().map(|s| s.id.clone());
                self.page.sessions.set(sessions);
                // Chat-first: land on the newest conversation.
                if let (None, Some(newest)) = (self.page.selected.get_clone_untracked(), newest) {
                    self.select(newest);
                }
            }
            Err(failure) => self.fail(failure),
        }
    }

    /// Pages the selected session's messages after the last one shown until none are left.
    /// One sync runs at a time; a request during it makes it go round once more.
    pub async fn sync_messages(self: Rc<Self>) {
        if self.syncing.replace(true) {
            self.sync_again.set(true);
            return;
        }
        loop {
            self.sync_again.set(false);
            let Some(session) = self.page.selected.get_clone_untracked() else {
                break;
            };
            self.page.loading_messages.set(true);
            loop {
                let after = self.last_seq();
                match self.api.messages(&self.project_id, &session, after).await {
                    Ok(page) => {
                        if self.page.selected.get_clone_untracked().as_ref() != Some(&session) {
                            // Another session was selected meanwhile; go round for it.
                            self.sync_again.set(true);
                            break;
                        }
                        self.merge_contiguous(&page.messages);
                        if !page.has_more || page.messages.is_empty() {
                            break;
                        }
                    }
                    Err(failure) => {
                        self.fail(failure);
                        break;
                    }
                }
            }
            self.page.loading_messages.set(false);
            if !self.sync_again.get() {
                break;
            }
        }
        self.syncing.set(false);
    }

    pub fn select(self: &Rc<Self>, session: SessionId) {
        if self.page.selected.get_clone_untracked().as_ref() == Some(&session) {
            return;
        }
        self.page.messages.set(Vec::new());
        self.page.selected.set(Some(session));
        wasm_bindgen_futures::spawn_local(Rc::clone(self).sync_messages());
    }

    /// A task as the server last described it: newer versions replace older ones.
    pub fn upsert_task(self: &Rc<Self>, task: TaskView) {
        let known_session = self
            .page
            .sessions
            .with_untracked(|sessions| sessions.iter().any(|s| s.id == task.session_id));
        self.page
            .tasks
            .update(|tasks| match tasks.iter_mut().find(|t| t.id == task.id) {
                Some(existing) if existing.updated_at <= task.updated_at => *existing = task,
                Some(_) => {}
                None => tasks.push(task),
            });
        if !known_session {
            let ctx = Rc::clone(self);
            wasm_bindgen_futures::spawn_local(async move { ctx.reload_sessions().await });
        }
    }
}

/// A tool call's updates usually carry only its id and new status: show them under the
/// title and kind the call started with.
fn inherit_tool_title(earlier: &[ChatMessage], message: &mut ChatMessage) {
    let Some(tool) = message.tool.as_mut() else {
        return;
    };
    let Some(start) = earlier
        .iter()
        .rev()
        .filter_map(|m| m.tool.as_ref())
        .find(|t| t.tool_call_id == tool.tool_call_id)
    else {
        return;
    };
    if tool.title.is_none() {
        tool.title = start.title.clone();
    }
    if tool.kind.is_none() {
        tool.kind = start.kind.clone();
    }
}

struct PageSink(Rc<Ctx>);

impl LiveSink for PageSink {
    fn state(&self, state: LinkState) {
        self.0.page.link.set(state);
    }

    fn opened(&self) {
        // Whatever happened while the socket was down is paged over HTTP.
        let ctx = Rc::clone(&self.0);
        wasm_bindgen_futures::spawn_local(async move {
            ctx.reload_tasks().await;
            ctx.reload_sessions().await;
            Rc::clone(&ctx).sync_messages().await;
            ctx.page.catch_ups.update(|n| *n += 1);
        });
    }

    fn event(&self, event: LiveEvent) {
        let ctx = &self.0;
        match event {
            LiveEvent::Messages {
                session_id,
                cursor,
                messages,
                ..
            } => {
                if ctx.page.selected.get_clone_untracked().as_ref() != Some(&session_id) {
                    return;
                }
                ctx.merge_contiguous(&messages);
                if ctx.last_seq() < cursor {
                    // A gap: frames missed, or a message too large for a frame.
                    wasm_bindgen_futures::spawn_local(Rc::clone(ctx).sync_messages());
                }
            }
            LiveEvent::Task { task, cursor, .. } => {
                let gap = ctx.page.selected.get_clone_untracked().as_ref()
                    == Some(&task.session_id)
                    && ctx.last_seq() < cursor;
                ctx.upsert_task(task);
                if gap {
                    wasm_bindgen_futures::spawn_local(Rc::clone(ctx).sync_messages());
                }
            }
        }
    }
}

fn project_page(api: Api, project_id: ProjectId) -> View {
    let page = Page {
        project: create_signal(None),
        tasks: create_signal(Vec::new()),
        sessions: create_signal(Vec::new()),
        selected: create_signal(None),
        messages: create_signal(Vec::new()),
        loading_messages: create_signal(false),
        catch_ups: create_signal(0),
        link: create_signal(LinkState::Connecting),
        error: create_signal(None),
    };
    let ws_url = format!(
        "{}?{CONNECT_TOKEN_PARAM}={}&{CONNECT_PROJECT_PARAM}={}",
        ws_base(),
        js_sys::encode_uri_component(api.token()),
        js_sys::encode_uri_component(project_id.as_str()),
    );
    let ctx = Rc::new(Ctx {
        api,
        project_id,
        page,
        syncing: Cell::new(false),
        sync_again: Cell::new(false),
    });
    {
        let ctx = Rc::clone(&ctx);
        wasm_bindgen_futures::spawn_local(async move {
            match ctx.api.project(&ctx.project_id).await {
                Ok(project) => {
                    ctx.page.project.set(Some(project));
                    // Tasks, sessions and messages load when the socket opens, so nothing
                    // falls between a first load and the first frame.
                    socket::keep_open(ws_url, Rc::new(PageSink(Rc::clone(&ctx))));
                }
                Err(failure) => ctx.fail(failure),
            }
        });
    }
    view::project(ctx)
}
