//! The agent's one client of the control plane: message batches, workspace start and status
//! reports, and the node's ready callback and assignments, each with the caller's token. One rule tells a transient
//! failure (network, 5xx, 408, 429: retried with exponential backoff and jitter) from a
//! permanent one (any other 4xx: never retried), and one backoff serves every call.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use hangar_protocol::agent::AgentSecrets;
use hangar_protocol::forge::GitCredential;
use hangar_protocol::node::Assignments;
use hangar_protocol::tasks::{NodeReadyRequest, WorkspaceStatusReport};
use hangar_protocol::{DraftRequest, ErrorCode, IngestResponse, NodeId, WorkspaceId, routes};

use crate::config::RetryPolicy;

/// How long one request may take before it counts as a network failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The control plane could not be reached or answered 5xx, 408 or 429.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The control plane refused the call for good.
    #[error("refused with {status}: {body}")]
    Permanent { status: u16, body: String },
}

impl CallError {
    pub fn is_transient(&self) -> bool {
        matches!(self, CallError::Transient(_))
    }
}

/// Where a call goes and with which token.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub api_url: &'a str,
    pub token: &'a str,
}

#[derive(Clone)]
pub struct ControlPlane {
    http: reqwest::Client,
    retry: RetryPolicy,
}

impl ControlPlane {
    pub fn new(retry: RetryPolicy) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(ControlPlane { http, retry })
    }

    /// `MSG_RETRY_*`: exponential from the initial to the maximum interval, with jitter,
    /// for at most the total retry budget.
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.retry.initial_interval)
            .with_max_delay(self.retry.max_interval)
            .with_jitter()
            .with_total_delay(Some(self.retry.max_elapsed))
            .without_max_times()
    }

    /// One POST of `body` (JSON) to `path`; the answer's body.
    async fn post(
        &self,
        caller: Caller<'_>,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, CallError> {
        let response = self
            .http
            .post(format!("{}{path}", caller.api_url))
            .bearer_auth(caller.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|err| CallError::Transient(err.to_string()))?;
        let response = checked(response).await?;
        let answer = response
            .bytes()
            .await
            .map_err(|err| CallError::Transient(format!("the answer was cut: {err}")))?;
        Ok(answer.to_vec())
    }

    /// POSTs with retries while the failure is transient and the budget lasts.
    async fn post_with_retries(
        &self,
        caller: Caller<'_>,
        path: &str,
        body: Vec<u8>,
        what: &str,
    ) -> Result<Vec<u8>, CallError> {
        (|| self.post(caller, path, body.clone()))
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(CallError::is_transient)
            .notify(
                |err, delay| tracing::warn!(error = %err, ?delay, what, "call failed; retrying"),
            )
            .await
    }

    /// Delivers one ingest batch (`body` is the exact request body); what ingest answered,
    /// the messages it refused one by one among it.
    pub async fn ingest(
        &self,
        caller: Caller<'_>,
        workspace: &WorkspaceId,
        body: Vec<u8>,
        rows: usize,
    ) -> Result<IngestResponse, CallError> {
        let what = format!("ingest of {rows} message(s)");
        let answer = self
            .post_with_retries(caller, &routes::workspace_messages(workspace), body, &what)
            .await?;
        // An older control plane answers counts only: nothing refused one by one.
        Ok(serde_json::from_slice(&answer).unwrap_or_default())
    }

    /// Sends one draft of the message being streamed, once (no retry: a later draft or the
    /// stored message supersedes it).
    pub async fn draft(
        &self,
        caller: Caller<'_>,
        workspace: &WorkspaceId,
        request: &DraftRequest,
    ) -> Result<(), CallError> {
        let body = serde_json::to_vec(request).map_err(|err| CallError::Permanent {
            status: 0,
            body: format!("cannot encode a draft: {err}"),
        })?;
        self.post(caller, &routes::workspace_drafts(workspace), body)
            .await
            .map(drop)
    }

    /// Reports how a workspace's session ended.
    pub async fn report_status(
        &self,
        caller: Caller<'_>,
        workspace: &WorkspaceId,
        report: &WorkspaceStatusReport,
    ) -> Result<(), CallError> {
        let path = routes::workspace_status(workspace);
        self.post_json(caller, &path, report, "status report").await
    }

    /// Tells the control plane the workspace's session is running.
    pub async fn started(
        &self,
        caller: Caller<'_>,
        workspace: &WorkspaceId,
    ) -> Result<(), CallError> {
        let path = routes::workspace_started(workspace);
        self.post_with_retries(caller, &path, Vec::new(), "start acknowledgement")
            .await
            .map(drop)
    }

    /// Tells the control plane the node is up, running `agent_version`.
    pub async fn ready(
        &self,
        caller: Caller<'_>,
        node: &NodeId,
        agent_version: &str,
    ) -> Result<(), CallError> {
        let request = NodeReadyRequest {
            agent_version: Some(agent_version.to_string()),
        };
        let path = routes::node_ready(node);
        self.post_json(caller, &path, &request, "ready callback")
            .await
    }

    /// What the node should run now, with retries.
    pub async fn assignments(
        &self,
        caller: Caller<'_>,
        node: &NodeId,
    ) -> Result<Assignments, CallError> {
        let path = routes::node_assignments(node);
        self.fetch(caller, reqwest::Method::GET, &path, "assignments")
            .await
    }

    /// The credential git uses for the workspace's repository (`None`: the project keeps
    /// none), with retries. Never logged.
    pub async fn git_credential(
        &self,
        caller: Caller<'_>,
        workspace: &WorkspaceId,
    ) -> Result<Option<GitCredential>, CallError> {
        let path = routes::workspace_git_credential(workspace);
        match self
            .fetch(caller, reqwest::Method::POST, &path, "the git credential")
            .await
        {
            Err(CallError::Permanent { status: 404, body })
                if body.contains(ErrorCode::NoCredential.as_str()) =>
            {
                Ok(None)
            }
            fetched => fetched.map(Some),
        }
    }

    /// The secret variables of the workspace's agent, with retries. Never logged.
    pub async fn agent_secrets(
        &self,
        caller: Caller<'_>,
        workspace: &WorkspaceId,
    ) -> Result<AgentSecrets, CallError> {
        let path = routes::workspace_agent_secrets(workspace);
        self.fetch(caller, reqwest::Method::POST, &path, "the agent's secrets")
            .await
    }

    /// The JSON answer of `method path` (no body), with retries while the failure is
    /// transient and the budget lasts. The answer is never logged (it may hold secrets).
    async fn fetch<T: serde::de::DeserializeOwned>(
        &self,
        caller: Caller<'_>,
        method: reqwest::Method,
        path: &str,
        what: &str,
    ) -> Result<T, CallError> {
        let url = format!("{}{path}", caller.api_url);
        let fetch = || async {
            let response = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(caller.token)
                .send()
                .await
                .map_err(|err| CallError::Transient(err.to_string()))?;
            checked(response)
                .await?
                .json::<T>()
                .await
                .map_err(|err| CallError::Transient(format!("unreadable {what}: {err}")))
        };
        fetch
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(CallError::is_transient)
            .notify(|err, delay| tracing::warn!(error = %err, ?delay, what, "fetching failed; retrying"))
            .await
    }

    /// POSTs `value` as JSON, with retries.
    async fn post_json(
        &self,
        caller: Caller<'_>,
        path: &str,
        value: &impl serde::Serialize,
        what: &str,
    ) -> Result<(), CallError> {
        let body = serde_json::to_vec(value).map_err(|err| CallError::Permanent {
            status: 0,
            body: format!("cannot encode the {what}: {err}"),
        })?;
        self.post_with_retries(caller, path, body, what)
            .await
            .map(drop)
    }
}

/// The response if it is a 2xx; otherwise its failure, transient or permanent.
async fn checked(response: reqwest::Response) -> Result<reqwest::Response, CallError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let code = status.as_u16();
    if status.is_server_error() || code == 408 || code == 429 {
        Err(CallError::Transient(format!("{code}: {body}")))
    } else {
        Err(CallError::Permanent { status: code, body })
    }
}
