//! The ACP host: runs an ACP agent as a child process speaking JSON-RPC over stdio,
//! initializes it, opens a session in the workspace directory, sends the task prompt, and
//! records every session update in the outbox (through the coalescer) in arrival order.
//! Permission requests are answered by the configured policy, and each answer is recorded.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    ContentBlock, InitializeRequest, NewSessionRequest, PermissionOptionKind, PromptRequest,
    RequestPermissionOutcome, RequestPermissionRequest, RequestPermissionResponse,
    SelectedPermissionOutcome, SessionNotification, SessionUpdate, TextContent, ToolCallContent,
};
use agent_client_protocol::{ByteStreams, Client};
use hangar_protocol::{MessageRole, ToolCallInfo, WorkspaceId};
use tokio::sync::Mutex;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use crate::config::PermissionPolicy;
use crate::node::isolation::RunAs;
use crate::outbox::{Draft, Outbox, OutboxError};
use crate::transcript::{Coalescer, Update, user_prompt};

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
    coalescer: Coalescer,
}

impl Recorder {
    pub fn new(outbox: Outbox, workspace: WorkspaceId) -> Self {
        Recorder {
            outbox,
            workspace,
            coalescer: Coalescer::default(),
        }
    }

    pub async fn record(&mut self, update: Update) -> Result<(), OutboxError> {
        let drafts = self.coalescer.push(update);
        self.enqueue(drafts).await
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

    async fn enqueue(&self, drafts: Vec<Draft>) -> Result<(), OutboxError> {
        for draft in drafts {
            self.outbox.enqueue(&self.workspace, draft).await?;
        }
        Ok(())
    }
}

fn system(content: String) -> Draft {
    Draft {
        role: MessageRole::System,
        content,
        tool: None,
    }
}

/// A serde enum's wire name (`"in_progress"`, `"edit"`, ...).
fn wire_name(value: &impl serde::Serialize) -> Option<String> {
    match serde_json::to_value(value).ok()? {
        serde_json::Value::String(name) => Some(name),
        _ => None,
    }
}

fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::ResourceLink(link) => format!("[{}]({})", link.name, link.uri),
        other => {
            let kind = serde_json::to_value(other)
                .ok()
                .and_then(|value| value.get("type").and_then(|t| t.as_str()).map(String::from))
                .unwrap_or_else(|| "content".into());
            format!("[{kind}]")
        }
    }
}

fn tool_content_text(content: &[ToolCallContent]) -> String {
    content
        .iter()
        .map(|item| match item {
            ToolCallContent::Content(content) => block_text(&content.content),
            ToolCallContent::Diff(diff) => {
                format!("--- {}\n{}", diff.path.display(), diff.new_text)
            }
            ToolCallContent::Terminal(terminal) => format!("[terminal {}]", terminal.terminal_id),
            _ => "[tool content]".into(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reduces an ACP session update to what the transcript keeps.
pub fn to_update(update: SessionUpdate) -> Update {
    match update {
        SessionUpdate::AgentMessageChunk(chunk) => Update::AgentText(block_text(&chunk.content)),
        SessionUpdate::AgentThoughtChunk(chunk) => Update::Thought(block_text(&chunk.content)),
        SessionUpdate::ToolCall(call) => Update::ToolCall {
            content: tool_content_text(&call.content),
            info: ToolCallInfo {
                tool_call_id: call.tool_call_id.to_string(),
                title: Some(call.title),
                kind: wire_name(&call.kind),
                status: wire_name(&call.status),
            },
        },
        SessionUpdate::ToolCallUpdate(update) => Update::ToolCallUpdate {
            content: update
                .fields
                .content
                .as_deref()
                .map(tool_content_text)
                .unwrap_or_default(),
            info: ToolCallInfo {
                tool_call_id: update.tool_call_id.to_string(),
                title: update.fields.title,
                kind: update.fields.kind.as_ref().and_then(wire_name),
                status: update.fields.status.as_ref().and_then(wire_name),
            },
        },
        SessionUpdate::Plan(plan) => Update::Plan(
            plan.entries
                .iter()
                .map(|entry| {
                    (
                        wire_name(&entry.status).unwrap_or_default(),
                        entry.content.clone(),
                    )
                })
                .collect(),
        ),
        // The prompt is recorded when it is sent; echoes and the rest are not transcript.
        _ => Update::Ignored,
    }
}

/// Picks the answer to a permission request under `policy`.
pub fn decide(
    policy: PermissionPolicy,
    request: &RequestPermissionRequest,
) -> (RequestPermissionOutcome, String) {
    let preferred: &[PermissionOptionKind] = match policy {
        PermissionPolicy::Allow => &[
            PermissionOptionKind::AllowOnce,
            PermissionOptionKind::AllowAlways,
        ],
        PermissionPolicy::Reject => &[
            PermissionOptionKind::RejectOnce,
            PermissionOptionKind::RejectAlways,
        ],
        PermissionPolicy::Cancel => &[],
    };
    let chosen = preferred
        .iter()
        .find_map(|kind| request.options.iter().find(|option| option.kind == *kind));
    match chosen {
        Some(option) => (
            RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(
                option.option_id.clone(),
            )),
            format!(
                "{} ({})",
                option.name,
                wire_name(&option.kind).unwrap_or_default()
            ),
        ),
        None => (RequestPermissionOutcome::Cancelled, "cancelled".into()),
    }
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
    pub policy: PermissionPolicy,
    /// The workspace's own user, when workspaces are isolated.
    pub run_as: Option<RunAs>,
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

/// Runs one prompt turn to its end; returns the ACP stop reason.
pub async fn run_prompt(
    agent: &AcpAgentCommand,
    prompt: &str,
    recorder: Arc<Mutex<Recorder>>,
) -> Result<String, HostError> {
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
    let permissions = (Arc::clone(&recorder), agent.policy);
    let prompt_recorder = Arc::clone(&recorder);
    let workdir = agent.workdir.clone();
    let prompt = prompt.to_string();
    let session_slot = Arc::clone(&our_session);

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
            async move |request: RequestPermissionRequest, responder, _cx| {
                let (recorder, policy) = &permissions;
                let (outcome, answer) = decide(*policy, &request);
                let title = request
                    .tool_call
                    .fields
                    .title
                    .clone()
                    .unwrap_or_else(|| request.tool_call.tool_call_id.to_string());
                recorder
                    .lock()
                    .await
                    .record_drafts(vec![system(format!(
                        "Permission requested: {title}. Answered: {answer}."
                    ))])
                    .await
                    .map_err(agent_client_protocol::Error::into_internal_error)?;
                responder.respond(RequestPermissionResponse::new(outcome))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .connect_with(transport, async move |cx| {
            cx.send_request(InitializeRequest::new(ProtocolVersion::V1))
                .block_task()
                .await?;
            let session = cx
                .send_request(NewSessionRequest::new(workdir))
                .block_task()
                .await?;
            let _ = session_slot.set(session.session_id.to_string());
            prompt_recorder
                .lock()
                .await
                .record_drafts(user_prompt(&prompt))
                .await
                .map_err(agent_client_protocol::Error::into_internal_error)?;
            let response = cx
                .send_request(PromptRequest::new(
                    session.session_id,
                    vec![ContentBlock::Text(TextContent::new(prompt))],
                ))
                .block_task()
                .await?;
            Ok(wire_name(&response.stop_reason).unwrap_or_else(|| "unknown".into()))
        })
        .await
        .map_err(|err| HostError::Protocol(err.to_string()));

    recorder.lock().await.close().await?;
    // Ends the agent if it is still running (kill_on_drop covers early returns).
    let _ = child.start_kill();
    result
}
