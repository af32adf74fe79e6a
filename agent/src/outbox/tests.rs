//! The outbox file itself: migrations, and the order rows leave in.

use hangar_protocol::ChatMessage;

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

/// An outbox left by an agent of the previous schema (rows still waiting, one of them
/// requeued: a higher id than a later seq) keeps its rows, their count, its sessions'
/// sequences and their order through the lean-table migration.
#[tokio::test]
async fn rows_waiting_in_an_older_outbox_survive_the_lean_table_migration() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("outbox.db");
    {
        let conn = Connection::open(&path).expect("open");
        for sql in &MIGRATIONS[..4] {
            conn.execute_batch(sql).expect("old migration");
        }
        conn.pragma_update(None, "user_version", 4)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO workspaces (workspace_id, project_id, session_id, api_url, callback_token)
                 VALUES ('ws-old', 'p', 's-old', 'http://127.0.0.1:9', 't');
             INSERT INTO session_seq (session_id, next_seq) VALUES ('s-old', 4);",
        )
        .expect("old workspace");
        // Seq 2 first: it was set aside and requeued, seq 1 and 3 came after it.
        for seq in [2u64, 1, 3] {
            let message = ChatMessage {
                message_id: MessageId::new(),
                seq,
                role: MessageRole::Assistant,
                content: format!("message {seq}"),
                tool: None,
                permission: None,
                created_at: 1,
            };
            conn.execute(
                "INSERT INTO outbox (workspace_id, session_id, seq, message_id, payload, enqueued_at)
                 VALUES ('ws-old', 's-old', ?1, ?2, ?3, 1)",
                rusqlite::params![
                    seq,
                    message.message_id.as_str(),
                    serde_json::to_string(&message).expect("json")
                ],
            )
            .expect("old row");
        }
    }
    let outbox = Outbox::open(&path, 10).expect("migrated");
    assert_eq!(outbox.pending().await.expect("pending"), 3);
    let workspace = WorkspaceId::parse("ws-old").expect("id");
    assert_eq!(outbox.pending_for(&workspace).await.expect("pending"), 3);
    let next = outbox
        .enqueue(&workspace, draft("after"))
        .await
        .expect("enqueue after the migration");
    assert_eq!(next.seq, 4);
    assert_eq!(outbox.pending().await.expect("pending"), 4);
    assert_eq!(next_seqs(&outbox, 50).await, vec![1, 2, 3, 4]);
    let autoincrement: i64 = outbox
        .with_conn(|conn, _| {
            Ok(conn.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE sql LIKE '%AUTOINCREMENT%'",
                [],
                |row| row.get(0),
            )?)
        })
        .await
        .expect("schema");
    assert_eq!(autoincrement, 0);
}

/// An assistant message saying `text`.
pub(super) fn draft(text: &str) -> Draft {
    Draft {
        role: MessageRole::Assistant,
        content: text.into(),
        tool: None,
        permission: None,
        id: None,
    }
}

/// An outbox in `dir` holding at most `max_rows`, with workspaces `ws-0`.. (sessions `s-0`..).
pub(super) async fn outbox_with(dir: &Path, workspaces: usize, max_rows: u64) -> Outbox {
    let outbox = Outbox::open(&dir.join("outbox.db"), max_rows).expect("open");
    for n in 0..workspaces {
        outbox
            .register(Delivery {
                workspace_id: WorkspaceId::parse(format!("ws-{n}")).expect("id"),
                project_id: "p".into(),
                session_id: SessionId::parse(format!("s-{n}")).expect("id"),
                api_url: "http://127.0.0.1:9".into(),
                callback_token: "t".into(),
            })
            .await
            .expect("register");
    }
    outbox
}

/// The seqs of the next batch (of any size), in the order it would send them.
async fn next_seqs(outbox: &Outbox, max_size: usize) -> Vec<u64> {
    outbox
        .next_batch(max_size, 1 << 20, &Default::default())
        .await
        .expect("batch")
        .map(|batch| batch.seqs)
        .unwrap_or_default()
}

/// Rows set aside when their retry budget ran out go back in front of the session's later
/// rows at the next start, in seq order: the reporter reads a session in id order.
#[tokio::test]
async fn requeued_rows_leave_before_the_sessions_later_rows_in_seq_order() {
    let dir = tempfile::tempdir().expect("dir");
    let outbox = outbox_with(dir.path(), 1, 100).await;
    let workspace = WorkspaceId::parse("ws-0").expect("id");
    for n in 1..=4 {
        outbox
            .enqueue(&workspace, draft(&format!("m{n}")))
            .await
            .expect("enqueue");
    }
    let first = outbox
        .next_batch(2, 1 << 20, &Default::default())
        .await
        .expect("batch")
        .expect("rows");
    assert_eq!(first.seqs, vec![1, 2]);
    outbox
        .set_aside(first.row_ids, "retry_exhausted", Some(503), "outage".into())
        .await
        .expect("set aside");
    outbox
        .enqueue(&workspace, draft("m5"))
        .await
        .expect("enqueue");
    assert_eq!(outbox.requeue_exhausted().await.expect("requeue"), 2);
    assert_eq!(next_seqs(&outbox, 50).await, vec![1, 2, 3, 4, 5]);
    // New rows still come after every requeued one.
    outbox
        .enqueue(&workspace, draft("m6"))
        .await
        .expect("enqueue");
    assert_eq!(next_seqs(&outbox, 50).await, vec![1, 2, 3, 4, 5, 6]);
}
