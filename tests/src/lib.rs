//! Support for the end-to-end tests: a local stack per test, on its own freshly created
//! table in the loopback DynamoDB-compatible server that `scripts/test` starts, and the
//! helpers the flows share (calls, reads, waits, seeded records).

pub mod agent;
pub mod aws_proxy;
pub mod browser;
pub mod fixtures;
pub mod forge;
pub mod gate;
pub mod git;
pub mod management_api;
pub mod runtime_api;
pub mod scripted;
mod seed;
pub mod store_proxy;
pub mod wire;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hangar_functions::adapters::tokens::TokenIssuer;
use hangar_functions::domain::NodeQuotas;
use hangar_functions::domain::live::ConnectionCaps;
use hangar_functions::domain::records::Node;
use hangar_infra::{DevKeys, LocalNodeOptions, LocalStack, StackOptions};
use hangar_protocol::tasks::{NodeStatus, TaskStatus, TaskView, WorkspaceStatus};
use hangar_protocol::time::now_ms;
use hangar_protocol::{
    ChatMessage, MessagesPage, NodeId, ProjectId, SessionId, UserId, WorkspaceId, routes,
};

/// Where the tests find the DynamoDB-compatible server.
pub const ENDPOINT_VAR: &str = "HANGAR_TEST_DYNAMODB_ENDPOINT";

/// How long the flows may take before a wait gives up.
pub const LIMIT: Duration = Duration::from_secs(30);

pub fn dynamodb_endpoint() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!("{ENDPOINT_VAR} is not set: run the tests through scripts/test, which starts moto_server on loopback")
    })
}

/// Where the tests find the other AWS services (Scheduler, EC2, Secrets Manager): moto,
/// which is also the table's server unless `HANGAR_TEST_AWS_ENDPOINT` names another.
pub const AWS_ENDPOINT_VAR: &str = "HANGAR_TEST_AWS_ENDPOINT";

pub fn aws_endpoint() -> String {
    std::env::var(AWS_ENDPOINT_VAR).unwrap_or_else(|_| dynamodb_endpoint())
}

/// A fresh id of the given prefix, unique across test processes.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Waits until `check` holds, polling every 20 ms for at most `limit`.
pub async fn eventually(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct TestStack {
    pub stack: LocalStack,
    pub keys: DevKeys,
    pub http: reqwest::Client,
    callback_issuer: TokenIssuer,
}

/// A project with one chat session whose workspace may call back.
pub struct Seeded {
    pub project: ProjectId,
    pub owner: UserId,
    pub session: SessionId,
    pub workspace: WorkspaceId,
}

/// Node agents in tests batch and retry fast.
const FAST_NODE_ENV: &[(&str, &str)] = &[
    ("MSG_BATCH_MAX_WAIT_MS", "50"),
    ("MSG_RETRY_INITIAL_INTERVAL_MS", "20"),
    ("MSG_RETRY_MAX_INTERVAL_MS", "200"),
    ("HANGAR_SHUTDOWN_FLUSH_MS", "3000"),
    ("RUST_LOG", "info"),
];

impl TestStack {
    pub async fn start() -> TestStack {
        Self::start_with(|_| {}).await
    }

    /// Starts a stack after `adjust` changed its options (timeouts, node environment).
    pub async fn start_with(adjust: impl FnOnce(&mut StackOptions)) -> TestStack {
        let keys = DevKeys::generate().expect("generate keys");
        let nodes_dir = std::env::temp_dir().join(unique("hangar-nodes"));
        let mut options = StackOptions {
            dynamodb_endpoint: dynamodb_endpoint(),
            aws_endpoint: aws_endpoint(),
            table_name: unique("hangar-test"),
            schedule_group: unique("hangar-test"),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            keys: keys.clone(),
            web_root: None,
            nodes: LocalNodeOptions {
                agent_binary: agent::workspace_binary("hangar-agent"),
                acp_command: agent::workspace_binary("scripted-acp-agent")
                    .display()
                    .to_string(),
                base_dir: nodes_dir,
                env: FAST_NODE_ENV
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            timeouts: StackOptions::default_timeouts(),
            quotas: NodeQuotas::default(),
            connection_caps: ConnectionCaps::default(),
            node_agent_version: Some(hangar_protocol::RELEASE.to_string()),
            schedule_poll: Duration::from_millis(100),
            sweep_every: None,
            access_token_ttl: Duration::from_secs(3600),
            dev_token_sign_in: true,
        };
        adjust(&mut options);
        let stack = LocalStack::start(options)
            .await
            .expect("local stack starts");
        let callback_issuer =
            TokenIssuer::from_pem(&keys.callback_private_pem, "hangar-control-plane")
                .expect("callback key");
        TestStack {
            stack,
            keys,
            http: reqwest::Client::new(),
            callback_issuer,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.stack.url(path)
    }

    pub fn callback_token(&self, workspace: &WorkspaceId) -> String {
        self.callback_issuer
            .mint(workspace, now_ms() / 1000, 3600)
            .expect("mint callback token")
    }

    /// The control plane's own token issuer (node and workspace tokens).
    pub fn issuer(&self) -> &TokenIssuer {
        &self.callback_issuer
    }

    pub fn user_token(&self, user: &UserId) -> String {
        self.stack
            .identity
            .access_token(user.as_str(), 3600)
            .expect("mint user token")
    }

    /// Creates a project through the API, owned by `owner`, whose repository is a fresh
    /// seeded bare repository.
    pub async fn new_project(&self, owner: &UserId) -> ProjectId {
        self.new_project_with_repo(owner).await.0
    }

    /// [`TestStack::new_project`], with the project's repository.
    pub async fn new_project_with_repo(&self, owner: &UserId) -> (ProjectId, git::BareRepo) {
        let repo = git::BareRepo::seeded();
        let project = self
            .create_project(
                owner,
                serde_json::json!({"name": "Shop", "repo": repo.url()}),
            )
            .await;
        (project, repo)
    }

    /// Creates a project through the API from `body`. A body that says nothing of
    /// permissions allows everything: only the tests about permissions ask.
    pub async fn create_project(&self, owner: &UserId, mut body: serde_json::Value) -> ProjectId {
        if let Some(fields) = body.as_object_mut() {
            fields
                .entry("permissions")
                .or_insert_with(|| serde_json::json!({"default": "allow"}));
        }
        let (status, body) = self
            .call(
                "POST",
                routes::PROJECTS,
                Some(&self.user_token(owner)),
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        ProjectId::parse(body["id"].as_str().expect("id").to_string()).expect("project id")
    }

    /// Submits a task through the API; `mode` is `run` or `backlog`.
    pub async fn submit_task(
        &self,
        owner: &UserId,
        project: &ProjectId,
        prompt: &str,
        mode: &str,
    ) -> TaskView {
        let (status, body) = self
            .call(
                "POST",
                &routes::tasks(project),
                Some(&self.user_token(owner)),
                Some(serde_json::json!({"prompt": prompt, "mode": mode})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        serde_json::from_value(body).expect("task view")
    }

    /// The task as the API shows it now.
    pub async fn task(&self, owner: &UserId, view: &TaskView) -> TaskView {
        let token = self.user_token(owner);
        let path = routes::task(&view.project_id, &view.id);
        let (status, body) = self.call("GET", &path, Some(&token), None).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body).expect("task view")
    }

    /// The task once it reached `wanted`; fails if it ends otherwise or takes too long.
    pub async fn wait_for_status(
        &self,
        owner: &UserId,
        view: &TaskView,
        wanted: TaskStatus,
    ) -> TaskView {
        let start = Instant::now();
        loop {
            let current = self.task(owner, view).await;
            if current.status == wanted {
                return current;
            }
            assert!(
                !current.status.is_terminal() && start.elapsed() < LIMIT,
                "task is {} (wanted {wanted}); history {:#?}",
                current.status,
                current.history
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every stored message of a session, paging through the history API as `owner`.
    pub async fn session_messages(
        &self,
        owner: &UserId,
        project: &ProjectId,
        session: &SessionId,
    ) -> Vec<ChatMessage> {
        let token = self.user_token(owner);
        let mut after = 0;
        let mut all = Vec::new();
        loop {
            let path = routes::messages_page(project, session, after, 200);
            let (status, body) = self.call("GET", &path, Some(&token), None).await;
            assert_eq!(status, 200, "{body}");
            let page: MessagesPage = serde_json::from_value(body).expect("page");
            all.extend(page.messages);
            after = page.next_after;
            if !page.has_more {
                return all;
            }
        }
    }

    /// Every stored message of the seeded session.
    pub async fn stored(&self, seeded: &Seeded) -> Vec<ChatMessage> {
        self.session_messages(&seeded.owner, &seeded.project, &seeded.session)
            .await
    }

    /// The node record as stored.
    pub async fn node(&self, id: &NodeId) -> Node {
        self.stack
            .state
            .store
            .get_node(id)
            .await
            .expect("read node")
            .expect("node exists")
    }

    /// The node once it reached `wanted` (or as it is after the wait): a finished task is
    /// recorded before its node is released, so the node may still be on its way.
    pub async fn wait_for_node(&self, id: &NodeId, wanted: NodeStatus) -> Node {
        let start = Instant::now();
        loop {
            let current = self.node(id).await;
            if current.status == wanted || start.elapsed() > LIMIT {
                return current;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The workspace's status as stored.
    pub async fn workspace_status(&self, id: &WorkspaceId) -> Option<WorkspaceStatus> {
        let workspace = self
            .stack
            .state
            .store
            .get_workspace(id)
            .await
            .expect("read");
        workspace.map(|w| w.status)
    }

    /// Calls the API as `token`'s holder; returns the status and the JSON body (Null if none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("api request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (status, json)
    }

    /// POSTs a raw body to the workspace's ingest route with the given bearer token.
    pub async fn post_messages(
        &self,
        workspace: &WorkspaceId,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.url(&routes::workspace_messages(workspace)))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("ingest request")
    }

    /// GETs a page of the session's messages with `token`, `query` appended to the path.
    pub async fn get_messages(
        &self,
        seeded: &Seeded,
        token: Option<&str>,
        query: &str,
    ) -> reqwest::Response {
        let path = routes::session_messages(&seeded.project, &seeded.session);
        let mut request = self.http.get(self.url(&format!("{path}{query}")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("history request")
    }
}
