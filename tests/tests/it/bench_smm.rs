//! Measurements (printed as `MEASURE` lines; only call counts are asserted, never time):
//! DynamoDB round trips per `add` and per `services`, and `add`'s latency over HTTP on
//! the local stack next to the raw moto calls it makes.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use kobo_shared::Kobo;
use kobo_tests::{api_request, new_reseller, percentile_ms, stack, ApiClient, ResellerSpec};

const N: usize = 60;

fn key(pk: String, sk: &str) -> std::collections::HashMap<String, AttributeValue> {
    [("PK".to_string(), AttributeValue::S(pk)), ("SK".to_string(), AttributeValue::S(sk.to_string()))]
        .into_iter()
        .collect()
}

#[tokio::test]
async fn add_and_services_round_trips_and_latency() {
    let _heavy = kobo_tests::heavy().await;
    let s = stack();
    let store = s.store().await;
    let (_, key_text) =
        new_reseller(&store, ResellerSpec { balance: Kobo::naira(1_000_000), ..Default::default() }).await;

    // Round trips, counted by the SDK interceptor on the handler's own client.
    let (app, counter) = s.counted_app().await;
    let ip = "203.0.113.50";
    let warm = api_request("action=services", &[("x-api-key", &key_text)], ip);
    assert_eq!(kobo_api::handle(&app, warm).await.status().as_u16(), 200); // loads plans and services
    counter.settle_and_reset().await;
    let r = kobo_api::handle(&app, api_request("action=services", &[("x-api-key", &key_text)], ip)).await;
    assert_eq!(r.status().as_u16(), 200);
    let services_calls = counter.calls();
    let services_trips = counter.round_trips();
    // One wave: key, account and the catalog versions in one BatchGetItem, with both rate
    // counters; the cached services hold while their version does.
    assert_eq!(counter.waves(), [vec!["BatchGetItem", "UpdateItem", "UpdateItem"]], "{services_calls:?}");

    counter.settle_and_reset().await;
    let body = "action=add&service=102&link=https%3A%2F%2Finstagram.com%2Fp%2Fbench&quantity=100";
    let r = kobo_api::handle(&app, api_request(body, &[("x-api-key", &key_text)], ip)).await;
    assert_eq!(r.status().as_u16(), 200);
    let add_calls = counter.calls();
    let add_trips = counter.round_trips();
    // Before the panel: the wave (key + account + versions, 2 counters, the order id) and
    // the transaction; after it, the upstream outcome.
    assert_eq!(
        counter.waves(),
        [
            vec!["BatchGetItem", "UpdateItem", "UpdateItem", "UpdateItem"],
            vec!["TransactWriteItems"],
            vec!["UpdateItem"]
        ],
        "{add_calls:?}"
    );
    assert_eq!(add_trips, 3, "{add_calls:?}");

    // add_bulk of 10: the same wave (the ids in one ADD) and one transaction for all ten.
    counter.settle_and_reset().await;
    let bulk: Vec<serde_json::Value> = (0..10)
        .map(|i| serde_json::json!({"service": 102, "link": format!("https://instagram.com/p/bulk{i}"), "quantity": 100}))
        .collect();
    let body = format!(
        "action=add_bulk&orders={}",
        percent_encoding::utf8_percent_encode(
            &serde_json::Value::Array(bulk).to_string(),
            percent_encoding::NON_ALPHANUMERIC
        )
    );
    let r = kobo_api::handle(&app, api_request(&body, &[("x-api-key", &key_text)], ip)).await;
    assert_eq!(r.status().as_u16(), 200);
    let waves = counter.waves();
    assert_eq!(
        waves.iter().take(2).cloned().collect::<Vec<_>>(),
        [vec!["BatchGetItem", "UpdateItem", "UpdateItem", "UpdateItem"], vec!["TransactWriteItems"]],
        "{waves:?}"
    );
    assert_eq!(counter.calls().len(), 4 + 1 + 10, "then one upstream outcome per order: {waves:?}");
    println!(
        "MEASURE add_bulk of 10: {} calls in {} round trips: {waves:?}",
        counter.calls().len(),
        counter.round_trips()
    );

    // An operator's change to a service is seen by the next request, at no extra round
    // trip for the requests that find nothing changed.
    let mut svc = store.get_service(102).await.ok().flatten().expect("service 102");
    let before = svc.rate_per_1000;
    svc.rate_per_1000 = before.checked_add(Kobo::naira(1)).unwrap_or(before);
    store.put_service(&svc).await.expect("changing service 102's rate");
    let r = kobo_api::handle(&app, api_request("action=services", &[("x-api-key", &key_text)], ip)).await;
    let rows: serde_json::Value = match r.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    let shown = rows.as_array().and_then(|l| l.iter().find(|r| r["service"] == 102).cloned()).unwrap_or_default();
    assert_eq!(shown["rate"].as_str(), Some(svc.rate_per_1000.to_string().as_str()), "never stale: {shown}");
    svc.rate_per_1000 = before;
    store.put_service(&svc).await.expect("restoring service 102's rate");
    println!(
        "MEASURE services: {} DynamoDB calls in {} round trips: {:?}",
        services_calls.len(),
        services_trips,
        services_calls
    );
    println!(
        "MEASURE add: {} DynamoDB calls in {} sequential round trips: {:?}",
        add_calls.len(),
        add_trips,
        add_calls
    );

    // Latency of add over HTTP on the local stack, interleaved with the same DynamoDB
    // work done raw (the same calls in the same waves, straight to moto), so both see the
    // same table: moto's transactions slow down as the table grows.
    let c = ApiClient::new(s, &key_text);
    let db = store.client().clone();
    let table = store.table().to_string();
    let mut api_times = Vec::with_capacity(N);
    let mut raw_times = Vec::with_capacity(N);
    for i in 0..N {
        let link = format!("https://instagram.com/p/bench{i}");
        let t = Instant::now();
        let (ok, _) = c.add(102, &link, 100).await;
        api_times.push(t.elapsed());
        assert_eq!(ok, 200);

        let t = Instant::now();
        let pk = "ACCOUNT#rawbench".to_string();
        let batch = KeysAndAttributes::builder()
            .keys(key(pk.clone(), "PROFILE"))
            .keys(key(pk.clone(), "KEY#x"))
            .keys(key("CATALOG".into(), "VERSION"))
            .build()
            .expect("building the raw BatchGetItem keys");
        let counter = |sk: String| {
            db.update_item()
                .table_name(&table)
                .set_key(Some(key("RATE#RAW".into(), &sk)))
                .update_expression("ADD hits :one")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .send()
        };
        let (a, b, c, d) = tokio::join!(
            db.batch_get_item().request_items(&table, batch).send(),
            counter("a".into()),
            counter("b".into()),
            counter("id".into())
        );
        let _ = (a, b, c, d);
        let put = |sk: String| {
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&table)
                        .set_item(Some(key("RAW#BENCH".into(), &sk)))
                        .build()
                        .expect("building a raw transaction Put"),
                )
                .build()
        };
        let upd = Update::builder()
            .table_name(&table)
            .set_key(Some(key("RAW#BENCH".into(), "ACCOUNT")))
            .update_expression("ADD balance :d")
            .expression_attribute_values(":d", AttributeValue::N("-1".into()))
            .build()
            .expect("building the raw transaction Update");
        db.transact_write_items()
            .transact_items(TransactWriteItem::builder().update(upd).build())
            .transact_items(put(format!("L#{i}")))
            .transact_items(put(format!("O#{i}")))
            .transact_items(put(format!("E#{i}")))
            .send()
            .await
            .expect("the raw TransactWriteItems succeeds");
        let _ = counter("upstream".into()).await;
        raw_times.push(t.elapsed());
    }
    api_times.sort();
    raw_times.sort();
    let (a50, a99) = (percentile_ms(&api_times, 50), percentile_ms(&api_times, 99));
    let (r50, r99) = (percentile_ms(&raw_times, 50), percentile_ms(&raw_times, 99));
    println!(
        "MEASURE add latency over {N} sequential requests: p50 {a50:.1} ms, p99 {a99:.1} ms; raw moto calls p50 {r50:.1} ms, p99 {r99:.1} ms; ratio p50 {:.2}, p99 {:.2}",
        a50 / r50.max(0.001),
        a99 / r99.max(0.001)
    );
    let _ = Duration::ZERO;
}
