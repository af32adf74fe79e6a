//! A stand-in for API Gateway's WebSocket Management API on loopback, implementing the part
//! of its documented contract Hangar uses: `POST /{stage}/@connections/{connectionId}` with
//! the frame as the body, answered 200, or 410 `GoneException` for a connection that is
//! gone. AWS itself cannot be reached from here; each post can be made to take a fixed time,
//! as the real service's round trip does, and every post is recorded.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use hangar_functions::adapters::apigw::ApiGatewayPush;
use hangar_functions::domain::live::Live;
use hangar_functions::domain::records::Connection;
use hangar_protocol::time::now_ms;

use crate::{Seeded, TestStack, unique};

/// The stack's live publisher, posting through the production adapter to `gateway`.
pub async fn live_through(stack: &TestStack, gateway: &ManagementApi) -> Live {
    let state = &stack.stack.state;
    Live {
        store: Arc::clone(&state.store),
        push: Arc::new(ApiGatewayPush::connect(&gateway.endpoint).await),
        caps: state.live.caps,
        webhooks: Arc::clone(&state.live.webhooks),
    }
}

/// `count` viewer connections of `seeded`'s owner on its project, written to the table.
pub async fn viewers_of(stack: &TestStack, seeded: &Seeded, count: usize) -> Vec<Connection> {
    let mut connections = Vec::with_capacity(count);
    for n in 0..count {
        let connection = Connection {
            id: unique(&format!("c{n}")).replace('-', ""),
            project_id: seeded.project.clone(),
            user_id: seeded.owner.clone(),
            connected_at: now_ms(),
            ttl: now_ms() / 1000 + 3600,
        };
        stack
            .stack
            .state
            .store
            .put_connection(&connection)
            .await
            .expect("connection");
        connections.push(connection);
    }
    connections
}

/// One post the stand-in answered.
#[derive(Debug, Clone)]
pub struct Post {
    pub connection: String,
    pub frame: String,
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    delay: Duration,
    gone: Mutex<HashSet<String>>,
    posts: Mutex<Vec<Post>>,
    in_flight: Mutex<(usize, usize)>,
}

pub struct ManagementApi {
    /// The endpoint to configure (`HANGAR_WS_ENDPOINT`): `http://127.0.0.1:port/stage`.
    pub endpoint: String,
    shared: Arc<Shared>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ManagementApi {
    /// Serves on a free loopback port; each post takes `delay` before it is answered.
    pub async fn start(delay: Duration) -> ManagementApi {
        let shared = Arc::new(Shared {
            delay,
            ..Shared::default()
        });
        let app = Router::new()
            .route(
                "/{stage}/@connections/{connection}",
                post(post_to_connection),
            )
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        ManagementApi {
            endpoint: format!("http://{address}/stage"),
            shared,
        }
    }

    /// Answers every later post to `connection` with 410 GoneException.
    pub fn set_gone(&self, connection: &str) {
        lock(&self.shared.gone).insert(connection.to_string());
    }

    /// Every post answered 200 so far, in the order they were answered.
    pub fn posts(&self) -> Vec<Post> {
        lock(&self.shared.posts).clone()
    }

    /// The most posts that were being answered at the same moment.
    pub fn most_at_once(&self) -> usize {
        lock(&self.shared.in_flight).1
    }
}

async fn post_to_connection(
    State(shared): State<Arc<Shared>>,
    Path((_stage, connection)): Path<(String, String)>,
    frame: Bytes,
) -> impl IntoResponse {
    {
        let mut in_flight = lock(&shared.in_flight);
        in_flight.0 += 1;
        in_flight.1 = in_flight.1.max(in_flight.0);
    }
    tokio::time::sleep(shared.delay).await;
    lock(&shared.in_flight).0 -= 1;
    if lock(&shared.gone).contains(&connection) {
        let body = r#"{"message":"the connection is gone"}"#;
        return (
            StatusCode::GONE,
            [("x-amzn-errortype", "GoneException")],
            body,
        )
            .into_response();
    }
    lock(&shared.posts).push(Post {
        connection,
        frame: String::from_utf8_lossy(&frame).into_owned(),
        at: Instant::now(),
    });
    StatusCode::OK.into_response()
}
