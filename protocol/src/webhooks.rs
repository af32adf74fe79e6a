//! A project's webhook: the control plane POSTs an event to it when a task ends and when a
//! permission waits for an answer, so a team hears of it outside the page.

use serde::{Deserialize, Serialize};

use crate::ids::{PermissionId, ProjectId, SessionId, TaskId};
use crate::permissions::PermissionChoice;
use crate::tasks::TaskStatus;

/// Longest webhook URL.
pub const WEBHOOK_URL_MAX_CHARS: usize = 500;

/// Where a project's events go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSettings {
    /// An `https://` URL (`http://127.0.0.1:port/…` on the local stack).
    pub url: String,
}

/// What a webhook receives (`X-Hangar-Event` names the `event`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum WebhookEvent {
    /// A task ended: completed, failed or cancelled.
    #[serde(rename = "task.ended", rename_all = "camelCase")]
    TaskEnded {
        project_id: ProjectId,
        task_id: TaskId,
        session_id: SessionId,
        title: String,
        status: TaskStatus,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pull_request_url: Option<String>,
        at: u64,
    },
    /// An agent asks the people watching and waits.
    #[serde(rename = "permission.waiting", rename_all = "camelCase")]
    PermissionWaiting {
        project_id: ProjectId,
        session_id: SessionId,
        permission_id: PermissionId,
        asked: String,
        options: Vec<PermissionChoice>,
        at: u64,
    },
}

impl WebhookEvent {
    pub fn name(&self) -> &'static str {
        match self {
            WebhookEvent::TaskEnded { .. } => "task.ended",
            WebhookEvent::PermissionWaiting { .. } => "permission.waiting",
        }
    }
}
