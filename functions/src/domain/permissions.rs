//! Permission prompts on the control plane's side. The node agent stays the one writer of a
//! session's transcript: a prompt arrives as a message (ingest also keeps it here, by its
//! id), a member's answer is kept here first-answer-wins and pushed to the node, and the
//! agent's message saying how the permission was settled (the answer, or its timeout)
//! settles it here too, so a late answer is told it came too late.

use hangar_protocol::node::{NodeCommand, PermissionAnswered};
use hangar_protocol::permissions::{
    AnswerPermissionRequest, AnsweredBy, PermissionAnswer, PermissionChoice, PermissionStatus,
    PermissionView,
};
use hangar_protocol::tasks::{TaskStatus, WorkspaceStatus};
use hangar_protocol::time::now_ms;
use hangar_protocol::webhooks::WebhookEvent;
use hangar_protocol::{
    ChatMessage, ErrorCode, PermissionId, ProjectId, SessionId, UserId, WorkspaceId,
};
use serde::{Deserialize, Serialize};

use super::access::member_project;
use super::error::{Error, Result};
use super::live::Live;
use super::ports::{Saved, Store, StoreError};

/// A permission the agent of `workspace_id` asked the session's viewers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    pub session_id: SessionId,
    pub id: PermissionId,
    pub workspace_id: WorkspaceId,
    /// The seq of the prompt message.
    pub seq: u64,
    pub options: Vec<PermissionChoice>,
    pub status: PermissionStatus,
    #[serde(default)]
    pub answer: Option<PermissionAnswer>,
    pub asked_at: u64,
}

impl From<Permission> for PermissionView {
    fn from(permission: Permission) -> Self {
        PermissionView {
            permission_id: permission.id,
            status: permission.status,
            options: permission.options,
            answer: permission.answer,
        }
    }
}

/// Keeps what the stored messages of `workspace` say about its permissions: a prompt opens
/// one (a resend finds it open already), an answer by a member or a timeout settles it.
/// Answers the policy gave at once were never asked, so nothing is kept for them.
pub async fn note_permissions(
    store: &dyn Store,
    live: &Live,
    (project, workspace): (&ProjectId, &WorkspaceId),
    session: &SessionId,
    messages: &[ChatMessage],
) -> std::result::Result<(), StoreError> {
    for message in messages {
        let Some(info) = &message.permission else {
            continue;
        };
        match &info.answer {
            None => {
                let permission = Permission {
                    session_id: session.clone(),
                    id: info.permission_id.clone(),
                    workspace_id: workspace.clone(),
                    seq: message.seq,
                    options: info.options.clone(),
                    status: PermissionStatus::Pending,
                    answer: None,
                    asked_at: message.created_at,
                };
                if store.open_permission(&permission).await? {
                    let event = WebhookEvent::PermissionWaiting {
                        project_id: project.clone(),
                        session_id: session.clone(),
                        permission_id: info.permission_id.clone(),
                        asked: message.content.clone(),
                        options: info.options.clone(),
                        at: now_ms(),
                    };
                    live.notify(project, event).await;
                }
            }
            Some(answer) if answer.by != AnsweredBy::Policy => {
                store
                    .settle_permission(session, &info.permission_id, answer)
                    .await?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `POST .../sessions/{s}/permissions/{id}`: a member answers; the first answer wins and
/// goes to the agent that asked.
pub async fn answer_permission(
    store: &dyn Store,
    live: &Live,
    user: &UserId,
    project: &ProjectId,
    session: &SessionId,
    id: &PermissionId,
    request: AnswerPermissionRequest,
) -> Result<PermissionView> {
    member_project(store, user, project).await?;
    let not_found = || {
        Error::not_found(
            ErrorCode::PermissionNotFound,
            format!("session {session} of project {project} has no permission {id}"),
        )
    };
    let chat = store
        .get_session(project, session)
        .await?
        .ok_or_else(not_found)?;
    let mut permission = store
        .get_permission(session, id)
        .await?
        .ok_or_else(not_found)?;
    if permission.status != PermissionStatus::Pending {
        return Err(already_answered(&permission));
    }
    if !permission
        .options
        .iter()
        .any(|option| option.option_id == request.option_id)
    {
        let offered: Vec<&str> = permission
            .options
            .iter()
            .map(|option| option.option_id.as_str())
            .collect();
        return Err(Error::invalid(
            ErrorCode::InvalidOption,
            format!(
                "optionId {:?} is not one of the options offered: {}",
                request.option_id,
                offered.join(", ")
            ),
        ));
    }
    // The task's status is written before its workspace's: a task that ended takes no
    // answer even while its workspace still reads as running.
    let task_runs = match &chat.task_id {
        Some(task) => store
            .get_task(project, task)
            .await?
            .is_some_and(|task| task.status == TaskStatus::Running),
        None => true,
    };
    let workspace = store.get_workspace(&permission.workspace_id).await?;
    let node = match workspace {
        Some(workspace) if task_runs && workspace.status == WorkspaceStatus::Running => {
            workspace.node_id
        }
        _ => {
            return Err(Error::conflict(
                ErrorCode::PermissionClosed,
                format!("the agent that asked for permission {id} no longer runs"),
            ));
        }
    };
    let answer = PermissionAnswer {
        option_id: Some(request.option_id.clone()),
        by: AnsweredBy::User,
        user_id: Some(user.clone()),
    };
    if store.answer_permission(session, id, &answer).await? == Saved::Conflict {
        let now = store
            .get_permission(session, id)
            .await?
            .ok_or_else(not_found)?;
        return Err(already_answered(&now));
    }
    permission.status = PermissionStatus::Answered;
    permission.answer = Some(answer);
    tracing::info!(%session, permission = %id, %user, option = %request.option_id, at = now_ms(), "permission answered");
    if let Some(node) = node {
        let command = NodeCommand::AnswerPermission(PermissionAnswered {
            workspace_id: permission.workspace_id.clone(),
            permission_id: id.clone(),
            option_id: request.option_id,
            user_id: user.clone(),
        });
        // A push that finds no socket is not lost: the node's assignments carry the answer.
        if let Err(err) = live.send_to_node(&node, &command).await {
            tracing::warn!(%node, error = %err, "cannot push the answer; the node finds it when it converges");
        }
    }
    Ok(permission.into())
}

fn already_answered(permission: &Permission) -> Error {
    let how = match permission.answer.as_ref().map(|answer| answer.by) {
        Some(AnsweredBy::Timeout) => "nobody answered in time; it was denied".to_string(),
        _ => match permission
            .answer
            .as_ref()
            .and_then(|answer| answer.user_id.as_ref())
        {
            Some(user) => format!("{user} answered it first"),
            None => "it was answered already".to_string(),
        },
    };
    Error::conflict(
        ErrorCode::PermissionAnswered,
        format!("permission {} is settled: {how}", permission.id),
    )
}
