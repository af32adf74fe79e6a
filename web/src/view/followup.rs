//! The selected session's own composer: a message to its agent (taken after the current
//! turn, or continuing an ended task), and Stop for the turn under way. A sent message shows
//! as sending until its stored copy arrives.

use std::rc::Rc;

use hangar_protocol::limits::MESSAGE_CONTENT_MAX_BYTES;
use hangar_protocol::tasks::TaskStatus;
use hangar_protocol::{MessageId, PostMessageRequest};
use sycamore::prelude::*;

use crate::state::Ctx;

pub fn follow_up(ctx: Rc<Ctx>) -> View {
    let page = ctx.page;
    let text = create_signal(String::new());
    let posting = create_signal(false);
    // Sent, not yet stored: shown under the transcript until their copies arrive.
    let sending: Signal<Vec<(MessageId, String)>> = create_signal(Vec::new());
    let task = create_memo(move || {
        let selected = page.selected.get_clone();
        page.tasks.with(|tasks| {
            selected.and_then(|id| tasks.iter().find(|t| t.session_id == id).cloned())
        })
    });
    let running =
        move || task.with(|t| t.as_ref().is_some_and(|t| t.status == TaskStatus::Running));
    let too_long = move || text.with(|t| t.len() > MESSAGE_CONTENT_MAX_BYTES);
    let blocked = move || {
        posting.get()
            || too_long()
            || text.with(|t| t.trim().is_empty())
            || task.with(|t| t.as_ref().is_none_or(|t| t.status == TaskStatus::Backlog))
    };
    let send_ctx = Rc::clone(&ctx);
    let send = move || {
        if blocked() {
            return;
        }
        let Some(session) = page.selected.get_clone_untracked() else {
            return;
        };
        let content = text.get_clone_untracked();
        let ctx = Rc::clone(&send_ctx);
        posting.set(true);
        wasm_bindgen_futures::spawn_local(async move {
            let request = PostMessageRequest {
                content: content.clone(),
            };
            match ctx
                .api
                .post_message(&ctx.project_id, &session, &request)
                .await
            {
                Ok(posted) => {
                    sending.update(|s| s.push((posted.message_id, content)));
                    text.set(String::new());
                    ctx.reload_tasks().await;
                }
                Err(failure) => ctx.fail(failure),
            }
            posting.set(false);
        });
    };
    let send_on_enter = send.clone();
    let on_key = move |event: web_sys::KeyboardEvent| {
        if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
            event.prevent_default();
            send_on_enter();
        }
    };
    let stop = move |_| {
        let Some(id) = task.with_untracked(|t| t.as_ref().map(|t| t.id.clone())) else {
            return;
        };
        let ctx = Rc::clone(&ctx);
        wasm_bindgen_futures::spawn_local(async move {
            ctx.act_on_task(id, crate::state::TaskAction::Stop).await;
        });
    };
    let unsent = move || {
        let stored: Vec<MessageId> = page
            .messages
            .with(|m| m.iter().map(|m| m.message_id.clone()).collect());
        sending
            .get_clone()
            .into_iter()
            .filter(|(id, _)| !stored.contains(id))
            .map(|(_, content)| {
                view! {
                    div(class="msg msg-user sending", data-testid="sending") {
                        div(class="msg-role") { "You · sending…" }
                        div(class="msg-body") { (content) }
                    }
                }
            })
            .collect::<Vec<View>>()
    };
    let stop_button = move || {
        let stop = stop.clone();
        match running() {
            true => {
                view! { button(class="stop", data-testid="stop-turn", on:click=stop) { "Stop" } }
            }
            false => view! {},
        }
    };
    view! {
        div(class="sending-list") { (unsent) }
        div(class="follow-up", hidden=move || page.selected.with(Option::is_none)) {
            textarea(data-testid="follow-up", bind:value=text, rows="2",
                     aria-label="Message to the agent (Enter sends it, Shift+Enter is a new line)",
                     on:keydown=on_key,
                     placeholder="Write to the agent… (an ended task continues)")
            button(data-testid="send-follow-up", disabled=blocked, on:click=move |_| send()) { "Send" }
            (stop_button)
        }
    }
}
