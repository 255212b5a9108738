//! The DynamoDB store: every read and write kobo makes, as typed operations. Keys come
//! from [`crate::keys`]; item shapes from [`crate::model`].

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;

use crate::action::Action;
use crate::error::StoreError;
use crate::item::{n, s, str_list, Item};
use crate::keys::{self, RateSubject};
use crate::model::{now_rfc3339, Account, ApiKeyRecord, LedgerEntry, Plan};
use crate::money::Kobo;
use crate::ratelimit::Window;

/// Handle to kobo's table. Cheap to clone; build it once per container.
#[derive(Clone, Debug)]
pub struct Store {
    db: Client,
    table: String,
}

/// Maps an SDK error to a [`StoreError`], keeping the service's words.
pub(crate) fn sdk_err<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().unwrap_or_default().to_string();
    let msg = DisplayErrorContext(&e).to_string();
    match code.as_str() {
        "ConditionalCheckFailedException" => StoreError::Conflict(msg),
        "TransactionCanceledException" if msg.contains("ConditionalCheckFailed") => StoreError::Conflict(msg),
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TransactionConflictException"
        | "TransactionCanceledException" => StoreError::Throttled(msg),
        _ => StoreError::Backend(msg),
    }
}

pub(crate) fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("request build: {e}"))
}

pub(crate) fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))])
}

/// Where a balance change may not take the balance below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Floor {
    /// No check (credits).
    None,
    /// The balance before the change must be at least this much (operator debits: the
    /// amount).
    AtLeast(Kobo),
    /// A spend: the balance must cover `amount + min_balance`, and the minimum balance must
    /// still be the one the caller read (else the check used a stale minimum).
    Spend {
        /// The amount plus the minimum balance read.
        need: Kobo,
        /// The minimum balance read.
        min_balance: Kobo,
    },
}

/// A transaction item that creates `item` only if its key is new.
pub fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl Store {
    /// Wraps a client and table name.
    pub fn new(db: Client, table: impl Into<String>) -> Store {
        Store { db, table: table.into() }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.db
    }

    /// Fetches an account and one of its keys in one strongly consistent `BatchGetItem`.
    pub async fn auth_lookup(
        &self,
        account_id: &str,
        key_hash: &str,
    ) -> Result<(Option<Account>, Option<ApiKeyRecord>), StoreError> {
        let pk = keys::account_pk(account_id);
        let mut wanted = KeysAndAttributes::builder()
            .keys(key(pk.clone(), keys::ACCOUNT_SK))
            .keys(key(pk, keys::key_sk(key_hash)))
            .consistent_read(true)
            .build()
            .map_err(build_err)?;
        let mut found: Vec<Item> = Vec::with_capacity(2);
        for attempt in 0..4 {
            let out =
                self.db.batch_get_item().request_items(&self.table, wanted.clone()).send().await.map_err(sdk_err)?;
            if let Some(mut r) = out.responses {
                found.extend(r.remove(&self.table).unwrap_or_default());
            }
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys.is_empty() => {
                    wanted = rest;
                    tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
                }
                _ => break,
            }
        }
        let mut account = None;
        let mut api_key = None;
        for item in &found {
            match item.get("type").and_then(|t| t.as_s().ok()).map(String::as_str) {
                Some("account") => account = Some(Account::from_item(item)?),
                Some("api_key") => api_key = Some(ApiKeyRecord::from_item(item)?),
                _ => {}
            }
        }
        Ok((account, api_key))
    }

    /// Counts one request in a rate-limit window and returns the window's count so far.
    pub async fn hit_rate(&self, subject: RateSubject<'_>, window: &Window) -> Result<u64, StoreError> {
        let out = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::rate_pk(subject), keys::rate_sk(window.start))))
            .update_expression("ADD hits :one SET expires_at = if_not_exists(expires_at, :exp)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n(window.expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_err)?;
        let hits = out
            .attributes
            .as_ref()
            .and_then(|a| a.get("hits"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        Ok(hits)
    }

    /// Every plan (one Query).
    pub async fn plans(&self) -> Result<Vec<Plan>, StoreError> {
        self.query_prefix(keys::PLAN_PK.to_string(), "PLAN#").await?.iter().map(Plan::from_item).collect()
    }

    /// Creates or replaces a plan.
    pub async fn put_plan(&self, plan: &Plan) -> Result<(), StoreError> {
        self.db.put_item().table_name(&self.table).set_item(Some(plan.to_item())).send().await.map_err(sdk_err)?;
        Ok(())
    }

    /// Creates an account; fails with `Conflict` if the id exists.
    pub async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(account.to_item()))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Reads one account (strongly consistent).
    pub async fn get_account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::account_pk(account_id), keys::ACCOUNT_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.as_ref().map(Account::from_item).transpose()
    }

    /// Every account, oldest first (GSI1).
    pub async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .db
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(keys::ACCOUNTS_GSI1PK))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for item in page.items() {
                out.push(Account::from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// Stores a new key record; fails with `Conflict` if that hash exists.
    pub async fn put_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record.to_item()))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// Every key of an account, revoked ones included.
    pub async fn list_keys(&self, account_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.query_prefix(keys::account_pk(account_id), keys::KEY_SK_PREFIX)
            .await?
            .iter()
            .map(ApiKeyRecord::from_item)
            .collect()
    }

    /// The key of an account whose key id (or hash) starts with `key_id`; exactly one must match.
    pub async fn find_key(&self, account_id: &str, key_id: &str) -> Result<ApiKeyRecord, StoreError> {
        let mut matches: Vec<ApiKeyRecord> = self
            .list_keys(account_id)
            .await?
            .into_iter()
            .filter(|k| !key_id.is_empty() && k.hash.starts_with(key_id))
            .collect();
        match matches.len() {
            1 => Ok(matches.remove(0)),
            0 => Err(StoreError::NotFound(format!("key {key_id} of account {account_id}"))),
            _ => Err(StoreError::Conflict(format!("key id {key_id} is ambiguous; give more digits"))),
        }
    }

    async fn update_key(
        &self,
        account_id: &str,
        key_hash: &str,
        expr: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let mut req = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::account_pk(account_id), keys::key_sk(key_hash))))
            .update_expression(expr)
            .condition_expression("attribute_exists(PK)");
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        req.send().await.map_err(sdk_err)?;
        Ok(())
    }

    /// Revokes a key; effective on the very next request (auth reads are consistent).
    pub async fn revoke_key(&self, account_id: &str, key_hash: &str) -> Result<(), StoreError> {
        self.update_key(
            account_id,
            key_hash,
            "SET revoked_at = if_not_exists(revoked_at, :now)",
            vec![(":now", s(now_rfc3339()))],
        )
        .await
    }

    /// Replaces a key's scopes.
    pub async fn set_key_scopes(&self, account_id: &str, key_hash: &str, scopes: &[Action]) -> Result<(), StoreError> {
        let names: Vec<String> = scopes.iter().map(|a| a.as_str().to_string()).collect();
        self.update_key(account_id, key_hash, "SET scopes = :v", vec![(":v", str_list(&names))]).await
    }

    /// Replaces a key's IP whitelist and/or domain whitelist.
    pub async fn set_key_whitelists(
        &self,
        account_id: &str,
        key_hash: &str,
        ips: Option<&[String]>,
        domains: Option<&[String]>,
    ) -> Result<(), StoreError> {
        let mut sets = Vec::new();
        let mut values = Vec::new();
        if let Some(ips) = ips {
            sets.push("ip_whitelist = :ips");
            values.push((":ips", str_list(ips)));
        }
        if let Some(domains) = domains {
            sets.push("domain_whitelist = :domains");
            values.push((":domains", str_list(domains)));
        }
        if sets.is_empty() {
            return Ok(());
        }
        self.update_key(account_id, key_hash, &format!("SET {}", sets.join(", ")), values).await
    }

    async fn update_account(
        &self,
        account_id: &str,
        expr: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let mut req = self
            .db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::account_pk(account_id), keys::ACCOUNT_SK)))
            .update_expression(expr)
            .condition_expression("attribute_exists(PK)");
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        req.send().await.map_err(|e| match sdk_err(e) {
            StoreError::Conflict(_) => StoreError::NotFound(format!("account {account_id}")),
            other => other,
        })?;
        Ok(())
    }

    /// Activates or deactivates an account's API access.
    pub async fn set_api_active(&self, account_id: &str, active: bool) -> Result<(), StoreError> {
        self.update_account(account_id, "SET api_active = :v", vec![(":v", AttributeValue::Bool(active))]).await
    }

    /// Moves an account to another plan.
    pub async fn set_plan(&self, account_id: &str, plan_id: &str) -> Result<(), StoreError> {
        self.update_account(account_id, "SET plan_id = :v", vec![(":v", s(plan_id))]).await
    }

    /// Sets the minimum balance a spend may not go below.
    pub async fn set_min_balance(&self, account_id: &str, min: Kobo) -> Result<(), StoreError> {
        self.update_account(account_id, "SET min_balance = :v", vec![(":v", n(min.0))]).await
    }

    /// Stores a new PIN digest and clears failed attempts and any lock.
    pub async fn set_pin_digest(&self, account_id: &str, digest: &str) -> Result<(), StoreError> {
        self.update_account(
            account_id,
            "SET pin_digest = :d, pin_failures = :z REMOVE pin_locked_until",
            vec![(":d", s(digest)), (":z", n(0))],
        )
        .await
    }

    /// Changes a balance by `entry.amount` and writes `entry` in one transaction, with
    /// `extra` business items in the same transaction. Fails with `Conflict` when the
    /// account is missing or `floor` does not hold (the caller maps that to
    /// "Insufficient balance").
    pub async fn post_ledger(
        &self,
        entry: &LedgerEntry,
        floor: Floor,
        extra: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        let mut items = self.balance_change(entry, floor)?.to_vec();
        items.extend(extra);
        self.db.transact_write_items().set_transact_items(Some(items)).send().await.map_err(sdk_err)?;
        Ok(())
    }

    /// The two items every balance change is made of, for a caller's transaction: the
    /// conditional update of the account's balance by `entry.amount`, and the immutable
    /// ledger entry. Keeping them together is what makes every ledger sum to its balance.
    pub fn balance_change(&self, entry: &LedgerEntry, floor: Floor) -> Result<[TransactWriteItem; 2], StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::account_pk(&entry.account_id), keys::ACCOUNT_SK)))
            .update_expression("SET balance = balance + :delta")
            .expression_attribute_values(":delta", n(entry.amount.0));
        update = match floor {
            Floor::None => update.condition_expression("attribute_exists(PK)"),
            Floor::AtLeast(need) => update
                .condition_expression("attribute_exists(PK) AND balance >= :need")
                .expression_attribute_values(":need", n(need.0)),
            Floor::Spend { need, min_balance } => update
                .condition_expression("attribute_exists(PK) AND balance >= :need AND min_balance = :min")
                .expression_attribute_values(":need", n(need.0))
                .expression_attribute_values(":min", n(min_balance.0)),
        };
        Ok([
            TransactWriteItem::builder().update(update.build().map_err(build_err)?).build(),
            put_new(&self.table, entry.to_item())?,
        ])
    }

    /// The first `limit` items of a GSI1 partition, oldest first: the sparse "waiting"
    /// lists (open orders, processing VTU, pending deposits and withdrawals, queued OTPs).
    pub async fn gsi1_page(&self, pk: &str, limit: i32) -> Result<Vec<Item>, StoreError> {
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(pk))
            .limit(limit)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.items.unwrap_or_default())
    }

    /// An account's ledger, oldest first.
    pub async fn ledger(&self, account_id: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        self.query_prefix(keys::account_pk(account_id), keys::LEDGER_SK_PREFIX)
            .await?
            .iter()
            .map(LedgerEntry::from_item)
            .collect()
    }

    /// All items of partition `pk` whose sort key begins with `prefix`, every page.
    async fn query_prefix(&self, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .db
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }
}
