//! Several VTU providers at once (issue 33): a purchase goes to the first provider of its
//! route and moves to the next only when that one certainly did not take it; it records
//! the provider (and the reference that provider knows) before it is sent there, and the
//! requery asks that provider. A stack of its own: these tests set routes, which every
//! purchase of the stack reads, and take turns.

use kobo_shared::domain::vtu::{VtuCategory, VtuRoute};
use kobo_shared::flows::vtu::provider_of;
use kobo_shared::upstream::vtu::vtpass;
use kobo_shared::{Kobo, Store};
use kobo_tests::{own_stack, ApiClient, Stack, StackSlot};
use serde_json::{json, Value};

static SLOT: StackSlot = StackSlot::new();
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn stack() -> &'static Stack {
    own_stack(&SLOT, "routing")
}

async fn get(url: String) -> Value {
    reqwest::get(url).await.expect("a simulator's stats").json().await.unwrap_or_default()
}

/// Purchases each provider has recorded: (VTpass, the top-up provider).
async fn purchases(s: &Stack) -> (u64, u64) {
    let v = get(format!("{}/control/stats", s.vtpass_base)).await;
    let t = get(format!("{}/control/stats", s.topup_base)).await;
    (v["purchases"].as_u64().unwrap_or(0), t["purchases"].as_u64().unwrap_or(0))
}

async fn vtpass_control(s: &Stack, path: &str, body: Value) {
    let r = reqwest::Client::new().post(format!("{}{path}", s.vtpass_base)).json(&body).send().await;
    assert!(r.is_ok_and(|r| r.status().is_success()), "VTpass replica control {path}");
}

/// Routes MTN airtime to `providers`, VTpass's float flag cleared (a test before may
/// have left it low).
async fn set_route(store: &Store, providers: &[&str]) {
    store.set_provider_low("vtpass", false).await.expect("clearing VTpass's low flag");
    for p in ["vtpass", "topup"] {
        store.set_provider_disabled(p, false).await.expect("enabling the providers");
    }
    let route = VtuRoute {
        category: VtuCategory::Airtime,
        service: "mtn".into(),
        providers: providers.iter().map(|p| p.to_string()).collect(),
    };
    store.put_vtu_route(&route).await.expect("setting the route");
}

async fn reseller(s: &Stack, store: &Store) -> (String, ApiClient) {
    kobo_tests::vtu_reseller(s, store, Kobo::naira(5_000), &[]).await
}

async fn buy(c: &ApiClient, phone: &str) -> Value {
    let (st, v) = c.vtu_airtime("mtn", phone, "100", "1234").await;
    assert_eq!(st, 200, "{v}");
    v
}

#[tokio::test]
async fn a_purchase_goes_to_its_routes_first_provider_and_records_it() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    set_route(&store, &["vtpass", "topup"]).await;
    let (acct, c) = reseller(s, &store).await;
    let before = purchases(s).await;
    let v = buy(&c, "08011111111").await;
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(purchases(s).await, (before.0 + 1, before.1), "VTpass delivered it; the other was never asked");
    let trx = v["trx"].as_str().unwrap_or_default();
    let tx = store.get_vtu(&acct, trx).await.ok().flatten().unwrap_or_else(|| panic!("no purchase"));
    let (provider, reference) = provider_of(&tx);
    assert_eq!(provider, "vtpass");
    assert!(vtpass::is_request_id(&reference) && reference.ends_with(trx), "{reference}");
    assert!(v["provider_ref"].as_str().is_some_and(|r| !r.is_empty()), "VTpass's transactionId: {v}");
    // A signed failure callback of the other provider for it changes nothing.
    let pt = json!({"account": acct, "trx": trx}).to_string();
    let body = json!({"success": false, "error": "Recharge failed", "passthrough": pt}).to_string();
    let (st, answer) = s.signed_topup_callback(&body).await;
    assert_eq!((st, answer["status"].as_str()), (200, Some("other_provider")), "{answer}");
    assert_eq!(c.vtu_status(trx).await.1["status"], "success");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn low_balance_at_the_first_provider_moves_the_purchase_to_the_next_once() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    set_route(&store, &["vtpass", "topup"]).await;
    let (acct, c) = reseller(s, &store).await;
    vtpass_control(s, "/control/balance", json!({"naira": 1})).await;
    let before = purchases(s).await;
    let v = buy(&c, "08011111111").await;
    vtpass_control(s, "/control/balance", json!({"naira": 100_000})).await;
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(purchases(s).await, (before.0, before.1 + 1), "VTpass refused it (018); the next delivered it, once");
    let tx = store.get_vtu(&acct, v["trx"].as_str().unwrap_or_default()).await.ok().flatten();
    let tx = tx.unwrap_or_else(|| panic!("no purchase"));
    assert_eq!(provider_of(&tx).0, "topup", "the move was recorded before it was sent there");
    assert_eq!(c.balance().await, Kobo::new(500_000 - 9_800), "charged once, at kobo's price");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn an_ambiguous_answer_waits_for_its_providers_requery_and_no_other_is_asked() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    set_route(&store, &["vtpass", "topup"]).await;
    let (acct, c) = reseller(s, &store).await;
    let phone = "08031110777";
    vtpass_control(s, "/control/outcome", json!({"number": phone, "outcome": "unexpected"})).await;
    let before = purchases(s).await;
    let v = buy(&c, phone).await;
    assert_eq!(v["status"], "processing", "an HTML answer says nothing: {v}");
    assert_eq!(purchases(s).await, (before.0 + 1, before.1), "the next provider is never asked");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();
    let tx = store.get_vtu(&acct, &trx).await.ok().flatten().unwrap_or_else(|| panic!("no purchase"));
    let (_, reference) = provider_of(&tx);
    vtpass_control(s, "/control/resolve", json!({"request_id": reference, "status": "delivered", "callback": false}))
        .await;
    s.reconciler().await.run_vtu_once().await.expect("a reconciler VTU pass");
    assert_eq!(c.vtu_status(&trx).await.1["status"], "success", "settled by VTpass's requery");
    assert_eq!(purchases(s).await, (before.0 + 1, before.1));
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn when_no_provider_takes_it_the_purchase_fails_and_is_refunded_once() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    set_route(&store, &["vtpass", "topup"]).await;
    let (acct, c) = reseller(s, &store).await;
    let phone = "08031110778";
    vtpass_control(s, "/control/balance", json!({"naira": 1})).await;
    s.topup_next("rate_limited", 1, phone).await;
    let v = buy(&c, phone).await;
    vtpass_control(s, "/control/balance", json!({"naira": 100_000})).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(c.balance().await, Kobo::naira(5_000), "refunded in the same answer");
    s.reconciler().await.run_vtu_once().await.expect("a reconciler VTU pass");
    let refunds = store.ledger(&acct).await.unwrap_or_default().into_iter().filter(|e| e.kind == "refund").count();
    assert_eq!(refunds, 1, "refunded once");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

/// VTpass's unsigned `transaction-update` callback is a hint: it reaches kobo at its URL
/// secret, kobo requeries VTpass and settles on that answer, and acknowledges with
/// `{"response":"success"}` so VTpass stops sending it. A wrong secret is refused.
#[tokio::test]
async fn a_vtpass_callback_settles_by_requery_and_is_acknowledged() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    set_route(&store, &["vtpass", "topup"]).await;
    let (acct, c) = reseller(s, &store).await;
    let phone = "08031110779";
    vtpass_control(s, "/control/outcome", json!({"number": phone, "outcome": "pending"})).await;
    let v = buy(&c, phone).await;
    assert_eq!(v["status"], "processing", "{v}");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();
    let tx = store.get_vtu(&acct, &trx).await.ok().flatten().unwrap_or_else(|| panic!("no purchase"));
    let (_, reference) = provider_of(&tx);
    let acked = |v: Value| v["callbacks_acknowledged"].as_u64().unwrap_or(0);
    let before = acked(get(format!("{}/control/stats", s.vtpass_base)).await);
    vtpass_control(s, "/control/resolve", json!({"request_id": reference, "status": "delivered"})).await;
    assert_eq!(c.vtu_status(&trx).await.1["status"], "success", "settled by the requery the callback caused");
    assert_eq!(acked(get(format!("{}/control/stats", s.vtpass_base)).await), before + 1, "acknowledged once");
    let forged = reqwest::Client::new()
        .post(format!("{}/callbacks/vtpass/k1.{}", s.base_url, "0".repeat(40)))
        .json(&json!({"type": "transaction-update", "data": {"code": "000", "requestId": reference,
            "content": {"transactions": {"status": "reversed"}}}}))
        .send()
        .await
        .expect("the forged callback reaches the stack");
    assert_eq!(forged.status().as_u16(), 401);
    assert_eq!(c.vtu_status(&trx).await.1["status"], "success");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

/// Provider float: a provider that refused for its low wallet is passed by in routes (not
/// even asked) until a float read finds it above the threshold again; a read below the
/// threshold raises an operator alert.
#[tokio::test]
async fn a_provider_low_on_float_is_passed_by_until_its_float_is_read_above_again() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    set_route(&store, &["vtpass", "topup"]).await;
    let (acct, c) = reseller(s, &store).await;
    let pay_calls = |v: Value| v["pay_calls"].as_u64().unwrap_or(0);
    vtpass_control(s, "/control/balance", json!({"naira": 1})).await;
    assert_eq!(buy(&c, "08011111111").await["status"], "success", "the next provider delivered it");
    assert!(store.vtu_catalog().await.expect("the catalog").low.contains(&"vtpass".to_string()), "flagged low");
    let asked = pay_calls(get(format!("{}/control/stats", s.vtpass_base)).await);
    let before = purchases(s).await;
    assert_eq!(buy(&c, "08011111111").await["status"], "success");
    assert_eq!(pay_calls(get(format!("{}/control/stats", s.vtpass_base)).await), asked, "VTpass not even asked");
    assert_eq!(purchases(s).await, (before.0, before.1 + 1));
    let rec = s.reconciler().await;
    let read = rec.run_float_once().await.expect("a float pass");
    assert_eq!(read, vec![("vtpass".to_string(), kobo_shared::flows::vtu::Float::Low)]);
    let alerts = store.alerts().await.expect("alerts");
    assert!(alerts.iter().any(|a| a.subject == "provider:vtpass/low-float"), "{alerts:?}");
    vtpass_control(s, "/control/balance", json!({"naira": 100_000})).await;
    let read = rec.run_float_once().await.expect("a float pass");
    assert_eq!(read, vec![("vtpass".to_string(), kobo_shared::flows::vtu::Float::Enough)]);
    let before = purchases(s).await;
    assert_eq!(buy(&c, "08011111111").await["status"], "success");
    assert_eq!(purchases(s).await, (before.0 + 1, before.1), "routed to VTpass again");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

/// `kobo provider disable`: a disabled provider is never routed to; a route left with no
/// enabled provider refuses the purchase (503) and charges nothing; enabled again, it is
/// routed to again.
#[tokio::test]
async fn a_disabled_provider_is_never_routed_to() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    set_route(&store, &["vtpass", "topup"]).await;
    let (acct, c) = reseller(s, &store).await;
    store.set_provider_disabled("vtpass", true).await.expect("disabling VTpass");
    let before = purchases(s).await;
    assert_eq!(buy(&c, "08011111111").await["status"], "success");
    assert_eq!(purchases(s).await, (before.0, before.1 + 1), "the next provider took it");
    store.set_provider_disabled("topup", true).await.expect("disabling the other");
    let paid = c.balance().await;
    let (st, v) = c.vtu_airtime("mtn", "08011111111", "100", "1234").await;
    assert_eq!(st, 503, "{v}");
    assert_eq!(c.balance().await, paid, "nothing charged");
    for p in ["vtpass", "topup"] {
        store.set_provider_disabled(p, false).await.expect("enabling again");
    }
    let before = purchases(s).await;
    assert_eq!(buy(&c, "08011111111").await["status"], "success");
    assert_eq!(purchases(s).await, (before.0 + 1, before.1), "VTpass first again");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}
