//! What members ask of a project's tasks and sessions: submit a task (its chat session comes
//! with it), read them, run a backlog task, cancel one. Each call checks membership first.

use hangar_protocol::limits::{TASK_PROMPT_MAX_BYTES, TITLE_MAX_CHARS};
use hangar_protocol::tasks::{
    CreateTaskRequest, SessionView, SubmitMode, TaskStatus, TaskTransition, TaskView,
};
use hangar_protocol::time::now_ms;
use hangar_protocol::{ErrorCode, ProjectId, SessionId, TaskId, UserId};

use super::Tasks;
use crate::domain::access::member_project;
use crate::domain::error::{Error, Result};
use crate::domain::projects::bounded_text;
use crate::domain::records::{ChatSession, Task};

/// Longest title made from a prompt's first line.
const DERIVED_TITLE_CHARS: usize = 80;

/// The task's title: the one given, or the prompt's first line, shortened.
fn title_for(request: &CreateTaskRequest, prompt: &str) -> Result<String> {
    match request
        .title
        .as_deref()
        .map(str::trim)
        .filter(|title| !title.is_empty())
    {
        Some(title) => bounded_text("title", title, TITLE_MAX_CHARS, ErrorCode::InvalidTitle),
        None => {
            let first_line = prompt.lines().next().unwrap_or_default();
            let mut title: String = first_line.chars().take(DERIVED_TITLE_CHARS).collect();
            if first_line.chars().count() > DERIVED_TITLE_CHARS {
                title.push('…');
            }
            Ok(title)
        }
    }
}

/// `records` as views, the latest by `time` first.
fn newest_first<R, V: From<R>>(records: Vec<R>, time: impl Fn(&V) -> u64) -> Vec<V> {
    let mut views: Vec<V> = records.into_iter().map(Into::into).collect();
    views.sort_by_key(|view| std::cmp::Reverse(time(view)));
    views
}

fn task_not_found(project: &ProjectId, id: &TaskId) -> Error {
    Error::not_found(
        ErrorCode::TaskNotFound,
        format!("task {id} does not exist in project {project}"),
    )
}

impl Tasks {
    /// Creates a task and its chat session; "Run now" starts it at once.
    pub async fn create_task(
        &self,
        user: &UserId,
        project_id: &ProjectId,
        request: CreateTaskRequest,
    ) -> Result<TaskView> {
        let project = member_project(self.store.as_ref(), user, project_id).await?;
        let prompt = request.prompt.trim().to_string();
        if prompt.is_empty() {
            return Err(Error::invalid(
                ErrorCode::InvalidPrompt,
                "prompt must not be empty",
            ));
        }
        if prompt.len() > TASK_PROMPT_MAX_BYTES {
            return Err(Error::too_large(
                ErrorCode::PromptTooLarge,
                format!(
                    "the prompt is {} bytes; at most {TASK_PROMPT_MAX_BYTES} are accepted",
                    prompt.len()
                ),
            ));
        }
        let title = title_for(&request, &prompt)?;
        let now = now_ms();
        let (status, reason) = match request.mode {
            SubmitMode::RunNow => (TaskStatus::Queued, "submitted: run now"),
            SubmitMode::Backlog => (TaskStatus::Backlog, "saved to backlog"),
        };
        let task = Task {
            id: TaskId::new(),
            project_id: project.id.clone(),
            title: title.clone(),
            prompt,
            status,
            vm_size: request.vm_size.unwrap_or(project.default_vm_size),
            session_id: SessionId::new(),
            node_id: None,
            workspace_id: None,
            created_by: user.clone(),
            created_at: now,
            updated_at: now,
            history: vec![TaskTransition {
                from: None,
                to: status,
                at: now,
                reason: reason.into(),
            }],
            deadline: status
                .is_transient()
                .then_some(now + self.timeouts.start_ms),
            version: 0,
        };
        let session = ChatSession {
            project_id: project.id.clone(),
            id: task.session_id.clone(),
            task_id: Some(task.id.clone()),
            workspace_id: None,
            title,
            message_count: 0,
            last_message_at: None,
            created_at: now,
        };
        self.store.put_session(&session).await?;
        self.store.save_task(&task, None).await?;
        self.live.task_changed(&task).await;
        if task.status == TaskStatus::Queued
            && let Err(err) = self.start(&task).await
        {
            // The task exists and the sweep will fail it if it stays stuck; report what it is.
            tracing::error!(task = %task.id, error = %err, "starting the task failed");
        }
        self.load_task(&project.id, &task.id).await
    }

    async fn load_task(&self, project: &ProjectId, id: &TaskId) -> Result<TaskView> {
        self.store
            .get_task(project, id)
            .await?
            .map(Into::into)
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

    pub async fn list_tasks(&self, user: &UserId, project: &ProjectId) -> Result<Vec<TaskView>> {
        member_project(self.store.as_ref(), user, project).await?;
        let tasks = self.store.list_tasks(project).await?;
        Ok(newest_first(tasks, |task: &TaskView| task.created_at))
    }

    pub async fn list_sessions(
        &self,
        user: &UserId,
        project: &ProjectId,
    ) -> Result<Vec<SessionView>> {
        member_project(self.store.as_ref(), user, project).await?;
        let sessions = self.store.list_sessions(project).await?;
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
        member_project(self.store.as_ref(), user, project).await?;
        let now = now_ms();
        let task = self
            .request_transition(
                project,
                id,
                |status| status == TaskStatus::Backlog,
                (TaskStatus::Queued, format!("run requested by {user}"), now),
                Some(now + self.timeouts.start_ms),
                |status| format!("task {id} is {status}; only a backlog task can be run"),
            )
            .await?;
        if let Err(err) = self.start(&task).await {
            tracing::error!(task = %task.id, error = %err, "starting the task failed");
        }
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
        self.load_task(project, id).await
    }

    /// A transition a member asked for: made if `allowed` holds for the task's status,
    /// refused as a conflict (worded by `refusal`) otherwise.
    async fn request_transition(
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
