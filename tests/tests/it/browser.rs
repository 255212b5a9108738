//! The Developer Portal in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`; `kobo test` installs them when it can).
//! Sign up → verify the phone → request a plan → an operator approves it → create a key
//! → call `/api/v1` with it → add a webhook → press Test → the attempt in the log →
//! redeliver. Each step asserts what the page shows and saves a screenshot under
//! `target/portal-screenshots/`.
//!
//! WebDriver is a small REST protocol (W3C); the few commands used are spoken directly
//! with reqwest rather than through a client crate, whose features would leak into the
//! whole workspace's test build (thirtyfour turns on serde_json's `preserve_order`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kobo_shared::flows::access;
use kobo_shared::flows::accounts::{self, Direction};
use kobo_shared::Kobo;
use kobo_tests::{free_port, stack, unique, ApiClient, Mode, Receiver};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn missing_browser() -> String {
    format!(
        "the browser test needs {CHROMIUM} and {CHROMEDRIVER}: install the Debian packages \
         `chromium` and `chromium-driver` (apt-get install -y chromium chromium-driver); \
         `kobo test` installs them itself when run as root"
    )
}

/// chromedriver on a loopback port, killed when dropped.
struct Driver {
    _child: tokio::process::Child,
    url: String,
}

async fn start_chromedriver() -> Driver {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "{}",
        missing_browser()
    );
    let port = free_port();
    let child = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting chromedriver: {e}; {}", missing_browser()));
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("{url}/status")).await {
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            if v["value"]["ready"] == serde_json::json!(true) {
                return Driver { _child: child, url };
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not become ready on {url}");
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("portal-screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// How to find an element (W3C locator strategies).
#[derive(Debug, Clone, Copy)]
enum By<'a> {
    Id(&'a str),
    Css(&'a str),
    XPath(&'a str),
    LinkText(&'a str),
    Tag(&'a str),
}

impl By<'_> {
    fn locator(&self) -> Value {
        let (using, value) = match *self {
            By::Id(id) => ("css selector", format!("[id='{id}']")),
            By::Css(c) => ("css selector", c.to_string()),
            By::XPath(x) => ("xpath", x.to_string()),
            By::LinkText(t) => ("link text", t.to_string()),
            By::Tag(t) => ("tag name", t.to_string()),
        };
        json!({"using": using, "value": value})
    }
}

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One WebDriver session.
struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
    shots: PathBuf,
    n: u32,
}

impl Browser {
    async fn start(driver_url: &str, args: &[String], base: &str) -> Browser {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let v: Value = http
            .post(format!("{driver_url}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap_or_else(|e| panic!("a Chromium session: {e}"))
            .json()
            .await
            .unwrap_or_default();
        let id = v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no Chromium session: {v}"));
        Browser {
            http,
            session: format!("{driver_url}/session/{id}"),
            base: base.into(),
            shots: screenshot_dir(),
            n: 0,
        }
    }

    /// A WebDriver command; its `value`, or the error WebDriver answered.
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| json!(e.to_string()))?;
        let ok = resp.status().is_success();
        let v: Value = resp.json().await.unwrap_or_default();
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(v["value"].clone())
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await.unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    async fn get(&self, path: &str) -> Value {
        self.cmd(reqwest::Method::GET, path, None).await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// The element `by` names, waiting up to 10 s for it (a click that submits a form
    /// may return before the next page has loaded).
    async fn find(&self, by: By<'_>) -> String {
        let mut last = Value::Null;
        for _ in 0..100 {
            match self.cmd(reqwest::Method::POST, "/element", Some(by.locator())).await {
                Ok(v) => {
                    if let Some(id) = v[ELEMENT_KEY].as_str() {
                        return id.to_string();
                    }
                    last = v;
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element {by:?}: {last}\n{}", self.describe().await)
    }

    /// Where the browser is and what the page says, for a failure's message.
    async fn describe(&self) -> String {
        let url = self.cmd(reqwest::Method::GET, "/url", None).await.unwrap_or_else(|e| e);
        let body = match self.cmd(reqwest::Method::POST, "/element", Some(By::Tag("body").locator())).await {
            Ok(v) => match v[ELEMENT_KEY].as_str() {
                Some(el) => {
                    self.cmd(reqwest::Method::GET, &format!("/element/{el}/text"), None).await.unwrap_or_else(|e| e)
                }
                None => v,
            },
            Err(e) => e,
        };
        format!("at {url}, the page says:\n{}", body.as_str().map(str::to_string).unwrap_or_else(|| body.to_string()))
    }

    async fn count(&self, by: By<'_>) -> usize {
        self.post("/elements", by.locator()).await.as_array().map(Vec::len).unwrap_or(0)
    }

    async fn shot(&mut self, name: &str) {
        use base64::Engine;
        self.n += 1;
        let path = self.shots.join(format!("{:02}-{name}.png", self.n));
        let png = self.get("/screenshot").await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap_or("")).expect("a PNG");
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    async fn open(&self, path: &str) {
        self.post("/url", json!({"url": format!("{}{path}", self.base)})).await;
    }

    async fn fill(&self, id: &str, text: &str) {
        let el = self.find(By::Id(id)).await;
        self.post(&format!("/element/{el}/clear"), json!({})).await;
        self.post(&format!("/element/{el}/value"), json!({"text": text})).await;
    }

    async fn click(&self, by: By<'_>) {
        let el = self.find(by).await;
        self.post(&format!("/element/{el}/click"), json!({})).await;
    }

    /// The current document's root element; it goes stale once a navigation replaces the page.
    async fn page(&self) -> String {
        self.find(By::Tag("html")).await
    }

    /// Waits until the document whose root is `old` has been replaced and the next page
    /// has loaded, so that what follows reads the new page, never the old one.
    async fn next_page(&self, old: &str) {
        let ready = json!({"script": "return document.readyState", "args": []});
        for _ in 0..200 {
            if let Err(e) = self.cmd(reqwest::Method::GET, &format!("/element/{old}/name"), None).await {
                let gone = matches!(e["error"].as_str(), Some("stale element reference" | "no such element"));
                if gone
                    && self.cmd(reqwest::Method::POST, "/execute/sync", Some(ready.clone())).await
                        == Ok(json!("complete"))
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page was not replaced: {}", self.describe().await)
    }

    /// Clicks what `by` names (a link or a submit button) and waits for the page it leads to.
    async fn follow(&self, by: By<'_>) {
        let old = self.page().await;
        self.click(by).await;
        self.next_page(&old).await;
    }

    async fn text(&self, by: By<'_>) -> String {
        let el = self.find(by).await;
        self.get(&format!("/element/{el}/text")).await.as_str().unwrap_or("").to_string()
    }

    async fn h1(&self) -> String {
        self.text(By::Tag("h1")).await
    }

    async fn path(&self) -> String {
        let url = self.get("/url").await.as_str().unwrap_or("").to_string();
        url.strip_prefix(&self.base).unwrap_or(&url).to_string()
    }

    async fn accept_alert(&self) -> bool {
        self.cmd(reqwest::Method::POST, "/alert/accept", Some(json!({}))).await.is_ok()
    }

    async fn cookie(&self, name: &str) -> String {
        self.get(&format!("/cookie/{name}")).await["value"].as_str().unwrap_or("").to_string()
    }

    async fn quit(&self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

#[tokio::test]
async fn a_reseller_goes_from_sign_up_to_a_redelivered_webhook_in_chromium() {
    let started = Instant::now();
    let s = stack();
    let store = s.store().await;
    let chromedriver = start_chromedriver().await;
    let profile = std::env::temp_dir().join(format!("kobo-chromium-{}", unique()));
    let args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--window-size=1280,1600",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect();
    let mut b = Browser::start(&chromedriver.url, &args, &s.base_url).await;

    // Sign up.
    let email = format!("b{}@example.com", unique());
    let phone = format!("0803{:07}", rand::random::<u32>() % 10_000_000);
    b.open("/").await;
    assert_eq!(b.path().await, "/portal/signin?expired=1", "/ leads to sign-in");
    b.follow(By::LinkText("Create an account")).await;
    assert_eq!(b.h1().await, "Create your account");
    b.fill("name", "Browser Stores").await;
    b.fill("email", &email).await;
    b.fill("phone", &phone).await;
    b.fill("password", "browser-pass-42").await;
    b.shot("signup").await;
    b.follow(By::Css("button[type=submit]")).await;

    // Verify the phone with the code the simulator texted.
    assert_eq!(b.h1().await, "Verify your phone");
    b.shot("verify").await;
    let mut verified = false;
    for _ in 0..10 {
        match s.code_sent_to(&phone).await {
            Some(code) => {
                b.fill("code", &code).await;
                b.follow(By::XPath("//button[text()='Verify']")).await;
                if b.path().await == "/portal?done=verified" {
                    verified = true;
                    break;
                }
                // Hubtel had no slot (the page says so): ask again a window later.
                b.open("/portal/verify").await;
            }
            None => b.follow(By::XPath("//button[text()='Send a new code']")).await,
        }
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    assert!(verified, "the phone was verified");
    assert!(b.text(By::Css("p.notice.ok")).await.contains("Your phone is verified"));
    assert!(b.text(By::Id("api-access")).await.starts_with("Inactive"));
    b.shot("dashboard-verified").await;
    let account = store.get_login(&email).await.ok().flatten().expect("login").account_id;

    // Fund the wallet (as a deposit would) and request the demo plan.
    accounts::adjust(&store, &account, Direction::Credit, Kobo::naira(8_000), "deposit", "test").await.expect("credit");
    b.follow(By::LinkText("API access")).await;
    let before = b.page().await;
    b.click(By::XPath("//button[starts-with(., 'Request demo')]")).await;
    // The confirmation dialog (the form's data-confirm) is accepted.
    assert!(b.accept_alert().await, "the confirmation asks before paying");
    b.next_page(&before).await;
    assert_eq!(b.path().await, "/portal/access?done=requested");
    assert!(b.text(By::Id("access-state")).await.contains("waiting for approval"));
    assert!(b.text(By::Id("balance")).await.contains("₦3,000.00"), "charged ₦5,000");
    b.shot("access-requested").await;

    // The operator approves it (what `kobo access approve` runs).
    let req = store.pending_access_requests().await.expect("pending").into_iter().find(|r| r.account_id == account);
    assert!(access::approve(&store, &account, &req.expect("the request is pending").id).await.expect("approve"));
    b.open("/portal").await;
    assert!(b.text(By::Id("api-access")).await.contains("Active on plan demo"));

    // Create a key: shown once, with a copy button; it works on the API.
    b.follow(By::LinkText("API keys")).await;
    b.fill("label", "browser key").await;
    b.click(By::Css("input[name=scope_balance]")).await;
    b.follow(By::XPath("//button[text()='Create key']")).await;
    let key = b.text(By::Id("secret")).await;
    assert!(key.starts_with(&format!("kobo_{account}_")), "{key}");
    assert_eq!(b.text(By::Css("button[data-copy=secret]")).await, "Copy");
    b.shot("key-created").await;
    let (st, v) = ApiClient::new(s, &key).balance_answer().await;
    assert_eq!((st, &v["balance"]), (200, &json!("3000.00")), "{v}");

    // Add a webhook, press Test, see the attempt, redeliver it.
    let hook = Receiver::start(Mode::Ok);
    b.follow(By::LinkText("Webhooks")).await;
    b.fill("url", &hook.url).await;
    b.click(By::Css("input[name='event_order.created']")).await;
    b.follow(By::XPath("//button[text()='Add endpoint']")).await;
    let secret = b.text(By::Id("secret")).await;
    hook.set_secret(&secret);
    b.shot("webhook-added").await;
    b.follow(By::XPath("//button[text()='Test']")).await;
    let result = b.text(By::Id("test-result")).await;
    assert!(result.contains("HTTP 200"), "{result}");
    let log = b.text(By::Id("log")).await;
    assert!(log.contains("vtu.status_changed") && log.contains("yes"), "{log}");
    b.shot("webhook-tested").await;
    b.follow(By::XPath("//button[text()='Redeliver']")).await;
    assert!(b.text(By::Id("test-result")).await.contains("HTTP 200"));
    assert_eq!(b.count(By::XPath("//table[@id='log']/tbody/tr")).await, 2);
    assert_eq!(
        hook.wait_for(2, Duration::from_secs(10)).await.len(),
        2,
        "the receiver got the test and its redelivery"
    );
    b.shot("webhook-redelivered").await;

    // Page weight and answer time of each page, over the local gateway with this session.
    let cookie = b.cookie("kobo_session").await;
    assert!(!cookie.is_empty(), "the session cookie");
    let http = reqwest::Client::new();
    let fetch = |path: String| {
        let req = http.get(format!("{}{path}", s.base_url)).header("cookie", format!("kobo_session={cookie}"));
        async move {
            let t = Instant::now();
            let body = req.send().await.expect("page").bytes().await.expect("body");
            (body.len(), t.elapsed())
        }
    };
    let (css, _) = fetch("/portal/static/app.css".into()).await;
    let (js, _) = fetch("/portal/static/app.js".into()).await;
    for page in [
        "/portal",
        "/portal/access",
        "/portal/keys",
        "/portal/webhooks",
        "/portal/refused",
        "/portal/history",
        "/portal/funding",
    ] {
        let (html, took) = fetch(page.to_string()).await;
        println!(
            "MEASURE portal page {page}: {html} B HTML + {css} B CSS + {js} B JS = {} B, answered in {:.1} ms",
            html + css + js,
            took.as_secs_f64() * 1000.0
        );
    }
    b.quit().await;
    let _ = std::fs::remove_dir_all(&profile);
    println!(
        "MEASURE browser test wall time: {:.1} s (screenshots in {})",
        started.elapsed().as_secs_f64(),
        b.shots.display()
    );
}
