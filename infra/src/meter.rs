//! What the local stack did that AWS would bill: each HTTP API request (one Lambda
//! invocation of its route's function, with how long it took), each WebSocket route event
//! (`$connect`, `$disconnect`, a node's heartbeat: one invocation each), each frame posted
//! to a socket (a Management API call and a WebSocket message), and each warm timeout that
//! fired. The benchmarks turn the counts into a cost.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// One kind of invocation: how many, and their total duration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub total: Duration,
}

#[derive(Default)]
pub struct Meter {
    /// By route (`POST /api/...`), WebSocket route (`$connect`, ...) or `warm-timeout`.
    invocations: Mutex<BTreeMap<String, Tally>>,
    frames_posted: Mutex<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Meter {
    /// Counts one invocation of `what` that took `took`.
    pub fn invoked(&self, what: &str, took: Duration) {
        let mut invocations = lock(&self.invocations);
        let tally = invocations.entry(what.to_string()).or_default();
        tally.count += 1;
        tally.total += took;
    }

    pub fn frame_posted(&self) {
        *lock(&self.frames_posted) += 1;
    }

    /// Every invocation so far, by what was invoked.
    pub fn invocations(&self) -> BTreeMap<String, Tally> {
        lock(&self.invocations).clone()
    }

    /// Frames posted to sockets so far (viewers' and nodes').
    pub fn frames_posted(&self) -> u64 {
        *lock(&self.frames_posted)
    }
}

/// Middleware of the HTTP API: counts each request under its route, as API Gateway maps it
/// to its function.
pub async fn count_requests(
    State(meter): State<std::sync::Arc<Meter>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route = format!(
        "{} {}",
        request.method(),
        matched.as_ref().map_or("(no route)", MatchedPath::as_str)
    );
    let started = Instant::now();
    let response = next.run(request).await;
    meter.invoked(&route, started.elapsed());
    response
}
