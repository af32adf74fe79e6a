//! Group commit. Every enqueue is a request to one writer thread, which takes whatever
//! requests have gathered while it was committing the last group and commits them in one
//! transaction (one sync of the WAL for all of them). Each enqueue is answered only after the
//! transaction holding its row is durable, so a SIGKILL still loses nothing an enqueue
//! returned for; producers that enqueue at once simply share the cost of the sync.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hangar_protocol::time::now_ms;
use hangar_protocol::{ChatMessage, MessageId, WorkspaceId};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::{mpsc, oneshot};

use super::{Draft, OutboxError, checkpoint, disk_full, lock};

/// The most rows one transaction takes; more wait for the next one (bounds its size).
const MAX_GROUP: usize = 512;

/// One enqueue of one or more messages of a workspace, waiting for its commit.
pub(super) struct Request {
    pub workspace: WorkspaceId,
    pub drafts: Vec<Draft>,
    pub reply: oneshot::Sender<Result<Vec<ChatMessage>, OutboxError>>,
}

/// Starts the writer on its own thread. It ends once every sender is dropped (the last
/// clone of the outbox) and what was sent before has been committed.
pub(super) fn start(
    conn: Arc<Mutex<Connection>>,
    path: &Path,
    max_rows: u64,
    commits: Arc<AtomicU64>,
) -> Result<mpsc::UnboundedSender<Request>, OutboxError> {
    let (sender, mut requests) = mpsc::unbounded_channel::<Request>();
    let checkpoint = checkpoint::start(path)?;
    std::thread::Builder::new()
        .name("outbox-writer".into())
        .spawn(move || {
            while let Some(first) = requests.blocking_recv() {
                if commit_group(&conn, max_rows, first, &mut requests) {
                    let done = commits.fetch_add(1, Ordering::Relaxed) + 1;
                    if done.is_multiple_of(checkpoint::COMMITS_PER_NUDGE) {
                        // Full: a checkpoint is on its way and will copy this commit too.
                        let _ = checkpoint.try_send(());
                    }
                }
            }
        })
        .map_err(|err| OutboxError::Worker(err.to_string()))?;
    Ok(sender)
}

/// Commits `first` and the requests that gather while its transaction is open, and
/// answers every one: each with its messages once the transaction is durable, or with why
/// its rows were not written. True when the transaction committed.
///
/// Requests that arrive while rows are being written join the same transaction, until
/// none is waiting (or [`MAX_GROUP`]): producers woken by the last commit catch this one
/// instead of the next, and nothing waits on a timer.
fn commit_group(
    conn: &Mutex<Connection>,
    max_rows: u64,
    first: Request,
    requests: &mut mpsc::UnboundedReceiver<Request>,
) -> bool {
    let mut conn = lock(conn);
    let mut group = vec![first];
    let outcome = (|| {
        let tx = conn.transaction()?;
        let mut results = Vec::new();
        {
            let mut writer = GroupWriter::new(&tx, max_rows)?;
            loop {
                for request in &group[results.len()..] {
                    results.push(writer.write(&request.workspace, &request.drafts)?);
                }
                let before = group.len();
                while group.len() < MAX_GROUP {
                    match requests.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
                if group.len() == before {
                    break;
                }
            }
        }
        tx.commit()?;
        Ok::<_, OutboxError>(results)
    })();
    match outcome {
        Ok(results) => {
            for (request, result) in group.into_iter().zip(results) {
                // An enqueue whose caller went away: its row is committed all the same.
                let _ = request.reply.send(result);
            }
            true
        }
        Err(err) => {
            // Rolled back: no row written, no seq taken; every enqueue sees why.
            let err = disk_full(err);
            tracing::debug!(%err, rows = group.len(), "outbox group commit failed");
            for request in group {
                let _ = request.reply.send(Err(same_error(&err)));
            }
            false
        }
    }
}

/// The same failure for each request of a group that failed as one.
fn same_error(err: &OutboxError) -> OutboxError {
    match err {
        OutboxError::DiskFull => OutboxError::DiskFull,
        OutboxError::Sqlite(rusqlite::Error::SqliteFailure(failure, message)) => {
            OutboxError::Sqlite(rusqlite::Error::SqliteFailure(*failure, message.clone()))
        }
        other => OutboxError::Worker(other.to_string()),
    }
}

/// Writes rows inside one transaction, keeping the row count and each workspace's session.
struct GroupWriter<'t> {
    tx: &'t Transaction<'t>,
    rows: u64,
    max_rows: u64,
    sessions: HashMap<WorkspaceId, Option<String>>,
}

impl<'t> GroupWriter<'t> {
    fn new(tx: &'t Transaction<'t>, max_rows: u64) -> Result<Self, OutboxError> {
        let rows = tx.query_row(super::ROW_COUNT, [], |row| row.get(0))?;
        Ok(GroupWriter {
            tx,
            rows,
            max_rows,
            sessions: HashMap::new(),
        })
    }

    fn session_of(&mut self, workspace: &WorkspaceId) -> Result<Option<String>, OutboxError> {
        if let Some(session) = self.sessions.get(workspace) {
            return Ok(session.clone());
        }
        let session = self
            .tx
            .prepare_cached("SELECT session_id FROM workspaces WHERE workspace_id = ?1")?
            .query_row([workspace.as_str()], |row| row.get(0))
            .optional()?;
        self.sessions.insert(workspace.clone(), session.clone());
        Ok(session)
    }

    /// Writes one enqueue's rows (all of them or none), or says why it is refused (no room
    /// for all of them, the workspace unknown) without touching the file. A failure of
    /// SQLite itself is the `Err` of the outer result: it ends the whole group (SQLite may
    /// already have rolled the transaction back, as it may on SQLITE_FULL), so no row of it
    /// is answered as written.
    fn write(
        &mut self,
        workspace: &WorkspaceId,
        drafts: &[Draft],
    ) -> Result<Result<Vec<ChatMessage>, OutboxError>, OutboxError> {
        // An unknown workspace is refused as such, full outbox or not: waiting for room
        // would not help it.
        let Some(session) = self.session_of(workspace)? else {
            return Ok(Err(OutboxError::UnknownWorkspace(workspace.to_string())));
        };
        let adding = drafts.len() as u64;
        if self.rows.saturating_add(adding) > self.max_rows {
            return Ok(Err(OutboxError::Full(self.rows)));
        }
        let first_seq = self.take_seqs(&session, drafts.len() as u64)?;
        let messages = drafts
            .iter()
            .zip(first_seq..)
            .map(|(draft, seq)| self.insert(workspace, &session, seq, draft))
            .collect::<Result<Vec<_>, _>>()?;
        self.rows += adding;
        Ok(Ok(messages))
    }

    /// Takes the session's next `count` sequence numbers at once; returns the first.
    fn take_seqs(&self, session: &str, count: u64) -> Result<u64, OutboxError> {
        Ok(self
            .tx
            .prepare_cached(
                "INSERT INTO session_seq (session_id, next_seq) VALUES (?1, 1 + ?2)
                 ON CONFLICT (session_id) DO UPDATE SET next_seq = next_seq + ?2
                 RETURNING next_seq - ?2",
            )?
            .query_row(params![session, count], |row| row.get(0))?)
    }

    fn insert(
        &self,
        workspace: &WorkspaceId,
        session: &str,
        seq: u64,
        draft: &Draft,
    ) -> Result<ChatMessage, OutboxError> {
        let message = ChatMessage {
            message_id: draft.id.clone().unwrap_or_else(MessageId::new),
            seq,
            role: draft.role,
            content: draft.content.clone(),
            tool: draft.tool.clone(),
            permission: draft.permission.clone(),
            created_at: now_ms(),
        };
        let payload = serde_json::to_string(&message).map_err(|err| OutboxError::Corrupt {
            id: 0,
            reason: err.to_string(),
        })?;
        self.tx
            .prepare_cached(
                "INSERT INTO outbox (workspace_id, session_id, seq, message_id, payload, enqueued_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                workspace.as_str(),
                session,
                seq,
                message.message_id.as_str(),
                payload,
                message.created_at
            ])?;
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{draft, outbox_with};
    use super::*;

    /// Eight producers enqueueing one message after another each: every message gets the
    /// next seq of its own session, and they share transactions (fewer commits than rows).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_enqueues_share_transactions_and_keep_each_sessions_order() {
        let dir = tempfile::tempdir().expect("dir");
        let outbox = outbox_with(dir.path(), 8, u64::MAX).await;
        let producers: Vec<_> = (0..8)
            .map(|n| {
                let outbox = outbox.clone();
                tokio::spawn(async move {
                    let workspace = WorkspaceId::parse(format!("ws-{n}")).expect("id");
                    let mut seqs = Vec::new();
                    for i in 0..200 {
                        let message = outbox
                            .enqueue(&workspace, draft(&format!("{n}-{i}")))
                            .await
                            .expect("enqueue");
                        assert_eq!(message.content, format!("{n}-{i}"));
                        seqs.push(message.seq);
                    }
                    seqs
                })
            })
            .collect();
        for producer in producers {
            let seqs = producer.await.expect("producer");
            assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());
        }
        assert_eq!(outbox.pending().await.expect("pending"), 1_600);
        let commits = outbox.commits();
        assert!(
            commits < 1_600,
            "{commits} commits for 1,600 concurrent enqueues: none were shared"
        );
    }

    /// A group is checked row by row: the limit admits exactly as many rows as fit, and an
    /// unknown workspace is refused without failing the rows it was committed with.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_takes_rows_up_to_the_limit_and_refuses_only_the_bad_ones() {
        let dir = tempfile::tempdir().expect("dir");
        let outbox = outbox_with(dir.path(), 2, 5).await;
        let attempts: Vec<_> = (0..9)
            .map(|n| {
                let outbox = outbox.clone();
                let workspace = if n == 4 {
                    "ws-unknown"
                } else {
                    ["ws-0", "ws-1"][n % 2]
                };
                let workspace = WorkspaceId::parse(workspace).expect("id");
                tokio::spawn(async move { outbox.try_enqueue(&workspace, draft("x")).await })
            })
            .collect();
        let (mut written, mut full, mut unknown) = (0, 0, 0);
        for attempt in attempts {
            match attempt.await.expect("task") {
                Ok(_) => written += 1,
                Err(OutboxError::Full(5)) => full += 1,
                Err(OutboxError::UnknownWorkspace(id)) if id == "ws-unknown" => unknown += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((written, full, unknown), (5, 3, 1));
        assert_eq!(outbox.pending().await.expect("pending"), 5);
    }

    /// Several messages enqueued at once go in whole or not at all: at the limit's edge
    /// they fit exactly, one more row does not.
    #[tokio::test]
    async fn messages_enqueued_together_fit_the_limit_whole_or_wait() {
        let dir = tempfile::tempdir().expect("dir");
        let outbox = outbox_with(dir.path(), 1, 5).await;
        let workspace = WorkspaceId::parse("ws-0").expect("id");
        let three = || vec![draft("a"), draft("b"), draft("c")];
        let first = outbox
            .try_enqueue_all(&workspace, three())
            .await
            .expect("3 of 5");
        assert_eq!(first.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(matches!(
            outbox.try_enqueue_all(&workspace, three()).await,
            Err(OutboxError::Full(3))
        ));
        assert_eq!(outbox.pending().await.expect("pending"), 3);
        let two = outbox
            .try_enqueue_all(&workspace, vec![draft("d"), draft("e")])
            .await
            .expect("5 of 5");
        assert_eq!(two.iter().map(|m| m.seq).collect::<Vec<_>>(), [4, 5]);
        assert!(matches!(
            outbox.try_enqueue(&workspace, draft("f")).await,
            Err(OutboxError::Full(5))
        ));
    }
}
