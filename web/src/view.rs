//! The page's views. Test hooks are `data-testid` attributes; the browser tests use them.

use std::cmp::Reverse;
use std::rc::Rc;

use hangar_protocol::limits::TASK_PROMPT_MAX_BYTES;
use hangar_protocol::tasks::{CreateTaskRequest, SubmitMode, TaskStatus, TaskView};
use hangar_protocol::{ChatMessage, MessageRole, SessionId, TaskId};
use sycamore::prelude::*;
use wasm_bindgen::JsCast;

use crate::api::{Api, Failure};
use crate::socket::LinkState;
use crate::{Ctx, Page};

fn reload() {
    if let Some(window) = web_sys::window() {
        let _ = window.location().reload();
    }
}

fn sign_out() {
    crate::forget_token();
    reload();
}

pub fn fatal(message: String) -> View {
    view! {
        main(class="centered") {
            h1 { "Hangar" }
            p(class="error-text", data-testid="fatal") { (message) }
        }
    }
}

pub fn sign_in() -> View {
    let token = create_signal(String::new());
    view! {
        main(class="centered") {
            h1 { "Hangar" }
            p { "Paste your access token to continue." }
            textarea(data-testid="token-input", bind:value=token, rows="4", placeholder="eyJhbGciOi…")
            button(class="primary", data-testid="token-save", on:click=move |_| {
                let value = token.get_clone();
                if !value.trim().is_empty() {
                    crate::store_token(&value);
                    reload();
                }
            }) { "Continue" }
        }
    }
}

pub fn project_picker(api: Rc<Api>) -> View {
    let projects = create_signal(None::<Result<Vec<hangar_protocol::tasks::ProjectView>, Failure>>);
    wasm_bindgen_futures::spawn_local(async move {
        projects.set(Some(api.projects().await));
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

pub fn project(ctx: Rc<Ctx>) -> View {
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
    let sidebar = sidebar(Rc::clone(&ctx));
    let messages = messages(Rc::clone(&ctx));
    let composer = composer(Rc::clone(&ctx));
    let board = board(ctx);
    view! {
        div(class="app") {
            header(class="topbar") {
                span(class="brand") { "Hangar" }
                span(class="project-name", data-testid="project-name") { (name) }
                span(class="muted") { (repo) }
                span(class="spacer")
                span(class=link_class, data-testid="link-state") { (link_text) }
                button(class="link-button", on:click=|_| sign_out()) { "Sign out" }
            }
            (banner)
            div(class="layout") {
                aside(class="sidebar") { (sidebar) }
                section(class="chat") {
                    (messages)
                    (composer)
                }
                section(class="board") { (board) }
            }
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

fn sidebar(ctx: Rc<Ctx>) -> View {
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

fn messages(ctx: Rc<Ctx>) -> View {
    let page = ctx.page;
    let container = create_node_ref();
    create_effect(move || {
        page.messages.with(|m| m.len());
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
    view! {
        h2(class="chat-title", data-testid="chat-title") { (title) }
        div(class="messages", data-testid="messages", r#ref=container,
            aria-busy=move || page.loading_messages.get().to_string(),
            data-catch-ups=move || page.catch_ups.get().to_string()) {
            (if page.selected.with(|s| s.is_none()) {
                view! { p(class="empty", data-testid="messages-empty") { "Select a session, or describe a task below to start one." } }
            } else if page.messages.with(|m| m.is_empty()) {
                if page.loading_messages.get() {
                    view! { p(class="empty") { "Loading messages…" } }
                } else {
                    view! { p(class="empty", data-testid="messages-empty") { "No messages yet. The agent's messages appear here as they arrive." } }
                }
            } else {
                view! {}
            })
            Keyed(
                list=move || page.messages.get_clone(),
                view=message,
                key=|message| message.seq,
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

fn message(message: ChatMessage) -> View {
    let role = message.role.as_str();
    let class = format!("msg msg-{role}");
    let seq = message.seq.to_string();
    let label = role_label(message.role);
    let content = message.content;
    let has_content = !content.is_empty();
    match message.tool {
        Some(tool) => {
            let title = tool.title.unwrap_or_else(|| tool.tool_call_id.clone());
            let kind = tool.kind.unwrap_or_else(|| "tool".into());
            let status = tool.status.unwrap_or_else(|| "pending".into());
            let status_class = format!("tool-status status-{status}");
            view! {
                div(class=class, data-testid="message", data-seq=seq, data-role=role) {
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
            div(class=class, data-testid="message", data-seq=seq, data-role=role) {
                div(class="msg-role") { (label) }
                div(class="msg-body") { (content) }
            }
        },
    }
}

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
        };
        match ctx.api.create_task(&ctx.project_id, &request).await {
            Ok(task) => {
                prompt.set(String::new());
                let session = task.session_id.clone();
                ctx.upsert_task(task);
                ctx.reload_sessions().await;
                ctx.select(session);
            }
            Err(failure) => ctx.fail(failure),
        }
        submitting.set(false);
    });
}

fn composer(ctx: Rc<Ctx>) -> View {
    let prompt = create_signal(String::new());
    let submitting = create_signal(false);
    let menu_open = create_signal(false);
    let too_long = move || prompt.with(|p| p.len() > TASK_PROMPT_MAX_BYTES);
    let blocked = move || submitting.get() || too_long() || prompt.with(|p| p.trim().is_empty());
    let run_ctx = Rc::clone(&ctx);
    view! {
        div(class="composer") {
            textarea(data-testid="prompt", bind:value=prompt, rows="3",
                     placeholder="Describe a task for the agent…")
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
                        div(class="split-menu", role="menu") {
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

/// Kanban columns: id, heading, the statuses they hold.
const COLUMNS: [(&str, &str, &[TaskStatus]); 5] = [
    ("backlog", "Backlog", &[TaskStatus::Backlog]),
    (
        "starting",
        "Starting",
        &[
            TaskStatus::Queued,
            TaskStatus::Provisioning,
            TaskStatus::Starting,
        ],
    ),
    ("running", "Running", &[TaskStatus::Running]),
    ("done", "Done", &[TaskStatus::Completed]),
    (
        "stopped",
        "Failed / cancelled",
        &[TaskStatus::Failed, TaskStatus::Cancelled],
    ),
];

fn board(ctx: Rc<Ctx>) -> View {
    let columns: Vec<View> = COLUMNS
        .iter()
        .map(|(id, heading, statuses)| column(Rc::clone(&ctx), id, heading, statuses))
        .collect();
    let page = ctx.page;
    view! {
        h2 { "Tasks" }
        (if page.tasks.with(|t| t.is_empty()) {
            view! { p(class="empty", data-testid="tasks-empty") { "No tasks yet." } }
        } else {
            view! {}
        })
        div(class="kanban") { (columns) }
    }
}

fn column(
    ctx: Rc<Ctx>,
    id: &'static str,
    heading: &'static str,
    statuses: &'static [TaskStatus],
) -> View {
    let page = ctx.page;
    let tasks = move || {
        page.tasks.with(|tasks| {
            let mut shown: Vec<TaskView> = tasks
                .iter()
                .filter(|t| statuses.contains(&t.status))
                .cloned()
                .collect();
            shown.sort_by_key(|t| Reverse(t.updated_at));
            shown
        })
    };
    let count = move || tasks().len().to_string();
    let testid = format!("column-{id}");
    view! {
        div(class="column", data-testid=testid) {
            h3 { (heading) " " span(class="count") { (count) } }
            Keyed(
                list=tasks,
                view=move |task| card(Rc::clone(&ctx), task),
                // A changed task is a new card: the key includes its last change.
                key=|task| (task.id.clone(), task.updated_at),
            )
        }
    }
}

fn card(ctx: Rc<Ctx>, task: TaskView) -> View {
    let status = task.status;
    let class = if status.is_transient() && status != TaskStatus::Running {
        "card transient"
    } else {
        "card"
    };
    let spinning = matches!(
        status,
        TaskStatus::Queued | TaskStatus::Provisioning | TaskStatus::Starting | TaskStatus::Running
    );
    let reason = task
        .history
        .last()
        .filter(|_| status == TaskStatus::Failed)
        .map(|t| {
            let reason = t.reason.clone();
            view! { p(class="card-reason", data-testid="task-reason") { (reason) } }
        })
        .unwrap_or_default();
    let title = task.title.clone();
    let task_id = task.id.to_string();
    let status_text = status.as_str();
    let session: SessionId = task.session_id.clone();
    let select_ctx = Rc::clone(&ctx);
    let run = if status == TaskStatus::Backlog {
        task_action(Rc::clone(&ctx), task.id.clone(), TaskAction::Run)
    } else {
        View::default()
    };
    let cancel = if status.is_terminal() {
        View::default()
    } else {
        task_action(Rc::clone(&ctx), task.id.clone(), TaskAction::Cancel)
    };
    view! {
        div(class=class, data-testid="task-card", data-task-id=task_id, data-status=status_text,
            on:click=move |_| select_ctx.select(session.clone())) {
            div(class="card-title") { (title) }
            div(class="card-status") {
                (if spinning { view! { span(class="spinner", aria-hidden="true") } } else { view! {} })
                span(class="status-label") { (status_text) }
            }
            (reason)
            div(class="card-actions") {
                (run)
                (cancel)
            }
        }
    }
}

#[derive(Clone, Copy)]
enum TaskAction {
    Run,
    Cancel,
}

/// A card's button: runs or cancels the task and draws the answer.
fn task_action(ctx: Rc<Ctx>, id: TaskId, action: TaskAction) -> View {
    let (testid, label) = match action {
        TaskAction::Run => ("task-run", "Run"),
        TaskAction::Cancel => ("task-cancel", "Cancel"),
    };
    view! {
        button(data-testid=testid, on:click=move |event: web_sys::MouseEvent| {
            // The card behind selects its session; the button only acts.
            event.stop_propagation();
            let (ctx, id) = (Rc::clone(&ctx), id.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let answer = match action {
                    TaskAction::Run => ctx.api.run_task(&ctx.project_id, &id).await,
                    TaskAction::Cancel => ctx.api.cancel_task(&ctx.project_id, &id).await,
                };
                match answer {
                    Ok(task) => ctx.upsert_task(task),
                    Err(failure) => ctx.fail(failure),
                }
            });
        }) { (label) }
    }
}
