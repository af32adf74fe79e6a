//! Submitting a task: its chat session comes with it, "Run now" queues it and starts what
//! capacity allows, and an `Idempotency-Key` makes a retried submission find the first one's
//! task instead of making a second.

use std::time::Duration;

use hangar_protocol::limits::{TASK_PROMPT_MAX_BYTES, TITLE_MAX_CHARS};
use hangar_protocol::tasks::{CreateTaskRequest, SubmitMode, TaskStatus, TaskTransition, TaskView};
use hangar_protocol::time::now_ms;
use hangar_protocol::{ErrorCode, ProjectId, SessionId, TaskId, UserId};

use super::Tasks;
use crate::domain::access::writable_project;
use crate::domain::error::{Error, Result};
use crate::domain::idempotency::{IdempotencyKey, Submission, task_for};
use crate::domain::ports::Saved;
use crate::domain::projects::{bounded_text, branch};
use crate::domain::records::{ChatSession, Project, Task};

/// Longest title made from a prompt's first line.
const DERIVED_TITLE_CHARS: usize = 80;
/// A repeat waits this long for the first submission, still in flight, to save its task.
const REPEAT_WAIT: Duration = Duration::from_secs(3);
const REPEAT_POLL: Duration = Duration::from_millis(100);
/// A first submission that saved no task this long after claiming its key has died: a
/// repeat makes the task itself, under the id the key holds.
const ABANDONED_AFTER_SECS: u64 = 30;

/// What a submission gave back.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    pub task: TaskView,
    /// True when an earlier submission with the same key made the task.
    pub replayed: bool,
}

/// The task's title: the one given, or (when blank) the prompt's first line, shortened.
fn title_for(request: &CreateTaskRequest, prompt: &str) -> Result<String> {
    checked_title(request.title.as_deref(), prompt)
}

/// A title as given, or (when blank) made from the prompt's first line.
pub(super) fn checked_title(given: Option<&str>, prompt: &str) -> Result<String> {
    let given = given.unwrap_or_default();
    match given.trim().is_empty() {
        // A blank title is checked for length too: the OpenAPI document's maxLength.
        true if given.chars().count() > TITLE_MAX_CHARS => Err(Error::invalid(
            ErrorCode::InvalidTitle,
            format!("title has more than {TITLE_MAX_CHARS} characters"),
        )),
        false => bounded_text("title", given, TITLE_MAX_CHARS, ErrorCode::InvalidTitle),
        true => {
            let first_line = prompt.lines().next().unwrap_or_default();
            let mut title: String = first_line.chars().take(DERIVED_TITLE_CHARS).collect();
            if first_line.chars().count() > DERIVED_TITLE_CHARS {
                title.push('…');
            }
            Ok(title)
        }
    }
}

/// The checked prompt.
fn prompt_of(request: &CreateTaskRequest) -> Result<String> {
    checked_prompt(&request.prompt)
}

/// A prompt trimmed, not empty, within the limit.
pub(super) fn checked_prompt(text: &str) -> Result<String> {
    let prompt = text.trim().to_string();
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
    Ok(prompt)
}

/// A new task (without its id yet) and its session, from a checked request.
fn draft(
    project: &Project,
    user: &UserId,
    request: &CreateTaskRequest,
    start_ms: u64,
) -> Result<(Task, ChatSession)> {
    let prompt = prompt_of(request)?;
    let title = title_for(request, &prompt)?;
    let base_branch = match &request.base_branch {
        Some(name) => branch("baseBranch", name)?,
        None => project.default_branch.clone(),
    };
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
        base_branch,
        output: None,
        kept_until: None,
        deadline: status.is_transient().then_some(now + start_ms),
        version: 0,
        archived_at: None,
    };
    let session = ChatSession {
        project_id: project.id.clone(),
        id: task.session_id.clone(),
        task_id: None,
        workspace_id: None,
        title,
        message_count: 0,
        last_message_at: None,
        created_at: now,
        archived_at: None,
    };
    Ok((task, session))
}

impl Tasks {
    /// Creates a task and its chat session; "Run now" starts it at once, or queues it when
    /// the node quotas leave no room. With `key`, a repeat of an earlier submission (same
    /// key, same body, within 24 hours) gets that submission's task.
    pub async fn create_task(
        &self,
        user: &UserId,
        project_id: &ProjectId,
        request: CreateTaskRequest,
        key: Option<&IdempotencyKey>,
    ) -> Result<Submitted> {
        let project = writable_project(self.store.as_ref(), user, project_id).await?;
        let (mut task, mut session) = draft(&project, user, &request, self.timeouts.start_ms)?;
        if let Some(key) = key {
            match task_for(self.store.as_ref(), (user, &project.id), key, &request).await? {
                Submission::New(id) => task.id = id,
                Submission::Repeat {
                    task_id,
                    claimed_at,
                } => {
                    if let Some(task) = self
                        .first_submission(&project.id, &task_id, claimed_at)
                        .await?
                    {
                        return Ok(Submitted {
                            task,
                            replayed: true,
                        });
                    }
                    task.id = task_id;
                }
            }
        }
        session.task_id = Some(task.id.clone());
        let (session_saved, task_saved) = tokio::join!(
            self.store.put_session(&session),
            self.store.save_task(&task, None)
        );
        session_saved?;
        if task_saved? == Saved::Conflict {
            // A repeat raced another repeat of an abandoned submission, and lost.
            let task = self.load_task(&project.id, &task.id).await?;
            return Ok(Submitted {
                task,
                replayed: true,
            });
        }
        // Viewers hear of it while it starts: neither waits for the other.
        let start = async {
            if task.status == TaskStatus::Queued {
                self.start_queued_logged().await;
            }
        };
        tokio::join!(self.live.task_changed(&task), start);
        let task = self.load_task(&project.id, &task.id).await?;
        Ok(Submitted {
            task,
            replayed: false,
        })
    }

    /// The task of the submission that first used a key: waited for while that submission
    /// may still be saving it; `None` when it died without saving one.
    async fn first_submission(
        &self,
        project: &ProjectId,
        id: &TaskId,
        claimed_at: u64,
    ) -> Result<Option<TaskView>> {
        let started = tokio::time::Instant::now();
        loop {
            if let Some(task) = self.store.get_task(project, id).await? {
                return Ok(Some(task.into()));
            }
            let claimed_ago = (now_ms() / 1000).saturating_sub(claimed_at);
            if claimed_ago >= ABANDONED_AFTER_SECS {
                return Ok(None);
            }
            if started.elapsed() >= REPEAT_WAIT {
                return Err(Error::conflict(
                    ErrorCode::IdempotencyKeyInProgress,
                    format!(
                        "the first request with this Idempotency-Key (task {id}) is still \
                         being made; retry in a few seconds"
                    ),
                ));
            }
            tokio::time::sleep(REPEAT_POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(prompt: &str, title: Option<&str>) -> CreateTaskRequest {
        CreateTaskRequest {
            prompt: prompt.into(),
            title: title.map(Into::into),
            mode: SubmitMode::Backlog,
            vm_size: None,
            base_branch: None,
        }
    }

    #[test]
    fn a_long_first_line_makes_a_shortened_title() {
        let prompt = "x".repeat(DERIVED_TITLE_CHARS + 1);
        let title = title_for(&request(&prompt, None), &prompt).expect("title");
        assert_eq!(title.chars().count(), DERIVED_TITLE_CHARS + 1);
        assert!(title.ends_with('…'));
        let exact = "y".repeat(DERIVED_TITLE_CHARS);
        assert_eq!(
            title_for(&request(&exact, None), &exact).expect("title"),
            exact
        );
    }

    #[test]
    fn an_empty_prompt_is_refused_and_one_past_the_limit_too() {
        assert!(prompt_of(&request("  \n ", None)).is_err());
        let at_limit = "p".repeat(TASK_PROMPT_MAX_BYTES);
        assert!(prompt_of(&request(&at_limit, None)).is_ok());
        let over = "p".repeat(TASK_PROMPT_MAX_BYTES + 1);
        assert!(prompt_of(&request(&over, None)).is_err());
    }
}
