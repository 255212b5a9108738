//! `kobo soak`: drives a local stack of its own with mixed reseller traffic (VTU
//! purchases, SMM orders, balance and status reads) at a fixed concurrency, and reports
//! what a long session on `kobo dev` feels like: spends per second, latency of the first
//! and last tenth of the requests, and the emulator's memory before and after. It is a
//! benchmark, not a test: it prints numbers and checks only that money added up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use kobo_shared::domain::account::Plan;
use kobo_shared::domain::vtu::VtuCategory;
use kobo_shared::flows::accounts;
use kobo_shared::flows::accounts::{Direction, NewAccount};
use kobo_shared::{Action, Kobo, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::devstack::{self, moto, DevStack, Project};

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Stop after this many requests...
    pub requests: u64,
    /// ...or after this long, whichever comes first.
    pub duration: Option<Duration>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Run the emulator as stock moto does (table copies, no trimming), to compare.
    pub stock_emulator: bool,
    /// Seed of the request mix.
    pub seed: u64,
}

/// One request's kind in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Airtime,
    Data,
    SmmAdd,
    Balance,
    Status,
}

impl Kind {
    fn is_spend(self) -> bool {
        matches!(self, Kind::Airtime | Kind::Data | Kind::SmmAdd)
    }

    /// 40% airtime, 20% data, 20% SMM orders, 10% balance, 10% order status.
    fn draw(rng: &mut StdRng) -> Kind {
        match rng.random_range(0..100) {
            0..40 => Kind::Airtime,
            40..60 => Kind::Data,
            60..80 => Kind::SmmAdd,
            80..90 => Kind::Balance,
            _ => Kind::Status,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    index: u64,
    kind: Kind,
    latency: Duration,
    ok: bool,
    status: u16,
}

/// What a soak run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SoakReport {
    /// Emulator mode: `journaled` or `stock`.
    pub emulator: String,
    /// Concurrency.
    pub concurrency: usize,
    /// Requests answered.
    pub requests: u64,
    /// Of which spends answered successfully.
    pub spends: u64,
    /// Requests that got no 2xx answer, by status (0 = no answer).
    pub errors: Vec<(u16, u64)>,
    /// Wall time of the traffic, seconds.
    pub seconds: f64,
    /// Successful spends per second.
    pub spends_per_sec: f64,
    /// Requests per second.
    pub requests_per_sec: f64,
    /// p50 and p99 (ms) of the first 10% of requests.
    pub first_p50_ms: f64,
    /// p99 of the first 10%.
    pub first_p99_ms: f64,
    /// p50 of the last 10%.
    pub last_p50_ms: f64,
    /// p99 of the last 10%.
    pub last_p99_ms: f64,
    /// last-10% p50 over first-10% p50.
    pub p50_ratio: f64,
    /// Emulator RSS before the traffic (MiB).
    pub rss_start_mib: f64,
    /// Emulator RSS after it (MiB).
    pub rss_end_mib: f64,
    /// Emulator peak RSS (MiB).
    pub rss_peak_mib: f64,
    /// Items in the table at the end.
    pub items_end: u64,
    /// Stream records held at the end.
    pub stream_records_end: u64,
    /// Whether the soak account's ledger sums to its balance at the end.
    pub ledger_ok: bool,
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn mib(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(0.0) / (1024.0 * 1024.0)
}

/// A reseller for the soak: a plan without rate limits, a large balance, PIN 1234.
pub(crate) async fn soak_reseller(
    store: &Store,
    pepper: &kobo_shared::platform::secrets::KeyRing,
) -> Result<(String, String)> {
    let plan = Plan {
        id: "soak".into(),
        name: "Soak".into(),
        smm_discount_bp: 0,
        vtu_discount_bp: VtuCategory::ALL.into_iter().map(|c| (c, 0)).collect(),
        key_rpm: 0,
        ip_rpm: 0,
    };
    store.put_plan(&plan).await.context("creating the soak plan")?;
    let acct = accounts::create_account(
        store,
        NewAccount {
            name: "Soak Reseller".into(),
            plan_id: plan.id.clone(),
            email: None,
            phone: None,
            api_active: true,
            id: None,
        },
    )
    .await
    .context("creating the soak reseller")?;
    accounts::adjust(store, &acct.id, Direction::Credit, Kobo::naira(100_000_000), "soak float", "soak").await?;
    accounts::set_pin(store, pepper, &acct.id, devstack::seed::DEMO_PIN).await?;
    let (key, _) = accounts::issue_key(store, &acct.id, "soak", Action::ALL, &[], &[]).await?;
    Ok((acct.id, key.secret))
}

/// Starts a stack, runs the traffic, and reports.
pub async fn run(project: &Project, opts: SoakOptions) -> Result<SoakReport> {
    let mut options = devstack::Options::standalone("moto-soak.log", Some(Duration::from_secs(5)));
    if opts.stock_emulator {
        options.moto_args = vec!["--stock".into()];
    }
    let stack = DevStack::start(project, options).await?;
    let sdk = moto::sdk_config_for(&stack.aws_endpoint).await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), stack.resources.table()?.to_string());
    let pepper = kobo_shared::platform::secrets::SecretsCache::<kobo_shared::platform::secrets::KeyRing>::new(
        aws_sdk_secretsmanager::Client::new(&sdk),
        stack.resources.secret("PinPepperSecret")?.to_string(),
    )
    .get()
    .await
    .context("reading the PIN pepper ring")?;
    let (account, key) = soak_reseller(&store, &pepper).await?;
    let before = moto::launcher_stats(&stack.aws_endpoint).await?;

    let url = format!("{}/api/v1", stack.base_url);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let next = Arc::new(AtomicU64::new(0));
    let last_order = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::with_capacity(opts.requests as usize)));
    let started = Instant::now();
    let deadline = opts.duration.map(|d| started + d);
    let workers: Vec<_> = (0..opts.concurrency.max(1))
        .map(|_| {
            let (http, url, key) = (http.clone(), url.clone(), key.clone());
            let (next, last_order, samples) = (next.clone(), last_order.clone(), samples.clone());
            let (limit, seed) = (opts.requests, opts.seed);
            tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= limit || deadline.is_some_and(|d| Instant::now() >= d) {
                        return;
                    }
                    let mut rng = StdRng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    let kind = Kind::draw(&mut rng);
                    let phone = format!("0803{:07}", rng.random_range(0..10_000_000u32));
                    let order = last_order.load(Ordering::SeqCst).to_string();
                    let fields: Vec<(&str, &str)> = match kind {
                        Kind::Airtime => vec![
                            ("action", "vtu_airtime"),
                            ("service_name", "mtn"),
                            ("phone", &phone),
                            ("amount", "100"),
                            ("pin", devstack::seed::DEMO_PIN),
                        ],
                        Kind::Data => vec![
                            ("action", "vtu_data"),
                            ("plan_id", "1"),
                            ("phone", &phone),
                            ("pin", devstack::seed::DEMO_PIN),
                        ],
                        Kind::SmmAdd => vec![
                            ("action", "add"),
                            ("service", "101"),
                            ("link", "https://instagram.com/p/soak"),
                            ("quantity", "100"),
                        ],
                        Kind::Status if order != "0" => vec![("action", "status"), ("order", &order)],
                        Kind::Balance | Kind::Status => vec![("action", "balance")],
                    };
                    let t = Instant::now();
                    let answer = http.post(&url).header("X-API-KEY", &key).form(&fields).send().await;
                    let (status, body) = match answer {
                        Ok(r) => {
                            let st = r.status().as_u16();
                            (st, r.json::<serde_json::Value>().await.unwrap_or_default())
                        }
                        Err(_) => (0, serde_json::Value::Null),
                    };
                    let latency = t.elapsed();
                    if kind == Kind::SmmAdd {
                        if let Some(id) = body["order"].as_u64() {
                            last_order.fetch_max(id, Ordering::SeqCst);
                        }
                    }
                    let ok = (200..300).contains(&status) && body.get("error").is_none();
                    if let Ok(mut s) = samples.lock() {
                        s.push(Sample { index, kind, latency, ok, status });
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = moto::launcher_stats(&stack.aws_endpoint).await?;
    let acct = store.get_account(&account).await?.context("the soak account is gone")?;
    let ledger_ok = accounts::check_ledger(&store, &acct).await.map(|c| c.ok()).unwrap_or(false);
    let table = stack.resources.table()?.to_string();
    stack.stop().await;

    let mut samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    samples.sort_by_key(|s| s.index);
    let n = samples.len();
    let tenth = (n / 10).max(1).min(n);
    let sorted = |part: &[Sample]| {
        let mut v: Vec<Duration> = part.iter().map(|s| s.latency).collect();
        v.sort();
        v
    };
    let (first, last) = (sorted(&samples[..tenth]), sorted(&samples[n - tenth..]));
    let spends = samples.iter().filter(|s| s.ok && s.kind.is_spend()).count() as u64;
    let mut errors: Vec<(u16, u64)> = Vec::new();
    for s in samples.iter().filter(|s| !s.ok) {
        match errors.iter_mut().find(|(st, _)| *st == s.status) {
            Some((_, c)) => *c += 1,
            None => errors.push((s.status, 1)),
        }
    }
    errors.sort();
    let first_p50 = percentile_ms(&first, 0.5);
    let last_p50 = percentile_ms(&last, 0.5);
    Ok(SoakReport {
        emulator: if opts.stock_emulator { "stock" } else { "journaled" }.into(),
        concurrency: opts.concurrency,
        requests: n as u64,
        spends,
        errors,
        seconds,
        spends_per_sec: spends as f64 / seconds.max(1e-9),
        requests_per_sec: n as f64 / seconds.max(1e-9),
        first_p50_ms: first_p50,
        first_p99_ms: percentile_ms(&first, 0.99),
        last_p50_ms: last_p50,
        last_p99_ms: percentile_ms(&last, 0.99),
        p50_ratio: if first_p50 > 0.0 { last_p50 / first_p50 } else { 0.0 },
        rss_start_mib: mib(&before["rss_bytes"]),
        rss_end_mib: mib(&after["rss_bytes"]),
        rss_peak_mib: mib(&after["peak_rss_bytes"]),
        items_end: after["tables"][&table]["items"].as_u64().unwrap_or(0),
        stream_records_end: after["tables"][&table]["stream_records"].as_u64().unwrap_or(0),
        ledger_ok,
    })
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "kobo soak ({} emulator, concurrency {})", self.emulator, self.concurrency)?;
        writeln!(
            f,
            "  requests            {} in {:.1} s ({:.1}/s)",
            self.requests, self.seconds, self.requests_per_sec
        )?;
        writeln!(f, "  spends              {} ({:.1}/s)", self.spends, self.spends_per_sec)?;
        writeln!(f, "  errors by status    {:?}", self.errors)?;
        writeln!(f, "  first 10%  p50/p99  {:.1} / {:.1} ms", self.first_p50_ms, self.first_p99_ms)?;
        writeln!(f, "  last 10%   p50/p99  {:.1} / {:.1} ms", self.last_p50_ms, self.last_p99_ms)?;
        writeln!(f, "  last/first p50      {:.2}", self.p50_ratio)?;
        writeln!(
            f,
            "  emulator RSS        {:.0} MiB -> {:.0} MiB (peak {:.0} MiB)",
            self.rss_start_mib, self.rss_end_mib, self.rss_peak_mib
        )?;
        writeln!(f, "  table at the end    {} items, {} stream records held", self.items_end, self.stream_records_end)?;
        write!(f, "  ledger              {}", if self.ledger_ok { "sums to the balance" } else { "DOES NOT SUM" })
    }
}
