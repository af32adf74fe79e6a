//! Running the real `hangar-agent` binary (with the scripted ACP agent) against a test stack,
//! optionally behind a proxy that injects failures into message ingest.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hangar_agent::outbox::Outbox;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::{Seeded, TestStack};

/// A binary of the workspace, built beside the test executables by `cargo nextest run
/// --workspace` (target/<profile>/<name>).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (scripts/test does)",
        path.display()
    );
    path
}

/// What the proxy does with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a JSON error body, without forwarding.
    Status(u16),
}

#[derive(Default)]
struct ProxyState {
    upstream: String,
    /// Faults for the next requests, in order.
    queued: VecDeque<Fault>,
    /// A fault for every request while set (after the queue is used up).
    always: Option<Fault>,
    /// How long each request is held before it is answered or forwarded.
    delay: Duration,
    /// Requests being held or forwarded right now.
    in_flight: usize,
    /// Bumped by `drop_held`: held requests of an older epoch are never forwarded.
    epoch: u64,
    /// Every request body seen, with the status answered.
    seen: Vec<(Value, u16)>,
    /// When each of `seen` was answered, in Unix epoch milliseconds.
    answered_at: Vec<u64>,
}

/// An HTTP proxy in front of the stack's API that can fail requests on demand.
#[derive(Clone)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
    http: reqwest::Client,
}

impl FaultProxy {
    pub async fn start(upstream: String) -> FaultProxy {
        let state = Arc::new(Mutex::new(ProxyState {
            upstream,
            ..ProxyState::default()
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let proxy = FaultProxy {
            addr,
            state,
            http: reqwest::Client::new(),
        };
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(proxy.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        proxy
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProxyState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn queue(&self, faults: &[Fault]) {
        self.lock().queued.extend(faults.iter().copied());
    }

    pub fn set_always(&self, fault: Option<Fault>) {
        self.lock().always = fault;
    }

    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Requests being held now never reach the stack, as if lost with a killed sender.
    pub fn drop_held(&self) {
        self.lock().epoch += 1;
    }

    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// When each request of [`FaultProxy::seen`] was answered (epoch ms).
    pub fn answered_at(&self) -> Vec<u64> {
        self.lock().answered_at.clone()
    }

    /// Request bodies seen so far, with the status each was answered.
    pub fn seen(&self) -> Vec<(Value, u16)> {
        self.lock().seen.clone()
    }
}

async fn forward(
    State(proxy): State<FaultProxy>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let upstream = proxy.lock().upstream.clone();
    if !uri.path().ends_with("/messages") {
        // Only ingest is faulted and recorded; other callbacks (status, ready) pass through.
        return pass(&proxy, &upstream, &uri, &headers, body).await;
    }
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (fault, delay, epoch) = {
        let mut state = proxy.lock();
        state.in_flight += 1;
        let fault = state.queued.pop_front().or(state.always);
        (fault, state.delay, state.epoch)
    };
    // Counts the request out even when the client hangs up and this future is dropped.
    struct InFlight(FaultProxy);
    impl Drop for InFlight {
        fn drop(&mut self) {
            self.0.lock().in_flight -= 1;
        }
    }
    let _in_flight = InFlight(proxy.clone());
    tokio::time::sleep(delay).await;
    let fault = if proxy.lock().epoch != epoch {
        Some(Fault::Status(503))
    } else {
        fault
    };
    let response = match fault {
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(serde_json::json!({"code": "injected", "message": "fault injected by the test proxy"})))
                .into_response()
        }
        None => pass(&proxy, &upstream, &uri, &headers, body).await,
    };
    let mut state = proxy.lock();
    state.seen.push((json, response.status().as_u16()));
    state.answered_at.push(hangar_protocol::time::now_ms());
    drop(state);
    response
}

/// Forwards a POST to the stack as it came.
async fn pass(
    proxy: &FaultProxy,
    upstream: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let mut request = proxy
        .http
        .post(format!("{upstream}{uri}"))
        .body(body.to_vec());
    for name in ["authorization", "content-type"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value.as_bytes());
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status =
                StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let bytes = answer.bytes().await.unwrap_or_default();
            (status, [("content-type", "application/json")], bytes).into_response()
        }
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}

/// One `hangar-agent` process and its log file.
pub struct AgentProcess {
    pub child: Child,
    log: PathBuf,
}

impl AgentProcess {
    pub fn pid(&self) -> u32 {
        self.child.id().expect("agent still running")
    }

    pub async fn sigkill(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
    }

    pub fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    /// Waits for exit; returns the exit code and what the agent logged.
    pub async fn wait(mut self, limit: Duration) -> (Option<i32>, String) {
        let status = tokio::time::timeout(limit, self.child.wait()).await;
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let status = match status {
            Ok(status) => status.expect("agent status"),
            Err(_) => panic!("agent did not exit within {limit:?}; its log:\n{log}"),
        };
        (status.code(), log)
    }
}

/// Everything needed to start agents for one seeded session.
pub struct AgentSetup {
    pub dir: tempfile::TempDir,
    pub env: HashMap<String, String>,
}

impl AgentSetup {
    /// Agent env for `seeded`, delivering to `api_url`, playing `script` (None: the default
    /// behaviour of the scripted agent).
    pub fn new(
        stack: &TestStack,
        seeded: &Seeded,
        api_url: &str,
        script: Option<Value>,
    ) -> AgentSetup {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env: HashMap<String, String> = [
            ("PROJECT_ID", seeded.project.to_string()),
            ("CHAT_SESSION_ID", seeded.session.to_string()),
            ("HANGAR_WORKSPACE_ID", seeded.workspace.to_string()),
            ("HANGAR_API_URL", api_url.to_string()),
            (
                "HANGAR_CALLBACK_TOKEN",
                stack.callback_token(&seeded.workspace),
            ),
            (
                "HANGAR_OUTBOX_PATH",
                dir.path().join("outbox.db").display().to_string(),
            ),
            (
                "HANGAR_ACP_COMMAND",
                workspace_binary("scripted-acp-agent").display().to_string(),
            ),
            ("HANGAR_WORKDIR", dir.path().display().to_string()),
            ("HANGAR_TASK_PROMPT", "Fix the failing test".to_string()),
            ("MSG_BATCH_MAX_WAIT_MS", "50".to_string()),
            ("MSG_RETRY_INITIAL_INTERVAL_MS", "20".to_string()),
            ("MSG_RETRY_MAX_INTERVAL_MS", "100".to_string()),
            ("RUST_LOG", "info".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(script) = script {
            let path = dir.path().join("script.json");
            std::fs::write(&path, serde_json::to_vec(&script).expect("script json"))
                .expect("write script");
            env.insert("SCRIPTED_ACP_SCRIPT".into(), path.display().to_string());
        }
        AgentSetup { dir, env }
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.env.insert(name.into(), value.into());
        self
    }

    pub fn outbox_path(&self) -> PathBuf {
        self.dir.path().join("outbox.db")
    }

    /// Starts `hangar-agent <command>`.
    pub fn spawn(&self, command: &str) -> AgentProcess {
        let log = self
            .dir
            .path()
            .join(format!("agent-{}.log", ulid::Ulid::new()));
        let log_file = std::fs::File::create(&log).expect("agent log file");
        let child = Command::new(workspace_binary("hangar-agent"))
            .arg(command)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .expect("start hangar-agent");
        AgentProcess { child, log }
    }

    /// The outbox file, opened beside the agent (WAL allows a second connection).
    pub fn outbox(&self) -> Outbox {
        Outbox::open(&self.outbox_path(), u64::MAX).expect("open outbox")
    }
}

/// A script the workspace's user can read (tempdirs are private to their maker), and the
/// project `acpCommand` that plays it: a project names its agent by configuration alone.
pub fn shared_script(steps: Value) -> (tempfile::TempDir, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = dir.path().join("script.json");
    std::fs::write(&path, steps.to_string()).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let path = path.display().to_string();
    (dir, path)
}

/// The `acpCommand` that plays the script at `path` with the scripted agent.
pub fn scripted_command(path: &str) -> String {
    format!(
        "env SCRIPTED_ACP_SCRIPT={path} {}",
        workspace_binary("scripted-acp-agent").display()
    )
}
