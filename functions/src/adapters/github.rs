//! GitHub's REST API: `POST /repos/{owner}/{repo}/pulls` opens a task's pull request; when
//! GitHub answers 422 because one is already open for the branch, that one is found
//! (`GET /repos/{owner}/{repo}/pulls?head=owner:branch&state=open`) and reused.

use std::time::Duration;

use async_trait::async_trait;
use hangar_protocol::forge::{ForgeView, GitHubApp};
use hangar_protocol::git::cut;
use serde::Deserialize;
use serde_json::json;

use crate::domain::ports::{Forge, ForgeError, PullRequest};

const API_VERSION: &str = "2022-11-28";
/// How much of an unexpected answer a reason keeps.
const MESSAGE_MAX_CHARS: usize = 500;

pub struct GitHub {
    http: reqwest::Client,
}

impl GitHub {
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(GitHub {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .user_agent(concat!("hangar/", env!("CARGO_PKG_VERSION")))
                .build()?,
        })
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: String,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION)
    }

    /// The open pull request of `head`, if there is one.
    async fn existing(
        &self,
        forge: &ForgeView,
        token: &str,
        head: &str,
    ) -> Result<Option<String>, ForgeError> {
        let owner = forge.repository.split('/').next().unwrap_or_default();
        // Owners and branches are kept to characters a query may hold as they are.
        let url = format!(
            "{}/repos/{}/pulls?head={owner}:{head}&state=open",
            forge.api_url, forge.repository
        );
        let response = self
            .request(reqwest::Method::GET, url, token)
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        let pulls: Vec<Pull> = response.json().await.map_err(unreachable)?;
        Ok(pulls.into_iter().next().map(|pull| pull.html_url))
    }
}

#[derive(Deserialize)]
struct Pull {
    html_url: String,
}

#[derive(Deserialize)]
struct Refusal {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

fn unreachable(err: reqwest::Error) -> ForgeError {
    ForgeError::Unreachable(err.to_string())
}

/// The forge's answer as a refusal: its status and its message (with its errors' messages).
async fn refused(response: reqwest::Response) -> ForgeError {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<Refusal>(&text) {
        Ok(refusal) => {
            let details: Vec<&str> = refusal
                .errors
                .iter()
                .filter_map(|error| error.get("message").and_then(|m| m.as_str()))
                .collect();
            if details.is_empty() {
                refusal.message
            } else {
                format!("{}: {}", refusal.message, details.join("; "))
            }
        }
        Err(_) => text,
    };
    ForgeError::Refused {
        status,
        message: cut(message.trim(), MESSAGE_MAX_CHARS),
    }
}

#[derive(Deserialize)]
struct InstallationToken {
    token: String,
}

/// The JWT a GitHub App presents to mint installation tokens: RS256, `iss` the app id, valid
/// ten minutes at most (issued a minute early against clock drift).
fn app_jwt(app: &GitHubApp) -> Result<String, ForgeError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let claims =
        json!({"iat": now.saturating_sub(60), "exp": now + 540, "iss": app.app_id.to_string()});
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(app.private_key.as_bytes()).map_err(|err| {
            ForgeError::Refused {
                status: 0,
                message: format!("the GitHub App's private key is unusable: {err}"),
            }
        })?;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .map_err(|err| ForgeError::Refused {
        status: 0,
        message: format!("cannot sign the GitHub App's JWT: {err}"),
    })
}

#[async_trait]
impl Forge for GitHub {
    async fn installation_token(
        &self,
        forge: &ForgeView,
        app: &GitHubApp,
    ) -> Result<String, ForgeError> {
        let url = format!(
            "{}/app/installations/{}/access_tokens",
            forge.api_url, app.installation_id
        );
        let response = self
            .request(reqwest::Method::POST, url, &app_jwt(app)?)
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        let minted: InstallationToken = response.json().await.map_err(unreachable)?;
        Ok(minted.token)
    }

    async fn open_pull_request(
        &self,
        forge: &ForgeView,
        token: &str,
        request: &PullRequest,
    ) -> Result<String, ForgeError> {
        let url = format!("{}/repos/{}/pulls", forge.api_url, forge.repository);
        let response = self
            .request(reqwest::Method::POST, url, token)
            .json(&json!({
                "title": request.title,
                "head": request.head,
                "base": request.base,
                "body": request.body,
            }))
            .send()
            .await
            .map_err(unreachable)?;
        if response.status().is_success() {
            let pull: Pull = response.json().await.map_err(unreachable)?;
            return Ok(pull.html_url);
        }
        match refused(response).await {
            ForgeError::Refused {
                status: 422,
                message,
            } if message.contains("already exists") => {
                match self.existing(forge, token, &request.head).await? {
                    Some(url) => Ok(url),
                    None => Err(ForgeError::Refused {
                        status: 422,
                        message,
                    }),
                }
            }
            other => Err(other),
        }
    }
}
