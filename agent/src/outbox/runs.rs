//! Where each workspace delivers, and where its run stands on this node: registered when
//! the run starts, finished with an outcome to report, forgotten (token included) once the
//! outcome is reported and every row delivered.

use hangar_protocol::tasks::WorkspaceStatusReport;
use hangar_protocol::{SessionId, WorkspaceId};
use rusqlite::{OptionalExtension, params};

use super::{Delivery, Outbox, OutboxError};

/// A workspace's run as this node last recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// A session was started (and, if this process did not start it, died with an agent).
    Running,
    /// The session ended; its outcome may not have been reported yet.
    Finished(WorkspaceStatusReport),
}

impl Outbox {
    /// Records where `delivery`'s workspace delivers (a later token replaces an earlier
    /// one) and that its run is starting.
    pub async fn register(&self, delivery: Delivery) -> Result<(), OutboxError> {
        self.with_conn(move |conn, _| {
            conn.execute(
                "INSERT INTO workspaces (workspace_id, project_id, session_id, api_url, callback_token)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (workspace_id) DO UPDATE SET project_id = ?2, session_id = ?3,
                   api_url = ?4, callback_token = ?5, state = 'running', outcome = NULL, reason = NULL",
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

    /// Makes the session's next seq at least `first_seq`: a later run of a session (a retry,
    /// on this node or another) continues after the messages already stored.
    pub async fn continue_session(
        &self,
        session: &SessionId,
        first_seq: u64,
    ) -> Result<(), OutboxError> {
        let session = session.to_string();
        self.with_conn(move |conn, _| {
            conn.execute(
                "INSERT INTO session_seq (session_id, next_seq) VALUES (?1, ?2)
                 ON CONFLICT (session_id) DO UPDATE SET next_seq = MAX(next_seq, ?2)",
                params![session, first_seq],
            )?;
            Ok(())
        })
        .await
    }

    /// Records how the workspace's session ended, until the outcome is reported.
    pub async fn finish(
        &self,
        workspace: &WorkspaceId,
        report: &WorkspaceStatusReport,
    ) -> Result<(), OutboxError> {
        let (workspace, outcome) = (workspace.to_string(), report.outcome.as_str());
        let reason = report.reason.clone();
        let output = report
            .output
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|err| OutboxError::Corrupt {
                id: 0,
                reason: err.to_string(),
            })?;
        self.with_conn(move |conn, _| {
            conn.execute(
                "UPDATE workspaces SET state = 'finished', outcome = ?2, reason = ?3, output = ?4
                 WHERE workspace_id = ?1",
                params![workspace, outcome, reason, output],
            )?;
            Ok(())
        })
        .await
    }

    /// The workspace's run as recorded here; `None` for a workspace this node never ran (or
    /// already forgot).
    pub async fn run_state(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Option<RunState>, OutboxError> {
        let workspace = workspace.to_string();
        self.with_conn(move |conn, _| {
            type Row = (String, Option<String>, Option<String>, Option<String>);
            let row: Option<Row> = conn
                .query_row(
                    "SELECT state, outcome, reason, output FROM workspaces WHERE workspace_id = ?1",
                    [&workspace],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )
                .optional()?;
            Ok(row.map(|(state, outcome, reason, output)| {
                match (state.as_str(), outcome.and_then(|o| o.parse().ok())) {
                    ("finished", Some(outcome)) => RunState::Finished(WorkspaceStatusReport {
                        outcome,
                        reason,
                        // An unreadable output is dropped, never the outcome with it.
                        output: output.and_then(|json| serde_json::from_str(&json).ok()),
                        // Not kept: a pull request opened after a restart says less.
                        last_message: None,
                        keep: true,
                    }),
                    _ => RunState::Running,
                }
            }))
        })
        .await
    }

    /// Forgets the workspace (its token with it) once none of its rows wait for delivery;
    /// true when it was forgotten.
    pub async fn forget(&self, workspace: &WorkspaceId) -> Result<bool, OutboxError> {
        let workspace = workspace.to_string();
        self.with_conn(move |conn, _| {
            let deleted = conn.execute(
                "DELETE FROM workspaces WHERE workspace_id = ?1
                 AND NOT EXISTS (SELECT 1 FROM outbox WHERE workspace_id = ?1)",
                [&workspace],
            )?;
            Ok(deleted > 0)
        })
        .await
    }
}
