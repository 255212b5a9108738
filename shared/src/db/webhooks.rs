//! Webhook endpoints, deliveries and the attempt log in the table.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{n, s, Key, Reader, Record, Writer};
use super::keys;
use super::table::{Change, Query};
use super::Store;
use crate::domain::time::now_unix;
use crate::domain::webhook::{parse_event, Attempt, AttemptEnd, Delivery, DeliveryState, Endpoint, ATTEMPT_TTL_SECS};
use crate::error::StoreError;

fn endpoint_key(account_id: &str, endpoint_id: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::webhook_sk(endpoint_id))
}

fn delivery_key(account_id: &str, delivery_id: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::delivery_sk(delivery_id))
}

impl Record for Endpoint {
    const TYPE: &'static str = "webhook";
    fn key(&self) -> Key {
        endpoint_key(&self.account_id, &self.id)
    }
    fn write(&self, w: Writer) -> Writer {
        let events: Vec<String> = self.events.iter().map(|e| e.as_str().to_string()).collect();
        let w = w
            .s("account_id", &self.account_id)
            .s("endpoint_id", &self.id)
            .s("url", &self.url)
            .list("events", &events)
            .bool("active", self.active)
            .s("secret_sealed", &self.secret_sealed)
            .s("created_at", &self.created_at)
            .opt_s("disabled_reason", self.disabled_reason.as_ref());
        match (&self.old_secret_sealed, self.old_secret_until) {
            (Some(old), Some(until)) => w.s("old_secret_sealed", old).n("old_secret_until", until),
            _ => w,
        }
    }
    fn read(r: &Reader<'_>) -> Result<Endpoint, StoreError> {
        Ok(Endpoint {
            account_id: r.s("account_id")?,
            id: r.s("endpoint_id")?,
            url: r.s("url")?,
            events: r.str_list("events")?.iter().filter_map(|e| parse_event(e)).collect(),
            active: r.bool("active")?,
            disabled_reason: r.opt_s("disabled_reason")?,
            secret_sealed: r.s("secret_sealed")?,
            old_secret_sealed: r.opt_s("old_secret_sealed")?,
            old_secret_until: r.opt_i64("old_secret_until")?,
            created_at: r.s("created_at")?,
        })
    }
}

impl Record for Delivery {
    const TYPE: &'static str = "delivery";
    fn key(&self) -> Key {
        delivery_key(&self.account_id, &self.id)
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("account_id", &self.account_id)
            .s("delivery_id", &self.id)
            .s("endpoint_id", &self.endpoint_id)
            .s("event_id", &self.event_id)
            .s("event", &self.event)
            .s("payload", &self.payload)
            .s("state", self.state.as_str())
            .n("attempts", self.attempts)
            .n("claim_until", 0)
            .s("created_at", &self.created_at)
    }
    fn read(r: &Reader<'_>) -> Result<Delivery, StoreError> {
        Ok(Delivery {
            account_id: r.s("account_id")?,
            id: r.s("delivery_id")?,
            endpoint_id: r.s("endpoint_id")?,
            event_id: r.s("event_id")?,
            event: r.s("event")?,
            payload: r.s("payload")?,
            state: r.word("state", DeliveryState::parse)?,
            attempts: r.u32_or("attempts", 0)?,
            created_at: r.s("created_at")?,
        })
    }
}

/// One logged attempt, under its endpoint.
struct LoggedAttempt<'a> {
    endpoint_id: &'a str,
    attempt: Attempt,
}

impl Record for LoggedAttempt<'_> {
    const TYPE: &'static str = "attempt";
    fn key(&self) -> Key {
        Key::new(
            keys::hooklog_pk(self.endpoint_id),
            keys::attempt_sk(&self.attempt.at, &uuid::Uuid::now_v7().to_string()),
        )
    }
    fn write(&self, w: Writer) -> Writer {
        let a = &self.attempt;
        let w = w
            .s("at", &a.at)
            .s("delivery_id", &a.delivery_id)
            .s("event", &a.event)
            .n("duration_ms", a.duration_ms)
            .bool("success", a.success)
            .n("attempt", a.attempt)
            .n("expires_at", now_unix() + ATTEMPT_TTL_SECS)
            .opt_s("error", a.error.as_ref())
            .opt_s("response", a.response.as_ref())
            .list("headers", &a.headers);
        let w = match a.next_retry_at {
            Some(t) => w.n("next_retry_at", t),
            None => w,
        };
        match a.status {
            Some(st) => w.n("status", st),
            None => w,
        }
    }
    fn read(r: &Reader<'_>) -> Result<Self, StoreError> {
        Ok(LoggedAttempt {
            endpoint_id: "",
            attempt: Attempt {
                at: r.s("at")?,
                delivery_id: r.s("delivery_id")?,
                event: r.s("event")?,
                status: r.opt_i64("status")?.and_then(|v| u16::try_from(v).ok()),
                error: r.opt_s("error")?,
                duration_ms: r.u64("duration_ms")?,
                success: r.bool("success")?,
                attempt: r.u32_or("attempt", 0)?,
                next_retry_at: r.opt_i64("next_retry_at")?,
                headers: r.str_list("headers")?,
                response: r.opt_s("response")?,
            },
        })
    }
}

impl Store {
    /// Stores a new endpoint.
    pub async fn put_endpoint(&self, e: &Endpoint) -> Result<(), StoreError> {
        self.put_new(e.to_item()).await
    }

    /// Replaces an existing endpoint (rotation, activation, URL or events change).
    pub async fn replace_endpoint(&self, e: &Endpoint) -> Result<(), StoreError> {
        self.replace(e.to_item()).await
    }

    /// An account's endpoints (every page).
    pub async fn endpoints(&self, account_id: &str) -> Result<Vec<Endpoint>, StoreError> {
        self.query_records(&Query::partition(keys::account_pk(account_id)).prefix(keys::WEBHOOK_SK_PREFIX)).await
    }

    /// One endpoint.
    pub async fn get_endpoint(&self, account_id: &str, endpoint_id: &str) -> Result<Option<Endpoint>, StoreError> {
        self.get(&endpoint_key(account_id, endpoint_id)).await
    }

    /// Disables an endpoint with a reason.
    pub async fn disable_endpoint(&self, account_id: &str, endpoint_id: &str, reason: &str) -> Result<(), StoreError> {
        let change =
            Change::new().set("active", AttributeValue::Bool(false)).set("disabled_reason", s(reason)).if_exists();
        self.update(&endpoint_key(account_id, endpoint_id), change).await.map(drop)
    }

    /// Creates a delivery unless it exists; returns whether it was created. Redelivered
    /// stream records and relay retries land here and create nothing twice.
    pub async fn create_delivery(&self, d: &Delivery) -> Result<bool, StoreError> {
        self.put_if_absent(d.to_item()).await
    }

    /// One delivery (strongly consistent).
    pub async fn get_delivery(&self, account_id: &str, delivery_id: &str) -> Result<Option<Delivery>, StoreError> {
        self.get(&delivery_key(account_id, delivery_id)).await
    }

    /// Claims attempt `attempt` of a delivery until `claim_until` (unix s). Fails with
    /// `Conflict` when the attempt was made or is being made by someone else, so a
    /// duplicated queue message never sends twice. A claim whose deadline passed (its
    /// worker died) can be taken over.
    pub async fn claim_delivery(
        &self,
        account_id: &str,
        delivery_id: &str,
        attempt: u32,
        now: i64,
        claim_until: i64,
    ) -> Result<Delivery, StoreError> {
        let change = Change::new()
            .set("state", s(DeliveryState::Sending.as_str()))
            .set("claim_until", n(claim_until))
            .if_eq("attempts", n(attempt.saturating_sub(1)))
            .if_expr(
                "{state} = :pending OR ({state} = :sending AND {claim_until} < :now)",
                &["state", "claim_until"],
                vec![
                    (":pending", s(DeliveryState::Pending.as_str())),
                    (":sending", s(DeliveryState::Sending.as_str())),
                    (":now", n(now)),
                ],
            );
        Delivery::from_item(&self.update(&delivery_key(account_id, delivery_id), change).await?)
    }

    /// Gives back a claim that sent nothing (this container could not open the endpoint's
    /// secret yet), so the same attempt can be claimed again at once.
    pub async fn release_claim(&self, d: &Delivery, claim_until: i64) -> Result<(), StoreError> {
        let change = Change::new()
            .set("state", s(DeliveryState::Pending.as_str()))
            .set("claim_until", n(0))
            .if_eq("state", s(DeliveryState::Sending.as_str()))
            .if_eq("claim_until", n(claim_until));
        self.transition(&delivery_key(&d.account_id, &d.id), change).await.map(drop)
    }

    /// Records the end of attempt `attempt` of a claimed delivery.
    pub async fn finish_attempt(&self, d: &Delivery, attempt: u32, end: AttemptEnd) -> Result<(), StoreError> {
        let state = match end {
            AttemptEnd::Delivered => DeliveryState::Delivered,
            AttemptEnd::Retry => DeliveryState::Pending,
            AttemptEnd::Failed => DeliveryState::Failed,
        };
        let change = Change::new()
            .set("state", s(state.as_str()))
            .set("attempts", n(attempt))
            .set("claim_until", n(0))
            .if_eq("state", s(DeliveryState::Sending.as_str()))
            .if_eq("attempts", n(attempt.saturating_sub(1)));
        self.update(&delivery_key(&d.account_id, &d.id), change).await.map(drop)
    }

    /// Logs an attempt under its endpoint, expiring after 30 days.
    pub async fn log_attempt(&self, endpoint_id: &str, a: &Attempt) -> Result<(), StoreError> {
        self.put(LoggedAttempt { endpoint_id, attempt: a.clone() }.to_item()).await
    }

    /// An endpoint's attempts, newest first.
    pub async fn attempts(&self, endpoint_id: &str, limit: usize) -> Result<Vec<Attempt>, StoreError> {
        let q = Query::partition(keys::hooklog_pk(endpoint_id)).prefix("ATTEMPT#").newest_first().limit(limit);
        Ok(self.query_records::<LoggedAttempt<'_>>(&q).await?.into_iter().map(|l| l.attempt).collect())
    }
}
