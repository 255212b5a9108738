//! SMM orders end to end over HTTP on the local stack, driven the way a stock SMM panel
//! API v2 client drives a panel: form bodies, `key` in the body, one URL.

use std::collections::BTreeSet;

use kobo_shared::domain::smm;
use kobo_shared::{Kobo, Store};
use kobo_tests::{new_reseller, stack, ResellerSpec};
use serde_json::{json, Value};

type Client = kobo_tests::ApiClient;

/// The upstream order id of one of our orders.
async fn upstream_id(store: &Store, account: &str, order: u64) -> String {
    let o = store.get_order(account, order).await.ok().flatten().unwrap_or_else(|| panic!("order {order} missing"));
    o.upstream_order.unwrap_or_else(|| panic!("order {order} not placed upstream: {:?}", o.upstream))
}

fn rate_of(services: &Value, id: u64) -> Kobo {
    let row =
        services.as_array().and_then(|l| l.iter().find(|r| r["service"] == json!(id))).cloned().unwrap_or_default();
    Kobo::parse_naira(row["rate"].as_str().unwrap_or_default()).unwrap_or_else(|_| panic!("no rate for {id}: {row}"))
}

#[tokio::test]
async fn a_stock_api_v2_client_runs_its_panel_on_kobo() {
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(20_000), ..Default::default() }).await;
    let c = Client::new(s, &key);
    let start = c.balance().await;

    // services: the seeded catalog, rates as two-decimal strings, API v2 fields.
    let (st, services) = c.services().await;
    assert_eq!(st, 200);
    let list = services.as_array().cloned().unwrap_or_default();
    assert!(list.len() >= 10, "{services}");
    for row in &list {
        for field in ["service", "name", "type", "category", "rate", "min", "max", "refill", "cancel"] {
            assert!(row.get(field).is_some(), "{field} missing in {row}");
        }
        let rate = row["rate"].as_str().unwrap_or_default();
        assert_eq!(rate.split_once('.').map(|(_, d)| d.len()), Some(2), "rate {rate}");
    }

    // add: charges exactly what services showed, rounded up to the kobo.
    let rate = rate_of(&services, 101);
    let (st, v) = c.add(101, "https://instagram.com/p/abc", 1001).await;
    assert_eq!(st, 200, "{v}");
    let order = v["order"].as_u64().unwrap_or_else(|| panic!("{v}"));
    let charge = smm::charge(rate, 1001).unwrap_or_default();
    assert_eq!(c.balance().await, Kobo::new(start.as_i64() - charge.as_i64()));

    // status: seed shape plus API v2 fields.
    let (st, v) = c.status(order).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "pending");
    assert_eq!(v["status_code"], 0);
    assert_eq!(v["charge"], json!(charge.to_string()));
    assert_eq!(v["remains"], "1001");
    assert_eq!(v["currency"], "NGN");

    // The upstream panel moves the order on; the reconciler picks it up.
    let up = upstream_id(&store, &acct, order).await;
    s.sim_control(&format!("/control/orders/{up}"), json!({"status": "In progress", "remains": 400})).await;
    s.reconciler().await.run_once().await.expect("reconciler pass (order in progress)");
    let (_, v) = c.status(order).await;
    assert_eq!(
        (v["status"].as_str(), v["status_code"].as_u64(), v["remains"].as_str()),
        (Some("processing"), Some(1), Some("400"))
    );

    // multi status, with an unknown and a malformed id (so sent as it stands).
    let second = c.add(102, "https://instagram.com/p/def", 100).await.1["order"].as_u64().unwrap_or_default();
    let ids = format!("{order},{second},99999999,abc");
    let (st, v) = c.call(&[("action", "status"), ("orders", &ids)]).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v[order.to_string()]["status"], "processing");
    assert_eq!(v[second.to_string()]["status"], "pending");
    assert_eq!(v["99999999"], json!({"error": "Incorrect order ID"}));
    assert_eq!(v["abc"], json!({"error": "Incorrect order ID"}));

    // refill: only completed orders of refillable services.
    let (st, v) = c.refill(order).await;
    assert_eq!(st, 422, "{v}");
    s.sim_control(&format!("/control/orders/{up}"), json!({"status": "Completed", "remains": 0})).await;
    s.reconciler().await.run_once().await.expect("reconciler pass (order completed)");
    let (st, v) = c.refill(order).await;
    assert_eq!(st, 200, "{v}");
    let refill = v["refill"].as_str().unwrap_or_default().to_string();
    assert!(!refill.is_empty(), "{v}");
    let (st, v) = c.refill_status(&refill).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["status"].is_string(), "{v}");
    let (st, v) = c.multi_refill_status(&[&refill, "424242"]).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v[1]["status"], json!({"error": "Refill not found"}));

    // cancel: a final order cannot be cancelled; a pending one can, and is refunded in full.
    let (st, v) = c.cancel(&[order, second, 77777777]).await;
    assert_eq!(st, 200, "{v}");
    assert!(v[0]["cancel"]["error"].is_string(), "{v}");
    assert_eq!(v[1], json!({"order": second, "cancel": 1}));
    assert_eq!(v[2]["cancel"], json!({"error": "Incorrect order ID"}));
    let before_refund = c.balance().await;
    s.reconciler().await.run_once().await.expect("reconciler pass (order cancelled)");
    let (_, v) = c.status(second).await;
    assert_eq!((v["status"].as_str(), v["status_code"].as_u64()), (Some("cancelled"), Some(3)), "{v}");
    let second_charge = Kobo::parse_naira(v["charge"].as_str().unwrap_or_default()).unwrap_or_default();
    assert_eq!(c.balance().await, Kobo::new(before_refund.as_i64() + second_charge.as_i64()));
    assert_eq!(v["refunded"], v["charge"]);

    // Balance = start − charges + refunds, and the ledger sums to it.
    assert_eq!(c.balance().await, Kobo::new(start.as_i64() - charge.as_i64()));
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn add_validates_like_an_smm_panel() {
    let s = stack();
    let store = s.store().await;
    let (_, key) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(100), ..Default::default() }).await;
    let c = Client::new(s, &key);
    for (fields, status, error) in [
        (
            vec![("service", "101"), ("link", "https://x.ng/a"), ("quantity", "10")],
            422,
            "quantity must be between 50 and 100000",
        ),
        (
            vec![("service", "101"), ("link", "https://x.ng/a"), ("quantity", "100001")],
            422,
            "quantity must be between 50 and 100000",
        ),
        (vec![("service", "999"), ("link", "https://x.ng/a"), ("quantity", "100")], 422, "Incorrect service ID"),
        (vec![("service", "abc"), ("link", "https://x.ng/a"), ("quantity", "100")], 422, "Incorrect service ID"),
        (vec![("service", "102"), ("link", "not a link"), ("quantity", "100")], 422, "link must be an http(s) URL"),
        (
            vec![("service", "101"), ("link", "not a link"), ("quantity", "100")],
            422,
            "link must be an http(s) URL or a username",
        ),
        (
            vec![("service", "101"), ("link", "https://x.ng/a"), ("quantity", "1.5")],
            422,
            "quantity must be a whole number",
        ),
        (vec![("service", "101"), ("link", "https://x.ng/a")], 422, "quantity is required"),
        (vec![("link", "https://x.ng/a"), ("quantity", "100")], 422, "service is required"),
        (vec![("service", "101"), ("link", "https://x.ng/a"), ("quantity", "100000")], 422, "Insufficient balance"),
    ] {
        let mut f = vec![("action", "add")];
        f.extend(fields.iter().copied());
        let (st, v) = c.call(&f).await;
        assert_eq!((st, v["error"].as_str()), (status, Some(error)), "{fields:?}");
    }
    assert_eq!(c.balance().await, Kobo::naira(100), "no refused order may charge");
}

#[tokio::test]
async fn plan_discount_lowers_the_rate_services_shows_and_add_charges() {
    let s = stack();
    let store = s.store().await;
    let (_, full_key) = new_reseller(&store, ResellerSpec::default()).await;
    let (_, key) = new_reseller(&store, ResellerSpec { smm_discount_bp: 1250, ..Default::default() }).await;
    let full = Client::new(s, &full_key);
    let c = Client::new(s, &key);
    let full_rate = rate_of(&full.services().await.1, 103);
    let rate = rate_of(&c.services().await.1, 103);
    assert_eq!(rate, full_rate.less_basis_points_ceil(1250));
    assert!(rate < full_rate);
    let before = c.balance().await;
    let (st, v) = c.add(103, "https://instagram.com/reel/1", 777).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(c.balance().await, Kobo::new(before.as_i64() - smm::charge(rate, 777).unwrap_or_default().as_i64()));
}

#[tokio::test]
async fn add_bulk_charges_each_good_item_and_reports_each_bad_one() {
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(3_000), ..Default::default() }).await;
    let c = Client::new(s, &key);
    let start = c.balance().await;
    let orders = json!([
        {"service": 102, "link": "https://example.com", "quantity": 1000},
        {"service": 124, "link": "https://example.com/2", "quantity": 500},
        {"service": 102, "link": "ftp://nope", "quantity": 100},
        {"service": "102", "link": "https://example.com/3", "quantity": "50"},
        {"service": 102, "link": "https://example.com/4", "quantity": 5},
        "not an object",
        {"service": 302, "link": "https://youtube.com/c/x", "quantity": 10000}
    ]);
    let (st, v) = c.add_bulk(&orders).await;
    assert_eq!(st, 200, "{v}");
    let rows = v.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 7, "{v}");
    assert!(rows[0]["order"].is_u64(), "{v}");
    assert_eq!(rows[1]["error"], "Incorrect service ID");
    assert_eq!(rows[2]["error"], "link must be an http(s) URL");
    assert!(rows[3]["order"].is_u64(), "{v}");
    assert_eq!(rows[4]["error"], "quantity must be between 20 and 50000");
    assert!(rows[5]["error"].is_string());
    assert_eq!(rows[6]["error"], "Insufficient balance");
    let mut charged = 0;
    for r in [&rows[0], &rows[3]] {
        let (_, st) = c.status(r["order"].as_u64().unwrap_or_default()).await;
        charged += Kobo::parse_naira(st["charge"].as_str().unwrap_or_default()).unwrap_or_default().as_i64();
    }
    assert_eq!(c.balance().await, Kobo::new(start.as_i64() - charged));
    kobo_tests::assert_ledger_sums(&store, &acct).await;

    let too_many: Vec<Value> =
        (0..101).map(|_| json!({"service": 102, "link": "https://e.com", "quantity": 20})).collect();
    let (st, v) = c.add_bulk(&Value::Array(too_many)).await;
    assert_eq!((st, v["error"].as_str()), (422, Some("orders may hold at most 100 orders")));
    // Not JSON: sent as it stands.
    let (st, _) = c.call(&[("action", "add_bulk"), ("orders", "{nope")]).await;
    assert_eq!(st, 422);
}

#[tokio::test]
async fn another_accounts_order_answers_like_a_missing_one() {
    let s = stack();
    let store = s.store().await;
    let (_, owner_key) = new_reseller(&store, ResellerSpec::default()).await;
    let (_, other_key) = new_reseller(&store, ResellerSpec::default()).await;
    let owner = Client::new(s, &owner_key);
    let other = Client::new(s, &other_key);
    let id = owner.add(102, "https://instagram.com/p/mine", 100).await.1["order"].as_u64().unwrap_or_default();
    let missing = 987654321;
    for action in ["status", "refill"] {
        let (theirs, absent) = if action == "status" {
            (other.status(id).await, other.status(missing).await)
        } else {
            (other.refill(id).await, other.refill(missing).await)
        };
        assert_eq!(theirs, absent, "{action}");
        assert_eq!(theirs.0, 404);
    }
    let (_, theirs) = other.multi_status(&[id]).await;
    assert_eq!(theirs[&id.to_string()], json!({"error": "Incorrect order ID"}));
    let (_, theirs) = other.cancel(&[id]).await;
    assert_eq!(theirs[0]["cancel"], json!({"error": "Incorrect order ID"}));
    // And the owner's order is untouched.
    assert_eq!(owner.status(id).await.1["status"], "pending");
}

#[tokio::test]
async fn fifty_parallel_adds_never_overdraw() {
    let s = stack();
    let store = s.store().await;
    // Service 102 at 360.00 per 1000 (20% over 300.00): 100 likes cost 36.00.
    let (acct, key) =
        new_reseller(&store, ResellerSpec { balance: Kobo::naira(36 * 17 + 20), ..Default::default() }).await;
    let c = std::sync::Arc::new(Client::new(s, &key));
    let rate = rate_of(&c.services().await.1, 102);
    let each = smm::charge(rate, 100).unwrap_or_default();
    let start = c.balance().await;
    let affordable = (start.as_i64() / each.as_i64()) as usize;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { c.add(102, &format!("https://instagram.com/p/{i}"), 100).await })
        })
        .collect();
    let mut ok = BTreeSet::new();
    let mut short = 0;
    for t in tasks {
        let (st, v) = t.await.expect("an add task ran to its end");
        match st {
            200 => {
                ok.insert(v["order"].as_u64().unwrap_or_default());
            }
            422 if v["error"] == "Insufficient balance" => short += 1,
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(ok.len(), affordable, "exactly as many as the money covers");
    assert_eq!(ok.len() + short, 50);
    let end = c.balance().await;
    assert!(end.as_i64() >= 0);
    assert_eq!(end, Kobo::new(start.as_i64() - each.as_i64() * affordable as i64), "no lost update");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn twenty_parallel_retries_with_one_idempotency_key_make_one_order() {
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec::default()).await;
    let start = Client::new(s, &key).balance().await;
    let idempotent = Client::new(s, &key).with_idempotency_key("order-2026-11-25-0001");
    let send = |link: &'static str| {
        let c = idempotent.clone();
        async move { c.add(102, link, 100).await }
    };
    let tasks: Vec<_> = (0..20).map(|_| tokio::spawn(send("https://instagram.com/p/idem"))).collect();
    let mut answers = BTreeSet::new();
    for t in tasks {
        let (st, v) = t.await.expect("a retry task ran to its end");
        assert_eq!(st, 200, "{v}");
        answers.insert(v.to_string());
    }
    assert_eq!(answers.len(), 1, "every retry gets the first answer: {answers:?}");
    let c = Client::new(s, &key);
    let rate = rate_of(&c.services().await.1, 102);
    assert_eq!(
        c.balance().await,
        Kobo::new(start.as_i64() - smm::charge(rate, 100).unwrap_or_default().as_i64()),
        "charged once"
    );
    let orders = store.ledger(&acct).await.unwrap_or_default().iter().filter(|e| e.kind == "order").count();
    assert_eq!(orders, 1);
    // Same key, different body: 409, nothing charged.
    let (st, v) = send("https://instagram.com/p/other").await;
    assert_eq!(
        (st, v["error"].as_str()),
        (409, Some("This Idempotency-Key was already used with a different request"))
    );
    // request_id in the body works the same way (an extra field: sent as it stands).
    let body =
        [("action", "add"), ("service", "102"), ("link", "https://x.ng/r"), ("quantity", "100"), ("request_id", "r-1")];
    let a = c.call(&body).await;
    let b = c.call(&body).await;
    assert_eq!(a, b);
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

#[tokio::test]
async fn a_partial_order_refunds_the_remains_once_even_with_two_reconcilers_racing() {
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec::default()).await;
    let c = Client::new(s, &key);
    let (st, v) = c.add(101, "https://instagram.com/p/partial", 1000).await;
    assert_eq!(st, 200, "{v}");
    let id = v["order"].as_u64().unwrap_or_default();
    let before = c.balance().await;
    let charge = store.get_order(&acct, id).await.ok().flatten().map(|o| o.charge).unwrap_or_default();
    let up = upstream_id(&store, &acct, id).await;
    s.sim_control(&format!("/control/orders/{up}"), json!({"status": "Partial", "remains": 250})).await;
    let (r1, r2) = (s.reconciler().await, s.reconciler().await);
    let (a, b) = tokio::join!(r1.run_once(), r2.run_once());
    a.expect("the first racing reconciler pass");
    b.expect("the second racing reconciler pass");
    s.reconciler().await.run_once().await.expect("the reconciler pass after the race");
    let want = smm::partial_refund(charge, 1000, 250);
    assert_eq!(want, Kobo::new((charge.as_i64() * 250) / 1000));
    assert_eq!(c.balance().await, Kobo::new(before.as_i64() + want.as_i64()));
    let refunds: Vec<_> =
        store.ledger(&acct).await.unwrap_or_default().into_iter().filter(|e| e.kind == "refund").collect();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    let (_, v) = c.status(id).await;
    assert_eq!(
        (v["status"].as_str(), v["status_code"].as_u64(), v["remains"].as_str()),
        (Some("partial"), Some(5), Some("250"))
    );
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}
