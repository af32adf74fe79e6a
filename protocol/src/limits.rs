//! Limits of the wire protocol. The control plane enforces them; the agent builds batches
//! that respect them. Defaults of the agent's batching variables live here too, so the two
//! sides cannot drift apart.

/// Most messages one ingest batch may carry (`MSG_BATCH_MAX_SIZE` default and ceiling).
pub const MSG_BATCH_MAX_SIZE: usize = 50;

/// Most bytes one ingest request body may have (`MSG_BATCH_MAX_BYTES` default and ceiling).
/// Measured on the raw JSON body, envelope included, so the agent can check it exactly.
pub const MSG_BATCH_MAX_BYTES: usize = 65_536;

/// Most UTF-8 bytes of one message's `content`. Half a batch, so any single message fits in
/// a batch with room for its envelope; longer agent output is split by the agent.
pub const MESSAGE_CONTENT_MAX_BYTES: usize = 32_768;

/// Most bytes of a tool call's JSON metadata (`tool`), measured as serialized.
pub const TOOL_INFO_MAX_BYTES: usize = 8_192;

/// Longest accepted identifier (project, session, workspace, message, ...).
pub const ID_MAX_LEN: usize = 64;

/// Most UTF-8 bytes of a draft's text: a longer one carries its end only.
pub const DRAFT_CONTENT_MAX_BYTES: usize = 16 * 1024;
/// How often at most the agent sends a growing message's draft (`HANGAR_DRAFT_INTERVAL_MS`).
pub const DRAFT_INTERVAL_MS: u64 = 100;

/// Default and largest page size of `GET .../messages`.
pub const MESSAGES_PAGE_DEFAULT_LIMIT: u32 = 50;
pub const MESSAGES_PAGE_MAX_LIMIT: u32 = 200;

/// Default and largest page size of `GET .../tasks`.
pub const TASKS_PAGE_DEFAULT_LIMIT: u32 = 50;
pub const TASKS_PAGE_MAX_LIMIT: u32 = 100;
/// Most transitions a task summary (a listing's entry) carries: the latest ones.
pub const TASK_SUMMARY_HISTORY: usize = 5;

/// Agent-side defaults from DESIGN.md section 5.
pub const MSG_BATCH_MAX_WAIT_MS: u64 = 2_000;
pub const MSG_OUTBOX_MAX_SIZE: u64 = 10_000;
pub const MSG_RETRY_INITIAL_INTERVAL_MS: u64 = 1_000;
pub const MSG_RETRY_MAX_INTERVAL_MS: u64 = 30_000;
pub const MSG_RETRY_MAX_ELAPSED_TIME_MS: u64 = 300_000;

/// Control-plane defaults from DESIGN.md section 5.
pub const NODE_WARM_TIMEOUT_MS: u64 = 1_800_000;
pub const MAX_AUTO_NODE_LIFETIME_MS: u64 = 14_400_000;

/// Most UTF-8 bytes of a task prompt: one user message.
pub const TASK_PROMPT_MAX_BYTES: usize = MESSAGE_CONTENT_MAX_BYTES;
/// Most characters of a task title and of a project name.
pub const TITLE_MAX_CHARS: usize = 200;
/// Most characters of a project's repository reference.
pub const REPO_MAX_CHARS: usize = 500;
/// Most characters of a project's ACP agent command line.
pub const ACP_COMMAND_MAX_CHARS: usize = 1000;
/// Longest reason a task keeps for a status change (a git error's tail fits).
pub const REASON_MAX_CHARS: usize = 2000;
/// Most members of one project.
pub const PROJECT_MAX_MEMBERS: usize = 100;

/// Largest frame the control plane pushes to a viewer: API Gateway's WebSocket message
/// limit (128 KiB). Messages that do not fit are left out; the frame's cursor makes the
/// viewer page them over HTTP.
pub const LIVE_FRAME_MAX_BYTES: usize = 128 * 1024;
/// How long a connection item lives without a `$disconnect`: API Gateway closes every
/// connection after 2 hours.
pub const CONNECTION_TTL_SECS: u64 = 2 * 60 * 60;
