//! Accounts, plans, API keys, ledger entries, rate windows and counters in the table.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{n, s, str_list, Item, Key, Reader, Record, Writer};
use super::keys::{self, RateSubject};
use super::table::{Change, Query};
use super::tx::Tx;
use super::Store;
use crate::domain::account::{Account, ApiKeyRecord, LedgerEntry, NoticeSettings, Plan};
use crate::domain::action::Action;
use crate::domain::money::Kobo;
use crate::domain::pin::{lock_until, Attempt, Guess, PIN_LIMIT, STALE_ATTEMPT_SECS};
use crate::domain::ratelimit::Window;
use crate::domain::time::now_rfc3339;
use crate::error::StoreError;

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

/// The key of an account's own item.
pub fn account_key(account_id: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::ACCOUNT_SK)
}

pub(crate) fn api_key_key(account_id: &str, key_hash: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::key_sk(key_hash))
}

impl Record for Plan {
    const TYPE: &'static str = "plan";
    fn key(&self) -> Key {
        Key::new(keys::PLAN_PK, keys::plan_sk(&self.id))
    }
    fn write(&self, w: Writer) -> Writer {
        let vtu = self.vtu_discount_bp.iter().map(|(c, bp)| (c.as_str().to_string(), n(bp))).collect();
        w.s("plan_id", &self.id)
            .s("name", &self.name)
            .n("smm_discount_bp", self.smm_discount_bp)
            .raw("vtu_discount_bp", AttributeValue::M(vtu))
            .n("key_rpm", self.key_rpm)
            .n("ip_rpm", self.ip_rpm)
    }
    fn read(r: &Reader<'_>) -> Result<Plan, StoreError> {
        let mut vtu = BTreeMap::new();
        for (k, v) in r.u32_map("vtu_discount_bp")? {
            let cat = k.parse().map_err(|e: String| StoreError::Corrupt(format!("plan {k}"), e))?;
            vtu.insert(cat, v);
        }
        Ok(Plan {
            id: r.s("plan_id")?,
            name: r.s("name")?,
            smm_discount_bp: r.u32_or("smm_discount_bp", 0)?,
            vtu_discount_bp: vtu,
            key_rpm: r.u32_or("key_rpm", 0)?,
            ip_rpm: r.u32_or("ip_rpm", 0)?,
        })
    }
}

impl Record for Account {
    const TYPE: &'static str = "account";
    fn key(&self) -> Key {
        account_key(&self.id)
    }
    fn gsi1(&self) -> Option<(String, String)> {
        Some((keys::ACCOUNTS_GSI1PK.into(), keys::account_gsi1sk(&self.created_at, &self.id)))
    }
    fn write(&self, w: Writer) -> Writer {
        let w = w
            .s("account_id", &self.id)
            .s("name", &self.name)
            .s("plan_id", &self.plan_id)
            .bool("api_active", self.api_active)
            .kobo("balance", self.balance)
            .kobo("min_balance", self.min_balance)
            .n("pin_failures", self.pin_failures)
            .s("created_at", &self.created_at)
            .opt_s("email", self.email.as_ref())
            .opt_s("phone", self.phone.as_ref())
            .opt_s("pin_digest", self.pin_digest.as_ref())
            .opt_s("notice_phone", self.notice_phone.as_ref())
            .opt_s("payout_phone", self.payout_phone.as_ref());
        let w = match self.pin_locked_until {
            Some(v) => w.n("pin_locked_until", v),
            None => w,
        };
        match self.low_balance_alert {
            Some(v) => w.kobo("low_balance_alert", v),
            None => w,
        }
    }
    fn read(r: &Reader<'_>) -> Result<Account, StoreError> {
        Ok(Account {
            id: r.s("account_id")?,
            name: r.s("name")?,
            email: r.opt_s("email")?,
            phone: r.opt_s("phone")?,
            plan_id: r.s("plan_id")?,
            api_active: r.bool("api_active")?,
            balance: r.kobo("balance")?,
            min_balance: r.opt_i64("min_balance")?.map(Kobo::new).unwrap_or_default(),
            pin_digest: r.opt_s("pin_digest")?,
            pin_failures: r.u32_or("pin_failures", 0)?,
            pin_locked_until: r.opt_i64("pin_locked_until")?,
            pin_checks: r.opt_i64("pin_attempts_total")?.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            pin_lock_level: r.u32_or("pin_lock_level", 0)?,
            payout_phone: r.opt_s("payout_phone")?,
            notice_phone: r.opt_s("notice_phone")?,
            low_balance_alert: r.opt_i64("low_balance_alert")?.map(Kobo::new),
            created_at: r.s("created_at")?,
        })
    }
}

impl Record for ApiKeyRecord {
    const TYPE: &'static str = "api_key";
    fn key(&self) -> Key {
        api_key_key(&self.account_id, &self.hash)
    }
    fn write(&self, w: Writer) -> Writer {
        let scopes: Vec<String> = self.scopes.iter().map(|a| a.as_str().to_string()).collect();
        let w = w
            .s("account_id", &self.account_id)
            .s("key_id", &self.key_id)
            .s("label", &self.label)
            .s("hint", &self.hint)
            .list("scopes", &scopes)
            .list("ip_whitelist", &self.ip_whitelist)
            .list("domain_whitelist", &self.domain_whitelist)
            .s("created_at", &self.created_at)
            .opt_s("revoked_at", self.revoked_at.as_ref());
        let w = match self.retire_at {
            Some(t) => w.n("retire_at", t),
            None => w,
        };
        match self.last_used {
            Some(t) => w.n("last_used", t),
            None => w,
        }
    }
    /// Unknown scope names (from a newer version) are ignored.
    fn read(r: &Reader<'_>) -> Result<ApiKeyRecord, StoreError> {
        let sk = r.s("SK")?;
        let hash = sk.strip_prefix(keys::KEY_SK_PREFIX).unwrap_or(&sk).to_string();
        Ok(ApiKeyRecord {
            account_id: r.s("account_id")?,
            key_id: ApiKeyRecord::key_id_of(&hash),
            hash,
            label: r.opt_s("label")?.unwrap_or_default(),
            hint: r.opt_s("hint")?.unwrap_or_default(),
            scopes: r.str_list("scopes")?.iter().filter_map(|a| a.parse().ok()).collect(),
            ip_whitelist: r.str_list("ip_whitelist")?,
            domain_whitelist: r.str_list("domain_whitelist")?,
            revoked_at: r.opt_s("revoked_at")?,
            retire_at: r.opt_i64("retire_at")?,
            last_used: r.opt_i64("last_used")?,
            created_at: r.s("created_at")?,
        })
    }
}

impl Record for LedgerEntry {
    const TYPE: &'static str = "ledger";
    fn key(&self) -> Key {
        Key::new(keys::account_pk(&self.account_id), keys::ledger_sk(&self.id))
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("entry_id", &self.id)
            .s("account_id", &self.account_id)
            .kobo("amount", self.amount)
            .s("kind", &self.kind)
            .s("reason", &self.reason)
            .s("actor", &self.actor)
            .s("created_at", &self.created_at)
            .opt_s("reference", self.reference.as_ref())
    }
    fn read(r: &Reader<'_>) -> Result<LedgerEntry, StoreError> {
        Ok(LedgerEntry {
            id: r.s("entry_id")?,
            account_id: r.s("account_id")?,
            amount: r.kobo("amount")?,
            kind: r.s("kind")?,
            reason: r.opt_s("reason")?.unwrap_or_default(),
            reference: r.opt_s("reference")?,
            actor: r.opt_s("actor")?.unwrap_or_default(),
            created_at: r.s("created_at")?,
        })
    }
}

/// What makes an operator's credit or debit apply at most once: the ledger entry it
/// wrote, kept under the adjustment's reference (created in the same transaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjustment {
    /// The operator's (or derived) idempotency reference.
    pub reference: String,
    /// The entry the adjustment wrote.
    pub entry: LedgerEntry,
}

impl Record for Adjustment {
    const TYPE: &'static str = "adjustment";
    fn key(&self) -> Key {
        Key::new(keys::account_pk(&self.entry.account_id), keys::adjustment_sk(&self.reference))
    }
    fn write(&self, w: Writer) -> Writer {
        <LedgerEntry as Record>::write(&self.entry, w.s("adjustment", &self.reference))
    }
    fn read(r: &Reader<'_>) -> Result<Adjustment, StoreError> {
        Ok(Adjustment { reference: r.s("adjustment")?, entry: LedgerEntry::read(r)? })
    }
}

impl Store {
    /// Applies an operator's credit or debit once per reference: the balance change, its
    /// ledger entry and the adjustment's marker in one transaction. `Ok(None)` when it
    /// applied now; `Ok(Some(first))` when that reference was applied before (nothing
    /// changed now); `Conflict` when the account is missing or `floor` does not hold.
    pub async fn post_adjustment(&self, a: &Adjustment, floor: Floor) -> Result<Option<Adjustment>, StoreError> {
        let tx = Tx::new(self).balance(&a.entry, floor)?.put_new("adjustment", a.to_item())?;
        match tx.commit().await {
            Ok(()) => Ok(None),
            Err(e) if e.failed("adjustment") => match self.get::<Adjustment>(&a.key()).await? {
                Some(first) => Ok(Some(first)),
                None => Err(StoreError::Conflict("the adjustment's marker failed its condition but is gone".into())),
            },
            Err(super::tx::TxError::ConditionFailed(f)) => Err(StoreError::Conflict(format!("conditions {f:?}"))),
            Err(super::tx::TxError::Store(e)) => Err(e),
        }
    }
}

impl<'a> Tx<'a> {
    /// The two items every balance change is made of: the conditional update of the
    /// account's balance by `entry.amount` (named `balance`) and the immutable ledger
    /// entry (named `ledger`). Keeping them together is what makes every ledger sum to its
    /// balance.
    pub fn balance(self, entry: &LedgerEntry, floor: Floor) -> Result<Tx<'a>, StoreError> {
        self.balance_and(entry, floor, Change::new())
    }

    /// One balance change made of several ledger entries (a bulk order's items): the
    /// conditional update by their sum and every entry, in this transaction.
    pub fn balance_entries(self, entries: &[LedgerEntry], floor: Floor) -> Result<Tx<'a>, StoreError> {
        let Some((first, rest)) = entries.split_first() else { return Ok(self) };
        let sum = rest
            .iter()
            .try_fold(first.amount, |s, e| s.checked_add(e.amount))
            .ok_or_else(|| StoreError::Backend("ledger entries overflow".into()))?;
        let change = balance_change(sum, floor, Change::new());
        let mut tx = self.update("balance", &account_key(&first.account_id), change)?;
        for e in entries {
            tx = tx.put_new("ledger", e.to_item())?;
        }
        Ok(tx)
    }

    /// [`Tx::balance`], with `also` applied to the account item in the same update (a
    /// right PIN's attempts starting over, for instance: no write of its own).
    pub fn balance_and(self, entry: &LedgerEntry, floor: Floor, also: Change) -> Result<Tx<'a>, StoreError> {
        let change = balance_change(entry.amount, floor, also);
        self.update("balance", &account_key(&entry.account_id), change)?.put_new("ledger", entry.to_item())
    }
}

/// A ledger entry of `amount` on `account_id` now.
pub fn entry(
    account_id: &str,
    amount: Kobo,
    kind: &str,
    reason: String,
    reference: Option<String>,
    actor: &str,
) -> LedgerEntry {
    LedgerEntry {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: account_id.to_string(),
        amount,
        kind: kind.to_string(),
        reason,
        reference,
        actor: actor.to_string(),
        created_at: now_rfc3339(),
    }
}

/// A counter's value in `item`.
fn hits_of(item: &Item, field: &str) -> Result<Option<u64>, StoreError> {
    Ok(Reader::new(item).opt_i64(field)?.and_then(|h| u64::try_from(h).ok()))
}

impl Store {
    /// Fetches an account and one of its keys in one strongly consistent `BatchGetItem`.
    pub async fn auth_lookup(
        &self,
        account_id: &str,
        key_hash: &str,
    ) -> Result<(Option<Account>, Option<ApiKeyRecord>), StoreError> {
        let (account, key, _) = self.auth_wave(account_id, key_hash, &[]).await?;
        Ok((account, key))
    }

    /// [`Store::auth_lookup`] with `extra` items read in the same `BatchGetItem` (strongly
    /// consistent): the catalog versions, an idempotency record, ... — everything a
    /// request needs that can be read before it is authorized. The extra items found come
    /// back as they are.
    pub async fn auth_wave(
        &self,
        account_id: &str,
        key_hash: &str,
        extra: &[Key],
    ) -> Result<(Option<Account>, Option<ApiKeyRecord>, Vec<Item>), StoreError> {
        let mut wanted = vec![account_key(account_id), api_key_key(account_id, key_hash)];
        wanted.extend(extra.iter().cloned());
        let found = self.batch_get(&wanted).await?;
        let mut account = None;
        let mut api_key = None;
        let mut others = Vec::new();
        for item in found {
            match item.get("type").and_then(|t| t.as_s().ok()).map(String::as_str) {
                Some(Account::TYPE)
                    if item.get("SK").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(keys::ACCOUNT_SK) =>
                {
                    account = Some(Account::from_item(&item)?)
                }
                Some(ApiKeyRecord::TYPE) => api_key = Some(ApiKeyRecord::from_item(&item)?),
                _ => others.push(item),
            }
        }
        Ok((account, api_key, others))
    }

    /// Takes `n` fresh ids from counter `name` in one write: the last of them (the ids
    /// are `last - n + 1 ..= last`).
    pub async fn next_ids(&self, name: &str, n_ids: u64) -> Result<u64, StoreError> {
        let after = self.update(&Key::new(keys::COUNTER_PK, name), Change::new().add("value", n(n_ids.max(1)))).await?;
        Reader::new(&after).u64("value")
    }

    /// Counts one request in a rate-limit window and returns the window's count so far.
    /// Past `cap` the counter stops: the write's condition fails and the count as it
    /// stands is answered.
    pub async fn hit_rate(
        &self,
        subject: RateSubject<'_>,
        window: &Window,
        cap: Option<u64>,
    ) -> Result<u64, StoreError> {
        let key = Key::new(keys::rate_pk(subject), keys::rate_sk(window.start));
        let change = Change::new().add("hits", n(1)).set_if_absent("expires_at", n(window.expires_at));
        let change = match cap {
            Some(cap) => {
                change.if_expr("attribute_not_exists({hits}) OR {hits} <= :cap", &["hits"], vec![(":cap", n(cap))])
            }
            None => change,
        };
        let item = match self.update_or_current(&key, change).await? {
            Ok(after) | Err(after) => after,
        };
        Ok(hits_of(&item, "hits")?.unwrap_or(u64::MAX))
    }

    /// Counts one request made with an existing key, on the key's own item (so a key that
    /// does not exist gets no item and nothing is written: the conditional write finds no
    /// item), and returns the window's count so far; 0 for a key that does not exist.
    /// Past `cap` the counter stops. A new window resets the count in a second write.
    pub async fn hit_key_rate(
        &self,
        account_id: &str,
        key_hash: &str,
        window: &Window,
        cap: Option<u64>,
    ) -> Result<u64, StoreError> {
        let key = api_key_key(account_id, key_hash);
        for _ in 0..3 {
            // A window newer than ours (another container's clock a little ahead) is
            // counted into as it stands.
            let count = Change::new().add("rate_hits", n(1)).if_exists().if_expr(
                "{rate_window} >= :w",
                &["rate_window"],
                vec![(":w", n(window.start))],
            );
            let count = match cap {
                Some(cap) => count.if_expr("{rate_hits} <= :cap", &["rate_hits"], vec![(":cap", n(cap))]),
                None => count,
            };
            let current = match self.update_or_current(&key, count).await? {
                Ok(after) => return Ok(hits_of(&after, "rate_hits")?.unwrap_or(u64::MAX)),
                Err(current) if current.is_empty() => return Ok(0),
                Err(current) => current,
            };
            if Reader::new(&current).opt_i64("rate_window")?.is_some_and(|w| w >= window.start) {
                return Ok(hits_of(&current, "rate_hits")?.unwrap_or(u64::MAX));
            }
            let start = Change::new().set("rate_window", n(window.start)).set("rate_hits", n(1)).if_exists().if_expr(
                "attribute_not_exists({rate_window}) OR {rate_window} < :w",
                &["rate_window"],
                vec![(":w", n(window.start))],
            );
            if self.transition(&key, start).await? {
                return Ok(1);
            }
        }
        Err(StoreError::Throttled("the key's rate window changed under three tries".into()))
    }

    /// Next value of a named counter (one atomic ADD).
    pub async fn next_id(&self, name: &str) -> Result<u64, StoreError> {
        let after = self.update(&Key::new(keys::COUNTER_PK, name), Change::new().add("value", n(1))).await?;
        Reader::new(&after).u64("value")
    }

    /// Every plan (one Query).
    pub async fn plans(&self) -> Result<Vec<Plan>, StoreError> {
        self.query_records(&Query::partition(keys::PLAN_PK).prefix("PLAN#")).await
    }

    /// Creates or replaces a plan.
    pub async fn put_plan(&self, plan: &Plan) -> Result<(), StoreError> {
        self.put(plan.to_item()).await?;
        self.bump_catalog(super::catalog::Catalog::Plans).await
    }

    /// Creates an account; fails with `Conflict` if the id exists.
    pub async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.put_new(account.to_item()).await
    }

    /// Reads one account (strongly consistent).
    pub async fn get_account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        self.get(&account_key(account_id)).await
    }

    /// The balance now (strongly consistent).
    pub async fn balance(&self, account_id: &str) -> Result<Option<Kobo>, StoreError> {
        Ok(self.get_account(account_id).await?.map(|a| a.balance))
    }

    /// Every account, oldest first (GSI1).
    pub async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.query_records(&Query::gsi1(keys::ACCOUNTS_GSI1PK)).await
    }

    /// Stores a new key record; fails with `Conflict` if that hash exists.
    pub async fn put_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        self.put_new(record.to_item()).await
    }

    /// Every key of an account, revoked ones included.
    pub async fn list_keys(&self, account_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.query_records(&Query::partition(keys::account_pk(account_id)).prefix(keys::KEY_SK_PREFIX)).await
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

    /// Revokes a key; effective on the very next request (auth reads are consistent).
    pub async fn revoke_key(&self, account_id: &str, key_hash: &str) -> Result<(), StoreError> {
        let change = Change::new().set_if_absent("revoked_at", s(now_rfc3339())).if_exists();
        self.update(&api_key_key(account_id, key_hash), change).await.map(drop)
    }

    /// Replaces a key's scopes.
    pub async fn set_key_scopes(&self, account_id: &str, key_hash: &str, scopes: &[Action]) -> Result<(), StoreError> {
        let names: Vec<String> = scopes.iter().map(|a| a.as_str().to_string()).collect();
        let change = Change::new().set("scopes", str_list(&names)).if_exists();
        self.update(&api_key_key(account_id, key_hash), change).await.map(drop)
    }

    /// Replaces a key's IP whitelist and/or domain whitelist.
    pub async fn set_key_whitelists(
        &self,
        account_id: &str,
        key_hash: &str,
        ips: Option<&[String]>,
        domains: Option<&[String]>,
    ) -> Result<(), StoreError> {
        let mut change = Change::new().if_exists();
        if let Some(ips) = ips {
            change = change.set("ip_whitelist", str_list(ips));
        }
        if let Some(domains) = domains {
            change = change.set("domain_whitelist", str_list(domains));
        }
        if ips.is_none() && domains.is_none() {
            return Ok(());
        }
        self.update(&api_key_key(account_id, key_hash), change).await.map(drop)
    }

    /// Changes an existing account's own item; `NotFound` when there is none.
    async fn update_account(&self, account_id: &str, change: Change) -> Result<Item, StoreError> {
        self.update(&account_key(account_id), change.if_exists()).await.map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::NotFound(format!("account {account_id}")),
            other => other,
        })
    }

    /// Activates or deactivates an account's API access.
    pub async fn set_api_active(&self, account_id: &str, active: bool) -> Result<(), StoreError> {
        self.update_account(account_id, Change::new().set("api_active", AttributeValue::Bool(active))).await.map(drop)
    }

    /// Moves an account to another plan.
    pub async fn set_plan(&self, account_id: &str, plan_id: &str) -> Result<(), StoreError> {
        self.update_account(account_id, Change::new().set("plan_id", s(plan_id))).await.map(drop)
    }

    /// Sets the minimum balance a spend may not go below.
    pub async fn set_min_balance(&self, account_id: &str, min: Kobo) -> Result<(), StoreError> {
        self.update_account(account_id, Change::new().set("min_balance", n(min.as_i64()))).await.map(drop)
    }

    /// Stores a new PIN digest and clears failed attempts and any lock.
    pub async fn set_pin_digest(&self, account_id: &str, digest: &str) -> Result<(), StoreError> {
        let change = Change::new()
            .set("pin_digest", s(digest))
            .set("pin_failures", n(0))
            .set("pin_lock_level", n(0))
            .remove("pin_locked_until");
        self.update_account(account_id, change).await.map(drop)
    }

    /// Reserves one PIN check for the account before the PIN is looked at: a conditional
    /// `ADD` that holds only while the account is not locked and fewer than [`PIN_LIMIT`]
    /// attempts are taken, so however many requests race, at most that many PINs are
    /// evaluated. The lock comes from this write, never from an earlier read.
    pub async fn reserve_attempt(&self, account_id: &str, guess: Guess, now: i64) -> Result<Attempt, StoreError> {
        let key = account_key(account_id);
        let counter = guess.counter();
        let stamp = format!("{counter}_at");
        for _ in 0..3 {
            let change = Change::new()
                .add(counter, n(1))
                .add("pin_attempts_total", n(1))
                .set(&stamp, n(now))
                .if_exists()
                .if_expr(
                    &"(attribute_not_exists({pin_locked_until}) OR {pin_locked_until} <= :now) AND (attribute_not_exists({c}) OR {c} < :limit)".replace("{c}", &format!("{{{counter}}}")),
                    &["pin_locked_until", counter],
                    vec![(":now", n(now)), (":limit", n(PIN_LIMIT))],
                );
            let current = match self.update_or_current(&key, change).await? {
                Ok(after) => {
                    let r = Reader::new(&after);
                    return Ok(Attempt::Reserved {
                        n: r.u32_or(counter, PIN_LIMIT)?,
                        level: r.u32_or("pin_lock_level", 0)?,
                    });
                }
                Err(current) => current,
            };
            let r = Reader::new(&current);
            if current.is_empty() {
                return Err(StoreError::NotFound(format!("account {account_id}")));
            }
            if let Some(until) = r.opt_i64("pin_locked_until")?.filter(|u| *u > now) {
                return Ok(Attempt::Refused { until, locked: true });
            }
            // Every attempt taken and no lock: checks still running, or ones a crash cut
            // off. Past the stale age the attempts are released (once, conditionally).
            let taken_at = r.opt_i64(&stamp)?.unwrap_or(0);
            if taken_at + STALE_ATTEMPT_SECS > now {
                return Ok(Attempt::Refused { until: taken_at + STALE_ATTEMPT_SECS, locked: false });
            }
            let release = Change::new().set(counter, n(0)).if_eq(&stamp, n(taken_at));
            self.transition(&key, release).await?;
        }
        Ok(Attempt::Refused { until: now + 1, locked: false })
    }

    /// A reserved check found the PIN wrong: attempt `n` of the reservation stays
    /// counted, and the last one locks (escalating from `level`).
    pub async fn pin_wrong(
        &self,
        account_id: &str,
        guess: Guess,
        attempt: Attempt,
        now: i64,
    ) -> Result<(), StoreError> {
        let Attempt::Reserved { n: taken, level } = attempt else { return Ok(()) };
        if taken < PIN_LIMIT {
            return Ok(());
        }
        let lock = Change::new()
            .set("pin_locked_until", n(lock_until(level + 1, now)))
            .set(guess.counter(), n(0))
            .add("pin_lock_level", n(1));
        self.update(&account_key(account_id), lock).await.map(drop)
    }

    /// A reserved check found the PIN right: the attempts and the lock level start over.
    pub async fn pin_ok(&self, account_id: &str, guess: Guess) -> Result<(), StoreError> {
        self.update(&account_key(account_id), pin_ok_change(guess)).await.map(drop)
    }

    /// A wrong code whose check was deferred (the attempt was reserved when the request
    /// came): when that reservation was the last, the PIN locks as for a wrong PIN.
    pub async fn deferred_code_wrong(&self, account_id: &str, now: i64) -> Result<(), StoreError> {
        let Some(item) = self.get_item(&account_key(account_id), true).await? else { return Ok(()) };
        let r = Reader::new(&item);
        let taken = r.u32_or(Guess::OtpCode.counter(), 0)?;
        let locked = r.opt_i64("pin_locked_until")?.is_some_and(|u| u > now);
        if taken >= PIN_LIMIT && !locked {
            let attempt = Attempt::Reserved { n: PIN_LIMIT, level: r.u32_or("pin_lock_level", 0)? };
            self.pin_wrong(account_id, Guess::OtpCode, attempt, now).await?;
        }
        Ok(())
    }

    /// Sets (or clears) the account's verified payout phone (E.164).
    pub async fn set_payout_phone(&self, account_id: &str, phone: Option<&str>) -> Result<(), StoreError> {
        let change = match phone {
            Some(p) => Change::new().set("payout_phone", s(p)),
            None => Change::new().remove("payout_phone"),
        };
        self.update_account(account_id, change).await.map(drop)
    }

    /// Gives back a reserved attempt that was never evaluated.
    pub async fn pin_release(&self, account_id: &str) -> Result<(), StoreError> {
        let change = Change::new().add("pin_failures", n(-1)).if_expr(
            "{pin_failures} > :zero",
            &["pin_failures"],
            vec![(":zero", n(0))],
        );
        self.transition(&account_key(account_id), change).await.map(drop)
    }

    /// Lifts a PIN lock of any level (operator or portal), keeping the PIN.
    pub async fn unlock_pin(&self, account_id: &str) -> Result<(), StoreError> {
        let change =
            Change::new().set("pin_failures", n(0)).set("pin_lock_level", n(0)).remove("pin_locked_until").if_exists();
        self.update(&account_key(account_id), change).await.map(drop)
    }

    /// Turns SMS notices on (phone) or off (`None`), with an optional low-balance threshold.
    pub async fn set_notices(&self, account_id: &str, notices: &NoticeSettings) -> Result<(), StoreError> {
        let change = match &notices.phone {
            Some(p) => Change::new().set("notice_phone", s(p)),
            None => Change::new().remove("notice_phone"),
        };
        let change = match notices.low_balance {
            Some(k) => change.set("low_balance_alert", n(k.as_i64())),
            None => change.remove("low_balance_alert"),
        };
        self.update(&account_key(account_id), change.if_exists()).await.map(drop)
    }

    /// An account's notice settings (none for a missing account).
    pub async fn notices(&self, account_id: &str) -> Result<NoticeSettings, StoreError> {
        Ok(self
            .get_account(account_id)
            .await?
            .map(|a| NoticeSettings { phone: a.notice_phone, low_balance: a.low_balance_alert })
            .unwrap_or_default())
    }

    /// Changes a balance by `entry.amount` and writes `entry` in one transaction. Fails
    /// with `Conflict` when the account is missing or `floor` does not hold (the caller
    /// maps that to "Insufficient balance").
    pub async fn post_ledger(&self, entry: &LedgerEntry, floor: Floor) -> Result<(), StoreError> {
        match Tx::new(self).balance(entry, floor)?.commit().await {
            Ok(()) => Ok(()),
            Err(super::tx::TxError::ConditionFailed(f)) => Err(StoreError::Conflict(format!("conditions {f:?}"))),
            Err(super::tx::TxError::Store(e)) => Err(e),
        }
    }

    /// An account's ledger, oldest first.
    pub async fn ledger(&self, account_id: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        self.query_records(&Query::partition(keys::account_pk(account_id)).prefix(keys::LEDGER_SK_PREFIX)).await
    }
}

/// What a right PIN (or code) does to the account item: its attempts and lock level start
/// over. A spend applies it inside its own transaction.
pub fn pin_ok_change(guess: Guess) -> Change {
    Change::new().set(guess.counter(), n(0)).set("pin_lock_level", n(0))
}

/// The conditional update of an account's balance by `amount` (with `also`), holding
/// `floor`.
fn balance_change(amount: Kobo, floor: Floor, also: Change) -> Change {
    let change = also.increase("balance", n(amount.as_i64())).if_exists();
    match floor {
        Floor::None => change,
        Floor::AtLeast(need) => change.if_at_least("balance", n(need.as_i64())),
        Floor::Spend { need, min_balance } => {
            change.if_at_least("balance", n(need.as_i64())).if_eq("min_balance", n(min_balance.as_i64()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;
    use crate::domain::vtu::VtuCategory;

    #[test]
    fn items_round_trip() {
        let plan = Plan {
            id: "gold".into(),
            name: "Gold".into(),
            smm_discount_bp: 500,
            vtu_discount_bp: BTreeMap::from([(VtuCategory::Data, 2000), (VtuCategory::RechargeCard, 100)]),
            key_rpm: 60,
            ip_rpm: 120,
        };
        assert_eq!(Plan::from_item(&plan.to_item()).ok(), Some(plan));
        let acct = Account {
            id: "abc".into(),
            name: "Shop".into(),
            email: Some("a@b.ng".into()),
            phone: None,
            plan_id: "gold".into(),
            api_active: true,
            balance: Kobo::new(5_000_000),
            min_balance: Kobo::new(100),
            pin_digest: Some("ff".into()),
            pin_failures: 2,
            pin_locked_until: Some(99),
            pin_checks: 0,
            pin_lock_level: 0,
            payout_phone: None,
            notice_phone: Some("+2348012345678".into()),
            low_balance_alert: Some(Kobo::new(50_000)),
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        assert_eq!(Account::from_item(&acct.to_item()).ok(), Some(acct));
        let key = ApiKeyRecord {
            account_id: "abc".into(),
            hash: "0123456789abcdef".into(),
            key_id: "0123456789ab".into(),
            label: "prod".into(),
            hint: "kobo_abc_…wxyz".into(),
            scopes: vec![Action::Services, Action::Balance],
            ip_whitelist: vec!["1.2.3.4".into()],
            domain_whitelist: vec![],
            revoked_at: None,
            retire_at: None,
            last_used: None,
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        assert_eq!(ApiKeyRecord::from_item(&key.to_item()).ok(), Some(key));
    }

    #[test]
    fn corrupt_items_are_errors_not_panics() {
        let mut item = HashMap::new();
        item.insert("PK".to_string(), s("ACCOUNT#x"));
        item.insert("balance".to_string(), s("lots"));
        assert!(Account::from_item(&item).is_err());
    }
}
