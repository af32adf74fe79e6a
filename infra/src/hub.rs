//! The local stack's WebSocket gateway: what API Gateway's WebSocket API is in production.
//! `GET /ws?token=&projectId=` runs the same `$connect` domain code (refusing with the same
//! HTTP errors), the socket then carries the same JSON text frames, and closing it runs
//! `$disconnect`. The hub is also the local [`Push`] adapter: a post to a connection that is
//! no longer open reports it gone, as API Gateway's `GoneException` does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hangar_functions::AppState;
use hangar_functions::domain::ports::{Delivery, PortError, Push};
use hangar_functions::http::ApiError;
use hangar_protocol::live::{CONNECT_PROJECT_PARAM, CONNECT_TOKEN_PARAM};
use hangar_protocol::{ErrorCode, routes};
use tokio::sync::mpsc;

/// Frames waiting for one slow browser before the hub treats it as gone.
const CONNECTION_BUFFER: usize = 256;

#[derive(Default)]
pub struct LocalHub {
    connections: Mutex<HashMap<String, mpsc::Sender<String>>>,
    /// While set, new connections are refused (503), as during a gateway outage.
    refusing: AtomicBool,
}

impl LocalHub {
    /// The route serving the WebSocket endpoint at `/ws`.
    pub fn router(self: &Arc<Self>, state: AppState) -> Router {
        Router::new()
            .route(routes::LIVE_SOCKET, get(upgrade))
            .with_state((Arc::clone(self), state))
    }

    /// Closes every open socket, as a network drop would (tests of reconnects).
    pub fn drop_all(&self) -> usize {
        let mut connections = self.lock();
        let count = connections.len();
        connections.clear();
        count
    }

    /// Refuses (`true`) or accepts again (`false`) new connections.
    pub fn refuse_connections(&self, refuse: bool) {
        self.refusing.store(refuse, Ordering::SeqCst);
    }

    pub fn open_connections(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<String>>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Push for LocalHub {
    async fn post(&self, connection_id: &str, frame: &str) -> Result<Delivery, PortError> {
        let sender = self.lock().get(connection_id).cloned();
        let Some(sender) = sender else {
            return Ok(Delivery::Gone);
        };
        match sender.try_send(frame.to_string()) {
            Ok(()) => Ok(Delivery::Delivered),
            Err(_) => {
                // Closed, or so far behind that it is as good as gone: the viewer reconnects
                // and pages what it missed.
                self.lock().remove(connection_id);
                Ok(Delivery::Gone)
            }
        }
    }
}

async fn upgrade(
    State((hub, state)): State<(Arc<LocalHub>, AppState)>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if hub.refusing.load(Ordering::SeqCst) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::GatewayUnavailable,
            "the gateway refuses new connections for now; retry",
        )
        .into_response();
    }
    let connection_id = ulid::Ulid::new().to_string();
    if let Err(err) = connect(&state, &connection_id, &query).await {
        return err.into_response();
    }
    let (sender, receiver) = mpsc::channel(CONNECTION_BUFFER);
    hub.lock().insert(connection_id.clone(), sender);
    upgrade.on_upgrade(move |socket| async move {
        relay(socket, receiver).await;
        hub.lock().remove(&connection_id);
        if let Err(err) = state.live.disconnect(&connection_id).await {
            tracing::warn!(connection = %connection_id, error = %err, "disconnect failed");
        }
    })
}

/// `$connect`, as API Gateway's route would run it.
async fn connect(
    state: &AppState,
    connection_id: &str,
    query: &HashMap<String, String>,
) -> Result<(), ApiError> {
    let token = query.get(CONNECT_TOKEN_PARAM).map(String::as_str);
    let user = state.auth.verify_user_token(token)?;
    let project = query.get(CONNECT_PROJECT_PARAM).map(String::as_str);
    state.live.connect(connection_id, &user, project).await?;
    Ok(())
}

/// Forwards frames to the browser until either side closes.
async fn relay(mut socket: WebSocket, mut frames: mpsc::Receiver<String>) {
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(frame) => {
                    if socket.send(Message::Text(frame.into())).await.is_err() {
                        return;
                    }
                }
                // The hub dropped the connection: close it as a gateway would.
                None => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            },
            incoming = socket.recv() => match incoming {
                // Browsers only listen; pings are answered by axum.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
