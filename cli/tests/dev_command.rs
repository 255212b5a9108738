//! The real `kobo dev` binary: starts, writes its demo file, serves the seed's curl
//! example, answers operator commands with `--local`, and stops everything on SIGTERM.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kobo() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kobo"));
    c.env("KOBO_ROOT", Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    c
}

fn run_ok(args: &[&str], demo: &Path) -> String {
    let out = kobo().args(args).env("KOBO_DEMO_JSON", demo).output().unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "kobo {args:?} failed: {}{}", stdout, String::from_utf8_lossy(&out.stderr));
    stdout
}

#[tokio::test]
async fn dev_serves_the_demo_reseller_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("kobo-dev-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let demo_path = dir.join("demo.json");
    // A receiver for the demo reseller's webhook endpoint.
    let hooks = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String, Vec<u8>)>::new()));
    let sink = hooks.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap_or_else(|e| panic!("{e}")));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                if let Ok(mut v) = sink.lock() {
                    v.push((h("x-webhook-event"), h("x-webhook-signature"), body.to_vec()));
                }
                "OK"
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut child = kobo()
        .arg("dev")
        .env("KOBO_PORT", "0")
        .env("KOBO_DEMO_JSON", &demo_path)
        .env("KOBO_DEMO_WEBHOOK_URL", &hook_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));

    let started = Instant::now();
    let demo: serde_json::Value = loop {
        if let Ok(text) = std::fs::read_to_string(&demo_path) {
            break serde_json::from_str(&text).unwrap_or_else(|e| panic!("demo.json: {e}"));
        }
        assert!(started.elapsed() < Duration::from_secs(180), "kobo dev did not become ready");
        assert!(child.try_wait().ok().flatten().is_none(), "kobo dev exited early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for field in ["base_url", "api_key", "account_id", "pin"] {
        assert!(demo[field].as_str().is_some_and(|v| !v.is_empty()), "demo.json lacks {field}: {demo}");
    }
    assert_eq!(demo["pin"], "1234");
    let base = demo["base_url"].as_str().unwrap_or_default();
    let key = demo["api_key"].as_str().unwrap_or_default();
    let account = demo["account_id"].as_str().unwrap_or_default().to_string();

    // The seed's curl example.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/v1"))
        .header("X-API-KEY", key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=balance")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    assert_eq!(body, serde_json::json!({"balance": "50000.00", "currency": "NGN"}));

    // The demo endpoint gets a signed order.created for an order.
    let secret = demo["webhook_secret"].as_str().unwrap_or_default().to_string();
    assert!(secret.starts_with("whsec_"), "demo.json lacks webhook_secret: {demo}");
    let r = http
        .post(format!("{base}/api/v1"))
        .form(&[
            ("key", key),
            ("action", "add"),
            ("service", "102"),
            ("link", "https://instagram.com/p/demo"),
            ("quantity", "100"),
        ])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 200);
    let waited = Instant::now();
    let delivered = loop {
        let got = hooks.lock().map(|v| v.clone()).unwrap_or_default();
        if let Some(d) = got.into_iter().find(|(e, _, _)| e == "order.created") {
            break d;
        }
        assert!(waited.elapsed() < Duration::from_secs(30), "no webhook delivery to the demo endpoint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(kobo_shared::platform::crypto::verify_hmac_sha256_hex(secret.as_bytes(), &delivered.2, &delivered.1));

    // Operator commands against the running stack.
    run_ok(&["wallet", "--local", "credit", &account, "250.50", "--reason", "test top-up"], &demo_path);
    run_ok(&["wallet", "--local", "debit", &account, "0.50", "--reason", "test fee"], &demo_path);
    let out = kobo()
        .args(["wallet", "--local", "debit", &account, "1000000", "--reason", "too much"])
        .env("KOBO_DEMO_JSON", &demo_path)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success(), "an overdraft debit must fail");
    let check = run_ok(&["ledger", "--local", "check"], &demo_path);
    assert!(check.contains("ledgers sum to their balances"), "{check}");
    let shown: serde_json::Value =
        serde_json::from_str(&run_ok(&["account", "--local", "show", &account], &demo_path)).unwrap_or_default();
    assert_eq!(shown["balance"], serde_json::json!(5_025_000 - 3_600), "minus the ₦36.00 order");

    let issued: serde_json::Value = serde_json::from_str(&run_ok(
        &["key", "--local", "issue", &account, "--label", "ci", "--scopes", "balance"],
        &demo_path,
    ))
    .unwrap_or_default();
    let new_key = issued["api_key"].as_str().unwrap_or_default().to_string();
    let key_id = issued["key"]["key_id"].as_str().unwrap_or_default().to_string();
    let balance_with = |k: String| {
        let http = http.clone();
        let url = format!("{base}/api/v1");
        async move {
            http.post(url).form(&[("action", "balance"), ("key", k.as_str())]).send().await.map(|r| r.status().as_u16())
        }
    };
    assert_eq!(balance_with(new_key.clone()).await.ok(), Some(200));
    let listed = run_ok(&["key", "--local", "list", &account], &demo_path);
    assert!(listed.contains(&key_id) && !listed.contains(&new_key), "keys list must not show secrets: {listed}");
    run_ok(&["key", "--local", "revoke", &account, &key_id], &demo_path);
    assert_eq!(balance_with(new_key).await.ok(), Some(401));

    // SIGTERM stops everything and removes the demo file.
    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success());
    let stopped = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "kobo dev exited with {status}");
            break;
        }
        assert!(stopped.elapsed() < Duration::from_secs(20), "kobo dev did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!demo_path.exists(), "demo.json must be removed on stop");
    let aws = demo["aws_endpoint_url"].as_str().unwrap_or_default().trim_start_matches("http://").to_string();
    let mut moto_gone = false;
    for _ in 0..40 {
        if std::net::TcpStream::connect(&aws).is_err() {
            moto_gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(moto_gone, "moto still listens at {aws} after stop");
    let _ = std::fs::remove_dir_all(&dir);
}
