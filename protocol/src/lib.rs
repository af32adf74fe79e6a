//! Wire types shared by every part of Hangar: the control-plane functions, the node agent,
//! the UI and the tests. Nothing here does I/O, so the crate also builds for wasm32 (the
//! clock and id minting are left out there).

pub mod agent;
pub mod auth;
pub mod codes;
pub mod config;
pub mod error;
pub mod fit;
pub mod forge;
pub mod git;
pub mod ids;
pub mod limits;
pub mod live;
pub mod messages;
pub mod node;
pub mod numbers;
pub mod permissions;
pub mod routes;
pub mod tasks;
#[cfg(not(target_arch = "wasm32"))]
pub mod time;
pub mod users;
pub mod webhooks;

/// The release of this build: the node agent reports it, and the control plane expects its
/// own by default (`HANGAR_NODE_AGENT_VERSION`), so a deploy retires nodes of the last one.
pub const RELEASE: &str = env!("CARGO_PKG_VERSION");

pub use codes::ErrorCode;
pub use error::ErrorBody;
pub use ids::{
    ApiTokenId, IdError, MessageId, NodeId, PermissionId, ProjectId, SessionId, TaskId, UserId,
    WorkspaceId,
};
pub use messages::{
    ChatMessage, DraftRequest, FollowUpDelivery, IngestBatch, IngestResponse, MessageDraft,
    MessageRole, MessagesPage, PostMessageRequest, PostedMessage, RejectedMessage, ToolCallInfo,
};
