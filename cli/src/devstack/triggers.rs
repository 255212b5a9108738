//! The event sources Lambda provides in AWS, as loops: the table's stream → `relay`
//! (polling DynamoDB Streams), the delivery queue → `webhooks` (long-polling SQS, deleting
//! what succeeded, leaving failures for redelivery and the DLQ), and the schedule →
//! `reconciler`. Each batch is one invocation under the function's template `Timeout`
//! (see [`super::lambda`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use kobo_shared::flows::webhooks::deliver::OutboxRecord;
use tokio::sync::watch;

use super::lambda::Limits;

fn s(image: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    image.get(k).and_then(|v| v.as_s().ok()).cloned()
}

/// Polls the table's stream and hands outbox inserts to the relay, as the stream event
/// source mapping (filtered to `type = outbox`) does in AWS.
pub async fn stream_loop(
    streams: aws_sdk_dynamodbstreams::Client,
    ddb: aws_sdk_dynamodb::Client,
    table: String,
    relay: Arc<kobo_relay::Relay>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let arn = match ddb.describe_table().table_name(&table).send().await {
        Ok(out) => out.table.and_then(|t| t.latest_stream_arn),
        Err(e) => {
            tracing::error!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "describing the table");
            None
        }
    };
    let Some(arn) = arn else {
        tracing::error!(table = %table, "the table has no stream; webhooks will not be relayed");
        return;
    };
    // Per shard: the iterator, and the last sequence number handed to the relay.
    let mut shards: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
    let mut described: Option<tokio::time::Instant> = None;
    loop {
        // New shards (a stream splits them every few hours; looked for every 30 s).
        let due = described.is_none_or(|t| t.elapsed() >= Duration::from_secs(30));
        let description = match due {
            true => streams.describe_stream().stream_arn(&arn).send().await.ok(),
            false => None,
        };
        if let Some(d) = description {
            described = Some(tokio::time::Instant::now());
            for shard in d.stream_description.map(|x| x.shards.unwrap_or_default()).unwrap_or_default() {
                let Some(id) = shard.shard_id else { continue };
                if shards.contains_key(&id) {
                    continue;
                }
                let it = iterator(&streams, &arn, &id, None).await;
                shards.insert(id, (it, None));
            }
        }
        let mut got_any = false;
        for (id, (it, last)) in shards.iter_mut() {
            let Some(current) = it.clone() else { continue };
            match streams.get_records().shard_iterator(&current).limit(100).send().await {
                Ok(out) => {
                    let raw = out.records.unwrap_or_default();
                    if raw.is_empty() {
                        // Nothing new. Take a fresh iterator after the last record seen:
                        // moto replaces a table's stream shard when it rolls back a
                        // cancelled transaction, and an old iterator then sees nothing.
                        *it = iterator(&streams, &arn, id, last.as_deref()).await.or(out.next_shard_iterator);
                        continue;
                    }
                    *it = out.next_shard_iterator;
                    if let Some(seq) =
                        raw.last().and_then(|r| r.dynamodb.as_ref()).and_then(|d| d.sequence_number.clone())
                    {
                        *last = Some(seq);
                    }
                    let records: Vec<OutboxRecord> = raw
                        .into_iter()
                        .filter(|r| r.event_name.as_ref().map(|e| e.as_str()) == Some("INSERT"))
                        .filter_map(|r| r.dynamodb.and_then(|d| d.new_image))
                        .filter(|img| s(img, "type").as_deref() == Some("outbox"))
                        .filter_map(|img| {
                            Some(OutboxRecord {
                                event_id: s(&img, "event_id")?,
                                account_id: s(&img, "account_id")?,
                                event: s(&img, "event")?,
                                payload: s(&img, "payload")?,
                            })
                        })
                        .collect();
                    if !records.is_empty() {
                        got_any = true;
                        // Like Lambda's event source mapping (MaximumRetryAttempts -1): a
                        // failed batch is retried from the same records until it succeeds,
                        // never dropped (a dropped outbox record is a webhook lost).
                        let records = Arc::new(records);
                        let mut tries: u64 = 0;
                        loop {
                            let (relay, batch) = (relay.clone(), records.clone());
                            let e = match limits.invoke(async move { relay.handle(&batch).await }).await {
                                Ok(Ok(_)) => break,
                                Ok(Err(e)) => e.to_string(),
                                Err(e) => e.to_string(),
                            };
                            tries += 1;
                            tracing::warn!(error = %e, tries, "relay batch failed; retrying");
                            if *stop.borrow() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis((200 * tries).min(5_000))).await;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e), "stream read failed");
                    *it = iterator(&streams, &arn, id, last.as_deref()).await;
                }
            }
        }
        let pause = if got_any { Duration::from_millis(5) } else { Duration::from_millis(100) };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
    }
}

/// A shard iterator: from the start of the shard, or after sequence number `after`.
async fn iterator(
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
    shard: &str,
    after: Option<&str>,
) -> Option<String> {
    let req = streams.get_shard_iterator().stream_arn(arn).shard_id(shard);
    let req = match after {
        Some(seq) => req.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(seq),
        None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
    };
    req.send().await.ok().and_then(|o| o.shard_iterator)
}

/// Long-polls the delivery queue and runs the worker on each message, as the SQS event
/// source mapping does (batch of 10, partial failures left for redelivery).
pub async fn queue_loop(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    worker: Arc<kobo_webhooks::Worker>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let receive =
            sqs.receive_message().queue_url(&queue_url).max_number_of_messages(10).wait_time_seconds(1).send();
        let out = tokio::select! {
            r = receive => r,
            _ = stop.changed() => return,
        };
        let messages = match out {
            Ok(o) => o.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "receiving from the delivery queue");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        // One invocation per batch, as the event source mapping makes it. Only what the
        // invocation finished is deleted; a batch cut off at the timeout comes back after
        // the visibility timeout, as it would from Lambda.
        let batch = worker.clone();
        let done = limits
            .invoke(async move {
                let jobs: Vec<_> = messages
                    .into_iter()
                    .map(|m| {
                        let worker = batch.clone();
                        async move {
                            let body = m.body.clone().unwrap_or_default();
                            match worker.process_body(&body).await {
                                Ok(_) => m.receipt_handle,
                                Err(e) => {
                                    tracing::warn!(error = %e, "webhook message failed; left for redelivery");
                                    None
                                }
                            }
                        }
                    })
                    .collect();
                futures_util::future::join_all(jobs).await
            })
            .await
            .unwrap_or_default();
        for handle in done.into_iter().flatten() {
            let _ = sqs.delete_message().queue_url(&queue_url).receipt_handle(handle).send().await;
        }
    }
}
