//! Parsing an ingest batch: every limit of the wire protocol is checked here, before the
//! store is touched. What makes the batch unreadable (its size, its shape, a message id or a
//! sequence out of order) refuses it whole; a message that breaks a rule of its own (its
//! role, its size, its tool info, its time) is answered alone, and a placeholder takes its
//! seq, so one bad message never takes its neighbours with it and viewers see no gap.
//! Fields whose values have their own rules are read as text first and checked one by one,
//! so each failure has its own code without guessing from a parser's message.

use hangar_protocol::limits::{
    MESSAGE_CONTENT_MAX_BYTES, MSG_BATCH_MAX_BYTES, MSG_BATCH_MAX_SIZE, TOOL_INFO_MAX_BYTES,
};
use hangar_protocol::time::now_ms;
use hangar_protocol::{
    ChatMessage, ErrorCode, MessageId, MessageRole, ProjectId, SessionId, ToolCallInfo,
};
use serde::Deserialize;

use super::permissions::check_permission;
use crate::domain::error::{Error, Result};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBatch {
    session_id: String,
    #[serde(default)]
    project_id: Option<String>,
    messages: Vec<RawMessage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessage {
    message_id: String,
    seq: u64,
    role: String,
    content: String,
    #[serde(default)]
    tool: Option<ToolCallInfo>,
    /// Read as JSON first: a bad one refuses only its message.
    #[serde(default)]
    permission: Option<serde_json::Value>,
    created_at: u64,
}

/// A message of the batch that could not be stored as sent: its seq, why (a code and a
/// sentence); a placeholder takes its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub seq: u64,
    pub code: ErrorCode,
    pub reason: String,
}

/// A checked batch: what to store (placeholders included), and what was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedBatch {
    pub session_id: SessionId,
    /// The project the agent says the workspace is of (checked against the workspace).
    pub project_id: Option<ProjectId>,
    pub messages: Vec<ChatMessage>,
    pub rejected: Vec<Rejected>,
}

/// Parses and checks a batch body.
pub fn parse_batch(body: &[u8]) -> Result<ParsedBatch> {
    if body.len() > MSG_BATCH_MAX_BYTES {
        return Err(Error::too_large(
            ErrorCode::BatchTooLarge,
            format!(
                "the batch is {} bytes; at most {MSG_BATCH_MAX_BYTES} are accepted",
                body.len()
            ),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let raw: RawBatch = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        Error::invalid(
            ErrorCode::InvalidBody,
            format!("{}: {}", err.path(), err.inner()),
        )
    })?;
    let session_id = SessionId::parse(raw.session_id)
        .map_err(|err| Error::invalid(ErrorCode::InvalidSessionId, format!("sessionId: {err}")))?;
    let project_id = raw
        .project_id
        .map(ProjectId::parse)
        .transpose()
        .map_err(|err| Error::invalid(ErrorCode::InvalidBody, format!("projectId: {err}")))?;
    if raw.messages.is_empty() {
        return Err(Error::invalid(
            ErrorCode::EmptyBatch,
            "messages must not be empty",
        ));
    }
    if raw.messages.len() > MSG_BATCH_MAX_SIZE {
        return Err(Error::too_large(
            ErrorCode::TooManyMessages,
            format!(
                "the batch has {} messages; at most {MSG_BATCH_MAX_SIZE} are accepted",
                raw.messages.len()
            ),
        ));
    }
    let mut messages = Vec::with_capacity(raw.messages.len());
    let mut rejected = Vec::new();
    let mut previous_seq = 0;
    for (index, message) in raw.messages.into_iter().enumerate() {
        let at = format!("messages[{index}]");
        let (message_id, seq) = check_place(&at, &message, previous_seq)?;
        previous_seq = seq;
        let created_at = message.created_at;
        match check_message(&at, message, message_id.clone()) {
            Ok(message) => messages.push(message),
            Err(err) => {
                let code = err.code();
                let reason = err.to_string();
                messages.push(ChatMessage {
                    message_id,
                    seq,
                    role: MessageRole::System,
                    content: format!(
                        "A message of the agent could not be stored ({code}): {reason}",
                        code = code.as_str()
                    ),
                    tool: None,
                    permission: None,
                    created_at: if created_at == 0 {
                        now_ms()
                    } else {
                        created_at
                    },
                });
                rejected.push(Rejected { seq, code, reason });
            }
        }
    }
    Ok(ParsedBatch {
        session_id,
        project_id,
        messages,
        rejected,
    })
}

/// The message's id and seq, which place it: without them the batch cannot be read.
fn check_place(at: &str, raw: &RawMessage, previous_seq: u64) -> Result<(MessageId, u64)> {
    let message_id = MessageId::parse(raw.message_id.clone()).map_err(|err| {
        Error::invalid(
            ErrorCode::InvalidMessageId,
            format!("{at}.messageId: {err}"),
        )
    })?;
    if raw.seq == 0 {
        return Err(Error::invalid(
            ErrorCode::InvalidSeq,
            format!("{at}.seq must be at least 1"),
        ));
    }
    if raw.seq <= previous_seq {
        return Err(Error::invalid(
            ErrorCode::SeqNotAscending,
            format!(
                "{at}.seq is {} after {previous_seq}; sequences in a batch must strictly ascend",
                raw.seq
            ),
        ));
    }
    Ok((message_id, raw.seq))
}

/// The message's own rules: refusing it refuses only it.
fn check_message(at: &str, raw: RawMessage, message_id: MessageId) -> Result<ChatMessage> {
    let role: MessageRole = raw
        .role
        .parse()
        .map_err(|err| Error::invalid(ErrorCode::InvalidRole, format!("{at}.role: {err}")))?;
    if raw.created_at == 0 {
        return Err(Error::invalid(
            ErrorCode::InvalidCreatedAt,
            format!("{at}.createdAt must be Unix epoch milliseconds"),
        ));
    }
    if raw.content.len() > MESSAGE_CONTENT_MAX_BYTES {
        return Err(Error::too_large(
            ErrorCode::MessageTooLarge,
            format!(
                "{at}.content is {} bytes; at most {MESSAGE_CONTENT_MAX_BYTES} are accepted",
                raw.content.len()
            ),
        ));
    }
    if let Some(tool) = &raw.tool {
        let size = serde_json::to_vec(tool).map_or(usize::MAX, |json| json.len());
        if size > TOOL_INFO_MAX_BYTES {
            return Err(Error::too_large(
                ErrorCode::ToolInfoTooLarge,
                format!("{at}.tool is {size} bytes; at most {TOOL_INFO_MAX_BYTES} are accepted"),
            ));
        }
        if tool.tool_call_id.is_empty() {
            return Err(Error::invalid(
                ErrorCode::InvalidToolInfo,
                format!("{at}.tool.toolCallId must not be empty"),
            ));
        }
    }
    let permission = raw
        .permission
        .map(|value| check_permission(at, value))
        .transpose()?;
    Ok(ChatMessage {
        message_id,
        seq: raw.seq,
        role,
        content: raw.content,
        tool: raw.tool,
        permission,
        created_at: raw.created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn message(seq: u64, content: &str) -> Value {
        json!({"messageId": format!("m-{seq:04}"), "seq": seq, "role": "assistant",
               "content": content, "createdAt": 1_700_000_000_000u64 + seq})
    }

    fn batch(messages: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({"sessionId": "s1", "messages": messages})).unwrap()
    }

    /// `message(2, content)` with `field` set to `value` (`Null`: removed).
    fn second(content: &str, field: &str, value: Value) -> Value {
        let mut message = message(2, content);
        let object = message.as_object_mut().unwrap();
        match value {
            Value::Null => drop(object.remove(field)),
            value => drop(object.insert(field.into(), value)),
        }
        message
    }

    /// Why the batch, or its one bad message, was refused, and whether for its size.
    fn code_of(body: &[u8]) -> (ErrorCode, bool) {
        let size = |code| {
            matches!(
                code,
                ErrorCode::MessageTooLarge | ErrorCode::ToolInfoTooLarge
            )
        };
        match parse_batch(body) {
            Err(err) => (err.code(), matches!(err, Error::TooLarge { .. })),
            Ok(parsed) => {
                let rejected = parsed.rejected.first().expect("a rejected message");
                (rejected.code, size(rejected.code))
            }
        }
    }

    #[test]
    fn a_valid_batch_parses_to_wire_messages() {
        let parsed = parse_batch(&batch(vec![message(1, "a"), message(2, "b")])).expect("valid");
        assert_eq!(parsed.session_id.as_str(), "s1");
        let seqs: Vec<u64> = parsed.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
    }

    #[test]
    fn each_malformed_batch_gets_its_own_code() {
        let ok = || message(1, "ok");
        let cases: Vec<(Vec<u8>, ErrorCode, bool)> = vec![
            (b"{not json".to_vec(), ErrorCode::InvalidBody, false),
            (b"[]".to_vec(), ErrorCode::InvalidBody, false),
            (batch(vec![]), ErrorCode::EmptyBatch, false),
            (
                batch(vec![ok(), second("x", "role", json!("robot"))]),
                ErrorCode::InvalidRole,
                false,
            ),
            (
                batch(vec![ok(), second("x", "messageId", json!("has#hash"))]),
                ErrorCode::InvalidMessageId,
                false,
            ),
            (
                batch(vec![ok(), second("x", "content", Value::Null)]),
                ErrorCode::InvalidBody,
                false,
            ),
            (
                batch(vec![message(0, "zero")]),
                ErrorCode::InvalidSeq,
                false,
            ),
            (
                batch(vec![message(2, "b"), message(1, "a")]),
                ErrorCode::SeqNotAscending,
                false,
            ),
            (
                batch(vec![message(1, "a"), message(1, "a")]),
                ErrorCode::SeqNotAscending,
                false,
            ),
            (
                batch(vec![ok(), second("", "tool", json!({"toolCallId": ""}))]),
                ErrorCode::InvalidToolInfo,
                false,
            ),
            (
                batch(vec![
                    ok(),
                    second(
                        "",
                        "tool",
                        json!({"toolCallId": "c1", "title": "t".repeat(9000)}),
                    ),
                ]),
                ErrorCode::ToolInfoTooLarge,
                true,
            ),
            (
                batch(vec![ok(), second("x", "createdAt", json!(0))]),
                ErrorCode::InvalidCreatedAt,
                false,
            ),
            (
                serde_json::to_vec(&json!({"sessionId": "bad id", "messages": [message(1, "x")]}))
                    .unwrap(),
                ErrorCode::InvalidSessionId,
                false,
            ),
        ];
        for (index, (body, code, too_large)) in cases.into_iter().enumerate() {
            assert_eq!(code_of(&body), (code, too_large), "case {index}");
        }
    }

    #[test]
    fn a_bad_message_is_answered_alone_and_a_placeholder_takes_its_seq() {
        let parsed = parse_batch(&batch(vec![
            message(1, "before"),
            second("x", "role", json!("robot")),
            message(3, "after"),
        ]))
        .expect("the batch is read");
        let roles: Vec<(u64, MessageRole)> =
            parsed.messages.iter().map(|m| (m.seq, m.role)).collect();
        assert_eq!(
            roles,
            [
                (1, MessageRole::Assistant),
                (2, MessageRole::System),
                (3, MessageRole::Assistant)
            ]
        );
        assert_eq!(parsed.rejected.len(), 1);
        assert_eq!(
            (parsed.rejected[0].seq, parsed.rejected[0].code),
            (2, ErrorCode::InvalidRole)
        );
        assert!(
            parsed.messages[1].content.contains("invalid_role"),
            "{}",
            parsed.messages[1].content
        );
        assert_eq!(
            parsed.messages[1].message_id.as_str(),
            "m-0002",
            "a resend finds it again"
        );
    }

    #[test]
    fn limits_hold_at_their_edges() {
        let at_limit: Vec<Value> = (1..=MSG_BATCH_MAX_SIZE as u64)
            .map(|s| message(s, ""))
            .collect();
        assert!(parse_batch(&batch(at_limit.clone())).is_ok());
        let mut over = at_limit;
        over.push(message(MSG_BATCH_MAX_SIZE as u64 + 1, ""));
        assert_eq!(code_of(&batch(over)), (ErrorCode::TooManyMessages, true));

        let content = "€".repeat(MESSAGE_CONTENT_MAX_BYTES / 3);
        assert!(parse_batch(&batch(vec![message(1, &format!("{content}xy"))])).is_ok());
        assert_eq!(
            code_of(&batch(vec![message(1, &format!("{content}xyz"))])),
            (ErrorCode::MessageTooLarge, true)
        );

        let padded = |len: usize| {
            let empty = batch(vec![message(1, "")]).len();
            batch(vec![message(1, &"a".repeat(len - empty))])
        };
        assert_eq!(
            code_of(&padded(MSG_BATCH_MAX_BYTES)),
            (ErrorCode::MessageTooLarge, true)
        );
        assert_eq!(
            code_of(&padded(MSG_BATCH_MAX_BYTES + 1)),
            (ErrorCode::BatchTooLarge, true)
        );
    }
}
