//! A TCP proxy in front of the loopback DynamoDB server that can take the store away: while
//! `Refuse` it hangs up on every connection (open ones included), while `Unavailable` it
//! answers every request with DynamoDB's 503, and otherwise it passes bytes through. moto
//! keeps its data in memory, so the outage is made here and moto never restarts. It also
//! counts the write requests that pass (by their `X-Amz-Target`), so a test can show a
//! flow writes nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    None,
    /// Connections are accepted and closed at once.
    Refuse,
    /// Every request is answered 503 ServiceUnavailable.
    Unavailable,
}

pub struct StoreProxy {
    pub url: String,
    mode: watch::Sender<Outage>,
    refused: Arc<AtomicUsize>,
    unavailable: Arc<AtomicUsize>,
    writes: Arc<AtomicUsize>,
}

impl StoreProxy {
    /// Proxies to `upstream` (`http://127.0.0.1:port`).
    pub async fn start(upstream: &str) -> StoreProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (mode, watching) = watch::channel(Outage::None);
        let proxy = StoreProxy {
            url,
            mode,
            refused: Arc::default(),
            unavailable: Arc::default(),
            writes: Arc::default(),
        };
        let (refused, unavailable) = (proxy.refused.clone(), proxy.unavailable.clone());
        let writes = proxy.writes.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let mut watching = watching.clone();
                let now = *watching.borrow_and_update();
                match now {
                    Outage::Refuse => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        drop(inbound);
                    }
                    Outage::Unavailable => {
                        unavailable.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(answer_unavailable(inbound));
                    }
                    Outage::None => {
                        let writes = writes.clone();
                        tokio::spawn(pass(inbound, upstream.clone(), watching, writes));
                    }
                }
            }
        });
        proxy
    }

    pub fn set(&self, outage: Outage) {
        self.mode.send_replace(outage);
    }

    /// Write requests passed to the store so far.
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// Connections hung up on, and requests answered 503, so far.
    pub fn faults(&self) -> (usize, usize) {
        (
            self.refused.load(Ordering::Relaxed),
            self.unavailable.load(Ordering::Relaxed),
        )
    }
}

/// The DynamoDB operations that write.
const WRITES: [&[u8]; 5] = [
    b"x-amz-target: dynamodb_20120810.putitem",
    b"x-amz-target: dynamodb_20120810.updateitem",
    b"x-amz-target: dynamodb_20120810.deleteitem",
    b"x-amz-target: dynamodb_20120810.batchwriteitem",
    b"x-amz-target: dynamodb_20120810.transactwriteitems",
];

/// Counts the write requests whose target header ends in `chunk` (`tail`: the end of the
/// bytes before it, so a header cut between two reads is counted once).
fn count_writes(tail: &mut Vec<u8>, chunk: &[u8], writes: &AtomicUsize) {
    let seen = tail.len();
    tail.extend(chunk.iter().map(u8::to_ascii_lowercase));
    for target in WRITES {
        let found = tail
            .windows(target.len())
            .enumerate()
            .filter(|(at, window)| at + target.len() > seen && window == &target)
            .count();
        writes.fetch_add(found, Ordering::SeqCst);
    }
    let keep = tail.len().saturating_sub(64);
    tail.drain(..keep);
}

/// Requests as they are, counting the writes among them.
async fn forward(
    mut from: tokio::net::tcp::ReadHalf<'_>,
    mut to: tokio::net::tcp::WriteHalf<'_>,
    writes: &AtomicUsize,
) -> std::io::Result<()> {
    let (mut buffer, mut tail) = (vec![0u8; 16 * 1024], Vec::new());
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return to.shutdown().await;
        }
        count_writes(&mut tail, &buffer[..read], writes);
        to.write_all(&buffer[..read]).await?;
    }
}

/// Bytes both ways until either side closes or an outage begins.
async fn pass(
    mut inbound: TcpStream,
    upstream: String,
    mut mode: watch::Receiver<Outage>,
    writes: Arc<AtomicUsize>,
) {
    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (in_read, mut in_write) = inbound.split();
    let (mut out_read, out_write) = outbound.split();
    let requests = forward(in_read, out_write, &writes);
    let answers = tokio::io::copy(&mut out_read, &mut in_write);
    tokio::select! {
        _ = futures::future::try_join(requests, answers) => {}
        _ = async {
            while mode.changed().await.is_ok() {
                if *mode.borrow() != Outage::None {
                    return;
                }
            }
        } => {}
    }
}

/// Reads one request (headers and body) and answers it as DynamoDB does when it is down.
async fn answer_unavailable(mut inbound: TcpStream) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let Ok(read) = inbound.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        request.extend_from_slice(&buffer[..read]);
        if let Some(end) = find(&request, b"\r\n\r\n") {
            let headers = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = headers
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
    }
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ServiceUnavailable","message":"injected by the test's store proxy"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = inbound.write_all(response.as_bytes()).await;
    let _ = inbound.shutdown().await;
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
