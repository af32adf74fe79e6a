//! The live socket's events, fed into the page: stored messages merged (a gap is paged
//! over HTTP), drafts of the message being written, task changes, and the sidebar's counts.

use std::rc::Rc;

use hangar_protocol::live::LiveEvent;

use crate::notify;
use crate::socket::{LinkState, LiveSink};
use crate::state::Ctx;

/// Feeds the live socket's events into the page.
pub struct PageSink(pub Rc<Ctx>);

impl LiveSink for PageSink {
    fn state(&self, state: LinkState) {
        self.0.page.link.set(state);
    }

    fn opened(&self) {
        // Whatever happened while the socket was down is paged over HTTP.
        let ctx = Rc::clone(&self.0);
        wasm_bindgen_futures::spawn_local(async move {
            ctx.reload_tasks().await;
            ctx.reload_sessions().await;
            Rc::clone(&ctx).sync_messages().await;
            ctx.page.catch_ups.update(|n| *n += 1);
        });
    }

    fn event(&self, event: LiveEvent) {
        let ctx = &self.0;
        let (session, cursor) = match event {
            LiveEvent::Messages {
                session_id,
                cursor,
                messages,
                ..
            } => {
                if ctx.page.selected.get_clone_untracked().as_ref() == Some(&session_id) {
                    ctx.merge_contiguous(&messages);
                }
                for message in &messages {
                    if let Some(asked) = message.permission.as_ref().filter(|p| p.answer.is_none())
                    {
                        let key = format!("permission:{}", asked.permission_id);
                        notify::once(key, "The agent asks for permission", &message.content);
                    }
                }
                // The sidebar's count and last activity follow the frames.
                let last_at = messages.iter().map(|m| m.created_at).max();
                ctx.page.sessions.update(|sessions| {
                    if let Some(session) = sessions.iter_mut().find(|s| s.id == session_id) {
                        session.message_count = session.message_count.max(cursor);
                        session.last_message_at = session.last_message_at.max(last_at);
                    }
                });
                (session_id, cursor)
            }
            LiveEvent::Draft {
                session_id, draft, ..
            } => {
                let open = ctx.page.selected.get_clone_untracked().as_ref() == Some(&session_id);
                if open && draft.seq > ctx.last_seq() {
                    ctx.page.draft.set(Some(draft));
                }
                return;
            }
            LiveEvent::Task { task, cursor, .. } => {
                let session = task.session_id.clone();
                if task.status.is_terminal() {
                    let key = format!("ended:{}:{}", task.id, task.history.len());
                    let title = format!("Task {}: {}", task.status, task.title);
                    let why = task
                        .history
                        .last()
                        .map(|t| t.reason.clone())
                        .unwrap_or_default();
                    notify::once(key, &title, &why);
                }
                ctx.upsert_task(*task);
                (session, cursor)
            }
        };
        // A gap in the open session: frames missed, or a message too large for a frame.
        if ctx.page.selected.get_clone_untracked().as_ref() == Some(&session)
            && ctx.last_seq() < cursor
        {
            wasm_bindgen_futures::spawn_local(Rc::clone(ctx).sync_messages());
        }
    }
}
