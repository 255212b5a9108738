//! Domain types stored in the table, and their item form. Keys come from [`crate::keys`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::error::StoreError;
use crate::item::{n, s, str_list, Item, Reader};
use crate::keys;
use crate::money::Kobo;

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

/// An API access plan: discounts and rate limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Short id, e.g. `gold`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Discount on SMM sell rates, in basis points (250 = 2.5%).
    pub smm_discount_bp: u32,
    /// Discount on the VTU profit portion per category, in basis points.
    pub vtu_discount_bp: BTreeMap<VtuCategory, u32>,
    /// Requests per minute allowed for one key (0 = unlimited).
    pub key_rpm: u32,
    /// Requests per minute allowed from one source IP (0 = unlimited).
    pub ip_rpm: u32,
}

impl Plan {
    /// The item form.
    pub fn to_item(&self) -> Item {
        let vtu: HashMap<String, AttributeValue> =
            self.vtu_discount_bp.iter().map(|(c, bp)| (c.as_str().to_string(), n(bp))).collect();
        HashMap::from([
            ("PK".into(), s(keys::PLAN_PK)),
            ("SK".into(), s(keys::plan_sk(&self.id))),
            ("type".into(), s("plan")),
            ("plan_id".into(), s(&self.id)),
            ("name".into(), s(&self.name)),
            ("smm_discount_bp".into(), n(self.smm_discount_bp)),
            ("vtu_discount_bp".into(), AttributeValue::M(vtu)),
            ("key_rpm".into(), n(self.key_rpm)),
            ("ip_rpm".into(), n(self.ip_rpm)),
        ])
    }

    /// Reads a plan item.
    pub fn from_item(item: &Item) -> Result<Plan, StoreError> {
        let r = Reader::new(item);
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

/// A reseller account and its wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Random id, also embedded in the account's API keys.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Contact e-mail, if given.
    pub email: Option<String>,
    /// Contact phone (E.164), if given.
    pub phone: Option<String>,
    /// The plan that sets discounts and rate limits.
    pub plan_id: String,
    /// Whether API access is active (approved and not suspended).
    pub api_active: bool,
    /// Wallet balance.
    pub balance: Kobo,
    /// A spend may not take the balance below this.
    pub min_balance: Kobo,
    /// Keyed digest of the transaction PIN, if set. Never shown.
    #[serde(skip)]
    pub pin_digest: Option<String>,
    /// Consecutive wrong PINs.
    pub pin_failures: u32,
    /// Purchases are locked until this unix time after too many wrong PINs.
    pub pin_locked_until: Option<i64>,
    /// E.164 phone for SMS notices, when they are on.
    pub notice_phone: Option<String>,
    /// SMS when a spend takes the balance below this.
    pub low_balance_alert: Option<Kobo>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl Account {
    /// The item form, for creation.
    pub fn to_item(&self) -> Item {
        let mut m = HashMap::from([
            ("PK".into(), s(keys::account_pk(&self.id))),
            ("SK".into(), s(keys::ACCOUNT_SK)),
            ("GSI1PK".into(), s(keys::ACCOUNTS_GSI1PK)),
            ("GSI1SK".into(), s(keys::account_gsi1sk(&self.created_at, &self.id))),
            ("type".into(), s("account")),
            ("account_id".into(), s(&self.id)),
            ("name".into(), s(&self.name)),
            ("plan_id".into(), s(&self.plan_id)),
            ("api_active".into(), AttributeValue::Bool(self.api_active)),
            ("balance".into(), n(self.balance.0)),
            ("min_balance".into(), n(self.min_balance.0)),
            ("pin_failures".into(), n(self.pin_failures)),
            ("created_at".into(), s(&self.created_at)),
        ]);
        if let Some(v) = &self.email {
            m.insert("email".into(), s(v));
        }
        if let Some(v) = &self.phone {
            m.insert("phone".into(), s(v));
        }
        if let Some(v) = &self.pin_digest {
            m.insert("pin_digest".into(), s(v));
        }
        if let Some(v) = self.pin_locked_until {
            m.insert("pin_locked_until".into(), n(v));
        }
        if let Some(v) = &self.notice_phone {
            m.insert("notice_phone".into(), s(v));
        }
        if let Some(v) = self.low_balance_alert {
            m.insert("low_balance_alert".into(), n(v.0));
        }
        m
    }

    /// Reads an account item.
    pub fn from_item(item: &Item) -> Result<Account, StoreError> {
        let r = Reader::new(item);
        Ok(Account {
            id: r.s("account_id")?,
            name: r.s("name")?,
            email: r.opt_s("email")?,
            phone: r.opt_s("phone")?,
            plan_id: r.s("plan_id")?,
            api_active: r.bool("api_active")?,
            balance: r.kobo("balance")?,
            min_balance: r.opt_i64("min_balance")?.map(Kobo).unwrap_or_default(),
            pin_digest: r.opt_s("pin_digest")?,
            pin_failures: r.u32_or("pin_failures", 0)?,
            pin_locked_until: r.opt_i64("pin_locked_until")?,
            notice_phone: r.opt_s("notice_phone")?,
            low_balance_alert: r.opt_i64("low_balance_alert")?.map(Kobo),
            created_at: r.s("created_at")?,
        })
    }
}

/// A stored API key: its hash, never the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    /// Owner.
    pub account_id: String,
    /// Hex SHA-256 of the full key.
    #[serde(skip)]
    pub hash: String,
    /// Short id to name the key in the CLI and portal: the first 12 hex digits of the hash.
    pub key_id: String,
    /// A label chosen by the owner.
    pub label: String,
    /// A safe hint such as `kobo_abc…9xYz`.
    pub hint: String,
    /// Actions the key may call.
    pub scopes: Vec<Action>,
    /// Allowed source IPs or CIDR blocks; empty = any.
    pub ip_whitelist: Vec<String>,
    /// Allowed origin domains; empty = any.
    pub domain_whitelist: Vec<String>,
    /// When it was revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl ApiKeyRecord {
    /// The short id of a key hash.
    pub fn key_id_of(hash: &str) -> String {
        hash.chars().take(12).collect()
    }

    /// The item form.
    pub fn to_item(&self) -> Item {
        let scopes: Vec<String> = self.scopes.iter().map(|a| a.as_str().to_string()).collect();
        let mut m = HashMap::from([
            ("PK".into(), s(keys::account_pk(&self.account_id))),
            ("SK".into(), s(keys::key_sk(&self.hash))),
            ("type".into(), s("api_key")),
            ("account_id".into(), s(&self.account_id)),
            ("key_id".into(), s(&self.key_id)),
            ("label".into(), s(&self.label)),
            ("hint".into(), s(&self.hint)),
            ("scopes".into(), str_list(&scopes)),
            ("ip_whitelist".into(), str_list(&self.ip_whitelist)),
            ("domain_whitelist".into(), str_list(&self.domain_whitelist)),
            ("created_at".into(), s(&self.created_at)),
        ]);
        if let Some(v) = &self.revoked_at {
            m.insert("revoked_at".into(), s(v));
        }
        m
    }

    /// Reads a key item. Unknown scope names (from a newer version) are ignored.
    pub fn from_item(item: &Item) -> Result<ApiKeyRecord, StoreError> {
        let r = Reader::new(item);
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
            created_at: r.s("created_at")?,
        })
    }
}

/// One immutable ledger entry: every balance change writes exactly one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// UUID v7 (time ordered).
    pub id: String,
    /// Owner.
    pub account_id: String,
    /// Signed change of the balance.
    pub amount: Kobo,
    /// What kind of change: `credit`, `debit`, `order`, `refund`, `deposit`, ...
    pub kind: String,
    /// Human reason (operator credits and debits must give one).
    pub reason: String,
    /// The business item this entry belongs to, if any.
    pub reference: Option<String>,
    /// Who caused it: `operator`, `api`, `reconciler`, ...
    pub actor: String,
    /// RFC 3339 time.
    pub created_at: String,
}

impl LedgerEntry {
    /// The item form.
    pub fn to_item(&self) -> Item {
        let mut m = HashMap::from([
            ("PK".into(), s(keys::account_pk(&self.account_id))),
            ("SK".into(), s(keys::ledger_sk(&self.id))),
            ("type".into(), s("ledger")),
            ("entry_id".into(), s(&self.id)),
            ("account_id".into(), s(&self.account_id)),
            ("amount".into(), n(self.amount.0)),
            ("kind".into(), s(&self.kind)),
            ("reason".into(), s(&self.reason)),
            ("actor".into(), s(&self.actor)),
            ("created_at".into(), s(&self.created_at)),
        ]);
        if let Some(v) = &self.reference {
            m.insert("reference".into(), s(v));
        }
        m
    }

    /// Reads a ledger item.
    pub fn from_item(item: &Item) -> Result<LedgerEntry, StoreError> {
        let r = Reader::new(item);
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

/// An SMM service of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Service {
    /// Our service id (what resellers send as `service`).
    pub id: u64,
    /// Display name.
    pub name: String,
    /// API v2 type (`Default`, `Custom Comments`, ...).
    pub kind: String,
    /// Category.
    pub category: String,
    /// The upstream panel's service id.
    pub upstream_service: String,
    /// What upstream charges per 1000.
    pub cost_per_1000: Kobo,
    /// Our sell rate per 1000, before plan discounts.
    pub rate_per_1000: Kobo,
    /// Smallest quantity.
    pub min: u64,
    /// Largest quantity.
    pub max: u64,
    /// Whether refills are possible.
    pub refill: bool,
    /// Whether cancels are possible.
    pub cancel: bool,
    /// Whether resellers see and can order it.
    pub enabled: bool,
}

impl Service {
    /// The item form.
    pub fn to_item(&self) -> Item {
        HashMap::from([
            ("PK".into(), s(keys::SERVICE_PK)),
            ("SK".into(), s(keys::service_sk(self.id))),
            ("type".into(), s("service")),
            ("service_id".into(), n(self.id)),
            ("name".into(), s(&self.name)),
            ("kind".into(), s(&self.kind)),
            ("category".into(), s(&self.category)),
            ("upstream_service".into(), s(&self.upstream_service)),
            ("cost_per_1000".into(), n(self.cost_per_1000.0)),
            ("rate_per_1000".into(), n(self.rate_per_1000.0)),
            ("min".into(), n(self.min)),
            ("max".into(), n(self.max)),
            ("refill".into(), AttributeValue::Bool(self.refill)),
            ("cancel".into(), AttributeValue::Bool(self.cancel)),
            ("enabled".into(), AttributeValue::Bool(self.enabled)),
        ])
    }

    /// Reads a service item.
    pub fn from_item(item: &Item) -> Result<Service, StoreError> {
        let r = Reader::new(item);
        Ok(Service {
            id: r.u64("service_id")?,
            name: r.s("name")?,
            kind: r.opt_s("kind")?.unwrap_or_else(|| "Default".into()),
            category: r.opt_s("category")?.unwrap_or_default(),
            upstream_service: r.s("upstream_service")?,
            cost_per_1000: r.kobo("cost_per_1000")?,
            rate_per_1000: r.kobo("rate_per_1000")?,
            min: r.u64("min")?,
            max: r.u64("max")?,
            refill: r.bool("refill")?,
            cancel: r.bool("cancel")?,
            enabled: r.bool("enabled")?,
        })
    }
}

/// Where an order stands with the upstream panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamState {
    /// Not sent yet, or sent and certainly not received (connection refused): safe to send.
    Unsent,
    /// Claimed by one sender, which is sending it now.
    Sending,
    /// Upstream accepted it and gave an order id.
    Placed,
    /// Sent, but the answer was lost (timeout, 5xx): upstream may or may not have it.
    /// Never re-sent automatically; an operator resolves it.
    Unknown,
    /// Upstream refused it (its answer said so): refunded.
    Rejected,
}

impl UpstreamState {
    /// The stored word.
    pub const fn as_str(self) -> &'static str {
        match self {
            UpstreamState::Unsent => "unsent",
            UpstreamState::Sending => "sending",
            UpstreamState::Placed => "placed",
            UpstreamState::Unknown => "unknown",
            UpstreamState::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<UpstreamState> {
        [
            UpstreamState::Unsent,
            UpstreamState::Sending,
            UpstreamState::Placed,
            UpstreamState::Unknown,
            UpstreamState::Rejected,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// An SMM order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Order {
    /// Numeric id from the order counter.
    pub id: u64,
    /// Owner.
    pub account_id: String,
    /// Our service id.
    pub service_id: u64,
    /// Upstream service id at order time.
    pub upstream_service: String,
    /// The link to deliver to.
    pub link: String,
    /// Quantity ordered.
    pub quantity: u64,
    /// The plan rate per 1000 charged.
    pub rate_per_1000: Kobo,
    /// What was charged.
    pub charge: Kobo,
    /// What was refunded so far.
    pub refunded: Kobo,
    /// Our status.
    pub status: crate::smm::OrderStatus,
    /// Start count reported upstream.
    pub start_count: u64,
    /// Remains reported upstream.
    pub remains: u64,
    /// Upstream state.
    pub upstream: UpstreamState,
    /// Upstream order id, once placed.
    pub upstream_order: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 last change.
    pub updated_at: String,
}

impl Order {
    /// The item form.
    pub fn to_item(&self) -> Item {
        let mut m = HashMap::from([
            ("PK".into(), s(keys::account_pk(&self.account_id))),
            ("SK".into(), s(keys::order_sk(self.id))),
            ("type".into(), s("order")),
            ("order_id".into(), n(self.id)),
            ("account_id".into(), s(&self.account_id)),
            ("service_id".into(), n(self.service_id)),
            ("upstream_service".into(), s(&self.upstream_service)),
            ("link".into(), s(&self.link)),
            ("quantity".into(), n(self.quantity)),
            ("rate_per_1000".into(), n(self.rate_per_1000.0)),
            ("charge".into(), n(self.charge.0)),
            ("refunded".into(), n(self.refunded.0)),
            ("status".into(), s(self.status.as_str())),
            ("start_count".into(), n(self.start_count)),
            ("remains".into(), n(self.remains)),
            ("upstream_state".into(), s(self.upstream.as_str())),
            ("created_at".into(), s(&self.created_at)),
            ("updated_at".into(), s(&self.updated_at)),
        ]);
        if let Some(u) = &self.upstream_order {
            m.insert("upstream_order".into(), s(u));
        }
        if !self.status.is_final() {
            m.insert("GSI1PK".into(), s(keys::OPEN_ORDERS_GSI1PK));
            m.insert("GSI1SK".into(), s(keys::open_order_gsi1sk(&self.updated_at, self.id)));
        }
        m
    }

    /// Reads an order item.
    pub fn from_item(item: &Item) -> Result<Order, StoreError> {
        let r = Reader::new(item);
        let status = r.s("status")?;
        let upstream = r.s("upstream_state")?;
        Ok(Order {
            id: r.u64("order_id")?,
            account_id: r.s("account_id")?,
            service_id: r.u64("service_id")?,
            upstream_service: r.s("upstream_service")?,
            link: r.s("link")?,
            quantity: r.u64("quantity")?,
            rate_per_1000: r.kobo("rate_per_1000")?,
            charge: r.kobo("charge")?,
            refunded: r.kobo("refunded")?,
            status: crate::smm::OrderStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt("order".into(), format!("status {status:?}")))?,
            start_count: r.u64("start_count")?,
            remains: r.u64("remains")?,
            upstream: UpstreamState::parse(&upstream)
                .ok_or_else(|| StoreError::Corrupt("order".into(), format!("upstream_state {upstream:?}")))?,
            upstream_order: r.opt_s("upstream_order")?,
            created_at: r.s("created_at")?,
            updated_at: r.s("updated_at")?,
        })
    }
}

/// Current time as RFC 3339 with second precision, UTC (`2026-04-05T12:00:00Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Current unix time in seconds.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Where a rate window takes "now" from: the system clock, or an instant a test sets, so
/// no test depends on the wall clock falling inside one window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock(Option<i64>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock standing still at `unix` seconds.
    pub fn fixed(unix: i64) -> Clock {
        Clock(Some(unix))
    }

    /// Unix seconds now.
    pub fn now_unix(&self) -> i64 {
        self.0.unwrap_or_else(now_unix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            balance: Kobo(5_000_000),
            min_balance: Kobo(100),
            pin_digest: Some("ff".into()),
            pin_failures: 2,
            pin_locked_until: Some(99),
            notice_phone: Some("+2348012345678".into()),
            low_balance_alert: Some(Kobo(50_000)),
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
