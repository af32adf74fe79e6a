//! Turns the stream of ACP session updates into chat messages: streaming chunks of one agent
//! message are coalesced into one message (a 2,000-token answer is one message, not 2,000),
//! and any text too long for the wire is split into consecutive messages.

use hangar_protocol::fit::{escaped_len, escaped_str_len, json_len};
use hangar_protocol::limits::{
    MESSAGE_CONTENT_MAX_BYTES, MSG_BATCH_MAX_BYTES, TOOL_INFO_MAX_BYTES,
};
use hangar_protocol::{MessageRole, ToolCallInfo};

use crate::outbox::Draft;

/// Room in a batch body for the envelope and a message's other fields.
const ENVELOPE_ROOM: usize = 1_024;
/// Most bytes a message's content may take once JSON-escaped, so it fits in one batch.
const CONTENT_MAX_JSON_BYTES: usize = MSG_BATCH_MAX_BYTES - ENVELOPE_ROOM;

/// One session update, reduced to what the transcript keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    AgentText(String),
    Thought(String),
    ToolCall {
        info: ToolCallInfo,
        content: String,
    },
    ToolCallUpdate {
        info: ToolCallInfo,
        content: String,
    },
    Plan(Vec<(String, String)>),
    /// Something the transcript does not record (mode changes, command lists, ...).
    Ignored,
}

/// Splits `text` at character boundaries into parts that each fit the wire limits:
/// at most [`MESSAGE_CONTENT_MAX_BYTES`] bytes and at most `CONTENT_MAX_JSON_BYTES` escaped.
pub fn split_for_wire(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut start = 0;
    let (mut bytes, mut json) = (0usize, 0usize);
    for (index, c) in text.char_indices() {
        if bytes + c.len_utf8() > MESSAGE_CONTENT_MAX_BYTES
            || json + escaped_len(c) > CONTENT_MAX_JSON_BYTES
        {
            parts.push(text[start..index].to_string());
            start = index;
            bytes = 0;
            json = 0;
        }
        bytes += c.len_utf8();
        json += escaped_len(c);
    }
    if start < text.len() || parts.is_empty() {
        parts.push(text[start..].to_string());
    }
    parts
}

/// Longest tool call id kept.
const TOOL_CALL_ID_MAX_BYTES: usize = 256;

/// `draft` within every limit ingest checks, so no message is ever refused for its size:
/// its tool info within [`TOOL_INFO_MAX_BYTES`] (the title cut, marked), its content within
/// the content limit and, escaped, within what the batch leaves beside the tool info. The one
/// place the agent fits a message before it is enqueued.
pub fn fit_draft(mut draft: Draft) -> Draft {
    let mut tool_json = 0;
    if let Some(tool) = &mut draft.tool {
        if tool.tool_call_id.len() > TOOL_CALL_ID_MAX_BYTES {
            tool.tool_call_id = cut_bytes(&tool.tool_call_id, TOOL_CALL_ID_MAX_BYTES);
        }
        for field in [&mut tool.kind, &mut tool.status] {
            if field.as_ref().is_some_and(|value| value.len() > 64) {
                *field = field.as_deref().map(|value| cut_bytes(value, 64));
            }
        }
        if json_len(tool) > TOOL_INFO_MAX_BYTES {
            let title = tool.title.take().unwrap_or_default();
            // `,"title":"…"` around the kept part.
            let around = r#","title":"""#.len() + '…'.len_utf8();
            let room = TOOL_INFO_MAX_BYTES.saturating_sub(json_len(tool) + around);
            let mut kept = String::new();
            let mut used = 0;
            for c in title.chars() {
                if used + escaped_len(c) > room {
                    break;
                }
                used += escaped_len(c);
                kept.push(c);
            }
            kept.push('…');
            tool.title = Some(kept);
        }
        tool_json = json_len(tool);
    }
    let room = CONTENT_MAX_JSON_BYTES.saturating_sub(tool_json);
    if draft.content.len() > MESSAGE_CONTENT_MAX_BYTES || escaped_str_len(&draft.content) > room {
        draft.content = truncate_within(std::mem::take(&mut draft.content), room);
    }
    draft
}

/// The first `max` bytes of `text`, at a char boundary.
fn cut_bytes(text: &str, max: usize) -> String {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Cuts `text` to fit one message, marking the cut.
fn truncate_for_wire(text: String) -> String {
    truncate_within(text, CONTENT_MAX_JSON_BYTES)
}

/// Cuts `text` to at most [`MESSAGE_CONTENT_MAX_BYTES`] bytes and `json_max` escaped,
/// marking the cut.
fn truncate_within(text: String, json_max: usize) -> String {
    if text.len() <= MESSAGE_CONTENT_MAX_BYTES && escaped_str_len(&text) <= json_max {
        return text;
    }
    let marker = format!("\n[truncated {} bytes]", text.len());
    let marker_json = escaped_str_len(&marker);
    let mut kept = String::new();
    let mut json = 0;
    for c in text.chars() {
        if kept.len() + c.len_utf8() + marker.len() > MESSAGE_CONTENT_MAX_BYTES
            || json + escaped_len(c) + marker_json > json_max
        {
            break;
        }
        json += escaped_len(c);
        kept.push(c);
    }
    kept + &marker
}

fn text_drafts(role: MessageRole, text: &str) -> Vec<Draft> {
    split_for_wire(text)
        .into_iter()
        .map(|content| Draft {
            role,
            content,
            tool: None,
            permission: None,
            id: None,
        })
        .collect()
}

/// Coalesces consecutive text chunks of the same role.
#[derive(Debug, Default)]
pub struct Coalescer {
    open: Option<(MessageRole, String)>,
}

impl Coalescer {
    /// The message still being streamed, if any: its role and its text so far.
    pub fn open(&self) -> Option<(MessageRole, &str)> {
        self.open
            .as_ref()
            .map(|(role, text)| (*role, text.as_str()))
    }

    /// Feeds one update; returns the messages it completed, in order.
    pub fn push(&mut self, update: Update) -> Vec<Draft> {
        let (role, chunk) = match update {
            Update::AgentText(chunk) => (MessageRole::Assistant, chunk),
            Update::Thought(chunk) => (MessageRole::Thought, chunk),
            Update::Ignored => return Vec::new(),
            Update::ToolCall { info, content } | Update::ToolCallUpdate { info, content } => {
                return self.finish_then(Draft {
                    role: MessageRole::Tool,
                    content: truncate_for_wire(content),
                    tool: Some(info),
                    permission: None,
                    id: None,
                });
            }
            Update::Plan(entries) => {
                let content = entries
                    .iter()
                    .map(|(status, text)| format!("- [{status}] {text}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                return self.finish_then(Draft {
                    role: MessageRole::Plan,
                    content: truncate_for_wire(content),
                    tool: None,
                    permission: None,
                    id: None,
                });
            }
        };
        let mut drafts = Vec::new();
        match &mut self.open {
            Some((open_role, text)) if *open_role == role => text.push_str(&chunk),
            _ => {
                drafts = self.finish();
                self.open = Some((role, chunk));
            }
        }
        // Keep memory bounded on an endless stream: emit every part that is already full.
        if let Some((role, text)) = &mut self.open
            && text.len() > MESSAGE_CONTENT_MAX_BYTES
        {
            let mut parts = split_for_wire(text);
            let rest = parts.pop().unwrap_or_default();
            drafts.extend(parts.into_iter().map(|content| Draft {
                role: *role,
                content,
                tool: None,
                permission: None,
                id: None,
            }));
            *text = rest;
        }
        drafts
    }

    fn finish_then(&mut self, draft: Draft) -> Vec<Draft> {
        let mut drafts = self.finish();
        drafts.push(draft);
        drafts
    }

    /// Closes the open message, if any (end of a prompt turn, shutdown).
    pub fn finish(&mut self) -> Vec<Draft> {
        match self.open.take() {
            Some((_, text)) if text.is_empty() => Vec::new(),
            Some((role, text)) => text_drafts(role, &text),
            None => Vec::new(),
        }
    }
}

/// The user's prompt as messages.
pub fn user_prompt(prompt: &str) -> Vec<Draft> {
    text_drafts(MessageRole::User, prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_is_fitted_to_every_limit_ingest_checks() {
        let tool = hangar_protocol::ToolCallInfo {
            tool_call_id: "c".repeat(1000),
            title: Some("\u{1}t".repeat(9000)),
            kind: Some("edit".into()),
            status: Some("pending".into()),
        };
        let fitted = fit_draft(Draft {
            role: MessageRole::Tool,
            content: "\u{1}".repeat(MESSAGE_CONTENT_MAX_BYTES),
            tool: Some(tool),
            permission: None,
            id: None,
        });
        let tool = fitted.tool.as_ref().expect("tool");
        assert!(json_len(tool) <= TOOL_INFO_MAX_BYTES, "{}", json_len(tool));
        assert!(tool.title.as_deref().is_some_and(|t| t.ends_with('…')));
        assert!(fitted.content.len() <= MESSAGE_CONTENT_MAX_BYTES);
        let message = serde_json::json!({"content": fitted.content, "tool": tool});
        assert!(
            json_len(&message) < MSG_BATCH_MAX_BYTES - 512,
            "{}",
            json_len(&message)
        );
        assert!(fitted.content.contains("[truncated"));
        // A draft within the limits is left as it is.
        let small = Draft {
            role: MessageRole::Assistant,
            content: "hi".into(),
            tool: None,
            permission: None,
            id: None,
        };
        assert_eq!(fit_draft(small.clone()), small);
    }

    fn tool(id: &str) -> ToolCallInfo {
        ToolCallInfo {
            tool_call_id: id.into(),
            title: Some("Edit".into()),
            kind: Some("edit".into()),
            status: Some("pending".into()),
        }
    }

    #[test]
    fn two_thousand_chunks_of_one_answer_become_one_message() {
        let mut coalescer = Coalescer::default();
        let mut drafts = Vec::new();
        for i in 0..2_000 {
            drafts.extend(coalescer.push(Update::AgentText(format!("t{i} "))));
        }
        assert!(
            drafts.is_empty(),
            "nothing is complete while the answer streams"
        );
        drafts.extend(coalescer.finish());
        assert_eq!(drafts.len(), 1);
        assert!(drafts[0].content.starts_with("t0 t1 ") && drafts[0].content.ends_with("t1999 "));
    }

    #[test]
    fn a_change_of_kind_closes_the_open_message() {
        let mut coalescer = Coalescer::default();
        let mut drafts = Vec::new();
        for update in [
            Update::Thought("think ".into()),
            Update::Thought("more".into()),
            Update::AgentText("I will ".into()),
            Update::AgentText("edit.".into()),
            Update::Ignored,
            Update::ToolCall {
                info: tool("c1"),
                content: "main.rs".into(),
            },
            Update::AgentText("Done.".into()),
        ] {
            drafts.extend(coalescer.push(update));
        }
        drafts.extend(coalescer.finish());
        let summary: Vec<(MessageRole, &str)> = drafts
            .iter()
            .map(|d| (d.role, d.content.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (MessageRole::Thought, "think more"),
                (MessageRole::Assistant, "I will edit."),
                (MessageRole::Tool, "main.rs"),
                (MessageRole::Assistant, "Done."),
            ]
        );
        assert_eq!(
            drafts[2].tool.as_ref().map(|t| t.tool_call_id.as_str()),
            Some("c1")
        );
    }

    #[test]
    fn long_text_is_split_within_both_wire_limits_at_char_boundaries() {
        let text = "é\"".repeat(30_000); // 2 bytes + 1 byte, escaped 2 + 2
        let parts = split_for_wire(&text);
        assert!(parts.len() > 1);
        assert_eq!(parts.concat(), text);
        for part in &parts {
            assert!(part.len() <= MESSAGE_CONTENT_MAX_BYTES);
            let escaped = serde_json::to_string(part).expect("json").len() - 2;
            assert!(escaped <= CONTENT_MAX_JSON_BYTES, "{escaped}");
        }
        let controls = "\u{1}".repeat(20_000); // six bytes each when escaped
        for part in split_for_wire(&controls) {
            assert!(
                serde_json::to_string(&part).expect("json").len() - 2 <= CONTENT_MAX_JSON_BYTES
            );
        }
        assert_eq!(split_for_wire(""), vec![String::new()]);
        assert_eq!(
            split_for_wire(&"a".repeat(MESSAGE_CONTENT_MAX_BYTES)).len(),
            1
        );
        assert_eq!(
            split_for_wire(&"a".repeat(MESSAGE_CONTENT_MAX_BYTES + 1)).len(),
            2
        );
    }

    #[test]
    fn an_endless_stream_is_emitted_in_full_parts() {
        let mut coalescer = Coalescer::default();
        let mut drafts = Vec::new();
        for _ in 0..100 {
            drafts.extend(coalescer.push(Update::AgentText("x".repeat(1_000))));
        }
        drafts.extend(coalescer.finish());
        assert_eq!(
            drafts.iter().map(|d| d.content.len()).sum::<usize>(),
            100_000
        );
        assert!(
            drafts
                .iter()
                .all(|d| d.content.len() <= MESSAGE_CONTENT_MAX_BYTES)
        );
        assert_eq!(drafts.len(), 4);
    }

    #[test]
    fn oversized_tool_output_is_truncated_and_marked() {
        let mut coalescer = Coalescer::default();
        let drafts = coalescer.push(Update::ToolCallUpdate {
            info: tool("c2"),
            content: "y".repeat(100_000),
        });
        assert_eq!(drafts.len(), 1);
        assert!(drafts[0].content.ends_with("[truncated 100000 bytes]"));
        assert!(drafts[0].content.len() <= MESSAGE_CONTENT_MAX_BYTES);
    }
}
