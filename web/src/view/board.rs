//! The task board: one column per group of statuses, a card per task with its actions.

use std::cmp::Reverse;
use std::rc::Rc;

use hangar_protocol::TaskId;
use hangar_protocol::tasks::{TaskStatus, TaskView};
use sycamore::prelude::*;

use crate::state::{Ctx, TaskAction};

/// The drag data a dragged card carries: its task id.
const DRAGGED_TASK: &str = "application/x-hangar-task";

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

pub fn board(ctx: Rc<Ctx>) -> View {
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
    let runs = id == "running";
    let drop_ctx = Rc::clone(&ctx);
    let on_drop = move |event: web_sys::DragEvent| {
        let dragged = event
            .data_transfer()
            .and_then(|data| data.get_data(DRAGGED_TASK).ok())
            .and_then(|id| TaskId::parse(id).ok());
        if let (true, Some(task)) = (runs, dragged) {
            event.prevent_default();
            let ctx = Rc::clone(&drop_ctx);
            wasm_bindgen_futures::spawn_local(async move {
                ctx.act_on_task(task, TaskAction::Run).await
            });
        }
    };
    // Only Running takes a drop: elsewhere the browser refuses it.
    let on_drag_over = move |event: web_sys::DragEvent| {
        if runs {
            event.prevent_default();
        }
    };
    view! {
        div(class="column", data-testid=testid, on:dragover=on_drag_over, on:drop=on_drop) {
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
    let output = task
        .output
        .as_ref()
        .map(super::output::summary)
        .unwrap_or_default();
    let title = task.title.clone();
    let task_id = task.id.to_string();
    let status_text = status.as_str();
    let session = task.session_id.clone();
    let select_ctx = Rc::clone(&ctx);
    let (run, edit) = if status == TaskStatus::Backlog {
        (
            task_action(Rc::clone(&ctx), task.id.clone(), TaskAction::Run),
            super::edit_task::editor(Rc::clone(&ctx), task.clone()),
        )
    } else {
        (View::default(), View::default())
    };
    let cancel = if status.is_terminal() {
        View::default()
    } else {
        task_action(Rc::clone(&ctx), task.id.clone(), TaskAction::Cancel)
    };
    let ended = matches!(status, TaskStatus::Failed | TaskStatus::Cancelled);
    let retry = if ended {
        task_action(Rc::clone(&ctx), task.id.clone(), TaskAction::Retry)
    } else {
        View::default()
    };
    let discard = if ended && task.kept_until.is_some() {
        task_action(Rc::clone(&ctx), task.id.clone(), TaskAction::Discard)
    } else {
        View::default()
    };
    let (archive, delete) = if status.is_terminal() || status == TaskStatus::Backlog {
        (
            task_action(Rc::clone(&ctx), task.id.clone(), TaskAction::Archive),
            task_action(Rc::clone(&ctx), task.id.clone(), TaskAction::Delete),
        )
    } else {
        (View::default(), View::default())
    };
    let kept = match task.kept_until.filter(|_| ended) {
        Some(until) => {
            let text = format!("Workspace kept until {}", clock(until));
            view! { p(class="card-kept muted", data-testid="task-kept") { (text) } }
        }
        None => View::default(),
    };
    // A backlog card can be dragged onto Running to run it (its Run button does the same).
    let draggable = (status == TaskStatus::Backlog).to_string();
    let dragged_id = task_id.clone();
    let on_drag = move |event: web_sys::DragEvent| {
        if let Some(data) = event.data_transfer() {
            let _ = data.set_data(DRAGGED_TASK, &dragged_id);
        }
    };
    let (key_ctx, key_session) = (Rc::clone(&select_ctx), session.clone());
    let on_key = move |event: web_sys::KeyboardEvent| {
        if event.key() == "Enter" && event.target() == event.current_target() {
            key_ctx.select(key_session.clone());
        }
    };
    view! {
        div(class=class, data-testid="task-card", data-task-id=task_id, data-status=status_text,
            draggable=draggable, on:dragstart=on_drag, tabindex="0", on:keydown=on_key,
            on:click=move |_| select_ctx.select(session.clone())) {
            div(class="card-title") { (title) }
            div(class="card-status") {
                (if spinning { view! { span(class="spinner", aria-hidden="true") } } else { view! {} })
                span(class="status-label") { (status_text) }
            }
            (reason)
            (output)
            (kept)
            div(class="card-actions") {
                (run)
                (edit)
                (cancel)
                (retry)
                (discard)
                (archive)
                (delete)
            }
        }
    }
}

/// A card's button: runs or cancels the task and draws the answer.
fn task_action(ctx: Rc<Ctx>, id: TaskId, action: TaskAction) -> View {
    let (testid, label) = match action {
        TaskAction::Run => ("task-run", "Run"),
        TaskAction::Cancel => ("task-cancel", "Cancel"),
        TaskAction::Retry => ("task-retry", "Retry"),
        TaskAction::Discard => ("task-discard", "Discard"),
        TaskAction::Stop => ("task-stop", "Stop"),
        TaskAction::Archive => ("task-archive", "Archive"),
        TaskAction::Delete => ("task-delete", "Delete"),
    };
    view! {
        button(data-testid=testid, on:click=move |event: web_sys::MouseEvent| {
            // The card behind selects its session; the button only acts.
            event.stop_propagation();
            let (ctx, id) = (Rc::clone(&ctx), id.clone());
            wasm_bindgen_futures::spawn_local(async move { ctx.act_on_task(id, action).await });
        }) { (label) }
    }
}

/// `HH:MM` of a Unix epoch millisecond, in the browser's time zone.
fn clock(ms: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}
