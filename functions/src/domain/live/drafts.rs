//! Drafts: the text so far of a message the agent is still writing, pushed to the project's
//! viewers as it grows. Nothing is stored: the stored message at the draft's seq replaces
//! it, and a viewer that missed a draft only sees the text a little later.

use hangar_protocol::limits::DRAFT_CONTENT_MAX_BYTES;
use hangar_protocol::live::LiveEvent;
use hangar_protocol::{DraftRequest, ErrorCode, MessageRole, WorkspaceId};

use super::Live;
use crate::domain::access::open_workspace;
use crate::domain::error::{Error, Result};

impl Live {
    /// `POST /api/workspaces/{id}/drafts`: pushes the draft to the project's viewers.
    pub async fn draft_posted(
        &self,
        workspace_id: &WorkspaceId,
        request: DraftRequest,
        grace_ms: u64,
    ) -> Result<()> {
        let draft = request.draft;
        if draft.content.len() > DRAFT_CONTENT_MAX_BYTES {
            return Err(Error::too_large(
                ErrorCode::MessageTooLarge,
                format!(
                    "draft.content is {} bytes; at most {DRAFT_CONTENT_MAX_BYTES} are accepted (send its end, marked truncated)",
                    draft.content.len()
                ),
            ));
        }
        if !matches!(draft.role, MessageRole::Assistant | MessageRole::Thought) || draft.seq == 0 {
            return Err(Error::invalid(
                ErrorCode::InvalidBody,
                "a draft is an assistant or thought message's text at a seq of 1 or more",
            ));
        }
        let workspace = open_workspace(self.store.as_ref(), workspace_id, grace_ms).await?;
        if workspace.session_id != request.session_id {
            return Err(Error::not_found(
                ErrorCode::SessionNotFound,
                format!(
                    "session {} is not the chat session of workspace {workspace_id}",
                    request.session_id
                ),
            ));
        }
        let mut connections = self.watchers(&workspace.project_id).await;
        if connections.is_empty() {
            return Ok(());
        }
        let event = LiveEvent::Draft {
            project_id: workspace.project_id,
            session_id: workspace.session_id,
            draft,
        };
        let report = self.post_all(&mut connections, &event).await;
        tracing::debug!(workspace = %workspace_id, ?report, "draft published");
        Ok(())
    }
}
