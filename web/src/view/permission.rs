//! A permission the agent asked for: its options as buttons while the agent waits (the
//! first member's answer goes to the agent), then how it was settled and by whom.

use std::rc::Rc;

use hangar_protocol::permissions::{AnsweredBy, PermissionInfo};
use hangar_protocol::tasks::TaskStatus;
use sycamore::prelude::*;

use super::set_if_alive;
use crate::state::Ctx;

/// How a settled permission reads: `Allow once, by user-1`.
fn settled(info: &PermissionInfo) -> Option<String> {
    let answer = info.answer.as_ref()?;
    let chosen = answer
        .option_id
        .as_ref()
        .and_then(|id| info.options.iter().find(|option| &option.option_id == id))
        .map(|option| option.name.clone())
        .or_else(|| answer.option_id.clone())
        .unwrap_or_else(|| "Cancelled".into());
    Some(match answer.by {
        AnsweredBy::User => format!(
            "{chosen}, answered by {}",
            answer
                .user_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        ),
        AnsweredBy::Policy => format!("{chosen}, by the project's policy"),
        AnsweredBy::Timeout => format!("{chosen}: nobody answered in time"),
    })
}

pub fn card(ctx: Rc<Ctx>, info: PermissionInfo, content: String) -> View {
    let page = ctx.page;
    let sending = create_signal(false);
    let sent = create_signal(false);
    let session = page.selected.get_clone_untracked();
    // Only a running task's agent can still take an answer.
    let waiting = {
        let session = session.clone();
        create_memo(move || {
            page.tasks.with(|tasks| {
                tasks.iter().any(|task| {
                    Some(&task.session_id) == session.as_ref() && task.status == TaskStatus::Running
                })
            })
        })
    };
    let asked = content.lines().next().unwrap_or_default().to_string();
    let Some(outcome) = settled(&info) else {
        let buttons: Vec<View> = info
            .options
            .iter()
            .map(|option| {
                let ctx = Rc::clone(&ctx);
                let (session, permission) = (session.clone(), info.permission_id.clone());
                let option_id = option.option_id.clone();
                let class = if option.kind.starts_with("allow") {
                    "permission-option allow"
                } else {
                    "permission-option deny"
                };
                let answer = move |_| {
                    let (ctx, session, permission) =
                        (Rc::clone(&ctx), session.clone(), permission.clone());
                    let option_id = option_id.clone();
                    let Some(session) = session else { return };
                    sending.set(true);
                    wasm_bindgen_futures::spawn_local(async move {
                        let answered = ctx
                            .api
                            .answer_permission(&ctx.project_id, &session, &permission, option_id)
                            .await;
                        set_if_alive(sending, false);
                        match answered {
                            Ok(_) => set_if_alive(sent, true),
                            Err(failure) => ctx.fail(failure),
                        }
                    });
                };
                let name = option.name.clone();
                let id = option.option_id.clone();
                let disabled = move || sending.get() || sent.get() || !waiting.get();
                view! {
                    button(class=class, data-testid="permission-option", data-option-id=id,
                           disabled=disabled, on:click=answer) { (name) }
                }
            })
            .collect();
        return view! {
            div(class="permission-card waiting", data-testid="permission", role="group",
                aria-label="Permission requested") {
                p(class="permission-asked") { (asked) }
                div(class="permission-options") { (buttons) }
                (if sent.get() {
                    view! { p(class="permission-note", data-testid="permission-sent") { "Answered; waiting for the agent to take it." } }
                } else if !waiting.get() {
                    view! { p(class="permission-note", data-testid="permission-closed") { "The agent no longer waits for this answer." } }
                } else {
                    view! {}
                })
            }
        };
    };
    view! {
        div(class="permission-card settled", data-testid="permission", role="group",
            aria-label="Permission requested") {
            p(class="permission-asked") { (asked) }
            p(class="permission-answer", data-testid="permission-answer") { (outcome) }
        }
    }
}
