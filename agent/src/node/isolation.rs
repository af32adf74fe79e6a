//! Who a workspace's ACP agent runs as. On EC2 the node agent runs as root and gives each
//! workspace its own unprivileged user: the coding agent then cannot read the outbox (and
//! the callback tokens in it), the node's token or another workspace. Locally the agent runs
//! as whoever started the stack.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hangar_protocol::WorkspaceId;
use tokio::process::Command;

/// Whether each workspace gets its own user (`HANGAR_WORKSPACE_USERS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// The ACP agent runs as the node agent's user.
    SameUser,
    /// The ACP agent runs as a user made for its workspace (the node agent must be root).
    UserPerWorkspace,
}

/// The user a workspace's ACP agent runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The workspace's user name: `hw-` and the workspace id (useradd takes up to 32).
pub fn user_name(workspace: &WorkspaceId) -> String {
    let id: String = workspace.as_str().chars().take(28).collect();
    format!("hw-{id}")
}

async fn run(program: &str, args: &[&str]) -> Result<(bool, String), IsolationError> {
    let output = Command::new(program).args(args).output().await?;
    let text = if output.status.success() {
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    } else {
        String::from_utf8_lossy(&output.stderr).trim().to_string()
    };
    Ok((output.status.success(), text))
}

async fn id_of(flag: &str, name: &str) -> Result<u32, IsolationError> {
    let (ok, text) = run("id", &[flag, name]).await?;
    let failed = || IsolationError::Command {
        command: format!("id {flag} {name}"),
        detail: text.clone(),
    };
    if !ok {
        return Err(failed());
    }
    text.parse().map_err(|_| failed())
}

impl Isolation {
    /// Makes `dir` the workspace's, and says who its agent runs as (`None`: as this
    /// process). Idempotent: a restarted node prepares a workspace again.
    pub async fn prepare(
        &self,
        workspace: &WorkspaceId,
        dir: &Path,
    ) -> Result<Option<RunAs>, IsolationError> {
        if *self == Isolation::SameUser {
            return Ok(None);
        }
        let name = user_name(workspace);
        let home = dir.display().to_string();
        let (created, detail) = run(
            "useradd",
            &[
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                &home,
                "--shell",
                "/usr/sbin/nologin",
                &name,
            ],
        )
        .await?;
        if !created && id_of("-u", &name).await.is_err() {
            return Err(IsolationError::Command {
                command: format!("useradd {name}"),
                detail,
            });
        }
        let run_as = RunAs {
            uid: id_of("-u", &name).await?,
            gid: id_of("-g", &name).await?,
            name,
        };
        std::os::unix::fs::chown(dir, Some(run_as.uid), Some(run_as.gid))?;
        tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).await?;
        Ok(Some(run_as))
    }

    /// Removes the workspace's user (its processes were stopped with the session).
    pub async fn remove(&self, workspace: &WorkspaceId) {
        if *self == Isolation::SameUser {
            return;
        }
        let name = user_name(workspace);
        match run("userdel", &[&name]).await {
            Ok((true, _)) => {}
            // Exit 6: no such user (never made, or removed before a restart).
            Ok((false, detail)) if detail.contains("does not exist") => {}
            Ok((false, detail)) => {
                tracing::warn!(user = %name, %detail, "cannot remove the workspace's user")
            }
            Err(err) => {
                tracing::warn!(user = %name, error = %err, "cannot remove the workspace's user")
            }
        }
    }
}

/// Keeps what the node holds from the workspaces' users: the node's and the workspaces'
/// directories can be passed through (to reach one's own workspace) but not listed, and the
/// outbox is the node agent's only.
pub async fn lock_down(node_dir: &Path, workspaces: &Path, outbox: &Path) -> std::io::Result<()> {
    tokio::fs::create_dir_all(workspaces).await?;
    for dir in [node_dir, workspaces] {
        tokio::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).await?;
    }
    // SQLite gives the -wal and -shm files the database's own permissions.
    tokio::fs::set_permissions(outbox, std::fs::Permissions::from_mode(0o600)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_user_name_fits_useradd() {
        let name = user_name(&WorkspaceId::new());
        assert!(name.starts_with("hw-") && name.len() <= 32, "{name}");
    }
}
