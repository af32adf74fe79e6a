//! Live updates end to end: real WebSocket connections to the local stack's gateway, the
//! `$connect` checks, one frame per connection per batch, task frames, gone connections, and
//! a reconnect whose gap is paged over HTTP.

use std::time::Duration;

use futures::StreamExt;
use hangar_functions::domain::records::Connection;
use hangar_protocol::live::LiveEvent;
use hangar_protocol::tasks::TaskStatus;
use hangar_protocol::time::now_ms;
use hangar_protocol::{
    ChatMessage, ErrorBody, MessageId, MessageRole, MessagesPage, UserId, routes,
};
use hangar_tests::wire::{batch, ingest_ok, range};
use hangar_tests::{Seeded, TestStack, unique};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const FRAME_WAIT: Duration = Duration::from_secs(10);

pub(crate) fn ws_path(token: Option<&str>, project: Option<&str>) -> String {
    let mut query = Vec::new();
    if let Some(token) = token {
        query.push(format!("token={token}"));
    }
    if let Some(project) = project {
        query.push(format!("projectId={project}"));
    }
    format!("{}?{}", routes::LIVE_SOCKET, query.join("&"))
}

async fn open(stack: &TestStack, seeded: &Seeded) -> Socket {
    let token = stack.user_token(&seeded.owner);
    let url = stack
        .stack
        .ws_url(&ws_path(Some(&token), Some(seeded.project.as_str())));
    let (socket, _) = connect_async(url).await.expect("websocket connects");
    // The connection item is written before the upgrade answers; nothing to wait for.
    socket
}

/// The refusal of a `$connect`: its status and `{code,message}`.
pub(crate) async fn refused(stack: &TestStack, path: &str) -> (u16, ErrorBody) {
    match connect_async(stack.stack.ws_url(path)).await {
        Ok(_) => panic!("{path} was accepted"),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response.body().as_deref().expect("error body");
            (
                status,
                serde_json::from_slice(body).expect("{code,message}"),
            )
        }
        Err(other) => panic!("{path}: {other}"),
    }
}

async fn next_event(socket: &mut Socket) -> LiveEvent {
    loop {
        let frame = tokio::time::timeout(FRAME_WAIT, socket.next())
            .await
            .expect("a frame within the wait")
            .expect("socket open")
            .expect("frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(&text).expect("live event"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The next messages frame, skipping task frames.
async fn next_messages(socket: &mut Socket) -> (u64, Vec<u64>) {
    loop {
        if let LiveEvent::Messages {
            cursor, messages, ..
        } = next_event(socket).await
        {
            return (cursor, messages.iter().map(|m| m.seq).collect());
        }
    }
}

/// Nothing arrives within `wait`.
async fn assert_silent(socket: &mut Socket, wait: Duration) {
    if let Ok(Some(frame)) = tokio::time::timeout(wait, socket.next()).await {
        panic!("unexpected frame {frame:?}");
    }
}

async fn connections(stack: &TestStack, seeded: &Seeded) -> Vec<Connection> {
    stack
        .stack
        .state
        .store
        .list_connections(&seeded.project, now_ms() / 1000)
        .await
        .expect("list connections")
}

async fn eventually(what: &str, check: impl AsyncFnMut() -> bool) {
    hangar_tests::eventually(what, Duration::from_secs(5), check).await;
}

#[tokio::test]
async fn connect_checks_token_and_membership() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let project = seeded.project.as_str();
    let owner_token = stack.user_token(&seeded.owner);

    let (status, body) = refused(&stack, &ws_path(None, Some(project))).await;
    assert_eq!((status, body.code.as_str()), (401, "missing_token"));
    let (status, body) = refused(&stack, &ws_path(Some("not.a.jwt"), Some(project))).await;
    assert_eq!((status, body.code.as_str()), (401, "invalid_token"));
    // A workspace callback token is no user token.
    let callback = stack.callback_token(&seeded.workspace);
    let (status, body) = refused(&stack, &ws_path(Some(&callback), Some(project))).await;
    assert_eq!((status, body.code.as_str()), (401, "invalid_token"));
    let (status, body) = refused(&stack, &ws_path(Some(&owner_token), None)).await;
    assert_eq!((status, body.code.as_str()), (400, "missing_project"));
    let (status, body) = refused(
        &stack,
        &ws_path(Some(&owner_token), Some("no-such-project")),
    )
    .await;
    assert_eq!((status, body.code.as_str()), (404, "project_not_found"));
    let stranger = stack.user_token(&UserId::parse(unique("user")).expect("id"));
    let (status, body) = refused(&stack, &ws_path(Some(&stranger), Some(project))).await;
    assert_eq!((status, body.code.as_str()), (403, "not_a_member"));
    assert!(
        connections(&stack, &seeded).await.is_empty(),
        "refusals store nothing"
    );

    let _socket = open(&stack, &seeded).await;
    let stored = connections(&stack, &seeded).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].user_id, seeded.owner);
    let now_secs = now_ms() / 1000;
    assert!(
        stored[0].ttl > now_secs && stored[0].ttl <= now_secs + 2 * 3600 + 1,
        "ttl {} within two hours of {now_secs}",
        stored[0].ttl
    );
}

#[tokio::test]
async fn a_user_holds_at_most_the_capped_connections_and_a_closed_one_frees_a_place() {
    let stack = TestStack::start_with(|options| options.connection_caps.per_user = 3).await;
    let seeded = stack.seed().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open(&stack, &seeded).await);
    }
    let token = stack.user_token(&seeded.owner);
    let path = ws_path(Some(&token), Some(seeded.project.as_str()));
    let (status, body) = refused(&stack, &path).await;
    assert_eq!((status, body.code.as_str()), (429, "too_many_connections"));
    assert_eq!(
        connections(&stack, &seeded).await.len(),
        3,
        "the refused one is not kept"
    );

    let mut closed = held.pop().expect("a socket");
    closed.close(None).await.expect("close");
    eventually("the closed connection forgotten", async || {
        connections(&stack, &seeded).await.len() == 2
    })
    .await;
    held.push(open(&stack, &seeded).await);
    assert_eq!(connections(&stack, &seeded).await.len(), 3);
}

#[tokio::test]
async fn each_batch_is_one_frame_per_connection_for_the_project_only() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let other = stack.seed().await;
    let mut first = open(&stack, &seeded).await;
    let mut second = open(&stack, &seeded).await;
    let mut elsewhere = open(&stack, &other).await;

    ingest_ok(&stack, &seeded, batch(&seeded.session, range(1..=30))).await;
    for socket in [&mut first, &mut second] {
        let (cursor, seqs) = next_messages(socket).await;
        assert_eq!(cursor, 30);
        assert_eq!(
            seqs,
            (1..=30).collect::<Vec<_>>(),
            "the whole batch in one frame"
        );
    }
    assert_silent(&mut elsewhere, Duration::from_millis(300)).await;

    // A re-sent batch (all duplicates) is pushed again: a viewer may have missed it.
    let response = ingest_ok(&stack, &seeded, batch(&seeded.session, range(1..=30))).await;
    assert_eq!(response.duplicates, 30);
    assert_eq!(next_messages(&mut first).await, (30, (1..=30).collect()));
}

#[tokio::test]
async fn task_changes_are_pushed_with_their_status() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let mut socket = open(&stack, &seeded).await;
    let token = stack.user_token(&seeded.owner);

    let created = backlog_task(&stack, &seeded).await;
    let LiveEvent::Task { task, cursor, .. } = next_event(&mut socket).await else {
        panic!("expected a task frame");
    };
    assert_eq!(task.status, TaskStatus::Backlog);
    assert_eq!(task.id, created.id);
    assert_eq!(cursor, 0, "nothing stored for the new session yet");

    // Messages of the task's session stored meanwhile: the next task frame carries their
    // cursor, so a viewer that missed their frame notices.
    for seq in 1..=3 {
        let message = ChatMessage {
            message_id: MessageId::parse(format!("m{seq}")).expect("id"),
            seq,
            role: MessageRole::Assistant,
            content: format!("message {seq}"),
            tool: None,
            permission: None,
            created_at: now_ms(),
        };
        stack
            .stack
            .state
            .store
            .insert_message(&task.session_id, &message)
            .await
            .expect("insert");
    }

    let (status, _) = stack
        .call(
            "POST",
            &routes::task_cancel(&seeded.project, &task.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let LiveEvent::Task { task, cursor, .. } = next_event(&mut socket).await else {
        panic!("expected a task frame");
    };
    assert_eq!(task.status, TaskStatus::Cancelled);
    assert_eq!(cursor, 3);
}

#[tokio::test]
async fn a_gone_connection_is_deleted_and_an_expired_one_skipped() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let store = &stack.stack.state.store;
    let mut socket = open(&stack, &seeded).await;
    let task = backlog_task(&stack, &seeded).await;
    assert!(matches!(
        next_event(&mut socket).await,
        LiveEvent::Task { .. }
    ));
    let now = now_ms();
    let gone = Connection {
        id: "gone-connection".into(),
        project_id: seeded.project.clone(),
        user_id: seeded.owner.clone(),
        connected_at: now,
        ttl: now / 1000 + 3600,
    };
    let expired = Connection {
        id: "expired-connection".into(),
        ttl: now / 1000 - 1,
        ..gone.clone()
    };
    store.put_connection(&gone).await.expect("put");
    store.put_connection(&expired).await.expect("put");

    // A task change is published to every live connection of the project.
    let (status, _) = stack
        .call(
            "POST",
            &routes::task_cancel(&seeded.project, &task.id),
            Some(&stack.user_token(&seeded.owner)),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(matches!(
        next_event(&mut socket).await,
        LiveEvent::Task { .. }
    ));
    assert!(
        store
            .get_connection("expired-connection")
            .await
            .expect("get")
            .is_some(),
        "an expired connection is never posted to (a post would find it gone and delete it)"
    );
    assert!(
        store
            .get_connection("gone-connection")
            .await
            .expect("get")
            .is_none()
    );
    let left: Vec<String> = connections(&stack, &seeded)
        .await
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(left.len(), 1, "only the open socket is live: {left:?}");

    // Closing the socket runs $disconnect.
    socket.close(None).await.expect("close");
    eventually("the connection item is deleted", async || {
        connections(&stack, &seeded).await.is_empty()
    })
    .await;
}

/// A task saved to the seeded project's backlog.
async fn backlog_task(stack: &TestStack, seeded: &Seeded) -> hangar_protocol::tasks::TaskView {
    stack
        .submit_task(&seeded.owner, &seeded.project, "A task", "backlog")
        .await
}

#[tokio::test]
async fn after_a_dropped_socket_the_cursor_shows_the_gap_and_http_fills_it() {
    let stack = TestStack::start().await;
    let seeded = stack.seed().await;
    let mut socket = open(&stack, &seeded).await;
    ingest_ok(&stack, &seeded, batch(&seeded.session, range(1..=5))).await;
    let (_, seen) = next_messages(&mut socket).await;
    let last_seen = *seen.last().expect("seen");

    assert_eq!(stack.stack.hub.drop_all(), 1);
    match tokio::time::timeout(FRAME_WAIT, socket.next()).await {
        Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {}
        other => panic!("the socket should close, got {other:?}"),
    }
    // Messages stored while nobody is connected reach no socket.
    ingest_ok(&stack, &seeded, batch(&seeded.session, range(6..=9))).await;

    let mut socket = open(&stack, &seeded).await;
    ingest_ok(&stack, &seeded, batch(&seeded.session, range(10..=12))).await;
    let (cursor, seqs) = next_messages(&mut socket).await;
    assert_eq!((cursor, seqs.clone()), (12, vec![10, 11, 12]));
    assert!(
        seqs[0] > last_seen + 1,
        "the frame reveals the gap after {last_seen}"
    );

    let page: MessagesPage = stack
        .get_messages(
            &seeded,
            Some(&stack.user_token(&seeded.owner)),
            &format!("?after={last_seen}&limit=200"),
        )
        .await
        .json()
        .await
        .expect("page");
    let paged: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(paged, (6..=12).collect::<Vec<_>>(), "HTTP fills the gap");
}
