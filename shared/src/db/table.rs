//! The table operations every repository is written with, each in one place: get by key,
//! a query that always pages, a batch get with one unprocessed-keys retry loop, puts
//! (plain, if absent, if present), conditional updates ([`Change`]) and deletes.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure, Update,
};

use super::item::{s, Item, Key, Record};
use super::{build_err, sdk_err, Store};
use crate::error::StoreError;

/// How many times a batch get asks again for unprocessed keys.
const BATCH_RETRIES: u32 = 5;
/// Most keys in one `BatchGetItem`.
const BATCH_MAX: usize = 100;

/// A query over one partition of the table or of GSI1.
#[derive(Debug, Clone)]
pub struct Query {
    pk: String,
    sk_prefix: Option<String>,
    sk_before: Option<String>,
    gsi1: bool,
    consistent: bool,
    newest_first: bool,
    limit: Option<usize>,
}

impl Query {
    /// Every item of partition `pk`.
    pub fn partition(pk: impl Into<String>) -> Query {
        Query {
            pk: pk.into(),
            sk_prefix: None,
            sk_before: None,
            gsi1: false,
            consistent: true,
            newest_first: false,
            limit: None,
        }
    }

    /// Every item of GSI1 partition `pk`, oldest first (eventually consistent, as GSIs are).
    pub fn gsi1(pk: impl Into<String>) -> Query {
        Query { gsi1: true, consistent: false, ..Query::partition(pk) }
    }

    /// Only items whose sort key begins with `prefix`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Query {
        self.sk_prefix = Some(prefix.into());
        self
    }

    /// Only items whose sort key sorts before `bound` (instead of a prefix).
    pub fn before(mut self, bound: impl Into<String>) -> Query {
        self.sk_before = Some(bound.into());
        self
    }

    /// At most `n` items.
    pub fn limit(mut self, n: usize) -> Query {
        self.limit = Some(n);
        self
    }

    /// Descending sort-key order.
    pub fn newest_first(mut self) -> Query {
        self.newest_first = true;
        self
    }
}

/// A conditional update of one item: `SET`, `ADD` and `REMOVE` clauses and a condition,
/// with placeholders numbered here so no caller writes an expression's plumbing.
#[derive(Debug, Clone, Default)]
pub struct Change {
    sets: Vec<String>,
    adds: Vec<String>,
    removes: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Change {
    /// An empty change.
    pub fn new() -> Change {
        Change::default()
    }

    fn name(&mut self, field: &str) -> String {
        let placeholder = format!("#{field}");
        self.names.insert(placeholder.clone(), field.to_string());
        placeholder
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    /// `SET field = v`.
    pub fn set(mut self, field: &str, v: AttributeValue) -> Change {
        let (f, v) = (self.name(field), self.value(v));
        self.sets.push(format!("{f} = {v}"));
        self
    }

    /// `SET field = v` unless the field already has a value.
    pub fn set_if_absent(mut self, field: &str, v: AttributeValue) -> Change {
        let (f, v) = (self.name(field), self.value(v));
        self.sets.push(format!("{f} = if_not_exists({f}, {v})"));
        self
    }

    /// `SET field = field + v`.
    pub fn increase(mut self, field: &str, v: AttributeValue) -> Change {
        let (f, v) = (self.name(field), self.value(v));
        self.sets.push(format!("{f} = {f} + {v}"));
        self
    }

    /// `ADD field v` (creates the field at `v`).
    pub fn add(mut self, field: &str, v: AttributeValue) -> Change {
        let (f, v) = (self.name(field), self.value(v));
        self.adds.push(format!("{f} {v}"));
        self
    }

    /// `REMOVE field`.
    pub fn remove(mut self, field: &str) -> Change {
        let f = self.name(field);
        self.removes.push(f);
        self
    }

    /// Removes the item from the sparse GSI1.
    pub fn leave_gsi1(self) -> Change {
        self.remove("GSI1PK").remove("GSI1SK")
    }

    /// Puts the item in the sparse GSI1.
    pub fn enter_gsi1(self, pk: impl Into<String>, sk: impl Into<String>) -> Change {
        self.set("GSI1PK", s(pk)).set("GSI1SK", s(sk))
    }

    /// Only when the item exists.
    pub fn if_exists(mut self) -> Change {
        self.conditions.push("attribute_exists(PK)".into());
        self
    }

    /// Only when `field` holds `v` now.
    pub fn if_eq(mut self, field: &str, v: AttributeValue) -> Change {
        let (f, v) = (self.name(field), self.value(v));
        self.conditions.push(format!("{f} = {v}"));
        self
    }

    /// Only when `field` does not hold `v` now.
    pub fn if_ne(mut self, field: &str, v: AttributeValue) -> Change {
        let (f, v) = (self.name(field), self.value(v));
        self.conditions.push(format!("{f} <> {v}"));
        self
    }

    /// Only when `field` is at least `v` now.
    pub fn if_at_least(mut self, field: &str, v: AttributeValue) -> Change {
        let (f, v) = (self.name(field), self.value(v));
        self.conditions.push(format!("{f} >= {v}"));
        self
    }

    /// Only when `condition` holds; `{field}` in it names a field, `:name` a value from
    /// `values` (for a condition the helpers above do not say, such as an `OR`).
    pub fn if_expr(mut self, condition: &str, fields: &[&str], values: Vec<(&str, AttributeValue)>) -> Change {
        let mut text = condition.to_string();
        for field in fields {
            let f = self.name(field);
            text = text.replace(&format!("{{{field}}}"), &f);
        }
        for (name, v) in values {
            let p = self.value(v);
            text = text.replace(name, &p);
        }
        self.conditions.push(format!("({text})"));
        self
    }

    fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.adds.is_empty() {
            parts.push(format!("ADD {}", self.adds.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        parts.join(" ")
    }

    fn condition(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "))
    }

    /// The transaction form of this change on `key`.
    pub(crate) fn into_update(self, table: &str, key: &Key) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(table)
            .set_key(Some(key.item()))
            .update_expression(self.update_expression())
            .set_condition_expression(self.condition())
            .set_expression_attribute_names((!self.names.is_empty()).then_some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .build()
            .map_err(build_err)
    }
}

impl Store {
    /// The item at `key`; `consistent` for a strongly consistent read.
    pub async fn get_item(&self, key: &Key, consistent: bool) -> Result<Option<Item>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key.item()))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item)
    }

    /// The record at `key`, strongly consistent.
    pub async fn get<R: Record>(&self, key: &Key) -> Result<Option<R>, StoreError> {
        self.get_item(key, true).await?.as_ref().map(R::from_item).transpose()
    }

    /// Every item a query names, page after page (up to its limit).
    pub async fn query(&self, q: &Query) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        let (pk_field, sk_field) = if q.gsi1 { ("GSI1PK", "GSI1SK") } else { ("PK", "SK") };
        loop {
            let mut req = self
                .client()
                .query()
                .table_name(self.table())
                .set_index_name(q.gsi1.then(|| "GSI1".to_string()))
                .consistent_read(q.consistent)
                .scan_index_forward(!q.newest_first)
                .expression_attribute_values(":pk", s(&q.pk))
                .set_exclusive_start_key(start.take());
            req = match (&q.sk_prefix, &q.sk_before) {
                (Some(prefix), _) => req
                    .key_condition_expression(format!("{pk_field} = :pk AND begins_with({sk_field}, :prefix)"))
                    .expression_attribute_values(":prefix", s(prefix)),
                (None, Some(bound)) => req
                    .key_condition_expression(format!("{pk_field} = :pk AND {sk_field} < :bound"))
                    .expression_attribute_values(":bound", s(bound)),
                (None, None) => req.key_condition_expression(format!("{pk_field} = :pk")),
            };
            if let Some(limit) = q.limit {
                let left = limit.saturating_sub(out.len()).max(1);
                req = req.limit(i32::try_from(left).unwrap_or(i32::MAX));
            }
            let page = req.send().await.map_err(sdk_err)?;
            out.extend(page.items.unwrap_or_default());
            let full = q.limit.is_some_and(|l| out.len() >= l);
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() && !full => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// One page of partition `pk`'s items whose sort key begins with `prefix`, newest
    /// first, after `cursor` (the last sort key of the page before, which must begin with
    /// `prefix`), keeping the items `keep` accepts: at most `limit` kept and `scan` read.
    /// Also answers the cursor of the next page, when more may follow.
    pub async fn query_page(
        &self,
        pk: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
        scan: usize,
        keep: impl Fn(&Item) -> bool,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let sk_of = |item: &Item| item.get("SK").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let cursor = cursor.filter(|c| c.starts_with(prefix));
        let (mut out, mut read) = (Vec::new(), 0usize);
        let mut start: Option<Item> = None;
        loop {
            let mut req = self
                .client()
                .query()
                .table_name(self.table())
                .consistent_read(true)
                .scan_index_forward(false)
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":prefix", s(prefix))
                .limit(i32::try_from(scan.saturating_sub(read).clamp(1, 100)).unwrap_or(100))
                .set_exclusive_start_key(start.take());
            req = match cursor {
                // BETWEEN is inclusive: the cursor's own item is skipped below.
                Some(c) => req
                    .key_condition_expression("PK = :pk AND SK BETWEEN :prefix AND :cursor")
                    .expression_attribute_values(":cursor", s(c)),
                None => req.key_condition_expression("PK = :pk AND begins_with(SK, :prefix)"),
            };
            let page = req.send().await.map_err(sdk_err)?;
            for item in page.items.unwrap_or_default() {
                let sk = sk_of(&item);
                if Some(sk.as_str()) == cursor {
                    continue;
                }
                read += 1;
                if keep(&item) {
                    out.push(item);
                }
                if out.len() >= limit || read >= scan {
                    return Ok((out, Some(sk)));
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok((out, None)),
            }
        }
    }

    /// Every record a query names.
    pub async fn query_records<R: Record>(&self, q: &Query) -> Result<Vec<R>, StoreError> {
        self.query(q).await?.iter().map(R::from_item).collect()
    }

    /// The items at `keys` (strongly consistent), in chunks of 100, asking again for
    /// unprocessed keys with a growing pause. Missing items are absent from the answer.
    pub async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_MAX) {
            let mut wanted = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(Key::item).collect()))
                .consistent_read(true)
                .build()
                .map_err(build_err)?;
            for attempt in 0..BATCH_RETRIES {
                let out = self
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), wanted.clone())
                    .send()
                    .await
                    .map_err(sdk_err)?;
                found.extend(out.responses.and_then(|mut r| r.remove(self.table())).unwrap_or_default());
                match out.unprocessed_keys.and_then(|mut u| u.remove(self.table())) {
                    Some(rest) if !rest.keys.is_empty() => {
                        if attempt + 1 == BATCH_RETRIES {
                            return Err(StoreError::Throttled(format!(
                                "{} keys still unprocessed after {BATCH_RETRIES} tries",
                                rest.keys.len()
                            )));
                        }
                        wanted = rest;
                        tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    async fn put_when(&self, mut item: Item, condition: Option<&str>) -> Result<(), StoreError> {
        let token = condition.map(|_| write_token());
        if let Some(t) = &token {
            item.insert(WRITE_TOKEN.to_string(), s(t.clone()));
        }
        let out = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .set_return_values_on_condition_check_failure(
                token.as_ref().map(|_| ReturnValuesOnConditionCheckFailure::AllOld),
            )
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) => match own_echo(&e, token.as_deref()) {
                Some(_) => Ok(()),
                None => Err(sdk_err(e)),
            },
        }
    }

    /// Creates or replaces an item.
    pub async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.put_when(item, None).await
    }

    /// Creates an item whose key is new; `Conflict` when it exists.
    pub async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        self.put_when(item, Some("attribute_not_exists(PK)")).await
    }

    /// Creates an item unless its key exists; whether it was created.
    pub async fn put_if_absent(&self, item: Item) -> Result<bool, StoreError> {
        match self.put_new(item).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Replaces an item that exists; `Conflict` when it does not.
    pub async fn replace(&self, item: Item) -> Result<(), StoreError> {
        self.put_when(item, Some("attribute_exists(PK)")).await
    }

    /// Applies `change` to the item at `key` and answers the item as it is after it;
    /// `Conflict` when the change's condition does not hold.
    pub async fn update(&self, key: &Key, change: Change) -> Result<Item, StoreError> {
        match self.update_or_current(key, change).await? {
            Ok(after) => Ok(after),
            Err(_) => Err(StoreError::Conflict(format!("condition failed on {}/{}", key.pk, key.sk))),
        }
    }

    /// Applies `change`: `Ok(item after)`, or `Err(item as it stands)` when the condition
    /// does not hold (empty when there is no item), read from the same write.
    pub async fn update_or_current(&self, key: &Key, change: Change) -> Result<Result<Item, Item>, StoreError> {
        let token = change.condition().map(|_| write_token());
        let change = match &token {
            Some(t) => change.set(WRITE_TOKEN, s(t.clone())),
            None => change,
        };
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key.item()))
            .update_expression(change.update_expression())
            .set_condition_expression(change.condition())
            .set_expression_attribute_names((!change.names.is_empty()).then_some(change.names))
            .set_expression_attribute_values((!change.values.is_empty()).then_some(change.values))
            .return_values(ReturnValue::AllNew)
            .set_return_values_on_condition_check_failure(
                token.as_ref().map(|_| ReturnValuesOnConditionCheckFailure::AllOld),
            )
            .send()
            .await;
        match out {
            Ok(out) => Ok(Ok(out.attributes.unwrap_or_default())),
            Err(e) => match own_echo(&e, token.as_deref()) {
                Some(item) => Ok(Ok(item)),
                None => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                        Ok(Err(c.item().cloned().unwrap_or_default()))
                    }
                    _ => Err(sdk_err(e)),
                },
            },
        }
    }

    /// A conditional transition: applies `change` and answers whether its condition held
    /// (`false`: another writer moved the item first, or it is gone).
    pub async fn transition(&self, key: &Key, change: Change) -> Result<bool, StoreError> {
        match self.update(key, change).await {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the item at `key`, whether or not it exists (a repeat is harmless).
    pub async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        self.client().delete_item().table_name(self.table()).set_key(Some(key.item())).send().await.map_err(sdk_err)?;
        Ok(())
    }

    /// Deletes the item at `key` if it exists; whether this call took it (exactly one
    /// caller gets `true`). The item is first claimed by a conditional update, which
    /// recognises its own applied attempt when DynamoDB answers a write with an error (a
    /// conditional delete cannot: its repeat finds the item gone and cannot tell who took
    /// it), then deleted.
    pub async fn take(&self, key: &Key) -> Result<bool, StoreError> {
        let claim = Change::new().set("taken", s(write_token())).if_exists().if_expr(
            "attribute_not_exists({taken})",
            &["taken"],
            Vec::new(),
        );
        if !self.transition(key, claim).await? {
            return Ok(false);
        }
        self.client().delete_item().table_name(self.table()).set_key(Some(key.item())).send().await.map_err(sdk_err)?;
        Ok(true)
    }
}

/// The attribute every conditional single-item write stamps with a token of its own.
///
/// DynamoDB can apply a write and answer it with a 500; the SDK then sends it again, and
/// the repeat finds its own condition broken by the first attempt. With the stamp, a
/// failed condition whose current item carries this write's token is recognised as this
/// write, already applied, and answered as success (the item comes back with the failure,
/// `ReturnValuesOnConditionCheckFailure=ALL_OLD`).
pub(crate) const WRITE_TOKEN: &str = "wt";

fn write_token() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The current item, when `e` is a failed condition and that item is this write's own
/// earlier attempt (it carries `token`).
fn own_echo<E: ConditionFailureItem, R>(e: &SdkError<E, R>, token: Option<&str>) -> Option<Item> {
    let token = token?;
    let item = e.as_service_error()?.condition_failure_item()?;
    match item.get(WRITE_TOKEN) {
        Some(AttributeValue::S(t)) if t == token => {
            tracing::info!("a write answered with an error had been applied; taken as done");
            Some(item.clone())
        }
        _ => None,
    }
}

/// The item a conditional write's `ConditionalCheckFailedException` carries.
trait ConditionFailureItem {
    fn condition_failure_item(&self) -> Option<&Item>;
}

impl ConditionFailureItem for PutItemError {
    fn condition_failure_item(&self) -> Option<&Item> {
        match self {
            PutItemError::ConditionalCheckFailedException(c) => c.item(),
            _ => None,
        }
    }
}

impl ConditionFailureItem for UpdateItemError {
    fn condition_failure_item(&self) -> Option<&Item> {
        match self {
            UpdateItemError::ConditionalCheckFailedException(c) => c.item(),
            _ => None,
        }
    }
}
