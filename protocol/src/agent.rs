//! A project's coding agent: which ACP agent runs (a preset or a command line), its plain
//! environment, its secrets (write-only; delivered only into the ACP agent's environment)
//! and a setup script run in the checkout after the clone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most variables (plain and secret, each) a project gives its agent.
pub const AGENT_ENV_MAX_ENTRIES: usize = 50;
/// Longest variable value.
pub const AGENT_ENV_VALUE_MAX_CHARS: usize = 4096;
/// Longest setup script.
pub const SETUP_SCRIPT_MAX_CHARS: usize = 16_384;

/// The ACP agents Hangar knows by name; anything else is a command line (`acpCommand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentPreset {
    #[serde(rename = "claude-code-acp")]
    ClaudeCodeAcp,
    #[serde(rename = "codex-acp")]
    CodexAcp,
    #[serde(rename = "gemini")]
    Gemini,
}

impl AgentPreset {
    /// The command line that starts it speaking ACP over stdio.
    pub fn command(self) -> &'static str {
        match self {
            AgentPreset::ClaudeCodeAcp => "claude-code-acp",
            AgentPreset::CodexAcp => "codex-acp",
            AgentPreset::Gemini => "gemini --experimental-acp",
        }
    }
}

/// A project's agent settings as stored and shown (secrets by name only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<AgentPreset>,
    /// Plain variables, shown to members.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The names of the secret variables kept (their values are never returned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_script: Option<String>,
}

/// The agent part of a project request: each field present changes; in `secrets` a `null`
/// value deletes that secret, and `env` replaces the plain variables whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentRequest {
    #[serde(
        default,
        deserialize_with = "crate::forge::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub preset: Option<Option<AgentPreset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<BTreeMap<String, Option<String>>>,
    #[serde(
        default,
        deserialize_with = "crate::forge::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub setup_script: Option<Option<String>>,
}

/// `POST /api/workspaces/{id}/agent-secrets`: the secret variables of the workspace's agent.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSecrets {
    pub env: BTreeMap<String, String>,
}

/// Never printed: only the names.
impl std::fmt::Debug for AgentSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSecrets")
            .field("names", &self.env.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Whether `name` may name an agent variable: a shell name, and none of Hangar's own.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("HANGAR_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_are_shell_names_and_not_hangars() {
        for good in ["ANTHROPIC_API_KEY", "_x", "npm_config_cache"] {
            assert!(is_env_name(good), "{good}");
        }
        for bad in [
            "",
            "1X",
            "A-B",
            "A B",
            "HANGAR_NODE_TOKEN",
            &"A".repeat(129),
        ] {
            assert!(!is_env_name(bad), "{bad}");
        }
    }

    #[test]
    fn presets_have_their_wire_names_and_commands() {
        let preset: AgentPreset = serde_json::from_str("\"codex-acp\"").expect("json");
        assert_eq!(preset.command(), "codex-acp");
        assert_eq!(AgentPreset::Gemini.command(), "gemini --experimental-acp");
    }

    #[test]
    fn secrets_are_never_printed() {
        let secrets = AgentSecrets {
            env: [("API_KEY".into(), "sk-secret".into())].into(),
        };
        let shown = format!("{secrets:?}");
        assert!(
            shown.contains("API_KEY") && !shown.contains("sk-secret"),
            "{shown}"
        );
    }
}
