//! Who may act: a project's members see and work in it, only its owner manages it, and a
//! workspace's callback token works while the workspace is open (and a grace after).

use hangar_protocol::time::now_ms;
use hangar_protocol::{ErrorCode, ProjectId, UserId, WorkspaceId};

use super::error::{Error, Result};
use super::ports::{ProjectStore, WorkspaceStore};
use super::records::{Project, Workspace};

/// Loads the project and checks that `user` is a member of it.
pub async fn member_project(
    store: &dyn ProjectStore,
    user: &UserId,
    project_id: &ProjectId,
) -> Result<Project> {
    let project = store.get_project(project_id).await?.ok_or_else(|| {
        Error::not_found(
            ErrorCode::ProjectNotFound,
            format!("project {project_id} does not exist"),
        )
    })?;
    if !project.is_member(user) {
        return Err(Error::forbidden(
            ErrorCode::NotAMember,
            format!("user {user} is not a member of project {project_id}"),
        ));
    }
    Ok(project)
}

/// Loads the project and checks that `user` may change what is in it: a member, and the
/// project not archived (an archived project is read-only).
pub async fn writable_project(
    store: &dyn ProjectStore,
    user: &UserId,
    project_id: &ProjectId,
) -> Result<Project> {
    let project = member_project(store, user, project_id).await?;
    not_archived(&project)?;
    Ok(project)
}

fn not_archived(project: &Project) -> Result<()> {
    if project.archived_at.is_some() {
        return Err(Error::conflict(
            ErrorCode::ProjectArchived,
            format!(
                "project {} is archived and read-only; unarchive it first",
                project.id
            ),
        ));
    }
    Ok(())
}

/// Loads the project and checks that `user` owns it, archived or not.
pub async fn owner_of(
    store: &dyn ProjectStore,
    user: &UserId,
    project_id: &ProjectId,
) -> Result<Project> {
    let project = member_project(store, user, project_id).await?;
    if &project.owner != user {
        return Err(Error::forbidden(
            ErrorCode::NotTheOwner,
            "only the project's owner can change it",
        ));
    }
    Ok(project)
}

/// Loads the project and checks that `user` owns it and it is not archived.
pub async fn owned_project(
    store: &dyn ProjectStore,
    user: &UserId,
    project_id: &ProjectId,
) -> Result<Project> {
    let project = owner_of(store, user, project_id).await?;
    not_archived(&project)?;
    Ok(project)
}

/// The workspace a callback is about, if its token is still good: unknown workspaces are not
/// found, closed ones are gone once `grace_ms` passed since they closed.
pub async fn open_workspace(
    store: &dyn WorkspaceStore,
    id: &WorkspaceId,
    grace_ms: u64,
) -> Result<Workspace> {
    workspace_taking_callbacks(id, store.get_workspace(id).await?, grace_ms)
}

/// `found`, the record read of workspace `id`, if it exists and still takes its callbacks.
pub fn workspace_taking_callbacks(
    id: &WorkspaceId,
    found: Option<Workspace>,
    grace_ms: u64,
) -> Result<Workspace> {
    let workspace = found.ok_or_else(|| {
        Error::not_found(
            ErrorCode::WorkspaceNotFound,
            format!("workspace {id} does not exist"),
        )
    })?;
    if !workspace.takes_callbacks(now_ms(), grace_ms) {
        return Err(Error::gone(
            ErrorCode::WorkspaceClosed,
            format!("workspace {id} is closed; its token no longer works"),
        ));
    }
    Ok(workspace)
}
