//! The upstream SMM panel failing: down (nothing sent), answering 500 (outcome unknown),
//! slow past the timeout. Money is never lost and no order is ever sent twice. This
//! test has a stack of its own: it takes the shared simulator down, counts every `add`
//! the simulator receives, and expects its reconciler pass to send exactly its order.

use kobo_shared::domain::smm::UpstreamState;
use kobo_shared::Kobo;
use kobo_tests::{new_reseller, own_stack, ApiClient, ResellerSpec, Stack, StackSlot};
use serde_json::json;

/// This module's stack: nobody else's orders reach its simulator or its reconciler.
fn stack() -> &'static Stack {
    static FAULTS: StackSlot = StackSlot::new();
    own_stack(&FAULTS, "stack-faults")
}

#[tokio::test]
async fn upstream_down_then_up_places_the_order_once() {
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec::default()).await;
    let c = ApiClient::new(s, &key);
    let add = |link: &'static str| c.add(102, link, 100);
    let start = c.balance_answer().await.1;
    let adds_before = s.sim_stats().await["add_calls"].as_u64().unwrap_or(0);

    // 1. Down: the reseller still gets an order id; the order waits, unsent.
    s.sim_control("/control/faults", json!({"down": true})).await;
    let (st, v) = add("https://instagram.com/p/down").await;
    assert_eq!(st, 200, "{v}");
    let id = v["order"].as_u64().unwrap_or_default();
    let o = store.get_order(&acct, id).await.ok().flatten().unwrap_or_else(|| panic!("order missing"));
    assert_eq!(o.upstream, UpstreamState::Unsent);
    assert_eq!(o.status.as_str(), "pending");
    let rec = s.reconciler().await;
    rec.run_once().await.expect("reconciler pass while upstream is down");
    let o = store.get_order(&acct, id).await.ok().flatten().unwrap_or_else(|| panic!("order missing"));
    assert_eq!(o.upstream, UpstreamState::Unsent, "still down: still unsent");

    // 2. Up again: two reconcilers race; the order is sent exactly once.
    s.sim_control("/control/faults", json!({})).await;
    let (r1, r2) = (s.reconciler().await, s.reconciler().await);
    let (a, b) = tokio::join!(r1.run_once(), r2.run_once());
    assert_eq!(a.map(|r| r.sent).unwrap_or(0) + b.map(|r| r.sent).unwrap_or(0), 1);
    let o = store.get_order(&acct, id).await.ok().flatten().unwrap_or_else(|| panic!("order missing"));
    assert_eq!(o.upstream, UpstreamState::Placed);
    let up = o.upstream_order.clone().unwrap_or_default();
    rec.run_once().await.expect("reconciler pass after the race");
    assert_eq!(s.sim_stats().await["add_calls"].as_u64().unwrap_or(0), adds_before + 1, "exactly one upstream add");

    // 3. Upstream completes it.
    s.sim_control(&format!("/control/orders/{up}"), json!({"status": "Completed"})).await;
    rec.run_once().await.expect("reconciler pass (order completed)");
    let (_, v) = c.status(id).await;
    assert_eq!(v["status"], "completed");

    // 4. A 500 after sending: outcome unknown. Never re-sent automatically; the money
    //    stays charged until an operator resolves it.
    s.sim_control("/control/faults", json!({"fail_next": 1})).await;
    let (st, v) = add("https://instagram.com/p/ambiguous").await;
    assert_eq!(st, 200, "{v}");
    let amb = v["order"].as_u64().unwrap_or_default();
    let adds = s.sim_stats().await["add_calls"].as_u64().unwrap_or(0);
    for _ in 0..2 {
        rec.run_once().await.expect("reconciler pass (outcome unknown)");
    }
    let o = store.get_order(&acct, amb).await.ok().flatten().unwrap_or_else(|| panic!("order missing"));
    assert_eq!(o.upstream, UpstreamState::Unknown);
    assert_eq!(s.sim_stats().await["add_calls"].as_u64().unwrap_or(0), adds, "unknown orders are not re-sent");
    // The operator finds it was not placed and releases it; the next pass sends it once.
    store
        .set_upstream(&o, UpstreamState::Unknown, UpstreamState::Unsent, None)
        .await
        .expect("releasing the unknown order");
    rec.run_once().await.expect("reconciler pass after the release");
    let o = store.get_order(&acct, amb).await.ok().flatten().unwrap_or_else(|| panic!("order missing"));
    assert_eq!(o.upstream, UpstreamState::Placed);

    // 5. Slower than the timeout: also unknown, answered within the timeout.
    s.sim_control("/control/faults", json!({"delay_ms": 4000})).await;
    let t = std::time::Instant::now();
    let (st, v) = add("https://instagram.com/p/slow").await;
    assert_eq!(st, 200, "{v}");
    assert!(t.elapsed() < std::time::Duration::from_secs(4));
    s.sim_control("/control/faults", json!({})).await;
    let slow = v["order"].as_u64().unwrap_or_default();
    let o = store.get_order(&acct, slow).await.ok().flatten().unwrap_or_else(|| panic!("order missing"));
    assert_eq!(o.upstream, UpstreamState::Unknown);

    // 6. An upstream refusal cancels and refunds at once.
    s.sim_control("/control/faults", json!({"error_next": "Incorrect link"})).await;
    let (st, v) = add("https://instagram.com/p/refused").await;
    assert_eq!(st, 200, "{v}");
    let refused = v["order"].as_u64().unwrap_or_default();
    let o = store.get_order(&acct, refused).await.ok().flatten().unwrap_or_else(|| panic!("order missing"));
    assert_eq!((o.status.as_str(), o.refunded), ("cancelled", o.charge));

    // Money: start − the three kept orders (the refused one was refunded), ledger sums.
    let end = c.balance_answer().await.1;
    let start = Kobo::parse_naira(start["balance"].as_str().unwrap_or_default()).unwrap_or_default();
    let end = Kobo::parse_naira(end["balance"].as_str().unwrap_or_default()).unwrap_or_default();
    assert_eq!(end, Kobo::new(start.as_i64() - 3 * o.charge.as_i64()));
    let a = store.get_account(&acct).await.ok().flatten().unwrap_or_else(|| panic!("no account"));
    assert!(kobo_shared::flows::accounts::check_ledger(&store, &a).await.map(|c| c.ok()).unwrap_or(false));
}
