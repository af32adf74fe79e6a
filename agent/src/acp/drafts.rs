//! Drafts: while the agent streams a message, its text so far goes to the control plane at
//! most every `HANGAR_DRAFT_INTERVAL_MS`, which pushes it to the viewers without storing
//! it. A draft is sent once (no retry: the next one, or the stored message, supersedes
//! it), so a slow or failing control plane costs drafts, never messages.

use std::sync::Arc;
use std::time::Duration;

use hangar_protocol::DraftRequest;
use tokio::sync::Mutex;

use super::Recorder;
use crate::control_plane::{Caller, ControlPlane};
use crate::outbox::Delivery;

/// Where a session's drafts go.
pub struct DraftSink {
    pub control_plane: ControlPlane,
    pub delivery: Delivery,
    pub interval: Duration,
}

/// Sends the streamed message's drafts until the task is aborted (the session ended).
pub async fn stream_drafts(recorder: Arc<Mutex<Recorder>>, sink: DraftSink) {
    let grew = recorder.lock().await.growth();
    let caller = Caller {
        api_url: &sink.delivery.api_url,
        token: &sink.delivery.callback_token,
    };
    loop {
        grew.notified().await;
        let started = tokio::time::Instant::now();
        let Some(draft) = recorder.lock().await.draft().await else {
            continue;
        };
        let request = DraftRequest {
            session_id: sink.delivery.session_id.clone(),
            draft,
        };
        if let Err(err) = sink
            .control_plane
            .draft(caller, &sink.delivery.workspace_id, &request)
            .await
        {
            tracing::debug!(error = %err, "a draft was not taken; the next one or the message follows");
        }
        // At most one draft per interval, counted from the last one's start.
        tokio::time::sleep_until(started + sink.interval).await;
    }
}
