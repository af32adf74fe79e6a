//! Chat messages as they travel: agent -> ingest (`IngestBatch`), store -> viewers
//! (`MessagesPage`, WebSocket events).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{MessageId, ProjectId, SessionId};
use crate::permissions::PermissionInfo;

/// Who produced a message. ACP's session updates map onto these: user and agent message
/// chunks, agent thought chunks, tool calls and their updates, plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum MessageRole {
    User,
    Assistant,
    Thought,
    Tool,
    Plan,
    System,
}

impl MessageRole {
    pub const ALL: [MessageRole; 6] = [
        MessageRole::User,
        MessageRole::Assistant,
        MessageRole::Thought,
        MessageRole::Tool,
        MessageRole::Plan,
        MessageRole::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
            MessageRole::Thought => "thought",
            MessageRole::Tool => "tool",
            MessageRole::Plan => "plan",
            MessageRole::System => "system",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {given:?}; expected one of user, assistant, thought, tool, plan, system")]
pub struct UnknownRole {
    pub given: String,
}

impl FromStr for MessageRole {
    type Err = UnknownRole;
    fn from_str(value: &str) -> Result<Self, UnknownRole> {
        MessageRole::ALL
            .into_iter()
            .find(|role| role.as_str() == value)
            .ok_or_else(|| UnknownRole {
                given: value.to_string(),
            })
    }
}

impl TryFrom<String> for MessageRole {
    type Error = UnknownRole;
    fn try_from(value: String) -> Result<Self, UnknownRole> {
        value.parse()
    }
}

impl From<MessageRole> for &'static str {
    fn from(role: MessageRole) -> &'static str {
        role.as_str()
    }
}

impl fmt::Display for MessageRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Metadata of a tool call message, as ACP reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallInfo {
    pub tool_call_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// ACP tool kind: read, edit, delete, move, search, execute, think, fetch, other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// ACP tool call status: pending, in_progress, completed, failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One chat message. The agent assigns `messageId` (stable across retries) and `seq` (dense,
/// per session, from 1) when it enqueues the message, so a resend is recognisably the same
/// message and the store orders a session exactly as the agent saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub message_id: MessageId,
    pub seq: u64,
    pub role: MessageRole,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<ToolCallInfo>,
    /// A permission the agent asked for, or its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<PermissionInfo>,
    /// Unix epoch milliseconds at which the agent enqueued the message.
    pub created_at: u64,
}

/// Body of `POST /api/workspaces/{workspaceId}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestBatch {
    pub session_id: SessionId,
    /// The workspace's project, so the endpoint can read the workspace and the session in
    /// one round trip; checked against the workspace, never trusted alone. Optional: an
    /// agent that leaves it out costs the endpoint one more read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    pub messages: Vec<ChatMessage>,
}

/// Response of a successful ingest: how many messages were new, how many had already been
/// stored (same `messageId` at the same `seq`), and each message that was refused on its own
/// (a placeholder holds its seq).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResponse {
    pub persisted: u32,
    pub duplicates: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedMessage>,
}

/// A message of a batch refused on its own: its seq, a machine-readable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedMessage {
    pub seq: u64,
    pub code: String,
    pub message: String,
}

/// The text so far of a message the agent is still writing, pushed to viewers as it grows
/// (never stored): the stored message at `seq` replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDraft {
    pub seq: u64,
    pub role: MessageRole,
    pub content: String,
    /// Only the text's end is carried (it is longer than a draft may be).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// Body of `POST /api/workspaces/{workspaceId}/drafts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftRequest {
    pub session_id: SessionId,
    pub draft: MessageDraft,
}

/// Body of `POST /api/projects/{projectId}/sessions/{sessionId}/messages`: a member writes
/// to the session's agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostMessageRequest {
    pub content: String,
}

/// What became of a member's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FollowUpDelivery {
    /// Sent to the agent that runs the session: it takes it after its current turn.
    Sent,
    /// The task had ended: it runs again, continuing the session with this message.
    Reopened,
    /// The task is about to run: its agent gets the message when it starts.
    Waiting,
}

/// Answer of `POST .../sessions/{sessionId}/messages`: the stored copy will carry
/// `messageId` (until it arrives the page shows the message as sending).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostedMessage {
    pub message_id: MessageId,
    pub delivery: FollowUpDelivery,
}

/// A page of `GET /api/projects/{projectId}/sessions/{sessionId}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagesPage {
    pub messages: Vec<ChatMessage>,
    /// The cursor to pass as `after` for the next page: the last returned `seq`, or the
    /// request's own `after` when the page is empty, so a poller can keep using it.
    pub next_after: u64,
    /// Whether more messages were already stored when this page was read (after the page;
    /// `before` pages: the ones the caller holds).
    pub has_more: bool,
    /// `before` and newest pages: whether earlier messages exist than the page's first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_earlier: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_unknown_roles_are_named() {
        for role in MessageRole::ALL {
            let json = serde_json::to_string(&role).expect("serialize");
            let back: MessageRole = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, role);
        }
        let err = serde_json::from_str::<MessageRole>("\"robot\"")
            .expect_err("robot is not a role")
            .to_string();
        assert!(err.contains("unknown role \"robot\""), "{err}");
    }

    #[test]
    fn chat_message_uses_camel_case_on_the_wire() {
        let json = serde_json::json!({
            "messageId": "m1", "seq": 1, "role": "tool", "content": "",
            "tool": {"toolCallId": "c1", "status": "completed"}, "createdAt": 5
        });
        let message: ChatMessage = serde_json::from_value(json.clone()).expect("parse");
        assert_eq!(message.role, MessageRole::Tool);
        assert_eq!(serde_json::to_value(&message).expect("serialize"), json);
    }
}
