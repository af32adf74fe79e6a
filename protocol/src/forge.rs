//! A project's forge: where its tasks' pull requests are opened (GitHub first), and the
//! credential its repository is reached with. The credential is taken write-only: no view
//! returns it.

use serde::{Deserialize, Deserializer, Serialize};

use crate::agent::AgentRequest;
use crate::permissions::PermissionSettings;
use crate::tasks::VmSize;
use crate::webhooks::WebhookSettings;

/// GitHub's public API, unless a project names another (GitHub Enterprise Server).
pub const GITHUB_API: &str = "https://api.github.com";
/// Longest token accepted (GitHub's are 40 to 255 characters).
pub const TOKEN_MAX_CHARS: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    Github,
}

/// A project's forge as stored and shown: never its credential, only whether it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForgeView {
    pub kind: ForgeKind,
    /// The forge's API root (`https://api.github.com`).
    pub api_url: String,
    /// `owner/name` of the repository on the forge.
    pub repository: String,
    /// Whether a credential is kept for it (in Secrets Manager, never in the table).
    pub has_credential: bool,
    /// The GitHub App whose installation tokens (minted per use, an hour each) are the
    /// credential; `None`: a token is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<GitHubAppView>,
}

/// A GitHub App installation, as shown (its private key never is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitHubAppView {
    pub app_id: u64,
    pub installation_id: u64,
}

/// A GitHub App's credentials as given (write-only) and kept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitHubApp {
    #[serde(deserialize_with = "crate::numbers::whole")]
    pub app_id: u64,
    #[serde(deserialize_with = "crate::numbers::whole")]
    pub installation_id: u64,
    /// The app's private key (PEM), which signs the JWT that mints installation tokens.
    pub private_key: String,
}

/// Never printed: the key is a credential.
impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApp")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// The forge of a project as set through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForgeRequest {
    pub kind: ForgeKind,
    #[serde(default)]
    pub api_url: Option<String>,
    /// `owner/name`; taken from the project's repository URL when absent.
    #[serde(default)]
    pub repository: Option<String>,
    /// A token that may push to the repository and open pull requests (a GitHub personal
    /// access token or fine-grained token). Absent: the kept one stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Or a GitHub App installation: a short-lived token is minted for every use.
    #[serde(
        default,
        deserialize_with = "object",
        skip_serializing_if = "Option::is_none"
    )]
    pub app: Option<GitHubApp>,
}

/// `PATCH /api/projects/{projectId}`: each field present is changed; `null` clears the
/// `acpCommand` and the forge (its credential deleted with it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProjectRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub default_vm_size: Option<VmSize>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub acp_command: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub forge: Option<Option<ForgeRequest>>,
    /// The agent's preset, variables, secrets (write-only) and setup script.
    #[serde(
        default,
        deserialize_with = "object",
        skip_serializing_if = "Option::is_none"
    )]
    pub agent: Option<AgentRequest>,
    /// Where to post events; `null` removes the webhook.
    #[serde(
        default,
        deserialize_with = "present_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub webhook: Option<Option<WebhookSettings>>,
    /// The permission settings, replaced whole.
    #[serde(
        default,
        deserialize_with = "object",
        skip_serializing_if = "Option::is_none"
    )]
    pub permissions: Option<PermissionSettings>,
}

/// A field that is present, `null` or not: `Some(None)` for `null`, `None` when absent.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// An object field, `null` or absent (`None`): serde alone would read the struct from an
/// array too (`[null, null]`), which the OpenAPI document does not allow.
pub(crate) fn object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Option::<serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(map) => T::deserialize(serde_json::Value::Object(map))
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// [`present`] for an object field ([`object`]).
fn present_object<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    object(deserializer).map(Some)
}

/// What git is given for a workspace's repository: the node fetches it just before a
/// clone or a push and hands it to git through a credential helper only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitCredential {
    pub username: String,
    pub password: String,
}

/// Never printed: a credential in a log line is a leaked credential.
impl std::fmt::Debug for GitCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCredential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `owner/name` of a GitHub-style URL (`https://host/owner/name(.git)`, `git@host:owner/name`).
pub fn repository_of(url: &str) -> Option<String> {
    let path = if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("ssh://"))
    {
        rest.split_once('/')?.1
    } else {
        url.split_once(':')?.1
    };
    // One trailing '/' and one ".git" at most: the OpenAPI document states the same rule.
    let path = path.strip_suffix('/').unwrap_or(path);
    let path = path.strip_suffix(".git").unwrap_or(path);
    is_repository(path).then(|| path.to_string())
}

/// Whether `name` is `owner/name` in GitHub's alphabet.
pub fn is_repository(name: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 100
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && p != "."
            && p != ".."
    };
    matches!(name.split_once('/'), Some((owner, repo)) if part(owner) && part(repo) && !repo.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_name_comes_from_its_url() {
        assert_eq!(
            repository_of("https://github.com/acme/shop.git").as_deref(),
            Some("acme/shop")
        );
        assert_eq!(
            repository_of("git@github.com:acme/shop.git").as_deref(),
            Some("acme/shop")
        );
        assert_eq!(
            repository_of("ssh://git@github.com/acme/shop").as_deref(),
            Some("acme/shop")
        );
        assert_eq!(repository_of("https://gitlab.com/group/sub/repo.git"), None);
        assert_eq!(repository_of("file:///srv/shop.git"), None);
    }

    #[test]
    fn an_update_tells_a_null_from_an_absent_field() {
        let cleared: UpdateProjectRequest =
            serde_json::from_str(r#"{"forge": null}"#).expect("json");
        assert_eq!(cleared.forge, Some(None));
        let untouched: UpdateProjectRequest = serde_json::from_str("{}").expect("json");
        assert_eq!(untouched.forge, None);
    }

    #[test]
    fn a_credential_is_never_printed() {
        let credential = GitCredential {
            username: "x-access-token".into(),
            password: "ghp_secret".into(),
        };
        assert!(!format!("{credential:?}").contains("ghp_secret"));
    }
}
