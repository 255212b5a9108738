//! `kobo bench --cold`: every function binary (and a hello-world `lambda_http` binary with
//! the same SDK clients), built with the release profile, started as Lambda starts it —
//! under a minimal Lambda Runtime API on loopback — against the bench's local stack; and
//! the release zip sizes when `cargo lambda` is installed.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use crate::bench::ColdRow;
use crate::devstack::{DevStack, Project};

/// Warm invocations measured after the first.
const WARM: usize = 20;

/// The function binaries, their template logical ids (for their credentials), and the
/// event each is started with.
const FUNCTIONS: [(&str, &str); 5] = [
    ("api", "ApiFunction"),
    ("callbacks", "CallbacksFunction"),
    ("relay", "RelayFunction"),
    ("webhooks", "WebhooksFunction"),
    ("reconciler", "ReconcilerFunction"),
];

#[derive(Default)]
struct Runtime {
    events: VecDeque<String>,
    started: Option<Instant>,
    first_next: Option<Instant>,
    handed: Vec<Instant>,
    answered: Vec<Duration>,
    errors: usize,
    done: Option<tokio::sync::oneshot::Sender<()>>,
    total: usize,
}

type Shared = Arc<Mutex<Runtime>>;

async fn next(State(rt): State<Shared>) -> Response {
    let event = {
        let Ok(mut r) = rt.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        if r.first_next.is_none() {
            r.first_next = Some(Instant::now());
        }
        r.events.pop_front().map(|e| {
            r.handed.push(Instant::now());
            (r.handed.len(), e)
        })
    };
    let Some((n, event)) = event else {
        // Nothing more: hold the request until the process is stopped.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return StatusCode::NO_CONTENT.into_response();
    };
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 30_000)
        .unwrap_or_default();
    let pairs = [
        ("lambda-runtime-aws-request-id", format!("bench-{n}")),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:bench".to_string()),
        ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000".to_string()),
        ("content-type", "application/json".to_string()),
    ];
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    }
    (headers, event).into_response()
}

fn answered(rt: &Shared, id: &str, error: bool) {
    let Ok(mut r) = rt.lock() else { return };
    let n: usize = id.trim_start_matches("bench-").parse().unwrap_or(0);
    if let Some(handed) = n.checked_sub(1).and_then(|i| r.handed.get(i).copied()) {
        r.answered.push(handed.elapsed());
    }
    r.errors += usize::from(error);
    if r.answered.len() >= r.total {
        if let Some(done) = r.done.take() {
            let _ = done.send(());
        }
    }
}

async fn response(State(rt): State<Shared>, UrlPath(id): UrlPath<String>) -> StatusCode {
    answered(&rt, &id, false);
    StatusCode::ACCEPTED
}

async fn error(State(rt): State<Shared>, UrlPath(id): UrlPath<String>) -> StatusCode {
    answered(&rt, &id, true);
    StatusCode::ACCEPTED
}

async fn init_error(State(rt): State<Shared>) -> StatusCode {
    if let Ok(mut r) = rt.lock() {
        r.errors += 1;
        if let Some(done) = r.done.take() {
            let _ = done.send(());
        }
    }
    StatusCode::ACCEPTED
}

/// Builds the release binaries; their paths by name.
async fn build(project: &Project) -> Result<Vec<(String, PathBuf)>> {
    let root = &project.root;
    let mut args: Vec<&str> = vec!["build", "--release", "--quiet"];
    for p in ["kobo-api", "kobo-callbacks", "kobo-relay", "kobo-webhooks", "kobo-reconciler"] {
        args.extend(["-p", p]);
    }
    for cmd in [args, vec!["build", "--release", "--quiet", "-p", "kobo-cli", "--example", "hello_lambda"]] {
        eprintln!("kobo bench: cargo {} (release profile; the first build takes minutes)", cmd.join(" "));
        let st = tokio::process::Command::new("cargo").args(&cmd).current_dir(root).status().await?;
        if !st.success() {
            bail!("cargo {} failed", cmd.join(" "));
        }
    }
    let release = root.join("target").join("release");
    let mut bins: Vec<(String, PathBuf)> =
        FUNCTIONS.iter().map(|(name, _)| (name.to_string(), release.join(name))).collect();
    bins.push(("hello-world".into(), release.join("examples").join("hello_lambda")));
    Ok(bins)
}

/// Peak resident memory of a process (MiB), from `/proc`.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Starts `binary` under a fresh runtime API with `events` (the first is the cold one)
/// and measures it.
async fn start_one(name: &str, binary: &Path, env: &[(String, String)], events: Vec<String>) -> Result<ColdRow> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let total = events.len();
    let rt: Shared =
        Arc::new(Mutex::new(Runtime { events: events.into(), done: Some(done_tx), total, ..Default::default() }));
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(rt.clone());
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let started = Instant::now();
    if let Ok(mut r) = rt.lock() {
        r.started = Some(started);
    }
    let mut child = tokio::process::Command::new(binary)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id().unwrap_or(0);
    let finished = tokio::time::timeout(Duration::from_secs(60), done_rx).await;
    let rss = peak_rss_mib(pid);
    let _ = child.kill().await;
    server.abort();
    if finished.is_err() {
        bail!("{name} did not answer its {total} invocations within 60 s");
    }
    let r = rt.lock().map_err(|_| anyhow::anyhow!("runtime state poisoned"))?;
    let init = r.first_next.map(|t| t.duration_since(started)).unwrap_or_default();
    let first = r.answered.first().copied().unwrap_or_default();
    let mut warm: Vec<f64> = r.answered.iter().skip(1).map(|d| d.as_secs_f64() * 1000.0).collect();
    warm.sort_by(|a, b| a.total_cmp(b));
    let binary_mib = std::fs::metadata(binary).map(|m| m.len() as f64 / 1024.0 / 1024.0).unwrap_or(0.0);
    Ok(ColdRow {
        function: if r.errors > 0 { format!("{name} ({} error answers)", r.errors) } else { name.to_string() },
        init_ms: init.as_secs_f64() * 1000.0,
        first_ms: first.as_secs_f64() * 1000.0,
        warm_ms: warm.get(warm.len() / 2).copied().unwrap_or(0.0),
        peak_rss_mib: rss,
        binary_mib,
    })
}

/// The event each binary is started with: the API's a `balance` request with the bench
/// key; the others' from `events/` (as `sam local invoke -e` would feed them).
fn events_for(project: &Project, name: &str, key: &str) -> Result<String> {
    let gateway = |path: &str, function: &str, body: &str, headers: &[(&str, &str)]| -> Result<String> {
        let route = crate::template::Route { method: "POST".into(), path: path.into(), function: function.into() };
        let mut map = axum::http::HeaderMap::new();
        for (k, v) in headers {
            map.insert(axum::http::HeaderName::from_bytes(k.as_bytes())?, HeaderValue::from_str(v)?);
        }
        Ok(crate::devstack::server::gateway_event(&route, "POST", path, "", &map, "203.0.113.91", body.as_bytes()))
    };
    let file =
        |f: &str| std::fs::read_to_string(project.root.join("events").join(f)).with_context(|| format!("events/{f}"));
    match name {
        "api" | "hello-world" => gateway(
            "/api/v1",
            "ApiFunction",
            "action=balance",
            &[("x-api-key", key), ("content-type", "application/x-www-form-urlencoded")],
        ),
        "callbacks" => gateway("/callbacks/topup", "CallbacksFunction", "{\"success\":true}", &[("x-signature", "00")]),
        "relay" => file("relay-outbox-insert.json"),
        "webhooks" => file("webhooks-delivery.json"),
        _ => Ok(
            serde_json::json!({"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
                                   "account": "123456789012", "time": "2026-12-03T00:00:00Z", "region": "us-east-1",
                                   "resources": [], "detail": {}})
            .to_string(),
        ),
    }
}

/// Builds the release binaries and measures each one's cold start against `stack`.
pub async fn measure(project: &Project, stack: &DevStack, key: &str) -> Result<Vec<ColdRow>> {
    let bins = build(project).await?;
    let mut rows = Vec::new();
    for (name, path) in bins {
        let logical = FUNCTIONS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l).unwrap_or("ApiFunction");
        let creds = stack.credentials.get(logical).with_context(|| format!("no credentials for {logical}"))?;
        let mut env: Vec<(String, String)> =
            stack.config.env_vars().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        env.extend([
            ("AWS_ENDPOINT_URL".to_string(), stack.aws_endpoint.clone()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), creds.access_key_id().to_string()),
            ("AWS_SECRET_ACCESS_KEY".into(), creds.secret_access_key().to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "256".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "bench".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME".into(), "/aws/lambda/bench".into()),
        ]);
        let event = events_for(project, &name, key)?;
        let events = vec![event; WARM + 1];
        rows.push(start_one(&name, &path, &env, events).await?);
    }
    Ok(rows)
}

/// The arm64 release zip of every function, when `cargo lambda` is installed.
pub async fn zips(project: &Project) -> Result<Vec<(String, f64)>, String> {
    let has = tokio::process::Command::new("cargo")
        .args(["lambda", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .map(|s| s.success())
        .unwrap_or(false);
    if !has {
        return Err("not measured: `cargo lambda` is not installed here (it needs zig to cross-compile for arm64; \
                    `pip install cargo-lambda` installs both), so no arm64 zip can be built"
            .into());
    }
    let root = &project.root;
    let st = tokio::process::Command::new("cargo")
        .args(["lambda", "build", "--release", "--arm64", "--output-format", "zip"])
        .current_dir(root)
        .status()
        .await
        .map_err(|e| format!("cargo lambda build: {e}"))?;
    if !st.success() {
        return Err("cargo lambda build --release --arm64 failed".into());
    }
    Ok(FUNCTIONS
        .iter()
        .map(|(name, _)| {
            let zip = root.join("target").join("lambda").join(name).join("bootstrap.zip");
            let mib = std::fs::metadata(&zip).map(|m| m.len() as f64 / 1024.0 / 1024.0).unwrap_or(0.0);
            (name.to_string(), mib)
        })
        .collect())
}
