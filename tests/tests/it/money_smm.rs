//! SMM money under faults (issue 12, defects 2, 3, 4, 11, 12, 13): each test failed before
//! its fix. A stack of its own (its own emulator, whose faults these tests turn on), and
//! the tests take turns ([`SERIAL`]): faults and simulator modes are global to the stack.

use kobo_cli::devstack::moto::launcher_faults;
use kobo_shared::domain::smm::{Order, OrderStatus, UpstreamState};
use kobo_shared::flows::orders;
use kobo_shared::{Kobo, Store};
use kobo_tests::{api_request, new_reseller, own_stack, ApiClient, ResellerSpec, Stack, StackSlot};
use serde_json::{json, Value};

static SLOT: StackSlot = StackSlot::new();
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn stack() -> &'static Stack {
    own_stack(&SLOT, "money-smm")
}

/// Sets the stack's DynamoDB faults (`""`: none).
async fn faults(s: &Stack, spec: &str) {
    launcher_faults(&s.aws_endpoint, spec).await.unwrap_or_else(|e| panic!("setting faults {spec:?}: {e:#}"));
}

async fn order(store: &Store, account: &str, id: u64) -> Order {
    store.get_order(account, id).await.ok().flatten().unwrap_or_else(|| panic!("order {id} missing"))
}

/// Defect 2: the panel refuses an order and the refund transaction cannot commit (every
/// transaction conflicts): the refusal is recorded and the next reconciler pass cancels
/// and refunds it, exactly once. Before the fix the order was marked rejected first and,
/// its refund failing, stayed charged forever (the reconciler skipped rejected orders).
#[tokio::test]
async fn a_refused_order_whose_refund_failed_is_refunded_by_the_next_pass_once() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    let (acct, _) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(10_000), ..Default::default() }).await;
    let rec = s.reconciler().await;
    let panel = rec.providers.smm.get().await.expect("the SMM panel client");
    let panel = &*panel;
    let now = kobo_shared::domain::time::now_rfc3339();
    let id = store.next_id("order").await.expect("an order id");
    let o = Order {
        id,
        account_id: acct.clone(),
        service_id: 102,
        upstream_service: "2".into(),
        kind: "Default".into(),
        link: "https://instagram.com/p/refused-later".into(),
        quantity: 1000,
        units: 1000,
        runs: None,
        interval: None,
        fields: Default::default(),
        rate_per_1000: Kobo::naira(100),
        charge: Kobo::naira(100),
        refunded: Kobo::ZERO,
        status: OrderStatus::Pending,
        start_count: 0,
        remains: 1000,
        upstream: UpstreamState::Sending,
        upstream_order: None,
        created_at: now.clone(),
        updated_at: now,
    };
    orders::create_order(&store, &o, Kobo::ZERO, None).await.map_err(|e| format!("{e:?}")).expect("charging");
    assert_eq!(store.balance(&acct).await.ok().flatten(), Some(Kobo::naira(9_900)));
    s.sim_control("/control/faults", json!({"error_next": "Incorrect link"})).await;
    faults(s, "seed=2,conflict=1,ops=TransactWriteItems").await;
    let to = orders::send_upstream(&store, panel, &o).await;
    faults(s, "").await;
    assert_eq!(to.ok(), Some(UpstreamState::Rejected));
    let half = order(&store, &acct, id).await;
    assert_eq!(
        (half.upstream, half.status),
        (UpstreamState::Rejected, OrderStatus::Pending),
        "refusal recorded, refund pending"
    );
    for _ in 0..3 {
        rec.run_once().await.expect("a reconciler pass");
    }
    let done = order(&store, &acct, id).await;
    assert_eq!((done.status, done.refunded), (OrderStatus::Cancelled, o.charge), "{done:?}");
    assert_eq!(store.balance(&acct).await.ok().flatten(), Some(Kobo::naira(10_000)), "refunded exactly once");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

/// Defect 3: `add_bulk` never answers an error after charging. Its orders are recorded in
/// one transaction: when DynamoDB applies it but answers an error every time (the answer
/// is lost), the answer is still the list of orders, charged once; when it is refused
/// (throttled past every retry) nothing is charged and the whole request is a 503 with
/// `Retry-After`, safe to retry.
#[tokio::test]
async fn add_bulk_never_answers_an_error_after_charging() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(10_000), ..Default::default() }).await;
    let c = ApiClient::new(s, &key);
    let items = json!([
        {"service": 102, "link": "https://instagram.com/p/bulk-a", "quantity": 100},
        {"service": 102, "link": "https://instagram.com/p/bulk-b", "quantity": 100},
    ]);
    faults(s, "seed=3,error_after_write=1,ops=TransactWriteItems").await;
    let (st, v) = c.add_bulk(&items).await;
    faults(s, "").await;
    assert_eq!(st, 200, "the orders were recorded: the answer is the list: {v}");
    let ids: Vec<u64> = (0..2).map(|i| v[i]["order"].as_u64().unwrap_or_else(|| panic!("item {i}: {v}"))).collect();
    let mut charged = Kobo::ZERO;
    for id in &ids {
        charged = charged.checked_add(order(&store, &acct, *id).await.charge).unwrap_or_default();
    }
    assert_eq!(store.balance(&acct).await.ok().flatten(), Kobo::naira(10_000).checked_sub(charged));
    kobo_tests::assert_ledger_sums(&store, &acct).await;

    faults(s, "seed=4,throttle=1,ops=TransactWriteItems").await;
    let (st, retry_after, v) = c.call_answer(&[("action", "add_bulk"), ("orders", &items.to_string())]).await;
    faults(s, "").await;
    assert_eq!((st, retry_after.is_some()), (503, true), "nothing recorded: {v}");
    assert_eq!(store.balance(&acct).await.ok().flatten(), Kobo::naira(10_000).checked_sub(charged), "nothing charged");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

/// Defect 11: two spends at once meet a `TransactionConflict` on the account item (here:
/// one in three transactions, seeded); each is retried with jittered backoff and every
/// answer is the committed result or a 503 with `Retry-After`, and the money adds up.
#[tokio::test]
async fn conflicting_spends_are_retried_and_never_answer_a_bare_error() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(100_000), ..Default::default() }).await;
    faults(s, "seed=11,conflict=0.34,ops=TransactWriteItems").await;
    let answers = futures_util::future::join_all((0..20).map(|i| {
        let c = ApiClient::new(s, &key);
        async move {
            let link = format!("https://instagram.com/p/conflict-{i}");
            c.call_answer(&[("action", "add"), ("service", "102"), ("link", &link), ("quantity", "100")]).await
        }
    }))
    .await;
    let stats = kobo_cli::devstack::moto::launcher_stats(&s.aws_endpoint).await.expect("emulator stats");
    faults(s, "").await;
    assert!(stats["faults"]["injected"]["conflict"].as_u64().unwrap_or(0) > 0, "conflicts were injected: {stats}");
    let mut charged = Kobo::ZERO;
    for (status, retry_after, v) in &answers {
        match status {
            200 => {
                let id = v["order"].as_u64().unwrap_or_else(|| panic!("an order id: {v}"));
                charged = charged.checked_add(order(&store, &acct, id).await.charge).unwrap_or_default();
            }
            503 => assert!(retry_after.is_some(), "a 503 says when to retry: {v}"),
            other => panic!("a spend answered {other}: {v}"),
        }
    }
    assert_eq!(store.balance(&acct).await.ok().flatten(), Kobo::naira(100_000).checked_sub(charged));
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}

/// Defect 12: one order named twice in two spellings (`1,01`) is one order: 200, not a
/// 500 from a batch read with a duplicate key. Also for `refill` and `cancel`.
#[tokio::test]
async fn one_order_named_twice_in_two_spellings_is_one_order() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    let (_, key) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(10_000), ..Default::default() }).await;
    let c = ApiClient::new(s, &key);
    let (st, v) = c.add(102, "https://instagram.com/p/twice", 100).await;
    assert_eq!(st, 200, "{v}");
    let id = v["order"].as_u64().unwrap_or_default();
    let twice = format!("{id},0{id}");
    for action in ["status", "refill", "cancel"] {
        let (st, v) = c.call(&[("action", action), ("orders", &twice)]).await;
        assert_eq!(st, 200, "{action} orders={twice}: {v}");
        let named = match &v {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        assert_eq!(named, 1, "{action}: one order, one row: {v}");
    }
}

/// Defect 13: `refill_status` for 100 refills reads them in one batch, not 100 reads.
#[tokio::test]
async fn refill_status_of_a_hundred_refills_reads_them_in_one_batch() {
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec::default()).await;
    for n in 1..=100u64 {
        store.put_refill(&acct, 900_000 + n, 1, &format!("R{n}")).await.expect("storing a refill");
    }
    let ids: Vec<String> = (1..=100u64).map(|n| (900_000 + n).to_string()).collect();
    let (app, counter) = s.counted_app().await;
    let ip = "203.0.113.77";
    let warm = api_request("action=balance", &[("x-api-key", &key)], ip);
    assert_eq!(kobo_api::handle(&app, warm).await.status().as_u16(), 200);
    counter.reset();
    let body = format!("action=refill_status&refills={}", ids.join("%2C"));
    let r = kobo_api::handle(&app, api_request(&body, &[("x-api-key", &key)], ip)).await;
    assert_eq!(r.status().as_u16(), 200);
    let calls = counter.calls();
    let reads = calls.iter().filter(|c| c.as_str() == "GetItem").count();
    assert!(calls.iter().any(|c| c == "BatchGetItem"), "{calls:?}");
    assert!(reads <= 2, "refills are read in one batch, not one by one: {calls:?}");
}

/// Defect 9 (second half): an idempotency record past its expiry that the TTL sweeper has
/// not removed yet (DynamoDB takes up to two days) does not block its key: a spend with
/// the key is a new spend. Before the fix it answered 500 ("idempotency record not
/// readable").
#[tokio::test]
async fn an_expired_idempotency_record_does_not_block_its_key() {
    use kobo_shared::db::item::Record;
    use kobo_shared::domain::idempotency::IdemRecord;
    let _turn = SERIAL.lock().await;
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(10_000), ..Default::default() }).await;
    let idem_key = format!("expired-{}", kobo_tests::unique());
    let old = IdemRecord {
        account_id: acct.clone(),
        key_hash: kobo_shared::platform::crypto::sha256_hex(idem_key.as_bytes()),
        request_hash: "an older request".into(),
        status: 200,
        body: r#"{"order":999999}"#.into(),
    };
    let mut item = old.to_item();
    let yesterday = kobo_shared::domain::time::now_unix() - 86_400;
    item.insert("expires_at".into(), aws_sdk_dynamodb::types::AttributeValue::N(yesterday.to_string()));
    store.put(item).await.expect("storing an expired record");
    let c = ApiClient::new(s, &key).with_idempotency_key(&idem_key);
    let (st, v) = c.add(102, "https://instagram.com/p/expired-key", 100).await;
    assert_eq!(st, 200, "a new spend: {v}");
    let id = v["order"].as_u64().unwrap_or_else(|| panic!("an order: {v}"));
    assert_ne!(id, 999_999, "not the expired record's answer");
    let (st, again) = c.add(102, "https://instagram.com/p/expired-key", 100).await;
    assert_eq!((st, again["order"].as_u64()), (200, Some(id)), "the key now replays the new spend: {again}");
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}
