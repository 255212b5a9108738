//! kobo's VTpass adapter against the VTpass replica, over loopback HTTP: the documented
//! requests it sends (paths, the two header pairs, the Lagos-time `request_id`, each
//! product's fields) and every documented answer it reads, classified: delivered,
//! pending then a callback, failed, low wallet balance, a malformed or reused
//! `request_id`, an id VTpass never got, bad credentials, and the sandbox's hostile
//! numbers (an HTML page, an empty body, a timeout). No AWS: these need only the adapter
//! and the replica.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use kobo_cli::sim::vtpass::{Keys, VtpassSim};
use kobo_shared::upstream::topup::{TopupProvider, TopupRequest, TopupState};
use kobo_shared::upstream::vtu::vtpass::{self, CallbackHint, Credentials, VtpassClient};
use kobo_shared::upstream::vtu::Class;
use kobo_shared::upstream::UpstreamError;
use kobo_shared::Kobo;
use serde_json::{json, Value};

fn keys() -> (Keys, Credentials) {
    let (a, p, s) = ("api-key-1", "PK_test_1", "SK_test_1");
    (
        Keys { api_key: a.into(), public_key: p.into(), secret_key: s.into() },
        Credentials { api_key: a.into(), public_key: p.into(), secret_key: s.into() },
    )
}

/// A callback receiver on loopback: records every body; refuses the first `refuse`
/// (answering something other than VTpass's `{"response":"success"}`).
async fn receiver(refuse: usize) -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = got.clone();
    let app = Router::new().route(
        "/vtpass",
        post(move |Json(body): Json<Value>| {
            let seen = seen.clone();
            async move {
                let n = seen.lock().map(|mut g| {
                    g.push(body);
                    g.len()
                });
                if n.unwrap_or(0) <= refuse {
                    Json(json!({"response": "later"}))
                } else {
                    Json(json!({"response": "success"}))
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the receiver");
    let addr = listener.local_addr().expect("the receiver's address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/vtpass"), got)
}

async fn setup(callback: &str) -> (VtpassSim, VtpassClient) {
    let (k, c) = keys();
    let sim = VtpassSim::start(k, callback, Duration::from_secs(3)).await.expect("starting the VTpass replica");
    let client = VtpassClient::new(&sim.base, c, Duration::from_secs(1)).expect("a VTpass client");
    (sim, client)
}

fn airtime(phone: &str, trx: &str) -> TopupRequest {
    TopupRequest {
        reference: trx.into(),
        category: "airtime".into(),
        service: "mtn".into(),
        phone: phone.into(),
        amount: Some("100".into()),
        ..Default::default()
    }
}

async fn control(sim: &VtpassSim, path: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{}{path}", sim.root))
        .json(&body)
        .send()
        .await
        .expect("the replica's control")
        .json()
        .await
        .unwrap_or_default()
}

/// The request id kobo sends for `trx` now (the adapter's own rule).
fn id_now(trx: &str) -> String {
    vtpass::request_id(chrono::Utc::now(), trx)
}

#[tokio::test]
async fn a_delivered_purchase_its_requery_and_the_wallet() {
    let (sim, client) = setup("").await;
    let before = client.balance().await.expect("the wallet");
    let id = id_now("TRXDELIVERED000000000001");
    let r = client.pay(&airtime("08011111111", "x"), &id).await.expect("a delivered airtime");
    assert_eq!(r.state, TopupState::Success);
    assert!(r.recharge_id.is_some(), "VTpass's transactionId is kept");
    let again = client.requery(&id).await.expect("the requery").expect("VTpass has it");
    assert_eq!((again.state, again.recharge_id), (TopupState::Success, r.recharge_id));
    // ₦100 less the 3% commission.
    assert_eq!(client.balance().await.ok(), Some(Kobo::new(before.as_i64() - 9_700)));
    // The same request id again: VTpass's 014, which never reads as a failure.
    let dup = client.pay(&airtime("08011111111", "x"), &id).await;
    assert!(matches!(dup, Err(UpstreamError::Ambiguous(ref m)) if m.contains("014")), "{dup:?}");
    assert_eq!(sim.purchases(), 1);
    // An id VTpass never got: `None` (015), so a re-send is safe.
    assert!(matches!(client.requery(&id_now("TRXNEVERSENT")).await, Ok(None)));
}

#[tokio::test]
async fn the_port_makes_the_request_id_from_kobos_reference() {
    let (_sim, client) = setup("").await;
    let r = client.purchase(&airtime("08011111111", "TRXPORT00000000000000001")).await.expect("a purchase");
    assert_eq!(r.state, TopupState::Success);
    // The id the port used is the Lagos minute plus the reference: a requery of it finds it
    // (the minute it was sent, or the one before when the clock turned in between).
    let now = chrono::Utc::now();
    let found = [now, now - chrono::Duration::minutes(1)]
        .into_iter()
        .map(|t| vtpass::request_id(t, "TRXPORT00000000000000001"));
    let mut any = false;
    for id in found {
        any |= matches!(client.requery(&id).await, Ok(Some(_)));
    }
    assert!(any, "the purchase is found under the id kobo derives");
}

#[tokio::test]
async fn failures_low_balance_bad_ids_and_bad_keys_are_classified() {
    let (sim, client) = setup("").await;
    let failed = client.pay(&airtime("08099999999", "x"), &id_now("TRXFAILED")).await;
    assert!(matches!(failed.map(|r| r.state), Ok(TopupState::Failed(ref m)) if m.contains("016")));
    control(&sim, "/control/balance", json!({"naira": 50})).await;
    let low = client.pay(&airtime("08011111111", "x"), &id_now("TRXLOWBAL")).await;
    assert!(matches!(low, Err(UpstreamError::NotSent(ref m)) if m.contains("018")), "{low:?}");
    assert!(matches!(client.requery(&id_now("TRXLOWBAL")).await, Ok(None)), "018 recorded nothing");
    control(&sim, "/control/balance", json!({"naira": 100000})).await;
    for bad in ["TRXNODATE", "202213321830TRX", "200001011200TRXOLD"] {
        let r = client.pay(&airtime("08011111111", "x"), bad).await;
        assert!(matches!(r, Err(UpstreamError::NotSent(ref m)) if m.contains("085")), "{bad}: {r:?}");
    }
    let (_, mut wrong) = keys();
    wrong.secret_key = "SK_wrong".into();
    let intruder = VtpassClient::new(&sim.base, wrong, Duration::from_secs(1)).expect("a client");
    let r = intruder.pay(&airtime("08011111111", "x"), &id_now("TRXBADKEY")).await;
    assert!(matches!(r, Err(UpstreamError::NotSent(ref m)) if m.contains("087")), "{r:?}");
    let r = intruder.balance().await;
    assert!(r.is_ok(), "GETs use the public key, which is right: {r:?}");
}

#[tokio::test]
async fn the_sandbox_hostile_numbers_are_never_read_as_failures() {
    let (_sim, client) = setup("").await;
    for (number, what) in
        [("500000000000", "an HTML page"), ("400000000000", "an empty body"), ("300000000000", "a timeout")]
    {
        let id = id_now(&format!("TRXHOSTILE{number}"));
        let r = client.pay(&airtime(number, "x"), &id).await;
        assert!(matches!(r, Err(UpstreamError::Ambiguous(_))), "{what}: {r:?}");
        // VTpass has it: the requery tells (pending, or delivered after the timeout).
        let found = client.requery(&id).await.expect("the requery").expect("recorded");
        assert!(matches!(found.state, TopupState::Pending | TopupState::Success), "{what}: {found:?}");
    }
}

#[tokio::test]
async fn a_pending_purchase_is_settled_by_requery_after_its_callback() {
    let (url, got) = receiver(2).await;
    let (sim, client) = setup(&url).await;
    let id = id_now("TRXPENDING00000000000001");
    let r = client.pay(&airtime("201000000000", "x"), &id).await.expect("a pending airtime");
    assert_eq!(r.state, TopupState::Pending);
    control(&sim, "/control/resolve", json!({"request_id": id, "status": "delivered"})).await;
    let bodies = got.lock().map(|g| g.clone()).unwrap_or_default();
    assert_eq!(bodies.len(), 3, "re-sent until {{\"response\":\"success\"}}: {bodies:?}");
    let hint = vtpass::parse_callback(bodies[2].to_string().as_bytes());
    assert_eq!(hint, Ok(CallbackHint::Transaction { request_id: id.clone(), claimed: Class::Success }));
    assert_eq!(client.requery(&id).await.ok().flatten().map(|r| r.state), Some(TopupState::Success));
    // A reversal later: the requery says failed (refund-safe); the callback only hinted.
    control(&sim, "/control/resolve", json!({"request_id": id, "status": "reversed", "callback": false})).await;
    assert!(matches!(client.requery(&id).await, Ok(Some(ref r)) if matches!(r.state, TopupState::Failed(_))));
}

#[tokio::test]
async fn every_product_is_sent_with_its_fields_and_delivers_what_it_sells() {
    let (_sim, client) = setup("").await;
    let data = TopupRequest {
        category: "data".into(),
        service: "mtn-data".into(),
        phone: "08011111111".into(),
        product_code: Some("mtn-data-1000".into()),
        ..Default::default()
    };
    assert_eq!(client.pay(&data, &id_now("TRXDATA")).await.map(|r| r.state).ok(), Some(TopupState::Success));
    let wrong_plan = TopupRequest { product_code: Some("mtn-data-7".into()), ..data.clone() };
    let r = client.pay(&wrong_plan, &id_now("TRXDATA2")).await;
    assert!(matches!(r.map(|r| r.state), Ok(TopupState::Failed(ref m)) if m.contains("010")));
    let change = TopupRequest {
        category: "cable".into(),
        service: "dstv".into(),
        phone: "08011111111".into(),
        customer_id: Some("1212121212".into()),
        product_code: Some("dstv-compact".into()),
        subscription_type: Some("change".into()),
        months: Some(2),
        ..Default::default()
    };
    assert_eq!(client.pay(&change, &id_now("TRXCABLE")).await.map(|r| r.state).ok(), Some(TopupState::Success));
    let prepaid = TopupRequest {
        category: "electricity".into(),
        service: "ikeja-electric".into(),
        phone: "08011111111".into(),
        meter_number: Some("1111111111111".into()),
        meter_type: Some("prepaid".into()),
        amount: Some("2000".into()),
        ..Default::default()
    };
    let r = client.pay(&prepaid, &id_now("TRXMETER")).await.expect("a prepaid token");
    assert!(r.token.as_ref().is_some_and(|t| t.len() == 20) && r.electricity.units.is_some(), "{r:?}");
    let waec = TopupRequest {
        category: "education".into(),
        service: "waec".into(),
        phone: "08011111111".into(),
        quantity: Some(3),
        ..Default::default()
    };
    let r = client.pay(&waec, &id_now("TRXWAEC")).await.expect("WAEC PINs");
    assert_eq!(r.cards.len(), 3, "{r:?}");
    let jamb = TopupRequest {
        category: "education".into(),
        service: "jamb".into(),
        phone: "08011111111".into(),
        profile_id: Some("0123456789".into()),
        ..Default::default()
    };
    assert_eq!(client.pay(&jamb, &id_now("TRXJAMB")).await.map(|r| r.cards.len()).ok(), Some(1));
}

#[tokio::test]
async fn catalog_and_verification_read_what_vtpass_answers() {
    let (_sim, client) = setup("").await;
    let plans = client.variations("mtn-data").await.expect("the data plans");
    assert!(plans.iter().any(|p| p.code == "mtn-data-1000" && p.amount == Kobo::naira(1000) && p.fixed_price));
    assert!(matches!(client.variations("nosuch").await, Err(UpstreamError::Ambiguous(_))));
    let card = client.verify_cable("dstv", "1212121212").await.expect("the smartcard");
    assert_eq!(card.customer_name, "TEST CUSTOMER");
    assert_eq!(
        (card.details["current_plan"].clone(), card.details["renewal_amount"].clone()),
        (json!("DStv Compact"), json!("19000"))
    );
    assert!(matches!(client.verify_cable("dstv", "7012345678").await, Err(UpstreamError::Rejected(_))));
    let meter = client.verify_meter("ikeja-electric", "prepaid", "1111111111111").await.expect("the meter");
    assert_eq!(
        (meter.details["address"].clone(), meter.details["minimum_amount"].clone()),
        (json!("ABULE EGBA"), json!("500"))
    );
    assert_eq!(
        client.verify_profile("jamb", "0123456789").await.map(|c| c.customer_name).ok().as_deref(),
        Some("JOHN DOE")
    );
    assert!(matches!(client.verify_profile("jamb", "9999999999").await, Err(UpstreamError::Rejected(_))));
}

/// `kobo vtu import --provider vtpass`: VTpass's data plans and bouquets land in the VTU
/// catalog at VTpass's price plus the operator's profit; a re-import at another profit
/// updates the same plans (their ids are what resellers send); a plan VTpass no longer
/// lists is kept. (On its own table, with the emulator.)
#[tokio::test]
async fn the_catalog_import_prices_vtpass_plans_and_keeps_their_ids() {
    let t = kobo_tests::test_app().await;
    let (_sim, client) = setup("").await;
    let first = kobo_shared::flows::catalog::import_vtpass_plans(&t.store, &client, 200).await.expect("importing");
    assert!(first.skipped.is_empty(), "{first:?}");
    assert!(first.added.len() >= 10 && first.updated.is_empty(), "{first:?}");
    let cat = t.store.vtu_catalog().await.expect("the catalog");
    let plan = cat.plans.iter().find(|p| p.provider_code == "mtn-data-1000").expect("MTN 1.5GB imported");
    assert_eq!((plan.base, plan.profit, plan.validity.as_str()), (Kobo::naira(1000), Kobo::naira(20), "30 days"));
    let nine = cat.plans.iter().find(|p| p.service == "9mobile-data").expect("9mobile (etisalat at VTpass)");
    assert!(nine.provider_code.starts_with("etisalat-data"), "{nine:?}");
    let again = kobo_shared::flows::catalog::import_vtpass_plans(&t.store, &client, 300).await.expect("re-importing");
    assert_eq!((again.added.len(), again.updated.len()), (0, first.added.len()), "{again:?}");
    let cat = t.store.vtu_catalog().await.expect("the catalog");
    let same = cat.plans.iter().find(|p| p.provider_code == "mtn-data-1000").expect("still there");
    assert_eq!((same.id, same.profit), (plan.id, Kobo::naira(30)));
    assert!(matches!(
        kobo_shared::flows::catalog::import_vtpass_plans(&t.store, &client, 10_001).await,
        Err(kobo_shared::flows::catalog::CatalogError::Invalid(_))
    ));
}
