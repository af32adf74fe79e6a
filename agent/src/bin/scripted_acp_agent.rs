//! `scripted-acp-agent`: a real ACP agent (JSON-RPC over stdio, protocol v1) whose behaviour
//! is a script, for tests and the local stack. Without `SCRIPTED_ACP_SCRIPT` it answers a
//! prompt like a small coding agent would: a thought, a plan, a tool call with a permission
//! request, and the answer streamed word by word.
//!
//! Script: a JSON array of steps, each one of
//! `{"say": "text", "chunks": n}`, `{"think": "text"}`, `{"update": <raw ACP SessionUpdate>}`,
//! `{"burst": {"count": n, "delayMs": d}}` (n tool-call messages "step 1".."step n"),
//! `{"sleepMs": n}`, `{"permission": "title", "kind": "execute"}` (kind optional), `{"stop": "end_turn" | "refusal" | ...}`,
//! `{"spawn": ["program", "arg"], "pidFile": "path"}` (a program left running, its pid written),
//! `{"shell": "command"}` (run with `sh -c`, its output said),
//! `{"echoPrompt": true}` (says the prompt it got),
//! `{"stamped": {"count": n, "delayMs": d, "tools": false}}` (pieces stamped `t=<unix ms>;`,
//! streamed text or tool calls, for latency benchmarks),
//! `{"readFile": "path"}` and `{"writeFile": "path", "content": "text"}` (through the client's
//! `fs/*` methods; a relative path is taken from the working directory; what came back, or
//! the refusal, is said). A later prompt of the session (a member's follow-up) is answered
//! with `Follow-up received: <its text>`; `session/cancel` ends the turn at its next step or
//! pause with the stop reason `cancelled`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    AgentCapabilities, CancelNotification, ContentBlock, ContentChunk, InitializeRequest,
    InitializeResponse, NewSessionRequest, NewSessionResponse, PermissionOption,
    PermissionOptionKind, PromptRequest, PromptResponse, ReadTextFileRequest,
    RequestPermissionRequest, SessionId, SessionNotification, SessionUpdate, TextContent,
    ToolCallUpdate, ToolCallUpdateFields, ToolKind, WriteTextFileRequest,
};
use agent_client_protocol::{Agent, ByteStreams, Error};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Burst {
    count: u32,
    #[serde(default)]
    delay_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stamps {
    count: u32,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    tools: bool,
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", untagged)]
enum Step {
    Say {
        say: String,
        #[serde(default)]
        chunks: Option<usize>,
        #[serde(default, rename = "delayMs")]
        delay_ms: u64,
    },
    Think {
        think: String,
    },
    Update {
        update: serde_json::Value,
    },
    Burst {
        burst: Burst,
    },
    Sleep {
        #[serde(rename = "sleepMs")]
        sleep_ms: u64,
    },
    /// Asks for permission for a tool call titled `permission`, of ACP tool `kind` (absent:
    /// none given).
    Permission {
        permission: String,
        #[serde(default)]
        kind: Option<serde_json::Value>,
    },
    Stop {
        stop: String,
    },
    /// `count` pieces stamped with their emission time (`t=<unix ms>;`), `delayMs` apart:
    /// text chunks of one streamed message, or (`"tools": true`) tool calls titled so.
    Stamped {
        stamped: Stamps,
    },
    /// Says the prompt it was given, whole (`"Prompt: …"`).
    EchoPrompt {
        #[serde(rename = "echoPrompt")]
        echo_prompt: bool,
    },
    /// Runs `sh -c` in the working directory and says what it printed (stdout, then stderr),
    /// as an agent's shell tool would.
    Shell {
        shell: String,
    },
    /// Reads a file through the client (`fs/read_text_file`).
    ReadFile {
        #[serde(rename = "readFile")]
        read_file: String,
    },
    /// Writes a file through the client (`fs/write_text_file`).
    WriteFile {
        #[serde(rename = "writeFile")]
        write_file: String,
        content: String,
    },
    /// Starts a program that outlives this step (as tools an agent runs do) and writes its
    /// pid to `pidFile`.
    Spawn {
        spawn: Vec<String>,
        #[serde(rename = "pidFile")]
        pid_file: String,
    },
}

fn default_script(prompt: &str) -> Vec<Step> {
    serde_json::from_value(json!([
        {"think": format!("The task is: {prompt}. Let me look at the workspace first.")},
        {"update": {"sessionUpdate": "plan", "entries": [
            {"content": "Read the code", "priority": "high", "status": "completed"},
            {"content": "Make the change", "priority": "high", "status": "in_progress"},
            {"content": "Run the tests", "priority": "medium", "status": "pending"}
        ]}},
        {"update": {"sessionUpdate": "tool_call", "toolCallId": "call-1", "title": "Edit src/main.rs", "kind": "edit", "status": "pending"}},
        {"permission": "Edit src/main.rs"},
        {"update": {"sessionUpdate": "tool_call_update", "toolCallId": "call-1", "status": "completed",
                    "content": [{"type": "content", "content": {"type": "text", "text": "1 file changed"}}]}},
        {"say": format!("I worked on \"{prompt}\": the change is made and the tests pass."), "delayMs": 20}
    ]))
    .unwrap_or_default()
}

fn load_script(prompt: &str) -> Result<Vec<Step>, String> {
    match std::env::var("SCRIPTED_ACP_SCRIPT") {
        Ok(path) => {
            let text = std::fs::read_to_string(&path).map_err(|err| format!("{path}: {err}"))?;
            serde_json::from_str(&text).map_err(|err| format!("{path}: {err}"))
        }
        Err(_) => Ok(default_script(prompt)),
    }
}

/// `path` from the working directory, as ACP wants paths absolute.
fn absolute(path: &str) -> std::path::PathBuf {
    std::env::current_dir()
        .map(|dir| dir.join(path))
        .unwrap_or_else(|_| path.into())
}

fn prompt_text(request: &PromptRequest) -> String {
    request
        .prompt
        .iter()
        .filter_map(|block| match block {
            ContentBlock::Text(text) => Some(text.text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn text_chunk(text: &str) -> ContentChunk {
    ContentChunk::new(ContentBlock::Text(TextContent::new(text.to_string())))
}

/// Splits `text` into `n` pieces at char boundaries (words when `n` is unset).
fn pieces(text: &str, n: Option<usize>) -> Vec<String> {
    match n {
        None => text.split_inclusive(' ').map(String::from).collect(),
        Some(n) => {
            let chars: Vec<char> = text.chars().collect();
            let size = chars.len().div_ceil(n.max(1)).max(1);
            chars
                .chunks(size)
                .map(|chunk| chunk.iter().collect())
                .collect()
        }
    }
}

type Connection = agent_client_protocol::v1::ConnectionTo<agent_client_protocol::Client>;

/// The turn being played, which `session/cancel` ends at its next step or pause.
#[derive(Default)]
struct Turn {
    cancelled: AtomicBool,
    wake: Notify,
    /// Prompts taken so far: the first plays the script, later ones (follow-ups) are
    /// answered with what they said.
    prompts: AtomicUsize,
}

impl Turn {
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Waits `ms`, or less when the turn is cancelled meanwhile.
    async fn pause(&self, ms: u64) {
        let woken = self.wake.notified();
        if self.is_cancelled() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => {}
            () = woken => {}
        }
    }
}

async fn play(
    cx: Connection,
    session: SessionId,
    steps: Vec<Step>,
    turn: &Turn,
    prompt: &str,
) -> Result<String, Error> {
    let notify = |update: SessionUpdate| {
        cx.send_notification(SessionNotification::new(session.clone(), update))
    };
    for step in steps {
        if turn.is_cancelled() {
            return Ok("cancelled".into());
        }
        match step {
            Step::Stamped { stamped } => {
                for i in 1..=stamped.count {
                    let stamp = format!("t={};", now_ms());
                    let update = match stamped.tools {
                        true => serde_json::from_value(json!({
                            "sessionUpdate": "tool_call", "toolCallId": format!("stamp-{i}"),
                            "title": stamp, "kind": "execute", "status": "completed"
                        }))
                        .map_err(Error::into_internal_error)?,
                        false => SessionUpdate::AgentMessageChunk(text_chunk(&stamp)),
                    };
                    notify(update)?;
                    turn.pause(stamped.delay_ms).await;
                }
            }
            Step::EchoPrompt { echo_prompt: false } => {}
            Step::EchoPrompt { echo_prompt: true } => {
                notify(SessionUpdate::AgentMessageChunk(text_chunk(&format!(
                    "Prompt: {prompt}"
                ))))?;
            }
            Step::Say {
                say,
                chunks,
                delay_ms,
            } => {
                for piece in pieces(&say, chunks) {
                    notify(SessionUpdate::AgentMessageChunk(text_chunk(&piece)))?;
                    if delay_ms > 0 {
                        turn.pause(delay_ms).await;
                    }
                }
            }
            Step::Think { think } => notify(SessionUpdate::AgentThoughtChunk(text_chunk(&think)))?,
            Step::Update { update } => {
                let update: SessionUpdate =
                    serde_json::from_value(update).map_err(Error::into_internal_error)?;
                notify(update)?;
            }
            Step::Burst { burst } => {
                for i in 1..=burst.count {
                    let update = serde_json::from_value(json!({
                        "sessionUpdate": "tool_call", "toolCallId": format!("burst-{i}"),
                        "title": format!("step {i}"), "kind": "execute", "status": "completed"
                    }))
                    .map_err(Error::into_internal_error)?;
                    notify(update)?;
                    if burst.delay_ms > 0 {
                        tokio::time::sleep(Duration::from_millis(burst.delay_ms)).await;
                    }
                }
            }
            Step::Sleep { sleep_ms } => turn.pause(sleep_ms).await,
            Step::Permission { permission, kind } => {
                let mut fields = ToolCallUpdateFields::new().title(permission);
                if let Some(kind) = kind {
                    let kind: ToolKind =
                        serde_json::from_value(kind).map_err(Error::into_internal_error)?;
                    fields = fields.kind(kind);
                }
                let tool_call = ToolCallUpdate::new("permission-call", fields);
                let request = RequestPermissionRequest::new(
                    session.clone(),
                    tool_call,
                    vec![
                        PermissionOption::new(
                            "allow",
                            "Allow once",
                            PermissionOptionKind::AllowOnce,
                        ),
                        PermissionOption::new("reject", "Reject", PermissionOptionKind::RejectOnce),
                    ],
                );
                let response = cx.send_request(request).block_task().await?;
                let outcome =
                    serde_json::to_string(&response.outcome).map_err(Error::into_internal_error)?;
                notify(SessionUpdate::AgentMessageChunk(text_chunk(&format!(
                    "Permission outcome: {outcome}\n"
                ))))?;
            }
            Step::Stop { stop } => return Ok(stop),
            Step::Shell { shell } => {
                let output = tokio::process::Command::new("sh")
                    .args(["-c", &shell])
                    .output()
                    .await
                    .map_err(Error::into_internal_error)?;
                let printed = format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
                notify(SessionUpdate::AgentMessageChunk(text_chunk(&printed)))?;
            }
            Step::ReadFile { read_file } => {
                let request = ReadTextFileRequest::new(session.clone(), absolute(&read_file));
                let said = match cx.send_request(request).block_task().await {
                    Ok(response) => format!("read {read_file}: {}", response.content),
                    Err(err) => format!("read {read_file} refused: {}\n", err.message),
                };
                notify(SessionUpdate::AgentMessageChunk(text_chunk(&said)))?;
            }
            Step::WriteFile {
                write_file,
                content,
            } => {
                let request =
                    WriteTextFileRequest::new(session.clone(), absolute(&write_file), content);
                let said = match cx.send_request(request).block_task().await {
                    Ok(_) => format!("wrote {write_file}\n"),
                    Err(err) => format!("write {write_file} refused: {}\n", err.message),
                };
                notify(SessionUpdate::AgentMessageChunk(text_chunk(&said)))?;
            }
            Step::Spawn { spawn, pid_file } => {
                let (program, args) = spawn
                    .split_first()
                    .ok_or_else(|| Error::invalid_params().data("spawn needs a program"))?;
                let child = std::process::Command::new(program)
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .map_err(Error::into_internal_error)?;
                std::fs::write(&pid_file, child.id().to_string())
                    .map_err(Error::into_internal_error)?;
            }
        }
    }
    Ok(if turn.is_cancelled() {
        "cancelled".into()
    } else {
        "end_turn".into()
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let transport = ByteStreams::new(
        tokio::io::stdout().compat_write(),
        tokio::io::stdin().compat(),
    );
    let playing = Arc::new(Turn::default());
    let cancelling = Arc::clone(&playing);
    Agent
        .v1()
        .name("scripted-acp-agent")
        .on_receive_notification(
            async move |_cancel: CancelNotification, _cx| {
                cancelling.cancel();
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .on_receive_request(
            async move |initialize: InitializeRequest, responder, _cx| {
                responder.respond(
                    InitializeResponse::new(initialize.protocol_version.min(ProtocolVersion::V1))
                        .agent_capabilities(AgentCapabilities::new()),
                )
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |_request: NewSessionRequest, responder, _cx| {
                responder.respond(NewSessionResponse::new(format!(
                    "scripted-{}",
                    std::process::id()
                )))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: PromptRequest, responder, cx: Connection| {
                let prompt = prompt_text(&request);
                let turn = Arc::clone(&playing);
                let steps = match turn.prompts.fetch_add(1, Ordering::SeqCst) {
                    0 => load_script(&prompt).map_err(|err| Error::new(-32602, err))?,
                    _ => vec![Step::Say {
                        say: format!("Follow-up received: {prompt}"),
                        chunks: None,
                        delay_ms: 0,
                    }],
                };
                turn.cancelled.store(false, Ordering::SeqCst);
                // Playing may wait on the client (permission requests): off the dispatch loop.
                cx.clone().spawn(async move {
                    let stop = play(cx, request.session_id, steps, &turn, &prompt).await?;
                    let stop_reason =
                        serde_json::from_value(json!(stop)).map_err(Error::into_internal_error)?;
                    responder.respond(PromptResponse::new(stop_reason))
                })
            },
            agent_client_protocol::on_receive_request!(),
        )
        .connect_to(transport)
        .await
}
