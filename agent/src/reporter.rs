//! The reporter drains the outbox to the ingest endpoint in batches.
//!
//! Batching without a fixed wait: a workspace's next batch goes as soon as nothing of that
//! workspace is in flight, carrying every row that arrived meanwhile up to the batch limits
//! (`MSG_BATCH_MAX_SIZE` rows, `MSG_BATCH_MAX_BYTES`). A lone message therefore goes at
//! once, and a stream gathers into batches exactly as fast as the endpoint takes them. Each
//! workspace has at most one batch on the wire, so its rows arrive in order; workspaces do
//! not wait for each other.
//!
//! Delivery: 2xx deletes the rows. 5xx, 408, 429 and network errors are retried with
//! exponential backoff and jitter (`MSG_RETRY_*`, the only timer on this path); a batch
//! whose retry budget runs out stays in the outbox and is tried again after a pause of the
//! longest interval, for as long as it takes: a transient failure never loses a row (a
//! destroyed workspace's callbacks answer 410, which is permanent). Any other 4xx is
//! permanent: the rows are set aside as `rejected` with the answer, logged, never retried.

use std::collections::HashSet;
use std::time::Duration;

use hangar_protocol::WorkspaceId;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::BatchLimits;
use crate::control_plane::{CallError, Caller, ControlPlane};
use crate::outbox::{Outbox, OutboxError, PendingBatch};

#[derive(Clone)]
pub struct Reporter {
    outbox: Outbox,
    control_plane: ControlPlane,
    batch: BatchLimits,
    /// How long a batch whose retry budget ran out waits before its next round of tries.
    pause: Duration,
}

impl Reporter {
    pub fn new(
        outbox: Outbox,
        control_plane: ControlPlane,
        batch: BatchLimits,
        pause: Duration,
    ) -> Self {
        Reporter {
            outbox,
            control_plane,
            batch,
            pause,
        }
    }

    /// Delivers batches until `stop` is cancelled; batches on the wire then are dropped with
    /// their rows still in the outbox (a later drain or start sends them again).
    pub async fn run(&self, stop: CancellationToken) -> Result<(), OutboxError> {
        let mut on_the_wire: JoinSet<(WorkspaceId, Result<(), OutboxError>)> = JoinSet::new();
        let mut busy: HashSet<WorkspaceId> = HashSet::new();
        loop {
            let added = self.outbox.rows_added().notified();
            tokio::pin!(added);
            added.as_mut().enable();
            while let Some(batch) = self.next_batch(&busy).await? {
                let workspace = batch.delivery.workspace_id.clone();
                busy.insert(workspace.clone());
                let reporter = self.clone();
                on_the_wire.spawn(async move { (workspace, reporter.deliver(batch).await) });
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = &mut added => {}
                Some(done) = on_the_wire.join_next() => {
                    let (workspace, delivered) = done
                        .map_err(|err| OutboxError::Worker(err.to_string()))?;
                    busy.remove(&workspace);
                    delivered?;
                }
            }
        }
    }

    /// Delivers everything waiting, one batch after another, giving up after `deadline`.
    /// Returns the rows left behind.
    pub async fn drain(&self, deadline: Duration) -> Result<u64, OutboxError> {
        let drained = tokio::time::timeout(deadline, async {
            while let Some(batch) = self.next_batch(&HashSet::new()).await? {
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

    async fn next_batch(
        &self,
        busy: &HashSet<WorkspaceId>,
    ) -> Result<Option<PendingBatch>, OutboxError> {
        self.outbox
            .next_batch(self.batch.max_size, self.batch.max_bytes, busy)
            .await
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
            Ok(answer) if answer.rejected.is_empty() => {
                self.outbox.acknowledge(batch.row_ids).await
            }
            Ok(answer) => {
                // Refused one by one (a placeholder holds each seq): those rows are set
                // aside with their reason, the others are delivered.
                let mut delivered = Vec::new();
                for (id, seq) in batch.row_ids.into_iter().zip(batch.seqs) {
                    match answer.rejected.iter().find(|r| r.seq == seq) {
                        Some(refused) => {
                            tracing::error!(seq, code = %refused.code, reason = %refused.message, "ingest refused a message; set aside");
                            let detail = format!("{}: {}", refused.code, refused.message);
                            self.outbox
                                .set_aside(vec![id], "rejected", Some(200), detail)
                                .await?;
                        }
                        None => delivered.push(id),
                    }
                }
                self.outbox.acknowledge(delivered).await
            }
            Err(CallError::Permanent { status, body }) => {
                tracing::error!(status, %body, rows, session = %batch.delivery.session_id, "ingest refused the batch; set aside");
                self.outbox
                    .set_aside(batch.row_ids, "rejected", Some(status), body)
                    .await
            }
            Err(CallError::Transient(detail)) => {
                // Kept: the next round starts after a pause, until the endpoint is back.
                tracing::warn!(%detail, rows, pause = ?self.pause, "retry budget spent; the batch stays and is tried again");
                tokio::time::sleep(self.pause).await;
                Ok(())
            }
        }
    }
}
