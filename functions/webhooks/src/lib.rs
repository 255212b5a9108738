//! The webhook worker Lambda (SQS delivery queue, partial batch failures): one attempt
//! per message, signed; retries are new messages with `DelaySeconds`; messages that
//! cannot be processed are reported failed and, after the queue's receive limit, land in
//! the dead-letter queue.
#![warn(missing_docs)]

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use kobo_shared::flows::webhooks::deliver;
use kobo_shared::flows::webhooks::deliver::{Processed, Queue, QueueMsg, Sender, Settings};
use kobo_shared::platform::secrets::SecretsCache;
use kobo_shared::platform::vault::Vault;
use kobo_shared::{Store, StoreError};
use tokio::sync::OnceCell;

/// Per-container state.
#[derive(Debug)]
pub struct Worker {
    /// The table.
    pub store: Store,
    /// The delivery queue (for retries).
    pub queue: Queue,
    /// The HTTP sender.
    pub sender: Sender,
    /// Retry delays and target policy.
    pub settings: Settings,
    secrets: SecretsCache,
    vault: OnceCell<Vault>,
}

impl Worker {
    /// A worker; the vault key is fetched on first use.
    pub fn new(store: Store, queue: Queue, secrets: SecretsCache, settings: Settings) -> Result<Worker, String> {
        Ok(Worker { store, queue, sender: Sender::new(settings.policy)?, settings, secrets, vault: OnceCell::new() })
    }

    /// The secret vault.
    pub async fn vault(&self) -> Result<&Vault, StoreError> {
        self.vault
            .get_or_try_init(|| async {
                let s = self.secrets.get().await.map_err(|e| StoreError::Backend(e.to_string()))?;
                Vault::new(s.pin_pepper.as_bytes()).map_err(|e| StoreError::Backend(e.to_string()))
            })
            .await
    }

    /// Processes one message body.
    pub async fn process_body(&self, body: &str) -> Result<Processed, StoreError> {
        let msg: QueueMsg = match serde_json::from_str(body) {
            Ok(m) => m,
            Err(e) => return Err(StoreError::Corrupt("queue message".into(), e.to_string())),
        };
        let vault = self.vault().await?;
        deliver::process(&self.store, &self.queue, vault, &self.sender, &self.settings, &msg).await
    }

    /// Processes a batch concurrently; the failed message ids are reported so only they
    /// are retried.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let jobs = event.records.into_iter().map(|r| async move {
            let id = r.message_id.unwrap_or_default();
            let outcome = self.process_body(r.body.as_deref().unwrap_or_default()).await;
            (id, outcome)
        });
        let mut response = SqsBatchResponse::default();
        for (id, outcome) in futures_util::future::join_all(jobs).await {
            if let Err(e) = outcome {
                tracing::error!(message_id = %id, error = %e, "webhook message failed; the queue will retry it");
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                response.batch_item_failures.push(f);
            }
        }
        response
    }
}
