//! Who belongs to a project: the owner adds members by user id or by email (an email nobody
//! has signed in with yet waits as an invitation, matched at that person's first sign-in),
//! and removes them; a member may leave.

use hangar_protocol::limits::PROJECT_MAX_MEMBERS;
use hangar_protocol::tasks::ProjectView;
use hangar_protocol::time::now_ms;
use hangar_protocol::users::{AddMemberRequest, normalize_email};
use hangar_protocol::{ErrorCode, ProjectId, UserId};

use super::access::member_project;
use super::error::{Error, Result};
use super::pool::UPDATE_ATTEMPTS;
use super::ports::{ProjectStore, Store};
use super::projects::{change_project, kept_changing, save_over};
use super::records::Project;
use super::users::Invitation;

/// Whom an add-member request names, once checked.
enum Newcomer {
    User(UserId),
    Invited(String),
}

pub async fn add_member(
    store: &dyn Store,
    user: &UserId,
    project: &ProjectId,
    request: AddMemberRequest,
) -> Result<ProjectView> {
    let newcomer = match (request.user_id, request.email) {
        (Some(id), None) => Newcomer::User(id),
        (None, Some(email)) => {
            let email = normalize_email(&email).ok_or_else(|| {
                Error::invalid(
                    ErrorCode::InvalidEmail,
                    format!("{email:?} is not an email address"),
                )
            })?;
            match store.email_owner(&email).await? {
                Some(id) => Newcomer::User(id),
                None => Newcomer::Invited(email),
            }
        }
        _ => {
            return Err(Error::invalid(
                ErrorCode::InvalidBody,
                "name the member by userId or by email, one of the two",
            ));
        }
    };
    let project = change_project(store, user, project, |project| {
        let present = match &newcomer {
            Newcomer::User(id) => project.is_member(id),
            Newcomer::Invited(email) => project.invited.contains(email),
        };
        if present {
            return Ok(false);
        }
        if project.members.len() + project.invited.len() >= PROJECT_MAX_MEMBERS {
            return Err(Error::conflict(
                ErrorCode::TooManyMembers,
                format!("a project has at most {PROJECT_MAX_MEMBERS} members and invitations"),
            ));
        }
        match &newcomer {
            Newcomer::User(id) => project.members.push(id.clone()),
            Newcomer::Invited(email) => project.invited.push(email.clone()),
        }
        Ok(true)
    })
    .await?;
    if let Newcomer::Invited(email) = newcomer {
        store
            .put_invitation(&Invitation {
                email,
                project_id: project.id.clone(),
                invited_by: user.clone(),
                invited_at: now_ms(),
            })
            .await?;
    }
    Ok(project.into())
}

/// Removes a member (by user id) or an invitation (by email). The owner removes anyone but
/// themself; a member may remove only themself (leave).
pub async fn remove_member(
    store: &dyn Store,
    user: &UserId,
    project_id: &ProjectId,
    member: &str,
) -> Result<ProjectView> {
    let email = member
        .contains('@')
        .then(|| normalize_email(member))
        .flatten();
    let leaving = UserId::parse(member).ok().filter(|id| id == user);
    let project = if let Some(leaving) = leaving {
        let project = member_project(store, user, project_id).await?;
        if project.owner == leaving {
            return Err(owner_stays());
        }
        update(store, project_id, |project| {
            let before = project.members.len();
            project.members.retain(|id| id != &leaving);
            project.members.len() != before
        })
        .await?
    } else {
        change_project(store, user, project_id, |project| {
            if let Some(email) = &email {
                let before = project.invited.len();
                project.invited.retain(|invited| invited != email);
                return Ok(project.invited.len() != before);
            }
            // Neither an id nor an email: nobody of the project can be called that.
            let id = UserId::parse(member).map_err(|_| {
                Error::not_found(
                    ErrorCode::MemberNotFound,
                    format!("project {project_id} has no member or invitation {member:?}"),
                )
            })?;
            if project.owner == id {
                return Err(owner_stays());
            }
            let before = project.members.len();
            project.members.retain(|kept| kept != &id);
            Ok(project.members.len() != before)
        })
        .await?
    };
    if let Some(email) = email {
        store.delete_invitation(&email, project_id).await?;
    }
    Ok(project.into())
}

fn owner_stays() -> Error {
    Error::conflict(
        ErrorCode::OwnerStays,
        "the owner cannot be removed from their project",
    )
}

/// Makes whoever signed in with `email` a member of every project that invited it.
pub async fn accept_invitations(
    store: &dyn Store,
    user: &UserId,
    email: &str,
) -> Result<Vec<ProjectId>> {
    let mut joined = Vec::new();
    for invitation in store.invitations_for(email).await? {
        let project_id = invitation.project_id;
        let accepted = update(store, &project_id, |project| {
            let before = project.invited.len();
            project.invited.retain(|invited| invited != email);
            let was_invited = project.invited.len() != before;
            if was_invited && !project.is_member(user) {
                project.members.push(user.clone());
            }
            was_invited
        })
        .await;
        match accepted {
            Ok(project) if project.is_member(user) => joined.push(project_id.clone()),
            Ok(_) => {}
            // The project was deleted since: the invitation goes with it.
            Err(err) if err.code() == ErrorCode::ProjectNotFound => {}
            Err(err) => return Err(err),
        }
        // Only once the project says so: a failure before leaves the invitation to retry.
        store.delete_invitation(email, &project_id).await?;
    }
    Ok(joined)
}

/// Changes a project on behalf of the system (no owner check), over the revision it read.
async fn update(
    store: &dyn ProjectStore,
    id: &ProjectId,
    mut change: impl FnMut(&mut Project) -> bool,
) -> Result<Project> {
    for _ in 0..UPDATE_ATTEMPTS {
        let mut project = store.get_project(id).await?.ok_or_else(|| {
            Error::not_found(
                ErrorCode::ProjectNotFound,
                format!("project {id} does not exist"),
            )
        })?;
        let read = project.revision;
        if !change(&mut project) || save_over(store, &mut project, read).await? {
            return Ok(project);
        }
    }
    Err(kept_changing(id))
}
