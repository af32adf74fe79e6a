//! A TCP proxy in front of the loopback DynamoDB server that can take the store away: while
//! `Refuse` it hangs up on every connection (open ones included), while `Unavailable` it
//! answers every request with DynamoDB's 503, and otherwise it passes bytes through. moto
//! keeps its data in memory, so the outage is made here and moto never restarts. It also
//! counts the requests that pass by operation (their `X-Amz-Target`), so a test can show
//! what a flow reads and writes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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
    calls: Calls,
}

/// Requests passed, by DynamoDB operation (lower case: `putitem`, `batchgetitem`, ...).
type Calls = Arc<Mutex<BTreeMap<String, usize>>>;

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
            calls: Arc::default(),
        };
        let (refused, unavailable) = (proxy.refused.clone(), proxy.unavailable.clone());
        let calls = proxy.calls.clone();
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
                        let calls = calls.clone();
                        tokio::spawn(pass(inbound, upstream.clone(), watching, calls));
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
        let calls = self.calls();
        WRITES
            .iter()
            .map(|op| calls.get(*op).copied().unwrap_or(0))
            .sum()
    }

    /// Requests passed to the store so far, by operation (`getitem`, `putitem`, ...).
    pub fn calls(&self) -> BTreeMap<String, usize> {
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Requests passed since `before` (an earlier [`StoreProxy::calls`]), by operation,
    /// leaving out the operations not called since.
    pub fn calls_since(&self, before: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
        self.calls()
            .into_iter()
            .map(|(op, n)| {
                let made = n - before.get(&op).copied().unwrap_or(0);
                (op, made)
            })
            .filter(|(_, made)| *made > 0)
            .collect()
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
const WRITES: [&str; 5] = [
    "putitem",
    "updateitem",
    "deleteitem",
    "batchwriteitem",
    "transactwriteitems",
];

/// What precedes the operation's name in a request's headers.
const TARGET: &[u8] = b"x-amz-target: dynamodb_20120810.";

/// Counts each operation named in the bytes seen so far. `tail` keeps what is not scanned
/// yet: a header cut between two reads is counted once, when its line is whole.
fn count_calls(tail: &mut Vec<u8>, chunk: &[u8], calls: &Mutex<BTreeMap<String, usize>>) {
    tail.extend(chunk.iter().map(u8::to_ascii_lowercase));
    loop {
        let Some(at) = find(tail, TARGET) else {
            let keep = tail.len().saturating_sub(TARGET.len());
            tail.drain(..keep);
            return;
        };
        let name_at = at + TARGET.len();
        let Some(length) = find(&tail[name_at..], b"\r\n") else {
            tail.drain(..at);
            return;
        };
        let operation = String::from_utf8_lossy(&tail[name_at..name_at + length]).into_owned();
        *calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(operation)
            .or_default() += 1;
        tail.drain(..name_at + length);
    }
}

/// Requests as they are, counting them by operation.
async fn forward(
    mut from: tokio::net::tcp::ReadHalf<'_>,
    mut to: tokio::net::tcp::WriteHalf<'_>,
    calls: &Mutex<BTreeMap<String, usize>>,
) -> std::io::Result<()> {
    let (mut buffer, mut tail) = (vec![0u8; 16 * 1024], Vec::new());
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return to.shutdown().await;
        }
        count_calls(&mut tail, &buffer[..read], calls);
        to.write_all(&buffer[..read]).await?;
    }
}

/// Bytes both ways until either side closes or an outage begins.
async fn pass(
    mut inbound: TcpStream,
    upstream: String,
    mut mode: watch::Receiver<Outage>,
    calls: Calls,
) {
    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (in_read, mut in_write) = inbound.split();
    let (mut out_read, out_write) = outbound.split();
    let requests = forward(in_read, out_write, &calls);
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
