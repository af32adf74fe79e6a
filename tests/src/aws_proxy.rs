//! A proxy in front of the local AWS stand-in (moto) that records every request and can lose
//! the answer to one: the request reaches the service, its answer never reaches the caller,
//! as when a connection drops after a call went through.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(Default)]
struct Recorded {
    /// Request bodies seen, in order.
    bodies: Vec<String>,
    /// The answer to the next request whose body contains this is lost.
    lose_answer_to: Option<String>,
}

#[derive(Clone)]
pub struct AwsProxy {
    pub url: String,
    upstream: String,
    recorded: Arc<Mutex<Recorded>>,
    http: reqwest::Client,
}

impl AwsProxy {
    pub async fn start(upstream: String) -> AwsProxy {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let proxy = AwsProxy {
            url: format!("http://{addr}"),
            upstream,
            recorded: Arc::default(),
            http: reqwest::Client::new(),
        };
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(proxy.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        proxy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Loses the answer to the next request whose body contains `marker`.
    pub fn lose_answer_to(&self, marker: &str) {
        self.lock().lose_answer_to = Some(marker.to_string());
    }

    /// Request bodies that contain `marker`.
    pub fn bodies_with(&self, marker: &str) -> Vec<String> {
        self.lock()
            .bodies
            .iter()
            .filter(|body| body.contains(marker))
            .cloned()
            .collect()
    }
}

async fn forward(
    State(proxy): State<AwsProxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let lose = {
        let mut recorded = proxy.lock();
        recorded.bodies.push(text.clone());
        let lose = recorded
            .lose_answer_to
            .as_ref()
            .is_some_and(|marker| text.contains(marker.as_str()));
        if lose {
            recorded.lose_answer_to = None;
        }
        lose
    };
    let mut request = proxy
        .http
        .request(method, format!("{}{uri}", proxy.upstream))
        .body(body.to_vec());
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value.as_bytes());
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(err) => return (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    };
    if lose {
        // The call went through; its answer is lost on the way back.
        return (StatusCode::SERVICE_UNAVAILABLE, "answer lost").into_response();
    }
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("text/xml")
        .to_string();
    let bytes = answer.bytes().await.unwrap_or_default();
    (status, [("content-type", content_type)], bytes).into_response()
}
