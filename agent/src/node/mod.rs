//! `hangar-agent node`: the long-lived agent of a node. It accepts no inbound connection: it
//! dials the control plane's WebSocket API ([`link`]) and takes commands from it, runs one
//! ACP session per workspace ([`workspace`]), and delivers every workspace's messages
//! through one outbox and reporter, each with its own workspace token and session.
//!
//! The store holds the desired state, so a command is only a nudge: after every
//! (re)connect the node fetches its assignments and converges ([`Node::converge`]), which
//! starts what should run, reports outcomes it could not report before, and removes what
//! should not be here any more.

pub mod git;
pub mod isolation;
pub mod link;
pub mod setup;
pub mod workspace;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hangar_protocol::WorkspaceId;
use hangar_protocol::node::{Assignments, FollowUp, NodeCommand, PermissionAnswered};
use hangar_protocol::tasks::{CreateWorkspaceRequest, WorkspaceOutcome, WorkspaceStatusReport};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use self::workspace::{WorkspaceRun, WorkspaceRunner};
use crate::config::NodeConfig;
use crate::control_plane::{CallError, Caller, ControlPlane};
use crate::outbox::{Delivery, Outbox, RunState};
use crate::reporter::Reporter;

/// Where under the node's directory the workspaces are.
const WORKSPACES: &str = "workspaces";
/// Where under the node's directory its own per-workspace git directories are.
const SCRATCH: &str = "git";

/// The agent's version, reported when the node is ready.
pub const AGENT_VERSION: &str = hangar_protocol::RELEASE;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("outbox: {0}")]
    Outbox(#[from] crate::outbox::OutboxError),
    #[error("the control plane never took the ready callback: {0}")]
    Ready(CallError),
    #[error("{0}")]
    Io(String),
}

/// A workspace this process runs (or ran).
struct Slot {
    stop: CancellationToken,
    dir: PathBuf,
}

pub struct Node {
    config: NodeConfig,
    control_plane: ControlPlane,
    runner: Arc<WorkspaceRunner>,
    workspaces: Mutex<HashMap<WorkspaceId, Slot>>,
}

impl Node {
    fn caller(&self) -> Caller<'_> {
        Caller {
            api_url: &self.config.api_url,
            token: &self.config.node_token,
        }
    }

    fn workspace_dir(&self, id: &WorkspaceId) -> PathBuf {
        self.config.dir.join(WORKSPACES).join(id.as_str())
    }

    fn scratch_dir(&self, id: &WorkspaceId) -> PathBuf {
        self.config.dir.join(SCRATCH).join(id.as_str())
    }

    /// Carries out one command pushed down the socket.
    pub async fn apply(self: &Arc<Self>, command: NodeCommand) {
        match command {
            NodeCommand::CreateWorkspace(request) => self.ensure_running(*request).await,
            NodeCommand::DestroyWorkspace { workspace_id } => self.destroy(&workspace_id).await,
            NodeCommand::StopWorkspace { workspace_id } => self.stop(&workspace_id).await,
            NodeCommand::AnswerPermission(answered) => self.answer(answered),
            NodeCommand::FollowUp(follow_up) => self.follow_up(follow_up),
            NodeCommand::StopTurn { workspace_id } => {
                if !self.runner.inboxes.stop(&workspace_id) {
                    tracing::debug!(workspace = %workspace_id, "no session of it runs here to stop");
                }
            }
            NodeCommand::Converge => self.converge().await,
        }
    }

    /// Fetches the assignments and makes the node run exactly them.
    pub async fn converge(self: &Arc<Self>) {
        let assignments: Assignments = match self
            .control_plane
            .assignments(self.caller(), &self.config.node_id)
            .await
        {
            Ok(assignments) => assignments,
            Err(err) => {
                tracing::warn!(error = %err, "cannot fetch the assignments; the next reconnect tries again");
                return;
            }
        };
        let wanted: HashSet<WorkspaceId> = assignments
            .workspaces
            .iter()
            .map(|request| request.workspace_id.clone())
            .chain(assignments.kept.iter().cloned())
            .collect();
        // What this process runs, and what an earlier one left on disk.
        let mut here: HashSet<WorkspaceId> = self.workspaces.lock().await.keys().cloned().collect();
        here.extend(self.workspaces_on_disk().await);
        for workspace in here.iter().filter(|id| !wanted.contains(*id)) {
            self.destroy(workspace).await;
        }
        // A kept workspace's run is over, whatever command was missed.
        for workspace in &assignments.kept {
            self.stop(workspace).await;
        }
        for request in assignments.workspaces {
            self.ensure_running(request).await;
        }
        for answered in assignments.answers {
            self.answer(answered);
        }
        for follow_up in assignments.follow_ups {
            self.follow_up(follow_up);
        }
    }

    /// Hands a member's message to the session it is for (once per run).
    fn follow_up(&self, follow_up: FollowUp) {
        let (workspace, message) = (follow_up.workspace_id.clone(), follow_up.message_id.clone());
        if self.runner.inboxes.follow_up(follow_up) {
            tracing::info!(%workspace, %message, "follow-up taken");
        }
    }

    /// Hands a member's answer to the agent that asked (once: a repeat finds none waiting).
    fn answer(&self, answered: PermissionAnswered) {
        let (workspace, permission) = (
            answered.workspace_id.clone(),
            answered.permission_id.clone(),
        );
        if self.runner.waiting.answer(answered) {
            tracing::info!(%workspace, %permission, "permission answered");
        } else {
            tracing::debug!(%workspace, %permission, "no agent waits on this permission");
        }
    }

    /// Starts the workspace unless this node runs it already, or ran it: then its start is
    /// acknowledged again, or its kept outcome reported.
    async fn ensure_running(self: &Arc<Self>, request: CreateWorkspaceRequest) {
        let workspace = request.workspace_id.clone();
        let mut run = WorkspaceRun {
            delivery: delivery_of(&request),
            prompt: request.prompt,
            dir: self.workspace_dir(&workspace),
            checkout: Some(request.checkout),
            scratch: self.scratch_dir(&workspace),
            acp_command: request
                .acp_command
                .map(|line| line.split_whitespace().map(String::from).collect()),
            run_as: None,
            first_seq: request.first_seq,
            agent_env: request.agent_env,
            agent_secrets: request.agent_secrets,
            setup_script: request.setup_script,
            permissions: request.permissions,
            follow_ups: request.follow_ups,
            context: request.context,
        };
        let reuse = request.reuse;
        let mut workspaces = self.workspaces.lock().await;
        let here = workspaces.contains_key(&workspace);
        let runner = Arc::clone(&self.runner);
        match (self.runner.outbox.run_state(&workspace).await, here) {
            (Ok(Some(RunState::Finished(report))), _) => {
                // Ended, and the control plane has not taken the outcome yet.
                tokio::spawn(async move { runner.report(&run.delivery, report).await });
                return;
            }
            (Ok(Some(RunState::Running)), true) => {
                // A repeated create: the first acknowledgement may have been lost.
                tokio::spawn(async move { runner.acknowledge_start(&run.delivery).await });
                return;
            }
            (Ok(Some(RunState::Running)), false) => {
                // Started by an agent process that died with its session: never run twice.
                let report = WorkspaceStatusReport {
                    outcome: WorkspaceOutcome::Failed,
                    reason: Some("the node agent restarted while the session ran".into()),
                    output: None,
                    last_message: None,
                    keep: true,
                };
                tokio::spawn(async move {
                    if let Err(err) = runner.outbox.finish(&workspace, &report).await {
                        tracing::error!(%workspace, error = %err, "cannot record the outcome");
                    }
                    runner.report(&run.delivery, report).await
                });
                return;
            }
            // Reported and forgotten: nothing left to do here.
            (Ok(None), true) => return,
            (Ok(None), false) => {}
            (Err(err), _) => {
                tracing::error!(%workspace, error = %err, "cannot read the workspace's run");
                return;
            }
        }
        if let Some(kept) = &reuse
            && let Err(err) = self.take_over(&mut workspaces, kept, &workspace).await
        {
            tracing::warn!(%workspace, %kept, error = %err, "cannot take the kept workspace over; cloning afresh");
        }
        if let Err(err) = self.runner.prepare(&mut run).await {
            tracing::error!(%workspace, error = %err, "cannot prepare the workspace");
            return;
        }
        let stop = CancellationToken::new();
        workspaces.insert(
            workspace.clone(),
            Slot {
                stop: stop.clone(),
                dir: run.dir.clone(),
            },
        );
        tracing::info!(%workspace, session = %run.delivery.session_id, "starting a workspace");
        tokio::spawn(Arc::clone(&self.runner).run(run, stop));
    }

    /// Stops the workspace's session and removes its directory; its undelivered messages
    /// stay in the outbox and are still delivered.
    async fn destroy(&self, workspace: &WorkspaceId) {
        let slot = self.workspaces.lock().await.remove(workspace);
        let dir = match slot {
            Some(slot) => {
                slot.stop.cancel();
                slot.dir
            }
            None => self.workspace_dir(workspace),
        };
        for dir in [dir, self.scratch_dir(workspace)] {
            if let Err(err) = tokio::fs::remove_dir_all(&dir).await
                && err.kind() != std::io::ErrorKind::NotFound
            {
                tracing::error!(%workspace, error = %err, "cannot remove {}", dir.display());
            }
        }
        self.runner.forget(workspace).await;
        self.runner.isolation.remove(workspace).await;
        tracing::info!(%workspace, "workspace destroyed");
    }

    /// Stops the workspace's session and keeps its directory (a cancelled task's, for a retry).
    async fn stop(&self, workspace: &WorkspaceId) {
        if let Some(slot) = self.workspaces.lock().await.get(workspace) {
            slot.stop.cancel();
            tracing::info!(%workspace, "workspace stopped; its directory is kept");
        }
    }

    /// Moves a kept workspace's directory (its checkout) to the workspace that retries its
    /// task; the kept one's user goes, the new one's is made by `prepare`.
    async fn take_over(
        &self,
        workspaces: &mut HashMap<WorkspaceId, Slot>,
        kept: &WorkspaceId,
        workspace: &WorkspaceId,
    ) -> std::io::Result<()> {
        if let Some(slot) = workspaces.remove(kept) {
            slot.stop.cancel();
        }
        let (from, to) = (self.workspace_dir(kept), self.workspace_dir(workspace));
        if tokio::fs::try_exists(&from).await? && !tokio::fs::try_exists(&to).await? {
            tokio::fs::rename(&from, &to).await?;
            tracing::info!(%workspace, %kept, "took the kept workspace over");
        }
        self.runner.forget(kept).await;
        self.runner.isolation.remove(kept).await;
        Ok(())
    }

    /// Workspace directories on disk (an earlier process's included).
    async fn workspaces_on_disk(&self) -> Vec<WorkspaceId> {
        let mut found = Vec::new();
        let Ok(mut entries) = tokio::fs::read_dir(self.config.dir.join(WORKSPACES)).await else {
            return found;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|name| WorkspaceId::parse(name.to_string()).ok())
            {
                found.push(id);
            }
        }
        found
    }

    /// Stops every running workspace (SIGTERM).
    async fn stop_all(&self) {
        for (_, slot) in self.workspaces.lock().await.drain() {
            slot.stop.cancel();
        }
    }
}

fn delivery_of(request: &CreateWorkspaceRequest) -> Delivery {
    Delivery {
        workspace_id: request.workspace_id.clone(),
        project_id: request.project_id.to_string(),
        session_id: request.session_id.clone(),
        api_url: request.api_url.clone(),
        callback_token: request.callback_token.clone(),
    }
}

/// Runs the node until SIGTERM; then stops the sessions and drains the outbox. Returns the
/// rows left undelivered.
pub async fn run(config: NodeConfig) -> Result<u64, NodeError> {
    tokio::fs::create_dir_all(&config.dir)
        .await
        .map_err(|err| NodeError::Io(err.to_string()))?;
    let outbox = Outbox::open_limited(
        &config.dir.join("outbox.db"),
        config.delivery.outbox_max_size,
        config.delivery.outbox_max_bytes,
    )?;
    outbox.requeue_exhausted().await?;
    let workspaces = config.dir.join(WORKSPACES);
    isolation::lock_down(&config.dir, &workspaces, &config.dir.join("outbox.db"))
        .await
        .map_err(|err| NodeError::Io(format!("cannot lock the node directory down: {err}")))?;
    let control_plane =
        ControlPlane::new(config.delivery.retry).map_err(|err| NodeError::Io(err.to_string()))?;
    let reporter = Reporter::new(
        outbox.clone(),
        control_plane.clone(),
        config.delivery.batch,
        config.delivery.retry.max_interval,
    );
    let stop_reporter = CancellationToken::new();
    let background = {
        let (reporter, stop) = (reporter.clone(), stop_reporter.clone());
        tokio::spawn(async move { reporter.run(stop).await })
    };
    let runner = Arc::new(WorkspaceRunner {
        outbox,
        control_plane: control_plane.clone(),
        acp: config.acp.clone(),
        isolation: config.isolation,
        delivery_deadline: config.delivery.report_deadline,
        waiting: Arc::default(),
        inboxes: Arc::default(),
    });
    let node = Arc::new(Node {
        config: config.clone(),
        control_plane,
        runner,
        workspaces: Mutex::new(HashMap::new()),
    });

    // The socket first, so the first command finds it; then tell the control plane.
    let unlink = CancellationToken::new();
    let linked = tokio::spawn(link::keep_linked(Arc::clone(&node), unlink.clone()));
    node.control_plane
        .ready(node.caller(), &config.node_id, AGENT_VERSION)
        .await
        .map_err(NodeError::Ready)?;
    tracing::info!(node = %config.node_id, version = AGENT_VERSION, "node ready");

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|err| NodeError::Io(err.to_string()))?;
    terminate.recv().await;
    tracing::info!("SIGTERM: stopping workspaces and flushing the outbox");
    unlink.cancel();
    let _ = linked.await;
    node.stop_all().await;
    // Give cancelled sessions a moment to persist what they were streaming.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop_reporter.cancel();
    let _ = background.await;
    Ok(reporter
        .drain(config.delivery.shutdown_flush_deadline)
        .await?)
}
