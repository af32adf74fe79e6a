//! The ACP host: runs an ACP agent as a child process speaking JSON-RPC over stdio,
//! initializes it, opens a session in the workspace directory, sends the task prompt, and
//! records every session update in the outbox (through the coalescer) in arrival order.
//! Permission requests are answered by the project's settings, by asking the viewers
//! where they say so ([`permissions`]); each request and its answer are recorded.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    ClientCapabilities, FileSystemCapabilities, InitializeRequest, NewSessionRequest,
    ReadTextFileRequest, ReadTextFileResponse, RequestPermissionRequest, SessionNotification,
    WriteTextFileRequest, WriteTextFileResponse,
};
use agent_client_protocol::{ByteStreams, Client};
use hangar_protocol::limits::DRAFT_CONTENT_MAX_BYTES;
use hangar_protocol::{MessageDraft, MessageRole, SessionId, WorkspaceId};
use tokio::sync::{Mutex, Notify};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

mod drafts;
pub mod fs;
mod inbox;
mod permissions;
mod turns;
mod updates;

pub use self::drafts::{DraftSink, stream_drafts};
use self::fs::FileAccess;
pub use self::inbox::{Inbox, Inboxes};
pub use self::permissions::{Asking, Waiting};
pub use self::turns::{TurnsEnded, follow_up_draft};
pub use self::updates::to_update;
use crate::node::isolation::RunAs;
use crate::outbox::{Draft, Outbox, OutboxError};
use crate::transcript::{Coalescer, Update, fit_draft};

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot start the ACP agent {command:?}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("ACP: {0}")]
    Protocol(String),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// Writes a session's transcript to the outbox.
pub struct Recorder {
    outbox: Outbox,
    workspace: WorkspaceId,
    session: SessionId,
    coalescer: Coalescer,
    /// The agent's last message (a pull request's description).
    last_said: Option<String>,
    /// Woken whenever the message being streamed grew (its drafts go out on it).
    grew: Arc<Notify>,
}

impl Recorder {
    pub fn new(outbox: Outbox, workspace: WorkspaceId, session: SessionId) -> Self {
        Recorder {
            outbox,
            workspace,
            session,
            coalescer: Coalescer::default(),
            last_said: None,
            grew: Arc::default(),
        }
    }

    /// What wakes when the message being streamed grows.
    pub fn growth(&self) -> Arc<Notify> {
        Arc::clone(&self.grew)
    }

    /// The message being streamed as a draft: its text so far (its end, when long) and the
    /// seq it will take, which nothing else can take first (every message is enqueued
    /// through this recorder, and the open one before any other).
    pub async fn draft(&self) -> Option<MessageDraft> {
        let (role, text) = self.coalescer.open()?;
        let last = self.outbox.last_seq(&self.session).await.ok()?;
        let (content, truncated) = draft_tail(text);
        Some(MessageDraft {
            seq: last + 1,
            role,
            content: content.to_string(),
            truncated,
        })
    }

    /// What the agent said last, once the session ended.
    pub fn last_said(&self) -> Option<&str> {
        self.last_said.as_deref()
    }

    pub async fn record(&mut self, update: Update) -> Result<(), OutboxError> {
        let drafts = self.coalescer.push(update);
        self.enqueue(drafts).await?;
        if self.coalescer.open().is_some() {
            self.grew.notify_one();
        }
        Ok(())
    }

    /// Closes any open message first, so the transcript keeps its order.
    pub async fn record_drafts(&mut self, drafts: Vec<Draft>) -> Result<(), OutboxError> {
        let mut all = self.coalescer.finish();
        all.extend(drafts);
        self.enqueue(all).await
    }

    /// Persists the message still being streamed, if any.
    pub async fn close(&mut self) -> Result<(), OutboxError> {
        self.record_drafts(Vec::new()).await
    }

    async fn enqueue(&mut self, drafts: Vec<Draft>) -> Result<(), OutboxError> {
        if let Some(said) = drafts
            .iter()
            .rev()
            .find(|d| d.role == MessageRole::Assistant)
        {
            self.last_said = Some(said.content.clone());
        }
        if drafts.is_empty() {
            return Ok(());
        }
        // One enqueue: the drafts share a transaction and keep their order.
        let drafts = drafts.into_iter().map(fit_draft).collect();
        self.outbox.enqueue_all(&self.workspace, drafts).await?;
        Ok(())
    }
}

/// Records one message from a handler of the ACP connection, closing the open one first;
/// an outbox failure ends the connection as an internal error.
async fn record_one(
    recorder: &Mutex<Recorder>,
    draft: Draft,
) -> Result<(), agent_client_protocol::Error> {
    recorder
        .lock()
        .await
        .record_drafts(vec![draft])
        .await
        .map_err(agent_client_protocol::Error::into_internal_error)
}

/// The end of `text` a draft can carry, at a char boundary.
fn draft_tail(text: &str) -> (&str, bool) {
    if text.len() <= DRAFT_CONTENT_MAX_BYTES {
        return (text, false);
    }
    let mut start = text.len() - DRAFT_CONTENT_MAX_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    (&text[start..], true)
}

/// The ACP agent's process group, killed whole when the session ends or is dropped (a
/// cancel, a destroy): the agent's own tools and servers go with it.
struct ProcessGroup(u32);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let Ok(group) = libc::pid_t::try_from(self.0) else {
            return;
        };
        // SAFETY: killpg only sends a signal; a group that is already gone is harmless
        // (ESRCH), and the group id is the one this host created for the agent.
        unsafe {
            libc::killpg(group, libc::SIGKILL);
        }
    }
}

/// How to run the ACP agent.
#[derive(Debug, Clone)]
pub struct AcpAgentCommand {
    pub command: Vec<String>,
    pub workdir: PathBuf,
    /// Its home (outside the checkout, so what it keeps there is not committed).
    pub home: PathBuf,
    /// How its permission requests are answered.
    pub asking: Asking,
    /// The workspace's own user, when workspaces are isolated.
    pub run_as: Option<RunAs>,
    /// The project's variables for its agent (plain and secret): only the agent gets them.
    pub env: BTreeMap<String, String>,
}

/// The variables of the node agent's own configuration (its token among them): the coding
/// agent gets none of them.
const OWN_VARIABLES: &str = "HANGAR_";

impl AcpAgentCommand {
    fn spawn(&self, program: &str, args: &[String]) -> std::io::Result<tokio::process::Child> {
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(&self.workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: stopping the agent stops everything it started too.
            .process_group(0)
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with(OWN_VARIABLES) {
                command.env_remove(name);
            }
        }
        command.envs(&self.env);
        if let Some(user) = &self.run_as {
            // Dropping from root also drops root's supplementary groups (std does).
            command
                .uid(user.uid)
                .gid(user.gid)
                .env("HOME", &self.home)
                .env("USER", &user.name)
                .env("LOGNAME", &user.name);
        }
        command.spawn()
    }
}

/// Runs the session's turns to their end: `prompt`, then the members' messages that arrive
/// in `inbox` meanwhile; returns how the last turn ended.
pub async fn run_session(
    agent: &AcpAgentCommand,
    prompt: &str,
    inbox: Inbox,
    recorder: Arc<Mutex<Recorder>>,
) -> Result<TurnsEnded, HostError> {
    let shown = agent.command.join(" ");
    let (program, args) = agent
        .command
        .split_first()
        .ok_or_else(|| HostError::Spawn {
            command: shown.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
        })?;
    let mut child = agent
        .spawn(program, args)
        .map_err(|source| HostError::Spawn {
            command: shown.clone(),
            source,
        })?;
    let _group = child.id().map(ProcessGroup);
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(HostError::Protocol(
            "the agent's stdio was not captured".into(),
        ));
    };
    let transport = ByteStreams::new(stdin.compat_write(), stdout.compat());

    // The session the agent opened; updates of any other session are not ours to record.
    let our_session: Arc<std::sync::OnceLock<String>> = Arc::default();
    let notifications = (Arc::clone(&recorder), Arc::clone(&our_session));
    let permissions = (Arc::clone(&recorder), agent.asking.clone());
    let workdir = agent.workdir.clone();
    let prompt = prompt.to_string();
    let session_slot = Arc::clone(&our_session);
    let turn_recorder = Arc::clone(&recorder);
    let files = FileAccess::new(agent.workdir.clone(), agent.run_as.clone());
    let writes = files.clone();
    // JSON-RPC "invalid params": the agent asked for something it may not have.
    let refused = |err: fs::FsError| agent_client_protocol::Error::new(-32602, err.to_string());

    let result = Client
        .v1()
        .name("hangar-agent")
        .on_receive_notification(
            async move |notification: SessionNotification, _cx| {
                let (recorder, our_session) = &notifications;
                if our_session
                    .get()
                    .is_some_and(|id| *id != notification.session_id.to_string())
                {
                    return Ok(());
                }
                recorder
                    .lock()
                    .await
                    .record(to_update(notification.update))
                    .await
                    .map_err(agent_client_protocol::Error::into_internal_error)
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .on_receive_request(
            async move |request: RequestPermissionRequest, responder, cx| {
                let (recorder, asking) = &permissions;
                permissions::handle(request, responder, cx, Arc::clone(recorder), asking).await
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: ReadTextFileRequest, responder, _cx| match files
                .read(&request.path, request.line, request.limit)
                .await
            {
                Ok(content) => responder.respond(ReadTextFileResponse::new(content)),
                Err(err) => responder.respond_with_error(refused(err)),
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: WriteTextFileRequest, responder, _cx| match writes
                .write(&request.path, &request.content)
                .await
            {
                Ok(()) => responder.respond(WriteTextFileResponse::new()),
                Err(err) => responder.respond_with_error(refused(err)),
            },
            agent_client_protocol::on_receive_request!(),
        )
        .connect_with(transport, async move |cx| {
            let fs = FileSystemCapabilities::new()
                .read_text_file(true)
                .write_text_file(true);
            cx.send_request(
                InitializeRequest::new(ProtocolVersion::V1)
                    .client_capabilities(ClientCapabilities::new().fs(fs)),
            )
            .block_task()
            .await?;
            let session = cx
                .send_request(NewSessionRequest::new(workdir))
                .block_task()
                .await?;
            let _ = session_slot.set(session.session_id.to_string());
            turns::play(&cx, session.session_id, prompt, inbox, turn_recorder).await
        })
        .await
        .map_err(|err| HostError::Protocol(err.to_string()));

    agent
        .asking
        .waiting
        .forget_workspace(&agent.asking.workspace);
    recorder.lock().await.close().await?;
    // Ends the agent if it is still running (kill_on_drop covers early returns).
    let _ = child.start_kill();
    result
}
