//! The crash-safe outbox: every chat message is committed to SQLite (WAL, synchronous=FULL)
//! before anything else happens to it, and deleted only after the ingest endpoint answered
//! 2xx. A SIGKILL at any point therefore loses no committed row; a row whose delivery
//! succeeded but whose delete did not is simply re-sent, and the store counts it as a
//! duplicate because its `messageId` and `seq` were fixed at enqueue time.
//!
//! Enqueues are group-committed ([`commit`]): producers enqueueing at once share one
//! transaction, and each returns only once its own row is durable.
//!
//! Bound: at most `max_rows` rows wait here, in a file of at most `max_bytes`. When either is
//! reached (or the disk itself is full: SQLITE_FULL), [`Outbox::enqueue`] waits until the
//! reporter frees space (backpressure on the ACP agent); nothing is dropped.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hangar_protocol::permissions::PermissionInfo;
use hangar_protocol::{MessageId, MessageRole, SessionId, ToolCallInfo, WorkspaceId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{Notify, mpsc};

mod batch;
mod checkpoint;
mod commit;
mod enqueue;
mod runs;
mod set_aside;

pub use batch::PendingBatch;
pub use runs::RunState;
use set_aside::SetAside;
pub use set_aside::SetAsideRow;

const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/agent/0001_outbox.sql"),
    include_str!("../../../migrations/agent/0002_workspace_runs.sql"),
    include_str!("../../../migrations/agent/0003_run_output.sql"),
    include_str!("../../../migrations/agent/0004_outbox_rows.sql"),
    include_str!("../../../migrations/agent/0005_lean_outbox.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the outbox holds {0} messages, its limit")]
    Full(u64),
    #[error("the outbox's file reached its size limit or its disk is full")]
    DiskFull,
    #[error("outbox row {id} is unreadable: {reason}")]
    Corrupt { id: i64, reason: String },
    #[error("workspace {0} was never registered with the outbox")]
    UnknownWorkspace(String),
    #[error("outbox worker thread failed: {0}")]
    Worker(String),
}

/// The outbox's row count, kept by triggers (migration 0004).
const ROW_COUNT: &str = "SELECT count FROM outbox_rows WHERE only = 1";

/// SQLITE_FULL as its own error: a wait, not a failure.
fn disk_full(err: OutboxError) -> OutboxError {
    match err {
        OutboxError::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
            if failure.code == rusqlite::ErrorCode::DiskFull =>
        {
            OutboxError::DiskFull
        }
        other => other,
    }
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
    pub permission: Option<PermissionInfo>,
    /// The message's id when it has one already (a member's follow-up); else a new one.
    pub id: Option<MessageId>,
}

struct Inner {
    /// Shared with the group-commit writer, which takes it for each group.
    conn: Arc<Mutex<Connection>>,
    /// Where enqueues go to be committed (see [`commit`]).
    writer: mpsc::UnboundedSender<commit::Request>,
    /// Transactions the writer committed (each holds one or more enqueues).
    commits: Arc<AtomicU64>,
    max_rows: u64,
    rows_added: Notify,
    /// Rows left the outbox (delivered or set aside): room for enqueues, progress for
    /// whoever waits for a workspace to be delivered.
    space_freed: Notify,
}

/// Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

/// The connection, also after a panic while it was held: SQLite itself stays consistent
/// (the transaction rolls back), so the poisoned guard is still safe to use.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Opens the file in WAL mode and migrates it. Switching to WAL can answer "busy" at once,
/// without the busy handler, while another process opens the same new file: then retry.
fn prepare(path: &Path, max_bytes: u64) -> Result<Connection, rusqlite::Error> {
    let mut attempt = 0;
    loop {
        match try_prepare(path, max_bytes) {
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

fn try_prepare(path: &Path, max_bytes: u64) -> Result<Connection, rusqlite::Error> {
    let mut conn = Connection::open(path)?;
    if max_bytes < u64::MAX {
        // SQLite answers SQLITE_FULL past this many pages, as on a full disk.
        let page_size: u64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        let pages = (max_bytes / page_size.max(1)).max(1);
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
    }
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
        Self::open_limited(path, max_rows, u64::MAX)
    }

    /// [`Outbox::open`] with the file held to `max_bytes` (`u64::MAX`: the disk's size).
    pub fn open_limited(path: &Path, max_rows: u64, max_bytes: u64) -> Result<Self, OutboxError> {
        let conn = Arc::new(Mutex::new(prepare(path, max_bytes)?));
        let commits = Arc::new(AtomicU64::new(0));
        let writer = commit::start(Arc::clone(&conn), path, max_rows, Arc::clone(&commits))?;
        Ok(Outbox {
            inner: Arc::new(Inner {
                conn,
                writer,
                commits,
                max_rows,
                rows_added: Notify::new(),
                space_freed: Notify::new(),
            }),
        })
    }

    /// Runs `work` on the blocking pool with the connection.
    async fn with_conn<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, &Inner) -> Result<T, OutboxError> + Send + 'static,
    ) -> Result<T, OutboxError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&inner.conn);
            work(&mut conn, &inner)
        })
        .await
        .map_err(|err| OutboxError::Worker(err.to_string()))?
    }

    /// How many transactions enqueues have been committed in so far: fewer than the
    /// enqueues when producers shared them.
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// Notified whenever rows are added.
    pub fn rows_added(&self) -> &Notify {
        &self.inner.rows_added
    }

    pub async fn pending(&self) -> Result<u64, OutboxError> {
        self.with_conn(|conn, _| Ok(conn.query_row(ROW_COUNT, [], |row| row.get(0))?))
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

    /// Deletes delivered rows.
    pub async fn acknowledge(&self, row_ids: Vec<i64>) -> Result<(), OutboxError> {
        self.remove_rows(row_ids, None).await
    }

    /// Removes rows from the outbox in one transaction, copying them into `set_aside` first
    /// when `kept` says why they leave undelivered.
    async fn remove_rows(
        &self,
        row_ids: Vec<i64>,
        kept: Option<SetAside>,
    ) -> Result<(), OutboxError> {
        self.with_conn(move |conn, _| {
            let tx = conn.transaction()?;
            {
                let mut delete = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?;
                for id in &row_ids {
                    if let Some(kept) = &kept {
                        kept.copy(&tx, *id)?;
                    }
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

    /// Waits until no row of `workspace` is left to deliver, or `deadline` passes; true when
    /// everything was delivered (or set aside).
    pub async fn wait_delivered(
        &self,
        workspace: &WorkspaceId,
        deadline: tokio::time::Instant,
    ) -> Result<bool, OutboxError> {
        loop {
            let freed = self.inner.space_freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.pending_for(workspace).await? == 0 {
                return Ok(true);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Ok(false);
            }
        }
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
}

#[cfg(test)]
mod tests;
