//! The webhook worker Lambda (SQS delivery queue, partial batch failures): one attempt
//! per message, signed; retries are new messages with `DelaySeconds`; messages that
//! cannot be processed are reported failed and, after the queue's receive limit, land in
//! the dead-letter queue.
#![warn(missing_docs)]

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use kobo_shared::flows::webhooks::deliver;
use kobo_shared::flows::webhooks::deliver::{Processed, Queue, QueueMsg, Sender, Settings};
use std::sync::Arc;

use kobo_shared::platform::secrets::{KeyRing, SecretsCache};
use kobo_shared::platform::vault::{self, Vault};
use kobo_shared::{Store, StoreError};
use tokio::sync::RwLock;

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
    vault_key: SecretsCache<KeyRing>,
    vault: RwLock<Option<(Arc<KeyRing>, Arc<Vault>)>>,
}

impl Worker {
    /// A worker; the vault key ring is fetched on first use.
    pub fn new(
        store: Store,
        queue: Queue,
        vault_key: SecretsCache<KeyRing>,
        settings: Settings,
    ) -> Result<Worker, String> {
        Ok(Worker {
            store,
            queue,
            sender: Sender::new(settings.policy)?,
            settings,
            vault_key,
            vault: RwLock::new(None),
        })
    }

    /// The vault of the key ring as it stands (rebuilt when the ring was fetched anew).
    pub async fn vault(&self, refresh: bool) -> Result<Arc<Vault>, StoreError> {
        let fetched = if refresh { self.vault_key.refresh().await } else { self.vault_key.get().await };
        let ring = fetched.map_err(|e| StoreError::Backend(e.to_string()))?;
        if let Some((r, v)) = self.vault.read().await.as_ref() {
            if Arc::ptr_eq(r, &ring) {
                return Ok(v.clone());
            }
        }
        let v = Arc::new(Vault::new(&ring).map_err(|e| StoreError::Backend(e.to_string()))?);
        *self.vault.write().await = Some((ring, v.clone()));
        Ok(v)
    }

    /// Processes one message body. A secret sealed under a key newer than this
    /// container's ring has the ring fetched again and the message processed once more.
    pub async fn process_body(&self, body: &str) -> Result<Processed, StoreError> {
        let msg: QueueMsg = match serde_json::from_str(body) {
            Ok(m) => m,
            Err(e) => return Err(StoreError::Corrupt("queue message".into(), e.to_string())),
        };
        let vault = self.vault(false).await?;
        match deliver::process(&self.store, &self.queue, &vault, &self.sender, &self.settings, &msg).await {
            Err(StoreError::Corrupt(_, why)) if why.contains(vault::UNKNOWN_KEY) => {
                let vault = self.vault(true).await?;
                deliver::process(&self.store, &self.queue, &vault, &self.sender, &self.settings, &msg).await
            }
            other => other,
        }
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
