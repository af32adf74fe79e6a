//! The chat column: the session sidebar, the selected session's messages, the composer
//! with its split button.

use std::rc::Rc;

use hangar_protocol::MessageRole;
use hangar_protocol::limits::TASK_PROMPT_MAX_BYTES;
use hangar_protocol::tasks::{CreateTaskRequest, SubmitMode, TaskStatus};
use sycamore::prelude::*;
use wasm_bindgen::JsCast;

use super::transcript::{self, Shown};
use crate::state::Ctx;

pub fn sidebar(ctx: Rc<Ctx>) -> View {
    let page = ctx.page;
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
                    view! {
                        li(class=class, data-testid="session", data-session-id=id_text,
                           on:click=move |_| ctx.select(id.clone())) {
                            span(class="session-title") { (title) }
                            span(class="badge") { (status) }
                        }
                    }
                },
                key=|session| session.id.clone(),
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
    view! {
        h2(class="chat-title", data-testid="chat-title") { (title) }
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
                view=move |shown| message(Rc::clone(&cards), shown),
                key=Shown::key,
            )
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

fn message(ctx: Rc<Ctx>, shown: Shown) -> View {
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
    if let Some(info) = message.permission {
        let card = super::permission::card(ctx, info, content);
        return view! {
            div(class=class, data-testid="message", data-seq=seq, data-seqs=seqs, data-role=role) {
                div(class="msg-role") { (label) }
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
            view! {
                div(class=class, data-testid="message", data-seq=seq, data-seqs=seqs, data-role=role) {
                    div(class="tool-card", data-testid="tool-call") {
                        span(class="tool-kind") { (kind) }
                        span(class="tool-title") { (title) }
                        span(class=status_class) { (status) }
                    }
                    (if has_content { view! { pre(class="msg-body") { (content) } } } else { view! {} })
                }
            }
        }
        None => view! {
            div(class=class, data-testid="message", data-seq=seq, data-seqs=seqs, data-role=role) {
                div(class="msg-role") { (label) }
                div(class="msg-body") { (content) }
            }
        },
    }
}

/// Submits the prompt in `mode`; the prompt is cleared once the task exists.
fn submit(ctx: Rc<Ctx>, prompt: Signal<String>, submitting: Signal<bool>, mode: SubmitMode) {
    let text = prompt.get_clone_untracked();
    if text.trim().is_empty() || submitting.get_untracked() {
        return;
    }
    submitting.set(true);
    wasm_bindgen_futures::spawn_local(async move {
        let request = CreateTaskRequest {
            title: None,
            prompt: text,
            mode,
            vm_size: None,
            base_branch: None,
        };
        if ctx.submit_task(request).await {
            prompt.set(String::new());
        }
        submitting.set(false);
    });
}

pub fn composer(ctx: Rc<Ctx>) -> View {
    let prompt = create_signal(String::new());
    let submitting = create_signal(false);
    let menu_open = create_signal(false);
    let too_long = move || prompt.with(|p| p.len() > TASK_PROMPT_MAX_BYTES);
    let blocked = move || submitting.get() || too_long() || prompt.with(|p| p.trim().is_empty());
    let run_ctx = Rc::clone(&ctx);
    let enter_ctx = Rc::clone(&ctx);
    // Enter runs the task, Shift+Enter is a new line (as is Enter while an IME composes).
    let on_prompt_key = move |event: web_sys::KeyboardEvent| {
        if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
            event.prevent_default();
            if !blocked() {
                menu_open.set(false);
                submit(
                    Rc::clone(&enter_ctx),
                    prompt,
                    submitting,
                    SubmitMode::RunNow,
                );
            }
        }
    };
    // Escape closes the menu wherever the focus is in the composer.
    let on_composer_key = move |event: web_sys::KeyboardEvent| {
        if event.key() == "Escape" && menu_open.get_untracked() {
            menu_open.set(false);
        }
    };
    view! {
        div(class="composer", on:keydown=on_composer_key) {
            textarea(data-testid="prompt", bind:value=prompt, rows="3",
                     aria-label="Task for the agent (Enter runs it, Shift+Enter is a new line)",
                     on:keydown=on_prompt_key,
                     placeholder="Describe a task for the agent… (Enter runs it, Shift+Enter adds a line)")
            (if too_long() {
                view! { p(class="error-text", data-testid="prompt-too-long") {
                    "The task description is longer than " (TASK_PROMPT_MAX_BYTES.to_string()) " bytes."
                } }
            } else {
                view! {}
            })
            div(class="split-button") {
                button(class="primary", data-testid="run-now", disabled=blocked, on:click=move |_| {
                    menu_open.set(false);
                    submit(Rc::clone(&run_ctx), prompt, submitting, SubmitMode::RunNow);
                }) { "Run now" }
                button(class="toggle", data-testid="split-toggle", aria-label="More ways to submit",
                       aria-expanded=move || menu_open.get().to_string(),
                       on:click=move |_| menu_open.set(!menu_open.get())) { "▾" }
                (if menu_open.get() {
                    let ctx = Rc::clone(&ctx);
                    view! {
                        // A click anywhere outside the menu lands here and closes it.
                        div(class="menu-backdrop", data-testid="menu-backdrop",
                            on:click=move |_| menu_open.set(false))
                        div(class="split-menu", role="menu", data-testid="split-menu") {
                            button(role="menuitem", data-testid="save-to-backlog", disabled=blocked, on:click=move |_| {
                                menu_open.set(false);
                                submit(Rc::clone(&ctx), prompt, submitting, SubmitMode::Backlog);
                            }) { "Save to backlog" }
                        }
                    }
                } else {
                    view! {}
                })
            }
        }
    }
}
