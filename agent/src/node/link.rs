//! The node's one connection: a WebSocket it dials to the control plane's WebSocket API
//! (`wss` on AWS, the local hub's `/ws` locally) with its node token. Commands come down it;
//! a heartbeat goes up every `HANGAR_NODE_HEARTBEAT_MS`. When it drops, the node dials again
//! with backoff, and converges after every (re)connect, so nothing pushed while it was away
//! is missed.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hangar_protocol::live::CONNECT_TOKEN_PARAM;
use hangar_protocol::node::{NodeCommand, NodeMessage};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::Node;

/// First and longest wait before dialling again.
const REDIAL_FIRST: Duration = Duration::from_millis(200);
const REDIAL_MAX: Duration = Duration::from_secs(10);

/// Keeps the node's socket open until `stop`.
pub async fn keep_linked(node: Arc<Node>, stop: CancellationToken) {
    let mut wait = REDIAL_FIRST;
    loop {
        let url = format!(
            "{}?{CONNECT_TOKEN_PARAM}={}",
            node.config.socket_url, node.config.node_token
        );
        let connected = tokio::select! {
            connected = tokio_tungstenite::connect_async(url.as_str()) => connected,
            () = stop.cancelled() => return,
        };
        match connected {
            Ok((socket, _)) => {
                wait = REDIAL_FIRST;
                tracing::info!("socket open");
                serve(&node, socket, &stop).await;
                if stop.is_cancelled() {
                    return;
                }
                tracing::warn!("socket closed; dialling again");
            }
            Err(err) => {
                tracing::warn!(error = %err, ?wait, "cannot open the socket; dialling again");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
        wait = (wait * 2).min(REDIAL_MAX);
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads commands and sends heartbeats until the socket closes or `stop`.
async fn serve(node: &Arc<Node>, mut socket: Socket, stop: &CancellationToken) {
    // Whatever was pushed while the socket was down is in the assignments.
    let converging = Arc::clone(node);
    tokio::spawn(async move { converging.converge().await });
    let mut heartbeat = tokio::time::interval(node.config.heartbeat);
    heartbeat.tick().await; // the first tick is immediate; connecting was a sign of life
    loop {
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<NodeCommand>(&text) {
                    Ok(command) => {
                        let node = Arc::clone(node);
                        tokio::spawn(async move { node.apply(command).await });
                    }
                    Err(err) => tracing::warn!(error = %err, "unknown command; ignored"),
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = heartbeat.tick() => {
                let beat = serde_json::to_string(&NodeMessage::Heartbeat).unwrap_or_default();
                if socket.send(Message::Text(beat.into())).await.is_err() {
                    return;
                }
            }
            () = stop.cancelled() => {
                let _ = socket.close(None).await;
                return;
            }
        }
    }
}
