//! Message ingest: a node agent's batch of chat messages, validated as a whole, then written
//! one conditional put per message so a re-sent message is counted as a duplicate.

use futures::{StreamExt, TryStreamExt};
use hangar_protocol::limits::{
    MESSAGE_CONTENT_MAX_BYTES, MSG_BATCH_MAX_BYTES, MSG_BATCH_MAX_SIZE, TOOL_INFO_MAX_BYTES,
};
use hangar_protocol::{ChatMessage, IngestBatch, IngestResponse, SessionId, WorkspaceId};

use crate::error::ApiError;
use crate::live::Live;
use crate::ports::{InsertOutcome, Store, StoreError};

/// Conditional puts in flight at once for one batch: enough to hide per-write latency,
/// few enough not to burst a table's partition for one session.
const WRITE_CONCURRENCY: usize = 10;

/// Parses and checks a batch without touching the store. Every limit of the wire protocol is
/// enforced here, so nothing of an invalid batch is written.
pub fn parse_batch(body: &[u8]) -> Result<IngestBatch, ApiError> {
    if body.len() > MSG_BATCH_MAX_BYTES {
        return Err(ApiError::too_large(
            "batch_too_large",
            format!(
                "the batch is {} bytes; at most {MSG_BATCH_MAX_BYTES} are accepted",
                body.len()
            ),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let batch: IngestBatch =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let path = err.path().to_string();
            let code = if path.ends_with(".role") {
                "invalid_role"
            } else if path.ends_with(".messageId") {
                "invalid_message_id"
            } else if path == "sessionId" {
                "invalid_session_id"
            } else {
                "invalid_body"
            };
            ApiError::bad_request(code, format!("{path}: {}", err.inner()))
        })?;

    if batch.messages.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "messages must not be empty",
        ));
    }
    if batch.messages.len() > MSG_BATCH_MAX_SIZE {
        return Err(ApiError::too_large(
            "too_many_messages",
            format!(
                "the batch has {} messages; at most {MSG_BATCH_MAX_SIZE} are accepted",
                batch.messages.len()
            ),
        ));
    }
    let mut previous_seq = 0;
    for (index, message) in batch.messages.iter().enumerate() {
        let at = format!("messages[{index}]");
        if message.seq == 0 {
            return Err(ApiError::bad_request(
                "invalid_seq",
                format!("{at}.seq must be at least 1"),
            ));
        }
        if message.seq <= previous_seq {
            return Err(ApiError::bad_request(
                "seq_not_ascending",
                format!(
                    "{at}.seq is {} after {previous_seq}; sequences in a batch must strictly ascend",
                    message.seq
                ),
            ));
        }
        previous_seq = message.seq;
        if message.created_at == 0 {
            return Err(ApiError::bad_request(
                "invalid_created_at",
                format!("{at}.createdAt must be Unix epoch milliseconds"),
            ));
        }
        if message.content.len() > MESSAGE_CONTENT_MAX_BYTES {
            return Err(ApiError::too_large(
                "message_too_large",
                format!(
                    "{at}.content is {} bytes; at most {MESSAGE_CONTENT_MAX_BYTES} are accepted",
                    message.content.len()
                ),
            ));
        }
        if let Some(tool) = &message.tool {
            let size = serde_json::to_vec(tool)
                .map(|json| json.len())
                .unwrap_or(usize::MAX);
            if size > TOOL_INFO_MAX_BYTES {
                return Err(ApiError::too_large(
                    "tool_info_too_large",
                    format!(
                        "{at}.tool is {size} bytes; at most {TOOL_INFO_MAX_BYTES} are accepted"
                    ),
                ));
            }
            if tool.tool_call_id.is_empty() {
                return Err(ApiError::bad_request(
                    "invalid_tool_info",
                    format!("{at}.tool.toolCallId must not be empty"),
                ));
            }
        }
    }
    Ok(batch)
}

async fn insert(
    store: &dyn Store,
    session: &SessionId,
    message: &ChatMessage,
) -> Result<(u64, InsertOutcome), StoreError> {
    let outcome = store.insert_message(session, message).await?;
    Ok((message.seq, outcome))
}

/// Ingests one batch sent by the agent of `workspace`, then pushes what it stored to the
/// project's viewers (re-sent messages too: a viewer may have missed the first push).
pub async fn ingest(
    store: &dyn Store,
    live: &Live,
    workspace_id: &WorkspaceId,
    body: &[u8],
) -> Result<IngestResponse, ApiError> {
    let batch = parse_batch(body)?;

    let workspace = store.get_workspace(workspace_id).await?.ok_or_else(|| {
        ApiError::not_found(
            "workspace_not_found",
            format!("workspace {workspace_id} does not exist"),
        )
    })?;
    let unknown_session = || {
        ApiError::not_found(
            "session_not_found",
            format!(
                "session {} is not the chat session of workspace {workspace_id}",
                batch.session_id
            ),
        )
    };
    if workspace.session_id != batch.session_id {
        return Err(unknown_session());
    }
    store
        .get_session(&workspace.project_id, &batch.session_id)
        .await?
        .ok_or_else(unknown_session)?;

    let writes: Vec<_> = batch
        .messages
        .iter()
        .map(|message| insert(store, &batch.session_id, message))
        .collect();
    let outcomes: Vec<(u64, InsertOutcome)> = futures::stream::iter(writes)
        .buffer_unordered(WRITE_CONCURRENCY)
        .try_collect()
        .await?;

    let mut response = IngestResponse {
        persisted: 0,
        duplicates: 0,
    };
    let mut conflicts = Vec::new();
    for (seq, outcome) in outcomes {
        match outcome {
            InsertOutcome::Inserted => response.persisted += 1,
            InsertOutcome::Duplicate => response.duplicates += 1,
            InsertOutcome::SequenceTaken { existing } => conflicts.push((seq, existing)),
        }
    }
    if response.persisted > 0 {
        let last_message_at = batch
            .messages
            .iter()
            .map(|message| message.created_at)
            .max()
            .unwrap_or_default();
        store
            .record_session_messages(
                &workspace.project_id,
                &batch.session_id,
                u64::from(response.persisted),
                last_message_at,
            )
            .await?;
    }
    conflicts.sort();
    let stored: Vec<ChatMessage> = batch
        .messages
        .iter()
        .filter(|message| !conflicts.iter().any(|(seq, _)| *seq == message.seq))
        .cloned()
        .collect();
    live.messages_stored(&workspace.project_id, &batch.session_id, &stored)
        .await;
    if let Some((seq, existing)) = conflicts.first() {
        return Err(ApiError::Conflict {
            code: "sequence_conflict",
            message: format!(
                "{} message(s) reuse a sequence held by another message (first: seq {seq} is message {existing}); {} new, {} duplicate were stored",
                conflicts.len(),
                response.persisted,
                response.duplicates
            ),
        });
    }
    tracing::info!(
        workspace = %workspace_id,
        session = %batch.session_id,
        persisted = response.persisted,
        duplicates = response.duplicates,
        "batch ingested"
    );
    Ok(response)
}
