//! Every machine-readable error code of the API, in one place: the control plane answers
//! with them, the agent, the UI and the tests compare against them.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $wire:literal,)+) => {
        /// The `code` of an [`crate::ErrorBody`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $($(#[$doc])* #[serde(rename = $wire)] $variant,)+
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)+
                }
            }
        }
    };
}

error_codes! {
    // Requests.
    InvalidBody = "invalid_body",
    UnreadableBody = "unreadable_body",
    BodyTooLarge = "body_too_large",
    InvalidPath = "invalid_path",
    InvalidQuery = "invalid_query",
    RouteNotFound = "route_not_found",
    MethodNotAllowed = "method_not_allowed",
    // Tokens.
    MissingToken = "missing_token",
    InvalidToken = "invalid_token",
    TokenExpired = "token_expired",
    TokenNotYetValid = "token_not_yet_valid",
    WrongAudience = "wrong_audience",
    WrongIssuer = "wrong_issuer",
    WrongTokenUse = "wrong_token_use",
    UnknownSigningKey = "unknown_signing_key",
    AlgorithmNotAllowed = "algorithm_not_allowed",
    IdentityProviderUnavailable = "identity_provider_unavailable",
    WorkspaceMismatch = "workspace_mismatch",
    NodeMismatch = "node_mismatch",
    // Projects, members, tasks, sessions.
    ProjectNotFound = "project_not_found",
    NotAMember = "not_a_member",
    NotTheOwner = "not_the_owner",
    TooManyMembers = "too_many_members",
    InvalidEmail = "invalid_email",
    OwnerStays = "owner_stays",
    MemberNotFound = "member_not_found",
    // Archives.
    TaskActive = "task_active",
    TaskArchived = "task_archived",
    ProjectArchived = "project_archived",
    ProjectBusy = "project_busy",
    // Personal API tokens.
    InvalidTokenName = "invalid_token_name",
    InvalidExpiry = "invalid_expiry",
    TooManyTokens = "too_many_tokens",
    ApiTokenNotFound = "api_token_not_found",
    SignInNeeded = "sign_in_needed",
    InvalidName = "invalid_name",
    InvalidRepo = "invalid_repo",
    InvalidBranch = "invalid_branch",
    InvalidForge = "invalid_forge",
    NoCredential = "no_credential",
    ForgeRefused = "forge_refused",
    InvalidAcpCommand = "invalid_acp_command",
    InvalidAgent = "invalid_agent",
    InvalidTitle = "invalid_title",
    InvalidPrompt = "invalid_prompt",
    PromptTooLarge = "prompt_too_large",
    TaskNotFound = "task_not_found",
    NothingKept = "nothing_kept",
    InvalidIdempotencyKey = "invalid_idempotency_key",
    IdempotencyKeyReused = "idempotency_key_reused",
    IdempotencyKeyInProgress = "idempotency_key_in_progress",
    InvalidTransition = "invalid_transition",
    SessionNotFound = "session_not_found",
    InvalidPermissions = "invalid_permissions",
    InvalidWebhook = "invalid_webhook",
    // Permission prompts.
    PermissionNotFound = "permission_not_found",
    InvalidOption = "invalid_option",
    PermissionAnswered = "permission_answered",
    PermissionClosed = "permission_closed",
    // Follow-ups.
    InvalidMessage = "invalid_message",
    NotRunning = "not_running",
    // Message history.
    InvalidAfter = "invalid_after",
    InvalidBefore = "invalid_before",
    InvalidLimit = "invalid_limit",
    InvalidCursor = "invalid_cursor",
    // Ingest.
    BatchTooLarge = "batch_too_large",
    EmptyBatch = "empty_batch",
    TooManyMessages = "too_many_messages",
    InvalidSessionId = "invalid_session_id",
    InvalidMessageId = "invalid_message_id",
    InvalidRole = "invalid_role",
    InvalidSeq = "invalid_seq",
    SeqNotAscending = "seq_not_ascending",
    InvalidCreatedAt = "invalid_created_at",
    MessageTooLarge = "message_too_large",
    ToolInfoTooLarge = "tool_info_too_large",
    InvalidToolInfo = "invalid_tool_info",
    InvalidPermissionInfo = "invalid_permission_info",
    SequenceConflict = "sequence_conflict",
    WorkspaceNotFound = "workspace_not_found",
    WorkspaceHasNoTask = "workspace_has_no_task",
    WorkspaceClosed = "workspace_closed",
    // Nodes.
    NodeNotFound = "node_not_found",
    NodeNotCreating = "node_not_creating",
    NotANode = "not_a_node",
    // Live connections.
    MissingProject = "missing_project",
    InvalidProject = "invalid_project",
    InvalidConnection = "invalid_connection",
    TooManyConnections = "too_many_connections",
    GatewayUnavailable = "gateway_unavailable",
    // Servers.
    StoreUnavailable = "store_unavailable",
    Internal = "internal",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<ErrorCode> for String {
    fn eq(&self, code: &ErrorCode) -> bool {
        self == code.as_str()
    }
}

impl PartialEq<ErrorCode> for &str {
    fn eq(&self, code: &ErrorCode) -> bool {
        *self == code.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            let json = serde_json::to_string(code).expect("json");
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(
                serde_json::from_str::<ErrorCode>(&json).expect("parse"),
                *code
            );
        }
    }
}
