//! Operator tasks over accounts, plans, keys and wallets: the logic behind the CLI (and
//! later the portal), written once over [`Store`].

use crate::db::{Floor, Store};
use crate::domain::account::{Account, ApiKeyRecord, LedgerEntry, Plan};
use crate::domain::action::Action;
use crate::domain::apikey::{self, NewKey};
use crate::domain::money::Kobo;
use crate::domain::pin;
use crate::domain::time::now_rfc3339;
use crate::domain::whitelist;
use crate::error::StoreError;
use crate::platform::secrets::KeyRing;

/// An operator task failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The input is not acceptable; the message says how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// A debit would take the balance below zero.
    #[error("insufficient balance: the account holds less than the amount")]
    InsufficientBalance,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a new account needs.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Display name.
    pub name: String,
    /// Plan id; must exist.
    pub plan_id: String,
    /// Contact e-mail.
    pub email: Option<String>,
    /// Contact phone.
    pub phone: Option<String>,
    /// Whether API access starts active.
    pub api_active: bool,
    /// Fixed id (fixtures); random when `None`.
    pub id: Option<String>,
}

impl NewAccount {
    /// The account's record: zero balance, no PIN, no payout phone, created now, its id
    /// random unless fixed. The one place an account is made (the operator's
    /// [`create_account`], the portal's sign-up).
    pub fn record(self) -> Account {
        Account {
            id: self.id.unwrap_or_else(apikey::new_account_id),
            name: self.name,
            email: self.email,
            phone: self.phone,
            plan_id: self.plan_id,
            api_active: self.api_active,
            balance: Kobo::ZERO,
            min_balance: Kobo::ZERO,
            pin_digest: None,
            pin_failures: 0,
            pin_locked_until: None,
            pin_checks: 0,
            pin_lock_level: 0,
            payout_phone: None,
            notice_phone: None,
            low_balance_alert: None,
            created_at: now_rfc3339(),
        }
    }
}

/// Creates an account with a zero balance on an existing plan.
pub async fn create_account(store: &Store, new: NewAccount) -> Result<Account, OpsError> {
    if new.name.trim().is_empty() {
        return Err(OpsError::Invalid("name must not be empty".into()));
    }
    if !store.plans().await?.iter().any(|p| p.id == new.plan_id) {
        return Err(OpsError::Invalid(format!("plan {:?} does not exist; create it first", new.plan_id)));
    }
    if let Some(id) = new.id.as_deref().filter(|id| !apikey::is_account_id(id)) {
        return Err(OpsError::Invalid(format!("account id {id:?} must be 1-32 letters and digits")));
    }
    let account = NewAccount { name: new.name.trim().to_string(), ..new }.record();
    store.create_account(&account).await?;
    Ok(account)
}

/// Validates a plan before it is stored.
pub fn validate_plan(plan: &Plan) -> Result<(), OpsError> {
    if !apikey::is_account_id(&plan.id) {
        return Err(OpsError::Invalid("plan id must be 1-32 letters and digits".into()));
    }
    if plan.smm_discount_bp > 10_000 || plan.vtu_discount_bp.values().any(|bp| *bp > 10_000) {
        return Err(OpsError::Invalid("discounts are basis points from 0 to 10000".into()));
    }
    Ok(())
}

/// Validated whitelists, normalized for storage.
pub fn normalize_whitelists(ips: &[String], domains: &[String]) -> Result<(Vec<String>, Vec<String>), OpsError> {
    for ip in ips {
        if !whitelist::is_valid_ip_entry(ip) {
            return Err(OpsError::Invalid(format!("{ip:?} is not an IP address or CIDR block")));
        }
    }
    let domains = domains
        .iter()
        .map(|d| {
            whitelist::normalize_domain_entry(d).ok_or_else(|| OpsError::Invalid(format!("{d:?} is not a domain")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((ips.iter().map(|s| s.trim().to_string()).collect(), domains))
}

/// Issues a key for an account. The returned [`NewKey::secret`] is the only copy.
pub async fn issue_key(
    store: &Store,
    account_id: &str,
    label: &str,
    scopes: &[Action],
    ips: &[String],
    domains: &[String],
) -> Result<(NewKey, ApiKeyRecord), OpsError> {
    let (ips, domains) = normalize_whitelists(ips, domains)?;
    let key = apikey::generate(account_id);
    let record =
        ApiKeyRecord { ip_whitelist: ips, domain_whitelist: domains, ..key_record(account_id, label, scopes, &key) };
    register_key(store, key, record).await
}

/// Issues a key whose secret is known in advance (the fixtures `events/` use); it must be
/// a key of `account_id`. No whitelists.
pub async fn issue_fixture_key(
    store: &Store,
    account_id: &str,
    label: &str,
    scopes: &[Action],
    secret: &str,
) -> Result<(NewKey, ApiKeyRecord), OpsError> {
    if apikey::parse(secret).filter(|p| p.account_id == account_id).is_none() {
        return Err(OpsError::Invalid(format!("fixture key is not a key of account {account_id}")));
    }
    let key = apikey::from_secret(secret.to_string());
    let record = key_record(account_id, label, scopes, &key);
    register_key(store, key, record).await
}

/// The record of a new key (no whitelists).
fn key_record(account_id: &str, label: &str, scopes: &[Action], key: &NewKey) -> ApiKeyRecord {
    ApiKeyRecord {
        account_id: account_id.to_string(),
        key_id: ApiKeyRecord::key_id_of(&key.hash),
        hash: key.hash.clone(),
        label: label.to_string(),
        hint: key.hint.clone(),
        scopes: scopes.to_vec(),
        ip_whitelist: Vec::new(),
        domain_whitelist: Vec::new(),
        revoked_at: None,
        retire_at: None,
        last_used: None,
        created_at: now_rfc3339(),
    }
}

/// Stores a new key of an existing account.
async fn register_key(store: &Store, key: NewKey, record: ApiKeyRecord) -> Result<(NewKey, ApiKeyRecord), OpsError> {
    if store.get_account(&record.account_id).await?.is_none() {
        return Err(OpsError::Invalid(format!("account {} does not exist", record.account_id)));
    }
    store.put_key(&record).await?;
    Ok((key, record))
}

/// Sets a transaction PIN (4 to 6 digits), stored only as a keyed digest.
pub async fn set_pin(store: &Store, pepper: &KeyRing, account_id: &str, new_pin: &str) -> Result<(), OpsError> {
    if !pin::is_valid_pin(new_pin) {
        return Err(OpsError::Invalid("a PIN is 4 to 6 digits".into()));
    }
    store.set_pin_digest(account_id, &pin::digest(pepper, account_id, new_pin)).await?;
    Ok(())
}

/// Which way an operator adjustment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Adds to the wallet.
    Credit,
    /// Takes from the wallet (never below zero).
    Debit,
}

/// Credits or debits a wallet with a reason; balance change and ledger entry are one
/// transaction.
pub async fn adjust(
    store: &Store,
    account_id: &str,
    direction: Direction,
    amount: Kobo,
    reason: &str,
    actor: &str,
) -> Result<LedgerEntry, OpsError> {
    let entry = adjustment_entry(account_id, direction, amount, reason, actor, None)?;
    match store.post_ledger(&entry, adjustment_floor(direction, amount)).await {
        Ok(()) => Ok(entry),
        Err(StoreError::Conflict(_)) => Err(adjust_refused(store, account_id).await),
        Err(e) => Err(e.into()),
    }
}

/// The ledger entry of a credit or debit (checked: a positive amount, a reason).
fn adjustment_entry(
    account_id: &str,
    direction: Direction,
    amount: Kobo,
    reason: &str,
    actor: &str,
    reference: Option<String>,
) -> Result<LedgerEntry, OpsError> {
    if !amount.is_positive() {
        return Err(OpsError::Invalid("amount must be positive".into()));
    }
    if reason.trim().is_empty() {
        return Err(OpsError::Invalid("give a reason: it is kept in the ledger".into()));
    }
    let (signed, kind) = match direction {
        Direction::Credit => (amount, "credit"),
        Direction::Debit => (amount.negate(), "debit"),
    };
    Ok(LedgerEntry {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: account_id.to_string(),
        amount: signed,
        kind: kind.to_string(),
        reason: reason.trim().to_string(),
        reference,
        actor: actor.to_string(),
        created_at: now_rfc3339(),
    })
}

/// A debit never takes the balance below zero.
fn adjustment_floor(direction: Direction, amount: Kobo) -> Floor {
    match direction {
        Direction::Credit => Floor::None,
        Direction::Debit => Floor::AtLeast(amount),
    }
}

/// Why a credit or debit's condition failed: no such account, or too little in it.
async fn adjust_refused(store: &Store, account_id: &str) -> OpsError {
    match store.get_account(account_id).await {
        Ok(None) => OpsError::Invalid(format!("account {account_id} does not exist")),
        Ok(Some(_)) => OpsError::InsufficientBalance,
        Err(e) => e.into(),
    }
}

/// What an operator's idempotent credit or debit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adjusted {
    /// Applied now: its ledger entry.
    Applied(LedgerEntry),
    /// Applied before under the same reference: the entry it wrote then (nothing changed
    /// now).
    AlreadyApplied(LedgerEntry),
}

/// The reference an operator's adjustment takes when none is given: derived from what it
/// does (account, direction, amount, reason), so re-running the same command after an
/// unclear answer applies it at most once. An identical second adjustment needs its own
/// reference (or another reason).
pub fn derived_reference(account_id: &str, direction: Direction, amount: Kobo, reason: &str) -> String {
    let dir = match direction {
        Direction::Credit => "credit",
        Direction::Debit => "debit",
    };
    let digest = crate::platform::crypto::sha256_hex(
        format!("{account_id}\0{dir}\0{}\0{}", amount.as_i64(), reason.trim()).as_bytes(),
    );
    format!("op-{}", &digest[..20])
}

/// Credits or debits a wallet with a reason, at most once per `reference` (an
/// idempotency key for the operator's command: a re-run after an ambiguous answer finds
/// what the first run did instead of applying it twice). The balance change, its ledger
/// entry (whose reference is `adjust:<reference>`) and the reference's marker are one
/// transaction.
pub async fn adjust_once(
    store: &Store,
    account_id: &str,
    direction: Direction,
    amount: Kobo,
    reason: &str,
    actor: &str,
    reference: &str,
) -> Result<Adjusted, OpsError> {
    let reference = reference.trim();
    if reference.is_empty()
        || reference.len() > 100
        || !reference.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return Err(OpsError::Invalid("a reference is 1 to 100 letters, digits, '-', '_', '.' or ':'".into()));
    }
    let entry = adjustment_entry(account_id, direction, amount, reason, actor, Some(format!("adjust:{reference}")))?;
    let floor = adjustment_floor(direction, amount);
    let marker = crate::db::accounts::Adjustment { reference: reference.to_string(), entry };
    match store.post_adjustment(&marker, floor).await {
        Ok(None) => Ok(Adjusted::Applied(marker.entry)),
        Ok(Some(first)) => Ok(Adjusted::AlreadyApplied(first.entry)),
        Err(StoreError::Conflict(_)) => Err(adjust_refused(store, account_id).await),
        Err(e) => Err(e.into()),
    }
}

/// One account's ledger check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LedgerCheck {
    /// The account.
    pub account_id: String,
    /// Its balance.
    pub balance: Kobo,
    /// The sum of its ledger entries.
    pub ledger_sum: Kobo,
    /// How many entries.
    pub entries: usize,
}

impl LedgerCheck {
    /// Whether the ledger sums to the balance.
    pub fn ok(&self) -> bool {
        self.balance == self.ledger_sum
    }
}

/// Sums one account's ledger and compares it to its balance. Run on a quiet account (or
/// repeat on mismatch): the two reads are not one snapshot.
pub async fn check_ledger(store: &Store, account: &Account) -> Result<LedgerCheck, OpsError> {
    let entries = store.ledger(&account.id).await?;
    let sum = entries.iter().try_fold(Kobo::ZERO, |acc, e| acc.checked_add(e.amount));
    let Some(sum) = sum else {
        return Err(OpsError::Invalid(format!("ledger of {} overflows", account.id)));
    };
    let after = store.get_account(&account.id).await?.map(|a| a.balance).unwrap_or(account.balance);
    Ok(LedgerCheck { account_id: account.id.clone(), balance: after, ledger_sum: sum, entries: entries.len() })
}

/// Checks every account's ledger.
pub async fn check_all_ledgers(store: &Store) -> Result<Vec<LedgerCheck>, OpsError> {
    let mut out = Vec::new();
    for account in store.list_accounts().await? {
        out.push(check_ledger(store, &account).await?);
    }
    Ok(out)
}
