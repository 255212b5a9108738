//! Webhooks end to end on the local stack: business write → outbox → stream → relay →
//! SQS → worker → a receiver on loopback that verifies signatures the seed's way.
//! Retry delays are shrunk to 1 s; everything else is as in production.

use std::time::Duration;

use kobo_shared::domain::signing as sign;
use kobo_shared::domain::time::now_unix;
use kobo_shared::domain::webhook::{DeliveryState, ALL_EVENTS};
use kobo_shared::flows::webhooks::deliver;
use kobo_shared::flows::webhooks::deliver::{OutboxRecord, QueueMsg, Sender};
use kobo_shared::flows::webhooks::manage;
use kobo_shared::platform::ssrf::TargetPolicy;
use kobo_shared::{Kobo, Store};
use kobo_tests::{new_reseller, stack, ApiClient, Mode, Receiver, ResellerSpec, Stack};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// A reseller with an endpoint on `receiver` subscribed to everything.
async fn subscribed(s: &Stack, store: &Store, receiver: &Receiver) -> (String, String, String) {
    let (acct, key) = new_reseller(store, ResellerSpec::default()).await;
    let (ep, secret) = manage::create_endpoint(
        store,
        &s.vault().await,
        &acct,
        &receiver.url,
        ALL_EVENTS.to_vec(),
        TargetPolicy::LOCAL,
    )
    .await
    .expect("creating the reseller's endpoint");
    receiver.set_secret(&secret);
    (acct, key, ep.id)
}

async fn add(s: &Stack, key: &str, link: &str) -> u64 {
    let (st, v) = ApiClient::new(s, key).add(102, link, 100).await;
    assert_eq!(st, 200, "{v}");
    v["order"].as_u64().unwrap_or_default()
}

/// Every field of the seed's VTU webhook object.
const VTU_WEBHOOK_FIELDS: [&str; 14] = [
    "id",
    "trx",
    "category",
    "service_name",
    "phone",
    "amount",
    "base_amount",
    "profit_amount",
    "provider",
    "provider_ref",
    "status",
    "meta",
    "created_at",
    "updated_at",
];
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smm_order_produces_the_documented_events_signed_and_in_order() {
    let s = stack();
    let store = s.store().await;
    let receiver = Receiver::start(Mode::Ok);
    let (acct, key, _) = subscribed(s, &store, &receiver).await;
    // A cancelled transaction first: moto replaces the stream's shard when it rolls one
    // back, which once left the local relay reading a dead shard.
    let refused = kobo_shared::flows::accounts::adjust(
        &store,
        &acct,
        kobo_shared::flows::accounts::Direction::Debit,
        Kobo::naira(1_000_000),
        "too much",
        "test",
    )
    .await;
    assert!(matches!(refused, Err(kobo_shared::flows::accounts::OpsError::InsufficientBalance)));
    let id = add(s, &key, "https://instagram.com/p/hooks").await;
    let o = store.get_order(&acct, id).await.ok().flatten().unwrap_or_else(|| panic!("no order"));
    let up = o.upstream_order.unwrap_or_default();
    s.sim_control(&format!("/control/orders/{up}"), json!({"status": "Canceled"})).await;
    s.reconciler().await.run_once().await.expect("reconciler pass (order cancelled upstream)");

    let mut got = receiver.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3, "{got:?}");
    // Deliveries travel concurrently; the events' own order is their id (UUID v7) order.
    got.sort_by(|a, b| a.webhook_id.cmp(&b.webhook_id));
    let events: Vec<&str> = got.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(events, ["order.created", "order.status_changed", "order.refunded"]);
    for r in &got {
        assert!(r.seed_signature_ok, "X-Webhook-Signature must verify: {r:?}");
        let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
        assert_eq!(body["event"], json!(r.event));
        assert!(body["occurred_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert_eq!(body["order"]["id"], json!(id));
        // Standard Webhooks signature over id.timestamp.body with the decoded secret.
        let ts: i64 = r.timestamp.parse().unwrap_or(0);
        assert!((now_unix() - ts).abs() < 120);
    }
    assert!(got[2].body.contains("\"status\":\"cancelled\""), "{}", got[2].body);
    assert!(receiver.got().iter().all(|r| r.standard_signature.starts_with("v1,")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_webhooks_signature_verifies_and_rotation_signs_with_both() {
    let s = stack();
    let store = s.store().await;
    let receiver = Receiver::start(Mode::Ok);
    let (acct, key, ep) = subscribed(s, &store, &receiver).await;
    let old = {
        let e = store.get_endpoint(&acct, &ep).await.ok().flatten().unwrap_or_else(|| panic!("no endpoint"));
        deliver::open_secrets(&s.vault().await, &e).unwrap_or_default().remove(0)
    };
    add(s, &key, "https://instagram.com/p/std").await;
    let first = receiver.wait_for(1, WAIT).await;
    let r = &first[0];
    let ts: i64 = r.timestamp.parse().unwrap_or(0);
    assert_eq!(r.standard_signature, sign::standard_signature(&old, &r.webhook_id, ts, r.body.as_bytes()));

    let new = manage::rotate_secret(&store, &s.vault().await, &acct, &ep, 3600)
        .await
        .expect("rotating the endpoint's secret");
    assert_ne!(new, old);
    receiver.set_secret(&new);
    add(s, &key, "https://instagram.com/p/std2").await;
    let got = receiver.wait_for(2, WAIT).await;
    let r = &got[1];
    assert!(r.seed_signature_ok, "X-Webhook-Signature uses the new secret");
    let ts: i64 = r.timestamp.parse().unwrap_or(0);
    let sigs: Vec<&str> = r.standard_signature.split(' ').collect();
    assert_eq!(sigs.len(), 2, "both secrets sign during the grace period");
    assert!(sigs.contains(&sign::standard_signature(&new, &r.webhook_id, ts, r.body.as_bytes()).as_str()));
    assert!(sigs.contains(&sign::standard_signature(&old, &r.webhook_id, ts, r.body.as_bytes()).as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_up_gets_it_on_a_retry_with_attempts_logged() {
    let s = stack();
    let store = s.store().await;
    let port = kobo_tests::free_port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let url = format!("http://{addr}/hook");
    let (acct, key) = new_reseller(&store, ResellerSpec::default()).await;
    let (ep, secret) = manage::create_endpoint(
        &store,
        &s.vault().await,
        &acct,
        &url,
        vec![kobo_shared::domain::event::EventType::OrderCreated],
        TargetPolicy::LOCAL,
    )
    .await
    .expect("creating the endpoint on the closed port");
    add(s, &key, "https://instagram.com/p/down").await;
    // Nothing listens yet: the first attempt fails to connect.
    let start = std::time::Instant::now();
    loop {
        let logs = store.attempts(&ep.id, 10).await.unwrap_or_default();
        if !logs.is_empty() {
            assert!(!logs[0].success && logs[0].status.is_none(), "{logs:?}");
            break;
        }
        assert!(start.elapsed() < WAIT, "no first attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let receiver = Receiver::start_on(addr, Mode::Ok);
    receiver.set_secret(&secret);
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].seed_signature_ok);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = store.attempts(&ep.id, 10).await.unwrap_or_default();
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs[0].success && logs[0].status == Some(200) && logs[0].attempt == 2, "newest first: {logs:?}");
    assert!(!logs[1].success && logs[1].attempt == 1 && logs[1].error.is_some(), "{logs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slower_than_five_seconds_counts_as_failed_and_is_retried() {
    let s = stack();
    let store = s.store().await;
    let receiver = Receiver::start(Mode::SlowOnce);
    let (_, key, ep) = subscribed(s, &store, &receiver).await;
    add(s, &key, "https://instagram.com/p/slow").await;
    // The slow answer arrives after 6 s (recorded then); the retry after it succeeds.
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].webhook_id, got[1].webhook_id, "webhook-id is stable across retries");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logs = store.attempts(&ep, 10).await.unwrap_or_default();
    assert_eq!(logs.len(), 2, "{logs:?}");
    let first = &logs[1];
    assert!(!first.success && first.error.as_deref().is_some_and(|e| e.contains("5 s")), "{first:?}");
    assert!(first.duration_ms >= 4_900, "{first:?}");
    assert!(logs[0].success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_always_failing_receiver_gets_exactly_four_attempts_then_failed() {
    let s = stack();
    let store = s.store().await;
    let receiver = Receiver::start(Mode::Fail);
    let (acct, key) = new_reseller(&store, ResellerSpec::default()).await;
    let (ep, secret) = manage::create_endpoint(
        &store,
        &s.vault().await,
        &acct,
        &receiver.url,
        vec![kobo_shared::domain::event::EventType::OrderCreated],
        TargetPolicy::LOCAL,
    )
    .await
    .expect("creating the endpoint on the failing receiver");
    receiver.set_secret(&secret);
    add(s, &key, "https://instagram.com/p/fail").await;
    let got = receiver.wait_for(4, WAIT).await;
    assert_eq!(got.len(), 4);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.got().len(), 4, "no fifth attempt");
    let logs = store.attempts(&ep.id, 10).await.unwrap_or_default();
    assert_eq!(logs.iter().map(|l| l.attempt).collect::<Vec<_>>(), [4, 3, 2, 1]);
    assert!(logs.iter().all(|l| !l.success && l.status == Some(500)));
    let d =
        store.get_delivery(&acct, &logs[0].delivery_id).await.ok().flatten().unwrap_or_else(|| panic!("no delivery"));
    assert_eq!((d.state, d.attempts), (DeliveryState::Failed, 4));

    // Kept for manual redelivery: once the receiver is fixed, it arrives, same webhook-id.
    receiver.set_mode(Mode::Ok);
    let again =
        deliver::redeliver(&store, &s.queue().await, &acct, &d.id).await.expect("redelivering the failed delivery");
    let got = receiver.wait_for(5, WAIT).await;
    assert_eq!(got.len(), 5);
    assert_eq!(got[4].webhook_id, d.event_id);
    assert!(got[4].seed_signature_ok);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let redone = store.get_delivery(&acct, &again).await.ok().flatten().unwrap_or_else(|| panic!("no redelivery"));
    assert_eq!(redone.state, DeliveryState::Delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_stream_records_and_queue_messages_deliver_once() {
    let s = stack();
    let store = s.store().await;
    let receiver = Receiver::start(Mode::Ok);
    let (acct, _, ep) = subscribed(s, &store, &receiver).await;
    let relay = kobo_relay::Relay { store: store.clone(), queue: s.queue().await };
    let rec = OutboxRecord {
        event_id: uuid::Uuid::now_v7().to_string(),
        account_id: acct.clone(),
        event: "deposit.success".into(),
        payload: json!({"event": "deposit.success", "occurred_at": "2026-11-25T08:00:00Z", "deposit": {"id": "dep_1", "amount": "5000.00"}}).to_string(),
    };
    // The same record three times, two of them at once (stream redelivery, retried batch).
    let (a, b) = tokio::join!(relay.handle(std::slice::from_ref(&rec)), relay.handle(std::slice::from_ref(&rec)));
    a.expect("the first concurrent relay pass");
    b.expect("the second concurrent relay pass");
    relay.handle(std::slice::from_ref(&rec)).await.expect("the third relay pass");
    // And the queue message duplicated by hand.
    let msg = QueueMsg { account_id: acct.clone(), delivery_id: format!("{}#{ep}", rec.event_id), attempt: 1 };
    s.queue().await.send(&msg, 0).await.expect("queueing the message");
    s.queue().await.send(&msg, 0).await.expect("queueing the message again");
    let got = receiver.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body, rec.payload, "the exact payload bytes");
    assert!(got[0].seed_signature_ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssrf_targets_are_refused() {
    let s = stack();
    let store = s.store().await;
    let (acct, _) = new_reseller(&store, ResellerSpec { balance: Kobo::ZERO, ..Default::default() }).await;
    let vault = s.vault().await;
    for url in [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://10.0.0.1/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/x",
        "https://[fd00:ec2::254]/x",
        "https://192.168.1.10/x",
        "ftp://example.com/x",
    ] {
        let r =
            manage::create_endpoint(&store, &vault, &acct, url, ALL_EVENTS.to_vec(), TargetPolicy::PRODUCTION).await;
        assert!(r.is_err(), "{url} must be refused at save time");
    }
    // Checked again at send time, on the resolved address: a receiver on loopback gets
    // nothing from a production sender, whether named by IP or by a name resolving to it.
    let receiver = Receiver::start(Mode::Ok);
    let sender = Sender::new(TargetPolicy::PRODUCTION).expect("building the production sender");
    let by_name = receiver.url.replace("127.0.0.1", "localhost").replace("http://", "https://");
    for url in [receiver.url.clone(), receiver.url.replace("http://", "https://"), by_name] {
        let r = sender.post(&url, "order.created", "id", "{}", &["whsec_x"]).await;
        assert!(!r.success() && r.status.is_none(), "{url}: {r:?}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.got().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_events_arrive_signed_and_410_disables_the_endpoint() {
    let s = stack();
    let store = s.store().await;
    let receiver = Receiver::start(Mode::Ok);
    let (acct, key, ep_id) = subscribed(s, &store, &receiver).await;
    let ep = store.get_endpoint(&acct, &ep_id).await.ok().flatten().unwrap_or_else(|| panic!("no endpoint"));
    let sender = Sender::new(TargetPolicy::LOCAL).expect("building the local sender");
    for event in ALL_EVENTS {
        let a = deliver::send_test(&store, &s.vault().await, &sender, &ep, event).await.expect("sending a test event");
        assert!(a.success, "{a:?}");
    }
    let got = receiver.got();
    assert_eq!(got.len(), 9);
    assert!(got.iter().all(|r| r.seed_signature_ok));
    let vtu: Value = serde_json::from_str(&got[2].body).unwrap_or_default();
    assert_eq!(vtu["event"], "vtu.success");
    for field in VTU_WEBHOOK_FIELDS {
        assert!(vtu["vtu"].get(field).is_some(), "sample vtu payload lacks {field}");
    }
    assert_eq!(store.attempts(&ep_id, 50).await.unwrap_or_default().len(), 9);

    receiver.set_mode(Mode::Gone);
    add(s, &key, "https://instagram.com/p/gone").await;
    let start = std::time::Instant::now();
    loop {
        let e = store.get_endpoint(&acct, &ep_id).await.ok().flatten().unwrap_or_else(|| panic!("no endpoint"));
        if !e.active {
            assert!(e.disabled_reason.unwrap_or_default().contains("410"));
            break;
        }
        assert!(start.elapsed() < WAIT, "410 did not disable the endpoint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = receiver.got().len();
    add(s, &key, "https://instagram.com/p/after-gone").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.got().len(), before, "a disabled endpoint gets nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vtu_purchase_produces_the_documented_events_signed_and_in_order() {
    let s = stack();
    let store = s.store().await;
    let receiver = Receiver::start(Mode::Ok);
    let (acct, key, _) = subscribed(s, &store, &receiver).await;
    kobo_shared::flows::accounts::set_pin(&store, &s.pepper().await, &acct, "1234")
        .await
        .expect("setting the reseller's PIN");
    // Pending at the provider, then its signed success callback.
    s.topup_next("pending_success", 1, "08061110009").await;
    let (st, v) = ApiClient::new(s, &key).vtu_data(3, "08061110009", "1234").await;
    assert_eq!((st, v["status"].as_str()), (200, Some("processing")), "{v}");
    let trx = v["trx"].as_str().unwrap_or_default().to_string();

    let mut got = receiver.wait_for(4, WAIT).await;
    assert_eq!(got.len(), 4, "{got:?}");
    got.sort_by(|a, b| a.webhook_id.cmp(&b.webhook_id));
    let events: Vec<&str> = got.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(events, ["vtu.processing", "vtu.status_changed", "vtu.success", "vtu.status_changed"]);
    for r in &got {
        assert!(r.seed_signature_ok, "{r:?}");
        let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
        let vtu = &body["vtu"];
        assert_eq!(vtu["trx"], json!(trx));
        for field in VTU_WEBHOOK_FIELDS {
            assert!(vtu.get(field).is_some(), "{field} missing in {body}");
        }
        assert!(
            vtu["amount"].is_number() && vtu["base_amount"].is_number(),
            "amounts are numbers as in the seed: {body}"
        );
    }
    let last: Value = serde_json::from_str(&got[3].body).unwrap_or_default();
    assert_eq!(last["vtu"]["status"], "success");
    assert_eq!(
        Kobo::parse_naira(&format!("{:.2}", last["vtu"]["amount"].as_f64().unwrap_or(0.0))).unwrap_or_default(),
        Kobo::parse_naira(v["amount"].as_str().unwrap_or_default()).unwrap_or_default()
    );
}
