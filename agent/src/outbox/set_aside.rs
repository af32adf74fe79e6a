//! Rows that left the outbox without delivery: refused for good (`rejected`) or out of
//! retry budget (`retry_exhausted`, requeued at the next start).

use hangar_protocol::time::now_ms;
use rusqlite::params;

use super::{Outbox, OutboxError};

/// A row set aside for good or for a later retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAsideRow {
    pub seq: u64,
    pub message_id: String,
    pub reason: String,
    pub http_status: Option<u16>,
    pub detail: String,
}

/// Why rows leave the outbox undelivered.
pub(super) struct SetAside {
    reason: &'static str,
    http_status: Option<u16>,
    detail: String,
}

impl SetAside {
    /// Copies outbox row `id` into `set_aside` with this reason.
    pub(super) fn copy(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: i64,
    ) -> Result<(), rusqlite::Error> {
        let mut copy = tx.prepare_cached(
            "INSERT INTO set_aside (workspace_id, session_id, seq, message_id, payload, enqueued_at,
                                    reason, http_status, detail, set_aside_at)
             SELECT workspace_id, session_id, seq, message_id, payload, enqueued_at, ?2, ?3, ?4, ?5
             FROM outbox WHERE id = ?1",
        )?;
        copy.execute(params![
            id,
            self.reason,
            self.http_status,
            self.detail,
            now_ms()
        ])?;
        Ok(())
    }
}

impl Outbox {
    /// Moves rows out of the outbox into `set_aside`, with why.
    pub async fn set_aside(
        &self,
        row_ids: Vec<i64>,
        reason: &'static str,
        http_status: Option<u16>,
        detail: String,
    ) -> Result<(), OutboxError> {
        let kept = SetAside {
            reason,
            http_status,
            detail,
        };
        self.remove_rows(row_ids, Some(kept)).await
    }

    /// Puts rows whose retry budget ran out back into the outbox (at agent start: the outage
    /// that exhausted them may be over). Rows refused for good stay set aside.
    pub async fn requeue_exhausted(&self) -> Result<usize, OutboxError> {
        let moved = self
            .with_conn(|conn, _| {
                let tx = conn.transaction()?;
                // The reporter reads each session's rows in id order: these are older than
                // anything pending, so they take the ids just below the lowest pending one,
                // in seq order.
                let lowest: i64 =
                    tx.query_row("SELECT COALESCE(MIN(id), 1) FROM outbox", [], |row| {
                        row.get(0)
                    })?;
                let moved = tx.execute(
                    "INSERT INTO outbox (id, workspace_id, session_id, seq, message_id, payload, enqueued_at)
                     SELECT ?1 - COUNT(*) OVER () - 1 + ROW_NUMBER() OVER (ORDER BY session_id, seq),
                            workspace_id, session_id, seq, message_id, payload, enqueued_at
                     FROM set_aside WHERE reason = 'retry_exhausted'",
                    [lowest],
                )?;
                tx.execute("DELETE FROM set_aside WHERE reason = 'retry_exhausted'", [])?;
                tx.commit()?;
                Ok(moved)
            })
            .await?;
        if moved > 0 {
            self.inner.rows_added.notify_one();
        }
        Ok(moved)
    }

    pub async fn set_aside_rows(&self) -> Result<Vec<SetAsideRow>, OutboxError> {
        self.with_conn(|conn, _| {
            let mut statement = conn.prepare(
                "SELECT seq, message_id, reason, http_status, detail FROM set_aside ORDER BY id",
            )?;
            let rows = statement
                .query_map([], |row| {
                    Ok(SetAsideRow {
                        seq: row.get(0)?,
                        message_id: row.get(1)?,
                        reason: row.get(2)?,
                        http_status: row.get(3)?,
                        detail: row.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }
}
