//! What the chat shows of a transcript: one card per tool call, however many updates the
//! agent sent for it. The first message of a call holds its place and its title; each later
//! update of the same `toolCallId` changes its status and adds its output below. A
//! permission prompt and the message saying how it was settled are one card too (by
//! `permissionId`). Every other message shows as it is.

use std::collections::HashMap;

use hangar_protocol::ChatMessage;

/// One entry of the chat: a message, or a tool call with its updates folded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub message: ChatMessage,
    /// The seqs it stands for, ascending (one, or a call and its updates).
    pub seqs: Vec<u64>,
}

impl Shown {
    /// Changes whenever an update is folded in, so the card is drawn again in place.
    pub fn key(&self) -> (u64, u64) {
        (self.seqs[0], self.seqs[self.seqs.len() - 1])
    }
}

/// `messages` (ascending) as the chat shows them.
pub fn shown(messages: Vec<ChatMessage>) -> Vec<Shown> {
    let mut entries: Vec<Shown> = Vec::with_capacity(messages.len());
    let mut calls: HashMap<String, usize> = HashMap::new();
    for message in messages {
        let call = message
            .tool
            .as_ref()
            .map(|tool| tool.tool_call_id.clone())
            .or_else(|| {
                let asked = message.permission.as_ref()?;
                Some(format!("permission:{}", asked.permission_id))
            });
        let Some(at) = call.as_ref().and_then(|id| calls.get(id).copied()) else {
            if let Some(id) = call {
                calls.insert(id, entries.len());
            }
            entries.push(Shown {
                seqs: vec![message.seq],
                message,
            });
            continue;
        };
        let entry = &mut entries[at];
        entry.seqs.push(message.seq);
        if let (Some(card), Some(update)) = (entry.message.tool.as_mut(), message.tool) {
            card.status = update.status.or(card.status.take());
            // The call's own title and kind stay; an update only fills what it lacked.
            card.title = card.title.take().or(update.title);
            card.kind = card.kind.take().or(update.kind);
        }
        if let (Some(card), Some(settled)) = (entry.message.permission.as_mut(), message.permission)
        {
            card.answer = settled.answer.or(card.answer.take());
        }
        if !message.content.is_empty() {
            if !entry.message.content.is_empty() {
                entry.message.content.push('\n');
            }
            entry.message.content.push_str(&message.content);
        }
    }
    entries
}
