//! VTU: categories, the catalog (fixed-price plans and face-value products), pricing,
//! transactions, their status and outcomes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::money::Kobo;
use super::phone::is_digits;

/// A VTU category; plans set a discount per category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VtuCategory {
    /// Airtime top-up (face value).
    Airtime,
    /// Data bundles (fixed price).
    Data,
    /// SME data (fixed price).
    Sme,
    /// Cable TV subscriptions (fixed price).
    Cable,
    /// Electricity tokens and bills (face value).
    Electricity,
    /// Education PINs such as WAEC (face value).
    Education,
    /// Printable recharge cards (face value).
    RechargeCard,
}

impl VtuCategory {
    /// Every category.
    pub const ALL: [VtuCategory; 7] = [
        VtuCategory::Airtime,
        VtuCategory::Data,
        VtuCategory::Sme,
        VtuCategory::Cable,
        VtuCategory::Electricity,
        VtuCategory::Education,
        VtuCategory::RechargeCard,
    ];

    /// The wire name, as in the seed's `category` field.
    pub const fn as_str(self) -> &'static str {
        match self {
            VtuCategory::Airtime => "airtime",
            VtuCategory::Data => "data",
            VtuCategory::Sme => "sme",
            VtuCategory::Cable => "cable",
            VtuCategory::Electricity => "electricity",
            VtuCategory::Education => "education",
            VtuCategory::RechargeCard => "recharge_card",
        }
    }
}

impl fmt::Display for VtuCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VtuCategory {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, Self::Err> {
        VtuCategory::ALL.into_iter().find(|c| c.as_str() == v).ok_or_else(|| format!("unknown VTU category {v:?}"))
    }
}

/// price = base + profit × (1 − discount), the profit part rounded up to the kobo; never
/// below base (a discount over 100% is capped).
pub fn price(base: Kobo, profit: Kobo, discount_bp: u32) -> Kobo {
    let p = profit.at_least_zero().as_i64();
    let kept = (i128::from(p) * i128::from(10_000 - discount_bp.min(10_000)) + 9_999) / 10_000;
    Kobo::new(base.as_i64().saturating_add(i64::try_from(kept).unwrap_or(i64::MAX)))
}

/// Base and profit of a face value, from fractions in basis points (rounded up).
pub fn face_split(face: Kobo, base_bp: u32, profit_bp: u32) -> (Kobo, Kobo) {
    let f = |bp: u32| {
        Kobo::new(i64::try_from((i128::from(face.as_i64()) * i128::from(bp) + 9_999) / 10_000).unwrap_or(i64::MAX))
    };
    (f(base_bp), f(profit_bp))
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

impl FaceProduct {
    /// What one unit of face value `face` costs under `discount_bp`: exactly what a
    /// purchase of it charges per unit (lists show this).
    pub fn price(&self, face: Kobo, discount_bp: u32) -> Kobo {
        let (base, profit) = face_split(face, self.base_bp, self.profit_bp);
        price(base, profit, discount_bp)
    }

    /// The face values a list offers for a product sold in steps (recharge cards): every
    /// multiple of the step from the least to the most, at most `limit` of them.
    pub fn denominations(&self, limit: usize) -> Vec<Kobo> {
        let step = self.step.as_i64().max(1);
        let first = (self.min.as_i64() + step - 1) / step * step;
        (0..)
            .map(|i| first.saturating_add(step.saturating_mul(i)))
            .take_while(|v| *v <= self.max.as_i64())
            .take(limit)
            .map(Kobo::new)
            .collect()
    }
}

/// The provider a purchase goes to when no route names one (and that a purchase recorded
/// before routing went to).
pub const DEFAULT_VTU_PROVIDER: &str = "topup";

/// The providers a category's service is bought from, in order: a purchase goes to the
/// first, and to the next only when the one before certainly did not take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VtuRoute {
    /// The category.
    pub category: VtuCategory,
    /// The service (`mtn`, `mtn-data`, `dstv`, ...), or `*` for every service of the
    /// category without a route of its own.
    pub service: String,
    /// Provider names, first choice first.
    pub providers: Vec<String>,
}

/// The VTU catalog.
#[derive(Debug, Clone, Default)]
pub struct VtuCatalog {
    /// Plans by id.
    pub plans: Vec<VtuPlan>,
    /// Face-value products.
    pub faces: Vec<FaceProduct>,
    /// Routes to providers.
    pub routes: Vec<VtuRoute>,
    /// Providers whose float is low (they refused for it, or it was read below its
    /// threshold): routes pass them by until it is read above again.
    pub low: Vec<String>,
    /// Providers an operator disabled: never routed to.
    pub disabled: Vec<String>,
}

impl VtuCatalog {
    /// A plan by id.
    pub fn plan(&self, id: u64) -> Option<&VtuPlan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// The providers a purchase of `service` in `category` goes to, in order: its own
    /// route, else the category's (`*`), else the default provider; disabled providers
    /// never, low ones only when no other is left. Empty: no provider may take it.
    pub fn route(&self, category: VtuCategory, service: &str) -> Vec<String> {
        let of = |svc: &str| {
            self.routes
                .iter()
                .find(|r| r.category == category && r.service.eq_ignore_ascii_case(svc))
                .map(|r| r.providers.clone())
                .filter(|p| !p.is_empty())
        };
        let route: Vec<String> = of(service.trim())
            .or_else(|| of("*"))
            .unwrap_or_else(|| vec![DEFAULT_VTU_PROVIDER.to_string()])
            .into_iter()
            .filter(|p| !self.disabled.contains(p))
            .collect();
        // Providers with a low float are passed by, unless the route has no other.
        let able: Vec<String> = route.iter().filter(|p| !self.low.contains(p)).cloned().collect();
        if able.is_empty() {
            route
        } else {
            able
        }
    }

    /// A face product.
    pub fn face(&self, category: VtuCategory, service: &str) -> Option<&FaceProduct> {
        self.faces.iter().find(|f| f.category == category && f.service.eq_ignore_ascii_case(service.trim()))
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

    /// The status a stored word names.
    pub fn parse(s: &str) -> Option<VtuStatus> {
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
    /// What the reseller buys besides the service itself: the cards or PINs of a recharge
    /// card or exam PIN purchase, the token of a prepaid meter. A success report without
    /// it is not settled: the transaction waits for a requery that brings it.
    pub fn missing_delivery(&self, outcome: &Outcome) -> Option<&'static str> {
        let Outcome::Success { meta, cards, .. } = outcome else { return None };
        match self.category {
            VtuCategory::RechargeCard | VtuCategory::Education
                if cards.len()
                    < self.request.get("quantity").and_then(serde_json::Value::as_u64).unwrap_or(1).max(1) as usize =>
            {
                Some("cards")
            }
            VtuCategory::Electricity
                if self.request.get("meter_type").and_then(|m| m.as_str()) == Some("prepaid")
                    && meta.get("token").and_then(|t| t.as_str()).is_none_or(str::is_empty) =>
            {
                Some("token")
            }
            _ => None,
        }
    }

    /// How a report of `outcome` contradicts this settled transaction, if it does: the
    /// provider delivering what kobo refunded. (A failure reported for a delivered
    /// purchase is a reversal claim: see [`VtuTx::reversal_claim`].)
    pub fn contradiction(&self, outcome: &Outcome) -> Option<&'static str> {
        match (self.status, outcome) {
            (VtuStatus::Failed, Outcome::Success { .. }) => {
                Some("the provider reports as delivered a purchase kobo failed and refunded")
            }
            _ => None,
        }
    }

    /// The reason, when `outcome` reports as failed a purchase kobo settled as delivered:
    /// the provider reversing it. Kobo confirms it with a requery before refunding.
    pub fn reversal_claim<'o>(&self, outcome: &'o Outcome) -> Option<&'o str> {
        match (self.status, outcome) {
            (VtuStatus::Success, Outcome::Failed { reason }) => Some(reason),
            _ => None,
        }
    }

    /// Whether this transaction was refunded after a reversal of its delivery.
    pub fn is_reversed(&self) -> bool {
        self.meta.get("reversed").and_then(serde_json::Value::as_bool) == Some(true)
    }

    /// The transaction as `outcome` settles it at `now` (a pure transition: the store
    /// applies it only while the stored one is still processing).
    pub fn settled(&self, outcome: &Outcome, now: String) -> VtuTx {
        let mut after = self.clone();
        after.updated_at = now;
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
            }
            Outcome::Failed { reason } => {
                after.status = VtuStatus::Failed;
                after.message = Some(reason.clone());
            }
        }
        after
    }

    /// The transaction as a provider's reversal of its delivery leaves it at `now`: failed,
    /// with a message that says so (the store applies it only while it is still a success,
    /// with the refund).
    pub fn reversed(&self, reason: &str, now: String) -> VtuTx {
        let mut after = self.clone();
        after.status = VtuStatus::Failed;
        after.updated_at = now.clone();
        after.message = Some(format!("Reversed by the provider after delivery: {reason}. The amount was refunded."));
        if let Some(m) = after.meta.as_object_mut() {
            m.insert("reversed".into(), serde_json::json!(true));
            m.insert("reversed_at".into(), serde_json::json!(now));
        }
        after
    }

    /// The webhook object, as the seed's example payload has it.
    pub fn webhook_object(&self) -> serde_json::Value {
        let naira =
            |k: Kobo| serde_json::Number::from_f64(k.as_naira_f64()).map(serde_json::Value::Number).unwrap_or_default();
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

/// An exam whose PINs `vtu_education` sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exam {
    /// WAEC result checker (the seed's default).
    Waec,
    /// NECO result token.
    Neco,
    /// NABTEB result checker.
    Nabteb,
    /// JAMB UTME registration ePIN (one per verified profile).
    Jamb,
}

impl Exam {
    /// Every exam, in listing order.
    pub const ALL: [Exam; 4] = [Exam::Waec, Exam::Neco, Exam::Nabteb, Exam::Jamb];

    /// The service name (`waec`, ...), as in the catalog and the `exam` field.
    pub const fn as_str(self) -> &'static str {
        match self {
            Exam::Waec => "waec",
            Exam::Neco => "neco",
            Exam::Nabteb => "nabteb",
            Exam::Jamb => "jamb",
        }
    }

    /// Reads an exam name (any case).
    pub fn parse(raw: &str) -> Option<Exam> {
        let raw = raw.trim();
        Exam::ALL.into_iter().find(|e| e.as_str().eq_ignore_ascii_case(raw))
    }

    /// Whether a purchase needs a candidate profile verified first (JAMB).
    pub const fn needs_profile(self) -> bool {
        matches!(self, Exam::Jamb)
    }

    /// Most PINs in one purchase: a JAMB ePIN belongs to one candidate.
    pub const fn max_quantity(self) -> u32 {
        match self {
            Exam::Jamb => 1,
            _ => 100,
        }
    }
}

/// A JAMB candidate's profile code: 10 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileId(String);

impl ProfileId {
    /// Reads a profile code.
    pub fn parse(raw: &str) -> Option<ProfileId> {
        is_digits(raw.trim(), 10, 10).then(|| ProfileId(raw.trim().to_string()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a cable purchase does to the smartcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionType {
    /// Switch to (or buy) the named plan: the plan's price × months.
    Change,
    /// Renew the current bouquet: the renewal amount the provider reports × months.
    Renew,
}

impl SubscriptionType {
    /// Reads `change` or `renew` (any case).
    pub fn parse(raw: &str) -> Option<SubscriptionType> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "change" => Some(SubscriptionType::Change),
            "renew" => Some(SubscriptionType::Renew),
            _ => None,
        }
    }

    /// The word.
    pub const fn as_str(self) -> &'static str {
        match self {
            SubscriptionType::Change => "change",
            SubscriptionType::Renew => "renew",
        }
    }
}

/// Most months one cable purchase pays for.
pub const MAX_CABLE_MONTHS: u32 = 12;

/// The charge for `units` of a product whose one unit costs `base` + `profit` before the
/// plan's `discount_bp`: the unit price a list shows, times the units (so a list and a
/// purchase never differ by a rounded kobo).
pub fn unit_charge(base: Kobo, profit: Kobo, discount_bp: u32, units: u32) -> Option<Kobo> {
    price(base, profit, discount_bp).checked_mul(i64::from(units))
}

/// How long after a delivery the reconciler asks the provider again whether it was
/// reversed: the seconds after settling of each check (then the transaction is left).
pub const REVERSAL_CHECKS: [i64; 3] = [15 * 60, 2 * 3600, 24 * 3600];

/// When the reversal check after `done` checks is due, for a transaction settled at
/// `settled_at` (unix seconds); `None` once every check was made.
pub fn reversal_check_due(settled_at: i64, done: usize) -> Option<i64> {
    REVERSAL_CHECKS.get(done).map(|after| settled_at.saturating_add(*after))
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

/// A prepaid or postpaid meter number: 11 to 13 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterNumber(String);

impl MeterNumber {
    /// Reads a meter number.
    pub fn parse(raw: &str) -> Option<MeterNumber> {
        is_digits(raw, 11, 13).then(|| MeterNumber(raw.to_string()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A cable TV smartcard or IUC number: 10 to 12 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartcardNumber(String);

impl SmartcardNumber {
    /// Reads a smartcard number.
    pub fn parse(raw: &str) -> Option<SmartcardNumber> {
        is_digits(raw, 10, 12).then(|| SmartcardNumber(raw.to_string()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A meter's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterType {
    /// Pays before use.
    Prepaid,
    /// Pays after use.
    Postpaid,
}

impl MeterType {
    /// Reads `prepaid` or `postpaid` (any case).
    pub fn parse(raw: &str) -> Option<MeterType> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "prepaid" => Some(MeterType::Prepaid),
            "postpaid" => Some(MeterType::Postpaid),
            _ => None,
        }
    }

    /// The word.
    pub const fn as_str(self) -> &'static str {
        match self {
            MeterType::Prepaid => "prepaid",
            MeterType::Postpaid => "postpaid",
        }
    }
}

/// A transaction reference of kobo's shape (`TRX` + 20 uppercase letters and digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trx(String);

impl Trx {
    /// Reads a reference; anything else is no kobo transaction.
    pub fn parse(raw: &str) -> Option<Trx> {
        is_trx(raw.trim()).then(|| Trx(raw.trim().to_string()))
    }

    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pricing_follows_the_rule() {
        assert_eq!(price(Kobo::new(12_000), Kobo::new(345), 0), Kobo::new(12_345));
        assert_eq!(price(Kobo::new(12_000), Kobo::new(345), 5_000), Kobo::new(12_173)); // 172.5 -> 173
        assert_eq!(price(Kobo::new(12_000), Kobo::new(345), 10_000), Kobo::new(12_000));
        assert_eq!(price(Kobo::new(12_000), Kobo::new(345), 20_000), Kobo::new(12_000), "never below base");
        assert_eq!(face_split(Kobo::new(10_000), 9_650, 150), (Kobo::new(9_650), Kobo::new(150)));
        assert_eq!(face_split(Kobo::new(333), 9_650, 150), (Kobo::new(322), Kobo::new(5)));
    }

    #[test]
    fn units_cost_one_listed_price_each() {
        let card = FaceProduct {
            category: VtuCategory::RechargeCard,
            service: "mtn".into(),
            name: "MTN".into(),
            base_bp: 9_600,
            profit_bp: 200,
            min: Kobo::naira(100),
            max: Kobo::naira(1_000),
            step: Kobo::naira(100),
        };
        let one = card.price(Kobo::naira(200), 7_500);
        assert_eq!(one, Kobo::new(19_300)); // 192 + 4 × 25%
        let (base, profit) = face_split(Kobo::naira(200), 9_600, 200);
        assert_eq!(unit_charge(base, profit, 7_500, 5), Some(Kobo::new(96_500)));
        assert_eq!(card.denominations(20).len(), 10);
        assert_eq!(card.denominations(3), vec![Kobo::naira(100), Kobo::naira(200), Kobo::naira(300)]);
    }

    #[test]
    fn words_and_schedules() {
        assert_eq!(Exam::parse(" JAMB "), Some(Exam::Jamb));
        assert_eq!(Exam::parse("gce"), None);
        assert!(Exam::Jamb.needs_profile() && !Exam::Waec.needs_profile());
        assert_eq!(SubscriptionType::parse("Renew"), Some(SubscriptionType::Renew));
        assert_eq!(SubscriptionType::parse("pause"), None);
        assert!(ProfileId::parse("4412345678").is_some() && ProfileId::parse("441234567").is_none());
        assert_eq!(reversal_check_due(1_000, 0), Some(1_900));
        assert_eq!(reversal_check_due(1_000, 2), Some(1_000 + 86_400));
        assert_eq!(reversal_check_due(1_000, 3), None);
    }

    #[test]
    fn a_reversal_is_claimed_only_against_a_delivery() {
        let mut tx = VtuTx {
            id: 1,
            trx: new_trx(),
            account_id: "a".into(),
            category: VtuCategory::Data,
            service_name: "mtn-data".into(),
            phone: "08012345678".into(),
            amount: Kobo::naira(500),
            base_amount: Kobo::naira(480),
            profit_amount: Kobo::naira(20),
            face_value: Kobo::naira(500),
            status: VtuStatus::Success,
            provider_ref: None,
            message: None,
            meta: serde_json::json!({}),
            cards: Vec::new(),
            request: serde_json::json!({}),
            created_at: "2026-12-03T10:00:00Z".into(),
            updated_at: "2026-12-03T10:00:00Z".into(),
        };
        let failed = Outcome::Failed { reason: "Reversed by the operator".into() };
        assert_eq!(tx.reversal_claim(&failed), Some("Reversed by the operator"));
        assert_eq!(tx.contradiction(&failed), None);
        let after = tx.reversed("Reversed by the operator", "2026-12-03T11:00:00Z".into());
        assert_eq!(after.status, VtuStatus::Failed);
        assert!(after.is_reversed() && after.message.as_deref().is_some_and(|m| m.contains("Reversed")));
        assert_eq!(after.reversal_claim(&failed), None, "a reversed purchase is not reversed again");
        tx.status = VtuStatus::Processing;
        assert_eq!(tx.reversal_claim(&failed), None);
    }

    #[test]
    fn trx_refs() {
        let a = new_trx();
        assert!(is_trx(&a));
        assert_ne!(a, new_trx());
        assert!(!is_trx("TRX123"));
    }
}
