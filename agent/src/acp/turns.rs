//! A session's turns: the first prompt, then whatever members write meanwhile, each batch
//! of follow-ups prompted once the agent ends its turn. A member's message is stored as the
//! session's next `user` message when it arrives, so the transcript shows it where it was
//! written; Stop sends ACP `session/cancel`, and the turn it ends is no failure.

use std::sync::Arc;

use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    CancelNotification, ContentBlock, PromptRequest, SessionId, TextContent,
};
use agent_client_protocol::{Agent, Error};
use hangar_protocol::MessageRole;
use hangar_protocol::node::FollowUp;
use tokio::sync::Mutex;

use super::inbox::{Inbox, Nudge};
use super::updates::wire_name;
use super::{Recorder, record_one};
use crate::outbox::Draft;

/// How the last turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnsEnded {
    /// ACP's stop reason (`end_turn`, `cancelled`, ...).
    pub stop_reason: String,
    /// A member stopped it.
    pub stopped: bool,
}

impl TurnsEnded {
    /// The agent ended its work the way a task may end.
    pub fn finished(&self) -> bool {
        self.stop_reason == "end_turn" || (self.stopped && self.stop_reason == "cancelled")
    }
}

fn text(prompt: String) -> Vec<ContentBlock> {
    vec![ContentBlock::Text(TextContent::new(prompt))]
}

/// A member's message as the session's `user` message, with the id the control plane gave.
pub fn follow_up_draft(follow_up: &FollowUp) -> Draft {
    Draft {
        role: MessageRole::User,
        content: follow_up.content.clone(),
        tool: None,
        permission: None,
        id: Some(follow_up.message_id.clone()),
    }
}

async fn record_follow_up(recorder: &Mutex<Recorder>, follow_up: &FollowUp) -> Result<(), Error> {
    record_one(recorder, follow_up_draft(follow_up)).await
}

/// Runs turns until the agent ends one with nothing left to prompt.
pub(super) async fn play(
    cx: &ConnectionTo<Agent>,
    session: SessionId,
    first: String,
    mut inbox: Inbox,
    recorder: Arc<Mutex<Recorder>>,
) -> Result<TurnsEnded, Error> {
    let mut prompt = first;
    loop {
        let mut queued: Vec<String> = Vec::new();
        let mut stopped = false;
        let request = cx
            .send_request(PromptRequest::new(session.clone(), text(prompt)))
            .block_task();
        tokio::pin!(request);
        let response = loop {
            tokio::select! {
                response = &mut request => break response?,
                nudge = inbox.next() => match nudge {
                    Nudge::FollowUp(follow_up) => {
                        record_follow_up(&recorder, &follow_up).await?;
                        queued.push(follow_up.content);
                    }
                    Nudge::Stop => {
                        stopped = true;
                        cx.send_notification(CancelNotification::new(session.clone()))?;
                    }
                },
            }
        };
        // A turn's text ends with the turn: the next turn's is another message.
        recorder
            .lock()
            .await
            .close()
            .await
            .map_err(Error::into_internal_error)?;
        // What arrived as the turn ended is still this session's.
        while let Some(nudge) = inbox.ready() {
            if let Nudge::FollowUp(follow_up) = nudge {
                record_follow_up(&recorder, &follow_up).await?;
                queued.push(follow_up.content);
            }
        }
        let ended = TurnsEnded {
            stop_reason: wire_name(&response.stop_reason).unwrap_or_else(|| "unknown".into()),
            stopped,
        };
        if queued.is_empty() || !ended.finished() {
            return Ok(ended);
        }
        prompt = queued.join("\n\n");
    }
}
