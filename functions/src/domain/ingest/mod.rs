//! Message ingest: a node agent's batch of chat messages, checked (a message breaking a rule
//! of its own is answered alone, a placeholder taking its seq), then written one conditional
//! put per message so a re-sent message is counted as a duplicate.

mod batch;
mod permissions;

use futures::{StreamExt, TryStreamExt};
use hangar_protocol::{
    ChatMessage, ErrorCode, IngestResponse, MessageRole, RejectedMessage, SessionId, WorkspaceId,
};

pub use batch::{ParsedBatch, parse_batch};

use super::access::{open_workspace, workspace_taking_callbacks};
use super::error::{Error, Result};
use super::live::Live;
use super::permissions::note_permissions;
use super::ports::{InsertOutcome, MessageStore, Store, StoreError};
use super::records::Workspace;

/// Conditional puts in flight at once for one batch: enough to hide per-write latency,
/// few enough not to burst a table's partition for one session.
const WRITE_CONCURRENCY: usize = 25;

async fn insert(
    store: &dyn MessageStore,
    session: &SessionId,
    message: &ChatMessage,
) -> Result<(u64, InsertOutcome), StoreError> {
    let outcome = store.insert_message(session, message).await?;
    Ok((message.seq, outcome))
}

/// The workspace, if it takes callbacks and `batch.session_id` is its chat session. When
/// the agent names the project, the workspace and the session are read in one round trip.
async fn open_session(
    store: &dyn Store,
    workspace_id: &WorkspaceId,
    batch: &ParsedBatch,
    grace_ms: u64,
) -> Result<Workspace> {
    let (workspace, session) = match &batch.project_id {
        Some(project) => {
            let (workspace, session) = store
                .get_workspace_and_session(workspace_id, project, &batch.session_id)
                .await?;
            let workspace = workspace_taking_callbacks(workspace_id, workspace, grace_ms)?;
            // A session read under another project than the workspace's is none of its.
            let session = session.filter(|_| workspace.project_id == *project);
            (workspace, session)
        }
        None => {
            let workspace = open_workspace(store, workspace_id, grace_ms).await?;
            let session = store
                .get_session(&workspace.project_id, &batch.session_id)
                .await?;
            (workspace, session)
        }
    };
    if workspace.session_id != batch.session_id || session.is_none() {
        return Err(Error::not_found(
            ErrorCode::SessionNotFound,
            format!(
                "session {} is not the chat session of workspace {workspace_id}",
                batch.session_id
            ),
        ));
    }
    Ok(workspace)
}

/// Ingests one batch sent by the agent of `workspace`, then pushes what it stored to the
/// project's viewers (re-sent messages too: a viewer may have missed the first push).
pub async fn ingest(
    store: &dyn Store,
    live: &Live,
    workspace_id: &WorkspaceId,
    body: &[u8],
    grace_ms: u64,
) -> Result<IngestResponse> {
    let batch = parse_batch(body)?;
    let workspace = open_session(store, workspace_id, &batch, grace_ms).await?;

    let writes: Vec<_> = batch
        .messages
        .iter()
        .map(|message| insert(store, &batch.session_id, message))
        .collect();
    let outcomes: Vec<(u64, InsertOutcome)> = futures::stream::iter(writes)
        .buffer_unordered(WRITE_CONCURRENCY)
        .try_collect()
        .await?;

    let placeholder = |seq: u64| batch.rejected.iter().any(|r| r.seq == seq);
    let mut response = IngestResponse {
        rejected: batch
            .rejected
            .iter()
            .map(|r| RejectedMessage {
                seq: r.seq,
                code: r.code.as_str().to_string(),
                message: r.reason.clone(),
            })
            .collect(),
        ..IngestResponse::default()
    };
    let mut inserted = 0u32;
    let mut conflicts = Vec::new();
    for (seq, outcome) in outcomes {
        match outcome {
            InsertOutcome::Inserted => {
                inserted += 1;
                if !placeholder(seq) {
                    response.persisted += 1;
                }
            }
            InsertOutcome::Duplicate if placeholder(seq) => {}
            InsertOutcome::Duplicate => response.duplicates += 1,
            InsertOutcome::SequenceTaken { existing } => conflicts.push((seq, existing)),
        }
    }
    if inserted > 0 {
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
                u64::from(inserted),
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
    let asked_by = (&workspace.project_id, workspace_id);
    note_permissions(store, live, asked_by, &batch.session_id, &stored).await?;
    for message in stored.iter().filter(|m| m.role == MessageRole::User) {
        store
            .follow_up_stored(&batch.session_id, &message.message_id)
            .await?;
    }
    live.messages_stored(&workspace.project_id, &batch.session_id, &stored)
        .await;
    if let Some((seq, existing)) = conflicts.first() {
        return Err(Error::conflict(
            ErrorCode::SequenceConflict,
            format!(
                "{} message(s) reuse a sequence held by another message (first: seq {seq} is message {existing}); {} new, {} duplicate were stored",
                conflicts.len(),
                response.persisted,
                response.duplicates
            ),
        ));
    }
    tracing::info!(
        workspace = %workspace_id,
        session = %batch.session_id,
        persisted = response.persisted,
        duplicates = response.duplicates,
        rejected = response.rejected.len(),
        "batch ingested"
    );
    Ok(response)
}
