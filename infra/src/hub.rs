//! The local stack's WebSocket gateway: what API Gateway's WebSocket API is in production.
//! `GET /ws?token=…` runs the same `$connect` code (refusing with the same HTTP errors) for
//! viewers (`&projectId=`) and nodes (a node token); the socket then carries the same JSON
//! text frames, a node's messages reach the same route handlers (`heartbeat`), and closing
//! it runs `$disconnect`. The hub is also the local [`Push`] adapter: a post to a
//! connection that is no longer open reports it gone, as API Gateway's `GoneException` does.
//! For fault tests it can refuse connections, close sockets and drop node commands.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
use hangar_protocol::limits::LIVE_FRAME_MAX_BYTES;
use hangar_protocol::live::{CONNECT_PROJECT_PARAM, CONNECT_TOKEN_PARAM};
use hangar_protocol::node::NodeMessage;
use hangar_protocol::{ErrorCode, routes};
use tokio::sync::mpsc;

use crate::meter::Meter;

/// Frames waiting for one slow peer before the hub treats it as gone.
const CONNECTION_BUFFER: usize = 256;

struct Socket {
    frames: mpsc::Sender<String>,
    /// A node's socket (not a viewer's).
    node: bool,
}

#[derive(Default)]
pub struct LocalHub {
    connections: Mutex<HashMap<String, Socket>>,
    /// While set, new connections are refused (503), as during a gateway outage.
    refusing: AtomicBool,
    /// How many of the next frames to nodes are dropped on the way (reported delivered).
    drop_node_frames: AtomicUsize,
    /// What API Gateway would bill: route events and frames posted.
    pub meter: Arc<Meter>,
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
        self.close(|_| true)
    }

    /// Closes the nodes' sockets only.
    pub fn drop_nodes(&self) -> usize {
        self.close(|socket| socket.node)
    }

    fn close(&self, which: impl Fn(&Socket) -> bool) -> usize {
        let mut connections = self.lock();
        let before = connections.len();
        connections.retain(|_, socket| !which(socket));
        before - connections.len()
    }

    /// Loses the next `count` frames pushed to nodes, as a gateway that drops them would.
    pub fn drop_next_node_frames(&self, count: usize) {
        self.drop_node_frames.store(count, Ordering::SeqCst);
    }

    /// Refuses (`true`) or accepts again (`false`) new connections.
    pub fn refuse_connections(&self, refuse: bool) {
        self.refusing.store(refuse, Ordering::SeqCst);
    }

    pub fn open_connections(&self) -> usize {
        self.lock().len()
    }

    /// Open node sockets.
    pub fn node_sockets(&self) -> usize {
        self.lock().values().filter(|socket| socket.node).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Socket>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a frame to a node is to be lost (and counts it).
    fn lose_node_frame(&self) -> bool {
        self.drop_node_frames
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

#[async_trait]
impl Push for LocalHub {
    async fn post(&self, connection_id: &str, frame: &str) -> Result<Delivery, PortError> {
        // API Gateway refuses a frame over its limit (PayloadTooLargeException): so does the
        // hub, so the tests see what production would.
        if frame.len() > LIVE_FRAME_MAX_BYTES {
            return Err(PortError::Failed(format!(
                "PayloadTooLargeException: a frame of {} bytes is over the {LIVE_FRAME_MAX_BYTES}-byte limit",
                frame.len()
            )));
        }
        let socket = self
            .lock()
            .get(connection_id)
            .map(|socket| (socket.frames.clone(), socket.node));
        let Some((sender, node)) = socket else {
            return Ok(Delivery::Gone);
        };
        if node && self.lose_node_frame() {
            tracing::info!(connection = %connection_id, "dropping a frame to a node (fault injected)");
            return Ok(Delivery::Delivered);
        }
        match sender.try_send(frame.to_string()) {
            Ok(()) => {
                self.meter.frame_posted();
                Ok(Delivery::Delivered)
            }
            Err(_) => {
                // Closed, or so far behind that it is as good as gone: the peer reconnects
                // and catches up over HTTP.
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
    let token = query.get(CONNECT_TOKEN_PARAM).map(String::as_str);
    let project = query.get(CONNECT_PROJECT_PARAM).map(String::as_str);
    let started = Instant::now();
    let connected = hangar_functions::http::connect(&state, &connection_id, token, project).await;
    hub.meter.invoked("$connect", started.elapsed());
    if let Err(err) = connected {
        return err.into_response();
    }
    let node = state.live.is_node_socket(&connection_id).await;
    let (sender, receiver) = mpsc::channel(CONNECTION_BUFFER);
    hub.lock().insert(
        connection_id.clone(),
        Socket {
            frames: sender,
            node,
        },
    );
    upgrade.on_upgrade(move |socket| async move {
        relay(socket, receiver, &state, &hub.meter, &connection_id).await;
        hub.lock().remove(&connection_id);
        let started = Instant::now();
        if let Err(err) = state.live.disconnect(&connection_id).await {
            tracing::warn!(connection = %connection_id, error = %err, "disconnect failed");
        }
        hub.meter.invoked("$disconnect", started.elapsed());
    })
}

/// Forwards frames to the peer until either side closes; a node's messages run their route.
async fn relay(
    mut socket: WebSocket,
    mut frames: mpsc::Receiver<String>,
    state: &AppState,
    meter: &Meter,
    connection_id: &str,
) {
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
                Some(Ok(Message::Text(text))) => route_message(state, meter, connection_id, &text).await,
                // Pings are answered by axum.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// What API Gateway's route selection (`$request.body.action`) does with a peer's message.
async fn route_message(state: &AppState, meter: &Meter, connection_id: &str, text: &str) {
    match serde_json::from_str::<NodeMessage>(text) {
        Ok(NodeMessage::Heartbeat) => {
            let started = Instant::now();
            if let Err(err) = state.live.heartbeat(connection_id).await {
                tracing::warn!(connection = %connection_id, error = %err, "heartbeat refused");
            }
            meter.invoked("heartbeat", started.elapsed());
        }
        Err(err) => {
            tracing::debug!(connection = %connection_id, error = %err, "no route for a message")
        }
    }
}
