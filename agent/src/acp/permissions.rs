//! Permission requests of the ACP agent. The project's settings pick, per tool kind,
//! whether the request is answered at once (allow, deny) or asked: then the prompt is a
//! message every viewer sees, and the first member's answer, which the node's socket
//! delivers to [`Waiting`], goes back to the agent; nobody answering within the timeout
//! denies. Each request and how it was settled are in the transcript.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    PermissionOption, PermissionOptionKind, RequestPermissionOutcome, RequestPermissionRequest,
    RequestPermissionResponse, SelectedPermissionOutcome,
};
use agent_client_protocol::{Agent, Error, Responder, V1};
use hangar_protocol::node::PermissionAnswered;
use hangar_protocol::permissions::{
    AnsweredBy, PERMISSION_OPTION_ID_MAX_CHARS, PERMISSION_OPTION_NAME_MAX_CHARS,
    PERMISSION_OPTIONS_MAX, PermissionAnswer, PermissionChoice, PermissionInfo, PermissionMode,
    PermissionSettings,
};
use hangar_protocol::{MessageRole, PermissionId, UserId, WorkspaceId};
use tokio::sync::{Mutex as AsyncMutex, oneshot};

use super::updates::wire_name;
use super::{Recorder, record_one};
use crate::outbox::Draft;

/// A member's answer on its way to the agent that asked.
#[derive(Debug)]
struct Answer {
    option_id: String,
    user: UserId,
}

/// Asked permissions waiting for a member's answer, on this node.
#[derive(Debug, Default)]
pub struct Waiting {
    asked: Mutex<HashMap<(WorkspaceId, PermissionId), oneshot::Sender<Answer>>>,
}

impl Waiting {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(WorkspaceId, PermissionId), oneshot::Sender<Answer>>>
    {
        self.asked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn ask(&self, workspace: &WorkspaceId, id: &PermissionId) -> oneshot::Receiver<Answer> {
        let (sender, receiver) = oneshot::channel();
        self.lock().insert((workspace.clone(), id.clone()), sender);
        receiver
    }

    fn forget(&self, workspace: &WorkspaceId, id: &PermissionId) {
        self.lock().remove(&(workspace.clone(), id.clone()));
    }

    /// Drops whatever the workspace's agent still waits on (its session ended).
    pub fn forget_workspace(&self, workspace: &WorkspaceId) {
        self.lock().retain(|(asked_by, _), _| asked_by != workspace);
    }

    /// Hands a member's answer to the agent waiting for it; false when none waits (answered
    /// already, timed out, or not this node's).
    pub fn answer(&self, answered: PermissionAnswered) -> bool {
        let waiting = self
            .lock()
            .remove(&(answered.workspace_id, answered.permission_id));
        waiting.is_some_and(|sender| {
            sender
                .send(Answer {
                    option_id: answered.option_id,
                    user: answered.user_id,
                })
                .is_ok()
        })
    }
}

/// How one workspace's agent gets its permissions answered.
#[derive(Debug, Clone)]
pub struct Asking {
    pub settings: PermissionSettings,
    pub workspace: WorkspaceId,
    pub waiting: Arc<Waiting>,
}

/// The options a viewer can pick: the agent's, fitted to the wire's limits (an option whose
/// id is too long to send back cannot be picked, so it is not shown).
fn choices(request: &RequestPermissionRequest) -> Vec<PermissionChoice> {
    request
        .options
        .iter()
        .filter(|option| {
            let chars = option.option_id.to_string().chars().count();
            (1..=PERMISSION_OPTION_ID_MAX_CHARS).contains(&chars)
        })
        .take(PERMISSION_OPTIONS_MAX)
        .map(|option| PermissionChoice {
            option_id: option.option_id.to_string(),
            name: option
                .name
                .chars()
                .take(PERMISSION_OPTION_NAME_MAX_CHARS)
                .collect(),
            kind: wire_name(&option.kind).unwrap_or_default(),
        })
        .collect()
}

/// The option a policy picks: once rather than always.
fn pick(request: &RequestPermissionRequest, allow: bool) -> Option<&PermissionOption> {
    let preferred: [PermissionOptionKind; 2] = if allow {
        [
            PermissionOptionKind::AllowOnce,
            PermissionOptionKind::AllowAlways,
        ]
    } else {
        [
            PermissionOptionKind::RejectOnce,
            PermissionOptionKind::RejectAlways,
        ]
    };
    preferred
        .iter()
        .find_map(|kind| request.options.iter().find(|option| option.kind == *kind))
}

fn outcome(option: Option<&str>) -> RequestPermissionOutcome {
    match option {
        Some(id) => {
            RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(id.to_string()))
        }
        None => RequestPermissionOutcome::Cancelled,
    }
}

/// How an option reads in the transcript: `Allow once (allow_once)`.
fn described(request: &RequestPermissionRequest, option_id: Option<&str>) -> String {
    option_id
        .and_then(|id| {
            request
                .options
                .iter()
                .find(|option| option.option_id.to_string() == id)
        })
        .map_or("cancelled".into(), |option| {
            format!(
                "{} ({})",
                option.name,
                wire_name(&option.kind).unwrap_or_default()
            )
        })
}

fn message(content: String, info: PermissionInfo) -> Draft {
    Draft {
        role: MessageRole::System,
        content,
        tool: None,
        permission: Some(info),
        id: None,
    }
}

fn title(request: &RequestPermissionRequest) -> String {
    request
        .tool_call
        .fields
        .title
        .clone()
        .unwrap_or_else(|| request.tool_call.tool_call_id.to_string())
}

/// Answers one permission request: at once under the policy for its tool kind, or by asking
/// (off the dispatch loop, which keeps taking the agent's updates meanwhile).
pub(super) async fn handle(
    request: RequestPermissionRequest,
    responder: Responder<RequestPermissionResponse, V1>,
    cx: ConnectionTo<Agent>,
    recorder: Arc<AsyncMutex<Recorder>>,
    asking: &Asking,
) -> Result<(), Error> {
    let kind = request.tool_call.fields.kind.as_ref().and_then(wire_name);
    let title = title(&request);
    let id = PermissionId::new();
    let options = choices(&request);
    let allow = match asking.settings.mode_for(kind.as_deref()) {
        PermissionMode::Allow => true,
        PermissionMode::Deny => false,
        // Nothing a viewer could pick: as if nobody answered.
        PermissionMode::Ask if options.is_empty() => false,
        PermissionMode::Ask => {
            let answered = asking.waiting.ask(&asking.workspace, &id);
            let prompt = message(
                format!("Permission requested: {title}."),
                PermissionInfo {
                    permission_id: id.clone(),
                    options,
                    answer: None,
                },
            );
            record_one(&recorder, prompt).await?;
            let timeout = Duration::from_secs(u64::from(asking.settings.timeout_secs));
            let asking = asking.clone();
            return cx.spawn(async move {
                let (option, content, answer) = match tokio::time::timeout(timeout, answered).await
                {
                    Ok(Ok(answer)) => {
                        let content = format!(
                            "Permission for {title}: {}, answered by {}.",
                            described(&request, Some(&answer.option_id)),
                            answer.user
                        );
                        let given = PermissionAnswer {
                            option_id: Some(answer.option_id.clone()),
                            by: AnsweredBy::User,
                            user_id: Some(answer.user),
                        };
                        (Some(answer.option_id), content, given)
                    }
                    _ => {
                        asking.waiting.forget(&asking.workspace, &id);
                        let option = pick(&request, false).map(|o| o.option_id.to_string());
                        let content = format!(
                            "Permission for {title}: nobody answered within {} s; denied: {}.",
                            timeout.as_secs(),
                            described(&request, option.as_deref())
                        );
                        let given = PermissionAnswer {
                            option_id: option.clone(),
                            by: AnsweredBy::Timeout,
                            user_id: None,
                        };
                        (option, content, given)
                    }
                };
                let settled = PermissionInfo {
                    permission_id: id,
                    options: Vec::new(),
                    answer: Some(answer),
                };
                record_one(&recorder, message(content, settled)).await?;
                responder.respond(RequestPermissionResponse::new(outcome(option.as_deref())))
            });
        }
    };
    let option = pick(&request, allow).map(|option| option.option_id.to_string());
    let content = format!(
        "Permission requested: {title}. Answered: {}.",
        described(&request, option.as_deref())
    );
    let info = PermissionInfo {
        permission_id: id,
        options,
        answer: Some(PermissionAnswer {
            option_id: option.clone(),
            by: AnsweredBy::Policy,
            user_id: None,
        }),
    };
    record_one(&recorder, message(content, info)).await?;
    responder.respond(RequestPermissionResponse::new(outcome(option.as_deref())))
}
