//! The relay (an outbox event → one delivery per subscribed endpoint → a queue message)
//! and the worker (a queue message → one claimed, signed attempt → done, or a new
//! message with a delay, or failed). Every step is conditional, so stream redelivery,
//! relay retries and duplicated queue messages never deliver an event twice.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::db::Store;
use crate::domain::signing as sign;
use crate::domain::time::{now_rfc3339, now_unix};
use crate::domain::webhook::{parse_event, sample_payload, Attempt, AttemptEnd, Delivery, DeliveryState, Endpoint};
use crate::error::StoreError;
use crate::platform::ssrf::{check_url, GuardedResolver, TargetPolicy};
use crate::platform::vault::Vault;

/// Success means a 2xx within this long.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a worker holds a claim on an attempt.
pub const CLAIM_SECS: i64 = 60;

/// A queue message: make attempt `attempt` of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMsg {
    /// Owner of the delivery.
    pub account_id: String,
    /// The delivery.
    pub delivery_id: String,
    /// Which attempt (1 = first).
    pub attempt: u32,
}

/// The delivery queue.
#[derive(Debug, Clone)]
pub struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    /// The queue at `url`.
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Queue {
        Queue { sqs, url: url.into() }
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends a message, visible after `delay_secs` (SQS caps it at 900).
    pub async fn send(&self, msg: &QueueMsg, delay_secs: u32) -> Result<(), StoreError> {
        let body = serde_json::to_string(msg).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay_secs.min(900) as i32)
            .send()
            .await
            .map_err(|e| StoreError::Backend(format!("sqs: {}", aws_sdk_sqs::error::DisplayErrorContext(&e))))?;
        Ok(())
    }
}

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Delays before the retries, seconds (production: 10, 60, 300).
    pub retry_delays: Vec<u32>,
    /// Where deliveries may go.
    pub policy: TargetPolicy,
}

impl Settings {
    /// Production settings.
    pub fn production() -> Settings {
        Settings { retry_delays: vec![10, 60, 300], policy: TargetPolicy::PRODUCTION }
    }

    /// Attempts in all: the first plus one per retry delay.
    pub fn max_attempts(&self) -> u32 {
        1 + self.retry_delays.len() as u32
    }
}

/// An outbox event as the stream carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    /// Event id (the `webhook-id`).
    pub event_id: String,
    /// Owner.
    pub account_id: String,
    /// Event name.
    pub event: String,
    /// Exact payload JSON.
    pub payload: String,
}

/// Fans a batch of outbox events out: for each, a delivery per active endpoint subscribed
/// to it, each created at most once, each queued. Each account's endpoints are read once
/// per batch rather than once per event. Returns how many deliveries it queued.
pub async fn relay_batch(store: &Store, queue: &Queue, records: &[OutboxRecord]) -> Result<usize, StoreError> {
    let mut endpoints: std::collections::HashMap<&str, Vec<Endpoint>> = std::collections::HashMap::new();
    let mut queued = 0;
    for rec in records {
        if !endpoints.contains_key(rec.account_id.as_str()) {
            endpoints.insert(&rec.account_id, store.endpoints(&rec.account_id).await?);
        }
        let eps = endpoints.get(rec.account_id.as_str()).map(Vec::as_slice).unwrap_or_default();
        queued += fan_out(store, queue, rec, eps).await?;
    }
    Ok(queued)
}

async fn fan_out(
    store: &Store,
    queue: &Queue,
    rec: &OutboxRecord,
    endpoints: &[Endpoint],
) -> Result<usize, StoreError> {
    let Some(event) = parse_event(&rec.event) else {
        tracing::warn!(event = %rec.event, "outbox record with an unknown event; skipped");
        return Ok(0);
    };
    let mut queued = 0;
    for ep in endpoints.iter().filter(|e| e.wants(event)) {
        let d = Delivery {
            account_id: rec.account_id.clone(),
            id: format!("{}#{}", rec.event_id, ep.id),
            endpoint_id: ep.id.clone(),
            event_id: rec.event_id.clone(),
            event: rec.event.clone(),
            payload: rec.payload.clone(),
            state: DeliveryState::Pending,
            attempts: 0,
            created_at: now_rfc3339(),
        };
        let created = store.create_delivery(&d).await?;
        // A record seen again whose first attempt never happened may have lost its queue
        // message (the relay died in between): queue it again; claims drop duplicates.
        let requeue = !created
            && store
                .get_delivery(&d.account_id, &d.id)
                .await?
                .is_some_and(|x| x.state == DeliveryState::Pending && x.attempts == 0);
        if created || requeue {
            queue
                .send(&QueueMsg { account_id: d.account_id.clone(), delivery_id: d.id.clone(), attempt: 1 }, 0)
                .await?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// How much of a receiver's answer the delivery log keeps.
pub const RESPONSE_EXCERPT_BYTES: usize = 1024;

/// What sending one request gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The HTTP status, if an answer came in time.
    pub status: Option<u16>,
    /// Why no (good) answer came.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
    /// The signed headers sent (`name: value`).
    pub headers: Vec<String>,
    /// The first 1 KB of the answer's body (lossy UTF-8).
    pub response: Option<String>,
}

impl SendResult {
    /// A 2xx arrived in time.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Signs and POSTs payloads, refusing forbidden targets.
#[derive(Debug, Clone)]
pub struct Sender {
    http: reqwest::Client,
    policy: TargetPolicy,
}

impl Sender {
    /// A sender with the delivery timeout, no redirects and the guarded resolver.
    pub fn new(policy: TargetPolicy) -> Result<Sender, String> {
        let http = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .connect_timeout(DELIVERY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(GuardedResolver::new(policy))
            .user_agent("kobo-webhooks/1")
            .build()
            .map_err(|e| format!("building the webhook HTTP client: {e}"))?;
        Ok(Sender { http, policy })
    }

    /// POSTs `payload` to `url` with the seed's and Standard Webhooks' headers. `secrets`
    /// lists the current secret first, then any still in their grace period.
    pub async fn post(&self, url: &str, event: &str, webhook_id: &str, payload: &str, secrets: &[&str]) -> SendResult {
        let started = Instant::now();
        let fail = |e: String, started: Instant, headers: Vec<String>| SendResult {
            status: None,
            error: Some(e),
            duration_ms: started.elapsed().as_millis() as u64,
            headers,
            response: None,
        };
        let target = match check_url(url, self.policy) {
            Ok(u) => u,
            Err(e) => return fail(format!("refused target: {e}"), started, Vec::new()),
        };
        let Some(current) = secrets.first() else {
            return fail("endpoint has no secret".into(), started, Vec::new());
        };
        let ts = now_unix();
        let body = payload.as_bytes();
        let signed = [
            ("X-Webhook-Event", event.to_string()),
            ("X-Webhook-Signature", sign::seed_signature(current, body)),
            ("webhook-id", webhook_id.to_string()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", sign::standard_signatures(secrets, webhook_id, ts, body)),
        ];
        let headers: Vec<String> = signed.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let mut req = self.http.post(target).header("content-type", "application/json");
        for (k, v) in &signed {
            req = req.header(*k, v);
        }
        match req.body(payload.to_string()).send().await {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                // Read at most the first 1 KB of the answer, briefly, for the delivery log.
                let mut excerpt: Vec<u8> = Vec::new();
                let read = async {
                    while excerpt.len() < RESPONSE_EXCERPT_BYTES {
                        match resp.chunk().await {
                            Ok(Some(c)) => excerpt.extend_from_slice(&c),
                            _ => break,
                        }
                    }
                };
                let _ = tokio::time::timeout(Duration::from_millis(200), read).await;
                excerpt.truncate(RESPONSE_EXCERPT_BYTES);
                let duration_ms = started.elapsed().as_millis() as u64;
                let error = (!(200..300).contains(&status)).then(|| format!("HTTP {status}"));
                let response = (!excerpt.is_empty()).then(|| String::from_utf8_lossy(&excerpt).into_owned());
                SendResult { status: Some(status), error, duration_ms, headers, response }
            }
            Err(e) => {
                let why = if e.is_timeout() {
                    format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs())
                } else if e.is_connect() {
                    format!("connection failed: {}", root_cause(&e))
                } else {
                    format!("request failed: {}", root_cause(&e))
                };
                fail(why, started, headers)
            }
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The secrets that sign for an endpoint now: current, then the old one in its grace.
pub fn open_secrets(vault: &Vault, ep: &Endpoint) -> Result<Vec<String>, StoreError> {
    let ctx = ep.vault_context();
    let mut out =
        vec![vault.open(&ep.secret_sealed, &ctx).map_err(|e| StoreError::Corrupt(ctx.clone(), e.to_string()))?];
    if let (Some(old), Some(until)) = (&ep.old_secret_sealed, ep.old_secret_until) {
        if until > now_unix() {
            out.push(vault.open(old, &ctx).map_err(|e| StoreError::Corrupt(ctx.clone(), e.to_string()))?);
        }
    }
    Ok(out)
}

/// What the worker did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Delivered on this attempt.
    Delivered,
    /// Failed; the next attempt is queued.
    Retrying {
        /// Seconds until it.
        delay: u32,
    },
    /// Failed on the last attempt (or the endpoint is gone or disabled).
    Failed,
    /// Nothing to do: a duplicate message, or the delivery already ended.
    Skipped,
}

/// Makes the attempt a message asks for. An `Err` means the message should be retried
/// by the queue (a store or queue failure); delivery failures are `Ok`.
pub async fn process(
    store: &Store,
    queue: &Queue,
    vault: &Vault,
    sender: &Sender,
    settings: &Settings,
    msg: &QueueMsg,
) -> Result<Processed, StoreError> {
    let now = now_unix();
    // Claim first (one conditional write); only a refused claim needs a read.
    let claim_until = now + CLAIM_SECS;
    let d = match store.claim_delivery(&msg.account_id, &msg.delivery_id, msg.attempt, now, claim_until).await {
        Ok(d) => d,
        Err(StoreError::Conflict(_)) => {
            let Some(d) = store.get_delivery(&msg.account_id, &msg.delivery_id).await? else {
                tracing::warn!(delivery = %msg.delivery_id, "message for an unknown delivery; dropped");
                return Ok(Processed::Skipped);
            };
            // A duplicate, or a redelivery of a message whose follow-up was never queued.
            if d.state == DeliveryState::Pending && d.attempts == msg.attempt && msg.attempt < settings.max_attempts() {
                let delay = settings.retry_delays.get(msg.attempt as usize - 1).copied().unwrap_or(0);
                queue.send(&QueueMsg { attempt: msg.attempt + 1, ..msg.clone() }, delay).await?;
            }
            return Ok(Processed::Skipped);
        }
        Err(e) => return Err(e),
    };
    let endpoint = store.get_endpoint(&d.account_id, &d.endpoint_id).await?;
    let Some(ep) = endpoint.filter(|e| e.active) else {
        store.finish_attempt(&d, msg.attempt, AttemptEnd::Failed).await?;
        return Ok(Processed::Failed);
    };
    let secrets = match open_secrets(vault, &ep) {
        Ok(s) => s,
        Err(e) => {
            // Nothing was sent: the claim goes back, so a retry with a fresher vault key
            // ring (or the queue's redelivery) can take this attempt at once.
            store.release_claim(&d, claim_until).await?;
            return Err(e);
        }
    };
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let result = sender.post(&ep.url, &d.event, &d.event_id, &d.payload, &refs).await;
    let delay = settings.retry_delays.get(msg.attempt as usize - 1).copied().unwrap_or(0);
    let retries = !result.success() && result.status != Some(410) && msg.attempt < settings.max_attempts();
    let attempt = Attempt {
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        delivery_id: d.id.clone(),
        event: d.event.clone(),
        status: result.status,
        error: result.error.clone(),
        duration_ms: result.duration_ms,
        success: result.success(),
        attempt: msg.attempt,
        next_retry_at: retries.then(|| now_unix() + i64::from(delay)),
        headers: result.headers.clone(),
        response: result.response.clone(),
    };
    store.log_attempt(&ep.id, &attempt).await?;
    if result.success() {
        store.finish_attempt(&d, msg.attempt, AttemptEnd::Delivered).await?;
        return Ok(Processed::Delivered);
    }
    if result.status == Some(410) {
        store.disable_endpoint(&ep.account_id, &ep.id, "the receiver answered 410 Gone").await?;
        store.finish_attempt(&d, msg.attempt, AttemptEnd::Failed).await?;
        return Ok(Processed::Failed);
    }
    if msg.attempt >= settings.max_attempts() {
        store.finish_attempt(&d, msg.attempt, AttemptEnd::Failed).await?;
        return Ok(Processed::Failed);
    }
    store.finish_attempt(&d, msg.attempt, AttemptEnd::Retry).await?;
    queue.send(&QueueMsg { attempt: msg.attempt + 1, ..msg.clone() }, delay).await?;
    Ok(Processed::Retrying { delay })
}

/// Queues a past delivery again as a new delivery with the same event id and payload
/// (so receivers deduplicating on `webhook-id` see the same id). Returns its id.
pub async fn redeliver(
    store: &Store,
    queue: &Queue,
    account_id: &str,
    delivery_id: &str,
) -> Result<String, StoreError> {
    let d = store
        .get_delivery(account_id, delivery_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("delivery {delivery_id}")))?;
    let base = d.id.split("#r").next().unwrap_or(&d.id).to_string();
    let copy = Delivery {
        id: format!("{base}#r{}", uuid::Uuid::now_v7().simple()),
        state: DeliveryState::Pending,
        attempts: 0,
        created_at: now_rfc3339(),
        ..d
    };
    store.create_delivery(&copy).await?;
    queue.send(&QueueMsg { account_id: account_id.to_string(), delivery_id: copy.id.clone(), attempt: 1 }, 0).await?;
    Ok(copy.id)
}

/// Sends a signed sample of `event` to an endpoint now, once, and logs the attempt.
pub async fn send_test(
    store: &Store,
    vault: &Vault,
    sender: &Sender,
    ep: &Endpoint,
    event: crate::domain::event::EventType,
) -> Result<Attempt, StoreError> {
    let id = format!("test_{}", uuid::Uuid::now_v7().simple());
    let payload = sample_payload(event).to_string();
    let secrets = open_secrets(vault, ep)?;
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let r = sender.post(&ep.url, event.as_str(), &id, &payload, &refs).await;
    let attempt = Attempt {
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        delivery_id: id,
        event: event.as_str().to_string(),
        status: r.status,
        error: r.error.clone(),
        duration_ms: r.duration_ms,
        success: r.success(),
        attempt: 1,
        next_retry_at: None,
        headers: r.headers.clone(),
        response: r.response.clone(),
    };
    store.log_attempt(&ep.id, &attempt).await?;
    Ok(attempt)
}
