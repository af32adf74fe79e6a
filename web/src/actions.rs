//! What a card's buttons do to its task: run, cancel, retry, discard its kept workspace,
//! stop the agent's turn, archive it.

use std::rc::Rc;

use hangar_protocol::TaskId;

use crate::state::Ctx;

/// What a task card's button asks for.
#[derive(Clone, Copy)]
pub enum TaskAction {
    Run,
    Cancel,
    Retry,
    Discard,
    /// End the agent's current turn.
    Stop,
    /// Hide an ended or backlog task and its session (read-only until unarchived).
    Archive,
    /// Delete an ended or backlog task and its session, once the user confirms.
    Delete,
}

impl Ctx {
    /// Runs or cancels a task and shows the answer.
    pub async fn act_on_task(self: &Rc<Self>, id: TaskId, action: TaskAction) {
        let answer = match action {
            TaskAction::Run => self.api.run_task(&self.project_id, &id).await,
            TaskAction::Cancel => self.api.cancel_task(&self.project_id, &id).await,
            TaskAction::Retry => self.api.retry_task(&self.project_id, &id).await,
            TaskAction::Discard => self.api.discard_task(&self.project_id, &id).await,
            TaskAction::Stop => self.api.stop_task(&self.project_id, &id).await,
            TaskAction::Archive => self.api.archive_task(&self.project_id, &id).await,
            TaskAction::Delete => return self.delete_task(id).await,
        };
        match answer {
            Ok(task) => self.upsert_task(task),
            Err(failure) => self.fail(failure),
        }
    }

    async fn delete_task(self: &Rc<Self>, id: TaskId) {
        let confirmed = web_sys::window()
            .and_then(|w| {
                w.confirm_with_message(
                    "Delete this task and its conversation? This cannot be undone.",
                )
                .ok()
            })
            .unwrap_or(false);
        if !confirmed {
            return;
        }
        let session = self.page.tasks.with_untracked(|tasks| {
            tasks
                .iter()
                .find(|t| t.id == id)
                .map(|t| t.session_id.clone())
        });
        match self.api.delete_task(&self.project_id, &id).await {
            Ok(()) => {
                if let Some(session) = session {
                    self.drop_task(&id, &session);
                }
            }
            Err(failure) => self.fail(failure),
        }
    }
}
