//! What a node fetches for its workspaces: what to run (a create command's request, and its
//! assignments, with fresh callback tokens), and a workspace's secrets just before they are
//! used (the git credential before a clone or a push, the agent's secret variables before
//! the agent starts).

use hangar_protocol::agent::AgentSecrets;
use hangar_protocol::forge::GitCredential;
use hangar_protocol::git::{CheckoutSpec, work_branch};
use hangar_protocol::node::{Assignments, PermissionAnswered};
use hangar_protocol::tasks::{CreateWorkspaceRequest, TaskStatus, WorkspaceStatus};
use hangar_protocol::{ErrorCode, NodeId, WorkspaceId};

use super::Tasks;
use crate::domain::agent::read_secrets;
use crate::domain::error::{Error, Result};
use crate::domain::records::{Project, Task, Workspace};

impl Tasks {
    /// `GET /api/nodes/{id}/assignments`: the workspaces `node` should run now.
    pub async fn assignments(&self, node: &NodeId) -> Result<Assignments> {
        let mut workspaces = Vec::new();
        let mut kept = Vec::new();
        let mut answers = Vec::new();
        let mut follow_ups = Vec::new();
        for workspace in self.store.node_workspaces(node).await? {
            if workspace.status == WorkspaceStatus::Kept {
                kept.push(workspace.id);
                continue;
            }
            let Some(task_id) = &workspace.task_id else {
                continue;
            };
            let task = self.store.get_task(&workspace.project_id, task_id).await?;
            if let Some(task) = task.filter(|task| {
                matches!(task.status, TaskStatus::Starting | TaskStatus::Running)
                    && task.workspace_id.as_ref() == Some(&workspace.id)
            }) {
                answers.extend(
                    self.store
                        .answered_permissions(&workspace.session_id)
                        .await?
                        .into_iter()
                        .filter_map(|permission| {
                            let answer = permission.answer?;
                            Some(PermissionAnswered {
                                workspace_id: workspace.id.clone(),
                                permission_id: permission.id,
                                option_id: answer.option_id?,
                                user_id: answer.user_id?,
                            })
                        }),
                );
                let request = self.workspace_request(&task, &workspace).await?;
                follow_ups.extend(request.follow_ups.iter().cloned());
                workspaces.push(request);
            }
        }
        Ok(Assignments {
            workspaces,
            kept,
            answers,
            follow_ups,
        })
    }

    /// What a node is told to run for `workspace`, with a fresh callback token.
    pub(super) async fn workspace_request(
        &self,
        task: &Task,
        workspace: &Workspace,
    ) -> Result<CreateWorkspaceRequest> {
        // Three reads at once: they are on the path from submit to running.
        let (project, last_seq, follow_ups) = tokio::join!(
            self.store.get_project(&task.project_id),
            self.store.last_message_seq(&task.session_id),
            self.pending_follow_ups(workspace)
        );
        let project = project?.ok_or_else(|| {
            Error::not_found(
                ErrorCode::ProjectNotFound,
                format!("project {} is gone", task.project_id),
            )
        })?;
        let acp_command = project.agent_command();
        let follow_ups = follow_ups?;
        Ok(CreateWorkspaceRequest {
            workspace_id: workspace.id.clone(),
            project_id: task.project_id.clone(),
            session_id: task.session_id.clone(),
            checkout: CheckoutSpec {
                repo: project.repo,
                base_branch: task.base_branch.clone(),
                branch: work_branch(task.id.as_str(), &task.title),
                title: task.title.clone(),
                submitted_by: task.created_by.clone(),
                author: self.repos.author.clone(),
            },
            prompt: task.prompt.clone(),
            callback_token: self.tokens.workspace_token(
                &workspace.id,
                (self.timeouts.run_ms + self.timeouts.start_ms) / 1000 + 3600,
            )?,
            api_url: self.address.api_url.clone(),
            acp_command,
            first_seq: last_seq? + 1,
            reuse: workspace.reuses.clone(),
            agent_secrets: !project.agent.secret_names.is_empty(),
            agent_env: project.agent.env,
            setup_script: project.agent.setup_script,
            permissions: Some(project.permissions),
            context: match follow_ups.is_empty() {
                true => None,
                false => self.context(&task.session_id).await?,
            },
            follow_ups,
        })
    }

    /// The credential git uses for the workspace's repository, fetched by its node just
    /// before a clone or a push.
    pub async fn git_credential(&self, id: &WorkspaceId) -> Result<GitCredential> {
        let project = self.workspace_project(id).await?;
        self.forges.git_credential(&project).await
    }

    /// The secret variables of the workspace's agent, fetched by its node just before the
    /// agent starts.
    pub async fn agent_secrets(&self, id: &WorkspaceId) -> Result<AgentSecrets> {
        let project = self.workspace_project(id).await?;
        if project.agent.secret_names.is_empty() {
            return Ok(AgentSecrets::default());
        }
        Ok(AgentSecrets {
            env: read_secrets(&self.forges, &project.id).await?,
        })
    }

    /// The project of a workspace whose token is still good.
    async fn workspace_project(&self, id: &WorkspaceId) -> Result<Project> {
        let workspace = self.open_workspace(id).await?;
        self.store
            .get_project(&workspace.project_id)
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    ErrorCode::ProjectNotFound,
                    format!("project {} is gone", workspace.project_id),
                )
            })
    }
}
