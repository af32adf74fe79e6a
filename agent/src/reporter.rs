//! The reporter drains the outbox to the ingest endpoint in batches.
//!
//! Batching: when the reporter has been idle for `MSG_BATCH_MAX_WAIT_MS` it sends whatever is
//! waiting at once (low latency when traffic is light). Right after a send it gathers: the
//! next batch goes when it is full (`MSG_BATCH_MAX_SIZE` rows or `MSG_BATCH_MAX_BYTES`) or
//! when its oldest row has waited `MSG_BATCH_MAX_WAIT_MS`.
//!
//! Delivery: 2xx deletes the rows. 5xx, 408, 429 and network errors are retried with
//! exponential backoff and jitter (`MSG_RETRY_*`); a batch whose retry budget runs out is set
//! aside as `retry_exhausted` and requeued at the next agent start. Any other 4xx is
//! permanent: the rows are set aside as `rejected` with the answer, logged, never retried.

use std::time::{Duration, Instant};

use hangar_protocol::time::now_ms;
use tokio_util::sync::CancellationToken;

use crate::config::BatchLimits;
use crate::control_plane::{CallError, Caller, ControlPlane};
use crate::outbox::{Outbox, OutboxError, PendingBatch};

#[derive(Clone)]
pub struct Reporter {
    outbox: Outbox,
    control_plane: ControlPlane,
    batch: BatchLimits,
}

impl Reporter {
    pub fn new(outbox: Outbox, control_plane: ControlPlane, batch: BatchLimits) -> Self {
        Reporter {
            outbox,
            control_plane,
            batch,
        }
    }

    /// Delivers batches until `stop` is cancelled.
    pub async fn run(&self, stop: CancellationToken) -> Result<(), OutboxError> {
        tokio::select! {
            result = self.deliver_forever() => result,
            () = stop.cancelled() => Ok(()),
        }
    }

    /// Delivers everything waiting, as fast as the endpoint allows, giving up after
    /// `deadline`. Returns the rows left behind.
    pub async fn drain(&self, deadline: Duration) -> Result<u64, OutboxError> {
        let drained = tokio::time::timeout(deadline, async {
            while let Some(batch) = self.next_batch().await? {
                self.deliver(batch).await?;
            }
            Ok::<_, OutboxError>(())
        })
        .await;
        if let Ok(result) = drained {
            result?;
        }
        let left = self.outbox.pending().await?;
        if left > 0 {
            tracing::warn!(
                left,
                ?deadline,
                "outbox not drained in time; rows stay for the next start"
            );
        }
        Ok(left)
    }

    async fn next_batch(&self) -> Result<Option<PendingBatch>, OutboxError> {
        self.outbox
            .next_batch(self.batch.max_size, self.batch.max_bytes)
            .await
    }

    async fn deliver_forever(&self) -> Result<(), OutboxError> {
        let max_wait = self.batch.max_wait;
        let mut last_send: Option<Instant> = None;
        loop {
            let added = self.outbox.rows_added().notified();
            tokio::pin!(added);
            added.as_mut().enable();
            let Some(batch) = self.next_batch().await? else {
                added.await;
                continue;
            };
            let gathering = last_send.is_some_and(|at| at.elapsed() < max_wait);
            if gathering && !batch.full {
                let waited =
                    Duration::from_millis(now_ms().saturating_sub(batch.oldest_enqueued_at));
                if let Some(left) = max_wait.checked_sub(waited).filter(|left| !left.is_zero()) {
                    tokio::select! {
                        () = &mut added => continue,
                        () = tokio::time::sleep(left) => {}
                    }
                }
            }
            // Re-read: rows may have arrived while gathering.
            let Some(batch) = self.next_batch().await? else {
                continue;
            };
            self.deliver(batch).await?;
            last_send = Some(Instant::now());
        }
    }

    /// Sends one batch with retries, then acknowledges or sets it aside.
    async fn deliver(&self, batch: PendingBatch) -> Result<(), OutboxError> {
        let rows = batch.row_ids.len();
        let caller = Caller {
            api_url: &batch.delivery.api_url,
            token: &batch.delivery.callback_token,
        };
        let sent = self
            .control_plane
            .ingest(
                caller,
                &batch.delivery.workspace_id,
                batch.body.clone(),
                rows,
            )
            .await;
        match sent {
            Ok(()) => self.outbox.acknowledge(batch.row_ids).await,
            Err(CallError::Permanent { status, body }) => {
                tracing::error!(status, %body, rows, session = %batch.delivery.session_id, "ingest refused the batch; set aside");
                self.outbox
                    .set_aside(batch.row_ids, "rejected", Some(status), body)
                    .await
            }
            Err(CallError::Transient(detail)) => {
                tracing::error!(%detail, rows, "retry budget exhausted; batch set aside until the next start");
                self.outbox
                    .set_aside(batch.row_ids, "retry_exhausted", None, detail)
                    .await
            }
        }
    }
}
