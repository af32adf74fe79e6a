//! Who may act on a project: its members see and work in it; only its owner manages it.

use hangar_protocol::{ErrorCode, ProjectId, UserId};

use super::error::{Error, Result};
use super::ports::ProjectStore;
use super::records::Project;

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

/// Loads the project and checks that `user` owns it.
pub async fn owned_project(
    store: &dyn ProjectStore,
    user: &UserId,
    project_id: &ProjectId,
) -> Result<Project> {
    let project = member_project(store, user, project_id).await?;
    if &project.owner != user {
        return Err(Error::forbidden(
            ErrorCode::NotTheOwner,
            "only the project's owner can add members",
        ));
    }
    Ok(project)
}
