//! Follow-ups: a member writes to a session's agent. The agent stays the one writer of the
//! session's sequence: the message is kept here (pending) and sent to the node that runs
//! the session, whose agent stores it as the next `user` message (with the id given here,
//! so ingest sees it arrive) and prompts with it once its current turn ends. A session whose
//! task ended is continued: the task runs again (`completed -> queued`, recorded), and the
//! new run prompts the pending messages after the conversation so far. A message that
//! reached a run just as it ended is not lost: the run's end finds it pending and continues.

use hangar_protocol::limits::MESSAGE_CONTENT_MAX_BYTES;
use hangar_protocol::node::{FollowUp, NodeCommand};
use hangar_protocol::tasks::{TaskStatus, TaskView};
use hangar_protocol::time::now_ms;
use hangar_protocol::{
    ErrorCode, FollowUpDelivery, MessageId, MessageRole, PostMessageRequest, PostedMessage,
    ProjectId, SessionId, TaskId, UserId,
};
use serde::{Deserialize, Serialize};

use super::Tasks;
use crate::domain::access::{member_project, writable_project};
use crate::domain::error::{Error, Result};
use crate::domain::records::{Task, Workspace};

/// Most bytes of the conversation a continued run is given.
const CONTEXT_MAX_BYTES: usize = 16 * 1024;
/// How many of the latest messages that context is taken from.
const CONTEXT_MESSAGES: u32 = 100;

/// A member's message, kept until the session's agent has stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowUpRecord {
    pub session_id: SessionId,
    pub message_id: MessageId,
    pub content: String,
    pub user_id: UserId,
    pub sent_at: u64,
    /// The agent stored it (its `user` message arrived).
    pub stored: bool,
}

fn content(text: String) -> Result<String> {
    if text.trim().is_empty() {
        return Err(Error::invalid(
            ErrorCode::InvalidMessage,
            "content must not be blank",
        ));
    }
    if text.len() > MESSAGE_CONTENT_MAX_BYTES {
        return Err(Error::too_large(
            ErrorCode::MessageTooLarge,
            format!(
                "content is {} bytes; at most {MESSAGE_CONTENT_MAX_BYTES} are accepted",
                text.len()
            ),
        ));
    }
    Ok(text)
}

impl Tasks {
    /// `POST .../sessions/{s}/messages`: a member writes to the session's agent.
    pub async fn post_message(
        &self,
        user: &UserId,
        project: &ProjectId,
        session: &SessionId,
        request: PostMessageRequest,
    ) -> Result<PostedMessage> {
        writable_project(self.store.as_ref(), user, project).await?;
        let content = content(request.content)?;
        let task = self.session_task(project, session).await?;
        super::requests::writable_task(&task)?;
        if task.status == TaskStatus::Backlog {
            return Err(Error::conflict(
                ErrorCode::NotRunning,
                format!("task {} has not run yet: run it first", task.id),
            ));
        }
        let record = FollowUpRecord {
            session_id: session.clone(),
            message_id: MessageId::new(),
            content,
            user_id: user.clone(),
            sent_at: now_ms(),
            stored: false,
        };
        // Kept first: whatever happens next, the message reaches a run of the session.
        self.store.put_follow_up(&record).await?;
        let delivery = if task.status.is_terminal() {
            let rule = ("continue", "an ended task can be continued");
            match self
                .queue_again(user, (project, &task.id), rule, TaskStatus::is_terminal)
                .await
            {
                Ok(_) => FollowUpDelivery::Reopened,
                // Retried or continued meanwhile (the run that just ended found this message
                // pending and continued the task): that run takes it.
                Err(err) if err.code() == ErrorCode::InvalidTransition => {
                    FollowUpDelivery::Reopened
                }
                Err(err) => return Err(err),
            }
        } else if task.status == TaskStatus::Running {
            self.send_follow_up(&task, &record).await?;
            FollowUpDelivery::Sent
        } else {
            FollowUpDelivery::Waiting
        };
        tracing::info!(%session, message = %record.message_id, ?delivery, "follow-up posted");
        Ok(PostedMessage {
            message_id: record.message_id,
            delivery,
        })
    }

    /// `POST .../tasks/{t}/stop`: ends the agent's current turn; the task goes on (with
    /// the messages queued behind the turn, or to its end).
    pub async fn stop_turn(
        &self,
        user: &UserId,
        project: &ProjectId,
        id: &TaskId,
    ) -> Result<TaskView> {
        member_project(self.store.as_ref(), user, project).await?;
        let task = self.stored_task(project, id).await?;
        let (TaskStatus::Running, Some(workspace), Some(node)) =
            (task.status, &task.workspace_id, &task.node_id)
        else {
            return Err(Error::conflict(
                ErrorCode::NotRunning,
                format!("task {id} is {}: no turn to stop", task.status),
            ));
        };
        let stop = NodeCommand::StopTurn {
            workspace_id: workspace.clone(),
        };
        // Not kept: a stop that finds no socket is lost, and the member can ask again.
        self.live.send_to_node(node, &stop).await?;
        tracing::info!(task = %id, %user, "stop requested");
        Ok(task.into())
    }

    async fn session_task(&self, project: &ProjectId, session: &SessionId) -> Result<Task> {
        let not_found = || {
            Error::not_found(
                ErrorCode::SessionNotFound,
                format!("session {session} does not exist in project {project}"),
            )
        };
        let found = self
            .store
            .get_session(project, session)
            .await?
            .ok_or_else(not_found)?;
        let Some(task_id) = found.task_id else {
            return Err(Error::conflict(
                ErrorCode::NotRunning,
                format!("session {session} has no task to write to"),
            ));
        };
        self.stored_task(project, &task_id).await
    }

    async fn send_follow_up(&self, task: &Task, record: &FollowUpRecord) -> Result<()> {
        let (Some(workspace), Some(node)) = (&task.workspace_id, &task.node_id) else {
            return Ok(());
        };
        let command = NodeCommand::FollowUp(FollowUp {
            workspace_id: workspace.clone(),
            message_id: record.message_id.clone(),
            content: record.content.clone(),
            user_id: record.user_id.clone(),
        });
        // A push that finds no socket is not lost: the assignments carry the message.
        if let Err(err) = self.live.send_to_node(node, &command).await {
            tracing::warn!(%node, error = %err, "cannot push the follow-up; the node finds it when it converges");
        }
        Ok(())
    }

    /// The messages the workspace's agent has not stored yet, oldest first.
    pub(super) async fn pending_follow_ups(&self, workspace: &Workspace) -> Result<Vec<FollowUp>> {
        let mut pending = self.store.pending_follow_ups(&workspace.session_id).await?;
        pending.sort_by_key(|record| record.message_id.clone());
        Ok(pending
            .into_iter()
            .map(|record| FollowUp {
                workspace_id: workspace.id.clone(),
                message_id: record.message_id,
                content: record.content,
                user_id: record.user_id,
            })
            .collect())
    }

    /// The latest part of the conversation, as a continued run's agent reads it.
    pub(super) async fn context(&self, session: &SessionId) -> Result<Option<String>> {
        let last = self.store.last_message_seq(session).await?;
        let messages = self
            .store
            .list_messages_before(session, last + 1, CONTEXT_MESSAGES)
            .await?;
        let mut lines: Vec<String> = Vec::new();
        let mut size = 0;
        for message in messages.iter().rev() {
            let who = match message.role {
                MessageRole::User => "user",
                MessageRole::Assistant => "agent",
                MessageRole::Tool => "tool",
                MessageRole::Plan => "plan",
                MessageRole::System => "note",
                // The agent's thoughts are its own.
                MessageRole::Thought => continue,
            };
            let line = format!("[{who}] {}", message.content.trim());
            size += line.len() + 1;
            if size > CONTEXT_MAX_BYTES {
                break;
            }
            lines.push(line);
        }
        if lines.is_empty() {
            return Ok(None);
        }
        lines.reverse();
        Ok(Some(format!(
            "This continues an earlier conversation in this repository. Its latest part:\n{}\n\nThe user now writes:",
            lines.join("\n")
        )))
    }

    /// After a run ended: messages that reached it too late continue the session now.
    pub(super) async fn continue_if_asked(&self, task: &Task) -> Result<()> {
        if !task.status.is_terminal()
            || self
                .store
                .pending_follow_ups(&task.session_id)
                .await?
                .is_empty()
        {
            return Ok(());
        }
        let now = now_ms();
        let reason = "continued: a member's message arrived as the run ended".to_string();
        let moved = self
            .update_task(&task.project_id, &task.id, |current| {
                if !current.status.is_terminal() {
                    return false;
                }
                current.transition(
                    TaskStatus::Queued,
                    reason.clone(),
                    now,
                    Some(now + self.timeouts.start_ms),
                );
                true
            })
            .await?;
        if moved.is_some() {
            tracing::info!(task = %task.id, "task continued by a pending follow-up");
        }
        Ok(())
    }
}
