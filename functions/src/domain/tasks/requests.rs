//! What members ask of a project's tasks and sessions besides submitting: read them, run a
//! backlog task, cancel one. Each call checks membership first.

use std::collections::HashMap;

use hangar_protocol::limits::{TASKS_PAGE_DEFAULT_LIMIT, TASKS_PAGE_MAX_LIMIT};
use hangar_protocol::tasks::{SessionView, TaskPage, TaskStatus, TaskView};
use hangar_protocol::time::now_ms;
use hangar_protocol::{ErrorCode, ProjectId, TaskId, UserId};

use super::Tasks;
use crate::domain::access::{member_project, writable_project};
use crate::domain::error::{Error, Result};
use crate::domain::history::limit_param;
use crate::domain::records::Task;

/// `records` as views, the latest by `time` first.
fn newest_first<R, V: From<R>>(records: Vec<R>, time: impl Fn(&V) -> u64) -> Vec<V> {
    let mut views: Vec<V> = records.into_iter().map(Into::into).collect();
    views.sort_by_key(|view| std::cmp::Reverse(time(view)));
    views
}

/// `limit` and `cursor` of a task listing, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPageRequest {
    pub limit: u32,
    /// The `nextCursor` of the page before: the oldest task it held.
    pub cursor: Option<TaskId>,
    /// `archived=true`: the archived tasks instead of the others.
    pub archived: bool,
}

impl TaskPageRequest {
    pub fn from_query(query: &HashMap<String, String>) -> Result<Self> {
        let limit = limit_param(query, TASKS_PAGE_DEFAULT_LIMIT, TASKS_PAGE_MAX_LIMIT)?;
        let cursor = match query.get("cursor") {
            None => None,
            Some(value) => Some(TaskId::parse(value.clone()).map_err(|_| {
                Error::invalid(
                    ErrorCode::InvalidCursor,
                    format!("cursor is {value:?}; pass the nextCursor of the page before"),
                )
            })?),
        };
        Ok(TaskPageRequest {
            limit,
            cursor,
            archived: archived_param(query)?,
        })
    }
}

/// An archived task is read-only: unarchive it to run, retry, edit or continue it.
pub(crate) fn writable_task(task: &Task) -> Result<()> {
    if task.archived_at.is_some() {
        return Err(Error::conflict(
            ErrorCode::TaskArchived,
            format!(
                "task {} is archived and read-only; unarchive it first",
                task.id
            ),
        ));
    }
    Ok(())
}

/// `archived=true|false` of a listing (absent: false).
pub fn archived_param(query: &HashMap<String, String>) -> Result<bool> {
    match query.get("archived").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Error::invalid(
            ErrorCode::InvalidQuery,
            format!("archived is {other:?}; true or false"),
        )),
    }
}

pub(super) fn task_not_found(project: &ProjectId, id: &TaskId) -> Error {
    Error::not_found(
        ErrorCode::TaskNotFound,
        format!("task {id} does not exist in project {project}"),
    )
}

impl Tasks {
    pub(super) async fn load_task(&self, project: &ProjectId, id: &TaskId) -> Result<TaskView> {
        self.stored_task(project, id).await.map(Into::into)
    }

    /// The task as stored, or `task_not_found`.
    pub(super) async fn stored_task(&self, project: &ProjectId, id: &TaskId) -> Result<Task> {
        self.store
            .get_task(project, id)
            .await?
            .ok_or_else(|| task_not_found(project, id))
    }

    pub async fn get_task(
        &self,
        user: &UserId,
        project: &ProjectId,
        id: &TaskId,
    ) -> Result<TaskView> {
        member_project(self.store.as_ref(), user, project).await?;
        self.load_task(project, id).await
    }

    /// A page of the project's task summaries, newest first.
    pub async fn list_tasks(
        &self,
        user: &UserId,
        project: &ProjectId,
        page: TaskPageRequest,
    ) -> Result<TaskPage> {
        member_project(self.store.as_ref(), user, project).await?;
        let (tasks, more) = self
            .store
            .list_tasks(project, page.limit, page.cursor.as_ref())
            .await?;
        let next_cursor = more
            .then(|| tasks.last().map(|task| task.id.clone()))
            .flatten();
        Ok(TaskPage {
            // Archived tasks only when asked for, and then only they.
            tasks: tasks
                .into_iter()
                .filter(|task| task.archived_at.is_some() == page.archived)
                .map(|task| TaskView::from(task).summary())
                .collect(),
            next_cursor,
        })
    }

    pub async fn list_sessions(
        &self,
        user: &UserId,
        project: &ProjectId,
        archived: bool,
    ) -> Result<Vec<SessionView>> {
        member_project(self.store.as_ref(), user, project).await?;
        let mut sessions = self.store.list_sessions(project).await?;
        sessions.retain(|session| session.archived_at.is_some() == archived);
        Ok(newest_first(sessions, |session: &SessionView| {
            session.last_message_at.unwrap_or(session.created_at)
        }))
    }

    /// "Run now" for a task saved to the backlog.
    pub async fn run_task(
        &self,
        user: &UserId,
        project: &ProjectId,
        id: &TaskId,
    ) -> Result<TaskView> {
        let allowed = |status| status == TaskStatus::Backlog;
        let rule = ("run", "a backlog task can be run");
        self.queue_again(user, (project, id), rule, allowed).await
    }

    /// A member's request to queue the task (`what`: run, retry) if `allowed` holds for its
    /// status (`only` words the rule for a refusal); then the queue is worked and the task
    /// as it stands is answered.
    pub(super) async fn queue_again(
        &self,
        user: &UserId,
        (project, id): (&ProjectId, &TaskId),
        (what, only): (&str, &str),
        allowed: impl Fn(TaskStatus) -> bool,
    ) -> Result<TaskView> {
        writable_project(self.store.as_ref(), user, project).await?;
        writable_task(&self.stored_task(project, id).await?)?;
        let now = now_ms();
        self.request_transition(
            project,
            id,
            allowed,
            (
                TaskStatus::Queued,
                format!("{what} requested by {user}"),
                now,
            ),
            Some(now + self.timeouts.start_ms),
            |status| format!("task {id} is {status}; only {only}"),
        )
        .await?;
        self.start_queued_logged().await;
        self.load_task(project, id).await
    }

    pub async fn cancel_task(
        &self,
        user: &UserId,
        project: &ProjectId,
        id: &TaskId,
    ) -> Result<TaskView> {
        member_project(self.store.as_ref(), user, project).await?;
        let task = self
            .request_transition(
                project,
                id,
                |status| !status.is_terminal(),
                (
                    TaskStatus::Cancelled,
                    format!("cancelled by {user}"),
                    now_ms(),
                ),
                None,
                |status| format!("task {id} is already {status}"),
            )
            .await?;
        self.clean_up(&task).await?;
        self.start_queued_logged().await;
        self.load_task(project, id).await
    }

    /// Works the queue after a request; a failure there is the sweep's to repair, not the
    /// request's (its own change was saved).
    pub(super) async fn start_queued_logged(&self) {
        if let Err(err) = self.start_queued().await {
            tracing::error!(error = %err, "starting queued tasks failed; the sweep tries again");
        }
    }

    /// A transition a member asked for: made if `allowed` holds for the task's status,
    /// refused as a conflict (worded by `refusal`) otherwise.
    pub(super) async fn request_transition(
        &self,
        project: &ProjectId,
        id: &TaskId,
        allowed: impl Fn(TaskStatus) -> bool,
        (to, reason, now): (TaskStatus, String, u64),
        deadline: Option<u64>,
        refusal: impl Fn(TaskStatus) -> String,
    ) -> Result<Task> {
        let mut found = None;
        let moved = self
            .update_task(project, id, |task| {
                found = Some(task.status);
                if !allowed(task.status) {
                    return false;
                }
                task.transition(to, reason.clone(), now, deadline);
                true
            })
            .await?;
        match (moved, found) {
            (Some(task), _) => Ok(task),
            (None, None) => Err(task_not_found(project, id)),
            (None, Some(status)) => Err(Error::conflict(
                ErrorCode::InvalidTransition,
                refusal(status),
            )),
        }
    }
}
