//! Live updates: WebSocket connections of project pages and the frames pushed to them.
//!
//! `$connect` checks the user's token and project membership and stores a connection item
//! with a TTL; `$disconnect` removes it. A publish queries the project's connections and
//! posts one frame per connection (not one per message); a connection the gateway reports
//! gone is deleted. Publishing never fails the operation that triggered it: persisted
//! messages and task changes stand whether or not a viewer was reached, and viewers page
//! what they missed over HTTP (see [`LiveEvent`]).

use std::sync::Arc;

use futures::StreamExt;
use hangar_protocol::limits::{CONNECTION_TTL_SECS, LIVE_FRAME_MAX_BYTES};
use hangar_protocol::live::LiveEvent;
use hangar_protocol::tasks::TaskView;
use hangar_protocol::{ChatMessage, ProjectId, SessionId, UserId};

use crate::ApiError;
use crate::auth::Authenticator;
use crate::clock::now_ms;
use crate::history::member_project;
use crate::ports::{Connection, Delivery, Push, Store, Task};

/// Posts in flight at once during one publish.
const POST_CONCURRENCY: usize = 16;
/// Longest connection id accepted (API Gateway's are 16 characters).
const CONNECTION_ID_MAX_LEN: usize = 128;

pub struct Live {
    pub store: Arc<dyn Store>,
    pub push: Arc<dyn Push>,
}

/// What a publish did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublishReport {
    pub delivered: usize,
    /// Connections found gone and deleted.
    pub gone: usize,
    pub failed: usize,
}

impl Live {
    /// `$connect`: a member of `project` with a valid user `token` may watch it.
    pub async fn connect(
        &self,
        auth: &Authenticator,
        connection_id: &str,
        token: Option<&str>,
        project: Option<&str>,
    ) -> Result<Connection, ApiError> {
        check_connection_id(connection_id)?;
        let user: UserId = auth.verify_user_token(token)?;
        let project = project.filter(|p| !p.is_empty()).ok_or_else(|| {
            ApiError::bad_request("missing_project", "connect with ?projectId=<project id>")
        })?;
        let project = ProjectId::parse(project)
            .map_err(|err| ApiError::bad_request("invalid_project", err.to_string()))?;
        member_project(self.store.as_ref(), &user, &project).await?;
        let now = now_ms();
        let connection = Connection {
            id: connection_id.to_string(),
            project_id: project,
            user_id: user,
            connected_at: now,
            ttl: now / 1000 + CONNECTION_TTL_SECS,
        };
        self.store.put_connection(&connection).await?;
        tracing::info!(connection = %connection.id, project = %connection.project_id, user = %connection.user_id, "connected");
        Ok(connection)
    }

    /// `$disconnect`: forgets the connection; an unknown one is fine.
    pub async fn disconnect(&self, connection_id: &str) -> Result<(), ApiError> {
        check_connection_id(connection_id)?;
        if let Some(connection) = self.store.get_connection(connection_id).await? {
            self.store.delete_connection(&connection).await?;
            tracing::info!(connection = %connection_id, "disconnected");
        }
        Ok(())
    }

    /// Pushes `event` to every live connection of its project.
    pub async fn publish(&self, event: &LiveEvent) -> PublishReport {
        let mut connections = self.watchers(event.project_id()).await;
        self.post_all(&mut connections, event).await
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
        if connections.is_empty() {
            return report;
        }
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

    /// Publishes a task change with its session's cursor; the cursor is read only when
    /// somebody watches the project.
    pub async fn task_changed(&self, task: &Task) {
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
        let event = LiveEvent::Task {
            project_id: task.project_id.clone(),
            task: TaskView::from(task.clone()),
            cursor,
        };
        let report = self.post_all(&mut connections, &event).await;
        tracing::debug!(task = %task.id, status = %task.status, ?report, "task published");
    }
}

fn check_connection_id(connection_id: &str) -> Result<(), ApiError> {
    if connection_id.is_empty() || connection_id.len() > CONNECTION_ID_MAX_LEN {
        return Err(ApiError::bad_request(
            "invalid_connection",
            format!("a connection id has 1 to {CONNECTION_ID_MAX_LEN} bytes"),
        ));
    }
    Ok(())
}

/// Splits `messages` (ascending) into frames of at most [`LIVE_FRAME_MAX_BYTES`]. Every
/// frame's cursor is the batch's highest seq; a message too large for any frame is left out,
/// and the cursor tells the viewer to page it.
pub fn message_frames(
    project: &ProjectId,
    session: &SessionId,
    messages: &[ChatMessage],
) -> Vec<LiveEvent> {
    let Some(cursor) = messages.iter().map(|message| message.seq).max() else {
        return Vec::new();
    };
    let frame = |messages: Vec<ChatMessage>| LiveEvent::Messages {
        project_id: project.clone(),
        session_id: session.clone(),
        cursor,
        messages,
    };
    let encoded_len = |event: &LiveEvent| serde_json::to_vec(event).map_or(usize::MAX, |v| v.len());
    let envelope = encoded_len(&frame(Vec::new()));
    let mut frames = Vec::new();
    let mut current: Vec<ChatMessage> = Vec::new();
    let mut current_bytes = envelope;
    for message in messages {
        let size = serde_json::to_vec(message).map_or(usize::MAX, |v| v.len());
        if envelope.saturating_add(size) > LIVE_FRAME_MAX_BYTES {
            tracing::debug!(
                seq = message.seq,
                size,
                "message too large for a live frame"
            );
            continue;
        }
        // Messages after the first in a frame add a separating comma.
        let mut added = size + usize::from(!current.is_empty());
        if current_bytes + added > LIVE_FRAME_MAX_BYTES {
            frames.push(frame(std::mem::take(&mut current)));
            current_bytes = envelope;
            added = size;
        }
        current_bytes += added;
        current.push(message.clone());
    }
    if !current.is_empty() || frames.is_empty() {
        frames.push(frame(current));
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_protocol::{MessageId, MessageRole};

    fn message(seq: u64, content_len: usize) -> ChatMessage {
        ChatMessage {
            message_id: MessageId::parse(format!("m{seq}")).unwrap(),
            seq,
            role: MessageRole::Assistant,
            content: "x".repeat(content_len),
            tool: None,
            created_at: 1,
        }
    }

    fn ids() -> (ProjectId, SessionId) {
        (
            ProjectId::parse("p").unwrap(),
            SessionId::parse("s").unwrap(),
        )
    }

    fn frame_seqs(frames: &[LiveEvent]) -> Vec<Vec<u64>> {
        frames
            .iter()
            .map(|frame| match frame {
                LiveEvent::Messages { messages, .. } => messages.iter().map(|m| m.seq).collect(),
                other => panic!("not a messages frame: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_batch_that_fits_is_one_frame() {
        let (project, session) = ids();
        let batch: Vec<_> = (1..=50).map(|seq| message(seq, 1000)).collect();
        let frames = message_frames(&project, &session, &batch);
        assert_eq!(frame_seqs(&frames), vec![(1..=50).collect::<Vec<_>>()]);
    }

    #[test]
    fn frames_never_pass_the_gateway_limit_and_carry_the_batch_cursor() {
        let (project, session) = ids();
        // Three 40 KB messages fill a frame; a fourth goes to the next one.
        let mut batch: Vec<_> = (1..=5).map(|seq| message(seq, 40_000)).collect();
        // Control characters escape to six bytes each: ≈ 180 KB of JSON.
        batch[1].content = "\u{1}".repeat(30_000);
        let frames = message_frames(&project, &session, &batch);
        for frame in &frames {
            let len = serde_json::to_vec(frame).unwrap().len();
            assert!(len <= LIVE_FRAME_MAX_BYTES, "frame of {len} bytes");
            let LiveEvent::Messages { cursor, .. } = frame else {
                unreachable!()
            };
            assert_eq!(*cursor, 5);
        }
        // seq 2 (≈180 KB of JSON) fits no frame and is left for the viewer to page.
        assert_eq!(frame_seqs(&frames), vec![vec![1, 3, 4], vec![5]]);
    }

    #[test]
    fn a_frame_exactly_at_the_limit_is_kept_whole() {
        let (project, session) = ids();
        let envelope = serde_json::to_vec(&message_frames(&project, &session, &[message(1, 0)])[0])
            .unwrap()
            .len();
        // Grow the one message until the frame is exactly at the limit.
        let content_len = LIVE_FRAME_MAX_BYTES - envelope;
        let frames = message_frames(&project, &session, &[message(1, content_len)]);
        assert_eq!(
            serde_json::to_vec(&frames[0]).unwrap().len(),
            LIVE_FRAME_MAX_BYTES
        );
        assert_eq!(frame_seqs(&frames), vec![vec![1]]);
        let frames = message_frames(&project, &session, &[message(1, content_len + 1)]);
        assert_eq!(frame_seqs(&frames), vec![Vec::<u64>::new()]);
    }
}
