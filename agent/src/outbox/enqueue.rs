//! Enqueueing: a request to the group-commit writer ([`super::commit`]), answered once the
//! rows are durable, and the waits of a full outbox or a full disk around it.

use hangar_protocol::{ChatMessage, WorkspaceId};
use tokio::sync::oneshot;

use super::{Draft, Outbox, OutboxError, commit};

/// How often an enqueue refused for a full disk looks again without a delivery.
const DISK_FULL_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// The row of an enqueue of one draft.
fn only_row(mut messages: Vec<ChatMessage>) -> Result<ChatMessage, OutboxError> {
    messages
        .pop()
        .ok_or_else(|| OutboxError::Worker("an enqueue was answered without its row".into()))
}

impl Outbox {
    /// Commits `draft` as the session's next message, waiting while the outbox is full.
    pub async fn enqueue(
        &self,
        workspace: &WorkspaceId,
        draft: Draft,
    ) -> Result<ChatMessage, OutboxError> {
        only_row(self.enqueue_all(workspace, vec![draft]).await?)
    }

    /// Commits `drafts` as the session's next messages, in their order, in one transaction
    /// (with whatever other enqueues are waiting), waiting while the outbox has no room for
    /// all of them. More drafts than the outbox may ever hold go one at a time.
    pub async fn enqueue_all(
        &self,
        workspace: &WorkspaceId,
        drafts: Vec<Draft>,
    ) -> Result<Vec<ChatMessage>, OutboxError> {
        if drafts.len() as u64 <= self.inner.max_rows {
            return self.enqueue_with_room(workspace, drafts).await;
        }
        let mut messages = Vec::with_capacity(drafts.len());
        for draft in drafts {
            messages.extend(self.enqueue_with_room(workspace, vec![draft]).await?);
        }
        Ok(messages)
    }

    /// Commits `drafts` once the outbox has room for all of them.
    async fn enqueue_with_room(
        &self,
        workspace: &WorkspaceId,
        drafts: Vec<Draft>,
    ) -> Result<Vec<ChatMessage>, OutboxError> {
        loop {
            let space = self.inner.space_freed.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            match self.try_enqueue_all(workspace, drafts.clone()).await {
                Err(OutboxError::Full(rows)) => {
                    tracing::warn!(
                        rows,
                        "outbox full; holding the agent until messages are delivered"
                    );
                    space.await;
                }
                Err(OutboxError::DiskFull) => {
                    // Its transaction rolled back: nothing half-written, no seq taken. The
                    // disk may also free up by itself, so look again after a while.
                    tracing::error!(
                        "the outbox's disk is full (SQLITE_FULL); holding the agent until delivered messages free space"
                    );
                    let _ = tokio::time::timeout(DISK_FULL_RETRY, space).await;
                }
                other => return other,
            }
        }
    }

    /// Commits `draft` unless the outbox is full; returns once its row is durable.
    pub async fn try_enqueue(
        &self,
        workspace: &WorkspaceId,
        draft: Draft,
    ) -> Result<ChatMessage, OutboxError> {
        only_row(self.try_enqueue_all(workspace, vec![draft]).await?)
    }

    /// Commits all of `drafts` unless the outbox lacks room for them, in one transaction with
    /// whatever other enqueues are waiting (group commit); returns once they are durable.
    pub(super) async fn try_enqueue_all(
        &self,
        workspace: &WorkspaceId,
        drafts: Vec<Draft>,
    ) -> Result<Vec<ChatMessage>, OutboxError> {
        let (reply, committed) = oneshot::channel();
        let request = commit::Request {
            workspace: workspace.clone(),
            drafts,
            reply,
        };
        let stopped = || OutboxError::Worker("the outbox writer stopped".into());
        self.inner.writer.send(request).map_err(|_| stopped())?;
        let messages = committed.await.map_err(|_| stopped())??;
        self.inner.rows_added.notify_one();
        Ok(messages)
    }
}
