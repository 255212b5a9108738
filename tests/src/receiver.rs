//! A webhook receiver on loopback that verifies signatures the seed's way and records
//! what arrives.

use std::sync::{Arc, Mutex};

use crate::stack::on_background;

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `X-Webhook-Event`.
    pub event: String,
    /// `webhook-id`.
    pub webhook_id: String,
    /// The raw body.
    pub body: String,
    /// `X-Webhook-Signature` verified the seed's way against the secret in force.
    pub seed_signature_ok: bool,
    /// The `webhook-signature` header as sent.
    pub standard_signature: String,
    /// The `webhook-timestamp` header.
    pub timestamp: String,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// How a [`Receiver`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 at once.
    Ok,
    /// 500.
    Fail,
    /// 410 Gone.
    Gone,
    /// The first request sleeps 6 s (past kobo's 5 s) before its 200; later ones are fast.
    SlowOnce,
}

#[derive(Debug)]
struct ReceiverState {
    secret: String,
    mode: Mode,
    got: Vec<Received>,
}

/// A webhook receiver on loopback that checks `X-Webhook-Signature` exactly as the seed's
/// PHP and Node examples do: hex HMAC-SHA256 of the raw body with the secret, compared
/// in constant time.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    /// The bound address.
    pub addr: std::net::SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
}

async fn receive(
    axum::extract::State(state): axum::extract::State<Arc<Mutex<ReceiverState>>>,
    headers: lambda_http::http::HeaderMap,
    body: axum::body::Bytes,
) -> (lambda_http::http::StatusCode, &'static str) {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (secret, mode) = match state.lock() {
        Ok(s) => (s.secret.clone(), s.mode),
        Err(_) => return (lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR, "poisoned"),
    };
    // $expected = hash_hmac("sha256", $payload, $secret); hash_equals($expected, $signature)
    let seed_ok =
        kobo_shared::platform::crypto::verify_hmac_sha256_hex(secret.as_bytes(), &body, &h("x-webhook-signature"))
            && h("x-webhook-signature").len() == 64;
    if let Ok(mut s) = state.lock() {
        s.got.push(Received {
            event: h("x-webhook-event"),
            webhook_id: h("webhook-id"),
            body: String::from_utf8_lossy(&body).into_owned(),
            seed_signature_ok: seed_ok,
            standard_signature: h("webhook-signature"),
            timestamp: h("webhook-timestamp"),
            at: std::time::Instant::now(),
        });
    }
    if mode == Mode::SlowOnce {
        if let Ok(mut s) = state.lock() {
            s.mode = Mode::Ok;
        }
        // Recorded on arrival above: the sender gives up after 5 s and drops the connection.
        tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    }
    if !seed_ok {
        return (lambda_http::http::StatusCode::UNAUTHORIZED, "Invalid signature");
    }
    match mode {
        Mode::Ok | Mode::SlowOnce => (lambda_http::http::StatusCode::OK, "OK"),
        Mode::Fail => (lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR, "down"),
        Mode::Gone => (lambda_http::http::StatusCode::GONE, "gone"),
    }
}

impl Receiver {
    /// Starts a receiver on `addr` (port 0 = any) on the background runtime, so it keeps
    /// serving whatever the calling test does.
    pub fn start_on(addr: std::net::SocketAddr, mode: Mode) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState { secret: String::new(), mode, got: Vec::new() }));
        let st = state.clone();
        let bound = on_background(async move {
            let listener =
                tokio::net::TcpListener::bind(addr).await.unwrap_or_else(|e| panic!("binding a receiver: {e}"));
            let bound = listener.local_addr().expect("the receiver's listener has an address");
            let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(st);
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            bound
        });
        Receiver { url: format!("http://{bound}/hook"), addr: bound, state }
    }

    /// Starts a receiver on a free port.
    pub fn start(mode: Mode) -> Receiver {
        Receiver::start_on(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), mode)
    }

    /// Sets the secret to verify with.
    pub fn set_secret(&self, secret: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.secret = secret.to_string();
        }
    }

    /// Changes how it answers.
    pub fn set_mode(&self, mode: Mode) {
        if let Ok(mut s) = self.state.lock() {
            s.mode = mode;
        }
    }

    /// What arrived so far.
    pub fn got(&self) -> Vec<Received> {
        self.state.lock().map(|s| s.got.clone()).unwrap_or_default()
    }

    /// Waits until `n` requests arrived or `timeout` passed; returns what arrived.
    pub async fn wait_for(&self, n: usize, timeout: std::time::Duration) -> Vec<Received> {
        let start = std::time::Instant::now();
        loop {
            let got = self.got();
            if got.len() >= n || start.elapsed() > timeout {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}
