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

use backon::{ExponentialBuilder, Retryable};
use tokio_util::sync::CancellationToken;

use crate::config::ReporterConfig;
use crate::outbox::{Outbox, OutboxError, PendingBatch};

/// How long one ingest request may take before it counts as a network failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("transient failure: {0}")]
    Transient(String),
    #[error("refused with {status}: {body}")]
    Permanent { status: u16, body: String },
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Clone)]
pub struct Reporter {
    outbox: Outbox,
    http: reqwest::Client,
    config: ReporterConfig,
}

impl Reporter {
    pub fn new(outbox: Outbox, config: ReporterConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Reporter {
            outbox,
            http,
            config,
        })
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
            .next_batch(self.config.batch_max_size, self.config.batch_max_bytes)
            .await
    }

    async fn deliver_forever(&self) -> Result<(), OutboxError> {
        let max_wait = self.config.batch_max_wait;
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
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.config.retry_initial_interval)
            .with_max_delay(self.config.retry_max_interval)
            .with_jitter()
            .with_total_delay(Some(self.config.retry_max_elapsed))
            .without_max_times();
        let rows = batch.row_ids.len();
        let result = (|| self.send(&batch))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|err| matches!(err, SendError::Transient(_)))
            .notify(
                |err, delay| tracing::warn!(error = %err, ?delay, rows, "ingest failed; retrying"),
            )
            .await;
        match result {
            Ok(()) => self.outbox.acknowledge(batch.row_ids).await,
            Err(SendError::Permanent { status, body }) => {
                tracing::error!(status, %body, rows, session = %batch.delivery.session_id, "ingest refused the batch; set aside");
                self.outbox
                    .set_aside(batch.row_ids, "rejected", Some(status), body)
                    .await
            }
            Err(SendError::Transient(detail)) => {
                tracing::error!(%detail, rows, "retry budget exhausted; batch set aside until the next start");
                self.outbox
                    .set_aside(batch.row_ids, "retry_exhausted", None, detail)
                    .await
            }
        }
    }

    async fn send(&self, batch: &PendingBatch) -> Result<(), SendError> {
        let url = format!(
            "{}/api/workspaces/{}/messages",
            batch.delivery.api_url, batch.delivery.workspace_id
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(&batch.delivery.callback_token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(batch.body.clone())
            .send()
            .await
            .map_err(|err| SendError::Transient(err.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let code = status.as_u16();
        if status.is_server_error() || code == 408 || code == 429 {
            Err(SendError::Transient(format!("{code}: {body}")))
        } else {
            Err(SendError::Permanent { status: code, body })
        }
    }
}
