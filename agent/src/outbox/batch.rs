//! Reading the next batch to deliver: the oldest rows of the oldest pending workspace, as
//! the exact ingest request body, within the batch limits.

use std::collections::HashSet;

use hangar_protocol::fit::{ArrayBudget, json_len};
use hangar_protocol::{ChatMessage, IngestBatch, ProjectId, SessionId, WorkspaceId};
use rusqlite::{OptionalExtension, params};

use super::{Delivery, Outbox, OutboxError};

/// Consecutive rows of one workspace, ready to send as one request body.
#[derive(Debug, Clone)]
pub struct PendingBatch {
    pub delivery: Delivery,
    pub row_ids: Vec<i64>,
    /// The seq of each row, in the order of `row_ids`.
    pub seqs: Vec<u64>,
    /// The exact request body: an encoded [`IngestBatch`].
    pub body: Vec<u8>,
}

fn corrupt(id: i64, reason: impl ToString) -> OutboxError {
    OutboxError::Corrupt {
        id,
        reason: reason.to_string(),
    }
}

impl Outbox {
    /// The oldest rows of the pending workspace whose oldest row is oldest, leaving out the
    /// workspaces in `busy` (they have a batch on the wire): up to `max_size` rows and a body
    /// of at most `max_bytes` (a single oversized row still goes alone, to be refused and set
    /// aside rather than block the outbox).
    pub async fn next_batch(
        &self,
        max_size: usize,
        max_bytes: usize,
        busy: &HashSet<WorkspaceId>,
    ) -> Result<Option<PendingBatch>, OutboxError> {
        let busy = busy.clone();
        self.with_conn(move |conn, _| {
            // The oldest row of a workspace without a batch on the wire names the next
            // batch. Rows are read in id order and the scan stops there, so only the rows of
            // busy workspaces before it are passed over.
            let mut oldest = conn.prepare_cached(
                "SELECT workspace_id, session_id FROM outbox ORDER BY id",
            )?;
            let mut rows = oldest.query([])?;
            let mut head = None;
            while let Some(row) = rows.next()? {
                let workspace: String = row.get(0)?;
                if !busy.iter().any(|b| b.as_str() == workspace) {
                    head = Some((workspace, row.get::<_, String>(1)?));
                    break;
                }
            }
            drop(rows);
            let Some((workspace, session)) = head else {
                return Ok(None);
            };
            let (project_id, api_url, callback_token) = conn
                .query_row(
                    "SELECT project_id, api_url, callback_token FROM workspaces WHERE workspace_id = ?1",
                    [&workspace],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()?
                .ok_or_else(|| OutboxError::UnknownWorkspace(workspace.clone()))?;
            let delivery = Delivery {
                workspace_id: WorkspaceId::parse(workspace.clone()).map_err(|e| corrupt(0, e))?,
                project_id,
                session_id: SessionId::parse(session.clone()).map_err(|e| corrupt(0, e))?,
                api_url,
                callback_token,
            };

            // Id order is each session's seq order (the endpoint wants ascending seqs in a
            // batch): the writer inserts a session's rows in seq order, and rows requeued
            // after a retry budget ran out go back in below every pending row.
            let mut statement = conn.prepare_cached(
                "SELECT id, payload FROM outbox
                 WHERE workspace_id = ?1 AND session_id = ?2 ORDER BY id LIMIT ?3",
            )?;
            let rows = statement
                .query_map(params![workspace, session, max_size as i64], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;

            let mut batch = IngestBatch {
                session_id: delivery.session_id.clone(),
                project_id: ProjectId::parse(delivery.project_id.as_str()).ok(),
                messages: Vec::new(),
            };
            let mut budget = ArrayBudget::new(json_len(&batch), max_bytes, max_size);
            let mut row_ids = Vec::new();
            let mut seqs = Vec::new();
            for (id, payload) in rows {
                // `payload` is the message exactly as encoded at enqueue time.
                if !budget.is_empty() && !budget.fits(payload.len()) {
                    break;
                }
                budget.add(payload.len());
                let message =
                    serde_json::from_str::<ChatMessage>(&payload).map_err(|e| corrupt(id, e))?;
                seqs.push(message.seq);
                batch.messages.push(message);
                row_ids.push(id);
            }
            let body = serde_json::to_vec(&batch).map_err(|e| corrupt(0, e))?;
            Ok(Some(PendingBatch {
                delivery,
                row_ids,
                seqs,
                body,
            }))
        })
        .await
    }
}
