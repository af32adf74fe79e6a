//! Stand-ins for a forge that cannot be reached from here, each implementing the documented
//! contract on loopback: a git server over HTTP that wants a password (`git http-backend`,
//! the CGI program git ships, behind Basic authentication as GitHub's HTTPS remotes are),
//! and GitHub's pull request API (`POST /repos/{owner}/{repo}/pulls`: 201 with `html_url`;
//! 422 "A pull request already exists"; 401 "Bad credentials"; 403 without access; and
//! `GET .../pulls?head=owner:branch&state=open`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use base64::Engine;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// The password of a Basic or Bearer `Authorization` header.
fn presented(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.to_string());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.strip_prefix("Basic ")?)
        .ok()?;
    let pair = String::from_utf8(decoded).ok()?;
    Some(pair.split_once(':')?.1.to_string())
}

#[derive(Clone)]
struct GitState {
    root: PathBuf,
    password: String,
    /// Every password presented, right or wrong.
    presented: Arc<Mutex<Vec<String>>>,
}

/// A git server over HTTP for the repositories under `root`, wanting `password`.
pub struct GitHttpServer {
    pub addr: SocketAddr,
    presented: Arc<Mutex<Vec<String>>>,
}

impl GitHttpServer {
    pub async fn start(root: PathBuf, password: &str) -> GitHttpServer {
        let state = GitState {
            root,
            password: password.to_string(),
            presented: Arc::default(),
        };
        let presented = Arc::clone(&state.presented);
        let router = Router::new()
            .route("/{*path}", any(git_backend))
            .with_state(state);
        GitHttpServer {
            addr: serve(router).await,
            presented,
        }
    }

    /// The URL of the repository `name` (a directory under the root).
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }

    /// Every password presented so far.
    pub fn presented(&self) -> Vec<String> {
        self.presented.lock().expect("lock").clone()
    }
}

async fn git_backend(
    State(state): State<GitState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let password = presented(&headers);
    if let Some(password) = &password {
        state.presented.lock().expect("lock").push(password.clone());
    }
    if password.as_deref() != Some(state.password.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [("WWW-Authenticate", "Basic realm=\"git\"")],
            "authentication required",
        )
            .into_response();
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", &state.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "hangar")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header("content-type"))
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git http-backend runs");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&body).await.expect("request body");
    }
    let output = child.wait_with_output().await.expect("http-backend output");
    cgi_response(&output.stdout)
}

/// A CGI program's output (headers, a blank line, the body) as a response.
fn cgi_response(output: &[u8]) -> Response {
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, gap)) = split else {
        return (StatusCode::BAD_GATEWAY, "no CGI headers").into_response();
    };
    let mut response = Response::builder().status(StatusCode::OK);
    for line in String::from_utf8_lossy(&output[..end]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next().and_then(|c| c.parse().ok());
            response = response.status(code.unwrap_or(500));
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response
        .body(Body::from(output[end + gap..].to_vec()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// How the GitHub stand-in answers a new pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullAnswer {
    /// 201 with the new pull request.
    Open,
    /// 422: one is already open for the branch (found with `GET ...?head=`).
    AlreadyExists,
    /// 403: the token may not open pull requests here.
    Forbidden,
}

/// A pull request asked for: the repository, the request's body, the token presented.
pub type Asked = (String, Value, Option<String>);

/// A GitHub App the stand-in knows: its ids, its public key, the token it mints.
#[derive(Clone)]
pub struct StubApp {
    pub app_id: u64,
    pub installation_id: u64,
    pub public_pem: String,
}

#[derive(Clone)]
struct HubState {
    token: String,
    app: Option<StubApp>,
    /// Installation tokens minted so far.
    minted: Arc<Mutex<u32>>,
    answer: Arc<Mutex<PullAnswer>>,
    /// Every pull request asked for: (repository, request body, token presented).
    asked: Arc<Mutex<Vec<Asked>>>,
    /// The address pull requests' `html_url`s point at.
    web: String,
}

/// GitHub's pull request API, for one token.
pub struct GitHubStub {
    pub addr: SocketAddr,
    state: HubState,
}

impl GitHubStub {
    pub async fn start(token: &str) -> GitHubStub {
        Self::start_with(token, None).await
    }

    /// A stand-in where `app` mints `token` as its installation token (a JWT signed with
    /// the app's key, RS256, `iss` the app id, as GitHub documents).
    pub async fn start_with(token: &str, app: Option<StubApp>) -> GitHubStub {
        let state = HubState {
            token: token.to_string(),
            app,
            minted: Arc::default(),
            answer: Arc::new(Mutex::new(PullAnswer::Open)),
            asked: Arc::default(),
            web: "https://github.example".into(),
        };
        let router = Router::new()
            .route(
                "/repos/{owner}/{repo}/pulls",
                post(open_pull).get(list_pulls),
            )
            .route("/app/installations/{id}/access_tokens", post(mint_token))
            .with_state(state.clone());
        GitHubStub {
            addr: serve(router).await,
            state,
        }
    }

    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn answer(&self, answer: PullAnswer) {
        *self.state.answer.lock().expect("lock") = answer;
    }

    /// How many installation tokens were minted.
    pub fn minted(&self) -> u32 {
        *self.state.minted.lock().expect("lock")
    }

    /// Every pull request asked for: (repository, body, token presented).
    pub fn asked(&self) -> Vec<Asked> {
        self.state.asked.lock().expect("lock").clone()
    }
}

fn refusal(status: StatusCode, message: &str) -> Response {
    let docs = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request";
    (
        status,
        axum::Json(json!({"message": message, "documentation_url": docs})),
    )
        .into_response()
}

async fn open_pull(
    State(state): State<HubState>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let token = presented(&headers);
    let repository = format!("{owner}/{repo}");
    state
        .asked
        .lock()
        .expect("lock")
        .push((repository.clone(), body.clone(), token.clone()));
    if token.as_deref() != Some(state.token.as_str()) {
        return refusal(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let answer = *state.answer.lock().expect("lock");
    match answer {
        PullAnswer::Forbidden => refusal(
            StatusCode::FORBIDDEN,
            "Resource not accessible by personal access token",
        ),
        PullAnswer::AlreadyExists => {
            let head = body["head"].as_str().unwrap_or_default();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({
                    "message": "Validation Failed",
                    "errors": [{"resource": "PullRequest", "code": "custom",
                                "message": format!("A pull request already exists for {owner}:{head}.")}],
                })),
            )
                .into_response()
        }
        PullAnswer::Open => {
            let number = state.asked.lock().expect("lock").len();
            let url = format!("{}/{repository}/pull/{number}", state.web);
            (
                StatusCode::CREATED,
                axum::Json(json!({"number": number, "html_url": url, "state": "open"})),
            )
                .into_response()
        }
    }
}

async fn list_pulls(
    State(state): State<HubState>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if presented(&headers).as_deref() != Some(state.token.as_str()) {
        return refusal(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let head = query.get("head").cloned().unwrap_or_default();
    let existing = json!([{
        "number": 7,
        "html_url": format!("{}/{owner}/{repo}/pull/7", state.web),
        "head": {"label": head},
        "state": query.get("state").cloned().unwrap_or_default(),
    }]);
    axum::Json(existing).into_response()
}

async fn mint_token(
    State(state): State<HubState>,
    Path(installation): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let Some(app) = &state.app else {
        return refusal(StatusCode::NOT_FOUND, "Not Found");
    };
    let jwt = presented(&headers).unwrap_or_default();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[app.app_id.to_string()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    let verified = jsonwebtoken::DecodingKey::from_rsa_pem(app.public_pem.as_bytes())
        .and_then(|key| jsonwebtoken::decode::<Value>(&jwt, &key, &validation));
    if verified.is_err() {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        );
    }
    if installation != app.installation_id {
        return refusal(StatusCode::NOT_FOUND, "Not Found");
    }
    *state.minted.lock().expect("lock") += 1;
    (
        StatusCode::CREATED,
        axum::Json(json!({"token": state.token, "expires_at": "2099-01-01T00:00:00Z"})),
    )
        .into_response()
}
