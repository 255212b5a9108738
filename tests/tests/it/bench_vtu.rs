//! Measurements (printed as `MEASURE` lines; only call counts are asserted): DynamoDB
//! round trips of a purchase before the provider call, and callback handling latency.

use std::time::Instant;

use kobo_tests::{api_request, new_reseller, percentile_ms, stack, ResellerSpec};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchase_round_trips_and_callback_latency() {
    let _heavy = kobo_tests::heavy().await;
    let s = stack();
    let store = s.store().await;
    let (acct, key) =
        new_reseller(&store, ResellerSpec { balance: kobo_shared::Kobo::naira(100_000), ..Default::default() }).await;
    kobo_shared::flows::accounts::set_pin(&store, &s.pepper().await, &acct, "1234")
        .await
        .expect("setting the reseller's PIN");
    let (app, counter) = s.counted_app().await;
    let ip = "203.0.113.77";
    let buy = "action=vtu_data&plan_id=2&phone=08031234567&pin=1234";
    // Warm the container: plans, VTU catalog, secrets.
    assert_eq!(kobo_api::handle(&app, api_request(buy, &[("x-api-key", &key)], ip)).await.status().as_u16(), 200);
    counter.settle_and_reset().await;
    assert_eq!(kobo_api::handle(&app, api_request(buy, &[("x-api-key", &key)], ip)).await.status().as_u16(), 200);
    let calls = counter.calls();
    let trips = counter.round_trips();
    // Before the provider: one wave (key + account + catalog versions in one
    // BatchGetItem; both rate counters, the purchase id and — for a key this container
    // knows — the PIN attempt) and the transaction, which also starts the attempts over.
    // After it: the settlement transaction and the balance read.
    let waves = counter.waves();
    let want = ["BatchGetItem", "UpdateItem", "UpdateItem", "UpdateItem", "UpdateItem"];
    assert_eq!(waves.first(), Some(&want.iter().map(|c| c.to_string()).collect()), "{waves:?}");
    assert_eq!(waves.get(1), Some(&vec!["TransactWriteItems".to_string()]), "{waves:?}");
    assert_eq!(calls.len(), 8, "{calls:?}");
    let before: Vec<&String> = calls
        .iter()
        .take_while(|c| *c != "TransactWriteItems")
        .chain(calls.iter().filter(|c| *c == "TransactWriteItems").take(1))
        .collect();
    println!(
        "MEASURE vtu purchase: {} DynamoDB calls in {} round trips; before the provider call: {} calls in 2 round trips {:?}; all: {:?}",
        calls.len(),
        trips,
        before.len(),
        before,
        calls
    );

    // Callback latency: a signed callback for a processing transaction, over HTTP.
    let secret = s.topup_webhook_secret().await;
    let http = reqwest::Client::new();
    let url = format!("{}/callbacks/topup", s.base_url);
    let mut times = Vec::new();
    for i in 0..40 {
        let phone = format!("0809222{i:04}");
        s.topup_next("pending_success", 1, &phone).await;
        let body = format!("action=vtu_data&plan_id=2&phone={phone}&pin=1234");
        let resp = kobo_api::handle(&app, api_request(&body, &[("x-api-key", &key)], ip)).await;
        let v: serde_json::Value = match resp.body() {
            lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        let trx = v["trx"].as_str().unwrap_or_default().to_string();
        let cb = json!({"success": true, "amount": 990, "phoneNumber": phone, "passthrough": json!({"account": acct, "trx": trx}).to_string(),
                        "operatorTransactionId": format!("OPX{i}"), "operator": "MTN", "rechargeId": format!("RCHX{i}")})
        .to_string();
        let sig = kobo_shared::platform::crypto::hmac_sha256_hex(secret.as_bytes(), cb.as_bytes());
        let t = Instant::now();
        let r = http
            .post(&url)
            .header("X-Signature", sig)
            .body(cb)
            .send()
            .await
            .expect("the signed callback reaches the stack");
        let status = r.status().as_u16();
        times.push(t.elapsed());
        assert_eq!(status, 200);
    }
    times.sort();
    println!(
        "MEASURE topup callback handling over HTTP ({} callbacks): p50 {:.1} ms, p99 {:.1} ms",
        times.len(),
        percentile_ms(&times, 50),
        percentile_ms(&times, 99)
    );
}
