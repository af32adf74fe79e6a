//! The API's paths, once: the router mounts the templates, and the agent, the UI and the
//! tests build concrete paths with the functions below, which fill the same templates.

use crate::ids::{NodeId, PermissionId, ProjectId, SessionId, TaskId, WorkspaceId};

pub const PROJECTS: &str = "/api/projects";
pub const PROJECT: &str = "/api/projects/{projectId}";
pub const MEMBERS: &str = "/api/projects/{projectId}/members";
/// A member by user id, or an invitation by email.
pub const MEMBER: &str = "/api/projects/{projectId}/members/{member}";
/// The signed-in user (`GET`), and the record of a sign-in (`POST`).
pub const ME: &str = "/api/me";
/// The signed-in user's personal API tokens, and one of them.
pub const API_TOKENS: &str = "/api/me/tokens";
pub const API_TOKEN: &str = "/api/me/tokens/{tokenId}";
/// What the page needs before anyone signs in.
pub const CONFIG: &str = "/api/config";
pub const TASKS: &str = "/api/projects/{projectId}/tasks";
pub const TASK: &str = "/api/projects/{projectId}/tasks/{taskId}";
pub const TASK_RUN: &str = "/api/projects/{projectId}/tasks/{taskId}/run";
pub const TASK_CANCEL: &str = "/api/projects/{projectId}/tasks/{taskId}/cancel";
pub const TASK_RETRY: &str = "/api/projects/{projectId}/tasks/{taskId}/retry";
pub const TASK_DISCARD: &str = "/api/projects/{projectId}/tasks/{taskId}/discard";
pub const TASK_STOP: &str = "/api/projects/{projectId}/tasks/{taskId}/stop";
/// Hides an ended or backlog task and its session, read-only (`unarchive` shows it again).
pub const TASK_ARCHIVE: &str = "/api/projects/{projectId}/tasks/{taskId}/archive";
pub const TASK_UNARCHIVE: &str = "/api/projects/{projectId}/tasks/{taskId}/unarchive";
/// Hides a project, read-only (owner only).
pub const PROJECT_ARCHIVE: &str = "/api/projects/{projectId}/archive";
pub const PROJECT_UNARCHIVE: &str = "/api/projects/{projectId}/unarchive";
pub const SESSIONS: &str = "/api/projects/{projectId}/sessions";
pub const SESSION_MESSAGES: &str = "/api/projects/{projectId}/sessions/{sessionId}/messages";
pub const SESSION_PERMISSION: &str =
    "/api/projects/{projectId}/sessions/{sessionId}/permissions/{permissionId}";
pub const WORKSPACE_MESSAGES: &str = "/api/workspaces/{workspaceId}/messages";
pub const WORKSPACE_DRAFTS: &str = "/api/workspaces/{workspaceId}/drafts";
pub const WORKSPACE_STARTED: &str = "/api/workspaces/{workspaceId}/started";
pub const WORKSPACE_STATUS: &str = "/api/workspaces/{workspaceId}/status";
pub const WORKSPACE_GIT_CREDENTIAL: &str = "/api/workspaces/{workspaceId}/git-credential";
pub const WORKSPACE_AGENT_SECRETS: &str = "/api/workspaces/{workspaceId}/agent-secrets";
pub const NODE_READY: &str = "/api/nodes/{nodeId}/ready";
pub const NODE_ASSIGNMENTS: &str = "/api/nodes/{nodeId}/assignments";

/// The local stack's WebSocket endpoint (API Gateway's WebSocket API in production), where
/// viewers and nodes connect.
pub const LIVE_SOCKET: &str = "/ws";

/// `template` with each `{name}` segment replaced, in order, by `values`.
pub fn fill(template: &str, values: &[&str]) -> String {
    let mut path = String::with_capacity(template.len() + 64);
    let mut values = values.iter();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        path.push_str(values.next().copied().unwrap_or_default());
        rest = &rest[open + close + 1..];
    }
    path.push_str(rest);
    path
}

pub fn project(project: &ProjectId) -> String {
    fill(PROJECT, &[project.as_str()])
}

pub fn members(project: &ProjectId) -> String {
    fill(MEMBERS, &[project.as_str()])
}

pub fn tasks(project: &ProjectId) -> String {
    fill(TASKS, &[project.as_str()])
}

pub fn task(project: &ProjectId, task: &TaskId) -> String {
    fill(TASK, &[project.as_str(), task.as_str()])
}

pub fn task_run(project: &ProjectId, task: &TaskId) -> String {
    fill(TASK_RUN, &[project.as_str(), task.as_str()])
}

pub fn task_retry(project: &ProjectId, task: &TaskId) -> String {
    fill(TASK_RETRY, &[project.as_str(), task.as_str()])
}

pub fn task_discard(project: &ProjectId, task: &TaskId) -> String {
    fill(TASK_DISCARD, &[project.as_str(), task.as_str()])
}

pub fn task_stop(project: &ProjectId, task: &TaskId) -> String {
    fill(TASK_STOP, &[project.as_str(), task.as_str()])
}

pub fn task_cancel(project: &ProjectId, task: &TaskId) -> String {
    fill(TASK_CANCEL, &[project.as_str(), task.as_str()])
}

pub fn sessions(project: &ProjectId) -> String {
    fill(SESSIONS, &[project.as_str()])
}

pub fn session_messages(project: &ProjectId, session: &SessionId) -> String {
    fill(SESSION_MESSAGES, &[project.as_str(), session.as_str()])
}

pub fn session_permission(
    project: &ProjectId,
    session: &SessionId,
    permission: &PermissionId,
) -> String {
    fill(
        SESSION_PERMISSION,
        &[project.as_str(), session.as_str(), permission.as_str()],
    )
}

/// A page of a session's history: messages after `after`, at most `limit`.
pub fn messages_page(project: &ProjectId, session: &SessionId, after: u64, limit: u32) -> String {
    format!(
        "{}?after={after}&limit={limit}",
        session_messages(project, session)
    )
}

/// The newest page of a session's messages (`before: None`), or the one below `before`.
pub fn messages_before(
    project: &ProjectId,
    session: &SessionId,
    before: Option<u64>,
    limit: u32,
) -> String {
    let path = session_messages(project, session);
    match before {
        Some(before) => format!("{path}?before={before}&limit={limit}"),
        None => format!("{path}?limit={limit}"),
    }
}

pub fn workspace_messages(workspace: &WorkspaceId) -> String {
    fill(WORKSPACE_MESSAGES, &[workspace.as_str()])
}

pub fn workspace_agent_secrets(workspace: &WorkspaceId) -> String {
    fill(WORKSPACE_AGENT_SECRETS, &[workspace.as_str()])
}

pub fn workspace_git_credential(workspace: &WorkspaceId) -> String {
    fill(WORKSPACE_GIT_CREDENTIAL, &[workspace.as_str()])
}

pub fn workspace_status(workspace: &WorkspaceId) -> String {
    fill(WORKSPACE_STATUS, &[workspace.as_str()])
}

pub fn workspace_drafts(workspace: &WorkspaceId) -> String {
    fill(WORKSPACE_DRAFTS, &[workspace.as_str()])
}

pub fn workspace_started(workspace: &WorkspaceId) -> String {
    fill(WORKSPACE_STARTED, &[workspace.as_str()])
}

pub fn node_ready(node: &NodeId) -> String {
    fill(NODE_READY, &[node.as_str()])
}

pub fn node_assignments(node: &NodeId) -> String {
    fill(NODE_ASSIGNMENTS, &[node.as_str()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled_in_order() {
        let project = ProjectId::parse("p1").unwrap();
        let session = SessionId::parse("s1").unwrap();
        assert_eq!(
            session_messages(&project, &session),
            "/api/projects/p1/sessions/s1/messages"
        );
        assert_eq!(
            messages_page(&project, &session, 7, 50),
            "/api/projects/p1/sessions/s1/messages?after=7&limit=50"
        );
        assert_eq!(fill(PROJECTS, &[]), PROJECTS);
        assert_eq!(
            node_ready(&NodeId::parse("n1").unwrap()),
            "/api/nodes/n1/ready"
        );
    }
}
