//! Projects, tasks and chat sessions as users see them: every call is made by a user, and
//! every project-scoped call checks membership first.

use hangar_protocol::limits::{
    PROJECT_MAX_MEMBERS, REPO_MAX_CHARS, TASK_PROMPT_MAX_BYTES, TITLE_MAX_CHARS,
};
use hangar_protocol::tasks::{
    AddMemberRequest, CreateProjectRequest, CreateTaskRequest, ProjectView, SessionView,
    SubmitMode, TaskStatus, TaskTransition, TaskView, VmSize,
};
use hangar_protocol::{ProjectId, SessionId, TaskId, UserId};

use crate::clock::now_ms;
use crate::error::ApiError;
use crate::history::member_project;
use crate::ports::{ChatSession, Project, Saved, Task};
use crate::runner::{Runner, new_id, transition};

impl From<Project> for ProjectView {
    fn from(project: Project) -> Self {
        ProjectView {
            id: project.id,
            name: project.name,
            repo: project.repo,
            default_vm_size: project.default_vm_size,
            owner: project.owner,
            members: project.members,
            created_at: project.created_at,
        }
    }
}

impl From<Task> for TaskView {
    fn from(task: Task) -> Self {
        TaskView {
            id: task.id,
            project_id: task.project_id,
            title: task.title,
            prompt: task.prompt,
            status: task.status,
            vm_size: task.vm_size,
            session_id: task.session_id,
            node_id: task.node_id,
            workspace_id: task.workspace_id,
            created_by: task.created_by,
            created_at: task.created_at,
            updated_at: task.updated_at,
            history: task.history,
        }
    }
}

impl From<ChatSession> for SessionView {
    fn from(session: ChatSession) -> Self {
        SessionView {
            id: session.id,
            project_id: session.project_id,
            task_id: session.task_id,
            workspace_id: session.workspace_id,
            title: session.title,
            message_count: session.message_count,
            last_message_at: session.last_message_at,
            created_at: session.created_at,
        }
    }
}

fn bounded_text(
    field: &str,
    value: &str,
    max_chars: usize,
    code: &'static str,
) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::bad_request(
            code,
            format!("{field} must not be empty"),
        ));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(ApiError::bad_request(
            code,
            format!("{field} has {chars} characters; at most {max_chars} are allowed"),
        ));
    }
    Ok(value.to_string())
}

pub async fn create_project(
    runner: &Runner,
    user: &UserId,
    request: CreateProjectRequest,
) -> Result<ProjectView, ApiError> {
    let project = Project {
        id: ProjectId::parse(new_id()).map_err(|err| ApiError::Internal(err.to_string()))?,
        name: bounded_text("name", &request.name, TITLE_MAX_CHARS, "invalid_name")?,
        repo: bounded_text("repo", &request.repo, REPO_MAX_CHARS, "invalid_repo")?,
        default_vm_size: request.default_vm_size.unwrap_or(VmSize::Small),
        owner: user.clone(),
        members: vec![user.clone()],
        created_at: now_ms(),
    };
    if runner.store.create_project(&project).await? == Saved::Conflict {
        return Err(ApiError::Internal("a fresh project id was taken".into()));
    }
    Ok(project.into())
}

pub async fn list_projects(runner: &Runner, user: &UserId) -> Result<Vec<ProjectView>, ApiError> {
    Ok(runner
        .store
        .list_projects_for(user)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub async fn get_project(
    runner: &Runner,
    user: &UserId,
    project: &ProjectId,
) -> Result<ProjectView, ApiError> {
    Ok(member_project(runner.store.as_ref(), user, project)
        .await?
        .into())
}

pub async fn add_member(
    runner: &Runner,
    user: &UserId,
    project: &ProjectId,
    request: AddMemberRequest,
) -> Result<ProjectView, ApiError> {
    let mut project = member_project(runner.store.as_ref(), user, project).await?;
    if &project.owner != user {
        return Err(ApiError::forbidden(
            "not_the_owner",
            "only the project's owner can add members",
        ));
    }
    if !project.members.contains(&request.user_id) {
        if project.members.len() >= PROJECT_MAX_MEMBERS {
            return Err(ApiError::Conflict {
                code: "too_many_members",
                message: format!("a project has at most {PROJECT_MAX_MEMBERS} members"),
            });
        }
        project.members.push(request.user_id);
        runner.store.put_project(&project).await?;
    }
    Ok(project.into())
}

/// Creates a task and its chat session; "Run now" starts it at once.
pub async fn create_task(
    runner: &Runner,
    user: &UserId,
    project_id: &ProjectId,
    request: CreateTaskRequest,
) -> Result<TaskView, ApiError> {
    let project = member_project(runner.store.as_ref(), user, project_id).await?;
    let prompt = request.prompt.trim().to_string();
    if prompt.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_prompt",
            "prompt must not be empty",
        ));
    }
    if prompt.len() > TASK_PROMPT_MAX_BYTES {
        return Err(ApiError::too_large(
            "prompt_too_large",
            format!(
                "the prompt is {} bytes; at most {TASK_PROMPT_MAX_BYTES} are accepted",
                prompt.len()
            ),
        ));
    }
    let title = match request
        .title
        .as_deref()
        .map(str::trim)
        .filter(|title| !title.is_empty())
    {
        Some(title) => bounded_text("title", title, TITLE_MAX_CHARS, "invalid_title")?,
        // The prompt's first line, shortened, names the task when no title is given.
        None => {
            let first_line = prompt.lines().next().unwrap_or_default();
            let mut title: String = first_line.chars().take(80).collect();
            if first_line.chars().count() > 80 {
                title.push('…');
            }
            title
        }
    };
    let now = now_ms();
    let session = ChatSession {
        project_id: project.id.clone(),
        id: SessionId::parse(new_id()).map_err(|err| ApiError::Internal(err.to_string()))?,
        task_id: None,
        workspace_id: None,
        title: title.clone(),
        message_count: 0,
        last_message_at: None,
        created_at: now,
    };
    let (status, reason) = match request.mode {
        SubmitMode::RunNow => (TaskStatus::Queued, "submitted: run now"),
        SubmitMode::Backlog => (TaskStatus::Backlog, "saved to backlog"),
    };
    let task = Task {
        id: TaskId::parse(new_id()).map_err(|err| ApiError::Internal(err.to_string()))?,
        project_id: project.id.clone(),
        title,
        prompt,
        status,
        vm_size: request.vm_size.unwrap_or(project.default_vm_size),
        session_id: session.id.clone(),
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
            .then_some(now + runner.timeouts.start_ms),
        version: 0,
    };
    runner
        .store
        .put_session(&ChatSession {
            task_id: Some(task.id.clone()),
            ..session
        })
        .await?;
    runner.store.save_task(&task, None).await?;
    runner.live.task_changed(&task).await;
    if task.status == TaskStatus::Queued
        && let Err(err) = runner.start(&task).await
    {
        // The task exists and the sweep will fail it if it stays stuck; report what it is.
        tracing::error!(task = %task.id, error = %err, "starting the task failed");
    }
    load_task(runner, &project.id, &task.id).await
}

async fn load_task(
    runner: &Runner,
    project: &ProjectId,
    id: &TaskId,
) -> Result<TaskView, ApiError> {
    runner
        .store
        .get_task(project, id)
        .await?
        .map(Into::into)
        .ok_or_else(|| {
            ApiError::not_found(
                "task_not_found",
                format!("task {id} does not exist in project {project}"),
            )
        })
}

pub async fn get_task(
    runner: &Runner,
    user: &UserId,
    project: &ProjectId,
    id: &TaskId,
) -> Result<TaskView, ApiError> {
    member_project(runner.store.as_ref(), user, project).await?;
    load_task(runner, project, id).await
}

pub async fn list_tasks(
    runner: &Runner,
    user: &UserId,
    project: &ProjectId,
) -> Result<Vec<TaskView>, ApiError> {
    member_project(runner.store.as_ref(), user, project).await?;
    let mut tasks: Vec<TaskView> = runner
        .store
        .list_tasks(project)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    tasks.sort_by_key(|task| std::cmp::Reverse(task.created_at));
    Ok(tasks)
}

pub async fn list_sessions(
    runner: &Runner,
    user: &UserId,
    project: &ProjectId,
) -> Result<Vec<SessionView>, ApiError> {
    member_project(runner.store.as_ref(), user, project).await?;
    let mut sessions: Vec<SessionView> = runner
        .store
        .list_sessions(project)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    sessions.sort_by_key(|session| {
        std::cmp::Reverse(session.last_message_at.unwrap_or(session.created_at))
    });
    Ok(sessions)
}

/// "Run now" for a task saved to the backlog.
pub async fn run_task(
    runner: &Runner,
    user: &UserId,
    project: &ProjectId,
    id: &TaskId,
) -> Result<TaskView, ApiError> {
    member_project(runner.store.as_ref(), user, project).await?;
    let now = now_ms();
    let deadline = now + runner.timeouts.start_ms;
    let mut found = None;
    let queued = runner
        .update_task(project, id, |task| {
            found = Some(task.status);
            if task.status != TaskStatus::Backlog {
                return false;
            }
            transition(
                task,
                TaskStatus::Queued,
                format!("run requested by {user}"),
                now,
                Some(deadline),
            );
            true
        })
        .await?;
    match (queued, found) {
        (Some(task), _) => {
            if let Err(err) = runner.start(&task).await {
                tracing::error!(task = %task.id, error = %err, "starting the task failed");
            }
            load_task(runner, project, id).await
        }
        (None, None) => Err(ApiError::not_found(
            "task_not_found",
            format!("task {id} does not exist in project {project}"),
        )),
        (None, Some(status)) => Err(ApiError::Conflict {
            code: "invalid_transition",
            message: format!("task {id} is {status}; only a backlog task can be run"),
        }),
    }
}

pub async fn cancel_task(
    runner: &Runner,
    user: &UserId,
    project: &ProjectId,
    id: &TaskId,
) -> Result<TaskView, ApiError> {
    member_project(runner.store.as_ref(), user, project).await?;
    let now = now_ms();
    let mut found = None;
    let cancelled = runner
        .update_task(project, id, |task| {
            found = Some(task.status);
            if task.status.is_terminal() {
                return false;
            }
            transition(
                task,
                TaskStatus::Cancelled,
                format!("cancelled by {user}"),
                now,
                None,
            );
            true
        })
        .await?;
    match (cancelled, found) {
        (Some(task), _) => {
            runner.clean_up(&task).await?;
            load_task(runner, project, id).await
        }
        (None, None) => Err(ApiError::not_found(
            "task_not_found",
            format!("task {id} does not exist in project {project}"),
        )),
        (None, Some(status)) => Err(ApiError::Conflict {
            code: "invalid_transition",
            message: format!("task {id} is already {status}"),
        }),
    }
}
