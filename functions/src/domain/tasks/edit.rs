//! Editing a backlog task before it runs: its title, prompt, VM size and base branch, under
//! the rules a submission follows. A task that left the backlog is not edited (it may be
//! running on what it was given).

use hangar_protocol::tasks::{TaskStatus, TaskView, UpdateTaskRequest};
use hangar_protocol::time::now_ms;
use hangar_protocol::{ErrorCode, ProjectId, TaskId, UserId};

use super::Tasks;
use super::submit::{checked_prompt, checked_title};
use crate::domain::access::writable_project;
use crate::domain::error::{Error, Result};
use crate::domain::projects::branch;

impl Tasks {
    /// `PATCH .../tasks/{id}`: a member changes a backlog task.
    pub async fn edit_task(
        &self,
        user: &UserId,
        project: &ProjectId,
        id: &TaskId,
        request: UpdateTaskRequest,
    ) -> Result<TaskView> {
        writable_project(self.store.as_ref(), user, project).await?;
        let current = self.stored_task(project, id).await?;
        super::requests::writable_task(&current)?;
        let prompt = match &request.prompt {
            Some(prompt) => checked_prompt(prompt)?,
            None => current.prompt.clone(),
        };
        let title = match (&request.title, &request.prompt) {
            (Some(title), _) => Some(checked_title(Some(title), &prompt)?),
            // A new prompt keeps a given title; none was given when it was made from the
            // old prompt's first line, and then it follows the new one.
            (None, Some(_)) if checked_title(None, &current.prompt)? == current.title => {
                Some(checked_title(None, &prompt)?)
            }
            (None, _) => None,
        };
        let base_branch = request
            .base_branch
            .as_deref()
            .map(|name| branch("baseBranch", name))
            .transpose()?;
        let mut found = None;
        let now = now_ms();
        let edited = self
            .update_task(project, id, |task| {
                found = Some(task.status);
                if task.status != TaskStatus::Backlog {
                    return false;
                }
                task.prompt = prompt.clone();
                if let Some(title) = &title {
                    task.title = title.clone();
                }
                if let Some(size) = request.vm_size {
                    task.vm_size = size;
                }
                if let Some(branch) = &base_branch {
                    task.base_branch = branch.clone();
                }
                task.updated_at = now;
                true
            })
            .await?;
        let Some(task) = edited else {
            return Err(Error::conflict(
                ErrorCode::InvalidTransition,
                format!(
                    "task {id} is {}; only a backlog task can be edited",
                    found.map_or("gone".to_string(), |status| status.to_string())
                ),
            ));
        };
        // The session is named after its task.
        if let Some(mut session) = self.store.get_session(project, &task.session_id).await?
            && session.title != task.title
        {
            session.title = task.title.clone();
            self.store.put_session(&session).await?;
        }
        tracing::info!(task = %id, %user, "backlog task edited");
        Ok(task.into())
    }
}
