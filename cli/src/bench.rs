//! `kobo bench`: the numbers a reseller feels, measured in one run on a local stack of its
//! own, printed as one table:
//!
//! - DynamoDB calls and sequential round trips per action (an SDK interceptor counts
//!   them: a round trip starts whenever a call starts with none in flight);
//! - p50/p99 per action over HTTP, beside the same requests handled in-process and the
//!   time they spent waiting on the emulator (the union of their DynamoDB calls, from the
//!   interceptor): handler / emulator is the handler's overhead;
//! - cold start of every function binary beside a hello-world `lambda_http` binary with
//!   the same SDK clients, built with the release profile and started under a minimal
//!   Lambda Runtime API on loopback (init = process start → first `GET
//!   /invocation/next`; first invocation; warm median; peak RSS);
//! - the release zip size of every function for arm64 when `cargo lambda` is installed;
//! - throughput of `add` and of a VTU purchase at concurrency 1, 8 and 32.
//!
//! It is a benchmark: it prints what it measured and fails only when a request fails.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;

use crate::devstack::{self, moto, DevStack, Project};

/// Counts an SDK client's calls: their names, how many overlap, the sequential round
/// trips (a call starting with none in flight starts one) and the time some call was in
/// flight (the union of the calls' intervals).
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<Vec<(String, usize)>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    waves: Arc<AtomicUsize>,
    busy: Arc<Mutex<(Duration, Option<Instant>)>>,
}

impl CallCounter {
    /// Operation names recorded since the last reset.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default()
    }

    /// The calls grouped by the round trip each started in (the first wave first), each
    /// group sorted by name.
    pub fn waves(&self) -> Vec<Vec<String>> {
        let calls = self.calls.lock().map(|c| c.clone()).unwrap_or_default();
        let mut waves: Vec<Vec<String>> = Vec::new();
        for (name, wave) in calls {
            let i = wave.saturating_sub(1);
            if waves.len() <= i {
                waves.resize(i + 1, Vec::new());
            }
            waves[i].push(name);
        }
        for w in &mut waves {
            w.sort();
        }
        waves
    }

    /// Most operations in flight at once since the last reset.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Sequential round trips: how many times a call started while none was in flight.
    pub fn round_trips(&self) -> usize {
        self.waves.load(Ordering::SeqCst)
    }

    /// How long at least one call was in flight since the last reset.
    pub fn busy(&self) -> Duration {
        self.busy.lock().map(|b| b.0).unwrap_or_default()
    }

    /// Whether no call is in flight.
    pub fn idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Forgets what was recorded.
    pub fn reset(&self) {
        self.waves.store(0, Ordering::SeqCst);
        if let Ok(mut c) = self.calls.lock() {
            c.clear();
        }
        if let Ok(mut b) = self.busy.lock() {
            b.0 = Duration::ZERO;
        }
        self.max_in_flight.store(0, Ordering::SeqCst);
    }

    /// Waits (up to a second) until no call is in flight, then forgets what was recorded.
    pub async fn settle_and_reset(&self) {
        for _ in 0..100 {
            if self.idle() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.reset();
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_serialization(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg.load::<Metadata>().map(|m| m.name().to_string()).unwrap_or_else(|| "?".into());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        if now == 1 {
            self.waves.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut b) = self.busy.lock() {
                b.1 = Some(Instant::now());
            }
        }
        if let Ok(mut c) = self.calls.lock() {
            c.push((name, self.waves.load(Ordering::SeqCst)));
        }
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Ok(())
    }

    fn read_after_execution(
        &self,
        _ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            if let Ok(mut b) = self.busy.lock() {
                if let Some(started) = b.1.take() {
                    b.0 += started.elapsed();
                }
            }
        }
        Ok(())
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Timed requests per action (each way: HTTP and in-process).
    pub samples: usize,
    /// Build the functions with the release profile and measure their cold starts.
    pub cold: bool,
}

/// One action's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActionRow {
    /// The action (and its variant).
    pub action: String,
    /// DynamoDB calls of one request.
    pub calls: usize,
    /// Sequential round trips of one request.
    pub round_trips: usize,
    /// The calls, in the order they started.
    pub call_names: Vec<String>,
    /// Over HTTP through the local gateway (ms).
    pub http_p50: f64,
    /// p99 over HTTP (ms).
    pub http_p99: f64,
    /// The handler called in-process (ms).
    pub handler_p50: f64,
    /// p99 in-process (ms).
    pub handler_p99: f64,
    /// Time the in-process requests waited on the emulator (ms).
    pub emulator_p50: f64,
    /// p99 of it (ms).
    pub emulator_p99: f64,
}

/// One function binary's start.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ColdRow {
    /// Function (or `hello-world`).
    pub function: String,
    /// Process start → first `GET /invocation/next` (ms).
    pub init_ms: f64,
    /// The first invocation (event handed out → response posted) (ms).
    pub first_ms: f64,
    /// Median of the warm invocations after it (ms).
    pub warm_ms: f64,
    /// Peak resident memory (MiB).
    pub peak_rss_mib: f64,
    /// The stripped release binary (MiB).
    pub binary_mib: f64,
}

/// Requests per second at a concurrency.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadRow {
    /// `add` or `vtu_data`.
    pub action: String,
    /// Requests in flight.
    pub concurrency: usize,
    /// Requests answered 200.
    pub ok: usize,
    /// Requests per second.
    pub per_sec: f64,
    /// p50 latency (ms).
    pub p50: f64,
}

/// What a bench run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// `uname`-style machine description.
    pub machine: String,
    /// Per action.
    pub actions: Vec<ActionRow>,
    /// Per function binary (empty without `--cold`).
    pub cold: Vec<ColdRow>,
    /// Release zip sizes (arm64), or why there are none.
    pub zips: Result<Vec<(String, f64)>, String>,
    /// Throughput.
    pub load: Vec<LoadRow>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// A form body.
fn form(fields: &[(&str, String)]) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    fields
        .iter()
        .map(|(k, v)| {
            format!("{}={}", utf8_percent_encode(k, NON_ALPHANUMERIC), utf8_percent_encode(v, NON_ALPHANUMERIC))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The requests measured, by label: each a form without the key.
fn cases(order: u64, trx: &str, n: usize) -> Vec<(String, Vec<(&'static str, String)>)> {
    let pin = ("pin", devstack::seed::DEMO_PIN.to_string());
    let phone = ("phone", format!("0803{:07}", 1_000_000 + n));
    let bulk: Vec<serde_json::Value> = (0..10)
        .map(|i| serde_json::json!({"service": 101, "link": format!("https://instagram.com/p/bench{i}"), "quantity": 100}))
        .collect();
    let s = |v: &str| v.to_string();
    vec![
        (s("balance"), vec![("action", s("balance"))]),
        (s("services"), vec![("action", s("services"))]),
        (
            s("add"),
            vec![
                ("action", s("add")),
                ("service", s("101")),
                ("link", s("https://instagram.com/p/bench")),
                ("quantity", s("100")),
            ],
        ),
        (s("add_bulk (10)"), vec![("action", s("add_bulk")), ("orders", serde_json::Value::Array(bulk).to_string())]),
        (s("status"), vec![("action", s("status")), ("order", order.to_string())]),
        (
            s("vtu_airtime"),
            vec![
                ("action", s("vtu_airtime")),
                ("service_name", s("mtn")),
                ("amount", s("100")),
                phone.clone(),
                pin.clone(),
            ],
        ),
        (s("vtu_data"), vec![("action", s("vtu_data")), ("plan_id", s("1")), phone.clone(), pin.clone()]),
        (s("vtu_sme"), vec![("action", s("vtu_sme")), ("plan_id", s("101")), phone.clone(), pin.clone()]),
        (
            s("vtu_cable"),
            vec![
                ("action", s("vtu_cable")),
                ("plan_id", s("201")),
                ("customer_id", s("7012345678")),
                phone.clone(),
                pin.clone(),
            ],
        ),
        (
            s("vtu_electricity"),
            vec![
                ("action", s("vtu_electricity")),
                ("service_name", s("ikeja-electric")),
                ("meter_type", s("prepaid")),
                ("meter_number", s("45012345678")),
                ("amount", s("1000")),
                phone.clone(),
                pin.clone(),
            ],
        ),
        (s("vtu_education"), vec![("action", s("vtu_education")), ("amount", s("3500")), phone.clone(), pin.clone()]),
        (
            s("vtu_recharge_card"),
            vec![
                ("action", s("vtu_recharge_card")),
                ("card_network", s("mtn")),
                ("value", s("100")),
                ("quantity", s("1")),
                pin,
            ],
        ),
        (s("vtu_status"), vec![("action", s("vtu_status")), ("trx", trx.to_string())]),
    ]
}

/// An API Gateway request for `body` with the key in a header, as the gateway builds it.
fn gateway_request(body: &str, key: &str) -> Result<lambda_http::Request> {
    let route =
        crate::template::Route { method: "POST".into(), path: "/api/v1".into(), function: "ApiFunction".into() };
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("content-type", axum::http::HeaderValue::from_static("application/x-www-form-urlencoded"));
    headers.insert("x-api-key", axum::http::HeaderValue::from_str(key)?);
    let event =
        devstack::server::gateway_event(&route, "POST", "/api/v1", "", &headers, "203.0.113.90", body.as_bytes());
    lambda_http::request::from_str(&event).context("building the gateway request")
}

/// The status and JSON body of an in-process answer.
fn answer(resp: &lambda_http::Response<lambda_http::Body>) -> (u16, serde_json::Value) {
    let body = match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    (resp.status().as_u16(), body)
}

/// Starts a stack, measures, stops it.
pub async fn run(project: &Project, opts: BenchOptions) -> Result<BenchReport> {
    let stack = DevStack::start(project, devstack::Options::standalone("moto-bench.log", None)).await?;
    let result = measure(project, &stack, &opts).await;
    stack.stop().await;
    result
}

async fn measure(project: &Project, stack: &DevStack, opts: &BenchOptions) -> Result<BenchReport> {
    let sdk = moto::sdk_config_for(&stack.aws_endpoint).await;
    let store = kobo_shared::Store::new(aws_sdk_dynamodb::Client::new(&sdk), stack.resources.table()?.to_string());
    let pepper = kobo_shared::platform::secrets::SecretsCache::<kobo_shared::platform::secrets::KeyRing>::new(
        aws_sdk_secretsmanager::Client::new(&sdk),
        stack.config.pin_pepper_secret_id.clone(),
    )
    .get()
    .await
    .context("reading the PIN pepper ring")?;
    let (_, key) = crate::soak::soak_reseller(&store, &pepper).await?;

    // The in-process API, as its Lambda builds it, with its DynamoDB calls counted.
    let api_creds = stack.credentials.get("ApiFunction").context("no ApiFunction credentials")?;
    let api_sdk = moto::sdk_config_as(&sdk, api_creds);
    let counter = CallCounter::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&api_sdk).interceptor(counter.clone()).build();
    let mut app = kobo_api::App::new(
        stack.config.clone(),
        aws_sdk_dynamodb::Client::from_conf(conf),
        aws_sdk_secretsmanager::Client::new(&api_sdk),
    );
    app.clock = kobo_shared::domain::time::Clock::fixed(kobo_shared::domain::time::now_unix());
    let call = |body: String| {
        let app = &app;
        let key = key.clone();
        async move { Ok::<_, anyhow::Error>(answer(&kobo_api::handle(app, gateway_request(&body, &key)?).await)) }
    };
    // An order and a purchase for the status actions.
    let (_, placed) = call(form(&cases(0, "", 0)[2].1)).await?;
    let order = placed["order"].as_u64().context("the bench order was not placed")?;
    let (_, bought) = call(form(&cases(order, "", 0)[6].1)).await?;
    let trx = bought["trx"].as_str().context("the bench purchase was not made")?.to_string();

    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let url = format!("{}/api/v1", stack.base_url);
    let mut actions = Vec::new();
    let labels: Vec<String> = cases(order, &trx, 0).into_iter().map(|(l, _)| l).collect();
    for (i, label) in labels.iter().enumerate() {
        let body = |n: usize| form(&cases(order, &trx, n)[i].1);
        // Warm this path (catalogs, secrets), then count one request.
        let (st, v) = call(body(0)).await?;
        if st != 200 {
            bail!("{label} answered {st}: {v}");
        }
        counter.settle_and_reset().await;
        call(body(1)).await?;
        let (calls, round_trips) = (counter.calls(), counter.round_trips());
        let (mut handler, mut emulator, mut over_http) = (Vec::new(), Vec::new(), Vec::new());
        for n in 0..opts.samples {
            counter.settle_and_reset().await;
            let t = Instant::now();
            let (st, v) = call(body(2 + n)).await?;
            handler.push(ms(t.elapsed()));
            emulator.push(ms(counter.busy()));
            if st != 200 {
                bail!("{label} answered {st}: {v}");
            }
            let t = Instant::now();
            let r = http
                .post(&url)
                .header("X-API-KEY", &key)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body(10_000 + n))
                .send()
                .await?;
            let st = r.status().as_u16();
            let _ = r.bytes().await?;
            over_http.push(ms(t.elapsed()));
            if st != 200 {
                bail!("{label} answered {st} over HTTP");
            }
        }
        let (handler, emulator, over_http) = (sorted(handler), sorted(emulator), sorted(over_http));
        actions.push(ActionRow {
            action: label.clone(),
            calls: calls.len(),
            round_trips,
            call_names: calls,
            http_p50: percentile(&over_http, 0.5),
            http_p99: percentile(&over_http, 0.99),
            handler_p50: percentile(&handler, 0.5),
            handler_p99: percentile(&handler, 0.99),
            emulator_p50: percentile(&emulator, 0.5),
            emulator_p99: percentile(&emulator, 0.99),
        });
    }

    let mut load = Vec::new();
    for (label, i) in [("add", 2usize), ("vtu_data", 6usize)] {
        for concurrency in [1usize, 8, 32] {
            let total = 40 * concurrency.min(8);
            let next = Arc::new(AtomicUsize::new(0));
            let started = Instant::now();
            let workers: Vec<_> = (0..concurrency)
                .map(|_| {
                    let (http, url, key, next) = (http.clone(), url.clone(), key.clone(), next.clone());
                    let trx = trx.clone();
                    tokio::spawn(async move {
                        let mut out = Vec::new();
                        loop {
                            let n = next.fetch_add(1, Ordering::SeqCst);
                            if n >= total {
                                return out;
                            }
                            let body = form(&cases(order, &trx, 100_000 + n)[i].1);
                            let t = Instant::now();
                            let r = http
                                .post(&url)
                                .header("X-API-KEY", &key)
                                .header("content-type", "application/x-www-form-urlencoded")
                                .body(body)
                                .send()
                                .await;
                            let ok = match r {
                                Ok(r) => r.status().as_u16() == 200 && r.bytes().await.is_ok(),
                                Err(_) => false,
                            };
                            out.push((ok, ms(t.elapsed())));
                        }
                    })
                })
                .collect();
            let mut samples = Vec::new();
            for w in workers {
                samples.extend(w.await.unwrap_or_default());
            }
            let secs = started.elapsed().as_secs_f64();
            let ok = samples.iter().filter(|(ok, _)| *ok).count();
            let p50 = percentile(&sorted(samples.iter().map(|(_, t)| *t).collect()), 0.5);
            load.push(LoadRow { action: label.into(), concurrency, ok, per_sec: ok as f64 / secs.max(1e-9), p50 });
        }
    }

    let cold = if opts.cold { crate::bench_cold::measure(project, stack, &key).await? } else { Vec::new() };
    let zips = crate::bench_cold::zips(project).await;
    Ok(BenchReport { machine: machine(), actions, cold, zips, load })
}

/// The machine, as `uname -m`, the CPU model and count, and memory say.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<f64>().ok()))
        .map(|kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{} × {cpu}, {mem}, {}", cores, std::env::consts::ARCH)
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "kobo bench on {}", self.machine)?;
        writeln!(f)?;
        writeln!(f, "| action | DynamoDB calls | round trips | HTTP p50 / p99 ms | handler p50 / p99 ms | emulator p50 / p99 ms | handler ÷ emulator |")?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|")?;
        for a in &self.actions {
            writeln!(
                f,
                "| {} | {} | {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:.2} |",
                a.action,
                a.calls,
                a.round_trips,
                a.http_p50,
                a.http_p99,
                a.handler_p50,
                a.handler_p99,
                a.emulator_p50,
                a.emulator_p99,
                if a.emulator_p50 > 0.0 { a.handler_p50 / a.emulator_p50 } else { 0.0 }
            )?;
        }
        writeln!(f)?;
        writeln!(f, "| throughput over HTTP | concurrency | requests/s | p50 ms | answered 200 |")?;
        writeln!(f, "|---|---:|---:|---:|---:|")?;
        for l in &self.load {
            writeln!(f, "| {} | {} | {:.1} | {:.1} | {} |", l.action, l.concurrency, l.per_sec, l.p50, l.ok)?;
        }
        writeln!(f)?;
        if self.cold.is_empty() {
            writeln!(f, "cold starts: not measured (run `kobo bench --cold`)")?;
        } else {
            writeln!(
                f,
                "| binary (release) | init ms | first invocation ms | warm median ms | peak RSS MiB | binary MiB |"
            )?;
            writeln!(f, "|---|---:|---:|---:|---:|---:|")?;
            for c in &self.cold {
                writeln!(
                    f,
                    "| {} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} |",
                    c.function, c.init_ms, c.first_ms, c.warm_ms, c.peak_rss_mib, c.binary_mib
                )?;
            }
        }
        writeln!(f)?;
        match &self.zips {
            Ok(z) => {
                writeln!(f, "| function | arm64 zip MiB |")?;
                writeln!(f, "|---|---:|")?;
                for (name, mib) in z {
                    writeln!(f, "| {name} | {mib:.2} |")?;
                }
            }
            Err(why) => writeln!(f, "release zips: {why}")?,
        }
        Ok(())
    }
}
