//! The steps that move a queued task along: a warm node or a new one, the node's ready
//! callback, the workspace's start (a command pushed to the node, acknowledged by the node),
//! and the outcome the node reports. No step waits on a node: each records the desired state
//! and sends a command; the node's callbacks move the task on.

use hangar_protocol::git::{TaskOutput, cut};
use hangar_protocol::limits::REASON_MAX_CHARS;
use hangar_protocol::node::NodeCommand;
use hangar_protocol::tasks::{
    NodeStatus, TaskStatus, WorkspaceOutcome, WorkspaceStatus, WorkspaceStatusReport,
};
use hangar_protocol::time::now_ms;
use hangar_protocol::{ErrorCode, NodeId, WorkspaceId};

use super::Tasks;
use super::queue::Started;
use crate::domain::error::{Error, Result};
use crate::domain::ports::{NodeLaunch, Reserved};
use crate::domain::records::{Node, Task, Workspace};

impl Tasks {
    /// Moves a queued task on: a warm node of its project if one fits, else a new one if
    /// the quotas leave room.
    pub(super) async fn start(&self, task: &Task) -> Result<Started> {
        // A retry goes back to its kept workspace while its node holds it.
        if let Some(node) = self.reclaim_kept(task).await? {
            self.start_workspace(task, node).await?;
            return Ok(Started::Yes);
        }
        match self.pool.claim_node(task).await? {
            Some(node) => {
                self.start_workspace(task, node.clone()).await?;
                self.pool.forget_warm_timeout(&node).await;
                Ok(Started::Yes)
            }
            None => self.provision_for(task).await,
        }
    }

    /// Creates a node for `task` (taking its place in the quotas); its agent calls
    /// [`Tasks::node_ready`] when it is up.
    async fn provision_for(&self, task: &Task) -> Result<Started> {
        let now = now_ms();
        let mut node = Node::creating_for(task, now);
        node.image = self.pool.release.image.clone();
        if let Reserved::Full(scope) = self.store.create_node(&node, self.pool.quotas).await? {
            return Ok(Started::NoCapacity(scope));
        }
        let deadline = now + self.timeouts.provision_ms;
        let moved = self
            .update_task(&task.project_id, &task.id, |task| {
                if task.status != TaskStatus::Queued {
                    return false;
                }
                task.node_id = Some(node.id.clone());
                task.transition(
                    TaskStatus::Provisioning,
                    format!("no warm {} node; provisioning node {}", node.size, node.id),
                    now,
                    Some(deadline),
                );
                true
            })
            .await?;
        if moved.is_none() {
            // Cancelled meanwhile: the node record is dropped before anything was started.
            self.pool.mark_destroyed(&node.id).await?;
            return Ok(Started::Yes);
        }
        let launch = NodeLaunch {
            node_id: node.id.clone(),
            project_id: task.project_id.clone(),
            size: node.size,
            api_url: self.address.api_url.clone(),
            socket_url: self.address.socket_url.clone(),
            node_token: self
                .tokens
                .node_token(&node.id, self.timeouts.max_node_lifetime_ms / 1000)?,
        };
        match self.pool.provisioner.provision(&launch).await {
            Ok(provider_id) => {
                tracing::info!(node = %node.id, %provider_id, "provisioning a node");
                self.pool
                    .update_node(&node.id, |node| {
                        node.provider_id = Some(provider_id.clone());
                        true
                    })
                    .await?;
            }
            Err(err) => {
                self.pool.mark_destroyed(&node.id).await?;
                self.fail_task(task, format!("could not provision a node: {err}"))
                    .await?;
            }
        }
        Ok(Started::Yes)
    }

    /// A new node's agent is up. The node goes to its task, or to the pool when the task no
    /// longer needs it. A repeated callback is fine.
    pub async fn node_ready(&self, id: &NodeId, agent_version: Option<String>) -> Result<()> {
        let node = self.store.get_node(id).await?.ok_or_else(|| {
            Error::not_found(ErrorCode::NodeNotFound, format!("node {id} does not exist"))
        })?;
        if node.status != NodeStatus::Creating {
            if node.status == NodeStatus::Claimed {
                // A repeated callback: the first may have timed out before the work started.
                return self.resume_on_ready(node).await;
            }
            if node.status == NodeStatus::Warm {
                return Ok(()); // a repeated callback after the node went to the pool
            }
            return Err(Error::conflict(
                ErrorCode::NodeNotCreating,
                format!("node {id} is {}, not creating", node.status),
            ));
        }
        let claimed = self
            .pool
            .update_node(id, |node| {
                if node.status != NodeStatus::Creating {
                    return false;
                }
                node.ready(agent_version.clone());
                true
            })
            .await?;
        let Some(node) = claimed else {
            return Ok(());
        };
        tracing::info!(node = %node.id, version = ?node.agent_version, "node ready");
        let task = match (&node.project_id, &node.task_id) {
            (Some(project), Some(task)) => self.store.get_task(project, task).await?,
            _ => None,
        };
        match task {
            Some(task) if task.status == TaskStatus::Provisioning && task.holds(&node.id) => {
                self.start_workspace(&task, node).await
            }
            _ => {
                self.pool.release_node(&node).await?;
                self.start_queued().await
            }
        }
    }

    /// Starts the work of a ready node's task if no earlier callback got that far.
    async fn resume_on_ready(&self, node: Node) -> Result<()> {
        let task = match (&node.project_id, &node.task_id) {
            (Some(project), Some(task)) => self.store.get_task(project, task).await?,
            _ => None,
        };
        match task {
            Some(task) if task.status == TaskStatus::Provisioning && task.holds(&node.id) => {
                tracing::info!(node = %node.id, task = %task.id, "a repeated ready callback starts the work");
                self.start_workspace(&task, node).await
            }
            _ => Ok(()),
        }
    }

    /// Creates the task's workspace on `node` (claimed for it): records it, moves the task to
    /// `starting` and pushes the create command. The node's acknowledgement
    /// ([`Tasks::workspace_started`]) moves the task to `running`.
    pub async fn start_workspace(&self, task: &Task, node: Node) -> Result<()> {
        let now = now_ms();
        let mut workspace = Workspace::creating(task, &node.id, now);
        // A retry on the node that kept its workspace takes the directory over.
        let kept = task
            .workspace_id
            .clone()
            .filter(|_| task.kept_until.is_some() && task.holds(&node.id));
        workspace.reuses = kept.clone();
        let start_deadline = now + self.timeouts.start_ms;
        // The workspace record and the task's move are independent; both stand before the
        // command goes out (the node's acknowledgement needs them).
        let recorded = self.store.put_workspace(&workspace);
        let starting = self.change_task(&task.project_id, &task.id, |task| {
            if !matches!(task.status, TaskStatus::Queued | TaskStatus::Provisioning) {
                return false;
            }
            task.node_id = Some(node.id.clone());
            task.workspace_id = Some(workspace.id.clone());
            task.kept_until = None;
            task.transition(
                TaskStatus::Starting,
                format!("starting workspace {} on node {}", workspace.id, node.id),
                now,
                Some(start_deadline),
            );
            true
        });
        let (recorded, starting) = tokio::join!(recorded, starting);
        recorded?;
        if let Some(kept) = &kept
            && let Some(old) = self.store.get_workspace(kept).await?
        {
            // Taken over, not destroyed: no command goes to the node for it.
            self.store.put_workspace(&old.closed(now)).await?;
        }
        let Some(task) = starting? else {
            self.store.put_workspace(&workspace.closed(now)).await?;
            // Cancelled while the node was found: give it back. A concurrent start of the
            // same task on this node (a repeated callback) won: the node stays with it.
            let current = self.store.get_task(&task.project_id, &task.id).await?;
            if current.is_none_or(|task| task.status.is_terminal() || !task.holds(&node.id)) {
                return self.pool.release_node(&node).await;
            }
            return Ok(());
        };
        // The command goes out beside what only viewers need: the task's frame and the
        // session's link to its workspace.
        let (_, linked, sent) = tokio::join!(
            self.live.task_changed(&task),
            self.link_session(&task, &workspace),
            self.send_create(&task, &workspace)
        );
        linked.and(sent)
    }

    /// Records the workspace on the task's chat session.
    async fn link_session(&self, task: &Task, workspace: &Workspace) -> Result<()> {
        if let Some(mut session) = self
            .store
            .get_session(&task.project_id, &task.session_id)
            .await?
        {
            session.workspace_id = Some(workspace.id.clone());
            self.store.put_session(&session).await?;
        }
        Ok(())
    }

    /// Pushes the create command of `workspace` to its node (again, from the sweep).
    pub async fn send_create(&self, task: &Task, workspace: &Workspace) -> Result<()> {
        let Some(node) = &workspace.node_id else {
            return Ok(());
        };
        // What to send and where to send it are read together.
        let (request, link) = tokio::join!(
            self.workspace_request(task, workspace),
            self.store.get_node_link(node)
        );
        self.live
            .send_over(
                node,
                link?,
                &NodeCommand::CreateWorkspace(Box::new(request?)),
            )
            .await?;
        Ok(())
    }

    /// The node started the workspace's session: the task is running.
    pub async fn workspace_started(&self, id: &WorkspaceId) -> Result<()> {
        let workspace = self.open_workspace(id).await?;
        let task_id = workspace.task_id.clone().ok_or_else(|| {
            Error::conflict(
                ErrorCode::WorkspaceHasNoTask,
                format!("workspace {id} does not run a task"),
            )
        })?;
        let now = now_ms();
        let deadline = now + self.timeouts.run_ms;
        let running = async {
            if workspace.status == WorkspaceStatus::Creating {
                self.store
                    .advance_workspace(
                        &workspace.with_status(WorkspaceStatus::Running),
                        WorkspaceStatus::Creating,
                    )
                    .await?;
            }
            Ok::<_, Error>(())
        };
        let moved = self.update_task(&workspace.project_id, &task_id, |task| {
            if task.status != TaskStatus::Starting || task.workspace_id.as_ref() != Some(id) {
                return false;
            }
            task.transition(
                TaskStatus::Running,
                "the agent is working",
                now,
                Some(deadline),
            );
            true
        });
        let (running, moved) = tokio::join!(running, moved);
        running.and(moved.map(|_| ()))
    }

    /// The workspace's agent session ended. A completed run that pushed a branch gets its
    /// pull request when the project has a forge; a pull request that cannot be opened
    /// fails the task with the forge's reason (the pushed branch stays in its output).
    pub async fn workspace_finished(
        &self,
        id: &WorkspaceId,
        report: WorkspaceStatusReport,
    ) -> Result<()> {
        let workspace = self.open_workspace(id).await?;
        let Some(task_id) = &workspace.task_id else {
            return Err(Error::conflict(
                ErrorCode::WorkspaceHasNoTask,
                format!("workspace {id} does not run a task"),
            ));
        };
        let (mut to, default_reason) = match report.outcome {
            WorkspaceOutcome::Completed => (TaskStatus::Completed, "the agent finished the task"),
            WorkspaceOutcome::Failed => (TaskStatus::Failed, "the agent failed"),
        };
        let mut reason = report.reason.filter(|r| !r.trim().is_empty()).map_or_else(
            || default_reason.to_string(),
            |r| cut(r.trim(), REASON_MAX_CHARS),
        );
        let mut output = report.output.map(TaskOutput::capped);
        if !report.keep && report.outcome == WorkspaceOutcome::Failed {
            // Nothing worth a retry in it (a failed clone): it goes now, not kept.
            self.destroy_workspace(&workspace).await?;
        }
        let active = |task: &Task| {
            matches!(task.status, TaskStatus::Starting | TaskStatus::Running)
                && task.workspace_id.as_ref() == Some(&workspace.id)
        };
        if let Some(pushed) = output.as_mut().filter(|o| o.commit.is_some())
            && to == TaskStatus::Completed
        {
            let (task, project) = tokio::join!(
                self.store.get_task(&workspace.project_id, task_id),
                self.store.get_project(&workspace.project_id)
            );
            if let (Some(task), Some(project)) = (task?.filter(|t| active(t)), project?) {
                let message = report.last_message.as_deref();
                match self
                    .forges
                    .pull_request(&project, &task, pushed, message)
                    .await
                {
                    Ok(url) => pushed.pull_request_url = url,
                    Err(why) => {
                        to = TaskStatus::Failed;
                        reason = cut(
                            &format!(
                                "pushed {} but cannot open the pull request: {why}",
                                pushed.branch
                            ),
                            REASON_MAX_CHARS,
                        );
                    }
                }
            }
        }
        let now = now_ms();
        let finished = self
            .update_task(&workspace.project_id, task_id, |task| {
                if !active(task) {
                    return false;
                }
                task.transition(to, reason.clone(), now, None);
                task.output = output.clone();
                true
            })
            .await?;
        match finished {
            Some(task) => {
                self.clean_up(&task).await?;
                self.continue_if_asked(&task).await?;
            }
            // A repeated report, or the task already ended another way: still tidy up.
            None => match self.store.get_task(&workspace.project_id, task_id).await? {
                Some(task) if task.status.is_terminal() => self.clean_up(&task).await?,
                _ => {}
            },
        }
        // Its node is free for the queue now.
        self.start_queued().await
    }
}
