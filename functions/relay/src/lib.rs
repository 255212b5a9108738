//! The relay Lambda (the table's DynamoDB stream, filtered to outbox inserts): each
//! outbox event becomes one delivery per subscribed endpoint, queued on SQS. Stream
//! redelivery is harmless: deliveries are created with a conditional put.
#![warn(missing_docs)]

use kobo_shared::flows::webhooks::deliver;
use kobo_shared::flows::webhooks::deliver::{OutboxRecord, Queue};
use kobo_shared::{Store, StoreError};
use serde::Deserialize;

/// Per-container state.
#[derive(Debug, Clone)]
pub struct Relay {
    /// The table.
    pub store: Store,
    /// The delivery queue.
    pub queue: Queue,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "type")]
    kind: Option<String>,
    event_id: Option<String>,
    account_id: Option<String>,
    event: Option<String>,
    payload: Option<String>,
}

/// The outbox events in a stream event (other item types and removals are ignored).
pub fn outbox_records(event: &aws_lambda_events::event::dynamodb::Event) -> Vec<OutboxRecord> {
    event
        .records
        .iter()
        .filter(|r| r.event_name == "INSERT")
        .filter_map(|r| serde_dynamo::from_item::<_, Image>(r.change.new_image.clone()).ok())
        .filter(|i| i.kind.as_deref() == Some("outbox"))
        .filter_map(|i| {
            Some(OutboxRecord {
                event_id: i.event_id?,
                account_id: i.account_id?,
                event: i.event?,
                payload: i.payload?,
            })
        })
        .collect()
}

impl Relay {
    /// Relays a batch; an error makes Lambda retry the batch (which is safe).
    pub async fn handle(&self, records: &[OutboxRecord]) -> Result<usize, StoreError> {
        let queued = deliver::relay_batch(&self.store, &self.queue, records).await?;
        tracing::info!(records = records.len(), queued, "relay batch");
        Ok(queued)
    }
}
