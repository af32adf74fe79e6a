//! Live connections: the WebSocket connections of project pages (viewers) and of nodes
//! ([`nodes`]), and the frames pushed to them. The two kinds never see each other's frames:
//! viewers are found by project, a node by its id.
//!
//! `$connect` (its token checked by the boundary) checks project membership and stores a
//! connection item with a TTL; `$disconnect` removes it. A publish queries the project's
//! connections and posts one frame per connection (not one per message); a connection the
//! gateway reports gone is deleted. Publishing never fails the operation that triggered it:
//! persisted messages and task changes stand whether or not a viewer was reached, and
//! viewers page what they missed over HTTP (see [`LiveEvent`]).

mod drafts;
mod frames;
mod nodes;

use std::sync::Arc;

use futures::StreamExt;
use hangar_protocol::limits::CONNECTION_TTL_SECS;
use hangar_protocol::live::LiveEvent;
use hangar_protocol::tasks::TaskView;
use hangar_protocol::time::now_ms;
use hangar_protocol::{ChatMessage, ErrorCode, ProjectId, SessionId, UserId};

pub use frames::{message_frames, task_frame};
pub use nodes::Sent;

use super::access::member_project;
use super::error::{Error, Result};
use super::ports::{Delivery, Push, Store, Webhooks};
use super::records::{Connection, Task};

/// Posts in flight at once during one publish.
pub const POST_CONCURRENCY: usize = 64;
/// Longest connection id accepted (API Gateway's are 16 characters).
const CONNECTION_ID_MAX_LEN: usize = 128;

pub struct Live {
    pub store: Arc<dyn Store>,
    pub push: Arc<dyn Push>,
    pub caps: ConnectionCaps,
    /// Projects' webhooks, told when a task ends or a permission waits.
    pub webhooks: Arc<dyn Webhooks>,
}

/// How many live viewer connections may be held at once: by one user, and on one project
/// (each message of a project is posted to every one of its connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCaps {
    pub per_user: u64,
    pub per_project: u64,
}

impl Default for ConnectionCaps {
    fn default() -> Self {
        ConnectionCaps {
            per_user: 20,
            per_project: 1_000,
        }
    }
}

/// What a publish did, for logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublishReport {
    pub delivered: usize,
    /// Connections found gone and deleted.
    pub gone: usize,
    pub failed: usize,
}

impl Live {
    /// `$connect`: `user` (whose token the boundary checked) may watch `project` if a member.
    pub async fn connect(
        &self,
        connection_id: &str,
        user: &UserId,
        project: Option<&str>,
    ) -> Result<Connection> {
        check_connection_id(connection_id)?;
        let project = project.filter(|p| !p.is_empty()).ok_or_else(|| {
            Error::invalid(
                ErrorCode::MissingProject,
                "connect with ?projectId=<project id>",
            )
        })?;
        let project = ProjectId::parse(project)
            .map_err(|err| Error::invalid(ErrorCode::InvalidProject, err.to_string()))?;
        member_project(self.store.as_ref(), user, &project).await?;
        let now = now_ms();
        let connection = Connection {
            id: connection_id.to_string(),
            project_id: project,
            user_id: user.clone(),
            connected_at: now,
            ttl: now / 1000 + CONNECTION_TTL_SECS,
        };
        // Recorded first and counted after, so two connections racing for the last place
        // cannot both pass: at worst both are refused.
        self.store.put_connection(&connection).await?;
        let (by_user, on_project) = tokio::join!(
            self.store.count_user_connections(user, now / 1000),
            self.store
                .count_project_connections(&connection.project_id, now / 1000)
        );
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let (by_user, on_project) = (count(by_user?), count(on_project?));
        let refusal = if by_user > self.caps.per_user {
            Some(format!(
                "you hold {} live connections already; close one (at most {} at once)",
                by_user - 1,
                self.caps.per_user
            ))
        } else if on_project > self.caps.per_project {
            Some(format!(
                "project {} has {} live viewers already (at most {} at once); try again later",
                connection.project_id,
                on_project - 1,
                self.caps.per_project
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            self.store.delete_connection(&connection).await?;
            return Err(Error::too_many(ErrorCode::TooManyConnections, message));
        }
        tracing::info!(connection = %connection.id, project = %connection.project_id, user = %connection.user_id, "connected");
        Ok(connection)
    }

    /// `$disconnect` of a viewer or a node: forgets the connection; an unknown one is fine.
    pub async fn disconnect(&self, connection_id: &str) -> Result<()> {
        check_connection_id(connection_id)?;
        if let Some(connection) = self.store.get_connection(connection_id).await? {
            self.store.delete_connection(&connection).await?;
            tracing::info!(connection = %connection_id, "disconnected");
        } else if let Some(link) = self.store.link_of_connection(connection_id).await? {
            self.store.delete_node_link(&link).await?;
            tracing::info!(connection = %connection_id, node = %link.node_id, "node disconnected");
        }
        Ok(())
    }

    /// The project's live connections; none when they cannot be read (viewers page later).
    async fn watchers(&self, project: &ProjectId) -> Vec<Connection> {
        match self.store.list_connections(project, now_ms() / 1000).await {
            Ok(connections) => connections,
            Err(err) => {
                tracing::warn!(%project, error = %err, "cannot list connections; viewers will page");
                Vec::new()
            }
        }
    }

    /// Posts `event` to each of `connections`; the gone ones are deleted and dropped from it.
    async fn post_all(
        &self,
        connections: &mut Vec<Connection>,
        event: &LiveEvent,
    ) -> PublishReport {
        let mut report = PublishReport::default();
        let frame = match serde_json::to_string(event) {
            Ok(frame) => frame,
            Err(err) => {
                tracing::error!(error = %err, "cannot encode a live frame");
                return report;
            }
        };
        let outcomes: Vec<_> = futures::stream::iter(std::mem::take(connections))
            .map(|connection| {
                let frame = frame.as_str();
                async move {
                    let outcome = self.push.post(&connection.id, frame).await;
                    (connection, outcome)
                }
            })
            .buffer_unordered(POST_CONCURRENCY)
            .collect()
            .await;
        for (connection, outcome) in outcomes {
            match outcome {
                Ok(Delivery::Delivered) => {
                    report.delivered += 1;
                    connections.push(connection);
                }
                Ok(Delivery::Gone) => {
                    report.gone += 1;
                    if let Err(err) = self.store.delete_connection(&connection).await {
                        tracing::warn!(connection = %connection.id, error = %err, "cannot delete a gone connection");
                    }
                }
                Err(err) => {
                    report.failed += 1;
                    tracing::warn!(connection = %connection.id, error = %err, "post failed");
                    connections.push(connection);
                }
            }
        }
        report
    }

    /// Publishes messages of `session` just stored, in frames that fit the gateway's limit.
    /// The connections are read once for all frames, and nothing is encoded when nobody
    /// watches the project.
    pub async fn messages_stored(
        &self,
        project: &ProjectId,
        session: &SessionId,
        messages: &[ChatMessage],
    ) {
        let mut connections = self.watchers(project).await;
        if connections.is_empty() {
            return;
        }
        for event in message_frames(project, session, messages) {
            let report = self.post_all(&mut connections, &event).await;
            tracing::debug!(%session, ?report, "messages published");
        }
    }

    /// Publishes a task change, and tells the project's webhook when the change ended it.
    pub async fn task_changed(&self, task: &Task) {
        self.publish_task(task).await;
        // After the viewers: a slow webhook delays nobody's page.
        if let Some(event) = super::webhooks::ended(task) {
            self.notify(&task.project_id, event).await;
        }
    }

    /// Publishes a task change with its session's cursor; the cursor is read only when
    /// somebody watches the project.
    async fn publish_task(&self, task: &Task) {
        let mut connections = self.watchers(&task.project_id).await;
        if connections.is_empty() {
            return;
        }
        let cursor = match self.store.last_message_seq(&task.session_id).await {
            Ok(cursor) => cursor,
            Err(err) => {
                tracing::warn!(task = %task.id, error = %err, "cannot read the session cursor");
                0
            }
        };
        let event = task_frame(TaskView::from(task.clone()), cursor);
        let report = self.post_all(&mut connections, &event).await;
        tracing::debug!(task = %task.id, status = %task.status, ?report, "task published");
    }
}

pub(super) fn check_connection_id(connection_id: &str) -> Result<()> {
    if connection_id.is_empty() || connection_id.len() > CONNECTION_ID_MAX_LEN {
        return Err(Error::invalid(
            ErrorCode::InvalidConnection,
            format!("a connection id has 1 to {CONNECTION_ID_MAX_LEN} bytes"),
        ));
    }
    Ok(())
}
