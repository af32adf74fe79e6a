//! One workspace's session, as every node runs it (and `hangar-agent run` too): the start is
//! acknowledged, the prompt goes to the ACP agent in the workspace directory, every message
//! into the outbox, and once the workspace's messages are delivered its outcome is reported,
//! so the transcript is complete when the task shows as finished. The outcome is recorded in
//! the outbox first, so an outcome that could not be reported is reported later, never lost.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hangar_protocol::WorkspaceId;
use hangar_protocol::forge::GitCredential;
use hangar_protocol::git::{CheckoutSpec, TaskOutput};
use hangar_protocol::node::FollowUp;
use hangar_protocol::permissions::PermissionSettings;
use hangar_protocol::tasks::{WorkspaceOutcome, WorkspaceStatusReport};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::git::Checkout;
use super::isolation::{Isolation, IsolationError, RunAs};
use super::setup::run_setup;
use crate::acp::{
    AcpAgentCommand, Asking, DraftSink, Inboxes, Recorder, Waiting, follow_up_draft, run_session,
    stream_drafts,
};
use crate::config::AcpSettings;
use crate::control_plane::{Caller, ControlPlane};
use crate::outbox::{Delivery, Outbox, OutboxError};
use crate::transcript::user_prompt;

/// What one workspace runs.
#[derive(Debug, Clone)]
pub struct WorkspaceRun {
    /// Where its messages go, with the workspace's callback token.
    pub delivery: Delivery,
    pub prompt: String,
    /// The workspace's directory (its user's home); the checkout, if any, is inside it.
    pub dir: PathBuf,
    /// The repository to clone and where the work goes (`None`: the agent works in `dir`).
    pub checkout: Option<CheckoutSpec>,
    /// The node's own directory for the workspace, out of the workspace user's reach.
    pub scratch: PathBuf,
    /// The project's ACP agent command line, if it names one.
    pub acp_command: Option<Vec<String>>,
    /// Who the ACP agent runs as (set by [`WorkspaceRunner::prepare`]).
    pub run_as: Option<RunAs>,
    /// The seq its first message takes (a session's later run continues its sequence).
    pub first_seq: u64,
    /// The agent's plain variables; its secret ones are fetched when `agent_secrets`.
    pub agent_env: BTreeMap<String, String>,
    pub agent_secrets: bool,
    /// Run in a fresh checkout before the agent.
    pub setup_script: Option<String>,
    /// The project's permission settings (`None`: the node's own policy, asked nothing).
    pub permissions: Option<PermissionSettings>,
    /// Members' messages this run continues the session with (instead of the task's
    /// prompt), after `context`, the conversation so far.
    pub follow_ups: Vec<FollowUp>,
    pub context: Option<String>,
}

/// Where in the workspace's directory the repository is cloned.
const CHECKOUT: &str = "checkout";

impl WorkspaceRun {
    /// The ACP agent's working directory: the checkout, or the workspace's directory.
    pub fn workdir(&self) -> PathBuf {
        match self.checkout {
            Some(_) => self.dir.join(CHECKOUT),
            None => self.dir.clone(),
        }
    }

    fn checkout_at(&self) -> Checkout {
        Checkout {
            dir: self.workdir(),
            scratch: self.scratch.clone(),
            run_as: self.run_as.clone(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// The session ended and the control plane took the outcome.
    Reported(WorkspaceOutcome),
    /// The session ended but the outcome could not be reported yet (it is kept).
    Unreported(WorkspaceOutcome),
    /// Stopped from outside (destroyed, SIGTERM): what was streamed is kept, nothing reported.
    Stopped,
}

/// Runs workspaces against one outbox and one control plane.
pub struct WorkspaceRunner {
    pub outbox: Outbox,
    pub control_plane: ControlPlane,
    pub acp: AcpSettings,
    pub isolation: Isolation,
    /// How long a finished session waits for its messages to be delivered; the outcome is
    /// reported only once they are (else it stays recorded for a later report).
    pub delivery_deadline: Duration,
    /// Permissions its agents asked the viewers, waiting for an answer.
    pub waiting: Arc<Waiting>,
    /// Members' messages and Stop, for the sessions running here.
    pub inboxes: Arc<Inboxes>,
}

impl WorkspaceRunner {
    /// Makes the workspace known to the outbox (so its rows can be delivered even after a
    /// restart), creates its directory and, isolated, its user.
    pub async fn prepare(&self, run: &mut WorkspaceRun) -> Result<(), PrepareError> {
        tokio::fs::create_dir_all(&run.dir)
            .await
            .map_err(|source| PrepareError::Dir {
                dir: run.dir.clone(),
                source,
            })?;
        run.run_as = self
            .isolation
            .prepare(&run.delivery.workspace_id, &run.dir)
            .await?;
        // A kept workspace taken over: its files go to this workspace's user.
        if let Some(user) = &run.run_as
            && run.workdir().join(".git").exists()
        {
            super::git::give_to(&run.dir, user)
                .await
                .map_err(|source| PrepareError::Dir {
                    dir: run.dir.clone(),
                    source,
                })?;
        }
        self.outbox.register(run.delivery.clone()).await?;
        self.outbox
            .continue_session(&run.delivery.session_id, run.first_seq)
            .await?;
        Ok(())
    }

    /// Tells the control plane the session runs (the task moves to `running`).
    pub async fn acknowledge_start(&self, delivery: &Delivery) {
        let workspace = &delivery.workspace_id;
        if let Err(err) = self
            .control_plane
            .started(caller(delivery), workspace)
            .await
        {
            tracing::warn!(%workspace, error = %err, "could not acknowledge the start; a later create command asks again");
        }
    }

    /// Runs the session to its end (or until `stop`), then reports the outcome once the
    /// workspace's messages are delivered.
    pub async fn run(self: Arc<Self>, run: WorkspaceRun, stop: CancellationToken) -> RunEnd {
        let workspace = run.delivery.workspace_id.clone();
        let acknowledge = {
            let (runner, delivery) = (Arc::clone(&self), run.delivery.clone());
            tokio::spawn(async move { runner.acknowledge_start(&delivery).await })
        };
        let recorder = Arc::new(Mutex::new(Recorder::new(
            self.outbox.clone(),
            workspace.clone(),
            run.delivery.session_id.clone(),
        )));
        let report = tokio::select! {
            report = self.session(&run, Arc::clone(&recorder)) => WorkspaceStatusReport {
                // A checkout (or, without one, the directory) is worth keeping for a retry.
                keep: run.checkout.is_none() || run.workdir().join(".git").exists(),
                ..report
            },
            () = stop.cancelled() => {
                // The session future is dropped, which kills the ACP agent (or git); keep
                // what it streamed.
                if let Err(err) = recorder.lock().await.close().await {
                    tracing::error!(%workspace, error = %err, "could not persist the open message");
                }
                acknowledge.abort();
                return RunEnd::Stopped;
            }
        };
        let _ = acknowledge.await;
        tracing::info!(%workspace, outcome = %report.outcome, reason = ?report.reason, "the session ended");
        if let Err(err) = self.outbox.finish(&workspace, &report).await {
            tracing::error!(%workspace, error = %err, "cannot record the outcome");
        }
        self.report(&run.delivery, report).await
    }

    /// Clones, runs the prompt, and keeps the work: what the control plane is told.
    async fn session(
        &self,
        run: &WorkspaceRun,
        recorder: Arc<Mutex<Recorder>>,
    ) -> WorkspaceStatusReport {
        let failed = |reason: String| WorkspaceStatusReport {
            outcome: WorkspaceOutcome::Failed,
            reason: Some(reason),
            output: None,
            last_message: None,
            // Set by `run` from what the directory holds.
            keep: false,
        };
        // Open before anything else: a member's message sent meanwhile is not missed.
        let workspace = &run.delivery.workspace_id;
        let taken = run.follow_ups.iter().map(|f| f.message_id.clone());
        let inbox = self.inboxes.open(workspace, taken);
        // What it was asked first, so even a run that fails at once shows it: the task, or
        // the members' messages it continues the session with.
        let (asked, prompt) = match run.follow_ups.is_empty() {
            true => (user_prompt(&run.prompt), run.prompt.clone()),
            false => {
                let said: Vec<&str> = run.follow_ups.iter().map(|f| f.content.as_str()).collect();
                let prompt = match &run.context {
                    Some(context) => format!("{context}\n\n{}", said.join("\n\n")),
                    None => said.join("\n\n"),
                };
                (run.follow_ups.iter().map(follow_up_draft).collect(), prompt)
            }
        };
        if let Err(err) = recorder.lock().await.record_drafts(asked).await {
            return failed(format!("cannot record the prompt: {err}"));
        }
        let checkout = run.checkout.as_ref().map(|spec| (spec, run.checkout_at()));
        // A retry in a kept workspace finds its checkout there.
        let cloned = run.workdir().join(".git").exists();
        if let Some((spec, checkout)) = checkout.as_ref().filter(|_| !cloned) {
            let credential = match self.credential(&run.delivery).await {
                Ok(credential) => credential,
                Err(reason) => return failed(reason),
            };
            if let Err(err) = checkout.clone(spec, credential.as_ref()).await {
                return failed(format!(
                    "cannot check out {} at {}: {err}",
                    spec.repo, spec.base_branch
                ));
            }
        }
        let env = match self.agent_env(run, &recorder, !cloned).await {
            Ok(env) => env,
            Err(reason) => return failed(reason),
        };
        let agent = AcpAgentCommand {
            command: run
                .acp_command
                .clone()
                .unwrap_or_else(|| self.acp.command.clone()),
            workdir: run.workdir(),
            home: run.dir.clone(),
            asking: Asking {
                settings: run
                    .permissions
                    .clone()
                    .unwrap_or_else(|| PermissionSettings {
                        default: self.acp.policy,
                        ..PermissionSettings::default()
                    }),
                workspace: run.delivery.workspace_id.clone(),
                waiting: Arc::clone(&self.waiting),
            },
            run_as: run.run_as.clone(),
            env,
        };
        let drafting = (!self.acp.draft_interval.is_zero()).then(|| {
            let sink = DraftSink {
                control_plane: self.control_plane.clone(),
                delivery: run.delivery.clone(),
                interval: self.acp.draft_interval,
            };
            tokio::spawn(stream_drafts(Arc::clone(&recorder), sink))
        });
        let ended = run_session(&agent, &prompt, inbox, Arc::clone(&recorder)).await;
        if let Some(drafting) = drafting {
            drafting.abort();
        }
        self.inboxes.close(workspace);
        match ended {
            Ok(ended) if ended.finished() => {}
            Ok(ended) => return failed(format!("the agent stopped: {}", ended.stop_reason)),
            Err(err) => return failed(format!("the agent session failed: {err}")),
        }
        let last_message = recorder.lock().await.last_said().map(str::to_string);
        let Some((spec, checkout)) = checkout else {
            return completed("the agent ended its turn".into(), None, last_message);
        };
        // Fetched again: a short-lived credential may have expired while the agent worked.
        let credential = match self.credential(&run.delivery).await {
            Ok(credential) => credential,
            Err(reason) => return failed(reason),
        };
        match checkout.deliver(spec, credential.as_ref()).await {
            Ok(output) if output.no_changes() => completed(
                "the agent ended its turn: no changes".into(),
                Some(output),
                last_message,
            ),
            Ok(output) => completed(
                format!(
                    "the agent ended its turn: pushed {} ({} files, +{} -{})",
                    output.branch, output.files_changed, output.added, output.removed
                ),
                Some(output),
                last_message,
            ),
            Err(err) => failed(format!("cannot keep the work on {}: {err}", spec.branch)),
        }
    }

    /// The agent's variables (plain, then secret), after the setup script ran in a fresh
    /// checkout with them; why not, if the secrets cannot be had or the script failed.
    async fn agent_env(
        &self,
        run: &WorkspaceRun,
        recorder: &Mutex<Recorder>,
        fresh: bool,
    ) -> Result<BTreeMap<String, String>, String> {
        let mut env = run.agent_env.clone();
        if run.agent_secrets {
            let secrets = self
                .control_plane
                .agent_secrets(caller(&run.delivery), &run.delivery.workspace_id)
                .await
                .map_err(|err| format!("cannot fetch the agent's secrets: {err}"))?;
            env.extend(secrets.env);
        }
        let Some(script) = run.setup_script.as_deref().filter(|_| fresh) else {
            return Ok(env);
        };
        let end = run_setup(script, &run.workdir(), &run.dir, run.run_as.as_ref(), &env).await;
        if let Err(err) = recorder.lock().await.record_drafts(vec![end.message]).await {
            return Err(format!("cannot record the setup script's output: {err}"));
        }
        match end.failure {
            Some(failure) => Err(failure),
            None => Ok(env),
        }
    }

    /// The workspace's git credential, if its project keeps one; why not, if it cannot be had.
    async fn credential(&self, delivery: &Delivery) -> Result<Option<GitCredential>, String> {
        self.control_plane
            .git_credential(caller(delivery), &delivery.workspace_id)
            .await
            .map_err(|err| format!("cannot fetch the repository's credential: {err}"))
    }

    /// Reports an outcome once the workspace's messages are delivered (within the delivery
    /// deadline), then forgets the workspace and its token if nothing is left to deliver.
    pub async fn report(&self, delivery: &Delivery, report: WorkspaceStatusReport) -> RunEnd {
        let outcome = report.outcome;
        let workspace = &delivery.workspace_id;
        let deadline = tokio::time::Instant::now() + self.delivery_deadline;
        // The outcome goes only after the transcript: a task never shows as ended with
        // messages missing. Not delivered in time: it stays recorded for a later report.
        match self.outbox.wait_delivered(workspace, deadline).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(%workspace, "messages are still undelivered; the outcome waits for them");
                return RunEnd::Unreported(outcome);
            }
            Err(err) => {
                tracing::error!(%workspace, error = %err, "cannot read the outbox");
                return RunEnd::Unreported(outcome);
            }
        }
        let reported = self
            .control_plane
            .report_status(caller(delivery), workspace, &report)
            .await;
        if let Err(err) = reported {
            tracing::error!(%workspace, error = %err, "could not report the workspace's end; it is reported when the node next converges");
            return RunEnd::Unreported(outcome);
        }
        tracing::info!(%workspace, %outcome, "reported the workspace's end");
        self.forget(workspace).await;
        RunEnd::Reported(outcome)
    }

    /// Forgets a workspace whose rows are all delivered, its token with it.
    pub async fn forget(&self, workspace: &WorkspaceId) {
        match self.outbox.forget(workspace).await {
            Ok(true) => tracing::info!(%workspace, "forgot the workspace and its token"),
            Ok(false) => {}
            Err(err) => tracing::warn!(%workspace, error = %err, "cannot forget the workspace"),
        }
    }
}

fn completed(
    reason: String,
    output: Option<TaskOutput>,
    last_message: Option<String>,
) -> WorkspaceStatusReport {
    WorkspaceStatusReport {
        outcome: WorkspaceOutcome::Completed,
        reason: Some(reason),
        output,
        last_message,
        keep: false,
    }
}

fn caller(delivery: &Delivery) -> Caller<'_> {
    Caller {
        api_url: &delivery.api_url,
        token: &delivery.callback_token,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("cannot create {}: {source}", dir.display())]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("cannot give the workspace its user: {0}")]
    Isolation(#[from] IsolationError),
}
