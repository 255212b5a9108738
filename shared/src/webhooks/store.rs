//! Webhook items in the table and the store operations on them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{Attempt, Delivery, DeliveryState, Endpoint};
use crate::error::StoreError;
use crate::item::{n, s, str_list, Item, Reader};
use crate::keys;
use crate::outbox::EventType;
use crate::store::{key, sdk_err, Store};

/// How long attempt logs are kept (seconds).
pub const ATTEMPT_TTL_SECS: i64 = 30 * 24 * 3600;

impl Endpoint {
    /// The item form.
    pub fn to_item(&self) -> Item {
        let events: Vec<String> = self.events.iter().map(|e| e.as_str().to_string()).collect();
        let mut m = HashMap::from([
            ("PK".into(), s(keys::account_pk(&self.account_id))),
            ("SK".into(), s(keys::webhook_sk(&self.id))),
            ("type".into(), s("webhook")),
            ("account_id".into(), s(&self.account_id)),
            ("endpoint_id".into(), s(&self.id)),
            ("url".into(), s(&self.url)),
            ("events".into(), str_list(&events)),
            ("active".into(), AttributeValue::Bool(self.active)),
            ("secret_sealed".into(), s(&self.secret_sealed)),
            ("created_at".into(), s(&self.created_at)),
        ]);
        if let Some(v) = &self.disabled_reason {
            m.insert("disabled_reason".into(), s(v));
        }
        if let (Some(old), Some(until)) = (&self.old_secret_sealed, self.old_secret_until) {
            m.insert("old_secret_sealed".into(), s(old));
            m.insert("old_secret_until".into(), n(until));
        }
        m
    }

    /// Reads an endpoint item.
    pub fn from_item(item: &Item) -> Result<Endpoint, StoreError> {
        let r = Reader::new(item);
        Ok(Endpoint {
            account_id: r.s("account_id")?,
            id: r.s("endpoint_id")?,
            url: r.s("url")?,
            events: r.str_list("events")?.iter().filter_map(|e| super::parse_event(e)).collect(),
            active: r.bool("active")?,
            disabled_reason: r.opt_s("disabled_reason")?,
            secret_sealed: r.s("secret_sealed")?,
            old_secret_sealed: r.opt_s("old_secret_sealed")?,
            old_secret_until: r.opt_i64("old_secret_until")?,
            created_at: r.s("created_at")?,
        })
    }

    /// Whether it should receive `event`.
    pub fn wants(&self, event: EventType) -> bool {
        self.active && self.events.contains(&event)
    }
}

impl Delivery {
    /// The item form.
    pub fn to_item(&self) -> Item {
        HashMap::from([
            ("PK".into(), s(keys::account_pk(&self.account_id))),
            ("SK".into(), s(keys::delivery_sk(&self.id))),
            ("type".into(), s("delivery")),
            ("account_id".into(), s(&self.account_id)),
            ("delivery_id".into(), s(&self.id)),
            ("endpoint_id".into(), s(&self.endpoint_id)),
            ("event_id".into(), s(&self.event_id)),
            ("event".into(), s(&self.event)),
            ("payload".into(), s(&self.payload)),
            ("state".into(), s(self.state.as_str())),
            ("attempts".into(), n(self.attempts)),
            ("claim_until".into(), n(0)),
            ("created_at".into(), s(&self.created_at)),
        ])
    }

    /// Reads a delivery item.
    pub fn from_item(item: &Item) -> Result<Delivery, StoreError> {
        let r = Reader::new(item);
        let state = r.s("state")?;
        Ok(Delivery {
            account_id: r.s("account_id")?,
            id: r.s("delivery_id")?,
            endpoint_id: r.s("endpoint_id")?,
            event_id: r.s("event_id")?,
            event: r.s("event")?,
            payload: r.s("payload")?,
            state: DeliveryState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt("delivery".into(), format!("state {state:?}")))?,
            attempts: r.u32_or("attempts", 0)?,
            created_at: r.s("created_at")?,
        })
    }
}

/// How an attempt ended, for the delivery record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    /// 2xx.
    Delivered,
    /// Failed; another attempt is scheduled.
    Retry,
    /// Failed; no attempts left.
    Failed,
}

impl Store {
    /// Stores a new endpoint.
    pub async fn put_endpoint(&self, e: &Endpoint) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(e.to_item()))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Replaces an existing endpoint (rotation, activation, URL or events change).
    pub async fn replace_endpoint(&self, e: &Endpoint) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(e.to_item()))
            .condition_expression("attribute_exists(PK)")
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// An account's endpoints (one Query).
    pub async fn endpoints(&self, account_id: &str) -> Result<Vec<Endpoint>, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
            .expression_attribute_values(":pk", s(keys::account_pk(account_id)))
            .expression_attribute_values(":p", s(keys::WEBHOOK_SK_PREFIX))
            .send()
            .await
            .map_err(sdk_err)?;
        out.items().iter().map(Endpoint::from_item).collect()
    }

    /// One endpoint.
    pub async fn get_endpoint(&self, account_id: &str, endpoint_id: &str) -> Result<Option<Endpoint>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::webhook_sk(endpoint_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.as_ref().map(Endpoint::from_item).transpose()
    }

    /// Disables an endpoint with a reason.
    pub async fn disable_endpoint(&self, account_id: &str, endpoint_id: &str, reason: &str) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::webhook_sk(endpoint_id))))
            .update_expression("SET active = :f, disabled_reason = :r")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":r", s(reason))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Creates a delivery unless it exists; returns whether it was created. Redelivered
    /// stream records and relay retries land here and create nothing twice.
    pub async fn create_delivery(&self, d: &Delivery) -> Result<bool, StoreError> {
        match self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(d.to_item()))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(sdk_err)
        {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One delivery (strongly consistent).
    pub async fn get_delivery(&self, account_id: &str, delivery_id: &str) -> Result<Option<Delivery>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::delivery_sk(delivery_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.as_ref().map(Delivery::from_item).transpose()
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
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::delivery_sk(delivery_id))))
            .update_expression("SET #st = :sending, claim_until = :until")
            .condition_expression("attempts = :prev AND (#st = :pending OR (#st = :sending AND claim_until < :now))")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":sending", s(DeliveryState::Sending.as_str()))
            .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
            .expression_attribute_values(":prev", n(attempt.saturating_sub(1)))
            .expression_attribute_values(":until", n(claim_until))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_err)?;
        Delivery::from_item(&out.attributes.unwrap_or_default())
    }

    /// Records the end of attempt `attempt` of a claimed delivery.
    pub async fn finish_attempt(&self, d: &Delivery, attempt: u32, end: AttemptEnd) -> Result<(), StoreError> {
        let state = match end {
            AttemptEnd::Delivered => DeliveryState::Delivered,
            AttemptEnd::Retry => DeliveryState::Pending,
            AttemptEnd::Failed => DeliveryState::Failed,
        };
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(&d.account_id), keys::delivery_sk(&d.id))))
            .update_expression("SET #st = :state, attempts = :n, claim_until = :zero")
            .condition_expression("#st = :sending AND attempts = :prev")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":state", s(state.as_str()))
            .expression_attribute_values(":sending", s(DeliveryState::Sending.as_str()))
            .expression_attribute_values(":n", n(attempt))
            .expression_attribute_values(":prev", n(attempt.saturating_sub(1)))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Logs an attempt under its endpoint, expiring after 30 days.
    pub async fn log_attempt(&self, endpoint_id: &str, a: &Attempt) -> Result<(), StoreError> {
        let mut item: Item = HashMap::from([
            ("PK".into(), s(keys::hooklog_pk(endpoint_id))),
            ("SK".into(), s(keys::attempt_sk(&a.at, &uuid::Uuid::now_v7().to_string()))),
            ("type".into(), s("attempt")),
            ("at".into(), s(&a.at)),
            ("delivery_id".into(), s(&a.delivery_id)),
            ("event".into(), s(&a.event)),
            ("duration_ms".into(), n(a.duration_ms)),
            ("success".into(), AttributeValue::Bool(a.success)),
            ("attempt".into(), n(a.attempt)),
            ("expires_at".into(), n(crate::model::now_unix() + ATTEMPT_TTL_SECS)),
        ]);
        if let Some(st) = a.status {
            item.insert("status".into(), n(st));
        }
        if let Some(e) = &a.error {
            item.insert("error".into(), s(e));
        }
        self.client().put_item().table_name(self.table()).set_item(Some(item)).send().await.map_err(sdk_err)?;
        Ok(())
    }

    /// An endpoint's attempts, newest first.
    pub async fn attempts(&self, endpoint_id: &str, limit: i32) -> Result<Vec<Attempt>, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
            .expression_attribute_values(":pk", s(keys::hooklog_pk(endpoint_id)))
            .expression_attribute_values(":p", s("ATTEMPT#"))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(sdk_err)?;
        out.items()
            .iter()
            .map(|item| {
                let r = Reader::new(item);
                Ok(Attempt {
                    at: r.s("at")?,
                    delivery_id: r.s("delivery_id")?,
                    event: r.s("event")?,
                    status: r.opt_i64("status")?.and_then(|v| u16::try_from(v).ok()),
                    error: r.opt_s("error")?,
                    duration_ms: r.u64("duration_ms")?,
                    success: r.bool("success")?,
                    attempt: r.u32_or("attempt", 0)?,
                })
            })
            .collect()
    }
}
