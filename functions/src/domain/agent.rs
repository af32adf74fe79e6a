//! A project's agent settings, checked here: a preset or a command line, plain variables,
//! secret variables (kept in the vault beside the forge credential, never in the table,
//! never returned: only their names are shown) and a setup script.

use std::collections::BTreeMap;

use hangar_protocol::ErrorCode;
use hangar_protocol::ProjectId;
use hangar_protocol::agent::{
    AGENT_ENV_MAX_ENTRIES, AGENT_ENV_VALUE_MAX_CHARS, AgentRequest, AgentSecrets, AgentSettings,
    SETUP_SCRIPT_MAX_CHARS, is_env_name,
};

use super::error::{Error, Result};
use super::forge::Forges;
use super::ports::VaultSlot;

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid(ErrorCode::InvalidAgent, message)
}

/// `vars` checked as agent variables named in `field`.
fn variables(field: &str, vars: &BTreeMap<String, String>) -> Result<()> {
    if vars.len() > AGENT_ENV_MAX_ENTRIES {
        return Err(invalid(format!(
            "{field} has {} variables; at most {AGENT_ENV_MAX_ENTRIES} are allowed",
            vars.len()
        )));
    }
    for (name, value) in vars {
        if !is_env_name(name) {
            return Err(invalid(format!(
                "{field}: {name:?} is not a variable name (letters, digits, '_'; not HANGAR_*)"
            )));
        }
        if value.chars().count() > AGENT_ENV_VALUE_MAX_CHARS || value.contains('\0') {
            return Err(invalid(format!(
                "{field}: {name} must be at most {AGENT_ENV_VALUE_MAX_CHARS} characters, without NUL"
            )));
        }
    }
    Ok(())
}

/// The settings `request` makes of `current` for `project`, keeping the secrets it sets.
pub async fn apply(
    forges: &Forges,
    project: &ProjectId,
    current: &AgentSettings,
    request: &AgentRequest,
) -> Result<AgentSettings> {
    let mut settings = current.clone();
    if let Some(preset) = request.preset {
        settings.preset = preset;
    }
    if let Some(env) = &request.env {
        variables("agent.env", env)?;
        settings.env = env.clone();
    }
    if let Some(script) = &request.setup_script {
        // Checked as given (the OpenAPI document states the same), kept trimmed.
        settings.setup_script = match script.as_deref() {
            Some(script)
                if script.chars().count() > SETUP_SCRIPT_MAX_CHARS || script.contains('\0') =>
            {
                return Err(invalid(format!(
                    "agent.setupScript must be at most {SETUP_SCRIPT_MAX_CHARS} characters, without NUL"
                )));
            }
            Some(script) if !script.trim().is_empty() => Some(script.trim().to_string()),
            _ => None,
        };
    }
    if let Some(changes) = &request.secrets {
        if let Some(name) = changes.keys().find(|name| !is_env_name(name)) {
            return Err(invalid(format!(
                "agent.secrets: {name:?} is not a variable name (letters, digits, '_'; not HANGAR_*)"
            )));
        }
        let mut secrets = match current.secret_names.is_empty() {
            true => BTreeMap::new(),
            false => read_secrets(forges, project).await?,
        };
        for (name, value) in changes {
            match value {
                Some(value) => secrets.insert(name.clone(), value.clone()),
                None => secrets.remove(name),
            };
        }
        if secrets.len() > AGENT_ENV_MAX_ENTRIES {
            return Err(Error::conflict(
                ErrorCode::InvalidAgent,
                format!(
                    "the project would keep {} secret variables; at most {AGENT_ENV_MAX_ENTRIES} are allowed",
                    secrets.len()
                ),
            ));
        }
        variables("agent.secrets", &secrets)?;
        if secrets.is_empty() {
            forges
                .vault
                .delete(project, VaultSlot::AgentSecrets)
                .await?;
        } else {
            let json = serde_json::to_string(&secrets)
                .map_err(|err| Error::Internal(format!("cannot encode secrets: {err}")))?;
            forges
                .vault
                .put(project, VaultSlot::AgentSecrets, &json)
                .await?;
        }
        settings.secret_names = secrets.into_keys().collect();
    }
    Ok(settings)
}

/// The project's secret agent variables, as kept.
pub async fn read_secrets(
    forges: &Forges,
    project: &ProjectId,
) -> Result<BTreeMap<String, String>> {
    let Some(json) = forges.vault.get(project, VaultSlot::AgentSecrets).await? else {
        return Ok(BTreeMap::new());
    };
    let secrets: AgentSecrets =
        serde_json::from_str(&format!("{{\"env\":{json}}}")).map_err(|err| {
            Error::Internal(format!(
                "the agent secrets of {project} are unreadable: {err}"
            ))
        })?;
    Ok(secrets.env)
}
