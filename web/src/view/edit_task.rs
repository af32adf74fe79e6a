//! Editing a backlog task on its card before it runs: title, prompt, VM size.

use std::rc::Rc;

use hangar_protocol::tasks::{TaskView, UpdateTaskRequest, VmSize};
use sycamore::prelude::*;

use super::set_if_alive;
use crate::state::Ctx;

/// The card's Edit button and, while open, its form.
pub fn editor(ctx: Rc<Ctx>, task: TaskView) -> View {
    let open = create_signal(false);
    let title = create_signal(task.title.clone());
    let prompt = create_signal(task.prompt.clone().unwrap_or_default());
    let size = create_signal(task.vm_size.as_str().to_string());
    let saving = create_signal(false);
    let id = task.id.clone();
    // Listings carry no prompt: the whole task is read when the form opens.
    let (load_ctx, load_id) = (Rc::clone(&ctx), task.id.clone());
    let toggle = move |event: web_sys::MouseEvent| {
        event.stop_propagation();
        open.set(!open.get());
        if !open.get() {
            return;
        }
        let (ctx, id) = (Rc::clone(&load_ctx), load_id.clone());
        wasm_bindgen_futures::spawn_local(async move {
            match ctx.api.task(&ctx.project_id, &id).await {
                Ok(task) => set_if_alive(prompt, task.prompt.unwrap_or_default()),
                Err(failure) => ctx.fail(failure),
            }
        });
    };
    let save = move |event: web_sys::MouseEvent| {
        event.stop_propagation();
        let (ctx, id) = (Rc::clone(&ctx), id.clone());
        let request = UpdateTaskRequest {
            title: Some(title.get_clone_untracked()),
            prompt: Some(prompt.get_clone_untracked()),
            vm_size: size.get_clone_untracked().parse::<VmSize>().ok(),
            base_branch: None,
        };
        saving.set(true);
        wasm_bindgen_futures::spawn_local(async move {
            let edited = ctx.api.edit_task(&ctx.project_id, &id, &request).await;
            set_if_alive(saving, false);
            match edited {
                Ok(task) => {
                    set_if_alive(open, false);
                    ctx.upsert_task(task);
                    // The session is named after its task.
                    ctx.reload_sessions().await;
                }
                Err(failure) => ctx.fail(failure),
            }
        });
    };
    let form = move || {
        if !open.get() {
            return view! {};
        }
        let save = save.clone();
        view! {
            div(class="task-editor", data-testid="task-editor", on:click=|event: web_sys::MouseEvent| event.stop_propagation()) {
                label { "Title" input(data-testid="edit-title", bind:value=title, maxlength="200") }
                label { "Task" textarea(data-testid="edit-prompt", bind:value=prompt, rows="4") }
                label { "VM size"
                    select(data-testid="edit-vm-size", bind:value=size) {
                        option(value="small") { "small" } option(value="medium") { "medium" } option(value="large") { "large" }
                    }
                }
                div(class="card-actions") {
                    button(data-testid="edit-save", disabled=move || saving.get(), on:click=save) { "Save" }
                    button(data-testid="edit-close", on:click=move |event: web_sys::MouseEvent| {
                        event.stop_propagation();
                        open.set(false);
                    }) { "Close" }
                }
            }
        }
    };
    view! {
        button(data-testid="task-edit", aria-expanded=move || open.get().to_string(),
               on:click=toggle) { "Edit" }
        (form)
    }
}
