//! A project's webhook: an event posted when a task ends and when a permission waits. It is
//! a courtesy, never a step of the flow: the event goes once, and a webhook that fails or
//! is slow (5 s at most) is logged and costs nothing else.

use hangar_protocol::tasks::TaskStatus;
use hangar_protocol::time::now_ms;
use hangar_protocol::webhooks::{WEBHOOK_URL_MAX_CHARS, WebhookEvent, WebhookSettings};
use hangar_protocol::{ErrorCode, ProjectId};

use super::error::{Error, Result};
use super::live::Live;
use super::projects::RepoPolicy;
use super::records::Task;

/// Settings a project may keep: an `https://` URL (`http://127.0.0.1` on the local stack).
pub fn webhook_settings(settings: WebhookSettings, repos: &RepoPolicy) -> Result<WebhookSettings> {
    // Checked as given, as the OpenAPI document states it.
    let url = settings.url;
    let rest = url.strip_prefix("https://").or_else(|| {
        url.strip_prefix("http://127.0.0.1:")
            .filter(|_| repos.allow_local)
    });
    if rest.is_none_or(|rest| rest.is_empty() || rest.starts_with('/'))
        || url.chars().count() > WEBHOOK_URL_MAX_CHARS
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(
            ErrorCode::InvalidWebhook,
            format!(
                "webhook.url must be an https:// URL of at most {WEBHOOK_URL_MAX_CHARS} characters"
            ),
        ));
    }
    Ok(WebhookSettings { url })
}

/// The event of `task` if its last saved change was its move to an end (not a later change
/// of an ended task, such as its kept workspace going).
pub fn ended(task: &Task) -> Option<WebhookEvent> {
    let last = task.history.last()?;
    if !task.status.is_terminal() || last.to != task.status || last.at != task.updated_at {
        return None;
    }
    let output = task.output.as_ref();
    Some(WebhookEvent::TaskEnded {
        project_id: task.project_id.clone(),
        task_id: task.id.clone(),
        session_id: task.session_id.clone(),
        title: task.title.clone(),
        status: task.status,
        reason: last.reason.clone(),
        branch: output
            .filter(|_| task.status == TaskStatus::Completed)
            .map(|output| output.branch.clone()),
        pull_request_url: output.and_then(|output| output.pull_request_url.clone()),
        at: now_ms(),
    })
}

impl Live {
    /// Posts `event` to the project's webhook, if it has one.
    pub async fn notify(&self, project: &ProjectId, event: WebhookEvent) {
        let url = match self.store.get_project(project).await {
            Ok(Some(project)) => match project.webhook {
                Some(webhook) => webhook.url,
                None => return,
            },
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(%project, error = %err, "cannot read the project's webhook");
                return;
            }
        };
        match self.webhooks.post(&url, &event).await {
            Ok(()) => tracing::info!(%project, event = event.name(), "webhook notified"),
            Err(err) => {
                tracing::warn!(%project, event = event.name(), error = %err, "the webhook failed")
            }
        }
    }
}
