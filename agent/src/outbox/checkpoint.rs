//! WAL checkpoints beside the writer, not in its way. SQLite copies the WAL back into the
//! database (and syncs it) inside whichever commit crosses `wal_autocheckpoint` pages: that
//! commit, and every enqueue waiting on it, took several milliseconds more (the enqueue
//! p99 under load). A thread with its own connection copies it back whenever the writer
//! nudges, so the checkpoint the writer still runs at the limit finds little left to copy
//! and the WAL is rewritten from its start instead of growing.

use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};

use rusqlite::Connection;

use super::OutboxError;

/// Commits between nudges: often enough that the writer's own checkpoint finds the WAL
/// nearly copied, rarely enough that the database is not synced after every commit.
pub(super) const COMMITS_PER_NUDGE: u64 = 16;

/// Starts the checkpointer; it ends when the returned sender is dropped (with the writer).
pub(super) fn start(path: &Path) -> Result<SyncSender<()>, OutboxError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // One waiting nudge is enough: a checkpoint copies everything committed before it.
    let (nudge, nudged) = sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("outbox-checkpoint".into())
        .spawn(move || {
            while nudged.recv().is_ok() {
                let copied = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                if let Err(err) = copied {
                    // The writer's own checkpoint still bounds the WAL.
                    tracing::debug!(%err, "outbox checkpoint failed");
                }
            }
        })
        .map_err(|err| OutboxError::Worker(err.to_string()))?;
    Ok(nudge)
}
