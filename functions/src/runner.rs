//! The task runner and the warm pool: every step of a task's life is a recorded transition
//! saved with optimistic concurrency, every node change is a conditional write on the node
//! as it was read (status, generation, revision), and the sweep repairs what a crash or a
//! lost callback left behind.

use std::sync::Arc;

use hangar_protocol::tasks::{
    CreateWorkspaceRequest, NodeStatus, TaskStatus, TaskTransition, WarmTimeoutEvent,
    WorkspaceOutcome, WorkspaceStatus,
};
use hangar_protocol::{NodeId, ProjectId, TaskId, WorkspaceId};

use crate::auth::TokenIssuer;
use crate::clock::now_ms;
use crate::config::Timeouts;
use crate::error::ApiError;
use crate::live::Live;
use crate::ports::{
    Node, NodeClient, NodeLaunch, Provisioner, Saved, Scheduler, Store, Task, WarmSchedule,
    Workspace,
};

/// How often an optimistic update is retried after losing a race before giving up.
const UPDATE_ATTEMPTS: usize = 8;

pub fn new_id() -> String {
    ulid::Ulid::new().to_string().to_lowercase()
}

/// Records a transition on `task`.
pub fn transition(
    task: &mut Task,
    to: TaskStatus,
    reason: impl Into<String>,
    now: u64,
    deadline: Option<u64>,
) {
    task.history.push(TaskTransition {
        from: Some(task.status),
        to,
        at: now,
        reason: reason.into(),
    });
    task.status = to;
    task.updated_at = now;
    task.deadline = if to.is_transient() { deadline } else { None };
}

/// What the warm timeout did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarmTimeoutOutcome {
    Destroyed,
    /// The node was claimed, re-warmed or destroyed since the schedule was made.
    Skipped(String),
}

/// What one sweep repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub failed_tasks: Vec<TaskId>,
    pub destroyed_nodes: Vec<NodeId>,
    pub released_nodes: Vec<NodeId>,
    pub destroyed_workspaces: Vec<WorkspaceId>,
    pub deleted_schedules: Vec<String>,
}

pub struct Runner {
    pub store: Arc<dyn Store>,
    pub scheduler: Arc<dyn Scheduler>,
    pub provisioner: Arc<dyn Provisioner>,
    pub nodes: Arc<dyn NodeClient>,
    pub tokens: Arc<TokenIssuer>,
    /// Every saved task change is pushed to the project's viewers.
    pub live: Arc<Live>,
    /// Handed to new nodes so they can verify the control plane's requests.
    pub control_public_key_pem: String,
    pub api_url: String,
    pub timeouts: Timeouts,
}

impl Runner {
    /// Applies `change` to the stored task until the save wins; `change` returns false when
    /// the task (as read) should not change, and then nothing is written.
    pub async fn update_task(
        &self,
        project: &ProjectId,
        id: &TaskId,
        mut change: impl FnMut(&mut Task) -> bool,
    ) -> Result<Option<Task>, ApiError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let Some(read) = self.store.get_task(project, id).await? else {
                return Ok(None);
            };
            let mut task = read.clone();
            if !change(&mut task) {
                return Ok(None);
            }
            task.version = read.version + 1;
            if self.store.save_task(&task, Some(read.version)).await? == Saved::Yes {
                self.live.task_changed(&task).await;
                return Ok(Some(task));
            }
        }
        Err(ApiError::Internal(format!(
            "task {id} kept changing under an update"
        )))
    }

    /// Like [`Runner::update_task`], for nodes.
    pub async fn update_node(
        &self,
        id: &NodeId,
        mut change: impl FnMut(&mut Node) -> bool,
    ) -> Result<Option<Node>, ApiError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let Some(read) = self.store.get_node(id).await? else {
                return Ok(None);
            };
            let mut node = read.clone();
            if !change(&mut node) {
                return Ok(None);
            }
            node.revision = read.revision + 1;
            node.updated_at = now_ms();
            if self.store.save_node(&node, Some(&read)).await? == Saved::Yes {
                return Ok(Some(node));
            }
        }
        Err(ApiError::Internal(format!(
            "node {id} kept changing under an update"
        )))
    }

    /// Fails `task` (if it is not finished yet) and cleans up after it.
    pub async fn fail_task(&self, task: &Task, reason: String) -> Result<(), ApiError> {
        tracing::warn!(task = %task.id, %reason, "task failed");
        let now = now_ms();
        let failed = self
            .update_task(&task.project_id, &task.id, |task| {
                if task.status.is_terminal() || task.status == TaskStatus::Backlog {
                    return false;
                }
                transition(task, TaskStatus::Failed, reason.clone(), now, None);
                true
            })
            .await?;
        if let Some(task) = failed {
            self.clean_up(&task).await?;
        }
        Ok(())
    }

    /// Moves a queued task on: a warm node if one fits, else a new one.
    pub async fn start(&self, task: &Task) -> Result<(), ApiError> {
        match self.claim_node(task).await? {
            Some(node) => self.start_workspace(task, node).await,
            None => self.provision_for(task).await,
        }
    }

    /// Claims the longest-warm node of the smallest fitting size, if any: a conditional
    /// write from `warm` at the generation read, so of concurrent claimers exactly one wins.
    pub async fn claim_node(&self, task: &Task) -> Result<Option<Node>, ApiError> {
        let now = now_ms();
        for size in task.vm_size.fitting() {
            for node in self.store.warm_nodes(size).await? {
                if node.status != NodeStatus::Warm
                    || node.created_at + self.timeouts.max_node_lifetime_ms <= now
                {
                    continue; // too old to take: the sweep destroys it
                }
                let mut claimed = node.clone();
                claimed.status = NodeStatus::Claimed;
                claimed.generation = node.generation + 1;
                claimed.revision = node.revision + 1;
                claimed.warm_since = None;
                claimed.task_id = Some(task.id.clone());
                claimed.project_id = Some(task.project_id.clone());
                claimed.updated_at = now;
                if self.store.save_node(&claimed, Some(&node)).await? == Saved::Yes {
                    let schedule = WarmSchedule::name_for(&WarmTimeoutEvent {
                        node_id: node.id.clone(),
                        generation: node.generation,
                    });
                    if let Err(err) = self.scheduler.delete(&schedule).await {
                        tracing::warn!(%schedule, error = %err, "could not delete the warm timeout; the sweep will");
                    }
                    tracing::info!(node = %claimed.id, task = %task.id, "claimed a warm node");
                    return Ok(Some(claimed));
                }
            }
        }
        Ok(None)
    }

    async fn provision_for(&self, task: &Task) -> Result<(), ApiError> {
        let now = now_ms();
        let node = Node {
            id: NodeId::parse(new_id()).map_err(|err| ApiError::Internal(err.to_string()))?,
            status: NodeStatus::Creating,
            size: task.vm_size,
            generation: 0,
            warm_since: None,
            created_at: now,
            updated_at: now,
            provider_id: None,
            endpoint: None,
            task_id: Some(task.id.clone()),
            project_id: Some(task.project_id.clone()),
            revision: 0,
        };
        self.store.save_node(&node, None).await?;
        let deadline = now + self.timeouts.provision_ms;
        let moved = self
            .update_task(&task.project_id, &task.id, |task| {
                if task.status != TaskStatus::Queued {
                    return false;
                }
                task.node_id = Some(node.id.clone());
                transition(
                    task,
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
            self.mark_destroyed(&node.id).await?;
            return Ok(());
        }
        let launch = NodeLaunch {
            node_id: node.id.clone(),
            size: node.size,
            api_url: self.api_url.clone(),
            node_token: self.tokens.mint_node_callback(
                &node.id,
                now / 1000,
                self.timeouts.max_node_lifetime_ms / 1000,
            )?,
            control_public_key_pem: self.control_public_key_pem.clone(),
        };
        match self.provisioner.provision(&launch).await {
            Ok(provider_id) => {
                tracing::info!(node = %node.id, %provider_id, "provisioning a node");
                self.update_node(&node.id, |node| {
                    node.provider_id = Some(provider_id.clone());
                    true
                })
                .await?;
                Ok(())
            }
            Err(err) => {
                self.mark_destroyed(&node.id).await?;
                self.fail_task(task, format!("could not provision a node: {err}"))
                    .await
            }
        }
    }

    async fn mark_destroyed(&self, node: &NodeId) -> Result<(), ApiError> {
        self.update_node(node, |node| {
            node.status = NodeStatus::Destroyed;
            node.warm_since = None;
            true
        })
        .await?;
        Ok(())
    }

    /// A new node's agent is up. The node goes to its task, or to the pool when the task no
    /// longer needs it.
    pub async fn node_ready(&self, id: &NodeId, endpoint: &str) -> Result<(), ApiError> {
        let node = self.store.get_node(id).await?.ok_or_else(|| {
            ApiError::not_found("node_not_found", format!("node {id} does not exist"))
        })?;
        if node.status != NodeStatus::Creating {
            if node.endpoint.as_deref() == Some(endpoint) {
                return Ok(()); // a repeated callback
            }
            return Err(ApiError::Conflict {
                code: "node_not_creating",
                message: format!("node {id} is {}, not creating", node.status),
            });
        }
        let claimed = self
            .update_node(id, |node| {
                if node.status != NodeStatus::Creating {
                    return false;
                }
                node.endpoint = Some(endpoint.to_string());
                node.status = NodeStatus::Claimed;
                node.generation += 1;
                true
            })
            .await?;
        let Some(node) = claimed else {
            return Ok(());
        };
        tracing::info!(node = %node.id, endpoint, "node ready");
        let task = match (&node.project_id, &node.task_id) {
            (Some(project), Some(task)) => self.store.get_task(project, task).await?,
            _ => None,
        };
        match task {
            Some(task)
                if task.status == TaskStatus::Provisioning
                    && task.node_id.as_ref() == Some(&node.id) =>
            {
                self.start_workspace(&task, node).await
            }
            _ => self.release_node(&node).await,
        }
    }

    /// Creates the task's workspace on `node` (claimed for it) and starts the agent session.
    pub async fn start_workspace(&self, task: &Task, node: Node) -> Result<(), ApiError> {
        let now = now_ms();
        let workspace = Workspace {
            id: WorkspaceId::parse(new_id()).map_err(|err| ApiError::Internal(err.to_string()))?,
            project_id: task.project_id.clone(),
            session_id: task.session_id.clone(),
            task_id: Some(task.id.clone()),
            node_id: Some(node.id.clone()),
            status: WorkspaceStatus::Creating,
            created_at: now,
        };
        self.store.put_workspace(&workspace).await?;
        let start_deadline = now + self.timeouts.start_ms;
        let starting = self
            .update_task(&task.project_id, &task.id, |task| {
                if !matches!(task.status, TaskStatus::Queued | TaskStatus::Provisioning) {
                    return false;
                }
                task.node_id = Some(node.id.clone());
                task.workspace_id = Some(workspace.id.clone());
                transition(
                    task,
                    TaskStatus::Starting,
                    format!("starting workspace {} on node {}", workspace.id, node.id),
                    now,
                    Some(start_deadline),
                );
                true
            })
            .await?;
        let Some(task) = starting else {
            // Cancelled while the node was found: give it back.
            self.store
                .put_workspace(&Workspace {
                    status: WorkspaceStatus::Destroyed,
                    ..workspace
                })
                .await?;
            return self.release_node(&node).await;
        };
        if let Some(mut session) = self
            .store
            .get_session(&task.project_id, &task.session_id)
            .await?
        {
            session.workspace_id = Some(workspace.id.clone());
            self.store.put_session(&session).await?;
        }
        let request = CreateWorkspaceRequest {
            workspace_id: workspace.id.clone(),
            project_id: task.project_id.clone(),
            session_id: task.session_id.clone(),
            repo: self
                .store
                .get_project(&task.project_id)
                .await?
                .map(|project| project.repo)
                .unwrap_or_default(),
            prompt: task.prompt.clone(),
            callback_token: self.tokens.mint(
                &workspace.id,
                now / 1000,
                (self.timeouts.run_ms + self.timeouts.start_ms) / 1000 + 3600,
            )?,
            api_url: self.api_url.clone(),
        };
        match self.nodes.create_workspace(&node, &request).await {
            Ok(()) => {
                self.store
                    .put_workspace(&Workspace {
                        status: WorkspaceStatus::Running,
                        ..workspace
                    })
                    .await?;
                let now = now_ms();
                let deadline = now + self.timeouts.run_ms;
                self.update_task(&task.project_id, &task.id, |task| {
                    if task.status != TaskStatus::Starting {
                        return false;
                    }
                    transition(
                        task,
                        TaskStatus::Running,
                        "the agent is working",
                        now,
                        Some(deadline),
                    );
                    true
                })
                .await?;
                Ok(())
            }
            Err(err) => {
                self.fail_task(
                    &task,
                    format!("node {} could not start the workspace: {err}", node.id),
                )
                .await
            }
        }
    }

    /// The workspace's agent session ended.
    pub async fn workspace_finished(
        &self,
        id: &WorkspaceId,
        outcome: WorkspaceOutcome,
        reason: Option<String>,
    ) -> Result<(), ApiError> {
        let workspace = self.store.get_workspace(id).await?.ok_or_else(|| {
            ApiError::not_found(
                "workspace_not_found",
                format!("workspace {id} does not exist"),
            )
        })?;
        let Some(task_id) = &workspace.task_id else {
            return Err(ApiError::Conflict {
                code: "workspace_has_no_task",
                message: format!("workspace {id} does not run a task"),
            });
        };
        let now = now_ms();
        let (to, default_reason) = match outcome {
            WorkspaceOutcome::Completed => (TaskStatus::Completed, "the agent finished the task"),
            WorkspaceOutcome::Failed => (TaskStatus::Failed, "the agent failed"),
        };
        let reason = reason
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| default_reason.to_string());
        let finished = self
            .update_task(&workspace.project_id, task_id, |task| {
                if !matches!(task.status, TaskStatus::Starting | TaskStatus::Running)
                    || task.workspace_id.as_ref() != Some(&workspace.id)
                {
                    return false;
                }
                transition(task, to, reason.clone(), now, None);
                true
            })
            .await?;
        match finished {
            Some(task) => self.clean_up(&task).await,
            // A repeated report, or the task already ended another way: still tidy up.
            None => match self.store.get_task(&workspace.project_id, task_id).await? {
                Some(task) if task.status.is_terminal() => self.clean_up(&task).await,
                _ => Ok(()),
            },
        }
    }

    /// After a task ended: destroy its workspace and give its node back to the pool. What
    /// fails here is left for the sweep.
    pub async fn clean_up(&self, task: &Task) -> Result<(), ApiError> {
        if let Some(workspace_id) = &task.workspace_id
            && let Some(workspace) = self.store.get_workspace(workspace_id).await?
            && workspace.status != WorkspaceStatus::Destroyed
            && !self.destroy_workspace(&workspace).await?
        {
            return Ok(());
        }
        let Some(node_id) = &task.node_id else {
            return Ok(());
        };
        match self.store.get_node(node_id).await? {
            Some(node)
                if node.status == NodeStatus::Claimed
                    && node.task_id.as_ref() == Some(&task.id) =>
            {
                self.release_node(&node).await
            }
            _ => Ok(()),
        }
    }

    /// Destroys a workspace on its node; false when the node could not be reached.
    async fn destroy_workspace(&self, workspace: &Workspace) -> Result<bool, ApiError> {
        let node = match &workspace.node_id {
            Some(node) => self.store.get_node(node).await?,
            None => None,
        };
        if let Some(node) =
            node.filter(|node| node.endpoint.is_some() && node.status != NodeStatus::Destroyed)
            && let Err(err) = self.nodes.destroy_workspace(&node, &workspace.id).await
        {
            tracing::warn!(workspace = %workspace.id, node = %node.id, error = %err, "could not destroy the workspace; the sweep will retry");
            return Ok(false);
        }
        self.store
            .put_workspace(&Workspace {
                status: WorkspaceStatus::Destroyed,
                ..workspace.clone()
            })
            .await?;
        Ok(true)
    }

    /// Returns a claimed node to the warm pool with a fresh generation and a warm-timeout
    /// schedule, or destroys it when it reached its maximum lifetime.
    pub async fn release_node(&self, node: &Node) -> Result<(), ApiError> {
        let now = now_ms();
        let end_of_life = node.created_at + self.timeouts.max_node_lifetime_ms;
        if now >= end_of_life {
            return self
                .destroy_node(node, "reached its maximum lifetime")
                .await
                .map(|_| ());
        }
        let warm = self
            .update_node(&node.id, |current| {
                if current.status != NodeStatus::Claimed || current.generation != node.generation {
                    return false;
                }
                current.status = NodeStatus::Warm;
                current.generation += 1;
                current.warm_since = Some(now);
                current.task_id = None;
                current.project_id = None;
                true
            })
            .await?;
        let Some(warm) = warm else {
            return Ok(());
        };
        let event = WarmTimeoutEvent {
            node_id: warm.id.clone(),
            generation: warm.generation,
        };
        let schedule = WarmSchedule {
            name: WarmSchedule::name_for(&event),
            at_ms: (now + self.timeouts.node_warm_ms).min(end_of_life),
            event,
        };
        if let Err(err) = self.scheduler.create(&schedule).await {
            tracing::warn!(node = %warm.id, error = %err, "could not schedule the warm timeout; the sweep covers it");
        }
        tracing::info!(node = %warm.id, generation = warm.generation, "node is warm");
        Ok(())
    }

    /// Destroys `node` if it is still as read; true when this call destroyed it.
    async fn destroy_node(&self, node: &Node, reason: &str) -> Result<bool, ApiError> {
        let mut destroying = node.clone();
        destroying.status = NodeStatus::Destroying;
        destroying.warm_since = None;
        destroying.revision = node.revision + 1;
        destroying.updated_at = now_ms();
        if node.status != NodeStatus::Destroying
            && self.store.save_node(&destroying, Some(node)).await? == Saved::Conflict
        {
            return Ok(false);
        }
        tracing::info!(node = %node.id, reason, "destroying node");
        if let Some(provider_id) = &node.provider_id
            && let Err(err) = self.provisioner.destroy(provider_id).await
        {
            tracing::warn!(node = %node.id, error = %err, "could not destroy the node; the sweep will retry");
            return Ok(false);
        }
        self.mark_destroyed(&node.id).await?;
        Ok(true)
    }

    /// The warm timeout of `event`: destroys the node only if it is still warm in the same
    /// generation, so a claim that won the race always wins.
    pub async fn warm_timeout(
        &self,
        event: &WarmTimeoutEvent,
    ) -> Result<WarmTimeoutOutcome, ApiError> {
        let Some(node) = self.store.get_node(&event.node_id).await? else {
            return Ok(WarmTimeoutOutcome::Skipped("no such node".into()));
        };
        if node.status != NodeStatus::Warm || node.generation != event.generation {
            return Ok(WarmTimeoutOutcome::Skipped(format!(
                "node is {} at generation {}, the schedule was for warm at {}",
                node.status, node.generation, event.generation
            )));
        }
        if self.destroy_node(&node, "warm timeout").await? {
            Ok(WarmTimeoutOutcome::Destroyed)
        } else {
            Ok(WarmTimeoutOutcome::Skipped(
                "the node changed before it could be destroyed".into(),
            ))
        }
    }

    /// The safety net, run on a rate schedule.
    pub async fn sweep(&self) -> Result<SweepReport, ApiError> {
        let now = now_ms();
        let mut report = SweepReport::default();

        for task in self.store.list_active_tasks().await? {
            if let Some(deadline) = task.deadline.filter(|deadline| *deadline <= now) {
                let reason = format!(
                    "timed out in {} ({} s past its deadline)",
                    task.status,
                    (now - deadline) / 1000
                );
                if task.status == TaskStatus::Provisioning
                    && let Some(node) = match &task.node_id {
                        Some(id) => self.store.get_node(id).await?,
                        None => None,
                    }
                    && node.status == NodeStatus::Creating
                    && self.destroy_node(&node, "never became ready").await?
                {
                    report.destroyed_nodes.push(node.id);
                }
                self.fail_task(&task, reason).await?;
                report.failed_tasks.push(task.id);
            }
        }

        for workspace in self.store.list_live_workspaces().await? {
            let task = match &workspace.task_id {
                Some(task) => self.store.get_task(&workspace.project_id, task).await?,
                None => None,
            };
            let orphan = match &task {
                Some(task) => {
                    task.status.is_terminal() || task.workspace_id.as_ref() != Some(&workspace.id)
                }
                None => true,
            };
            // A workspace being created belongs to a start in progress; only time ends that.
            let creating_recently = workspace.status == WorkspaceStatus::Creating
                && workspace.created_at + self.timeouts.start_ms > now;
            if orphan && !creating_recently && self.destroy_workspace(&workspace).await? {
                report.destroyed_workspaces.push(workspace.id.clone());
            }
        }

        for node in self.store.list_live_nodes().await? {
            let too_old = node.created_at + self.timeouts.max_node_lifetime_ms <= now;
            match node.status {
                NodeStatus::Warm => {
                    let cold = node
                        .warm_since
                        .is_some_and(|since| since + self.timeouts.node_warm_ms <= now);
                    if (cold || too_old)
                        && self
                            .destroy_node(
                                &node,
                                if too_old {
                                    "past its maximum lifetime"
                                } else {
                                    "warm past its timeout"
                                },
                            )
                            .await?
                    {
                        report.destroyed_nodes.push(node.id.clone());
                    }
                }
                NodeStatus::Creating => {
                    if node.created_at + self.timeouts.provision_ms <= now
                        && self.destroy_node(&node, "never became ready").await?
                    {
                        report.destroyed_nodes.push(node.id.clone());
                    }
                }
                NodeStatus::Destroying => {
                    if self
                        .destroy_node(&node, "finishing an earlier destroy")
                        .await?
                    {
                        report.destroyed_nodes.push(node.id.clone());
                    }
                }
                NodeStatus::Claimed => {
                    let task = match (&node.project_id, &node.task_id) {
                        (Some(project), Some(task)) => self.store.get_task(project, task).await?,
                        _ => None,
                    };
                    let holder_done = task.as_ref().is_none_or(|task| {
                        task.status.is_terminal() || task.node_id.as_ref() != Some(&node.id)
                    });
                    if holder_done {
                        let workspace_live =
                            match task.as_ref().and_then(|task| task.workspace_id.clone()) {
                                Some(id) => self
                                    .store
                                    .get_workspace(&id)
                                    .await?
                                    .is_some_and(|w| w.status != WorkspaceStatus::Destroyed),
                                None => false,
                            };
                        if !workspace_live {
                            self.release_node(&node).await?;
                            report.released_nodes.push(node.id.clone());
                        }
                    }
                }
                NodeStatus::Destroyed => {}
            }
        }

        match self.scheduler.list().await {
            Ok(schedules) => {
                for schedule in schedules {
                    let node = self.store.get_node(&schedule.event.node_id).await?;
                    let current = node.is_some_and(|node| {
                        node.status == NodeStatus::Warm
                            && node.generation == schedule.event.generation
                    });
                    if !current {
                        match self.scheduler.delete(&schedule.name).await {
                            Ok(()) => report.deleted_schedules.push(schedule.name),
                            Err(err) => {
                                tracing::warn!(schedule = %schedule.name, error = %err, "could not delete an orphaned schedule")
                            }
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not list schedules"),
        }
        if report != SweepReport::default() {
            tracing::info!(?report, "sweep repaired state");
        }
        Ok(report)
    }
}
