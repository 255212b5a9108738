//! Measurements (printed as `MEASURE` lines; only delivery counts are asserted): time
//! from the business write (the outbox item) to arrival at a receiver, over 200 events,
//! and the deliveries per second the local worker sustains against a fast receiver. On a
//! stack of its own: its bursts would queue ahead of other tests' deliveries (some wait
//! only seconds), and their deliveries would count in its throughput.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kobo_shared::db::item::Record;
use kobo_shared::domain::event::{EventType, OutboxEvent};
use kobo_shared::domain::webhook::{Delivery, DeliveryState};
use kobo_shared::flows::webhooks::deliver::QueueMsg;
use kobo_shared::flows::webhooks::manage;
use kobo_shared::platform::ssrf::TargetPolicy;
use kobo_tests::{new_reseller, own_stack, percentile_ms, Mode, Receiver, ResellerSpec, Stack, StackSlot};

const EVENTS: usize = 200;
const BURST: usize = 300;

/// This module's stack: its delivery queue and workers serve this benchmark only.
fn stack() -> &'static Stack {
    static BENCH: StackSlot = StackSlot::new();
    own_stack(&BENCH, "stack-bench-webhooks")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_to_delivery_latency_and_worker_throughput() {
    let _heavy = kobo_tests::heavy().await;
    let s = stack();
    let store = s.store().await;
    let receiver = Receiver::start(Mode::Ok);
    let (acct, _) = new_reseller(&store, ResellerSpec::default()).await;
    let (ep, secret) = manage::create_endpoint(
        &store,
        &s.vault().await,
        &acct,
        &receiver.url,
        vec![EventType::DepositSuccess],
        TargetPolicy::LOCAL,
    )
    .await
    .expect("creating the receiver's endpoint");
    receiver.set_secret(&secret);

    // 1. Latency: write an outbox event (what every business transaction writes), then
    //    wait for it at the receiver.
    let mut written: HashMap<String, Instant> = HashMap::new();
    for i in 0..EVENTS {
        let ev = OutboxEvent::new(
            &acct,
            EventType::DepositSuccess,
            "deposit",
            serde_json::json!({"id": i, "amount": "100.00"}),
        );
        store
            .client()
            .put_item()
            .table_name(store.table())
            .set_item(Some(ev.to_item()))
            .send()
            .await
            .expect("writing an outbox event");
        written.insert(ev.id.clone(), Instant::now());
        // Paced below the local pipeline's capacity (moto serializes every DynamoDB call).
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let got = receiver.wait_for(EVENTS, Duration::from_secs(120)).await;
    assert_eq!(got.len(), EVENTS, "every event delivered once");
    assert!(got.iter().all(|r| r.seed_signature_ok));
    let mut lat: Vec<Duration> =
        got.iter().filter_map(|r| written.get(&r.webhook_id).map(|w| r.at.saturating_duration_since(*w))).collect();
    assert_eq!(lat.len(), EVENTS);
    lat.sort();
    println!(
        "MEASURE webhook write→delivery over {EVENTS} events: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile_ms(&lat, 50),
        percentile_ms(&lat, 99),
        percentile_ms(&lat, 100)
    );

    // 2. Throughput: a burst of deliveries queued at once; time until all arrived.
    let queue = s.queue().await;
    let mut msgs = Vec::with_capacity(BURST);
    for i in 0..BURST {
        let d = Delivery {
            account_id: acct.clone(),
            id: format!("burst{i}#{}", ep.id),
            endpoint_id: ep.id.clone(),
            event_id: format!("burst{i}"),
            event: "deposit.success".into(),
            payload: format!("{{\"event\":\"deposit.success\",\"n\":{i}}}"),
            state: DeliveryState::Pending,
            attempts: 0,
            created_at: kobo_shared::domain::time::now_rfc3339(),
        };
        assert!(store.create_delivery(&d).await.unwrap_or(false));
        msgs.push(QueueMsg { account_id: acct.clone(), delivery_id: d.id, attempt: 1 });
    }
    let before = receiver.got().len();
    let t = Instant::now();
    for m in &msgs {
        queue.send(m, 0).await.expect("queueing a burst delivery");
    }
    let enqueued = t.elapsed();
    let got = receiver.wait_for(before + BURST, Duration::from_secs(300)).await;
    let took = t.elapsed();
    assert_eq!(got.len(), before + BURST);
    let burst = &got[before..];
    let first = burst.iter().map(|r| r.at).min().unwrap_or(t);
    let last = burst.iter().map(|r| r.at).max().unwrap_or(t);
    let span = last.saturating_duration_since(first).as_secs_f64().max(0.001);
    println!(
        "MEASURE webhook worker: {BURST} deliveries in {:.2} s from the first enqueue ({:.0}/s); arrivals spread over {:.2} s ({:.0}/s); enqueueing alone took {:.2} s (4 local pollers, moto)",
        took.as_secs_f64(),
        BURST as f64 / took.as_secs_f64(),
        span,
        BURST as f64 / span,
        enqueued.as_secs_f64()
    );
}
