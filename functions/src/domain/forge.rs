//! A project's forge: its settings (checked here), its credential (kept in the vault, never
//! in the table, never returned, never logged), the git credential a workspace is handed,
//! and the pull request a task's pushed branch becomes.

use std::sync::Arc;

use hangar_protocol::forge::{
    ForgeRequest, ForgeView, GITHUB_API, GitCredential, GitHubApp, GitHubAppView, TOKEN_MAX_CHARS,
    is_repository, repository_of,
};
use hangar_protocol::git::{TaskOutput, cut};
use hangar_protocol::{ErrorCode, ProjectId};

use super::error::{Error, Result};
use super::ports::{CredentialVault, Forge, ForgeError, PullRequest, VaultSlot};
use super::projects::RepoPolicy;
use super::records::{Project, Task};

/// Longest GitHub App private key accepted (an RSA 4096 PEM is about 3.3 KB).
const APP_KEY_MAX_CHARS: usize = 8192;
const API_URL_MAX_CHARS: usize = 500;
/// How much of the agent's last message a pull request's description carries.
const DESCRIPTION_MAX_CHARS: usize = 4000;
/// The user name git presents with a token (GitHub takes any; this is its convention).
const TOKEN_USER: &str = "x-access-token";

/// The forge ports and what links back to Hangar.
#[derive(Clone)]
pub struct Forges {
    pub vault: Arc<dyn CredentialVault>,
    pub forge: Arc<dyn Forge>,
    /// The UI's address: a pull request links to its task's chat.
    pub ui_origin: String,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid(ErrorCode::InvalidForge, message)
}

/// The repository URL a forge's settings are read against.
#[derive(Debug, Clone, Copy)]
pub enum RepoOf<'a> {
    /// Given in the same request: a forge it does not name is invalid.
    Request(&'a str),
    /// The project's as stored: a forge it does not name conflicts with it.
    Stored(&'a str),
}

/// The settings `request` asks for on a project of `repo`, and the token to keep if it
/// brings one; `had_credential`: a credential is kept already.
pub fn forge_settings(
    request: &ForgeRequest,
    repo: RepoOf<'_>,
    repos: &RepoPolicy,
    had: Option<&ForgeView>,
) -> Result<(ForgeView, Option<Credential>)> {
    // Every field is checked as given, as the OpenAPI document states it.
    let given = request.api_url.as_deref().unwrap_or(GITHUB_API);
    let host = given.strip_prefix("https://").or_else(|| {
        given
            .strip_prefix("http://127.0.0.1:")
            .filter(|_| repos.allow_local)
    });
    if host.is_none_or(|host| host.is_empty() || host.starts_with('/'))
        || given.chars().count() > API_URL_MAX_CHARS
        || given.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid("forge.apiUrl must be an https:// URL"));
    }
    let api_url = given.trim_end_matches('/').to_string();
    let repository = match request.repository.as_deref() {
        Some(name) if is_repository(name) => name.to_string(),
        Some(name) => {
            return Err(invalid(format!(
                "forge.repository {name:?} is not owner/name"
            )));
        }
        None => {
            let (RepoOf::Request(url) | RepoOf::Stored(url)) = repo;
            match (repository_of(url), repo) {
                (Some(name), _) => name,
                (None, RepoOf::Request(_)) => {
                    return Err(invalid(
                        "forge.repository is needed: the repository URL does not name owner/name",
                    ));
                }
                (None, RepoOf::Stored(_)) => {
                    return Err(Error::conflict(
                        ErrorCode::InvalidForge,
                        "forge.repository is needed: the project's repository URL does not name owner/name",
                    ));
                }
            }
        }
    };
    let token = request.token.as_deref().map(|token| {
        let visible = token.chars().all(|c| c.is_ascii_graphic());
        if token.is_empty() || token.chars().count() > TOKEN_MAX_CHARS || !visible {
            return Err(invalid(format!(
                "forge.token must be 1 to {TOKEN_MAX_CHARS} visible ASCII characters"
            )));
        }
        Ok(token.to_string())
    });
    let token = token.transpose()?;
    let app = request.app.clone().map(checked_app).transpose()?;
    if token.is_some() && app.is_some() {
        return Err(invalid("give forge.token or forge.app, not both"));
    }
    let credential = match (token, app) {
        (Some(token), _) => Some(Credential::Token(token)),
        (None, Some(app)) => Some(Credential::App(app)),
        (None, None) => None,
    };
    // Without a new credential, the kept one (and its kind) stays.
    let view = ForgeView {
        kind: request.kind,
        api_url,
        repository,
        has_credential: credential.is_some() || had.is_some_and(|f| f.has_credential),
        app: match &credential {
            Some(Credential::App(app)) => Some(GitHubAppView {
                app_id: app.app_id,
                installation_id: app.installation_id,
            }),
            Some(Credential::Token(_)) => None,
            None => had.and_then(|f| f.app),
        },
    };
    Ok((view, credential))
}

/// A GitHub App's credentials, if they can be: ids given, a PEM private key.
fn checked_app(app: GitHubApp) -> Result<GitHubApp> {
    let key = &app.private_key;
    let pem = key.starts_with("-----BEGIN") && key.contains("PRIVATE KEY-----");
    if app.app_id == 0
        || app.installation_id == 0
        || !pem
        || key.chars().count() > APP_KEY_MAX_CHARS
    {
        return Err(invalid(format!(
            "forge.app needs appId, installationId and the app's PEM private key (at most {APP_KEY_MAX_CHARS} characters)"
        )));
    }
    Ok(app)
}

/// A credential taken for a project's forge.
pub enum Credential {
    Token(String),
    App(GitHubApp),
}

impl Forges {
    /// Keeps `credential` as the project's (the other kind is forgotten).
    pub async fn keep(&self, project: &ProjectId, credential: &Credential) -> Result<()> {
        match credential {
            Credential::Token(token) => {
                self.vault
                    .put(project, VaultSlot::ForgeToken, token)
                    .await?;
                self.vault.delete(project, VaultSlot::ForgeApp).await?;
            }
            Credential::App(app) => {
                let json = serde_json::to_string(app)
                    .map_err(|err| Error::Internal(format!("cannot encode the app: {err}")))?;
                self.vault.put(project, VaultSlot::ForgeApp, &json).await?;
                self.vault.delete(project, VaultSlot::ForgeToken).await?;
            }
        }
        Ok(())
    }

    /// Forgets the project's credential.
    pub async fn forget(&self, project: &ProjectId) -> Result<()> {
        self.vault.delete(project, VaultSlot::ForgeToken).await?;
        Ok(self.vault.delete(project, VaultSlot::ForgeApp).await?)
    }

    /// A token for `project`'s forge: the kept one, or one minted now for its GitHub App.
    async fn access_token(&self, project: &Project) -> std::result::Result<Option<String>, Error> {
        let Some(forge) = project.forge.as_ref().filter(|forge| forge.has_credential) else {
            return Ok(None);
        };
        if forge.app.is_none() {
            return Ok(self.vault.get(&project.id, VaultSlot::ForgeToken).await?);
        }
        let Some(json) = self.vault.get(&project.id, VaultSlot::ForgeApp).await? else {
            return Ok(None);
        };
        let app: GitHubApp = serde_json::from_str(&json).map_err(|err| {
            Error::Internal(format!(
                "the GitHub App's credentials are unreadable: {err}"
            ))
        })?;
        match self.forge.installation_token(forge, &app).await {
            Ok(token) => Ok(Some(token)),
            // Asking again will not help: the app's key, ids or access are wrong.
            Err(err @ ForgeError::Refused { .. }) => Err(Error::conflict(
                ErrorCode::ForgeRefused,
                format!("cannot mint an installation token: {err}"),
            )),
            Err(err) => Err(Error::Unavailable(format!(
                "cannot mint an installation token: {err}"
            ))),
        }
    }

    /// The credential git uses for `project`'s repository.
    pub async fn git_credential(&self, project: &Project) -> Result<GitCredential> {
        let none = || {
            Error::not_found(
                ErrorCode::NoCredential,
                format!(
                    "project {} keeps no credential for its repository",
                    project.id
                ),
            )
        };
        let token = self.access_token(project).await?.ok_or_else(none)?;
        Ok(GitCredential {
            username: TOKEN_USER.into(),
            password: token,
        })
    }

    /// Opens the pull request of `task`'s pushed branch when its project has a forge with a
    /// credential: its address (`None`: no forge), or why it could not be opened.
    pub async fn pull_request(
        &self,
        project: &Project,
        task: &Task,
        output: &TaskOutput,
        last_message: Option<&str>,
    ) -> std::result::Result<Option<String>, String> {
        let Some(forge) = project.forge.as_ref().filter(|forge| forge.has_credential) else {
            return Ok(None);
        };
        let token = match self.access_token(project).await {
            Ok(Some(token)) => token,
            Ok(None) => return Err("the project's forge credential is gone".into()),
            Err(err) => return Err(err.to_string()),
        };
        let said = last_message
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map_or_else(
                || "The agent left no message.".to_string(),
                |text| cut(text, DESCRIPTION_MAX_CHARS),
            );
        let body = format!(
            "{said}\n\n---\nOpened by Hangar for a task submitted by {}. The chat: {}/?project={}&session={}\n",
            task.created_by, self.ui_origin, task.project_id, task.session_id
        );
        let request = PullRequest {
            title: task.title.clone(),
            body,
            head: output.branch.clone(),
            base: output.base_branch.clone(),
        };
        self.forge
            .open_pull_request(forge, &token, &request)
            .await
            .map(Some)
            .map_err(|err| err.to_string())
    }
}
