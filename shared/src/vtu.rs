//! VTU domain: catalog (fixed-price plans and face-value products), pricing, phone and
//! meter validation, transactions and their store operations.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use serde::Serialize;

use crate::error::StoreError;
use crate::item::{n, s, Item, Reader};
use crate::keys;
use crate::model::{now_rfc3339, LedgerEntry, VtuCategory};
use crate::money::Kobo;
use crate::orders::{transact, TxError};
use crate::outbox::{EventType, OutboxEvent};
use crate::store::{build_err, key, put_new, sdk_err, Floor, Store};

/// price = base + profit × (1 − discount), the profit part rounded up to the kobo; never
/// below base (a discount over 100% is capped).
pub fn price(base: Kobo, profit: Kobo, discount_bp: u32) -> Kobo {
    let p = profit.0.max(0);
    let kept = (i128::from(p) * i128::from(10_000 - discount_bp.min(10_000)) + 9_999) / 10_000;
    Kobo(base.0 + kept as i64)
}

/// Base and profit of a face value, from fractions in basis points (rounded up).
pub fn face_split(face: Kobo, base_bp: u32, profit_bp: u32) -> (Kobo, Kobo) {
    let f = |bp: u32| Kobo(((i128::from(face.0) * i128::from(bp) + 9_999) / 10_000) as i64);
    (f(base_bp), f(profit_bp))
}

/// Normalizes a Nigerian mobile number (`08012345678`, `+2348012345678`,
/// `2348012345678`, spaces and dashes allowed) to `08012345678`.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
    let local = if let Some(rest) = digits.strip_prefix("+234") {
        format!("0{rest}")
    } else if let Some(rest) = digits.strip_prefix("234").filter(|r| r.len() == 10) {
        format!("0{rest}")
    } else {
        digits
    };
    let b = local.as_bytes();
    let ok = b.len() == 11
        && local.bytes().all(|c| c.is_ascii_digit())
        && b[0] == b'0'
        && matches!(b[1], b'7' | b'8' | b'9')
        && matches!(b[2], b'0' | b'1');
    ok.then_some(local)
}

/// Whether a string is `min..=max` ASCII digits (meter numbers, smartcard numbers).
pub fn is_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// A fixed-price product: a data, SME data or cable plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VtuPlan {
    /// Plan id (what resellers send as `plan_id`).
    pub id: u64,
    /// `data`, `sme` or `cable`.
    pub category: VtuCategory,
    /// `mtn-data`, `mtn` (SME network), `dstv`, ...
    pub service: String,
    /// Display name.
    pub name: String,
    /// Validity text, e.g. `30 days`.
    pub validity: String,
    /// What the provider charges us.
    pub base: Kobo,
    /// Our margin before plan discounts.
    pub profit: Kobo,
    /// The provider's product code.
    pub provider_code: String,
}

/// A face-value product: airtime, electricity, education PINs, recharge cards. Base and
/// profit are fractions of the face value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaceProduct {
    /// `airtime`, `electricity`, `education` or `recharge_card`.
    pub category: VtuCategory,
    /// `mtn`, `ikeja-electric`, `waec`, ...
    pub service: String,
    /// Display name.
    pub name: String,
    /// Base, basis points of face value.
    pub base_bp: u32,
    /// Profit, basis points of face value.
    pub profit_bp: u32,
    /// Smallest face value.
    pub min: Kobo,
    /// Largest face value.
    pub max: Kobo,
    /// Face value must be a multiple of this (one education PIN; recharge card values).
    pub step: Kobo,
}

/// The VTU catalog.
#[derive(Debug, Clone, Default)]
pub struct VtuCatalog {
    /// Plans by id.
    pub plans: Vec<VtuPlan>,
    /// Face-value products.
    pub faces: Vec<FaceProduct>,
}

impl VtuCatalog {
    /// A plan by id.
    pub fn plan(&self, id: u64) -> Option<&VtuPlan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// A face product.
    pub fn face(&self, category: VtuCategory, service: &str) -> Option<&FaceProduct> {
        self.faces.iter().find(|f| f.category == category && f.service.eq_ignore_ascii_case(service.trim()))
    }
}

impl VtuPlan {
    fn to_item(&self) -> Item {
        HashMap::from([
            ("PK".into(), s(keys::VTU_CATALOG_PK)),
            ("SK".into(), s(keys::vtu_plan_sk(self.id))),
            ("type".into(), s("vtu_plan")),
            ("plan_id".into(), n(self.id)),
            ("category".into(), s(self.category.as_str())),
            ("service".into(), s(&self.service)),
            ("name".into(), s(&self.name)),
            ("validity".into(), s(&self.validity)),
            ("base".into(), n(self.base.0)),
            ("profit".into(), n(self.profit.0)),
            ("provider_code".into(), s(&self.provider_code)),
        ])
    }

    fn from_item(item: &Item) -> Result<VtuPlan, StoreError> {
        let r = Reader::new(item);
        let cat = r.s("category")?;
        Ok(VtuPlan {
            id: r.u64("plan_id")?,
            category: cat.parse().map_err(|e: String| StoreError::Corrupt("vtu plan".into(), e))?,
            service: r.s("service")?,
            name: r.s("name")?,
            validity: r.opt_s("validity")?.unwrap_or_default(),
            base: r.kobo("base")?,
            profit: r.kobo("profit")?,
            provider_code: r.s("provider_code")?,
        })
    }
}

impl FaceProduct {
    fn to_item(&self) -> Item {
        HashMap::from([
            ("PK".into(), s(keys::VTU_CATALOG_PK)),
            ("SK".into(), s(keys::vtu_face_sk(self.category.as_str(), &self.service))),
            ("type".into(), s("vtu_face")),
            ("category".into(), s(self.category.as_str())),
            ("service".into(), s(&self.service)),
            ("name".into(), s(&self.name)),
            ("base_bp".into(), n(self.base_bp)),
            ("profit_bp".into(), n(self.profit_bp)),
            ("min".into(), n(self.min.0)),
            ("max".into(), n(self.max.0)),
            ("step".into(), n(self.step.0)),
        ])
    }

    fn from_item(item: &Item) -> Result<FaceProduct, StoreError> {
        let r = Reader::new(item);
        let cat = r.s("category")?;
        Ok(FaceProduct {
            category: cat.parse().map_err(|e: String| StoreError::Corrupt("vtu face".into(), e))?,
            service: r.s("service")?,
            name: r.s("name")?,
            base_bp: r.u32_or("base_bp", 0)?,
            profit_bp: r.u32_or("profit_bp", 0)?,
            min: r.kobo("min")?,
            max: r.kobo("max")?,
            step: r.kobo("step")?,
        })
    }
}

/// Status of a VTU transaction, as the seed words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VtuStatus {
    /// Paid; waiting for the provider's result.
    Processing,
    /// Delivered.
    Success,
    /// Failed; refunded.
    Failed,
}

impl VtuStatus {
    /// The word.
    pub const fn as_str(self) -> &'static str {
        match self {
            VtuStatus::Processing => "processing",
            VtuStatus::Success => "success",
            VtuStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<VtuStatus> {
        [VtuStatus::Processing, VtuStatus::Success, VtuStatus::Failed].into_iter().find(|x| x.as_str() == s)
    }
}

/// A printed card or PIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Card {
    /// The PIN.
    pub pin: String,
    /// Its serial.
    pub serial: String,
}

/// One VTU transaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VtuTx {
    /// Numeric id (the webhook payload's `id`).
    pub id: u64,
    /// Unique, unguessable reference.
    pub trx: String,
    /// Owner.
    pub account_id: String,
    /// Category.
    pub category: VtuCategory,
    /// Service name (`mtn-data`, `dstv`, `ikeja-electric`, ...).
    pub service_name: String,
    /// Recipient phone (`08012345678`).
    pub phone: String,
    /// What was charged.
    pub amount: Kobo,
    /// Base part of the charge.
    pub base_amount: Kobo,
    /// Profit part of the charge.
    pub profit_amount: Kobo,
    /// Face value (face-value products) or plan price before discount.
    pub face_value: Kobo,
    /// Status.
    pub status: VtuStatus,
    /// Provider's reference, once known.
    pub provider_ref: Option<String>,
    /// Result or error message.
    pub message: Option<String>,
    /// Product details and results (plan, customer, token, ...).
    pub meta: serde_json::Value,
    /// Cards or PINs delivered.
    pub cards: Vec<Card>,
    /// What the provider is asked to deliver.
    pub request: serde_json::Value,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl VtuTx {
    /// The item form.
    pub fn to_item(&self) -> Item {
        let mut m = HashMap::from([
            ("PK".into(), s(keys::account_pk(&self.account_id))),
            ("SK".into(), s(keys::vtu_sk(&self.trx))),
            ("type".into(), s("vtu")),
            ("vtu_id".into(), n(self.id)),
            ("trx".into(), s(&self.trx)),
            ("account_id".into(), s(&self.account_id)),
            ("category".into(), s(self.category.as_str())),
            ("service_name".into(), s(&self.service_name)),
            ("phone".into(), s(&self.phone)),
            ("amount".into(), n(self.amount.0)),
            ("base_amount".into(), n(self.base_amount.0)),
            ("profit_amount".into(), n(self.profit_amount.0)),
            ("face_value".into(), n(self.face_value.0)),
            ("status".into(), s(self.status.as_str())),
            ("meta".into(), s(self.meta.to_string())),
            ("cards".into(), s(serde_json::to_string(&self.cards).unwrap_or_else(|_| "[]".into()))),
            ("request".into(), s(self.request.to_string())),
            ("created_at".into(), s(&self.created_at)),
            ("updated_at".into(), s(&self.updated_at)),
        ]);
        if let Some(v) = &self.provider_ref {
            m.insert("provider_ref".into(), s(v));
        }
        if let Some(v) = &self.message {
            m.insert("message".into(), s(v));
        }
        if self.status == VtuStatus::Processing {
            m.insert("GSI1PK".into(), s(keys::VTU_PROCESSING_GSI1PK));
            m.insert("GSI1SK".into(), s(format!("{}#{}", self.created_at, self.trx)));
        }
        m
    }

    /// Reads a transaction item.
    pub fn from_item(item: &Item) -> Result<VtuTx, StoreError> {
        let r = Reader::new(item);
        let cat = r.s("category")?;
        let st = r.s("status")?;
        let json = |f: &str, d: serde_json::Value| -> Result<serde_json::Value, StoreError> {
            Ok(r.opt_s(f)?.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(d))
        };
        Ok(VtuTx {
            id: r.u64("vtu_id")?,
            trx: r.s("trx")?,
            account_id: r.s("account_id")?,
            category: cat.parse().map_err(|e: String| StoreError::Corrupt("vtu".into(), e))?,
            service_name: r.s("service_name")?,
            phone: r.s("phone")?,
            amount: r.kobo("amount")?,
            base_amount: r.kobo("base_amount")?,
            profit_amount: r.kobo("profit_amount")?,
            face_value: r.kobo("face_value")?,
            status: VtuStatus::parse(&st).ok_or_else(|| StoreError::Corrupt("vtu".into(), format!("status {st:?}")))?,
            provider_ref: r.opt_s("provider_ref")?,
            message: r.opt_s("message")?,
            meta: json("meta", serde_json::json!({}))?,
            cards: r.opt_s("cards")?.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
            request: json("request", serde_json::json!({}))?,
            created_at: r.s("created_at")?,
            updated_at: r.s("updated_at")?,
        })
    }

    /// The webhook object, as the seed's example payload has it.
    pub fn webhook_object(&self) -> serde_json::Value {
        let naira = |k: Kobo| {
            serde_json::Number::from_f64(k.0 as f64 / 100.0).map(serde_json::Value::Number).unwrap_or_default()
        };
        let mut meta = self.meta.clone();
        if !self.cards.is_empty() {
            meta["cards"] = serde_json::json!(self.cards.len());
        }
        serde_json::json!({
            "id": self.id,
            "trx": self.trx,
            "category": self.category.as_str(),
            "service_name": self.service_name,
            "phone": self.phone,
            "amount": naira(self.amount),
            "base_amount": naira(self.base_amount),
            "profit_amount": naira(self.profit_amount),
            "provider": "third_party",
            "provider_ref": self.provider_ref.clone().unwrap_or_default(),
            "status": self.status.as_str(),
            "meta": meta,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

impl Store {
    /// Stores a plan.
    pub async fn put_vtu_plan(&self, p: &VtuPlan) -> Result<(), StoreError> {
        self.client().put_item().table_name(self.table()).set_item(Some(p.to_item())).send().await.map_err(sdk_err)?;
        Ok(())
    }

    /// Stores a face product.
    pub async fn put_face_product(&self, f: &FaceProduct) -> Result<(), StoreError> {
        self.client().put_item().table_name(self.table()).set_item(Some(f.to_item())).send().await.map_err(sdk_err)?;
        Ok(())
    }

    /// The whole VTU catalog (one Query, paginated).
    pub async fn vtu_catalog(&self) -> Result<VtuCatalog, StoreError> {
        let mut cat = VtuCatalog::default();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", s(keys::VTU_CATALOG_PK))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for item in page.items() {
                match item.get("type").and_then(|t| t.as_s().ok()).map(String::as_str) {
                    Some("vtu_plan") => cat.plans.push(VtuPlan::from_item(item)?),
                    Some("vtu_face") => cat.faces.push(FaceProduct::from_item(item)?),
                    _ => {}
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        cat.plans.sort_by_key(|p| p.id);
        Ok(cat)
    }

    /// One transaction of an account.
    pub async fn get_vtu(&self, account_id: &str, trx: &str) -> Result<Option<VtuTx>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::vtu_sk(trx))))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.as_ref().map(VtuTx::from_item).transpose()
    }

    /// Transactions still processing, oldest first (sparse GSI1).
    pub async fn processing_vtu(&self, limit: i32) -> Result<Vec<VtuTx>, StoreError> {
        self.gsi1_page(keys::VTU_PROCESSING_GSI1PK, limit).await?.iter().map(VtuTx::from_item).collect()
    }

    /// Counts a wrong PIN; locks purchases until `lock_until` when this makes `limit`.
    /// Returns the failures so far.
    pub async fn pin_failed(&self, account_id: &str, limit: u32, lock_until: i64) -> Result<u32, StoreError> {
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::ACCOUNT_SK)))
            .update_expression("ADD pin_failures :one")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_err)?;
        let failures = out
            .attributes
            .as_ref()
            .and_then(|a| a.get("pin_failures"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(limit);
        if failures >= limit {
            self.client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(keys::account_pk(account_id), keys::ACCOUNT_SK)))
                .update_expression("SET pin_locked_until = :t, pin_failures = :z")
                .expression_attribute_values(":t", n(lock_until))
                .expression_attribute_values(":z", n(0))
                .send()
                .await
                .map_err(sdk_err)?;
        }
        Ok(failures)
    }

    /// Clears wrong-PIN counting after a right PIN.
    pub async fn pin_ok(&self, account_id: &str) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::account_pk(account_id), keys::ACCOUNT_SK)))
            .update_expression("SET pin_failures = :z")
            .expression_attribute_values(":z", n(0))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    /// The balance now (strongly consistent).
    pub async fn balance(&self, account_id: &str) -> Result<Option<Kobo>, StoreError> {
        Ok(self.get_account(account_id).await?.map(|a| a.balance))
    }
}

/// Why a purchase could not be recorded.
#[derive(Debug)]
pub enum PayError {
    /// Balance less minimum balance does not cover it.
    InsufficientBalance,
    /// The idempotency key was used; here is its record.
    Replay(crate::idempotency::IdemRecord),
    /// The store failed.
    Store(StoreError),
}

/// Debits, writes the ledger entry, the transaction, `vtu.processing` and
/// `vtu.status_changed` (and any idempotency record) in one transaction.
pub async fn pay(
    store: &Store,
    tx: &VtuTx,
    min_balance: Kobo,
    idem: Option<&crate::idempotency::IdemRecord>,
) -> Result<(), PayError> {
    let need = tx.amount.checked_add(min_balance).ok_or(PayError::InsufficientBalance)?;
    let entry = LedgerEntry {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: tx.account_id.clone(),
        amount: tx.amount.negate(),
        kind: "vtu".into(),
        reason: format!("{} {}", tx.category, tx.service_name),
        reference: Some(format!("vtu:{}", tx.trx)),
        actor: "api".into(),
        created_at: tx.created_at.clone(),
    };
    let object = tx.webhook_object();
    let table = store.table();
    let mut items: Vec<TransactWriteItem> =
        store.balance_change(&entry, Floor::Spend { need, min_balance }).map_err(PayError::Store)?.to_vec();
    for item in [
        tx.to_item(),
        OutboxEvent::new(&tx.account_id, EventType::VtuProcessing, "vtu", object.clone()).to_item(),
        OutboxEvent::new(&tx.account_id, EventType::VtuStatusChanged, "vtu", object).to_item(),
    ] {
        items.push(put_new(table, item).map_err(PayError::Store)?);
    }
    if let Some(r) = idem {
        items.push(r.put(store.table()).map_err(PayError::Store)?);
    }
    match transact(store, items).await {
        Ok(()) => Ok(()),
        Err(TxError::Conditions(failed)) if idem.is_some() && failed.contains(&5) => {
            let r = idem.ok_or(PayError::Store(StoreError::Backend("idempotency record vanished".into())))?;
            match store.get_idem(&r.account_id, &r.key_hash).await {
                Ok(Some(rec)) => Err(PayError::Replay(rec)),
                Ok(None) => Err(PayError::Store(StoreError::Backend("idempotency record not readable".into()))),
                Err(e) => Err(PayError::Store(e)),
            }
        }
        Err(TxError::Conditions(failed)) if failed.contains(&0) => Err(PayError::InsufficientBalance),
        Err(TxError::Conditions(failed)) => {
            Err(PayError::Store(StoreError::Conflict(format!("vtu transaction conditions failed: {failed:?}"))))
        }
        Err(TxError::Store(StoreError::Conflict(_))) => Err(PayError::InsufficientBalance),
        Err(TxError::Store(e)) => Err(PayError::Store(e)),
    }
}

/// The final result of a transaction from the provider.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Delivered.
    Success {
        /// Provider reference.
        provider_ref: Option<String>,
        /// Extra result fields to merge into `meta` (token, operator, ...).
        meta: serde_json::Value,
        /// Cards or PINs.
        cards: Vec<Card>,
    },
    /// Failed (refund due).
    Failed {
        /// Why.
        reason: String,
    },
}

/// Settles a processing transaction exactly once: the status moves from `processing`
/// (conditionally), with `vtu.success` or `vtu.failed` + `vtu.status_changed`, and for a
/// failure the refund (credit + ledger entry) in the same transaction. Returns the
/// settled transaction, or `None` when it was already settled (duplicate or late
/// callback, racing reconciler).
pub async fn settle(store: &Store, tx: &VtuTx, outcome: &Outcome, actor: &str) -> Result<Option<VtuTx>, StoreError> {
    if tx.status != VtuStatus::Processing {
        return Ok(None);
    }
    let now = now_rfc3339();
    let mut after = tx.clone();
    after.updated_at = now.clone();
    let event;
    match outcome {
        Outcome::Success { provider_ref, meta, cards } => {
            after.status = VtuStatus::Success;
            if provider_ref.is_some() {
                after.provider_ref = provider_ref.clone();
            }
            if let (Some(m), Some(extra)) = (after.meta.as_object_mut(), meta.as_object()) {
                for (k, v) in extra {
                    m.insert(k.clone(), v.clone());
                }
            }
            after.cards = cards.clone();
            after.message = Some("Transaction successful".into());
            event = EventType::VtuSuccess;
        }
        Outcome::Failed { reason } => {
            after.status = VtuStatus::Failed;
            after.message = Some(reason.clone());
            event = EventType::VtuFailed;
        }
    }
    let upd = Update::builder()
        .table_name(store.table())
        .set_key(Some(key(keys::account_pk(&tx.account_id), keys::vtu_sk(&tx.trx))))
        .update_expression(
            "SET #st = :new, updated_at = :now, message = :msg, meta = :meta, cards = :cards, provider_ref = :ref REMOVE GSI1PK, GSI1SK",
        )
        .condition_expression("#st = :processing")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":new", s(after.status.as_str()))
        .expression_attribute_values(":processing", s(VtuStatus::Processing.as_str()))
        .expression_attribute_values(":now", s(&now))
        .expression_attribute_values(":msg", s(after.message.clone().unwrap_or_default()))
        .expression_attribute_values(":meta", s(after.meta.to_string()))
        .expression_attribute_values(":cards", s(serde_json::to_string(&after.cards).unwrap_or_else(|_| "[]".into())))
        .expression_attribute_values(":ref", s(after.provider_ref.clone().unwrap_or_default()))
        .build()
        .map_err(build_err)?;
    let object = after.webhook_object();
    let mut items = vec![
        TransactWriteItem::builder().update(upd).build(),
        OutboxEvent::new(&tx.account_id, event, "vtu", object.clone()).put(store.table())?,
        OutboxEvent::new(&tx.account_id, EventType::VtuStatusChanged, "vtu", object).put(store.table())?,
    ];
    if after.status == VtuStatus::Failed {
        let entry = LedgerEntry {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: tx.account_id.clone(),
            amount: tx.amount,
            kind: "refund".into(),
            reason: format!("VTU {} failed", tx.trx),
            reference: Some(format!("vtu:{}", tx.trx)),
            actor: actor.to_string(),
            created_at: now,
        };
        items.extend(store.balance_change(&entry, Floor::None)?);
    }
    match transact(store, items).await {
        Ok(()) => Ok(Some(after)),
        Err(TxError::Conditions(_)) | Err(TxError::Store(StoreError::Conflict(_))) => Ok(None),
        Err(TxError::Store(e)) => Err(e),
    }
}

/// A random, unguessable transaction reference: `TRX` + 20 uppercase alphanumerics.
pub fn new_trx() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    format!("TRX{}", Alphanumeric.sample_string(&mut rand::rng(), 20).to_ascii_uppercase())
}

/// Whether `s` has the shape of a kobo trx.
pub fn is_trx(s: &str) -> bool {
    s.len() == 23 && s.starts_with("TRX") && s[3..].bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pricing_follows_the_rule() {
        assert_eq!(price(Kobo(12_000), Kobo(345), 0), Kobo(12_345));
        assert_eq!(price(Kobo(12_000), Kobo(345), 5_000), Kobo(12_173)); // 172.5 -> 173
        assert_eq!(price(Kobo(12_000), Kobo(345), 10_000), Kobo(12_000));
        assert_eq!(price(Kobo(12_000), Kobo(345), 20_000), Kobo(12_000), "never below base");
        assert_eq!(face_split(Kobo(10_000), 9_650, 150), (Kobo(9_650), Kobo(150)));
        assert_eq!(face_split(Kobo(333), 9_650, 150), (Kobo(322), Kobo(5)));
    }

    #[test]
    fn phones() {
        assert_eq!(normalize_phone("08012345678").as_deref(), Some("08012345678"));
        assert_eq!(normalize_phone("+2348012345678").as_deref(), Some("08012345678"));
        assert_eq!(normalize_phone("2349012345678").as_deref(), Some("09012345678"));
        assert_eq!(normalize_phone("0701 234 5678").as_deref(), Some("07012345678"));
        for bad in ["0801234567", "080123456789", "06012345678", "08212345678", "+4478000000", "abc", ""] {
            assert_eq!(normalize_phone(bad), None, "{bad}");
        }
    }

    #[test]
    fn trx_refs() {
        let a = new_trx();
        assert!(is_trx(&a));
        assert_ne!(a, new_trx());
        assert!(!is_trx("TRX123"));
    }
}
