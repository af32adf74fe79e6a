//! A crowd on one project meets its connection cap over real WebSockets to the local
//! gateway: the ones past it are refused with 429 and a reason, nothing refused is kept,
//! every one let in gets the next batch, and a closed one frees a place. (How ingest's
//! fan-out scales with viewers is a benchmark figure, not a timed test.) Failed before the
//! per-project cap: every connection was let in.

use std::time::Duration;

use futures::StreamExt;
use hangar_protocol::live::LiveEvent;
use hangar_protocol::{ErrorBody, UserId, routes};
use hangar_tests::fixtures::user;
use hangar_tests::wire::{batch, ingest_ok, range};
use hangar_tests::{Seeded, TestStack};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects in flight at once: at most this many can race for the last places (and lose).
const CONCURRENCY: usize = 16;

/// Members of the project, each opening as many connections as the per-user cap lets it.
struct Crowd {
    members: usize,
    per_user: usize,
    project_cap: usize,
}

/// Opens a viewer connection of `member`, or the refusal's status and body.
async fn connect(
    stack: &TestStack,
    seeded: &Seeded,
    member: &UserId,
) -> Result<Socket, (u16, ErrorBody)> {
    let path = format!(
        "{}?token={}&projectId={}",
        routes::LIVE_SOCKET,
        stack.user_token(member),
        seeded.project
    );
    match connect_async(stack.stack.ws_url(&path)).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response.body().as_deref().expect("error body");
            Err((
                status,
                serde_json::from_slice(body).expect("{code,message}"),
            ))
        }
        Err(other) => panic!("connect: {other}"),
    }
}

/// The next frame carrying messages, within a wait.
async fn next_messages(socket: &mut Socket) -> Vec<u64> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a frame within the wait")
            .expect("socket open")
            .expect("frame");
        if let tungstenite::Message::Text(text) = frame
            && let Ok(LiveEvent::Messages { messages, .. }) = serde_json::from_str(&text)
        {
            return messages.iter().map(|m| m.seq).collect();
        }
    }
}

/// 200 connections (10 members, 20 each) on a project capped at 100.
#[tokio::test]
async fn viewers_past_a_projects_cap_are_refused_and_a_closed_one_frees_a_place() {
    meet_the_cap(Crowd {
        members: 10,
        per_user: 20,
        project_cap: 100,
    })
    .await;
}

/// The scale: 2,000 connections (100 members, 20 each) on the default cap of 1,000.
/// About a minute with the table in DynamoDB Local, where scripts/test runs it, but 9.5
/// minutes on moto (whose queries walk the whole partition), so the moto pass skips it.
#[tokio::test]
#[ignore = "2,000 sockets: scripts/test runs it in the DynamoDB Local pass"]
async fn two_thousand_viewers_of_one_project_meet_its_cap_of_a_thousand() {
    meet_the_cap(Crowd {
        members: 100,
        per_user: 20,
        project_cap: 1_000,
    })
    .await;
}

async fn meet_the_cap(crowd: Crowd) {
    let Crowd {
        members: member_count,
        per_user,
        project_cap,
    } = crowd;
    let stack = TestStack::start_with(|options| {
        options.connection_caps.per_user = per_user as u64;
        options.connection_caps.per_project = project_cap as u64;
    })
    .await;
    let seeded = stack.seed().await;
    let owner_token = stack.user_token(&seeded.owner);
    let mut members = vec![seeded.owner.clone()];
    for _ in 1..member_count {
        let member = user();
        let (status, body) = stack
            .call(
                "POST",
                &routes::members(&seeded.project),
                Some(&owner_token),
                Some(json!({"userId": member})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        members.push(member);
    }
    let attempts: Vec<&UserId> = members
        .iter()
        .flat_map(|member| std::iter::repeat_n(member, per_user))
        .collect();
    let outcomes: Vec<_> = futures::stream::iter(attempts)
        .map(async |member| (member.clone(), connect(&stack, &seeded, member).await))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let (mut open, mut refusals) = (Vec::new(), Vec::new());
    for (member, outcome) in outcomes {
        match outcome {
            Ok(socket) => open.push((member, socket)),
            Err(refusal) => refusals.push(refusal),
        }
    }
    assert!(
        (project_cap - CONCURRENCY..=project_cap).contains(&open.len()),
        "{} let in",
        open.len()
    );
    for (status, body) in &refusals {
        assert_eq!((*status, body.code.as_str()), (429, "too_many_connections"));
        assert!(body.message.contains("live viewers"), "{}", body.message);
    }
    let stored = stack
        .stack
        .state
        .store
        .list_connections(&seeded.project, hangar_protocol::time::now_ms() / 1000)
        .await
        .expect("connections");
    assert_eq!(stored.len(), open.len(), "nothing refused is kept");

    ingest_ok(&stack, &seeded, batch(&seeded.session, range(1..=3))).await;
    for (_, socket) in &mut open {
        assert_eq!(next_messages(socket).await, vec![1, 2, 3]);
    }

    // One at a time (no race), the places lost to racing fill up to exactly the cap.
    for member in members.iter().cycle().take(2 * member_count) {
        match connect(&stack, &seeded, member).await {
            Ok(socket) => open.push((member.clone(), socket)),
            Err((_, body)) if body.message.contains("live viewers") => break,
            Err(_) => continue, // that member holds all it may
        }
    }
    assert_eq!(open.len(), project_cap);
    let (reopening, mut closing) = open.pop().expect("a socket");
    closing.close(None).await.expect("close");
    hangar_tests::eventually(
        "a place freed",
        Duration::from_secs(10),
        async || match connect(&stack, &seeded, &reopening).await {
            Ok(socket) => {
                open.push((reopening.clone(), socket));
                true
            }
            Err(_) => false,
        },
    )
    .await;
    assert_eq!(open.len(), project_cap);
}
