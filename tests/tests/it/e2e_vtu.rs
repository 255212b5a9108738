//! VTU end to end over HTTP on the local stack: the seven purchases, PINs, pricing,
//! provider callbacks (signed, forged, duplicated), refunds exactly once, concurrency.

use kobo_shared::domain::vtu;
use kobo_shared::domain::vtu::VtuCategory;
use kobo_shared::flows::accounts;
use kobo_shared::{Kobo, Store};
use kobo_tests::{stack, Stack};
use serde_json::{json, Value};

type Client = kobo_tests::ApiClient;

/// An action, its request (not sent until awaited), and the category it answers.
type Case<'a> = (&'static str, futures_util::future::BoxFuture<'a, (u16, Value)>, &'static str);

fn kobo(v: &Value) -> Kobo {
    Kobo::parse_naira(v.as_str().unwrap_or_default()).unwrap_or(Kobo::new(-1))
}

/// A reseller with a PIN (1234) on a plan with the given VTU discounts.
async fn reseller(s: &Stack, store: &Store, balance: Kobo, discounts: &[(VtuCategory, u32)]) -> (String, Client) {
    kobo_tests::vtu_reseller(s, store, balance, discounts).await
}

#[tokio::test]
async fn the_seven_purchases_charge_exactly_and_answer_the_seed_shape() {
    let s = stack();
    let store = s.store().await;
    let (acct, c) = reseller(s, &store, Kobo::naira(50_000), &[]).await;
    let cases: Vec<Case> = vec![
        ("vtu_airtime", Box::pin(c.vtu_airtime("mtn", "+2348031234567", "500", "1234")), "airtime"),
        ("vtu_data", Box::pin(c.vtu_data(2, "08031234567", "1234")), "data"),
        ("vtu_sme", Box::pin(c.vtu_sme(101, "08031234567", "1234")), "sme"),
        ("vtu_cable", Box::pin(c.vtu_cable(212, "7012345678", "08031234567", "1234")), "cable"),
        (
            "vtu_electricity",
            Box::pin(c.vtu_electricity("ikeja-electric", "prepaid", "45012345678", "08031234567", "2000", "1234")),
            "electricity",
        ),
        ("vtu_education", Box::pin(c.vtu_education("08031234567", "7000", "1234")), "education"),
        ("vtu_recharge_card", Box::pin(c.vtu_recharge_card("glo", "500", 4, "1234")), "recharge_card"),
    ];
    for (action, purchase, category) in cases {
        let before = c.balance().await;
        let (st, v) = purchase.await;
        assert_eq!(st, 200, "{action}: {v}");
        for field in ["status", "category", "trx", "provider_ref", "amount", "balance", "currency", "message", "cards"]
        {
            assert!(v.get(field).is_some(), "{action}: {field} missing in {v}");
        }
        assert_eq!(
            (v["status"].as_str(), v["category"].as_str(), v["currency"].as_str()),
            (Some("success"), Some(category), Some("NGN")),
            "{v}"
        );
        let amount = kobo(&v["amount"]);
        assert!(amount.as_i64() > 0);
        assert_eq!(kobo(&v["balance"]), Kobo::new(before.as_i64() - amount.as_i64()), "{action}");
        assert_eq!(c.balance().await, Kobo::new(before.as_i64() - amount.as_i64()), "{action}");
        match action {
            "vtu_electricity" => assert_eq!(v["token"].as_str().map(str::len), Some(20), "{v}"),
            "vtu_recharge_card" => assert_eq!(v["cards"].as_array().map(Vec::len), Some(4), "{v}"),
            "vtu_education" => assert_eq!(v["cards"].as_array().map(Vec::len), Some(2), "{v}"),
            _ => assert_eq!(v["cards"], json!([])),
        }
        if let Some(cards) = v["cards"].as_array() {
            assert!(cards.iter().all(|c| c["pin"].is_string() && c["serial"].is_string()));
        }
        let (st, again) = c.vtu_status(v["trx"].as_str().unwrap_or_default()).await;
        assert_eq!(st, 200);
        assert_eq!(
            (again["status"].clone(), again["amount"].clone(), again["cards"].clone()),
            (v["status"].clone(), v["amount"].clone(), v["cards"].clone())
        );
    }
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn prices_follow_the_rule_per_plan_and_category_never_below_base() {
    let s = stack();
    let store = s.store().await;
    let (_, full) = reseller(s, &store, Kobo::naira(10_000), &[]).await;
    let (_, half) =
        reseller(s, &store, Kobo::naira(10_000), &[(VtuCategory::Data, 5_000), (VtuCategory::Airtime, 10_000)]).await;
    let catalog = store.vtu_catalog().await.unwrap_or_default();
    let plan = catalog.plan(2).cloned().unwrap_or_else(|| panic!("plan 2"));
    let listed =
        |v: &Value| v.as_array().and_then(|l| l.iter().find(|p| p["plan_id"] == json!(2)).cloned()).unwrap_or_default();
    let (_, plans_full) = full.vtu_data_plans("mtn-data").await;
    let (_, plans_half) = half.vtu_data_plans("mtn-data").await;
    assert_eq!(kobo(&listed(&plans_full)["amount"]), Kobo::new(plan.base.as_i64() + plan.profit.as_i64()));
    assert_eq!(kobo(&listed(&plans_half)["amount"]), vtu::price(plan.base, plan.profit, 5_000));
    // What the plan list shows is what the purchase charges.
    let (_, v) = half.vtu_data(2, "08031234567", "1234").await;
    assert_eq!(kobo(&v["amount"]), vtu::price(plan.base, plan.profit, 5_000));
    // 100% airtime discount: exactly the base, never below.
    let face = catalog.face(VtuCategory::Airtime, "mtn").cloned().unwrap_or_else(|| panic!("airtime"));
    let (base, _) = vtu::face_split(Kobo::naira(1000), face.base_bp, face.profit_bp);
    let (_, v) = half.vtu_airtime("mtn", "08031234567", "1000", "1234").await;
    assert_eq!(kobo(&v["amount"]), base);
    // Other categories are unaffected by the data discount.
    let (_, sme_half) = half.vtu_sme_plans("mtn").await;
    let (_, sme_full) = full.vtu_sme_plans("mtn").await;
    assert_eq!(sme_half, sme_full);
}

#[tokio::test]
async fn validation_and_verification_answer_clearly() {
    let s = stack();
    let store = s.store().await;
    let (_, c) = reseller(s, &store, Kobo::naira(1_000), &[]).await;
    // Each refused request as it stands (bad values, missing fields).
    for (fields, needle) in [
        (
            vec![
                ("action", "vtu_airtime"),
                ("service_name", "mtn"),
                ("phone", "12345"),
                ("amount", "100"),
                ("pin", "1234"),
            ],
            "phone",
        ),
        (
            vec![
                ("action", "vtu_airtime"),
                ("service_name", "mtn"),
                ("phone", "08031234567"),
                ("amount", "10"),
                ("pin", "1234"),
            ],
            "amount must be between",
        ),
        (
            vec![
                ("action", "vtu_airtime"),
                ("service_name", "mtn"),
                ("phone", "08031234567"),
                ("amount", "1.234"),
                ("pin", "1234"),
            ],
            "amount",
        ),
        (
            vec![
                ("action", "vtu_airtime"),
                ("service_name", "vodafone"),
                ("phone", "08031234567"),
                ("amount", "100"),
                ("pin", "1234"),
            ],
            "vodafone",
        ),
        (
            vec![("action", "vtu_data"), ("plan_id", "101"), ("phone", "08031234567"), ("pin", "1234")],
            "not a data plan",
        ),
        (
            vec![
                ("action", "vtu_cable"),
                ("plan_id", "201"),
                ("customer_id", "12"),
                ("phone", "08031234567"),
                ("pin", "1234"),
            ],
            "customer_id",
        ),
        (
            vec![
                ("action", "vtu_recharge_card"),
                ("card_network", "mtn"),
                ("value", "150"),
                ("quantity", "1"),
                ("pin", "1234"),
            ],
            "multiple",
        ),
        (
            vec![
                ("action", "vtu_recharge_card"),
                ("card_network", "mtn"),
                ("value", "100"),
                ("quantity", "101"),
                ("pin", "1234"),
            ],
            "quantity",
        ),
        (vec![("action", "vtu_data"), ("plan_id", "5"), ("phone", "08031234567")], "pin is required"),
        (
            vec![("action", "vtu_cable_verify"), ("service_id", "dstv"), ("customer_id", "0001234567")],
            "Invalid smartcard number",
        ),
        (
            vec![
                ("action", "vtu_electricity_verify"),
                ("service_name", "eko-electric"),
                ("meter_type", "prepaid"),
                ("meter_number", "00012345678"),
            ],
            "Invalid meter number",
        ),
        (
            vec![
                ("action", "vtu_electricity_verify"),
                ("service_name", "eko-electric"),
                ("meter_type", "smart"),
                ("meter_number", "45012345678"),
            ],
            "meter_type",
        ),
        (vec![("action", "vtu_data_plans"), ("service_id", "nope-data")], "service_id"),
        (
            vec![("action", "vtu_data"), ("plan_id", "5"), ("phone", "08031234567"), ("pin", "1234")],
            "Insufficient balance",
        ),
    ] {
        let (st, v) = c.call(&fields).await;
        assert_eq!(st, 422, "{fields:?}: {v}");
        assert!(v["error"].as_str().unwrap_or_default().contains(needle), "{fields:?}: {v}");
    }
    let (st, v) = c.vtu_cable_verify("gotv", "7012345678").await;
    assert_eq!(st, 200, "{v}");
    assert!(v["customer_name"].as_str().is_some_and(|n| !n.is_empty()));
    let (st, v) = c.vtu_electricity_verify("eko-electric", "postpaid", "45012345678").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(c.balance().await, Kobo::naira(1_000), "nothing refused may charge");
}

#[tokio::test]
async fn five_wrong_pins_lock_purchases_until_an_operator_resets() {
    let s = stack();
    let store = s.store().await;
    let (acct, c) = reseller(s, &store, Kobo::naira(5_000), &[]).await;
    let c = &c;
    let buy = |pin: &'static str| async move { c.vtu_airtime("glo", "08051234567", "100", pin).await };
    // Every refusal answers the same: wrong, wrong and now locked, right but locked.
    let (st, first) = buy("9999").await;
    assert_eq!(st, 403, "{first}");
    assert!(first["error"].as_str().unwrap_or_default().contains("PIN not accepted"), "{first}");
    for _ in 0..4 {
        assert_eq!(buy("9999").await, (403, first.clone()));
    }
    assert_eq!(buy("1234").await, (403, first.clone()), "even the right PIN is refused while locked");
    assert_eq!(c.balance().await, Kobo::naira(5_000));
    let stored = store.get_account(&acct).await.ok().flatten().and_then(|a| a.pin_digest).unwrap_or_default();
    assert!(!stored.contains("1234") && stored.len() == 3 + 64, "only a keyed digest is stored: {stored}");
    accounts::set_pin(&store, &s.pepper().await, &acct, "4321").await.expect("resetting the PIN");
    assert_eq!(buy("1234").await.0, 403, "the old PIN no longer works");
    assert_eq!(buy("4321").await.0, 200, "reset clears the lock");
}

#[tokio::test]
async fn pending_then_signed_callback_settles_and_forgeries_change_nothing() {
    let s = stack();
    let store = s.store().await;
    let (acct, c) = reseller(s, &store, Kobo::naira(5_000), &[]).await;
    let secret = s.topup_webhook_secret().await;
    let cb_url = format!("{}/callbacks/topup", s.base_url);
    let http = reqwest::Client::new();

    // Pending, then the provider's signed success callback.
    s.topup_next("pending_success", 2, "08091110001").await;
    let (st, v) = c.vtu_data(1, "08091110001", "1234").await;
    assert_eq!((st, v["status"].as_str()), (200, Some("processing")), "{v}");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();
    let mut settled = Value::Null;
    for _ in 0..100 {
        settled = c.vtu_status(&trx).await.1;
        if settled["status"] != "processing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(settled["status"], "success", "{settled}");
    assert!(settled["provider_ref"].as_str().is_some_and(|r| r.starts_with("RCH")));

    // Another pending one, attacked: forged, truncated, altered-after-signing callbacks.
    let (_, v) = c.vtu_data(1, "08091110001", "1234").await;
    let trx2 = v["trx"].as_str().unwrap_or_default().to_string();
    let paid = c.balance().await;
    let pt = json!({"account": acct, "trx": trx2}).to_string();
    let fail = json!({"success": false, "error": "forged", "passthrough": pt}).to_string();
    let good_sig = kobo_shared::platform::crypto::hmac_sha256_hex(secret.as_bytes(), fail.as_bytes());
    let altered = fail.replace("forged", "forgeD");
    for (body, sig) in [
        (fail.clone(), "00".repeat(32)),
        (fail.clone(), good_sig[..40].to_string()),
        (fail.clone(), String::new()),
        (altered, good_sig.clone()),
        (fail.clone(), kobo_shared::platform::crypto::hmac_sha256_hex(b"wrong secret", fail.as_bytes())),
    ] {
        let r = http
            .post(&cb_url)
            .header("X-Signature", sig)
            .body(body)
            .send()
            .await
            .expect("the forged callback reaches the stack");
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = http
        .post(&cb_url)
        .header("X-Signature", &good_sig)
        .body(fail[..fail.len() - 5].to_string())
        .send()
        .await
        .expect("the truncated callback reaches the stack");
    assert_eq!(r.status().as_u16(), 401, "truncated body: the signature no longer matches");
    assert_eq!(c.balance().await, paid, "no forgery refunds");
    let mut after = Value::Null;
    for _ in 0..100 {
        after = c.vtu_status(&trx2).await.1;
        if after["status"] != "processing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(after["status"], "success", "the real callback still settles it: {after}");
    // A late failure callback (validly signed) after success is a reversal claim: kobo
    // asks the provider, whose record still says delivered (a stale or reordered
    // callback), so nothing is refunded.
    let r = http
        .post(&cb_url)
        .header("X-Signature", &good_sig)
        .body(fail.clone())
        .send()
        .await
        .expect("the late failure callback reaches the stack");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap_or_default()["status"], "superseded");
    assert_eq!(c.balance().await, paid);
    assert_eq!(c.vtu_status(&trx2).await.1["status"], "success");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn a_failure_refunds_exactly_once_under_five_concurrent_callbacks_and_a_racing_reconciler() {
    let s = stack();
    let store = s.store().await;
    let (acct, c) = reseller(s, &store, Kobo::naira(5_000), &[]).await;
    let start = c.balance().await;
    // Pending at the provider, then failed there (its own callback held back, so the
    // five below and the reconciler are the only reports; each confirms by requery).
    s.topup_next("pending", 1, "08091110002").await;
    let (st, v) = c.vtu_sme(102, "08091110002", "1234").await;
    assert_eq!((st, v["status"].as_str()), (200, Some("processing")), "{v}");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();
    s.topup_control("/control/settle", json!({"reference": trx, "outcome": "failure", "callback": false})).await;
    let secret = s.topup_webhook_secret().await;
    let body = json!({"success": false, "error": "Recharge failed at the operator", "passthrough": json!({"account": acct, "trx": trx}).to_string()}).to_string();
    let sig = kobo_shared::platform::crypto::hmac_sha256_hex(secret.as_bytes(), body.as_bytes());
    let url = format!("{}/callbacks/topup", s.base_url);
    let rec = s.reconciler().await;
    let sends = (0..5).map(|_| {
        let (url, body, sig) = (url.clone(), body.clone(), sig.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .header("X-Signature", sig)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    });
    let (recon, statuses) = tokio::join!(rec.run_vtu_once(), futures_util::future::join_all(sends));
    recon.expect("the racing reconciler VTU pass");
    for st in statuses {
        assert_eq!(st.ok().and_then(|r| r.ok()), Some(200));
    }
    rec.run_vtu_once().await.expect("reconciler VTU pass after the callbacks");
    assert_eq!(c.balance().await, start, "refunded in full");
    let refunds = store.ledger(&acct).await.unwrap_or_default().into_iter().filter(|e| e.kind == "refund").count();
    assert_eq!(refunds, 1, "exactly one refund");
    let (_, v) = c.vtu_status(&trx).await;
    assert_eq!(v["status"], "failed");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn instant_failure_refunds_and_a_lost_answer_is_settled_by_requery() {
    let s = stack();
    let store = s.store().await;
    let (acct, c) = reseller(s, &store, Kobo::naira(5_000), &[]).await;
    let start = c.balance().await;
    s.topup_next("failure", 1, "08021110003").await;
    let (st, v) = c.vtu_airtime("airtel", "08021110003", "200", "1234").await;
    assert_eq!((st, v["status"].as_str()), (200, Some("failed")), "{v}");
    assert_eq!(kobo(&v["balance"]), start, "the answer shows the refunded balance");
    // Timeout: the provider delivers but answers after the client gave up.
    s.topup_next("timeout", 1, "08021110003").await;
    let (_, v) = c.vtu_airtime("airtel", "08021110003", "200", "1234").await;
    assert_eq!(v["status"], "processing", "{v}");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let report = s.reconciler().await.run_vtu_once().await.expect("reconciler VTU pass (lost answer)");
    assert!(report.succeeded >= 1, "{report:?}");
    let (_, v) = c.vtu_status(&trx).await;
    assert_eq!(v["status"], "success");
    // Provider down (503: a gateway may answer it after the provider took the purchase, so
    // it says nothing): the purchase waits; the requery finds the provider never got it
    // and sends it again (once).
    s.topup_next("down", 1, "08021110003").await;
    let (_, v) = c.vtu_airtime("airtel", "08021110003", "200", "1234").await;
    assert_eq!(v["status"], "processing", "{v}");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();
    let report = s.reconciler().await.run_vtu_once().await.expect("reconciler VTU pass (provider back up)");
    assert!(report.resent >= 1, "{report:?}");
    let (_, v) = c.vtu_status(&trx).await;
    assert_eq!(v["status"], "success", "{v}");
    // Refused before processing (429) with no other provider on the route: failed and
    // refunded at once, never left waiting.
    let before = c.balance().await;
    s.topup_next("rate_limited", 1, "08021110003").await;
    let (_, v) = c.vtu_airtime("airtel", "08021110003", "200", "1234").await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(kobo(&v["balance"]), before, "refunded in the same answer: {v}");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn fifty_parallel_purchases_never_overdraw() {
    let s = stack();
    let store = s.store().await;
    // Airtime ₦100 costs 96.50 + 1.50 = ₦98.00: 17 fit in ₦1,700.
    let (acct, c) = reseller(s, &store, Kobo::naira(1_700), &[]).await;
    let c = std::sync::Arc::new(c);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            // A 503 (other PIN checks of the account still in flight; nothing done) is
            // retried, as its Retry-After says.
            tokio::spawn(async move {
                loop {
                    let answer = c.vtu_airtime("mtn", "08031234567", "100", "1234").await;
                    if answer.0 != 503 {
                        return answer;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            })
        })
        .collect();
    let (mut ok, mut short) = (0, 0);
    for t in tasks {
        let (st, v) = t.await.expect("a purchase task ran to its end");
        match st {
            200 => ok += 1,
            422 if v["error"] == "Insufficient balance" => short += 1,
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!((ok, short), (17, 33));
    assert_eq!(c.balance().await, Kobo::naira(1_700 - 17 * 98));
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn another_accounts_trx_answers_like_a_missing_one_and_retries_buy_once() {
    let s = stack();
    let store = s.store().await;
    let (_, owner) = reseller(s, &store, Kobo::naira(2_000), &[]).await;
    let (_, other) = reseller(s, &store, Kobo::naira(2_000), &[]).await;
    let (_, v) = owner.vtu_data(1, "08031234567", "1234").await;
    let trx = v["trx"].as_str().unwrap_or_default().to_string();
    let theirs = other.vtu_status(&trx).await;
    let missing = other.vtu_status("TRXAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(theirs, missing);
    assert_eq!(theirs.0, 404);

    let before = owner.balance().await;
    // request_id is an extra field: these requests are sent as they stand.
    let fields =
        [("action", "vtu_data"), ("plan_id", "1"), ("phone", "08031234567"), ("pin", "1234"), ("request_id", "buy-1")];
    let a = owner.call(&fields).await;
    let b = owner.call(&fields).await;
    assert_eq!(a.1["trx"], b.1["trx"], "same transaction");
    assert_eq!(owner.balance().await, Kobo::new(before.as_i64() - kobo(&a.1["amount"]).as_i64()), "charged once");
    let mut changed = fields.to_vec();
    changed[1] = ("plan_id", "2");
    assert_eq!(owner.call(&changed).await.0, 409);
}

/// A reseller whose connection drops while the provider is still working must not lose the
/// purchase: the invocation runs to its end (as on Lambda), settles it once, and a retry
/// with the same Idempotency-Key answers it.
#[tokio::test]
async fn a_client_that_hangs_up_mid_purchase_still_gets_it_completed_once() {
    use kobo_cli::devstack::server::{serve, Routes};
    use tokio::io::AsyncWriteExt;

    let s = stack();
    let store = s.store().await;
    let (acct, c) = reseller(s, &store, Kobo::naira(5_000), &[]).await;
    let start = c.balance().await;
    let entries_before = store.ledger(&acct).await.unwrap_or_default().len();
    let phone = format!("0803{:07}", rand::random::<u32>() % 10_000_000);
    s.topup_next("hold", 1, &phone).await;

    // The stack's API behind a gateway of this test's own, so its hang-up count is ours;
    // a generous upstream timeout, so only the hang-up decides what happens.
    let sdk = kobo_cli::devstack::moto::sdk_config_for(&s.aws_endpoint).await;
    let mut config = s.config();
    config.upstream_timeout_ms = 60_000;
    let template =
        kobo_cli::template::Template::load(&kobo_tests::project().template()).expect("loading template.yaml");
    let routes = Routes::bind(&template, &kobo_tests::local_functions(&sdk, &config))
        .expect("binding the local functions to the routes");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the test's own gateway");
    let addr = listener.local_addr().expect("the gateway's listener has an address");
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(serve(listener, routes.clone(), stopped));

    let api_key = c.key().to_string();
    let body = format!("action=vtu_airtime&service_name=mtn&phone={phone}&amount=500&pin=1234");
    let request = format!(
        "POST /api/v1 HTTP/1.1\r\nHost: {addr}\r\nX-API-KEY: {api_key}\r\nIdempotency-Key: hangup-{phone}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connecting to the test's gateway");
    conn.write_all(request.as_bytes()).await.expect("sending the purchase");

    // Wait until the provider holds the purchase (so the wallet was debited), hang up, and
    // wait until the gateway has seen the hang-up before the provider may answer.
    let held = || async {
        let v: Value = reqwest::get(format!("{}/control/stats", s.topup_base))
            .await
            .expect("the top-up simulator reports its stats")
            .json()
            .await
            .unwrap_or_default();
        v["held"][&phone].as_u64().unwrap_or(0)
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while held().await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the purchase never reached the provider");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(conn);
    while routes.hangups() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the gateway never saw the hang-up");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = reqwest::Client::new()
        .post(format!("{}/control/release", s.topup_base))
        .json(&json!({"phone": phone}))
        .send()
        .await
        .expect("the top-up simulator releases the purchase");
    assert!(r.status().is_success());

    // The reseller retries with the same key until the purchase shows as settled.
    let retry = c.with_idempotency_key(&format!("hangup-{phone}"));
    let (mut st, mut v) = (0, Value::Null);
    while tokio::time::Instant::now() < deadline {
        (st, v) = retry.vtu_airtime("mtn", &phone, "500", "1234").await;
        if v["status"] != "processing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!((st, v["status"].as_str()), (200, Some("success")), "{v}");
    let price = kobo(&v["amount"]);
    assert!(price > Kobo::ZERO, "{v}");
    assert_eq!(c.balance().await, Kobo::new(start.as_i64() - price.as_i64()), "debited exactly once");
    assert_eq!(store.ledger(&acct).await.unwrap_or_default().len(), entries_before + 1, "one ledger entry");
    let stats: Value = reqwest::get(format!("{}/control/stats", s.topup_base))
        .await
        .expect("the top-up simulator reports its stats")
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(stats["held"][&phone], 1, "the provider got the purchase once");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
    let _ = stop.send(());
    let _ = server.await;
}

/// Posts a callback body signed with the provider's secret: (status, answer).
async fn signed_callback(s: &Stack, body: &str) -> (u16, Value) {
    s.signed_topup_callback(body).await
}

fn failure_body(acct: &str, trx: &str) -> String {
    let pt = json!({"account": acct, "trx": trx}).to_string();
    json!({"success": false, "error": "Recharge failed at the operator", "passthrough": pt}).to_string()
}

fn refunds(ledger: &[kobo_shared::domain::account::LedgerEntry], trx: &str) -> usize {
    let reference = format!("vtu:{trx}");
    ledger.iter().filter(|e| e.kind == "refund" && e.reference.as_deref() == Some(reference.as_str())).count()
}

/// Money review finding 1: a signed failure callback for a processing purchase refunds
/// only what a requery of the provider confirms failed. Still pending there → nothing;
/// no usable answer → 503 (the provider retries), nothing; delivered there (the failure
/// was stale) → settled as a success, nothing refunded.
#[tokio::test]
async fn a_failure_callback_refunds_only_what_the_provider_confirms() {
    let s = stack();
    let store = s.store().await;
    let (acct, c) = reseller(s, &store, Kobo::naira(5_000), &[]).await;
    let phone = "08091110011";
    s.topup_next("pending", 2, phone).await;
    let (st, v) = c.vtu_airtime("mtn", phone, "100", "1234").await;
    assert_eq!((st, v["status"].as_str()), (200, Some("processing")), "{v}");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();
    let paid = c.balance().await;

    // The provider's record still says pending: the failure is not believed.
    let (st, answer) = signed_callback(s, &failure_body(&acct, &trx)).await;
    assert_eq!((st, answer["status"].as_str()), (200, Some("awaiting")), "{answer}");
    assert_eq!(c.balance().await, paid, "a pending purchase is not refunded on a failure callback");
    assert_eq!(c.vtu_status(&trx).await.1["status"], "processing");

    // The requery answers nothing usable: 503, so the provider sends it again. (Until
    // told otherwise, so another test's reconciler pass cannot use the failing lookup up.)
    s.topup_control("/control/lookup_failing", json!({"reference": trx, "times": 1000})).await;
    let (st, _) = signed_callback(s, &failure_body(&acct, &trx)).await;
    assert_eq!(st, 503, "an unconfirmed failure asks the provider to retry");
    assert_eq!(c.balance().await, paid);
    s.topup_control("/control/lookup_failing", json!({"reference": trx, "times": 0})).await;

    // Delivered after all (the failure callback was stale): settled as a success (by this
    // callback, or by a reconciler pass of a test running beside this one: both requery).
    s.topup_control("/control/settle", json!({"reference": trx, "outcome": "success", "callback": false})).await;
    let (st, answer) = signed_callback(s, &failure_body(&acct, &trx)).await;
    assert_eq!(st, 200, "{answer}");
    assert!(matches!(answer["status"].as_str(), Some("applied" | "superseded")), "{answer}");
    let (_, now) = c.vtu_status(&trx).await;
    assert_eq!(now["status"], "success", "{now}");
    assert!(now["provider_ref"].as_str().is_some_and(|r| r.starts_with("RCH")), "{now}");
    assert_eq!(c.balance().await, paid, "nothing refunded for a delivery");
    assert_eq!(refunds(&store.ledger(&acct).await.unwrap_or_default(), &trx), 0);

    // A purchase that did fail at the provider: refunded exactly once, however often told.
    let (_, v) = c.vtu_airtime("mtn", phone, "100", "1234").await;
    let trx2 = v["trx"].as_str().unwrap_or_default().to_string();
    s.topup_control("/control/settle", json!({"reference": trx2, "outcome": "failure", "callback": false})).await;
    let (st, answer) = signed_callback(s, &failure_body(&acct, &trx2)).await;
    assert_eq!(st, 200, "{answer}");
    assert!(matches!(answer["status"].as_str(), Some("applied" | "duplicate")), "{answer}");
    let (st, answer) = signed_callback(s, &failure_body(&acct, &trx2)).await;
    assert_eq!((st, answer["status"].as_str()), (200, Some("duplicate")), "{answer}");
    assert_eq!(c.vtu_status(&trx2).await.1["status"], "failed");
    assert_eq!(c.balance().await, paid, "the failed one is refunded");
    assert_eq!(refunds(&store.ledger(&acct).await.unwrap_or_default(), &trx2), 1);
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

/// Money review finding 5: a requery answering 2xx `success: false` (a lookup that failed
/// at the provider) is not a failure: a reversal claim for a delivered purchase is not
/// refunded on it (503, the provider retries); the next requery that reads the record
/// finds it delivered.
#[tokio::test]
async fn a_requery_answering_success_false_never_refunds_a_delivery() {
    let s = stack();
    let store = s.store().await;
    let (acct, c) = reseller(s, &store, Kobo::naira(5_000), &[]).await;
    let phone = "08091110012";
    let (st, v) = c.vtu_airtime("mtn", phone, "100", "1234").await;
    assert_eq!((st, v["status"].as_str()), (200, Some("success")), "{v}");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();
    let paid = c.balance().await;
    s.topup_control("/control/lookup_failing", json!({"reference": trx, "times": 1000})).await;
    let (st, _) = signed_callback(s, &failure_body(&acct, &trx)).await;
    assert_eq!(st, 503, "a lookup that failed confirms nothing");
    assert_eq!(c.balance().await, paid, "no refund on a failed lookup");
    assert_eq!(c.vtu_status(&trx).await.1["status"], "success");
    s.topup_control("/control/lookup_failing", json!({"reference": trx, "times": 0})).await;
    let (st, answer) = signed_callback(s, &failure_body(&acct, &trx)).await;
    assert_eq!((st, answer["status"].as_str()), (200, Some("superseded")), "{answer}");
    assert_eq!(c.balance().await, paid);
    assert_eq!(refunds(&store.ledger(&acct).await.unwrap_or_default(), &trx), 0);
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}
