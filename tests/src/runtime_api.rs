//! A small implementation of the AWS Lambda Runtime API on loopback, enough to run a real
//! custom-runtime bootstrap as Lambda does: the bootstrap polls
//! `GET /2018-06-01/runtime/invocation/next` (a long poll answered with the next event and
//! its `Lambda-Runtime-*` headers) and answers with
//! `POST /2018-06-01/runtime/invocation/{id}/response` or `.../error`; a failed start posts
//! `/2018-06-01/runtime/init/error`. Lambda itself cannot be reached from here.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::{Notify, oneshot};

/// What the template gives every function (its name, the table, the identity provider,
/// the callback key), pointed at `stack`'s servers.
pub fn function_env(stack: &crate::TestStack, lambda: &str) -> Vec<(String, String)> {
    let config = &stack.stack.config;
    [
        ("HANGAR_LAMBDA", lambda.to_string()),
        ("HANGAR_TABLE_NAME", config.table_name.clone()),
        ("HANGAR_DYNAMODB_ENDPOINT", crate::dynamodb_endpoint()),
        ("HANGAR_OIDC_ISSUER", config.oidc.issuer.clone()),
        ("HANGAR_OIDC_CLIENT_ID", config.oidc.client_id.clone()),
        (
            "HANGAR_CALLBACK_PUBLIC_KEY",
            config.callback_public_key_pem.clone(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// An API Gateway HTTP API (payload 2.0) request event, bearing `token`.
pub fn http_event(method: &str, path: &str, token: &str, body: Option<&Value>) -> Value {
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "authorization": format!("Bearer {token}"),
            "content-type": "application/json",
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "hangar-test",
            },
            "requestId": crate::unique("req"),
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "27/Nov/2026:07:00:00 +0000",
            "timeEpoch": 1_795_000_000_000u64,
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false,
    })
}

/// What the function answered to one invocation.
#[derive(Debug)]
pub enum Answer {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct Shared {
    events: Mutex<VecDeque<(String, Value)>>,
    event_added: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    first_poll: Mutex<Option<Instant>>,
    init_error: Mutex<Option<Value>>,
    invocations: Mutex<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        RuntimeApi { address, shared }
    }

    /// Starts `binary` as Lambda starts a function of `name`, with `env` besides the
    /// runtime's own variables.
    pub fn spawn(&self, binary: &Path, name: &str, env: &[(String, String)]) -> Child {
        Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true)
            .spawn()
            .expect("start the bootstrap")
    }

    /// Hands `event` to the function and waits for its answer (at most `limit`).
    pub async fn invoke(&self, event: Value, limit: Duration) -> Answer {
        let id = ulid::Ulid::new().to_string().to_lowercase();
        let (sender, answered) = oneshot::channel();
        lock(&self.shared.waiting).insert(id.clone(), sender);
        lock(&self.shared.events).push_back((id, event));
        self.shared.event_added.notify_one();
        tokio::time::timeout(limit, answered)
            .await
            .unwrap_or_else(|_| panic!("no answer within {limit:?}: did the bootstrap start?"))
            .expect("answer")
    }

    /// Waits until `function` polls for its first event (its init is over); when.
    pub async fn initialized(&self, function: &mut Child, limit: Duration) -> Instant {
        let started = Instant::now();
        loop {
            if let Some(at) = *lock(&self.shared.first_poll) {
                return at;
            }
            if let Some(error) = lock(&self.shared.init_error).clone() {
                panic!("the function failed its init: {error}");
            }
            if let Ok(Some(status)) = function.try_wait() {
                panic!("the function exited during its init: {status}");
            }
            assert!(started.elapsed() < limit, "no poll within {limit:?}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The error the function posted at init, if any.
    pub fn init_error(&self) -> Option<Value> {
        lock(&self.shared.init_error).clone()
    }

    /// Invocations handed out so far.
    pub fn invocations(&self) -> u64 {
        *lock(&self.shared.invocations)
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    lock(&shared.first_poll).get_or_insert_with(Instant::now);
    let (id, event) = loop {
        let added = shared.event_added.notified();
        if let Some(next) = lock(&shared.events).pop_front() {
            break next;
        }
        added.await;
    };
    *lock(&shared.invocations) += 1;
    let deadline = hangar_protocol::time::now_ms() + 30_000;
    let mut headers = HeaderMap::new();
    let pairs = [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:000000000000:function:local".to_string(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".to_string(),
        ),
        ("content-type", "application/json".to_string()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
    (StatusCode::OK, headers, event.to_string())
}

fn answer(shared: &Shared, id: &str, answer: Answer) -> StatusCode {
    match lock(&shared.waiting).remove(id) {
        Some(waiting) => {
            let _ = waiting.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()))
}

async fn response(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> StatusCode {
    answer(&shared, &id, Answer::Response(json(&body)))
}

async fn error(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> StatusCode {
    answer(&shared, &id, Answer::Error(json(&body)))
}

async fn init_error(State(shared): State<Arc<Shared>>, body: String) -> StatusCode {
    *lock(&shared.init_error) = Some(json(&body));
    StatusCode::ACCEPTED
}
