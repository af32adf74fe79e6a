//! The page's views: they render [`crate::state::Page`] and call [`Ctx`] for anything that
//! changes it. Test hooks are `data-testid` attributes; the browser tests use them.

mod board;
mod chat;
mod composer;
mod edit_task;
mod followup;
mod output;
mod permission;
mod session;
mod settings;
mod time;
mod tokens;
mod transcript;

use std::rc::Rc;

use sycamore::prelude::*;

use crate::api::{Api, Failure};
use crate::socket::LinkState;
use crate::state::{Ctx, Page};

fn reload() {
    if let Some(window) = web_sys::window() {
        let _ = window.location().reload();
    }
}

fn sign_out() {
    crate::auth::sign_out();
}

pub fn fatal(message: String) -> View {
    view! {
        main(class="centered") {
            h1 { "Hangar" }
            p(class="error-text", data-testid="fatal") { (message) }
        }
    }
}

/// "Sign in" through the stack's identity provider; pasting a token stays for development.
pub fn sign_in(config: Option<hangar_protocol::users::StackConfig>) -> View {
    let token = create_signal(String::new());
    let bare_tokens = config.as_ref().is_some_and(|c| c.dev_token_sign_in);
    let provider = match config {
        Some(config) => {
            let config = Rc::new(config);
            view! {
                button(class="primary", data-testid="sign-in", on:click=move |_| {
                    let config = Rc::clone(&config);
                    wasm_bindgen_futures::spawn_local(async move { crate::auth::begin(&config).await });
                }) { "Sign in" }
            }
        }
        None => view! {
            p(class="error-text", data-testid="error") {
                "The stack's sign-in settings cannot be read; try again shortly."
            }
        },
    };
    let paste = if bare_tokens {
        view! {
            details(class="dev-token") {
                summary { "Development: use an access token" }
                label(r#for="token-input") { "Access token" }
                textarea(id="token-input", data-testid="token-input", bind:value=token, rows="4", placeholder="eyJhbGciOi…")
                button(data-testid="token-save", on:click=move |_| {
                    let value = token.get_clone();
                    if !value.trim().is_empty() {
                        crate::auth::use_token(&value);
                        reload();
                    }
                }) { "Continue" }
            }
        }
    } else {
        view! {}
    };
    view! {
        main(class="centered") {
            h1 { "Hangar" }
            (provider)
            (paste)
        }
    }
}

pub fn project_picker(api: Rc<Api>) -> View {
    let projects = create_signal(None::<Result<Vec<hangar_protocol::tasks::ProjectView>, Failure>>);
    let loading = Rc::clone(&api);
    wasm_bindgen_futures::spawn_local(async move {
        projects.set(Some(loading.projects().await));
    });
    view! {
        main(class="centered") {
            h1 { "Hangar" }
            h2 { "Your projects" }
            (match projects.get_clone() {
                None => view! { p(class="muted") { "Loading…" } },
                Some(Err(failure)) => {
                    let text = failure.describe();
                    view! {
                        p(class="error-text", data-testid="error") { (text) }
                        button(on:click=|_| sign_out()) { "Sign out" }
                    }
                }
                Some(Ok(list)) if list.is_empty() => view! {
                    p(class="muted", data-testid="projects-empty") { "You are not a member of any project yet." }
                },
                Some(Ok(list)) => {
                    let items: Vec<View> = list
                        .into_iter()
                        .map(|project| {
                            let href = format!("?project={}", project.id);
                            let name = project.name;
                            let repo = project.repo;
                            view! { li { a(href=href) { (name) } span(class="muted") { " " (repo) } } }
                        })
                        .collect();
                    view! { ul(class="project-list") { (items) } }
                }
            })
            (tokens::tokens(Rc::clone(&api)))
        }
    }
}

fn link_label(state: LinkState) -> &'static str {
    match state {
        LinkState::Connecting => "connecting…",
        LinkState::Live => "live",
        LinkState::Reconnecting => "reconnecting…",
    }
}

/// The project page, for the [`Ctx`] in context.
pub fn project() -> View {
    let ctx = use_context::<Rc<Ctx>>();
    let page = ctx.page;
    let name = move || {
        page.project
            .with(|p| p.as_ref().map(|p| p.name.clone()).unwrap_or_default())
    };
    let repo = move || {
        page.project
            .with(|p| p.as_ref().map(|p| p.repo.clone()).unwrap_or_default())
    };
    let link_class = move || format!("link link-{:?}", page.link.get()).to_lowercase();
    let link_text = move || link_label(page.link.get());
    let banner = error_banner(page);
    let sidebar = chat::sidebar(Rc::clone(&ctx));
    let messages = chat::messages(Rc::clone(&ctx));
    let follow_up = followup::follow_up(Rc::clone(&ctx));
    let composer = composer::composer(Rc::clone(&ctx));
    let settings = settings::settings(Rc::clone(&ctx));
    let board = board::board(ctx);
    // Which panel shows: on a phone one at a time; on a wide screen "Board" swaps the chat
    // for a full-width board. Both stay mounted, so each keeps its state.
    let panel = create_signal(Panel::Chat);
    create_effect(move || {
        if page.selected.with(Option::is_some) && panel.get_untracked() == Panel::Sessions {
            panel.set(Panel::Chat);
        }
    });
    let layout_class = move || format!("layout panel-{}", panel.get().name());
    let switch = move |which: Panel, label: &'static str| {
        let testid = format!("show-{}", which.name());
        let class = format!("switch-{}", which.name());
        view! {
            button(class=class, data-testid=testid,
                   aria-pressed=move || (panel.get() == which).to_string(),
                   on:click=move |_| panel.set(which)) { (label) }
        }
    };
    view! {
        div(class="app") {
            header(class="topbar") {
                span(class="brand") { "Hangar" }
                span(class="project-name", data-testid="project-name") { (name) }
                span(class="muted") { (repo) }
                span(class="spacer")
                span(class=link_class, data-testid="link-state") { (link_text) }
                (notifications())
                (settings)
                span(class="user-name", data-testid="user-name") {
                    (crate::auth::user_name().unwrap_or_default())
                }
                button(class="link-button", data-testid="sign-out", on:click=|_| sign_out()) { "Sign out" }
            }
            (banner)
            nav(class="panel-switch", aria-label="Panels") {
                (switch(Panel::Sessions, "Sessions"))
                (switch(Panel::Chat, "Chat"))
                (switch(Panel::Board, "Board"))
            }
            div(class=layout_class) {
                aside(class="sidebar") { (sidebar) }
                section(class="chat") {
                    (messages)
                    (follow_up)
                    (composer)
                }
                section(class="board") { (board) }
            }
        }
    }
}

/// Sets `signal` unless its view is gone: a card drawn again (a newer frame of its task or
/// message arrived while a request of it was on its way) disposes of its signals, and
/// setting a disposed signal would stop the page.
pub(crate) fn set_if_alive<T: 'static>(signal: Signal<T>, value: T) {
    if signal.is_alive() {
        signal.set(value);
    }
}

/// The opt-in for browser notifications (a task ends, a permission waits).
fn notifications() -> View {
    let on = create_signal(crate::notify::enabled());
    let toggle = move |_| {
        if on.get_untracked() {
            crate::notify::disable();
            on.set(false);
            return;
        }
        wasm_bindgen_futures::spawn_local(async move { on.set(crate::notify::enable().await) });
    };
    view! {
        button(class="link-button", data-testid="notify-toggle", aria-pressed=move || on.get().to_string(),
               on:click=toggle) {
            (move || if on.get() { "Notifications on" } else { "Notify me" })
        }
    }
}

/// The panels a narrow screen shows one at a time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Panel {
    Sessions,
    Chat,
    Board,
}

impl Panel {
    fn name(self) -> &'static str {
        match self {
            Panel::Sessions => "sessions",
            Panel::Chat => "chat",
            Panel::Board => "board",
        }
    }
}

fn error_banner(page: Page) -> View {
    view! {
        (match page.error.get_clone() {
            Some(text) => view! {
                div(class="error-banner", data-testid="error", role="alert") {
                    span { (text) }
                    button(class="link-button", on:click=move |_| page.error.set(None)) { "Dismiss" }
                }
            },
            None => view! {},
        })
    }
}
