//! Permission prompts. An ACP agent asks before it acts (`session/request_permission`); the
//! project's settings say, per tool kind, whether the node agent answers at once (allow or
//! deny) or asks the people watching. An asked permission is a message with its options
//! that every viewer sees as buttons; the first answer (`POST .../permissions/{id}`) goes
//! to the agent, and a timeout denies. The answer and who gave it are a message too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{PermissionId, UserId};

/// How long an asked permission waits by default before it is denied.
pub const PERMISSION_TIMEOUT_DEFAULT_SECS: u32 = 600;
/// Longest wait a project may set (a day).
pub const PERMISSION_TIMEOUT_MAX_SECS: u32 = 86_400;
/// Most options one prompt shows (ACP agents offer two to four).
pub const PERMISSION_OPTIONS_MAX: usize = 8;
/// Longest option label shown.
pub const PERMISSION_OPTION_NAME_MAX_CHARS: usize = 200;
/// Longest option id kept (the agent's own identifier, sent back verbatim).
pub const PERMISSION_OPTION_ID_MAX_CHARS: usize = 128;
/// Most bytes of a message's permission info, measured as serialized.
pub const PERMISSION_INFO_MAX_BYTES: usize = 4_096;

/// ACP's tool kinds, the keys of [`PermissionSettings::by_kind`].
pub const TOOL_KINDS: [&str; 9] = [
    "read", "edit", "delete", "move", "search", "execute", "think", "fetch", "other",
];

/// What the node agent does when the agent asks for a kind of tool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionMode {
    /// Show the prompt to the people watching; deny when nobody answers in time.
    #[default]
    Ask,
    Allow,
    Deny,
}

/// A project's permission settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionSettings {
    /// For every tool kind not in `byKind`.
    #[serde(default)]
    pub default: PermissionMode,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_kind: BTreeMap<String, PermissionMode>,
    /// How long an asked permission waits (1 to 86,400 s).
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::numbers::whole"
    )]
    pub timeout_secs: u32,
}

fn default_timeout() -> u32 {
    PERMISSION_TIMEOUT_DEFAULT_SECS
}

impl Default for PermissionSettings {
    fn default() -> Self {
        PermissionSettings {
            default: PermissionMode::Ask,
            by_kind: BTreeMap::new(),
            timeout_secs: PERMISSION_TIMEOUT_DEFAULT_SECS,
        }
    }
}

impl PermissionSettings {
    /// Everything allowed (the demo project, and tests that are not about permissions).
    pub fn allow_all() -> Self {
        PermissionSettings {
            default: PermissionMode::Allow,
            ..PermissionSettings::default()
        }
    }

    /// The mode for a tool of `kind` (`None`: ACP's `other`).
    pub fn mode_for(&self, kind: Option<&str>) -> PermissionMode {
        self.by_kind
            .get(kind.unwrap_or("other"))
            .copied()
            .unwrap_or(self.default)
    }

    /// Why these settings cannot be kept, if they cannot.
    pub fn problem(&self) -> Option<String> {
        if let Some(kind) = self
            .by_kind
            .keys()
            .find(|kind| !TOOL_KINDS.contains(&kind.as_str()))
        {
            return Some(format!(
                "byKind: {kind:?} is not a tool kind; expected one of {}",
                TOOL_KINDS.join(", ")
            ));
        }
        if !(1..=PERMISSION_TIMEOUT_MAX_SECS).contains(&self.timeout_secs) {
            return Some(format!(
                "timeoutSecs must be 1 to {PERMISSION_TIMEOUT_MAX_SECS}, not {}",
                self.timeout_secs
            ));
        }
        None
    }
}

/// One option of a prompt, as the agent offered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionChoice {
    pub option_id: String,
    pub name: String,
    /// ACP's option kind: allow_once, allow_always, reject_once, reject_always.
    pub kind: String,
}

impl PermissionChoice {
    pub fn allows(&self) -> bool {
        self.kind.starts_with("allow")
    }
}

/// Who settled a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnsweredBy {
    /// A member, through the page or the API (`userId`).
    User,
    /// The project's policy for the tool kind, at once.
    Policy,
    /// Nobody answered in time: denied.
    Timeout,
}

/// How a permission was settled: the option chosen (none: the request was cancelled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_id: Option<String>,
    pub by: AnsweredBy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
}

/// The permission part of a message: a prompt (options, no answer), its answer (same id,
/// with the answer), or a request the policy answered at once (both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionInfo {
    pub permission_id: PermissionId,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PermissionChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<PermissionAnswer>,
}

/// Body of `POST /api/projects/{p}/sessions/{s}/permissions/{permissionId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerPermissionRequest {
    pub option_id: String,
}

/// Where an asked permission stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionStatus {
    /// Waiting for an answer.
    Pending,
    /// A member answered; the answer is on its way to the agent.
    Answered,
    /// The agent took an answer (a member's, or its timeout's): it is in the transcript.
    Settled,
}

/// A permission as the control plane keeps it: the answer to `POST .../permissions/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionView {
    pub permission_id: PermissionId,
    pub status: PermissionStatus,
    pub options: Vec<PermissionChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<PermissionAnswer>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_without_its_own_mode_takes_the_default() {
        let settings: PermissionSettings =
            serde_json::from_value(serde_json::json!({"byKind": {"read": "allow"}})).unwrap();
        assert_eq!(settings.mode_for(Some("read")), PermissionMode::Allow);
        assert_eq!(settings.mode_for(Some("execute")), PermissionMode::Ask);
        assert_eq!(settings.mode_for(None), PermissionMode::Ask);
        assert_eq!(settings.timeout_secs, PERMISSION_TIMEOUT_DEFAULT_SECS);
        assert_eq!(settings.problem(), None);
    }

    #[test]
    fn unknown_kinds_and_timeouts_out_of_range_are_problems() {
        let mut settings = PermissionSettings::default();
        settings
            .by_kind
            .insert("launch".into(), PermissionMode::Deny);
        assert!(settings.problem().unwrap().contains("launch"));
        for (timeout, ok) in [(0, false), (1, true), (86_400, true), (86_401, false)] {
            let settings = PermissionSettings {
                timeout_secs: timeout,
                ..PermissionSettings::default()
            };
            assert_eq!(settings.problem().is_none(), ok, "{timeout}");
        }
    }
}
