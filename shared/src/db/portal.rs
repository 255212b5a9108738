//! The Developer Portal's items: logins, sessions, portal OTPs, API access requests,
//! refused API requests, plan offers and a key's `last_used`.

use aws_sdk_dynamodb::types::AttributeValue;

use super::accounts::{account_key, api_key_key};
use super::item::{n, s, Key, Reader, Record, Writer};
use super::keys;
use super::table::{Change, Query};
use super::tx::{Tx, TxError};
use super::Store;
use crate::domain::account::{Account, LedgerEntry};
use crate::domain::money::Kobo;
use crate::domain::portal::{
    AccessRequest, AccessStatus, Kyc, OtpPurpose, PlanOffer, Refusal, RefusedBy, Session, KEY_LAST_USED_EVERY_SECS,
    REFUSAL_TTL_SECS, SESSION_TOUCH_SECS,
};
use crate::domain::smm::{Order, OrderStatus};
use crate::domain::vtu::VtuTx;
use crate::domain::withdrawal::OtpSession;
use crate::error::StoreError;

/// Most items one history page reads to fill itself (a filter matching few items gives a
/// shorter page with a link to the next).
pub const HISTORY_SCAN: usize = 500;

/// A portal login: email → account, with the password's argon2id hash (PHC string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// Normalized email.
    pub email: String,
    /// Whose.
    pub account_id: String,
    /// argon2id PHC string.
    pub password_hash: String,
}

impl Record for Login {
    const TYPE: &'static str = "login";
    fn key(&self) -> Key {
        Key::new(keys::login_pk(&self.email), keys::LOGIN_SK)
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("email", &self.email).s("account_id", &self.account_id).s("password_hash", &self.password_hash)
    }
    fn read(r: &Reader<'_>) -> Result<Login, StoreError> {
        Ok(Login { email: r.s("email")?, account_id: r.s("account_id")?, password_hash: r.s("password_hash")? })
    }
}

impl Record for Session {
    const TYPE: &'static str = "session";
    fn key(&self) -> Key {
        Key::new(keys::account_pk(&self.account_id), keys::session_sk(&self.token_hash))
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("account_id", &self.account_id)
            .s("csrf", &self.csrf)
            .n("created_unix", self.created_at)
            .n("last_seen", self.last_seen)
            .n("expires_at", self.expires_at())
    }
    fn read(r: &Reader<'_>) -> Result<Session, StoreError> {
        let sk = r.s("SK")?;
        Ok(Session {
            account_id: r.s("account_id")?,
            token_hash: sk.strip_prefix(keys::SESSION_SK_PREFIX).unwrap_or(&sk).to_string(),
            csrf: r.s("csrf")?,
            created_at: r.i64("created_unix")?,
            last_seen: r.i64("last_seen")?,
        })
    }
}

/// A portal OTP sent through Hubtel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalOtp {
    /// Whose.
    pub account_id: String,
    /// What for.
    pub purpose: OtpPurpose,
    /// The phone it went to.
    pub phone: String,
    /// Hubtel's session.
    pub session: OtpSession,
    /// Valid until (unix s).
    pub expires_at: i64,
    /// Wrong codes so far.
    pub tries: u32,
}

fn otp_key(account_id: &str, purpose: OtpPurpose) -> Key {
    Key::new(keys::account_pk(account_id), keys::portal_otp_sk(purpose.as_str()))
}

impl Record for PortalOtp {
    const TYPE: &'static str = "portal_otp";
    fn key(&self) -> Key {
        otp_key(&self.account_id, self.purpose)
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("account_id", &self.account_id)
            .s("purpose", self.purpose.as_str())
            .s("phone", &self.phone)
            .s("request_id", &self.session.request_id)
            .s("prefix", &self.session.prefix)
            .n("expires_at", self.expires_at)
            .n("tries", self.tries)
    }
    fn read(r: &Reader<'_>) -> Result<PortalOtp, StoreError> {
        Ok(PortalOtp {
            account_id: r.s("account_id")?,
            purpose: r.word("purpose", |p| match p {
                "verify" => Some(OtpPurpose::VerifyPhone),
                "reset" => Some(OtpPurpose::ResetPassword),
                _ => None,
            })?,
            phone: r.s("phone")?,
            session: OtpSession { request_id: r.s("request_id")?, prefix: r.s("prefix")? },
            expires_at: r.i64("expires_at")?,
            tries: r.u32_or("tries", 0)?,
        })
    }
}

fn access_key(account_id: &str, id: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::access_sk(id))
}

fn access_open_key(account_id: &str) -> Key {
    Key::new(keys::account_pk(account_id), keys::ACCESS_OPEN_SK)
}

impl Record for AccessRequest {
    const TYPE: &'static str = "access_request";
    fn key(&self) -> Key {
        access_key(&self.account_id, &self.id)
    }
    fn gsi1(&self) -> Option<(String, String)> {
        (self.status == AccessStatus::Pending)
            .then(|| (keys::PENDING_ACCESS_GSI1PK.into(), format!("{}#{}", self.created_at, self.id)))
    }
    fn write(&self, w: Writer) -> Writer {
        let w = w
            .s("request_id", &self.id)
            .s("account_id", &self.account_id)
            .s("plan_id", &self.plan_id)
            .kobo("price", self.price)
            .s("status", self.status.as_str())
            .s("created_at", &self.created_at)
            .opt_s("reason", self.reason.as_ref());
        match &self.kyc {
            Some(k) => w.s("kyc_business", &k.business_name).s("kyc_id", &k.id_number).s("kyc_address", &k.address),
            None => w,
        }
    }
    fn read(r: &Reader<'_>) -> Result<AccessRequest, StoreError> {
        let kyc = match r.opt_s("kyc_business")? {
            Some(business_name) => Some(Kyc {
                business_name,
                id_number: r.opt_s("kyc_id")?.unwrap_or_default(),
                address: r.opt_s("kyc_address")?.unwrap_or_default(),
            }),
            None => None,
        };
        Ok(AccessRequest {
            id: r.s("request_id")?,
            account_id: r.s("account_id")?,
            plan_id: r.s("plan_id")?,
            price: r.kobo("price")?,
            status: r.word("status", AccessStatus::parse)?,
            kyc,
            reason: r.opt_s("reason")?,
            created_at: r.s("created_at")?,
        })
    }
}

impl Record for Refusal {
    const TYPE: &'static str = "refusal";
    fn key(&self) -> Key {
        Key::new(keys::account_pk(&self.account_id), keys::refused_sk(self.window_start, self.by.as_str(), &self.ip))
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("account_id", &self.account_id)
            .s("key_id", &self.key_id)
            .s("check", self.by.as_str())
            .s("ip", &self.ip)
            .s("action", &self.action)
            .s("message", &self.message)
            .n("window_start", self.window_start)
            .n("count", self.count)
    }
    fn read(r: &Reader<'_>) -> Result<Refusal, StoreError> {
        Ok(Refusal {
            account_id: r.s("account_id")?,
            key_id: r.opt_s("key_id")?.unwrap_or_default(),
            by: r.word("check", RefusedBy::parse)?,
            ip: r.s("ip")?,
            action: r.opt_s("action")?.unwrap_or_default(),
            message: r.opt_s("message")?.unwrap_or_default(),
            window_start: r.i64("window_start")?,
            count: r.u64("count")?,
        })
    }
}

/// Why an access request could not be made.
#[derive(Debug)]
pub enum AccessRequestError {
    /// Another request of the account is still pending.
    AlreadyPending,
    /// The wallet does not cover the price.
    InsufficientBalance,
    /// The store failed; nothing was committed unless it says `Unknown`.
    Store(StoreError),
}

impl Store {
    /// A page of the account's ledger, newest first, of one `kind` or all, after `cursor`.
    pub async fn ledger_page(
        &self,
        account_id: &str,
        kind: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LedgerEntry>, Option<String>), StoreError> {
        let keep = |item: &super::item::Item| {
            kind.is_none_or(|k| item.get("kind").and_then(|v| v.as_s().ok()).is_some_and(|v| v == k))
        };
        let pk = keys::account_pk(account_id);
        let (items, next) = self.query_page(&pk, keys::LEDGER_SK_PREFIX, cursor, limit, HISTORY_SCAN, keep).await?;
        Ok((items.iter().map(LedgerEntry::from_item).collect::<Result<_, _>>()?, next))
    }

    /// A page of the account's SMM orders, newest first, of one status or all.
    pub async fn orders_page(
        &self,
        account_id: &str,
        status: Option<OrderStatus>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Order>, Option<String>), StoreError> {
        let keep = |item: &super::item::Item| {
            status.is_none_or(|st| item.get("status").and_then(|v| v.as_s().ok()).is_some_and(|v| v == st.as_str()))
        };
        let pk = keys::account_pk(account_id);
        let (items, next) = self.query_page(&pk, keys::ORDER_SK_PREFIX, cursor, limit, HISTORY_SCAN, keep).await?;
        Ok((items.iter().map(Order::from_item).collect::<Result<_, _>>()?, next))
    }

    /// A page of the account's VTU transactions, newest first: their debits in the ledger
    /// (time ordered) and the transactions they name, read in one batch.
    pub async fn vtu_page(
        &self,
        account_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<VtuTx>, Option<String>), StoreError> {
        let (debits, next) = self.ledger_page(account_id, Some("vtu"), cursor, limit).await?;
        let trxs: Vec<&str> =
            debits.iter().filter_map(|e| e.reference.as_deref().and_then(|r| r.strip_prefix("vtu:"))).collect();
        let keys: Vec<Key> = trxs.iter().map(|t| super::vtu::vtu_key(account_id, t)).collect();
        let mut found: Vec<VtuTx> =
            self.batch_get(&keys).await?.iter().map(VtuTx::from_item).collect::<Result<_, _>>()?;
        found.sort_by_key(|t| trxs.iter().position(|x| *x == t.trx));
        Ok((found, next))
    }

    /// Creates an account and its login in one transaction: `Ok(false)` when the email
    /// is taken (nothing written).
    pub async fn create_login(&self, login: &Login, account: &Account) -> Result<bool, StoreError> {
        let tx = Tx::new(self).put_new("login", login.to_item())?.put_new("account", account.to_item())?;
        match tx.commit().await {
            Ok(()) => Ok(true),
            Err(e) if e.failed("login") => Ok(false),
            Err(TxError::ConditionFailed(names)) => {
                Err(StoreError::Conflict(format!("account creation refused by {names:?}")))
            }
            Err(TxError::Store(e)) => Err(e),
        }
    }

    /// The login of an email.
    pub async fn get_login(&self, email: &str) -> Result<Option<Login>, StoreError> {
        self.get(&Key::new(keys::login_pk(email), keys::LOGIN_SK)).await
    }

    /// Creates or replaces a login (the operator's and the demo's).
    pub async fn put_login(&self, login: &Login) -> Result<(), StoreError> {
        self.put(login.to_item()).await
    }

    /// Sets a login's password hash.
    pub async fn set_password_hash(&self, email: &str, hash: &str) -> Result<(), StoreError> {
        let key = Key::new(keys::login_pk(email), keys::LOGIN_SK);
        self.update(&key, Change::new().set("password_hash", s(hash)).if_exists()).await.map(|_| ())
    }

    /// Stores a new session.
    pub async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        self.put_new(session.to_item()).await
    }

    /// A session and its account, in one strongly consistent `BatchGetItem`.
    pub async fn session_wave(
        &self,
        account_id: &str,
        token_hash: &str,
    ) -> Result<(Option<Session>, Option<Account>), StoreError> {
        let session_key = Key::new(keys::account_pk(account_id), keys::session_sk(token_hash));
        let found = self.batch_get(&[account_key(account_id), session_key]).await?;
        let (mut session, mut account) = (None, None);
        for item in found {
            match item.get("type").and_then(|t| t.as_s().ok()).map(String::as_str) {
                Some(Session::TYPE) => session = Some(Session::from_item(&item)?),
                Some(Account::TYPE) => account = Some(Account::from_item(&item)?),
                _ => {}
            }
        }
        Ok((session, account))
    }

    /// Records a request on a session at most every [`SESSION_TOUCH_SECS`].
    pub async fn touch_session(&self, session: &Session, now: i64) -> Result<(), StoreError> {
        if now - session.last_seen < SESSION_TOUCH_SECS {
            return Ok(());
        }
        let change = Change::new().set("last_seen", n(now)).if_exists().if_expr(
            "{last_seen} < :now",
            &["last_seen"],
            vec![(":now", n(now))],
        );
        self.transition(&session.key(), change).await.map(|_| ())
    }

    /// Ends one session.
    pub async fn delete_session(&self, account_id: &str, token_hash: &str) -> Result<(), StoreError> {
        self.delete(&Key::new(keys::account_pk(account_id), keys::session_sk(token_hash))).await
    }

    /// Ends every session of an account; answers how many there were.
    pub async fn delete_sessions(&self, account_id: &str) -> Result<usize, StoreError> {
        let q = Query::partition(keys::account_pk(account_id)).prefix(keys::SESSION_SK_PREFIX);
        let sessions: Vec<Session> = self.query_records(&q).await?;
        for sess in &sessions {
            self.delete(&sess.key()).await?;
        }
        Ok(sessions.len())
    }

    /// Stores a portal OTP (replacing an earlier one of the same purpose).
    pub async fn put_portal_otp(&self, otp: &PortalOtp) -> Result<(), StoreError> {
        self.put(otp.to_item()).await
    }

    /// The account's portal OTP for `purpose`.
    pub async fn get_portal_otp(&self, account_id: &str, purpose: OtpPurpose) -> Result<Option<PortalOtp>, StoreError> {
        self.get(&otp_key(account_id, purpose)).await
    }

    /// Takes one try of a portal OTP before its code is checked: `false` when it has none
    /// left (or is gone).
    pub async fn take_portal_otp_try(
        &self,
        account_id: &str,
        purpose: OtpPurpose,
        max: u32,
    ) -> Result<bool, StoreError> {
        let change =
            Change::new().add("tries", n(1)).if_exists().if_expr("{tries} < :max", &["tries"], vec![(":max", n(max))]);
        self.transition(&otp_key(account_id, purpose), change).await
    }

    /// Removes a used portal OTP.
    pub async fn delete_portal_otp(&self, account_id: &str, purpose: OtpPurpose) -> Result<(), StoreError> {
        self.delete(&otp_key(account_id, purpose)).await
    }

    /// Marks the phone verified: it becomes the account's phone and payout phone.
    pub async fn set_verified_phone(&self, account_id: &str, phone: &str) -> Result<(), StoreError> {
        let change = Change::new().set("phone", s(phone)).set("payout_phone", s(phone)).if_exists();
        self.update(&account_key(account_id), change).await.map(|_| ())
    }

    /// What each plan costs to request (plans without an offer are not listed).
    pub async fn plan_offers(&self) -> Result<Vec<PlanOffer>, StoreError> {
        let items = self.query(&Query::partition(keys::PLAN_PK).prefix("PLAN#")).await?;
        let mut out = Vec::new();
        for item in &items {
            let r = Reader::new(item);
            if let Some(price) = r.opt_i64("offer_price")? {
                out.push(PlanOffer {
                    plan_id: r.s("plan_id")?,
                    price: Kobo::new(price),
                    kyc_required: r.opt_s("offer_kyc")?.as_deref() == Some("yes"),
                });
            }
        }
        Ok(out)
    }

    /// Offers a plan in the portal at `price`, with or without KYC.
    pub async fn set_plan_offer(&self, plan_id: &str, price: Kobo, kyc_required: bool) -> Result<(), StoreError> {
        let key = Key::new(keys::PLAN_PK, keys::plan_sk(plan_id));
        let change = Change::new()
            .set("offer_price", n(price.as_i64()))
            .set("offer_kyc", s(if kyc_required { "yes" } else { "no" }))
            .if_exists();
        self.update(&key, change).await.map(|_| ())
    }

    /// Charges `request.price` and records the request, in one transaction with its
    /// ledger entry; at most one pending request per account.
    /// `min_balance` is the account's minimum balance as read: the wallet must cover the
    /// price above it, and a changed minimum refuses the charge (as for every spend).
    pub async fn request_access(
        &self,
        request: &AccessRequest,
        entry: &LedgerEntry,
        min_balance: Kobo,
    ) -> Result<(), AccessRequestError> {
        let need = request.price.checked_add(min_balance).ok_or(AccessRequestError::InsufficientBalance)?;
        let floor = super::Floor::Spend { need, min_balance };
        let open =
            Writer(access_open_key(&request.account_id).item()).s("type", "access_open").s("request_id", &request.id).0;
        let tx = Tx::new(self)
            .balance(entry, floor)
            .and_then(|t| t.put_new("open", open))
            .and_then(|t| t.put_new("request", request.to_item()))
            .map_err(AccessRequestError::Store)?;
        match tx.commit().await {
            Ok(()) => Ok(()),
            Err(e) if e.failed("open") => Err(AccessRequestError::AlreadyPending),
            Err(e) if e.failed("balance") => Err(AccessRequestError::InsufficientBalance),
            Err(TxError::ConditionFailed(names)) => {
                Err(AccessRequestError::Store(StoreError::Conflict(format!("access request refused by {names:?}"))))
            }
            Err(TxError::Store(e)) => Err(AccessRequestError::Store(e)),
        }
    }

    /// An access request of an account.
    pub async fn get_access_request(&self, account_id: &str, id: &str) -> Result<Option<AccessRequest>, StoreError> {
        self.get(&access_key(account_id, id)).await
    }

    /// The account's access requests, newest first.
    pub async fn access_requests(&self, account_id: &str) -> Result<Vec<AccessRequest>, StoreError> {
        let q = Query::partition(keys::account_pk(account_id)).prefix(keys::ACCESS_SK_PREFIX).newest_first();
        self.query_records(&q).await
    }

    /// Every pending access request, oldest first.
    pub async fn pending_access_requests(&self) -> Result<Vec<AccessRequest>, StoreError> {
        self.query_records(&Query::gsi1(keys::PENDING_ACCESS_GSI1PK)).await
    }

    /// Approves a pending request: the plan is set and API access turned on, in one
    /// transaction guarded by the request's status. `false` when it was not pending.
    pub async fn approve_access(&self, r: &AccessRequest) -> Result<bool, StoreError> {
        let account =
            Change::new().set("plan_id", s(&r.plan_id)).set("api_active", AttributeValue::Bool(true)).if_exists();
        Tx::new(self)
            .update("request", &r.key(), settle_change(AccessStatus::Approved, None))?
            .update("account", &account_key(&r.account_id), account)?
            .delete("open", &access_open_key(&r.account_id))?
            .commit_once()
            .await
    }

    /// Rejects a pending request and refunds its price, in one transaction guarded by the
    /// request's status: whoever calls it twice, the refund happens once. `false` when it
    /// was not pending.
    pub async fn reject_access(
        &self,
        r: &AccessRequest,
        reason: &str,
        refund: &LedgerEntry,
    ) -> Result<bool, StoreError> {
        Tx::new(self)
            .update("request", &r.key(), settle_change(AccessStatus::Rejected, Some(reason)))?
            .balance(refund, super::Floor::None)?
            .delete("open", &access_open_key(&r.account_id))?
            .commit_once()
            .await
    }

    /// Counts a refused API request (one item per minute, check and IP).
    pub async fn record_refusal(&self, r: &Refusal) -> Result<(), StoreError> {
        let change = Change::new()
            .add("count", n(1))
            .set("type", s(Refusal::TYPE))
            .set("account_id", s(&r.account_id))
            .set("key_id", s(&r.key_id))
            .set("check", s(r.by.as_str()))
            .set("ip", s(&r.ip))
            .set("action", s(&r.action))
            .set("message", s(&r.message))
            .set("window_start", n(r.window_start))
            .set_if_absent("expires_at", n(r.window_start + REFUSAL_TTL_SECS));
        self.update(&r.key(), change).await.map(|_| ())
    }

    /// The account's latest refused requests, newest first.
    pub async fn refusals(&self, account_id: &str, limit: usize) -> Result<Vec<Refusal>, StoreError> {
        let q =
            Query::partition(keys::account_pk(account_id)).prefix(keys::REFUSED_SK_PREFIX).newest_first().limit(limit);
        self.query_records(&q).await
    }

    /// Writes a key's `last_used` when the stored one is more than an hour old: `false`
    /// when another request already did.
    pub async fn touch_key(&self, account_id: &str, key_hash: &str, now: i64) -> Result<bool, StoreError> {
        let change = Change::new().set("last_used", n(now)).if_exists().if_expr(
            "attribute_not_exists({last_used}) OR {last_used} < :since",
            &["last_used"],
            vec![(":since", n(now - KEY_LAST_USED_EVERY_SECS))],
        );
        self.transition(&api_key_key(account_id, key_hash), change).await
    }

    /// Retires a key at `at` (a roll's grace), unless it is revoked already.
    pub async fn retire_key(&self, account_id: &str, key_hash: &str, at: i64) -> Result<(), StoreError> {
        let change = Change::new().set("retire_at", n(at)).if_exists();
        self.update(&api_key_key(account_id, key_hash), change).await.map(|_| ())
    }
}

fn settle_change(to: AccessStatus, reason: Option<&str>) -> Change {
    let change =
        Change::new().set("status", s(to.as_str())).leave_gsi1().if_eq("status", s(AccessStatus::Pending.as_str()));
    match reason {
        Some(r) => change.set("reason", s(r)),
        None => change,
    }
}
