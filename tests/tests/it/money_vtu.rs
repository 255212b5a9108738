//! VTU money under faults (issue 12, defects 1, 4, 6, 7): each test failed before its fix.
//! A stack of its own: these tests queue simulator outcomes for every purchase, so they
//! take turns ([`SERIAL`]) and share the stack with nobody else.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use kobo_shared::domain::vtu::{Outcome, VtuCategory, VtuStatus, VtuTx};
use kobo_shared::flows::{accounts, vtu};
use kobo_shared::upstream::topup::{Customer, TopupRequest, TopupResult, TopupState};
use kobo_shared::upstream::{TopupProvider, UpstreamError};
use kobo_shared::{Kobo, Store};
use kobo_tests::{new_reseller, own_stack, ApiClient, ResellerSpec, Stack, StackSlot};
use serde_json::Value;

static SLOT: StackSlot = StackSlot::new();
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn stack() -> &'static Stack {
    own_stack(&SLOT, "money-vtu")
}

async fn reseller(s: &Stack, store: &Store, balance: Kobo) -> (String, String) {
    let (acct, key) = new_reseller(store, ResellerSpec { balance, ..Default::default() }).await;
    accounts::set_pin(store, &s.pepper().await, &acct, "1234").await.expect("setting the reseller's PIN");
    (acct, key)
}

async fn settled(c: &ApiClient, trx: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = c.vtu_status(trx).await.1;
        if last["status"] != "processing" {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    last
}

/// Defect 6: a recharge card the provider answered `pending` and settled later by its
/// success callback (which, as the seed says, carries no cards) gets its cards: they are
/// fetched before settling. Before the fix it settled as success with no cards.
#[tokio::test]
async fn a_recharge_card_settled_by_its_success_callback_carries_its_cards() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    let (_, key) = reseller(s, &store, Kobo::naira(10_000)).await;
    let c = ApiClient::new(s, &key);
    s.topup_next("pending_success", 1, "").await;
    let (st, v) = c.vtu_recharge_card("glo", "500", 3, "1234").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "processing", "the provider answered pending: {v}");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();
    let after = settled(&c, &trx).await;
    assert_eq!(after["status"], "success", "{after}");
    assert_eq!(after["cards"].as_array().map(Vec::len), Some(3), "the cards of a callback-settled purchase: {after}");
}

/// Defect 7: a purchase retried with its idempotency key answers the first purchase even
/// when the balance could no longer pay for it, or the PIN has been locked since: the key
/// is looked up first. Before the fix the retry answered "Insufficient balance".
#[tokio::test]
async fn a_retried_purchase_answers_the_first_whatever_the_balance_or_pin_say_now() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    let (acct, key) = reseller(s, &store, Kobo::naira(1_000)).await;
    let first_client = ApiClient::new(s, &key).with_idempotency_key(&format!("lost-answer-{}", kobo_tests::unique()));
    let (st, first) = first_client.vtu_airtime("mtn", "08037770001", "800", "1234").await;
    assert_eq!(st, 200, "{first}");
    // Spend what is left, so a second purchase could not be paid.
    let other = ApiClient::new(s, &key);
    let (st, v) = other.vtu_airtime("mtn", "08037770002", "150", "1234").await;
    assert_eq!(st, 200, "{v}");
    let balance = other.balance().await;
    let (st, again) = first_client.vtu_airtime("mtn", "08037770001", "800", "1234").await;
    assert_eq!(st, 200, "a retry with the same key is the same purchase: {again}");
    assert_eq!(again["trx"], first["trx"], "{again}");
    // Lock the PIN with five wrong ones; the retry still answers the first purchase.
    for _ in 0..5 {
        let _ = other.vtu_airtime("mtn", "08037770003", "50", "0000").await;
    }
    let (st, locked) = other.vtu_airtime("mtn", "08037770003", "50", "1234").await;
    assert_eq!(st, 403, "the PIN is locked now: {locked}");
    let (st, again) = first_client.vtu_airtime("mtn", "08037770001", "800", "1234").await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(again["trx"], first["trx"], "{again}");
    assert_eq!(other.balance().await, balance, "no retry charged anything");
    let a = store.get_account(&acct).await.ok().flatten().unwrap_or_else(|| panic!("no account"));
    assert!(accounts::check_ledger(&store, &a).await.expect("checking the ledger").ok());
}

/// Defect 1: requeries answered 403, 409, 429 or 500 say nothing about the purchase: a
/// purchase whose answer was lost stays processing, unrefunded, however often the
/// reconciler asks, and settles once the provider answers. Before the fix a 4xx requery
/// failed and refunded a purchase the provider had delivered.
#[tokio::test]
async fn requeries_that_say_nothing_never_fail_or_refund_a_purchase() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    let (acct, key) = reseller(s, &store, Kobo::naira(5_000)).await;
    let c = ApiClient::new(s, &key);
    // Delivered, but answered after kobo gave up: processing.
    s.topup_next("timeout", 1, "08037770101").await;
    let (st, v) = c.vtu_airtime("mtn", "08037770101", "500", "1234").await;
    assert_eq!(st, 200, "{v}");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();
    assert_eq!(v["status"], "processing", "{v}");
    let paid = c.balance().await;
    let hostile = |p: f64| {
        let base = s.topup_base.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/control/chaos"))
                .json(&serde_json::json!({"seed": 5, "p": p}))
                .send()
                .await
                .expect("setting the provider's hostile mode");
        }
    };
    hostile(1.0).await;
    let rec = s.reconciler().await;
    for _ in 0..6 {
        rec.run_vtu_once().await.expect("a requery pass");
    }
    let stats: Value = reqwest::get(format!("{}/control/stats", s.topup_base))
        .await
        .expect("the provider's stats")
        .json()
        .await
        .unwrap_or_default();
    hostile(0.0).await;
    let hostile_4xx: u64 =
        ["requery_403", "requery_409", "requery_429"].iter().map(|k| stats["hostile"][k].as_u64().unwrap_or(0)).sum();
    assert!(hostile_4xx > 0, "the requeries met 4xx answers: {stats}");
    let (_, now) = c.vtu_status(&trx).await;
    assert_eq!(now["status"], "processing", "nothing final was said: {now}");
    assert_eq!(c.balance().await, paid, "nothing refunded");
    rec.run_vtu_once().await.expect("a requery pass with the provider answering");
    let (_, done) = c.vtu_status(&trx).await;
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(c.balance().await, paid);
    let a = store.get_account(&acct).await.ok().flatten().unwrap_or_else(|| panic!("no account"));
    assert!(accounts::check_ledger(&store, &a).await.expect("checking the ledger").ok());
}

/// A provider that says nothing final about the purchases in `stuck` (its requery answers
/// an ambiguous error) and reports every other one delivered.
struct SilentOnSome {
    stuck: HashSet<String>,
    requeries: AtomicUsize,
}

impl TopupProvider for SilentOnSome {
    async fn purchase(&self, _r: &TopupRequest) -> Result<TopupResult, UpstreamError> {
        Err(UpstreamError::Ambiguous("not used".into()))
    }
    async fn requery(&self, reference: &str) -> Result<Option<TopupResult>, UpstreamError> {
        self.requeries.fetch_add(1, Ordering::SeqCst);
        if self.stuck.contains(reference) {
            return Err(UpstreamError::Ambiguous("requery answered 429".into()));
        }
        Ok(Some(TopupResult {
            state: TopupState::Success,
            recharge_id: Some(format!("R-{reference}")),
            operator_ref: None,
            token: None,
            cards: Vec::new(),
            electricity: Default::default(),
        }))
    }
    async fn verify_cable(&self, _s: &str, _c: &str) -> Result<Customer, UpstreamError> {
        Err(UpstreamError::Ambiguous("not used".into()))
    }
    async fn verify_meter(&self, _s: &str, _t: &str, _m: &str) -> Result<Customer, UpstreamError> {
        Err(UpstreamError::Ambiguous("not used".into()))
    }
    async fn verify_profile(&self, _e: &str, _p: &str) -> Result<Customer, UpstreamError> {
        Err(UpstreamError::Ambiguous("not used".into()))
    }
}

fn processing(account: &str, id: u64, created_at: &str) -> VtuTx {
    let trx = kobo_shared::domain::vtu::new_trx();
    VtuTx {
        id,
        trx,
        account_id: account.to_string(),
        category: VtuCategory::Airtime,
        service_name: "mtn".into(),
        phone: "08030000000".into(),
        amount: Kobo::naira(100),
        base_amount: Kobo::naira(98),
        profit_amount: Kobo::naira(2),
        face_value: Kobo::naira(100),
        status: VtuStatus::Processing,
        provider_ref: None,
        message: None,
        meta: serde_json::json!({}),
        cards: Vec::new(),
        request: serde_json::json!({}),
        created_at: created_at.to_string(),
        updated_at: created_at.to_string(),
    }
}

/// Defect 4: 120 purchases the provider says nothing final about are older than one it
/// has delivered; a reconciler pass still settles the newer one (every processing
/// purchase is looked at, not the 100 oldest), and leaves the others processing,
/// unrefunded. Before the fix the newer one was never looked at.
#[tokio::test]
async fn stuck_purchases_never_starve_a_newer_one_that_can_settle() {
    use kobo_shared::db::item::Record;
    let t = kobo_tests::test_app().await;
    let store = &t.store;
    let (acct, _) = new_reseller(store, ResellerSpec { balance: Kobo::naira(1_000), ..Default::default() }).await;
    // An hour old: past the requery delay, short of the operator alert.
    let at = |secs_ago: i64| (chrono::Utc::now() - chrono::Duration::seconds(secs_ago)).to_rfc3339();
    let mut stuck = HashSet::new();
    for i in 0..120u64 {
        let tx = processing(&acct, 1_000 + i, &at(3_600 - i as i64));
        stuck.insert(tx.trx.clone());
        store.put(tx.to_item()).await.expect("storing a stuck purchase");
    }
    let newer = processing(&acct, 5_000, &at(60));
    store.put(newer.to_item()).await.expect("storing the newer purchase");
    let provider = SilentOnSome { stuck, requeries: AtomicUsize::new(0) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let report = vtu::requery_processing(store, &provider, 0, deadline).await.expect("one requery pass");
    assert_eq!(report.succeeded, 1, "{report:?}");
    assert_eq!(report.unresolved, 120, "{report:?}");
    assert_eq!(provider.requeries.load(Ordering::SeqCst), 121);
    let after = store.get_vtu(&acct, &newer.trx).await.ok().flatten().unwrap_or_else(|| panic!("no purchase"));
    assert_eq!(after.status, VtuStatus::Success);
    assert_eq!(store.processing_vtu().await.expect("listing processing").len(), 120, "the stuck ones stay processing");
    assert_eq!(store.balance(&acct).await.ok().flatten(), Some(Kobo::naira(1_000)), "nothing was refunded");
}

/// Defect 1, second half: a success reported for a purchase kobo already failed and
/// refunded is not acknowledged as a duplicate: an operator alert names it and the
/// command that settles it. Before the fix it was answered `duplicate` and forgotten.
#[tokio::test]
async fn a_late_success_after_a_refund_alerts_the_operator() {
    let t = kobo_tests::test_app().await;
    let store = &t.store;
    let (acct, _) = new_reseller(store, ResellerSpec { balance: Kobo::naira(1_000), ..Default::default() }).await;
    let tx = processing(&acct, 9_000, "2026-01-01T00:00:00Z");
    vtu::pay(store, &tx, Kobo::ZERO, None, false).await.map_err(|e| format!("{e:?}")).expect("paying");
    let failed = vtu::settle_or_alert(store, &tx, &Outcome::Failed { reason: "declined".into() }, "test")
        .await
        .expect("settling as failed");
    assert!(matches!(failed, vtu::Reported::Settled(ref t) if t.status == VtuStatus::Failed), "{failed:?}");
    assert_eq!(store.balance(&acct).await.ok().flatten(), Some(Kobo::naira(1_000)), "refunded");
    let late = Outcome::Success { provider_ref: Some("R1".into()), meta: serde_json::json!({}), cards: Vec::new() };
    let r = vtu::settle_or_alert(store, &tx, &late, "callback").await.expect("reporting the late success");
    assert!(matches!(r, vtu::Reported::Contradicted(_)), "{r:?}");
    let again = vtu::settle_or_alert(store, &tx, &late, "callback").await.expect("reporting it twice");
    assert!(matches!(again, vtu::Reported::Contradicted(_)), "{again:?}");
    let alerts = store.alerts().await.expect("listing alerts");
    let mine: Vec<_> = alerts.iter().filter(|a| a.about() == format!("vtu:{}", tx.trx)).collect();
    assert_eq!(mine.len(), 1, "one alert per subject: {alerts:?}");
    assert!(mine[0].command.contains("kobo wallet debit") && mine[0].command.contains(&acct), "{:?}", mine[0]);
    assert_eq!(store.balance(&acct).await.ok().flatten(), Some(Kobo::naira(1_000)), "no money moved on the report");
}

/// Money review finding 2: a purchase processing for hours raises "processing-long"; the
/// operator fails and refunds it; then the provider reports it delivered. That graver
/// alert is raised beside the open one, each with its own command. Before the fix both
/// shared the subject `vtu:<trx>` and the second vanished behind the first.
#[tokio::test]
async fn a_delivery_after_refund_alerts_beside_an_open_processing_alert() {
    let t = kobo_tests::test_app().await;
    let store = &t.store;
    let (acct, _) = new_reseller(store, ResellerSpec { balance: Kobo::naira(1_000), ..Default::default() }).await;
    let seven_hours_ago = (chrono::Utc::now() - chrono::Duration::hours(7)).to_rfc3339();
    let tx = processing(&acct, 9_100, &seven_hours_ago);
    vtu::pay(store, &tx, Kobo::ZERO, None, false).await.map_err(|e| format!("{e:?}")).expect("paying");
    let provider = SilentOnSome { stuck: HashSet::from([tx.trx.clone()]), requeries: AtomicUsize::new(0) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let report = vtu::requery_processing(store, &provider, 0, deadline).await.expect("one requery pass");
    assert_eq!(report.alerted, 1, "{report:?}");
    let failed = vtu::settle_or_alert(store, &tx, &Outcome::Failed { reason: "operator".into() }, "operator")
        .await
        .expect("the operator fails it");
    assert!(matches!(failed, vtu::Reported::Settled(ref t) if t.status == VtuStatus::Failed), "{failed:?}");
    let late = Outcome::Success { provider_ref: Some("R9".into()), meta: serde_json::json!({}), cards: Vec::new() };
    let r = vtu::settle_or_alert(store, &tx, &late, "callback").await.expect("reporting the delivery");
    assert!(matches!(r, vtu::Reported::Contradicted(_)), "{r:?}");
    let alerts = store.alerts().await.expect("listing alerts");
    let mine: Vec<_> = alerts.iter().filter(|a| a.about() == format!("vtu:{}", tx.trx)).collect();
    let subjects: HashSet<&str> = mine.iter().map(|a| a.subject.as_str()).collect();
    assert_eq!(
        subjects,
        HashSet::from([
            format!("vtu:{}/processing-long", tx.trx).as_str(),
            format!("vtu:{}/delivered-after-refund", tx.trx).as_str()
        ]),
        "{alerts:?}"
    );
    let grave = mine.iter().find(|a| a.subject.ends_with("/delivered-after-refund")).expect("the graver alert");
    assert!(grave.command.contains("kobo wallet debit") && grave.command.contains(&acct), "{grave:?}");
}
