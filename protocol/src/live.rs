//! Frames of the live WebSocket: what the control plane pushes to the browsers on a project
//! page. The local hub and API Gateway carry the same JSON text frames.

use serde::{Deserialize, Serialize};

use crate::tasks::TaskView;
use crate::{ChatMessage, MessageDraft, ProjectId, SessionId};

/// One frame pushed to a project's connections.
///
/// A viewer never loses a message to the socket: every frame carries its session's `cursor`,
/// the highest sequence the store holds as of this frame. A viewer that has seen
/// less than `cursor` after applying the frame (a frame missed while reconnecting, a message
/// too large for a frame) pages the gap over HTTP from its last seen sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LiveEvent {
    /// Messages stored for a session (new ones and re-sent ones alike), ascending by `seq`.
    #[serde(rename_all = "camelCase")]
    Messages {
        project_id: ProjectId,
        session_id: SessionId,
        cursor: u64,
        messages: Vec<ChatMessage>,
    },
    /// The text so far of a message the agent is writing (never stored).
    #[serde(rename_all = "camelCase")]
    Draft {
        project_id: ProjectId,
        session_id: SessionId,
        draft: MessageDraft,
    },
    /// A task changed (created, moved to another status); carries the whole task, so the
    /// last frame seen wins (compare `updatedAt`), and the cursor of the task's session, so a
    /// messages frame lost on the way (the last one of a run, say) is still noticed.
    #[serde(rename_all = "camelCase")]
    Task {
        project_id: ProjectId,
        task: Box<TaskView>,
        cursor: u64,
    },
}

impl LiveEvent {
    pub fn project_id(&self) -> &ProjectId {
        match self {
            LiveEvent::Messages { project_id, .. }
            | LiveEvent::Draft { project_id, .. }
            | LiveEvent::Task { project_id, .. } => project_id,
        }
    }
}

/// Query string of the WebSocket `$connect`: browsers cannot set headers on a WebSocket.
pub const CONNECT_TOKEN_PARAM: &str = "token";
pub const CONNECT_PROJECT_PARAM: &str = "projectId";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MessageId, MessageRole};

    #[test]
    fn frames_are_tagged_camel_case_json() {
        let event = LiveEvent::Messages {
            project_id: ProjectId::parse("p1").unwrap(),
            session_id: SessionId::parse("s1").unwrap(),
            cursor: 7,
            messages: vec![ChatMessage {
                message_id: MessageId::parse("m7").unwrap(),
                seq: 7,
                role: MessageRole::Assistant,
                content: "hi".into(),
                tool: None,
                permission: None,
                created_at: 1,
            }],
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "messages");
        assert_eq!(json["sessionId"], "s1");
        assert_eq!(json["cursor"], 7);
        assert_eq!(json["messages"][0]["seq"], 7);
        let back: LiveEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}
