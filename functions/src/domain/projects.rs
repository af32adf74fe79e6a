//! Projects as their members see them: create one, list mine, read one, change one.

use hangar_protocol::agent::{AgentRequest, AgentSettings};
use hangar_protocol::forge::UpdateProjectRequest;
use hangar_protocol::git::{GitIdentity, RepoScheme, is_branch_name, repo_scheme};
use hangar_protocol::limits::{ACP_COMMAND_MAX_CHARS, REPO_MAX_CHARS, TITLE_MAX_CHARS};
use hangar_protocol::permissions::PermissionSettings;
use hangar_protocol::tasks::{CreateProjectRequest, ProjectView, VmSize};
use hangar_protocol::time::now_ms;
use hangar_protocol::{ErrorCode, ProjectId, UserId};

use super::access::{member_project, owned_project};
use super::agent;
use super::error::{Error, Result};
use super::forge::{Forges, RepoOf, forge_settings};
use super::pool::UPDATE_ATTEMPTS;
use super::ports::{ProjectStore, Saved};
use super::records::Project;
use super::webhooks::webhook_settings;

impl From<Project> for ProjectView {
    fn from(project: Project) -> Self {
        ProjectView {
            id: project.id,
            name: project.name,
            repo: project.repo,
            default_branch: project.default_branch,
            default_vm_size: project.default_vm_size,
            forge: project.forge,
            agent: project.agent,
            permissions: project.permissions,
            webhook: project.webhook,
            acp_command: project.acp_command,
            owner: project.owner,
            members: project.members,
            invited: project.invited,
            created_at: project.created_at,
            archived_at: project.archived_at,
        }
    }
}

/// `value` trimmed, if it is not empty and has at most `max_chars` characters.
pub fn bounded_text(field: &str, value: &str, max_chars: usize, code: ErrorCode) -> Result<String> {
    // Counted as given (the OpenAPI document's maxLength), kept trimmed.
    let chars = value.chars().count();
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid(code, format!("{field} must not be empty")));
    }
    if chars > max_chars {
        return Err(Error::invalid(
            code,
            format!("{field} has {chars} characters; at most {max_chars} are allowed"),
        ));
    }
    Ok(value.to_string())
}

/// A command line: printable, on one line, at most [`ACP_COMMAND_MAX_CHARS`] characters.
fn acp_command(value: &str) -> Result<String> {
    let command = bounded_text(
        "acpCommand",
        value,
        ACP_COMMAND_MAX_CHARS,
        ErrorCode::InvalidAcpCommand,
    )?;
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            ErrorCode::InvalidAcpCommand,
            "acpCommand is one line of printable characters",
        ));
    }
    Ok(command)
}

/// What repositories projects may name, and who commits their tasks' work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPolicy {
    /// `file://` repositories (a path on the node's machine) and `http://127.0.0.1` ones
    /// (a git server on it): only on the local stack.
    pub allow_local: bool,
    /// The bot identity that authors tasks' commits.
    pub author: GitIdentity,
}

impl Default for RepoPolicy {
    fn default() -> Self {
        RepoPolicy {
            allow_local: false,
            author: GitIdentity {
                name: "Hangar".into(),
                email: "hangar@noreply.localhost".into(),
            },
        }
    }
}

impl RepoPolicy {
    /// The repository URL, if it is one nodes may clone.
    pub fn repo(&self, value: &str) -> Result<String> {
        // Taken as given (no trimming): exactly what the OpenAPI document's pattern allows.
        let chars = value.chars().count();
        if chars > REPO_MAX_CHARS {
            return Err(Error::invalid(
                ErrorCode::InvalidRepo,
                format!("repo has {chars} characters; at most {REPO_MAX_CHARS} are allowed"),
            ));
        }
        let repo = value.to_string();
        match repo_scheme(&repo) {
            Some(RepoScheme::Https | RepoScheme::Ssh) => Ok(repo),
            Some(RepoScheme::File) if self.allow_local => Ok(repo),
            Some(RepoScheme::Http) if self.allow_local => Ok(repo),
            Some(RepoScheme::File | RepoScheme::Http) => Err(Error::invalid(
                ErrorCode::InvalidRepo,
                "file:// and http:// repositories are only allowed on the local stack",
            )),
            None => Err(Error::invalid(
                ErrorCode::InvalidRepo,
                "repo must be an https:// or ssh:// URL or user@host:path (letters, digits and ._~%+/- only), without a credential in it",
            )),
        }
    }
}

/// A branch name as `field`, checked like git checks one (and kept to a safe alphabet).
pub fn branch(field: &str, value: &str) -> Result<String> {
    let name = value;
    if is_branch_name(name) {
        Ok(name.to_string())
    } else {
        Err(Error::invalid(
            ErrorCode::InvalidBranch,
            format!(
                "{field} {name:?} is not a branch name: use letters, digits, '-', '_', '.' and '/', \
                 without '..', a leading '-' or a trailing '/', '.' or '.lock'"
            ),
        ))
    }
}

pub async fn create_project(
    store: &dyn ProjectStore,
    forges: &Forges,
    repos: &RepoPolicy,
    user: &UserId,
    request: CreateProjectRequest,
) -> Result<ProjectView> {
    let id = ProjectId::new();
    let repo = repos.repo(&request.repo)?;
    let forge = request
        .forge
        .as_ref()
        .map(|forge| forge_settings(forge, RepoOf::Request(&repo), repos, None))
        .transpose()?;
    let (forge, credential) = forge.map_or((None, None), |(view, given)| (Some(view), given));
    exclusive(request.acp_command.is_some(), request.agent.as_ref())?;
    let agent = match &request.agent {
        Some(agent) => agent::apply(forges, &id, &AgentSettings::default(), agent).await?,
        None => AgentSettings::default(),
    };
    let project = Project {
        id,
        name: bounded_text(
            "name",
            &request.name,
            TITLE_MAX_CHARS,
            ErrorCode::InvalidName,
        )?,
        repo,
        default_branch: request
            .default_branch
            .as_deref()
            .map_or(Ok("main".to_string()), |name| branch("defaultBranch", name))?,
        default_vm_size: request.default_vm_size.unwrap_or(VmSize::Small),
        acp_command: request
            .acp_command
            .as_deref()
            .map(acp_command)
            .transpose()?,
        forge,
        agent,
        permissions: request
            .permissions
            .map(permission_settings)
            .transpose()?
            .unwrap_or_default(),
        webhook: request
            .webhook
            .map(|webhook| webhook_settings(webhook, repos))
            .transpose()?,
        owner: user.clone(),
        members: vec![user.clone()],
        invited: Vec::new(),
        archived_at: None,
        created_at: now_ms(),
        revision: 0,
    };
    // The credential first: a project never names one that was not kept.
    if let Some(credential) = &credential {
        forges.keep(&project.id, credential).await?;
    }
    if store.create_project(&project).await? == Saved::Conflict {
        return Err(Error::Internal("a fresh project id was taken".into()));
    }
    Ok(project.into())
}

/// Settings a node can follow: known tool kinds, a timeout in range.
fn permission_settings(settings: PermissionSettings) -> Result<PermissionSettings> {
    match settings.problem() {
        Some(problem) => Err(Error::invalid(
            ErrorCode::InvalidPermissions,
            format!("permissions.{problem}"),
        )),
        None => Ok(settings),
    }
}

/// A preset and a command line name the agent twice.
fn exclusive(command: bool, agent: Option<&AgentRequest>) -> Result<()> {
    if command && agent.is_some_and(|agent| matches!(agent.preset, Some(Some(_)))) {
        return Err(Error::invalid(
            ErrorCode::InvalidAgent,
            "name the agent by agent.preset or by acpCommand, not both",
        ));
    }
    Ok(())
}

/// `PATCH`: the owner changes the settings the request names. A new forge token replaces
/// the kept one; `forge: null` removes the forge and deletes its credential.
pub async fn update_project(
    store: &dyn ProjectStore,
    forges: &Forges,
    repos: &RepoPolicy,
    user: &UserId,
    id: &ProjectId,
    request: UpdateProjectRequest,
) -> Result<ProjectView> {
    // Read afresh for each attempt, until the save wins over concurrent changes.
    for _ in 0..UPDATE_ATTEMPTS {
        let mut project = owned_project(store, user, id).await?;
        let read = project.revision;
        apply_update(forges, repos, &mut project, &request).await?;
        if save_over(store, &mut project, read).await? {
            return Ok(project.into());
        }
    }
    Err(kept_changing(id))
}

/// Applies the settings `request` names to `project`. Run again on a fresh read when a
/// concurrent change won the save: its vault writes are puts of the same values.
async fn apply_update(
    forges: &Forges,
    repos: &RepoPolicy,
    project: &mut Project,
    request: &UpdateProjectRequest,
) -> Result<()> {
    if let Some(name) = &request.name {
        project.name = bounded_text("name", name, TITLE_MAX_CHARS, ErrorCode::InvalidName)?;
    }
    if let Some(repo) = &request.repo {
        project.repo = repos.repo(repo)?;
    }
    if let Some(name) = &request.default_branch {
        project.default_branch = branch("defaultBranch", name)?;
    }
    if let Some(size) = request.default_vm_size {
        project.default_vm_size = size;
    }
    if let Some(settings) = &request.permissions {
        project.permissions = permission_settings(settings.clone())?;
    }
    if let Some(webhook) = &request.webhook {
        project.webhook = webhook
            .clone()
            .map(|webhook| webhook_settings(webhook, repos))
            .transpose()?;
    }
    exclusive(
        matches!(request.acp_command, Some(Some(_))),
        request.agent.as_ref(),
    )?;
    if let Some(command) = &request.acp_command {
        project.acp_command = command.as_deref().map(acp_command).transpose()?;
        if project.acp_command.is_some() {
            project.agent.preset = None;
        }
    }
    if let Some(agent) = &request.agent {
        project.agent = agent::apply(forges, &project.id, &project.agent, agent).await?;
        if project.agent.preset.is_some() {
            project.acp_command = None;
        }
    }
    let repo_of = match request.repo {
        Some(_) => RepoOf::Request(&project.repo),
        None => RepoOf::Stored(&project.repo),
    };
    let mut credential = None;
    match &request.forge {
        None => {}
        Some(None) => project.forge = None,
        Some(Some(forge)) => {
            let (view, given) = forge_settings(forge, repo_of, repos, project.forge.as_ref())?;
            project.forge = Some(view);
            credential = given;
        }
    }
    match (&request.forge, &credential) {
        (Some(None), _) => forges.forget(&project.id).await?,
        (_, Some(credential)) => forges.keep(&project.id, credential).await?,
        _ => {}
    }
    Ok(())
}

/// Applies `change` to the owner's project, read afresh for each attempt, until the save
/// wins over concurrent changes; `change` returns false when nothing is to be written.
pub(super) async fn change_project(
    store: &dyn ProjectStore,
    user: &UserId,
    id: &ProjectId,
    mut change: impl FnMut(&mut Project) -> Result<bool>,
) -> Result<Project> {
    for _ in 0..UPDATE_ATTEMPTS {
        let mut project = owned_project(store, user, id).await?;
        let read = project.revision;
        if !change(&mut project)? || save_over(store, &mut project, read).await? {
            return Ok(project);
        }
    }
    Err(kept_changing(id))
}

/// Saves `project` over the revision it was read at; false when another change won.
pub(super) async fn save_over(
    store: &dyn ProjectStore,
    project: &mut Project,
    read: u64,
) -> Result<bool> {
    project.revision = read + 1;
    Ok(store.save_project(project, read).await? == Saved::Yes)
}

pub(super) fn kept_changing(id: &ProjectId) -> Error {
    Error::Internal(format!("project {id} kept changing under an update"))
}

/// The user's projects: the archived ones (`archived`) or the others.
pub async fn list_projects(
    store: &dyn ProjectStore,
    user: &UserId,
    archived: bool,
) -> Result<Vec<ProjectView>> {
    Ok(store
        .list_projects_for(user)
        .await?
        .into_iter()
        .filter(|project| project.archived_at.is_some() == archived)
        .map(Into::into)
        .collect())
}

pub async fn get_project(
    store: &dyn ProjectStore,
    user: &UserId,
    project: &ProjectId,
) -> Result<ProjectView> {
    Ok(member_project(store, user, project).await?.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_repositories_are_refused_unless_the_stack_allows_them() {
        let deployed = RepoPolicy::default();
        let local = RepoPolicy {
            allow_local: true,
            ..RepoPolicy::default()
        };
        let url = "file:///srv/shop.git";
        let refused = deployed.repo(url).expect_err("file:// on a deployed stack");
        assert_eq!(refused.code(), ErrorCode::InvalidRepo);
        assert_eq!(local.repo(url).ok().as_deref(), Some(url));
        assert_eq!(
            deployed
                .repo("https://github.com/acme/shop.git")
                .ok()
                .as_deref(),
            Some("https://github.com/acme/shop.git")
        );
    }
}
