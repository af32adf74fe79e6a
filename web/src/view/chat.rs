//! The chat column: the session sidebar, the selected session's messages, the composer
//! with its split button.

use std::rc::Rc;

use hangar_protocol::MessageRole;
use hangar_protocol::tasks::TaskStatus;
use sycamore::prelude::*;
use wasm_bindgen::JsCast;

use super::transcript::{self, Shown};
use crate::state::Ctx;

pub fn sidebar(ctx: Rc<Ctx>) -> View {
    let page = ctx.page;
    let clock = super::time::ticking(15_000);
    let sessions = move || page.sessions.get_clone();
    view! {
        h2 { "Sessions" }
        (if page.sessions.with(|s| s.is_empty()) {
            view! { p(class="empty", data-testid="sessions-empty") { "No sessions yet. Submit a task to start one." } }
        } else {
            view! {}
        })
        ul(class="sessions") {
            Keyed(
                list=sessions,
                view=move |session| {
                    let ctx = Rc::clone(&ctx);
                    let id = session.id.clone();
                    let id_text = id.to_string();
                    let selected_id = id.clone();
                    let status_id = id.clone();
                    let class = move || {
                        if page.selected.with(|s| s.as_ref() == Some(&selected_id)) {
                            "session selected"
                        } else {
                            "session"
                        }
                    };
                    let status = move || {
                        page.tasks.with(|tasks| {
                            tasks
                                .iter()
                                .find(|t| t.session_id == status_id)
                                .map(|t| t.status.as_str())
                                .unwrap_or("")
                        })
                    };
                    let title = session.title;
                    let count = session.message_count;
                    let activity = session.last_message_at.map(|at| {
                        format!(" · {}", super::time::relative(at, clock.get()))
                    });
                    let meta = format!(
                        "{count} message{}{}",
                        if count == 1 { "" } else { "s" },
                        activity.unwrap_or_default()
                    );
                    let key_ctx = Rc::clone(&ctx);
                    let key_id = id.clone();
                    let on_key = move |event: web_sys::KeyboardEvent| {
                        if event.key() == "Enter" || event.key() == " " {
                            event.prevent_default();
                            key_ctx.select(key_id.clone());
                        }
                    };
                    view! {
                        li(class=class, data-testid="session", data-session-id=id_text,
                           tabindex="0", on:keydown=on_key,
                           on:click=move |_| ctx.select(id.clone())) {
                            span(class="session-title") { (title) }
                            span(class="badge") { (status) }
                            span(class="session-meta", data-testid="session-meta") { (meta) }
                        }
                    }
                },
                // Drawn again when its count or activity moves.
                key=|session| (session.id.clone(), session.message_count, session.last_message_at),
            )
        }
    }
}

fn scroll_to_end(node: NodeRef) {
    gloo_timers::callback::Timeout::new(0, move || {
        if let Some(element) = node
            .try_get()
            .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
        {
            element.set_scroll_top(element.scroll_height());
        }
    })
    .forget();
}

pub fn messages(ctx: Rc<Ctx>) -> View {
    let page = ctx.page;
    let container = create_node_ref();
    // New messages at the end scroll there; earlier ones loaded in front do not.
    create_effect(move || {
        page.messages.with(|m| m.last().map(|m| m.seq));
        scroll_to_end(container);
    });
    let title = move || {
        let selected = page.selected.get_clone();
        page.sessions.with(|sessions| {
            selected
                .and_then(|id| {
                    sessions
                        .iter()
                        .find(|s| s.id == id)
                        .map(|s| s.title.clone())
                })
                .unwrap_or_else(|| "Chat".into())
        })
    };
    // What the selected session's task left, or why it failed.
    let outcome = move || {
        let selected = page.selected.get_clone();
        page.tasks.with(|tasks| {
            let task = selected.and_then(|id| tasks.iter().find(|t| t.session_id == id).cloned());
            match task {
                Some(task) if task.output.is_some() => task
                    .output
                    .as_ref()
                    .map(super::output::details)
                    .unwrap_or_default(),
                Some(task) if task.status == TaskStatus::Failed => {
                    let reason = task
                        .history
                        .last()
                        .map(|t| t.reason.clone())
                        .unwrap_or_default();
                    view! { p(class="chat-reason", data-testid="chat-reason") { (reason) } }
                }
                _ => view! {},
            }
        })
    };
    let cards = Rc::clone(&ctx);
    // The message the agent is still writing, as far as it got.
    let draft = move || match page.draft.get_clone() {
        Some(draft) => {
            let role = draft.role.as_str();
            let class = format!("msg msg-{role} draft");
            let label = format!("{} · writing…", role_label(draft.role));
            let text = if draft.truncated {
                format!("…{}", draft.content)
            } else {
                draft.content
            };
            view! {
                div(class=class, data-testid="draft", data-seq=draft.seq.to_string(), data-role=role,
                    aria-live="polite") {
                    div(class="msg-role") { (label) }
                    div(class="msg-body") { (text) }
                }
            }
        }
        None => view! {},
    };
    let header = super::session::header(Rc::clone(&ctx));
    let clock = super::time::ticking(15_000);
    view! {
        h2(class="chat-title", data-testid="chat-title") { (title) }
        (header)
        div(class="chat-outcome", data-testid="chat-outcome") { (outcome) }
        div(class="messages", data-testid="messages", r#ref=container,
            aria-busy=move || page.loading_messages.get().to_string(),
            data-catch-ups=move || page.catch_ups.get().to_string()) {
            (if page.selected.with(|s| s.is_none()) {
                view! { p(class="empty", data-testid="messages-empty") { "Select a session, or describe a task below to start one." } }
            } else if page.messages.with(|m| m.is_empty()) {
                let ended = {
                    let selected = page.selected.get_clone();
                    page.tasks.with(|tasks| {
                        tasks
                            .iter()
                            .any(|t| Some(&t.session_id) == selected.as_ref() && t.status.is_terminal())
                    })
                };
                if page.loading_messages.get() {
                    view! { p(class="empty") { "Loading messages…" } }
                } else if ended {
                    view! { p(class="empty", data-testid="messages-ended") { "The task ended before the agent wrote anything; why is shown above." } }
                } else {
                    view! { p(class="empty", data-testid="messages-empty") { "No messages yet. The agent's messages appear here as they arrive." } }
                }
            } else {
                view! {}
            })
            (if page.has_earlier.get() {
                let ctx = Rc::clone(&ctx);
                view! {
                    button(class="load-earlier", data-testid="load-earlier",
                           on:click=move |_| wasm_bindgen_futures::spawn_local(Rc::clone(&ctx).load_earlier())) {
                        "Load earlier messages"
                    }
                }
            } else {
                view! {}
            })
            Keyed(
                list=move || transcript::shown(page.messages.get_clone()),
                view=move |shown| message(Rc::clone(&cards), clock, shown),
                key=Shown::key,
            )
            (draft)
        }
    }
}

fn role_label(role: MessageRole) -> &'static str {
    match role {
        MessageRole::User => "Task",
        MessageRole::Assistant => "Agent",
        MessageRole::Thought => "Thinking",
        MessageRole::Tool => "Tool",
        MessageRole::Plan => "Plan",
        MessageRole::System => "System",
    }
}

/// When the message was written: relative, exact on hover.
fn written(at: u64, clock: Signal<u64>) -> View {
    let relative = move || super::time::relative(at, clock.get());
    view! {
        time(class="msg-time", datetime=super::time::iso(at), title=super::time::exact(at),
             data-testid="message-time") { (relative) }
    }
}

fn message(ctx: Rc<Ctx>, clock: Signal<u64>, shown: Shown) -> View {
    let message = shown.message;
    let role = message.role.as_str();
    let class = format!("msg msg-{role}");
    let seq = message.seq.to_string();
    let seqs = shown
        .seqs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let label = role_label(message.role);
    let content = message.content;
    let has_content = !content.is_empty();
    let at = written(message.created_at, clock);
    if let Some(info) = message.permission {
        let card = super::permission::card(ctx, info, content);
        return view! {
            div(class=class, data-testid="message", data-seq=seq, data-seqs=seqs, data-role=role) {
                div(class="msg-role") { (label) " " (at) }
                (card)
            }
        };
    }
    match message.tool {
        Some(tool) => {
            let title = tool.title.unwrap_or_else(|| tool.tool_call_id.clone());
            let kind = tool.kind.unwrap_or_else(|| "tool".into());
            let status = tool.status.unwrap_or_else(|| "pending".into());
            let status_class = format!("tool-status status-{status}");
            let output = if has_content {
                // Long output (a diff, a test run) starts folded.
                let lines = content.lines().count();
                let plural = if lines == 1 { "" } else { "s" };
                let summary = format!("Output ({lines} line{plural})");
                view! {
                    details(class="tool-output", data-testid="tool-output", open=lines <= 6) {
                        summary { (summary) }
                        pre(class="msg-body") { (content) }
                    }
                }
            } else {
                view! {}
            };
            view! {
                div(class=class, data-testid="message", data-seq=seq, data-seqs=seqs, data-role=role) {
                    div(class="tool-card", data-testid="tool-call") {
                        span(class="tool-kind") { (kind) }
                        span(class="tool-title") { (title) }
                        span(class=status_class) { (status) }
                        (at)
                    }
                    (output)
                }
            }
        }
        None => view! {
            div(class=class, data-testid="message", data-seq=seq, data-seqs=seqs, data-role=role) {
                div(class="msg-role") { (label) " " (at) }
                div(class="msg-body") { (content) }
            }
        },
    }
}
