//! The chaos test (issue 12): many resellers doing every money operation at once while
//! DynamoDB conflicts, throttles and answers 500 after writing (the launcher's seeded
//! faults), invocations crash at random points (the local Lambda's seeded crashes), and
//! the three providers misbehave (their simulators' seeded hostile modes: 429s, 5xx
//! after the work was done, duplicated and reordered callbacks, reversals, ...);
//! then the faults stop, the reconciler drains, and the money is checked:
//!
//! 1. every ledger sums to its balance, and no balance is below its minimum;
//! 2. every reference (order, purchase, withdrawal, deposit) is charged once and refunded
//!    at most once, in agreement with its final state (conservation per account);
//! 3. the simulators agree: nothing the VTU provider delivered is refunded (no alert
//!    excuses that: only a requery's confirmed failure refunds); any other disagreement
//!    has an operator alert; no upstream order twice;
//! 4. nothing is left non-final after the drain except what an operator alert names;
//! 5. no answer is a 5xx except a 503 with `Retry-After` that committed nothing, or an
//!    injected crash (API Gateway's 500);
//! 6. every webhook event has its delivery to its account's endpoint (the relay lost none),
//!    delivered (one `webhook-id`), failed after its four attempts, or waiting for its SQS
//!    message's redelivery (counted and printed).
//!
//! `KOBO_CHAOS_SEED` (default 7) and `KOBO_CHAOS_OPS` (default 160) choose the run;
//! the summary is printed with `--nocapture`.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use kobo_cli::devstack::lambda::Crashes;
use kobo_cli::devstack::moto::{launcher_faults, launcher_stats};
use kobo_shared::domain::smm::UpstreamState;
use kobo_shared::domain::vtu::{VtuCategory, VtuRoute};
use kobo_shared::domain::withdrawal::WithdrawalStatus;
use kobo_shared::flows::accounts::{self, Direction};
use kobo_shared::flows::providers::Providers;
use kobo_shared::flows::withdrawals;
use kobo_shared::{Kobo, Store};
use kobo_tests::{new_reseller, own_stack_with, ApiClient, ResellerSpec, Stack, StackSlot};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

static SLOT: StackSlot = StackSlot::new();
static CRASHES: OnceLock<Crashes> = OnceLock::new();

fn seed() -> u64 {
    std::env::var("KOBO_CHAOS_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(7)
}

fn ops_wanted() -> usize {
    std::env::var("KOBO_CHAOS_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(160)
}

fn fault_spec() -> String {
    format!("seed={},conflict=0.05,throttle=0.03,error_after_write=0.03", seed())
}

fn stack() -> &'static Stack {
    own_stack_with(&SLOT, "chaos", |o| {
        let crashes = Crashes::new(seed(), 0.0, 400);
        let _ = CRASHES.set(crashes.clone());
        o.crashes = Some(crashes);
        o.pace = kobo_cli::sim::smm::Pace { pending: Duration::from_millis(500), processing: Duration::from_secs(1) };
        o.topup_callback_delay = Duration::from_millis(200);
        // An order whose send a crash cut off is called unknown (and alerted) quickly.
        o.smm_sending_grace = Duration::from_secs(5);
    })
}

/// One operation of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Add,
    Bulk,
    Refill,
    Cancel,
    Vtu(u8),
    Deposit,
    Withdraw { approve: bool },
    Retry,
    Credit,
}

impl Op {
    fn name(self) -> String {
        match self {
            Op::Vtu(k) => format!("vtu_{}", VTU[usize::from(k)]),
            Op::Withdraw { approve: true } => "withdraw_approved".into(),
            Op::Withdraw { approve: false } => "withdraw_rejected".into(),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

const VTU: [&str; 7] = ["airtime", "data", "sme", "cable", "electricity", "education", "recharge_card"];

fn draw(rng: &mut StdRng) -> Op {
    match rng.random_range(0..100) {
        0..=17 => Op::Add,
        18..=25 => Op::Bulk,
        26..=28 => Op::Refill,
        29..=33 => Op::Cancel,
        34..=69 => Op::Vtu(rng.random_range(0..7)),
        70..=77 => Op::Deposit,
        78..=83 => Op::Withdraw { approve: rng.random_bool(0.5) },
        84..=94 => Op::Retry,
        _ => Op::Credit,
    }
}

/// What a client saw.
#[derive(Debug, Clone)]
struct Answer {
    op: String,
    status: u16,
    retry_after: Option<String>,
    body: Value,
    /// The spend's account and idempotency-key hash (for "a 503 committed nothing").
    idem: Option<(String, String)>,
}

/// A spend request that can be retried with its key.
#[derive(Debug, Clone)]
struct Spend {
    account: usize,
    key: String,
    fields: Vec<(String, String)>,
    op: String,
}

struct World {
    s: &'static Stack,
    store: Store,
    accounts: Vec<(String, String)>,
    payer: Providers,
    callback_key: kobo_shared::platform::secrets::KeyRing,
    spends: tokio::sync::Mutex<Vec<Spend>>,
    orders: tokio::sync::Mutex<Vec<(usize, u64)>>,
    credits: tokio::sync::Mutex<Vec<(usize, Kobo)>>,
    withdrawals: tokio::sync::Mutex<Vec<(String, String, bool)>>,
}

fn hash(key: &str) -> String {
    kobo_shared::platform::crypto::sha256_hex(key.as_bytes())
}

/// Turns every simulator's hostile mode on (`p` > 0) or off.
async fn providers_hostile(s: &Stack, seed: u64, p: f64) {
    for base in [&s.smm_base, &s.topup_base, &s.hubtel_base, &s.vtpass_base] {
        let r = reqwest::Client::new()
            .post(format!("{base}/control/chaos"))
            .json(&json!({"seed": seed, "p": p}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("setting {base}'s hostile mode: {e}"));
        assert!(r.status().is_success(), "{base} refused its hostile mode");
    }
}

async fn sim_stats(base: &str) -> Value {
    reqwest::get(format!("{base}/control/stats"))
        .await
        .unwrap_or_else(|e| panic!("{base}'s stats: {e}"))
        .json()
        .await
        .unwrap_or_default()
}

async fn post(w: &World, account: usize, key: Option<&str>, fields: &[(String, String)], op: &str) -> Answer {
    let mut c = ApiClient::new(w.s, &w.accounts[account].1);
    if let Some(k) = key {
        c = c.with_idempotency_key(k);
    }
    let f: Vec<(&str, &str)> = fields.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (status, retry_after, body) = c.call_answer(&f).await;
    Answer {
        op: op.to_string(),
        status,
        retry_after,
        body,
        idem: key.map(|k| (w.accounts[account].0.clone(), hash(k))),
    }
}

fn fields(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.clone())).collect()
}

fn vtu_fields(kind: u8, rng: &mut StdRng) -> Vec<(String, String)> {
    let phone = format!("0803{:07}", rng.random_range(0..10_000_000));
    let pin = ("pin", "1234".to_string());
    let action = ("action", format!("vtu_{}", VTU[usize::from(kind)]));
    match kind {
        0 => fields(&[action, ("service_name", "mtn".into()), ("phone", phone), ("amount", "200".into()), pin]),
        1 => fields(&[action, ("plan_id", "2".into()), ("phone", phone), pin]),
        2 => fields(&[action, ("plan_id", "101".into()), ("phone", phone), pin]),
        3 => fields(&[action, ("plan_id", "212".into()), ("customer_id", "7012345678".into()), ("phone", phone), pin]),
        4 => fields(&[
            action,
            ("service_name", "ikeja-electric".into()),
            ("meter_type", "prepaid".into()),
            ("meter_number", "45031234567".into()),
            ("phone", phone),
            ("amount", "1000".into()),
            pin,
        ]),
        5 => fields(&[action, ("phone", phone), ("amount", "3500".into()), pin]),
        _ => fields(&[action, ("card_network", "glo".into()), ("value", "100".into()), ("quantity", "2".into()), pin]),
    }
}

/// Runs one operation; every client answer it saw.
async fn run(w: &World, i: usize, op: Op, seed: u64) -> Vec<Answer> {
    let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let account = rng.random_range(0..w.accounts.len());
    let name = op.name();
    let key = format!("chaos-{seed}-{i}");
    let spend = |fields: Vec<(String, String)>| Spend { account, key: key.clone(), fields, op: name.clone() };
    match op {
        Op::Add | Op::Bulk | Op::Vtu(_) => {
            let f = match op {
                Op::Add => {
                    let words = ["ok", "partial", "cancel"];
                    let link = format!("https://instagram.com/p/{}-{i}", words[rng.random_range(0..3)]);
                    fields(&[
                        ("action", "add".into()),
                        ("service", "102".into()),
                        ("link", link),
                        ("quantity", "200".into()),
                    ])
                }
                Op::Bulk => {
                    let items: Vec<Value> = (0..rng.random_range(2..5))
                        .map(|n| json!({"service": 102, "link": format!("https://instagram.com/p/bulk-{i}-{n}"), "quantity": 100}))
                        .collect();
                    fields(&[("action", "add_bulk".into()), ("orders", Value::Array(items).to_string())])
                }
                Op::Vtu(k) => vtu_fields(k, &mut rng),
                _ => Vec::new(),
            };
            let a = post(w, account, Some(&key), &f, &name).await;
            remember_orders(w, account, &a).await;
            w.spends.lock().await.push(spend(f));
            vec![a]
        }
        Op::Retry => {
            let earlier = {
                let list = w.spends.lock().await;
                if list.is_empty() {
                    return Vec::new();
                }
                list[rng.random_range(0..list.len())].clone()
            };
            let a =
                post(w, earlier.account, Some(&earlier.key), &earlier.fields, &format!("retry_{}", earlier.op)).await;
            remember_orders(w, earlier.account, &a).await;
            vec![a]
        }
        Op::Refill | Op::Cancel => {
            let mine: Vec<u64> =
                w.orders.lock().await.iter().filter(|(a, _)| *a == account).map(|(_, id)| *id).collect();
            let Some(id) = mine.get(rng.random_range(0..mine.len().max(1))).copied() else { return Vec::new() };
            let action = if op == Op::Refill { "refill" } else { "cancel" };
            vec![post(w, account, None, &fields(&[("action", action.into()), ("orders", id.to_string())]), &name).await]
        }
        Op::Deposit => deposit(w, account, &name).await,
        Op::Withdraw { approve } => withdraw(w, account, approve, &name).await,
        Op::Credit => {
            let amount = Kobo::naira(rng.random_range(1..50) * 100);
            for _ in 0..5 {
                let r = accounts::adjust(
                    &w.store,
                    &w.accounts[account].0,
                    Direction::Credit,
                    amount,
                    "chaos credit",
                    "operator",
                )
                .await;
                if r.is_ok() {
                    w.credits.lock().await.push((account, amount));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Vec::new()
        }
    }
}

async fn remember_orders(w: &World, account: usize, a: &Answer) {
    let mut ids = Vec::new();
    if let Some(id) = a.body["order"].as_u64() {
        ids.push(id);
    }
    if let Some(list) = a.body.as_array() {
        ids.extend(list.iter().filter_map(|v| v["order"].as_u64()));
    }
    w.orders.lock().await.extend(ids.into_iter().map(|id| (account, id)));
}

async fn deposit(w: &World, account: usize, name: &str) -> Vec<Answer> {
    let a = post(w, account, None, &fields(&[("action", "deposit".into()), ("amount", "1500".into())]), name).await;
    let Some(id) = a.body["deposit_id"].as_str().map(str::to_string) else { return vec![a] };
    let links: Value = match reqwest::get(format!("{}/control/paylinks", w.s.hubtel_base)).await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    };
    let paylink = links
        .as_object()
        .and_then(|m| m.iter().find(|(_, v)| v["clientReference"] == json!(id)).map(|(k, _)| k.clone()));
    if let Some(p) = paylink {
        // Hubtel retries its callback until it is acknowledged.
        for _ in 0..6 {
            let r: Value = match reqwest::Client::new()
                .post(format!("{}/control/pay/{p}", w.s.hubtel_base))
                .json(&json!({}))
                .send()
                .await
            {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => Value::Null,
            };
            if matches!(r["callback_answer"]["status"].as_str(), Some("credited" | "duplicate")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    vec![a]
}

async fn withdraw(w: &World, account: usize, approve: bool, name: &str) -> Vec<Answer> {
    let (acct, _) = &w.accounts[account];
    let mut answers = Vec::new();
    let otp = post(
        w,
        account,
        None,
        &fields(&[("action", "withdraw_otp".into()), ("phone", "08031234567".into()), ("pin", "1234".into())]),
        name,
    )
    .await;
    let Some(otp_id) = otp.body["otp_id"].as_str().map(str::to_string) else {
        answers.push(otp);
        return answers;
    };
    answers.push(otp);
    let mut code = String::new();
    for _ in 0..5 {
        if let Ok(Some(o)) = w.store.get_otp(acct, &otp_id).await {
            let v: Value = match reqwest::get(format!("{}/control/otp/{}", w.s.hubtel_base, o.session.request_id)).await
            {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => Value::Null,
            };
            code = v["code"].as_str().unwrap_or_default().to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let f = fields(&[
        ("action", "withdraw".into()),
        ("amount", "1000".into()),
        ("phone", "+2348031234567".into()),
        ("pin", "1234".into()),
        ("otp_id", otp_id),
        ("otp", code),
    ]);
    let a = post(w, account, None, &f, name).await;
    let id = a.body["withdrawal_id"].as_str().map(str::to_string);
    answers.push(a);
    let Some(id) = id else { return answers };
    w.withdrawals.lock().await.push((acct.clone(), id.clone(), approve));
    operator_settles(w, acct, &id, approve).await;
    answers
}

/// The operator approves (and pays) or rejects a withdrawal, retrying what fails.
async fn operator_settles(w: &World, acct: &str, id: &str, approve: bool) {
    for _ in 0..6 {
        let Ok(Some(wd)) = w.store.get_withdrawal(acct, id).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        match wd.status {
            WithdrawalStatus::PendingApproval if approve => {
                let Ok(hubtel) = w.payer.hubtel.get().await else { continue };
                if let Ok(after) = withdrawals::approve_and_pay(
                    &w.store,
                    &*hubtel,
                    &w.payer.hubtel_throttle,
                    &w.callback_key,
                    &w.s.base_url,
                    &wd,
                )
                .await
                {
                    if let Some(tx) = after.transaction_id {
                        let _ = reqwest::Client::new()
                            .post(format!("{}/control/withdraw/{tx}", w.s.hubtel_base))
                            .json(&json!({"success": true}))
                            .send()
                            .await;
                    }
                }
            }
            WithdrawalStatus::PendingApproval => {
                let _ = withdrawals::release(
                    &w.store,
                    &wd,
                    WithdrawalStatus::PendingApproval,
                    WithdrawalStatus::Rejected,
                    "chaos rejection",
                    "operator",
                )
                .await;
            }
            WithdrawalStatus::Paying => {
                if let Some(tx) = wd.transaction_id {
                    let _ = reqwest::Client::new()
                        .post(format!("{}/control/withdraw/{tx}", w.s.hubtel_base))
                        .json(&json!({"success": true}))
                        .send()
                        .await;
                }
            }
            _ => return,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_holds_under_faults_crashes_and_concurrency() {
    let _heavy = kobo_tests::heavy().await;
    let started = Instant::now();
    let seed = seed();
    let s = stack();
    launcher_faults(&s.aws_endpoint, "").await.expect("faults off for the setup");
    let store = s.store().await;
    // Two VTU providers with failover: airtime, electricity and exam PINs go to VTpass
    // first (live: every number), recharge cards too (VTpass sells none: every one moves
    // on to the top-up provider); the top-up provider is second.
    for (category, service) in [
        (VtuCategory::Airtime, "*"),
        (VtuCategory::Electricity, "*"),
        (VtuCategory::Education, "waec"),
        (VtuCategory::RechargeCard, "*"),
    ] {
        let route = VtuRoute { category, service: service.into(), providers: vec!["vtpass".into(), "topup".into()] };
        store.put_vtu_route(&route).await.expect("setting a route");
    }
    let live = reqwest::Client::new().post(format!("{}/control/live", s.vtpass_base)).json(&json!({"on": true}));
    assert!(live.send().await.is_ok_and(|r| r.status().is_success()), "VTpass replica live");
    let pepper = s.pepper().await;
    let mut accts = Vec::new();
    for _ in 0..6 {
        let (acct, key) =
            new_reseller(&store, ResellerSpec { balance: Kobo::naira(200_000), ..Default::default() }).await;
        accounts::set_pin(&store, &pepper, &acct, "1234").await.expect("setting a PIN");
        store.set_payout_phone(&acct, Some("+2348031234567")).await.expect("registering the payout phone");
        accts.push((acct, key));
    }
    // Each reseller subscribes one endpoint (a receiver on loopback that checks the
    // signature, as the seed's examples do) to every event.
    let vault = s.vault().await;
    let mut receivers = Vec::new();
    for (acct, _) in &accts {
        let receiver = kobo_tests::Receiver::start(kobo_tests::Mode::Ok);
        let (_, secret) = kobo_shared::flows::webhooks::manage::create_endpoint(
            &store,
            &vault,
            acct,
            &receiver.url,
            kobo_shared::domain::webhook::ALL_EVENTS.to_vec(),
            kobo_shared::platform::ssrf::TargetPolicy::LOCAL,
        )
        .await
        .expect("subscribing an endpoint");
        receiver.set_secret(&secret);
        receivers.push(receiver);
    }
    let payer =
        Providers::new(&s.config(), aws_sdk_secretsmanager::Client::new(&s.sdk_as("ApiFunction").await), &store);
    let w = World {
        s,
        store: store.clone(),
        accounts: accts.clone(),
        payer,
        callback_key: s.key_ring(1).await,
        spends: Default::default(),
        orders: Default::default(),
        credits: Default::default(),
        withdrawals: Default::default(),
    };

    let mut rng = StdRng::seed_from_u64(seed);
    let ops: Vec<Op> = (0..ops_wanted()).map(|_| draw(&mut rng)).collect();
    let crashes = CRASHES.get().cloned();
    launcher_faults(&s.aws_endpoint, &fault_spec()).await.expect("faults on");
    providers_hostile(s, seed, 0.1).await;
    if let Some(c) = &crashes {
        c.set_p(0.03);
    }
    // The reconciler reads VTpass's float as often as the operations go by (in production
    // each scheduled pass), so a provider passed by for a low wallet is routed to again.
    let floats = s.reconciler().await;
    let float_reader = async {
        loop {
            let _ = floats.run_float_once().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let ops_done = stream::iter(ops.iter().copied().enumerate())
        .map(|(i, op)| run(&w, i, op, seed))
        .buffer_unordered(8)
        .collect::<Vec<_>>();
    let answers: Vec<Answer> = tokio::select! {
        done = ops_done => done,
        never = float_reader => never,
    }
    .into_iter()
    .flatten()
    .collect();
    let fault_stats = launcher_stats(&s.aws_endpoint).await.expect("emulator stats");
    launcher_faults(&s.aws_endpoint, "").await.expect("faults off for the drain");
    providers_hostile(s, seed, 0.0).await;
    if let Some(c) = &crashes {
        c.set_p(0.0);
    }
    let ops_time = started.elapsed();

    // Drain: the reconciler until nothing moves (bounded), withdrawals settled by the operator.
    let rec = s.reconciler().await;
    for pass in 0..40 {
        let _ = rec.run_all().await;
        let tracked = w.withdrawals.lock().await.clone();
        for (acct, id, approve) in tracked {
            operator_settles(&w, &acct, &id, approve).await;
        }
        let open = store.open_orders().await.unwrap_or_default();
        let waiting = open.iter().filter(|o| o.upstream != UpstreamState::Unknown).count();
        let processing = store.processing_vtu().await.map(|v| v.len()).unwrap_or(0);
        let alerted: Vec<String> =
            store.alerts().await.unwrap_or_default().into_iter().map(|a| a.about().to_string()).collect();
        let mut unsettled = 0;
        for (acct, id, _) in w.withdrawals.lock().await.iter() {
            if let Ok(Some(wd)) = store.get_withdrawal(acct, id).await {
                let open = matches!(
                    wd.status,
                    WithdrawalStatus::Verifying | WithdrawalStatus::PendingApproval | WithdrawalStatus::Paying
                );
                unsettled += usize::from(open && !alerted.contains(&format!("withdrawal:{id}")));
            }
        }
        if waiting == 0 && processing == 0 && unsettled == 0 && pass > 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The checks.
    let mut problems: Vec<String> = Vec::new();
    let alerts: HashMap<String, _> =
        store.alerts().await.unwrap_or_default().into_iter().map(|a| (a.about().to_string(), a)).collect();
    let sim = sim_stats(&s.topup_base).await;
    let vtpass = sim_stats(&s.vtpass_base).await;
    let hubtel = sim_stats(&s.hubtel_base).await;
    let smm = sim_stats(&s.smm_base).await;
    let mut upstream_ids: HashMap<String, u64> = HashMap::new();
    for (acct, _) in &accts {
        let a = store.get_account(acct).await.ok().flatten().unwrap_or_else(|| panic!("no account {acct}"));
        let check = accounts::check_ledger(&store, &a).await.expect("checking a ledger");
        if !check.ok() {
            problems
                .push(format!("1. ledger of {acct} sums to {} but the balance is {}", check.ledger_sum, check.balance));
        }
        if a.balance < a.min_balance {
            problems.push(format!("1. {acct} is below its minimum: {} < {}", a.balance, a.min_balance));
        }
        let mut by_ref: BTreeMap<String, Vec<Kobo>> = BTreeMap::new();
        for e in store.ledger(acct).await.unwrap_or_default() {
            if let Some(r) = e.reference {
                by_ref.entry(r).or_default().push(e.amount);
            }
        }
        for (reference, amounts) in &by_ref {
            let debits = amounts.iter().filter(|a| !a.is_positive()).count();
            let credits: Vec<&Kobo> = amounts.iter().filter(|a| a.is_positive()).collect();
            let (kind, id) = reference.split_once(':').unwrap_or(("", ""));
            match kind {
                "order" => {
                    let o = store.get_order(acct, id.parse().unwrap_or(0)).await.ok().flatten();
                    let Some(o) = o else {
                        problems.push(format!("2. {reference}: ledger entries but no order"));
                        continue;
                    };
                    if debits != 1 || credits.len() > 1 {
                        problems.push(format!("2. {reference}: {debits} charges and {} refunds", credits.len()));
                    }
                    let refunded = credits.first().map(|k| **k).unwrap_or(Kobo::ZERO);
                    if refunded != o.refunded {
                        problems.push(format!(
                            "2. {reference}: refunded {refunded} in the ledger, {} on the order",
                            o.refunded
                        ));
                    }
                    if let Some(u) = &o.upstream_order {
                        *upstream_ids.entry(u.clone()).or_default() += 1;
                    }
                    if !o.status.is_final() && !alerts.contains_key(reference) {
                        problems.push(format!(
                            "4. {reference} is still {} (upstream {:?}) after the drain, with no alert",
                            o.status, o.upstream
                        ));
                    }
                }
                "vtu" => {
                    let t = store.get_vtu(acct, id).await.ok().flatten();
                    let Some(t) = t else {
                        problems.push(format!("2. {reference}: ledger entries but no purchase"));
                        continue;
                    };
                    let status = t.status.as_str();
                    let want_refund = status == "failed";
                    if debits != 1 || credits.len() != usize::from(want_refund) {
                        problems
                            .push(format!("2. {reference} ({status}): {debits} charges and {} refunds", credits.len()));
                    }
                    // Ask the provider the purchase records; the other must not have
                    // delivered it (each purchase delivered by at most one provider).
                    let (provider, provider_ref) = kobo_shared::flows::vtu::provider_of(&t);
                    let at_topup = sim["by_reference"][id].as_str().unwrap_or("none");
                    let at_vtpass: Vec<&str> = vtpass["by_request_id"]
                        .as_object()
                        .map(|m| m.iter().filter(|(k, _)| k.ends_with(id)).filter_map(|(_, v)| v.as_str()).collect())
                        .unwrap_or_default();
                    let delivered_by =
                        usize::from(at_topup == "success") + at_vtpass.iter().filter(|v| **v == "delivered").count();
                    if delivered_by > 1 {
                        problems.push(format!("3. {reference}: delivered by {delivered_by} providers"));
                    }
                    let at_provider = if provider == "vtpass" {
                        match vtpass["by_request_id"][provider_ref.as_str()].as_str().unwrap_or("none") {
                            "delivered" => "success",
                            "reversed" => "failed",
                            other => other,
                        }
                    } else {
                        if at_vtpass.contains(&"delivered") {
                            problems.push(format!("3. {reference}: recorded at topup, delivered by VTpass"));
                        }
                        at_topup
                    };
                    let agrees = match status {
                        "failed" => at_provider != "success",
                        "success" => at_provider == "success",
                        _ => false,
                    };
                    if status == "failed" && at_provider == "success" {
                        // Refunded what the provider delivered: no alert excuses it (only a
                        // requery's confirmed failure may refund).
                        problems
                            .push(format!("3. {reference}: kobo failed and refunded it, the provider delivered it"));
                    } else if !agrees && !alerts.contains_key(reference) {
                        problems.push(format!(
                            "3./4. {reference}: kobo says {status}, the provider ({provider}, {provider_ref}) {at_provider}, and no alert"
                        ));
                    }
                }
                "withdrawal" => {
                    let wd = store.get_withdrawal(acct, id).await.ok().flatten();
                    let Some(wd) = wd else {
                        problems.push(format!("2. {reference}: ledger entries but no withdrawal"));
                        continue;
                    };
                    let released = matches!(wd.status, WithdrawalStatus::Rejected | WithdrawalStatus::Failed);
                    if debits != 1 || credits.len() != usize::from(released) {
                        problems.push(format!(
                            "2. {reference} ({}): {debits} holds and {} releases",
                            wd.status.as_str(),
                            credits.len()
                        ));
                    }
                    let sent = hubtel["sent_per_reference"][id].as_u64().unwrap_or(0);
                    if sent > 1 {
                        problems.push(format!("3. {reference}: Hubtel was asked to pay it {sent} times"));
                    }
                    if released && sent > 0 && !alerts.contains_key(reference) {
                        problems
                            .push(format!("3. {reference}: released by kobo though Hubtel took the payout, no alert"));
                    }
                    if !matches!(
                        wd.status,
                        WithdrawalStatus::Paid | WithdrawalStatus::Rejected | WithdrawalStatus::Failed
                    ) && !alerts.contains_key(reference)
                    {
                        problems.push(format!(
                            "4. {reference} is still {} after the drain, with no alert",
                            wd.status.as_str()
                        ));
                    }
                }
                "deposit" if debits != 0 || credits.len() != 1 => {
                    problems.push(format!("2. {reference}: credited {} times", credits.len()));
                }
                _ => {}
            }
        }
    }
    for (u, n) in &upstream_ids {
        if *n > 1 {
            problems.push(format!("3. upstream order {u} belongs to {n} kobo orders"));
        }
    }
    // 6. Webhooks: every event of these accounts has its delivery, delivered or failed.
    let events = outbox_events(s, &accts.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>()).await;
    let mut undelivered: Vec<String> = Vec::new();
    let mut deliveries: HashMap<String, (String, i64)> = HashMap::new();
    let mut unchanged = 0;
    for _ in 0..60 {
        let before = undelivered.len();
        deliveries.clear();
        for (acct, _) in &accts {
            let q = kobo_shared::db::Query::partition(kobo_shared::db::keys::account_pk(acct)).prefix("DELIVERY#");
            for item in store.query(&q).await.unwrap_or_default() {
                let r = kobo_shared::db::item::Reader::new(&item);
                if let (Ok(ev), Ok(state)) = (r.s("event_id"), r.s("state")) {
                    let attempts = r.opt_i64("attempts").ok().flatten().unwrap_or(0);
                    deliveries.insert(ev, (state, attempts));
                }
            }
        }
        undelivered = events
            .iter()
            .filter(|e| {
                !deliveries
                    .get(*e)
                    .is_some_and(|(state, attempts)| state == "delivered" || (state == "failed" && *attempts >= 4))
            })
            .cloned()
            .collect();
        // Done, or only deliveries waiting for their message's redelivery are left.
        unchanged = if undelivered.len() == before { unchanged + 1 } else { 0 };
        if undelivered.is_empty() || unchanged >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A delivery still pending or sending has its exit: its SQS message comes back after
    // the queue's visibility timeout (minutes), longer than this test waits. An event
    // with no delivery at all was lost by the relay.
    let awaiting_redelivery = undelivered.iter().filter(|e| deliveries.contains_key(*e)).count();
    for e in undelivered.iter().filter(|e| !deliveries.contains_key(*e)) {
        problems.push(format!("6. event {e} has no delivery: the relay lost it"));
    }
    let got: std::collections::HashSet<String> =
        receivers.iter().flat_map(|r| r.got()).filter(|r| r.seed_signature_ok).map(|r| r.webhook_id).collect();
    let delivered = deliveries.values().filter(|v| v.0.as_str() == "delivered").count();
    if got.len() < delivered || delivered + failed_after_attempts(&deliveries) + awaiting_redelivery < events.len() {
        problems.push(format!(
            "6. {} events, {delivered} deliveries marked delivered, {} signed webhook-ids received",
            events.len(),
            got.len()
        ));
    }

    // 5. Answers. A 503'd spend must have committed nothing; a key retried later may have
    // been committed by the retry, so only keys never retried are checked.
    let mut answered_per_key: HashMap<(String, String), usize> = HashMap::new();
    for a in &answers {
        if let Some(k) = &a.idem {
            *answered_per_key.entry(k.clone()).or_default() += 1;
        }
    }
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
    for a in &answers {
        *by_status.entry(a.status).or_default() += 1;
        *by_op.entry(a.op.clone()).or_default() += 1;
        let crash = a.status == 500 && a.body["message"] == "Internal Server Error";
        match a.status {
            503 => {
                if a.retry_after.is_none() {
                    problems.push(format!("5. {}: 503 without Retry-After: {}", a.op, a.body));
                }
                if let Some((acct, key_hash)) = &a.idem {
                    let retried = answered_per_key.get(&(acct.clone(), key_hash.clone())).copied().unwrap_or(0) > 1;
                    if (a.op.starts_with("vtu") || a.op == "add") && !retried {
                        if let Ok(Some(_)) = store.get_idem(acct, key_hash).await {
                            problems.push(format!("5. {}: answered 503 but its spend was committed", a.op));
                        }
                    }
                }
            }
            500 if crash => {}
            s if s >= 500 => problems.push(format!("5. {}: answered {s}: {}", a.op, a.body)),
            _ => {}
        }
    }
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for op in &ops {
        *kinds.entry(op.name()).or_default() += 1;
    }
    println!(
        "CHAOS seed {seed}: {} operations in {:.1} s (+ drain, {:.1} s in all); by kind {kinds:?}",
        ops.len(),
        ops_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    println!("CHAOS answers by status {by_status:?}; by request {by_op:?}");
    println!(
        "CHAOS faults injected {}; invocations crashed {}; operator alerts {}",
        fault_stats["faults"]["injected"],
        crashes.map(|c| c.cut()).unwrap_or(0),
        alerts.len()
    );
    println!(
        "CHAOS webhooks: {} events, {delivered} delivered, {} failed after 4 attempts, {awaiting_redelivery} awaiting \
         their SQS redelivery, {} distinct signed webhook-ids received",
        events.len(),
        failed_after_attempts(&deliveries),
        got.len()
    );
    println!(
        "CHAOS hostile providers: smm {} topup {} vtpass {} hubtel {}",
        smm["hostile"], sim["hostile"], vtpass["hostile"], hubtel["hostile"]
    );
    println!(
        "CHAOS VTU routes (airtime, electricity, waec, recharge cards: vtpass then topup): vtpass took {} purchases, topup {}",
        vtpass["purchases"], sim["purchases"]
    );
    println!(
        "CHAOS invariants: ledgers=balances, balances>=minimum, one charge / at most one refund per reference in \
         agreement with its state, simulators agree, nothing non-final without an alert, no 5xx but 503+Retry-After \
         (uncommitted) or injected crashes: {} problem(s)",
        problems.len()
    );
    assert!(problems.is_empty(), "money invariants broken (seed {seed}):\n{}", problems.join("\n"));
}

/// The ids of every outbox event of `accounts` (a scan: tests only).
async fn outbox_events(s: &Stack, accounts: &[String]) -> Vec<String> {
    let sdk = kobo_cli::devstack::moto::sdk_config_for(&s.aws_endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(&s.table)
            .filter_expression("#t = :outbox")
            .expression_attribute_names("#t", "type")
            .expression_attribute_values(":outbox", aws_sdk_dynamodb::types::AttributeValue::S("outbox".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scanning the outbox");
        for item in page.items() {
            let r = kobo_shared::db::item::Reader::new(item);
            if let (Ok(acct), Ok(id)) = (r.s("account_id"), r.s("event_id")) {
                if accounts.contains(&acct) {
                    out.push(id);
                }
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return out;
        }
    }
}

/// Deliveries marked failed after their four attempts.
fn failed_after_attempts(deliveries: &HashMap<String, (String, i64)>) -> usize {
    deliveries.values().filter(|v| v.0.as_str() == "failed" && v.1 >= 4).count()
}
