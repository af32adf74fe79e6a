//! The crash-safe outbox: every chat message is committed to SQLite (WAL, synchronous=FULL)
//! before anything else happens to it, and deleted only after the ingest endpoint answered
//! 2xx. A SIGKILL at any point therefore loses no committed row; a row whose delivery
//! succeeded but whose delete did not is simply re-sent, and the store counts it as a
//! duplicate because its `messageId` and `seq` were fixed at enqueue time.
//!
//! Bound: at most `max_rows` rows wait here. When full, [`Outbox::enqueue`] waits until the
//! reporter frees space (backpressure on the ACP agent); nothing is dropped.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use hangar_protocol::{ChatMessage, MessageId, MessageRole, SessionId, ToolCallInfo, WorkspaceId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::Notify;

const MIGRATIONS: &[&str] = &[include_str!("../../migrations/agent/0001_outbox.sql")];

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the outbox holds {0} messages, its limit")]
    Full(u64),
    #[error("outbox row {id} is unreadable: {reason}")]
    Corrupt { id: i64, reason: String },
    #[error("workspace {0} was never registered with the outbox")]
    UnknownWorkspace(String),
    #[error("outbox worker thread failed: {0}")]
    Worker(String),
}

/// Where one workspace's messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub workspace_id: WorkspaceId,
    pub project_id: String,
    pub session_id: SessionId,
    pub api_url: String,
    pub callback_token: String,
}

/// A message as the ACP host hands it over, before it has an id and a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub role: MessageRole,
    pub content: String,
    pub tool: Option<ToolCallInfo>,
}

/// Consecutive rows of one workspace, ready to send as one request body.
#[derive(Debug, Clone)]
pub struct PendingBatch {
    pub delivery: Delivery,
    pub row_ids: Vec<i64>,
    /// The exact request body: `{"sessionId":..,"messages":[..]}`.
    pub body: Vec<u8>,
    /// Whether the batch stopped at a size or byte limit (more rows of it were waiting).
    pub full: bool,
    /// Enqueue time (epoch ms) of its oldest row.
    pub oldest_enqueued_at: u64,
}

/// A row set aside for good or for a later retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAsideRow {
    pub seq: u64,
    pub message_id: String,
    pub reason: String,
    pub http_status: Option<u16>,
    pub detail: String,
}

struct Inner {
    conn: Mutex<Connection>,
    max_rows: u64,
    rows_added: Notify,
    space_freed: Notify,
}

/// Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Opens the file in WAL mode and migrates it. Switching to WAL can answer "busy" at once,
/// without the busy handler, while another process opens the same new file: then retry.
fn prepare(path: &Path) -> Result<Connection, rusqlite::Error> {
    let mut attempt = 0;
    loop {
        match try_prepare(path) {
            Err(rusqlite::Error::SqliteFailure(err, _))
                if err.code == rusqlite::ErrorCode::DatabaseBusy && attempt < 100 =>
            {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn try_prepare(path: &Path) -> Result<Connection, rusqlite::Error> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a committed enqueue survives power loss too, not only a killed process.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Applies the migrations not yet applied. The version is read inside a write transaction,
/// so two processes opening the same file at once apply each migration once.
fn migrate(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied: usize = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        let Some(sql) = MIGRATIONS.get(applied) else {
            return Ok(());
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", applied + 1)?;
        tx.commit()?;
    }
}

impl Outbox {
    pub fn open(path: &Path, max_rows: u64) -> Result<Self, OutboxError> {
        let conn = prepare(path)?;
        Ok(Outbox {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                max_rows,
                rows_added: Notify::new(),
                space_freed: Notify::new(),
            }),
        })
    }

    fn lock(inner: &Inner) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent (the transaction
        // rolls back), so the poisoned guard is still safe to use.
        inner
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` on the blocking pool with the connection.
    async fn with_conn<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, &Inner) -> Result<T, OutboxError> + Send + 'static,
    ) -> Result<T, OutboxError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = Self::lock(&inner);
            work(&mut conn, &inner)
        })
        .await
        .map_err(|err| OutboxError::Worker(err.to_string()))?
    }

    /// Notified whenever rows are added.
    pub fn rows_added(&self) -> &Notify {
        &self.inner.rows_added
    }

    pub async fn register(&self, delivery: Delivery) -> Result<(), OutboxError> {
        self.with_conn(move |conn, _| {
            conn.execute(
                "INSERT INTO workspaces (workspace_id, project_id, session_id, api_url, callback_token)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (workspace_id) DO UPDATE SET project_id = ?2, session_id = ?3,
                   api_url = ?4, callback_token = ?5",
                params![
                    delivery.workspace_id.as_str(),
                    delivery.project_id,
                    delivery.session_id.as_str(),
                    delivery.api_url,
                    delivery.callback_token
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Commits `draft` as the session's next message, waiting while the outbox is full.
    pub async fn enqueue(
        &self,
        workspace: &WorkspaceId,
        draft: Draft,
    ) -> Result<ChatMessage, OutboxError> {
        loop {
            let space = self.inner.space_freed.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            match self.try_enqueue(workspace, draft.clone()).await {
                Err(OutboxError::Full(rows)) => {
                    tracing::warn!(
                        rows,
                        "outbox full; holding the agent until messages are delivered"
                    );
                    space.await;
                }
                other => return other,
            }
        }
    }

    /// Commits `draft` unless the outbox is full.
    pub async fn try_enqueue(
        &self,
        workspace: &WorkspaceId,
        draft: Draft,
    ) -> Result<ChatMessage, OutboxError> {
        let workspace = workspace.clone();
        let message = self
            .with_conn(move |conn, inner| {
                let tx = conn.transaction()?;
                let rows: u64 = tx.query_row("SELECT COUNT(*) FROM outbox", [], |row| row.get(0))?;
                if rows >= inner.max_rows {
                    return Err(OutboxError::Full(rows));
                }
                let session: String = tx
                    .query_row(
                        "SELECT session_id FROM workspaces WHERE workspace_id = ?1",
                        [workspace.as_str()],
                        |row| row.get(0),
                    )
                    .optional()?
                    .ok_or_else(|| OutboxError::UnknownWorkspace(workspace.to_string()))?;
                let seq: u64 = tx.query_row(
                    "INSERT INTO session_seq (session_id, next_seq) VALUES (?1, 2)
                     ON CONFLICT (session_id) DO UPDATE SET next_seq = next_seq + 1
                     RETURNING next_seq - 1",
                    [&session],
                    |row| row.get(0),
                )?;
                let message_id = MessageId::parse(ulid::Ulid::new().to_string())
                    .map_err(|err| OutboxError::Corrupt { id: 0, reason: err.to_string() })?;
                let message = ChatMessage {
                    message_id,
                    seq,
                    role: draft.role,
                    content: draft.content,
                    tool: draft.tool,
                    created_at: now_ms(),
                };
                let payload = serde_json::to_string(&message)
                    .map_err(|err| OutboxError::Corrupt { id: 0, reason: err.to_string() })?;
                tx.execute(
                    "INSERT INTO outbox (workspace_id, session_id, seq, message_id, payload, enqueued_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![workspace.as_str(), session, seq, message.message_id.as_str(), payload, message.created_at],
                )?;
                tx.commit()?;
                Ok(message)
            })
            .await?;
        self.inner.rows_added.notify_one();
        Ok(message)
    }

    pub async fn pending(&self) -> Result<u64, OutboxError> {
        self.with_conn(|conn, _| {
            Ok(conn.query_row("SELECT COUNT(*) FROM outbox", [], |row| row.get(0))?)
        })
        .await
    }

    /// Rows of one workspace still waiting for delivery.
    pub async fn pending_for(&self, workspace: &WorkspaceId) -> Result<u64, OutboxError> {
        let workspace = workspace.to_string();
        self.with_conn(move |conn, _| {
            Ok(conn.query_row(
                "SELECT COUNT(*) FROM outbox WHERE workspace_id = ?1",
                [workspace],
                |row| row.get(0),
            )?)
        })
        .await
    }

    /// The oldest rows of the oldest pending workspace, up to `max_size` rows and a body of
    /// at most `max_bytes` (a single oversized row still goes alone, to be refused and set
    /// aside rather than block the outbox).
    pub async fn next_batch(
        &self,
        max_size: usize,
        max_bytes: usize,
    ) -> Result<Option<PendingBatch>, OutboxError> {
        self.with_conn(move |conn, _| {
            let head: Option<(String, String)> = conn
                .query_row(
                    "SELECT workspace_id, session_id FROM outbox ORDER BY id LIMIT 1",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let Some((workspace, session)) = head else {
                return Ok(None);
            };
            let delivery = conn
                .query_row(
                    "SELECT project_id, api_url, callback_token FROM workspaces WHERE workspace_id = ?1",
                    [&workspace],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?)),
                )
                .optional()?
                .ok_or_else(|| OutboxError::UnknownWorkspace(workspace.clone()))?;
            let corrupt = |reason: String| OutboxError::Corrupt { id: 0, reason };
            let delivery = Delivery {
                workspace_id: WorkspaceId::parse(workspace.clone()).map_err(|e| corrupt(e.to_string()))?,
                project_id: delivery.0,
                session_id: SessionId::parse(session.clone()).map_err(|e| corrupt(e.to_string()))?,
                api_url: delivery.1,
                callback_token: delivery.2,
            };

            let mut statement = conn.prepare(
                "SELECT id, payload, enqueued_at FROM outbox
                 WHERE workspace_id = ?1 AND session_id = ?2 ORDER BY seq LIMIT ?3",
            )?;
            // Ordered by seq, not id: rows requeued after a retry budget ran out are older
            // than their ids say, and the endpoint wants ascending seqs in a batch.
            // One row more than fits tells whether the batch is full.
            let rows = statement
                .query_map(params![workspace, session, max_size as i64 + 1], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, u64>(2)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;

            let mut body = format!(
                "{{\"sessionId\":{},\"messages\":[",
                serde_json::to_string(session.as_str()).map_err(|e| corrupt(e.to_string()))?
            )
            .into_bytes();
            const CLOSING: usize = 2; // "]}"
            let mut row_ids = Vec::new();
            let mut full = false;
            let oldest_enqueued_at = rows.first().map_or(0, |row| row.2);
            for (id, payload, _) in rows {
                let separator = usize::from(!row_ids.is_empty());
                let too_many = row_ids.len() == max_size;
                let too_big = !row_ids.is_empty() && body.len() + separator + payload.len() + CLOSING > max_bytes;
                if too_many || too_big {
                    full = true;
                    break;
                }
                if separator == 1 {
                    body.push(b',');
                }
                body.extend_from_slice(payload.as_bytes());
                row_ids.push(id);
            }
            body.extend_from_slice(b"]}");
            Ok(Some(PendingBatch {
                delivery,
                row_ids,
                body,
                full,
                oldest_enqueued_at,
            }))
        })
        .await
    }

    /// Deletes delivered rows.
    pub async fn acknowledge(&self, row_ids: Vec<i64>) -> Result<(), OutboxError> {
        self.with_conn(move |conn, _| {
            let tx = conn.transaction()?;
            {
                let mut delete = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?;
                for id in &row_ids {
                    delete.execute([id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
        self.inner.space_freed.notify_waiters();
        Ok(())
    }

    /// Moves rows out of the outbox into `set_aside`, with why.
    pub async fn set_aside(
        &self,
        row_ids: Vec<i64>,
        reason: &'static str,
        http_status: Option<u16>,
        detail: String,
    ) -> Result<(), OutboxError> {
        self.with_conn(move |conn, _| {
            let tx = conn.transaction()?;
            {
                let mut copy = tx.prepare_cached(
                    "INSERT INTO set_aside (workspace_id, session_id, seq, message_id, payload, enqueued_at,
                                            reason, http_status, detail, set_aside_at)
                     SELECT workspace_id, session_id, seq, message_id, payload, enqueued_at, ?2, ?3, ?4, ?5
                     FROM outbox WHERE id = ?1",
                )?;
                let mut delete = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?;
                for id in &row_ids {
                    copy.execute(params![id, reason, http_status, detail, now_ms()])?;
                    delete.execute([id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
        self.inner.space_freed.notify_waiters();
        Ok(())
    }

    /// Puts rows whose retry budget ran out back into the outbox (at agent start: the outage
    /// that exhausted them may be over). Rows refused for good stay set aside.
    pub async fn requeue_exhausted(&self) -> Result<usize, OutboxError> {
        let moved = self
            .with_conn(|conn, _| {
                let tx = conn.transaction()?;
                let moved = tx.execute(
                    "INSERT INTO outbox (workspace_id, session_id, seq, message_id, payload, enqueued_at)
                     SELECT workspace_id, session_id, seq, message_id, payload, enqueued_at
                     FROM set_aside WHERE reason = 'retry_exhausted' ORDER BY id",
                    [],
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

    /// The last sequence number given out in `session`: every message up to it was
    /// committed (acknowledged to the ACP host) at some point.
    pub async fn last_seq(&self, session: &SessionId) -> Result<u64, OutboxError> {
        let session = session.to_string();
        self.with_conn(move |conn, _| {
            let next: Option<u64> = conn
                .query_row(
                    "SELECT next_seq FROM session_seq WHERE session_id = ?1",
                    [session],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(next.map_or(0, |next| next - 1))
        })
        .await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_opening_a_new_outbox_at_once_migrate_it_once() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("dir");
            let path = dir.path().join("outbox.db");
            let barrier = std::sync::Barrier::new(4);
            std::thread::scope(|scope| {
                let openers: Vec<_> = (0..4)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            Outbox::open(&path, 10).map(|_| ())
                        })
                    })
                    .collect();
                for opener in openers {
                    let opened = opener.join().expect("opener thread");
                    assert!(opened.is_ok(), "{opened:?}");
                }
            });
            let conn = Connection::open(&path).expect("reopen");
            let version: usize = conn
                .query_row("PRAGMA user_version", [], |row| row.get(0))
                .expect("version");
            assert_eq!(version, MIGRATIONS.len());
        }
    }
}
