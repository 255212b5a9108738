//! VTU as deep as the aggregators resellers compare kobo with, end to end over HTTP on the
//! local stack: discovery lists whose prices are the charges, cable renew vs change,
//! electricity tokens with units and customer fields everywhere they are shown, exam PINs
//! (JAMB only after its profile is verified), provider reversals refunded exactly once,
//! and `vtu_status` by the reseller's own `request_id`.

use std::time::Duration;

use kobo_shared::domain::vtu::VtuCategory;
use kobo_shared::domain::webhook::ALL_EVENTS;
use kobo_shared::flows::webhooks::manage;
use kobo_shared::platform::ssrf::TargetPolicy;
use kobo_shared::Kobo;
use kobo_tests::{own_stack, stack, vtu_reseller, ApiClient, Mode, Receiver, Stack, StackSlot};
use serde_json::{json, Value};

fn kobo(v: &Value) -> Kobo {
    Kobo::parse_naira(v.as_str().unwrap_or_default()).unwrap_or(Kobo::new(-1))
}

/// Every discount the tests below price under (basis points of the profit).
const DISCOUNTS: [(VtuCategory, u32); 5] = [
    (VtuCategory::Airtime, 2_500),
    (VtuCategory::Cable, 5_000),
    (VtuCategory::Electricity, 3_300),
    (VtuCategory::Education, 4_000),
    (VtuCategory::RechargeCard, 7_500),
];

/// Buys with `fields` (PIN 1234 added) and answers the purchase and what it charged.
async fn buy(c: &ApiClient, fields: &[(&str, &str)]) -> (Value, Kobo) {
    let before = c.balance().await;
    let mut form = fields.to_vec();
    form.push(("pin", "1234"));
    let (st, v) = c.call(&form).await;
    assert_eq!(st, 200, "{fields:?}: {v}");
    let after = c.balance().await;
    assert_eq!(kobo(&v["balance"]), after, "the answer's balance is the wallet's: {v}");
    (v.clone(), before.checked_sub(after).unwrap_or_default())
}

/// Polls `vtu_status` until the transaction leaves `processing`.
async fn settled(c: &ApiClient, trx: &str) -> Value {
    let mut v = Value::Null;
    for _ in 0..200 {
        v = c.vtu_status(trx).await.1;
        if v["status"] != "processing" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    v
}

fn row<'a>(list: &'a Value, field: &str, value: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|r| r[field] == json!(value)))
        .unwrap_or_else(|| panic!("no {field}={value} in {list}"))
}

#[tokio::test]
async fn every_listed_price_is_what_the_purchase_charges() {
    let s = stack();
    let store = s.store().await;
    let (acct, c) = vtu_reseller(s, &store, Kobo::naira(100_000), &DISCOUNTS).await;

    // Airtime: the quote for ₦250, and the price of ₦100.
    let (st, nets) = c.vtu_airtime_networks(Some("250")).await;
    assert_eq!(st, 200, "{nets}");
    let glo = row(&nets, "service_name", "glo");
    assert_eq!((glo["min_amount"].as_str(), glo["max_amount"].as_str()), (Some("50.00"), Some("50000.00")));
    assert_eq!(glo["amount"], "250.00");
    let (_, charged) =
        buy(&c, &[("action", "vtu_airtime"), ("service_name", "glo"), ("phone", "08051112222"), ("amount", "250")])
            .await;
    assert_eq!(charged, kobo(&glo["price"]), "airtime ₦250");
    let (_, charged) =
        buy(&c, &[("action", "vtu_airtime"), ("service_name", "glo"), ("phone", "08051112222"), ("amount", "100")])
            .await;
    assert_eq!(charged, kobo(&glo["price_per_100"]), "airtime ₦100");
    assert!(charged < Kobo::naira(100), "the reseller buys below face value: {charged}");

    // Exam PINs: one PIN's price × quantity.
    let (st, exams) = c.vtu_education_products().await;
    assert_eq!(st, 200, "{exams}");
    let names: Vec<&str> =
        exams.as_array().map(|l| l.iter().filter_map(|r| r["exam"].as_str()).collect()).unwrap_or_default();
    assert_eq!(names, ["waec", "neco", "nabteb", "jamb"]);
    let neco = row(&exams, "exam", "neco");
    assert_eq!((neco["face_value"].as_str(), neco["needs_profile"].as_bool()), (Some("1300.00"), Some(false)));
    assert_eq!(row(&exams, "exam", "jamb")["needs_profile"], true);
    let (v, charged) =
        buy(&c, &[("action", "vtu_education"), ("exam", "neco"), ("quantity", "3"), ("phone", "08051112222")]).await;
    assert_eq!(charged, kobo(&neco["price"]).checked_mul(3).unwrap_or_default(), "3 NECO PINs: {v}");

    // Recharge cards: the denomination's price × cards.
    let (st, cards) = c.vtu_recharge_card_networks().await;
    assert_eq!(st, 200, "{cards}");
    let airtel = row(&cards, "card_network", "airtel");
    let values: Vec<&str> = airtel["denominations"]
        .as_array()
        .map(|l| l.iter().filter_map(|d| d["value"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(values.first().copied(), Some("100.00"));
    assert_eq!(values.last().copied(), Some("1000.00"));
    let d200 = row(&airtel["denominations"], "value", "200.00");
    let (v, charged) =
        buy(&c, &[("action", "vtu_recharge_card"), ("card_network", "airtel"), ("value", "200"), ("quantity", "5")])
            .await;
    assert_eq!(charged, kobo(&d200["price"]).checked_mul(5).unwrap_or_default(), "5 Airtel ₦200 cards: {v}");
    assert_eq!(v["cards"].as_array().map(Vec::len), Some(5));

    // Electricity: the disco list quotes an amount too.
    let (st, discos) = c.call(&[("action", "vtu_electric_discos"), ("amount", "4321.50")]).await;
    assert_eq!(st, 200, "{discos}");
    let kano = row(&discos, "service_name", "kano-electric");
    let (_, charged) = buy(
        &c,
        &[
            ("action", "vtu_electricity"),
            ("service_name", "kano-electric"),
            ("meter_type", "postpaid"),
            ("meter_number", "45012345678"),
            ("phone", "08051112222"),
            ("amount", "4321.50"),
        ],
    )
    .await;
    assert_eq!(charged, kobo(&kano["price"]), "electricity ₦4,321.50");

    // A quote outside a product's range names no price; a malformed one is a 422.
    let (_, nets) = c.vtu_airtime_networks(Some("10")).await;
    assert!(row(&nets, "service_name", "mtn").get("price").is_none(), "{nets}");
    let (st, v) = c.vtu_airtime_networks(Some("12.345")).await;
    assert_eq!(st, 422, "{v}");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn cable_renew_charges_the_verified_renewal_and_change_the_plan_times_months() {
    let s = stack();
    let store = s.store().await;
    let (acct, c) = vtu_reseller(s, &store, Kobo::naira(200_000), &DISCOUNTS).await;
    let card = "7012345678";

    let (st, v) = c.vtu_cable_verify("dstv", card).await;
    assert_eq!(st, 200, "{v}");
    let (bouquet, due) = (v["current_plan"].as_str().unwrap_or_default(), v["due_date"].as_str().unwrap_or_default());
    assert!(bouquet.starts_with("DStv") && !due.is_empty(), "{v}");
    let renewal = kobo(&v["renewal_amount"]);
    assert!(renewal.is_positive(), "{v}");

    // Renew: the renewal amount verify showed, per month.
    let renew = |months: &'static str| {
        [
            ("action", "vtu_cable"),
            ("subscription_type", "renew"),
            ("service_id", "dstv"),
            ("customer_id", card),
            ("quantity", months),
            ("phone", "08051112222"),
        ]
    };
    let (v, charged) = buy(&c, &renew("1")).await;
    assert_eq!((v["status"].as_str(), charged), (Some("success"), renewal), "{v}");
    let (v, charged) = buy(&c, &renew("2")).await;
    assert_eq!(charged, renewal.checked_mul(2).unwrap_or_default(), "{v}");
    let tx = store.get_vtu(&acct, v["trx"].as_str().unwrap_or_default()).await.ok().flatten().expect("the renewal");
    assert_eq!((tx.meta["subscription_type"].as_str(), tx.meta["months"].as_u64()), (Some("renew"), Some(2)));
    assert_eq!(tx.request["subscription_type"], "renew", "the provider is asked to renew: {}", tx.request);

    // Change: the plan's listed price × months (the default subscription type).
    let (_, plans) = c.call(&[("action", "vtu_cable_plans"), ("service_id", "gotv")]).await;
    let max = plans
        .as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == "GOtv Max").cloned())
        .unwrap_or_else(|| panic!("no GOtv Max in {plans}"));
    let plan_id = max["plan_id"].to_string();
    let (v, charged) = buy(
        &c,
        &[
            ("action", "vtu_cable"),
            ("plan_id", &plan_id),
            ("customer_id", card),
            ("quantity", "3"),
            ("phone", "08051112222"),
        ],
    )
    .await;
    assert_eq!(charged, kobo(&max["amount"]).checked_mul(3).unwrap_or_default(), "{v}");
    let (v, charged) =
        buy(&c, &[("action", "vtu_cable"), ("plan_id", &plan_id), ("customer_id", card), ("phone", "08051112222")])
            .await;
    assert_eq!(charged, kobo(&max["amount"]), "the seed's form: one month of the plan: {v}");

    // Refusals charge nothing: a card with no bouquet to renew, a bad type, too many months.
    let before = c.balance().await;
    for (fields, expect) in [
        (vec![("subscription_type", "renew"), ("service_id", "dstv"), ("customer_id", "9990001112")], "renew"),
        (
            vec![("subscription_type", "pause"), ("plan_id", plan_id.as_str()), ("customer_id", card)],
            "subscription_type",
        ),
        (vec![("plan_id", plan_id.as_str()), ("customer_id", card), ("quantity", "13")], "quantity"),
        (vec![("subscription_type", "renew"), ("customer_id", card)], "service_id"),
    ] {
        let mut form = vec![("action", "vtu_cable"), ("phone", "08051112222"), ("pin", "1234")];
        form.extend(fields);
        let (st, v) = c.call(&form).await;
        assert_eq!(st, 422, "{form:?}: {v}");
        assert!(v["error"].as_str().unwrap_or_default().contains(expect), "{form:?}: {v}");
    }
    assert_eq!(c.balance().await, before);
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn electricity_token_units_and_customer_show_in_the_answer_the_status_and_the_webhook() {
    let s = stack();
    let store = s.store().await;
    let (acct, c) = vtu_reseller(s, &store, Kobo::naira(50_000), &[]).await;
    let receiver = Receiver::start(Mode::Ok);
    let (_, secret) = manage::create_endpoint(
        &store,
        &s.vault().await,
        &acct,
        &receiver.url,
        ALL_EVENTS.to_vec(),
        TargetPolicy::LOCAL,
    )
    .await
    .expect("creating the reseller's endpoint");
    receiver.set_secret(&secret);
    let meter = [("meter_type", "prepaid"), ("meter_number", "45012345671"), ("phone", "08051112222")];
    let fields = ["token", "units", "customer_name", "customer_address", "tariff"];

    // Instant success: the answer.
    let mut form = vec![("action", "vtu_electricity"), ("service_name", "ikeja-electric"), ("amount", "5000")];
    form.extend(meter);
    let (v, _) = buy(&c, &form).await;
    assert_eq!(v["status"], "success", "{v}");
    for f in fields {
        assert!(v[f].as_str().is_some_and(|x| !x.is_empty()), "{f} in the answer: {v}");
    }
    assert_eq!(v["units"], "23.8", "₦5,000 at ₦209.50/kWh: {v}");
    assert_eq!(v["tariff"], "Band A (R2 Single Phase)");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();
    // The status.
    let st = c.vtu_status(&trx).await.1;
    for f in fields {
        assert_eq!(st[f], v[f], "{f} in vtu_status: {st}");
    }
    // Pending, then a success callback without the token: kobo fetches token and units.
    s.topup_next("pending_success", 1, "08051113333").await;
    let mut form2 = vec![("action", "vtu_electricity"), ("service_name", "ikeja-electric"), ("amount", "2000")];
    form2.extend([("meter_type", "prepaid"), ("meter_number", "45012345678"), ("phone", "08051113333")]);
    let (v2, _) = buy(&c, &form2).await;
    assert_eq!(v2["status"], "processing", "{v2}");
    let trx2 = v2["trx"].as_str().unwrap_or_default().to_string();
    let st2 = settled(&c, &trx2).await;
    assert_eq!((st2["status"].as_str(), st2["units"].as_str()), (Some("success"), Some("29.1")), "{st2}");
    // The webhook payloads' meta.
    let successes = || receiver.got().iter().filter(|r| r.event == "vtu.success").count();
    for _ in 0..300 {
        if successes() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = receiver.got();
    for t in [&trx, &trx2] {
        let success = got
            .iter()
            .filter(|r| r.event == "vtu.success")
            .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
            .find(|b| b["vtu"]["trx"] == json!(t))
            .unwrap_or_else(|| panic!("no vtu.success for {t}: {got:?}"));
        let meta = &success["vtu"]["meta"];
        for f in fields {
            assert!(meta[f].as_str().is_some_and(|x| !x.is_empty()), "{f} in the webhook meta: {meta}");
        }
        assert_eq!(meta["meter_number"].as_str().map(|m| m.len()), Some(11));
    }

    // Verify shows the least that can be bought and the arrears; below it is refused by
    // the provider, and refunded in the same answer.
    let (st, v) = c.vtu_electricity_verify("ikeja-electric", "postpaid", "77012345678").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!((v["min_purchase"].as_str(), v["arrears"].as_str()), (Some("3500.00"), Some("2500.00")), "{v}");
    let (_, v) = c.vtu_electricity_verify("ikeja-electric", "prepaid", "45012345678").await;
    assert_eq!((v["min_purchase"].as_str(), v["arrears"].as_str()), (Some("1000.00"), Some("0.00")), "{v}");
    let before = c.balance().await;
    let (st, v) = c
        .call(&[
            ("action", "vtu_electricity"),
            ("service_name", "ikeja-electric"),
            ("meter_type", "postpaid"),
            ("meter_number", "77012345678"),
            ("phone", "08051112222"),
            ("amount", "3000"),
            ("pin", "1234"),
        ])
        .await;
    assert_eq!((st, v["status"].as_str()), (200, Some("failed")), "{v}");
    assert!(v["message"].as_str().unwrap_or_default().contains("Minimum purchase"), "{v}");
    assert_eq!(c.balance().await, before, "refunded");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn exam_pins_by_exam_and_quantity_and_jamb_only_for_a_profile_verified_first() {
    let s = stack();
    let store = s.store().await;
    let (acct, c) = vtu_reseller(s, &store, Kobo::naira(100_000), &[]).await;
    let phone = ("phone", "08051112222");

    // The seed's form: WAEC by amount (whole PINs).
    let (v, _) = buy(&c, &[("action", "vtu_education"), ("amount", "7000"), phone]).await;
    assert_eq!(v["cards"].as_array().map(Vec::len), Some(2), "{v}");
    // By exam and quantity: every PIN and serial returned, all different.
    let (v, _) = buy(&c, &[("action", "vtu_education"), ("exam", "nabteb"), ("quantity", "4"), phone]).await;
    let cards = v["cards"].as_array().cloned().unwrap_or_default();
    assert_eq!(cards.len(), 4, "{v}");
    let pins: std::collections::HashSet<&str> = cards.iter().filter_map(|c| c["pin"].as_str()).collect();
    let serials: std::collections::HashSet<&str> = cards.iter().filter_map(|c| c["serial"].as_str()).collect();
    assert_eq!((pins.len(), serials.len()), (4, 4), "{v}");

    // Refused, nothing charged: mismatched amount and quantity, neither, an unknown exam,
    // and JAMB without a verified profile (or a profile verified by another account).
    let before = c.balance().await;
    let (_, other) = vtu_reseller(s, &store, Kobo::naira(100), &[]).await;
    let (st, v) = other.vtu_education_verify("jamb", "4412345678").await;
    assert_eq!((st, v["customer_name"].as_str()), (200, Some("EMEKA OKAFOR")), "{v}");
    for (fields, expect) in [
        (vec![("amount", "7000"), ("quantity", "3")], "amount"),
        (vec![], "quantity"),
        (vec![("exam", "gce"), ("quantity", "1")], "exam"),
        (vec![("exam", "jamb"), ("quantity", "1"), ("profile_id", "4412345678")], "vtu_education_verify"),
        (vec![("exam", "jamb"), ("quantity", "1")], "profile_id"),
    ] {
        let mut form = vec![("action", "vtu_education"), phone, ("pin", "1234")];
        form.extend(fields);
        let (st, v) = c.call(&form).await;
        assert_eq!(st, 422, "{form:?}: {v}");
        assert!(v["error"].as_str().unwrap_or_default().contains(expect), "{form:?}: {v}");
    }
    let (st, v) = c.vtu_education_verify("jamb", "0001234567").await;
    assert_eq!(st, 422, "an unknown profile: {v}");
    let (st, v) = c.vtu_education_verify("waec", "4412345678").await;
    assert_eq!(st, 422, "only JAMB has profiles: {v}");
    assert_eq!(c.balance().await, before, "nothing charged");

    // Verified by this account: one ePIN, to that candidate.
    let (st, v) = c.vtu_education_verify("jamb", "4412345678").await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = c
        .call(&[
            ("action", "vtu_education"),
            ("exam", "jamb"),
            ("quantity", "2"),
            ("profile_id", "4412345678"),
            phone,
            ("pin", "1234"),
        ])
        .await;
    assert_eq!(st, 422, "one ePIN per candidate: {v}");
    let (v, charged) = buy(
        &c,
        &[("action", "vtu_education"), ("exam", "jamb"), ("quantity", "1"), ("profile_id", "4412345678"), phone],
    )
    .await;
    assert_eq!((v["status"].as_str(), v["cards"].as_array().map(Vec::len)), (Some("success"), Some(1)), "{v}");
    let (_, exams) = c.vtu_education_products().await;
    assert_eq!(charged, kobo(&row(&exams, "exam", "jamb")["price"]));
    let tx = store.get_vtu(&acct, v["trx"].as_str().unwrap_or_default()).await.ok().flatten().expect("the ePIN");
    assert_eq!(
        (tx.meta["candidate_name"].as_str(), tx.request["profile_id"].as_str()),
        (Some("EMEKA OKAFOR"), Some("4412345678"))
    );
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

/// Sends the provider's signed failure callback for `trx` of `acct`; the answer's status word.
async fn failure_callback(s: &Stack, secret: &str, acct: &str, trx: &str) -> (u16, Value) {
    let pt = json!({"account": acct, "trx": trx}).to_string();
    let body = json!({"success": false, "error": "Reversed by the operator", "passthrough": pt}).to_string();
    let sig = kobo_shared::platform::crypto::hmac_sha256_hex(secret.as_bytes(), body.as_bytes());
    let r = reqwest::Client::new()
        .post(format!("{}/callbacks/topup", s.base_url))
        .header("X-Signature", sig)
        .body(body)
        .send()
        .await
        .expect("the callback reaches the stack");
    kobo_tests::json_of(r).await
}

/// The stack of the reversal test: its reconciler passes look at every delivered purchase
/// of the stack, days ahead, so no other test's purchases share it.
fn reversal_stack() -> &'static Stack {
    static SLOT: StackSlot = StackSlot::new();
    own_stack(&SLOT, "stack-reversals")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reversals_are_checked_on_schedule_and_refunded_once_whoever_reports_them() {
    let s = reversal_stack();
    let store = s.store().await;
    let (acct, c) = vtu_reseller(s, &store, Kobo::naira(10_000), &[]).await;
    let rec = s.reconciler().await;

    // A delivered purchase is asked about 15 min, 2 h and 24 h after delivery, then left.
    let (v, _) = buy(&c, &[("action", "vtu_data"), ("plan_id", "2"), ("phone", "08051115555")]).await;
    let kept = v["trx"].as_str().unwrap_or_default().to_string();
    let t0 = kobo_shared::domain::time::now_unix();
    let due_at = |at: i64| {
        let (store, trx) = (store.clone(), kept.clone());
        async move { store.reversal_checks_due(at, 1_000).await.expect("the watch").iter().any(|w| w.tx.trx == trx) }
    };
    assert!(!due_at(t0 + 60).await, "not asked about in its first minutes");
    for (at, check) in [(t0 + 16 * 60, 1), (t0 + 2 * 3600 + 60, 2), (t0 + 24 * 3600 + 60, 3)] {
        assert!(due_at(at).await, "check {check} due at +{}s", at - t0);
        let report = rec.run_reversal_checks_at(at).await.expect("a reversal pass");
        assert_eq!((report.checked, report.delivered, report.reversed), (1, 1, 0), "{report:?}");
        assert!(!due_at(at).await, "check {check} made");
    }
    assert!(!due_at(t0 + 30 * 24 * 3600).await, "left after its last check");
    assert_eq!(c.vtu_status(&kept).await.1["status"], "success");

    let receiver = Receiver::start(Mode::Ok);
    let (_, hook_secret) = manage::create_endpoint(
        &store,
        &s.vault().await,
        &acct,
        &receiver.url,
        ALL_EVENTS.to_vec(),
        TargetPolicy::LOCAL,
    )
    .await
    .expect("creating the reseller's endpoint");
    receiver.set_secret(&hook_secret);
    let secret = s.topup_webhook_secret().await;
    let start = c.balance().await;
    let (v, charged) = buy(&c, &[("action", "vtu_data"), ("plan_id", "3"), ("phone", "08051114444")]).await;
    assert_eq!(v["status"], "success", "{v}");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();

    // Reversed at the provider, silently at first: only a requery would tell.
    s.topup_control("/control/reverse", json!({"reference": trx, "callback": false})).await;
    // Three signed failure callbacks and two reconciler passes (at the first check's
    // time) all at once: one refund.
    let at = kobo_shared::domain::time::now_unix() + 16 * 60;
    let (a, b, c1, c2, c3) = tokio::join!(
        rec.run_reversal_checks_at(at),
        rec.run_reversal_checks_at(at),
        failure_callback(s, &secret, &acct, &trx),
        failure_callback(s, &secret, &acct, &trx),
        failure_callback(s, &secret, &acct, &trx),
    );
    let reversed_by_checks = [a, b].into_iter().map(|r| r.expect("a reversal pass").reversed).sum::<usize>();
    let words: Vec<String> =
        [c1, c2, c3].iter().map(|(st, v)| format!("{st} {}", v["status"].as_str().unwrap_or_default())).collect();
    let reversed_by_callbacks = words.iter().filter(|w| *w == "200 reversed").count();
    assert_eq!(reversed_by_checks + reversed_by_callbacks, 1, "exactly one reporter refunds: {words:?}");
    assert!(words.iter().all(|w| w == "200 reversed" || w == "200 duplicate"), "{words:?}");
    assert_eq!(c.balance().await, start, "refunded once: {charged} back");
    let st = c.vtu_status(&trx).await.1;
    assert_eq!(st["status"], "failed", "{st}");
    assert!(st["message"].as_str().unwrap_or_default().contains("Reversed"), "{st}");
    // Another pass and a late callback change nothing.
    let again = rec.run_reversal_checks_at(at + 3 * 3600).await.expect("a later reversal pass");
    assert_eq!(again.reversed, 0, "{again:?}");
    assert_eq!(failure_callback(s, &secret, &acct, &trx).await.1["status"], "duplicate");
    assert_eq!(c.balance().await, start);

    // The events: processing, success, then one vtu.failed, each with its status_changed.
    let of_trx = || -> Vec<kobo_tests::Received> {
        let mine = |r: &kobo_tests::Received| {
            serde_json::from_str::<Value>(&r.body).ok().is_some_and(|b| b["vtu"]["trx"] == json!(trx))
        };
        receiver.got().into_iter().filter(mine).collect()
    };
    for _ in 0..300 {
        if of_trx().len() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // anything more would show now
    let got = of_trx();
    let of = |event: &str| got.iter().filter(|r| r.event == event).count();
    assert_eq!(
        (of("vtu.processing"), of("vtu.success"), of("vtu.failed"), of("vtu.status_changed")),
        (1, 1, 1, 3),
        "{got:?}"
    );
    let failed = got.iter().find(|r| r.event == "vtu.failed").map(|r| r.body.clone()).unwrap_or_default();
    assert!(failed.contains("\"reversed\":true"), "{failed}");

    // Reported by the callback alone (the provider's own): refunded too.
    let (v, _) = buy(&c, &[("action", "vtu_data"), ("plan_id", "3"), ("phone", "08051114444")]).await;
    let trx2 = v["trx"].as_str().unwrap_or_default().to_string();
    let before = c.balance().await;
    s.topup_control("/control/reverse", json!({"reference": trx2})).await;
    let st = settled_as(&c, &trx2, "failed").await;
    assert!(st["message"].as_str().unwrap_or_default().contains("Reversed"), "{st}");
    assert_eq!(c.balance().await, before.checked_add(kobo(&v["amount"])).unwrap_or_default());

    // Told to an operator only (`kobo vtu reverse`): refunded once, however often asked.
    let (v, _) = buy(&c, &[("action", "vtu_data"), ("plan_id", "3"), ("phone", "08051114444")]).await;
    let trx3 = v["trx"].as_str().unwrap_or_default().to_string();
    let before = c.balance().await;
    let tx = store.get_vtu(&acct, &trx3).await.ok().flatten().expect("the third purchase");
    let (first, second) = tokio::join!(
        kobo_shared::flows::vtu::reverse(&store, &tx, "provider support: reversed", "operator"),
        kobo_shared::flows::vtu::reverse(&store, &tx, "provider support: reversed", "operator"),
    );
    let done = [first, second].into_iter().filter(|r| matches!(r, Ok(Some(_)))).count();
    assert_eq!(done, 1);
    assert_eq!(c.balance().await, before.checked_add(kobo(&v["amount"])).unwrap_or_default());
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

/// Polls `vtu_status` until the transaction's status is `want`.
async fn settled_as(c: &ApiClient, trx: &str, want: &str) -> Value {
    let mut v = Value::Null;
    for _ in 0..200 {
        v = c.vtu_status(trx).await.1;
        if v["status"] == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(v["status"], want, "{v}");
    v
}

#[tokio::test]
async fn vtu_status_by_request_id_answers_the_callers_own_purchase_only() {
    let s = stack();
    let store = s.store().await;
    let (_, a) = vtu_reseller(s, &store, Kobo::naira(10_000), &[]).await;
    let (_, b) = vtu_reseller(s, &store, Kobo::naira(10_000), &[]).await;
    let rid = format!("shop-{}", kobo_tests::unique());
    let form = |rid: &str| {
        vec![
            ("action".to_string(), "vtu_data".to_string()),
            ("plan_id".into(), "1".into()),
            ("phone".into(), "08051116666".into()),
            ("pin".into(), "1234".into()),
            ("request_id".into(), rid.to_string()),
        ]
    };
    let send = |c: &ApiClient, f: Vec<(String, String)>| {
        let c = c.clone();
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            c.call(&f).await
        }
    };
    let (st, bought) = send(&a, form(&rid)).await;
    assert_eq!(st, 200, "{bought}");
    let (st, v) = a.vtu_status_by_request(&rid).await;
    assert_eq!((st, v["trx"].clone()), (200, bought["trx"].clone()), "{v}");
    assert_eq!(v["status"], "success");
    // Another account's request id answers like an unknown one.
    let (st, v) = b.vtu_status_by_request(&rid).await;
    assert_eq!((st, v["error"].as_str()), (404, Some("Transaction not found")), "{v}");
    let (st, v) = a.vtu_status_by_request("never-used").await;
    assert_eq!(st, 404, "{v}");
    // The same id is B's own for B's purchase; each sees its own.
    let (_, b_bought) = send(&b, form(&rid)).await;
    assert_ne!(b_bought["trx"], bought["trx"]);
    assert_eq!(b.vtu_status_by_request(&rid).await.1["trx"], b_bought["trx"]);
    assert_eq!(a.vtu_status_by_request(&rid).await.1["trx"], bought["trx"]);
    // Neither field: a 422 naming trx.
    let (st, v) = a.call(&[("action", "vtu_status")]).await;
    assert_eq!(st, 422, "{v}");
}
