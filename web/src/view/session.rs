//! The selected session's header: its task's status and current step, how long it has
//! taken, how long a node has worked on it, why it failed, and Cancel while it can be.

use std::rc::Rc;

use hangar_protocol::tasks::{TaskStatus, TaskView};
use sycamore::prelude::*;

use super::time::{duration, ticking};
use crate::state::{Ctx, TaskAction};

/// What the task is doing now, in words.
fn step(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Backlog => "in the backlog",
        TaskStatus::Queued => "waiting for a node",
        TaskStatus::Provisioning => "starting a node",
        TaskStatus::Starting => "starting the agent",
        TaskStatus::Running => "the agent is working",
        TaskStatus::Completed => "done",
        TaskStatus::Failed => "failed",
        TaskStatus::Cancelled => "cancelled",
    }
}

/// Time the task spent running on a node, over all its runs (up to `now` for a running one).
fn node_time(task: &TaskView, now: u64) -> u64 {
    let mut total = 0;
    let mut since = None;
    for change in &task.history {
        match (change.to == TaskStatus::Running, since) {
            (true, None) => since = Some(change.at),
            (false, Some(start)) => {
                total += change.at.saturating_sub(start);
                since = None;
            }
            _ => {}
        }
    }
    total + since.map_or(0, |start| now.saturating_sub(start))
}

pub fn header(ctx: Rc<Ctx>) -> View {
    let page = ctx.page;
    let now = ticking(1_000);
    let task = create_memo(move || {
        let selected = page.selected.get_clone();
        page.tasks.with(|tasks| {
            selected.and_then(|id| tasks.iter().find(|t| t.session_id == id).cloned())
        })
    });
    let content = move || {
        let Some(task) = task.get_clone() else {
            return view! {};
        };
        let now = now.get();
        let ended = task.status.is_terminal();
        let elapsed = if ended { task.updated_at } else { now }.saturating_sub(task.created_at);
        let status = task.status.as_str();
        let badge = format!("badge status-{status}");
        let worked = duration(node_time(&task, now));
        let cancel: View = match ended {
            true => view! {},
            false => {
                let ctx = Rc::clone(&ctx);
                let id = task.id.clone();
                view! {
                    button(class="link-button", data-testid="session-cancel", on:click=move |_| {
                        let (ctx, id) = (Rc::clone(&ctx), id.clone());
                        wasm_bindgen_futures::spawn_local(async move { ctx.act_on_task(id, TaskAction::Cancel).await });
                    }) { "Cancel task" }
                }
            }
        };
        view! {
            div(class="session-header", data-testid="session-header", data-status=status) {
                span(class=badge, data-testid="session-status") { (status) }
                span(class="session-step", data-testid="session-step") { (step(task.status)) }
                span(class="muted", title="since the task was submitted") { "elapsed " (duration(elapsed)) }
                span(class="muted", data-testid="session-node-time", title="time a node has run the agent") { "node time " (worked) }
                (cancel)
            }
        }
    };
    view! { (content) }
}
