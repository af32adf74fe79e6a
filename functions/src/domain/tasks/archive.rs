//! Archiving and deleting. An ended or backlog task (and its session) is hidden from the
//! board and the sidebar and read-only until unarchived; a project is archived by its
//! owner once no task of it is under way. Deleted, a task's or project's own records go at
//! once (it is not found from then on) and what it held is marked to expire through the
//! table's TTL by the sweep, a page at a time.

use hangar_protocol::tasks::{ProjectView, TaskStatus, TaskView};
use hangar_protocol::time::now_ms;
use hangar_protocol::{ErrorCode, ProjectId, TaskId, UserId};

use super::Tasks;
use crate::domain::access::{owner_of, writable_project};
use crate::domain::error::{Error, Result};
use crate::domain::pool::UPDATE_ATTEMPTS;
use crate::domain::ports::Expiring;
use crate::domain::projects::{kept_changing, save_over};

/// Whether a task is under way (neither ended nor waiting in the backlog).
fn under_way(status: TaskStatus) -> bool {
    !status.is_terminal() && status != TaskStatus::Backlog
}

impl Tasks {
    /// Archives (`archived`) or unarchives a task, with its session.
    pub async fn archive_task(
        &self,
        user: &UserId,
        project: &ProjectId,
        id: &TaskId,
        archived: bool,
    ) -> Result<TaskView> {
        writable_project(self.store.as_ref(), user, project).await?;
        let task = self.stored_task(project, id).await?;
        if under_way(task.status) {
            return Err(Error::conflict(
                ErrorCode::TaskActive,
                format!(
                    "task {id} is {}; only an ended or backlog task is archived",
                    task.status
                ),
            ));
        }
        let at = archived.then(now_ms);
        let changed = self
            .update_task(project, id, |task| {
                if under_way(task.status) || task.archived_at.is_some() == archived {
                    return false;
                }
                task.archived_at = at;
                true
            })
            .await?;
        if let Some(task) = &changed
            && let Some(mut session) = self.store.get_session(project, &task.session_id).await?
        {
            session.archived_at = at;
            self.store.put_session(&session).await?;
        }
        self.load_task(project, id).await
    }

    /// Archives or unarchives a project (its owner only; archived, it is read-only).
    pub async fn archive_project(
        &self,
        user: &UserId,
        id: &ProjectId,
        archived: bool,
    ) -> Result<ProjectView> {
        let store = self.store.as_ref();
        owner_of(store, user, id).await?;
        if archived {
            self.idle(id).await?;
        }
        for _ in 0..UPDATE_ATTEMPTS {
            let mut project = owner_of(store, user, id).await?;
            if project.archived_at.is_some() == archived {
                return Ok(project.into());
            }
            project.archived_at = archived.then(now_ms);
            let read = project.revision;
            if save_over(store, &mut project, read).await? {
                return Ok(project.into());
            }
        }
        Err(kept_changing(id))
    }

    /// Deletes an ended or backlog task and its session (a member of a writable project).
    pub async fn delete_task(&self, user: &UserId, project: &ProjectId, id: &TaskId) -> Result<()> {
        writable_project(self.store.as_ref(), user, project).await?;
        let task = self.stored_task(project, id).await?;
        if under_way(task.status) {
            return Err(Error::conflict(
                ErrorCode::TaskActive,
                format!("task {id} is {}; cancel it first", task.status),
            ));
        }
        if task.kept_until.is_some() {
            self.release_kept(&task).await?;
        }
        self.store.delete_task_records(&task).await?;
        self.store
            .put_expiring(&Expiring::Session(task.session_id.clone()))
            .await?;
        tracing::info!(task = %id, %project, %user, "task deleted");
        Ok(())
    }

    /// Deletes a project (its owner, once no task of it is under way).
    pub async fn delete_project(&self, user: &UserId, id: &ProjectId) -> Result<()> {
        let store = self.store.as_ref();
        owner_of(store, user, id).await?;
        self.idle(id).await?;
        store.put_expiring(&Expiring::Project(id.clone())).await?;
        store.delete_project_record(id).await?;
        tracing::info!(project = %id, %user, "project deleted");
        Ok(())
    }

    /// `project_busy` while a task of the project is under way.
    async fn idle(&self, id: &ProjectId) -> Result<()> {
        let busy = self
            .store
            .list_active_tasks()
            .await?
            .into_iter()
            .filter(|task| &task.project_id == id && under_way(task.status))
            .count();
        if busy > 0 {
            return Err(Error::conflict(
                ErrorCode::ProjectBusy,
                format!(
                    "{busy} tasks of project {id} are under way; cancel them or let them end first"
                ),
            ));
        }
        Ok(())
    }
}
