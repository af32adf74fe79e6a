//! The task composer: a prompt, and the split button "Run now / Save to backlog" whose menu
//! also holds the task's options (a title, a VM size).

use std::rc::Rc;

use hangar_protocol::limits::TASK_PROMPT_MAX_BYTES;
use hangar_protocol::tasks::{CreateTaskRequest, SubmitMode, VmSize};
use sycamore::prelude::*;

use crate::state::Ctx;

/// What the composer holds.
#[derive(Clone, Copy)]
struct Compose {
    prompt: Signal<String>,
    /// Options under the split button: a title (else one is made from the prompt) and a
    /// VM size (else the project's).
    title: Signal<String>,
    size: Signal<String>,
    submitting: Signal<bool>,
}

/// Submits the prompt in `mode`; the prompt and options are cleared once the task exists.
fn submit(ctx: Rc<Ctx>, compose: Compose, mode: SubmitMode) {
    let text = compose.prompt.get_clone_untracked();
    if text.trim().is_empty() || compose.submitting.get_untracked() {
        return;
    }
    compose.submitting.set(true);
    let title = compose.title.get_clone_untracked().trim().to_string();
    let vm_size = compose.size.get_clone_untracked().parse::<VmSize>().ok();
    wasm_bindgen_futures::spawn_local(async move {
        let request = CreateTaskRequest {
            title: (!title.is_empty()).then_some(title),
            prompt: text,
            mode,
            vm_size,
            base_branch: None,
        };
        if ctx.submit_task(request).await {
            compose.prompt.set(String::new());
            compose.title.set(String::new());
        }
        compose.submitting.set(false);
    });
}

pub fn composer(ctx: Rc<Ctx>) -> View {
    let compose = Compose {
        prompt: create_signal(String::new()),
        title: create_signal(String::new()),
        size: create_signal(String::new()),
        submitting: create_signal(false),
    };
    let (prompt, submitting) = (compose.prompt, compose.submitting);
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
                submit(Rc::clone(&enter_ctx), compose, SubmitMode::RunNow);
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
                    submit(Rc::clone(&run_ctx), compose, SubmitMode::RunNow);
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
                                submit(Rc::clone(&ctx), compose, SubmitMode::Backlog);
                            }) { "Save to backlog" }
                            label(class="menu-option") { "Title"
                                input(data-testid="task-title", bind:value=compose.title,
                                      maxlength="200", placeholder="from the task's first line")
                            }
                            label(class="menu-option") { "VM size"
                                select(data-testid="task-vm-size", bind:value=compose.size) {
                                    option(value="") { "the project's" }
                                    option(value="small") { "small" }
                                    option(value="medium") { "medium" }
                                    option(value="large") { "large" }
                                }
                            }
                        }
                    }
                } else {
                    view! {}
                })
            }
        }
    }
}
