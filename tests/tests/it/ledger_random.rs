//! A randomized run of mixed deposits (with duplicate callbacks), withdrawals
//! (paid, rejected, failed) and spends (delivered and refunded), four at a time across
//! five accounts, against moto through the real SDK. Afterwards every account's ledger
//! sums to its balance and no balance went below zero.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use kobo_shared::domain::deposit as deposit_rules;
use kobo_shared::domain::deposit::{Deposit, DepositStatus};
use kobo_shared::domain::time::now_rfc3339;
use kobo_shared::domain::vtu as vtu_rules;
use kobo_shared::domain::vtu::VtuCategory;
use kobo_shared::domain::vtu::{Outcome, VtuStatus, VtuTx};
use kobo_shared::domain::withdrawal as withdrawal_rules;
use kobo_shared::domain::withdrawal::{Withdrawal, WithdrawalStatus};
use kobo_shared::flows::accounts;
use kobo_shared::flows::accounts::NewAccount;
use kobo_shared::flows::deposits;
use kobo_shared::flows::vtu;
use kobo_shared::flows::withdrawals;
use kobo_shared::{Kobo, Store};
use kobo_tests::store_with_plan;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Operations in a run: `KOBO_LEDGER_OPS`, default 1,000 (about 20 s on the journaled
/// emulator; stock moto, which copies the whole table for every transaction item, took
/// minutes for 200).
fn ops() -> usize {
    std::env::var("KOBO_LEDGER_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

async fn deposit(store: &Store, account: &str, amount: Kobo, duplicate: bool) -> bool {
    let d = Deposit {
        id: deposit_rules::new_deposit_id(),
        account_id: account.into(),
        amount,
        status: DepositStatus::AwaitingPayment,
        paylink_id: Some("pl".into()),
        paylink_url: Some("https://pay".into()),
        created_at: now_rfc3339(),
    };
    store.put_deposit(&d).await.expect("storing the deposit");
    let body = serde_json::json!({"data": {"status": "Success", "amount": amount.as_i64() as f64 / 100.0, "clientReference": d.id}});
    let r = deposits::apply_payment(store, &d, &body).await.expect("applying the payment");
    if duplicate {
        let again = deposits::apply_payment(store, &d, &body).await.expect("applying the payment again");
        assert_eq!(again, deposit_rules::PaymentResult::Duplicate);
    }
    r == deposit_rules::PaymentResult::Credited
}

async fn withdraw(store: &Store, account: &str, amount: Kobo, fate: u8) {
    let w = Withdrawal {
        id: withdrawal_rules::new_withdrawal_id(),
        account_id: account.into(),
        amount,
        phone: "+2348031234567".into(),
        status: WithdrawalStatus::PendingApproval,
        transaction_id: None,
        reason: None,
        pending_otp: None,
        created_at: now_rfc3339(),
        send_attempts: 0,
        payout_unknown: false,
        sending_since: None,
    };
    if withdrawals::hold(store, &w, Kobo::ZERO).await.is_err() {
        return; // insufficient: nothing held
    }
    match fate % 3 {
        0 => {
            let _ = withdrawals::release(
                store,
                &w,
                WithdrawalStatus::PendingApproval,
                WithdrawalStatus::Rejected,
                "random",
                "test",
            )
            .await;
            // A second rejection must change nothing.
            assert!(!withdrawals::release(
                store,
                &w,
                WithdrawalStatus::PendingApproval,
                WithdrawalStatus::Rejected,
                "random",
                "test"
            )
            .await
            .unwrap_or(true));
        }
        1 => {
            assert!(withdrawals::approve(store, &w).await.unwrap_or(false));
            assert!(withdrawals::mark_paid(store, &w, "tx").await.unwrap_or(false));
        }
        _ => {
            assert!(withdrawals::approve(store, &w).await.unwrap_or(false));
            let mut paying = w.clone();
            paying.status = WithdrawalStatus::Paying;
            assert!(withdrawals::release(
                store,
                &paying,
                WithdrawalStatus::Paying,
                WithdrawalStatus::Failed,
                "payout failed",
                "test"
            )
            .await
            .unwrap_or(false));
            assert!(!withdrawals::mark_paid(store, &paying, "tx").await.unwrap_or(true), "no payment after a failure");
        }
    }
}

async fn spend(store: &Store, account: &str, amount: Kobo, fail: bool) {
    let now = now_rfc3339();
    let tx = VtuTx {
        id: 1,
        trx: vtu_rules::new_trx(),
        account_id: account.into(),
        category: VtuCategory::Airtime,
        service_name: "mtn".into(),
        phone: "08031234567".into(),
        amount,
        base_amount: amount,
        profit_amount: Kobo::ZERO,
        face_value: amount,
        status: VtuStatus::Processing,
        provider_ref: None,
        message: None,
        meta: serde_json::json!({}),
        cards: vec![],
        request: serde_json::json!({}),
        created_at: now.clone(),
        updated_at: now,
    };
    if vtu::pay(store, &tx, Kobo::ZERO, None, false).await.is_err() {
        return;
    }
    let outcome = if fail {
        Outcome::Failed { reason: "random".into() }
    } else {
        Outcome::Success { provider_ref: None, meta: serde_json::json!({}), cards: vec![] }
    };
    let first = vtu::settle(store, &tx, &outcome, "test").await.unwrap_or_else(|e| panic!("settle: {e}"));
    assert!(first.is_some(), "the first settlement applies");
    // A second settlement changes nothing.
    let again = vtu::settle(store, &tx, &outcome, "test").await.unwrap_or_else(|e| panic!("settle again: {e}"));
    assert!(again.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_operations_keep_every_ledger_equal_to_its_balance() {
    let store = store_with_plan(0).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let a = accounts::create_account(
            &store,
            NewAccount {
                name: format!("r{i}"),
                plan_id: "basic".into(),
                email: None,
                phone: None,
                api_active: true,
                id: None,
            },
        )
        .await
        .expect("creating an account");
        ids.push(a.id);
    }
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let ops = ops();
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let (store, ids, next) = (store.clone(), ids.clone(), next.clone());
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(0x6b6f626f + w);
                let mut counts = [0usize; 3];
                while next.fetch_add(1, Ordering::SeqCst) < ops {
                    let account = &ids[rng.random_range(0..ids.len())];
                    let amount = Kobo::new(rng.random_range(1..=500_000)); // up to ₦5,000.00
                    match rng.random_range(0..10) {
                        0..=2 => {
                            deposit(&store, account, amount, rng.random_bool(0.2)).await;
                            counts[0] += 1;
                        }
                        3..=5 => {
                            withdraw(&store, account, amount, rng.random()).await;
                            counts[1] += 1;
                        }
                        _ => {
                            spend(&store, account, amount, rng.random_bool(0.3)).await;
                            counts[2] += 1;
                        }
                    }
                }
                counts
            })
        })
        .collect();
    let mut totals = [0usize; 3];
    for w in workers {
        let c = w.await.expect("a worker ran to its end");
        for i in 0..3 {
            totals[i] += c[i];
        }
    }
    let took = started.elapsed();
    assert_eq!(totals.iter().sum::<usize>(), ops);
    let checks = accounts::check_all_ledgers(&store).await.expect("checking every ledger");
    assert_eq!(checks.len(), 5);
    for c in &checks {
        assert!(c.ok(), "ledger of {} does not sum to its balance: {c:?}", c.account_id);
        assert!(c.balance.as_i64() >= 0, "{c:?}");
    }
    let entries: usize = checks.iter().map(|c| c.entries).sum();
    println!(
        "MEASURE ledger check after {ops} random operations ({} deposits, {} withdrawals, {} spends; 4 at a time, 5 accounts): {entries} ledger entries, every ledger sums to its balance; took {:.1} s",
        totals[0],
        totals[1],
        totals[2],
        took.as_secs_f64()
    );
}
