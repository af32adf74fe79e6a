//! What the ACP agent says, as the transcript records it: session updates become messages,
//! one per chunk run, tool call or plan.

use agent_client_protocol::v1::schema::{ContentBlock, SessionUpdate, ToolCallContent};
use hangar_protocol::ToolCallInfo;

use crate::transcript::Update;

/// A serde enum's wire name (`"in_progress"`, `"edit"`, ...).
pub(super) fn wire_name(value: &impl serde::Serialize) -> Option<String> {
    match serde_json::to_value(value).ok()? {
        serde_json::Value::String(name) => Some(name),
        _ => None,
    }
}

fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::ResourceLink(link) => format!("[{}]({})", link.name, link.uri),
        other => {
            let kind = serde_json::to_value(other)
                .ok()
                .and_then(|value| value.get("type").and_then(|t| t.as_str()).map(String::from))
                .unwrap_or_else(|| "content".into());
            format!("[{kind}]")
        }
    }
}

fn tool_content_text(content: &[ToolCallContent]) -> String {
    content
        .iter()
        .map(|item| match item {
            ToolCallContent::Content(content) => block_text(&content.content),
            ToolCallContent::Diff(diff) => {
                format!("--- {}\n{}", diff.path.display(), diff.new_text)
            }
            ToolCallContent::Terminal(terminal) => format!("[terminal {}]", terminal.terminal_id),
            _ => "[tool content]".into(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reduces an ACP session update to what the transcript keeps.
pub fn to_update(update: SessionUpdate) -> Update {
    match update {
        SessionUpdate::AgentMessageChunk(chunk) => Update::AgentText(block_text(&chunk.content)),
        SessionUpdate::AgentThoughtChunk(chunk) => Update::Thought(block_text(&chunk.content)),
        SessionUpdate::ToolCall(call) => Update::ToolCall {
            content: tool_content_text(&call.content),
            info: ToolCallInfo {
                tool_call_id: call.tool_call_id.to_string(),
                title: Some(call.title),
                kind: wire_name(&call.kind),
                status: wire_name(&call.status),
            },
        },
        SessionUpdate::ToolCallUpdate(update) => Update::ToolCallUpdate {
            content: update
                .fields
                .content
                .as_deref()
                .map(tool_content_text)
                .unwrap_or_default(),
            info: ToolCallInfo {
                tool_call_id: update.tool_call_id.to_string(),
                title: update.fields.title,
                kind: update.fields.kind.as_ref().and_then(wire_name),
                status: update.fields.status.as_ref().and_then(wire_name),
            },
        },
        SessionUpdate::Plan(plan) => Update::Plan(
            plan.entries
                .iter()
                .map(|entry| {
                    (
                        wire_name(&entry.status).unwrap_or_default(),
                        entry.content.clone(),
                    )
                })
                .collect(),
        ),
        // The prompt is recorded when it is sent; echoes and the rest are not transcript.
        _ => Update::Ignored,
    }
}
