//! End to end over plain HTTP against the local stack: the seed's curl examples for
//! `balance`, revocation, scopes, whitelists, inactive access and rate limits.

use kobo_shared::{Action, Kobo, Store};
use kobo_tests::{client_from, fresh_source_ip, json_of, new_reseller, stack, ResellerSpec};
use serde_json::json;

/// A new active account (₦7,770.01) on a new plan with the given limits, and one key.
async fn account(
    store: &Store,
    key_rpm: u32,
    ip_rpm: u32,
    scopes: &[Action],
    ips: &[&str],
    domains: &[&str],
) -> (String, String) {
    let spec =
        ResellerSpec { balance: Kobo::new(777_001), key_rpm, ip_rpm, scopes, ips, domains, ..Default::default() };
    new_reseller(store, spec).await
}

#[tokio::test]
async fn seed_curl_examples_for_balance() {
    let s = stack();
    let http = client_from(fresh_source_ip());
    // curl -X POST "$URL" -H "X-API-KEY: $KEY" -d "action=balance"
    let r = http
        .post(&s.api_url)
        .header("X-API-KEY", &s.demo.api_key)
        .body("action=balance")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("balance with the key in X-API-KEY reaches the stack");
    assert_eq!(json_of(r).await, (200, json!({"balance": "50000.00", "currency": "NGN"})));
    // key=... in the body
    let r = http
        .post(&s.api_url)
        .form(&[("key", s.demo.api_key.as_str()), ("action", "balance")])
        .send()
        .await
        .expect("balance with the key in the form reaches the stack");
    assert_eq!(json_of(r).await, (200, json!({"balance": "50000.00", "currency": "NGN"})));
    // JSON body
    let r = http
        .post(&s.api_url)
        .json(&json!({"key": s.demo.api_key, "action": "balance"}))
        .send()
        .await
        .expect("balance with a JSON body reaches the stack");
    assert_eq!(json_of(r).await, (200, json!({"balance": "50000.00", "currency": "NGN"})));
}

#[tokio::test]
async fn revoked_key_is_refused_on_the_next_request() {
    let s = stack();
    let store = s.store().await;
    let (acct, key) = account(&store, 0, 0, Action::ALL, &[], &[]).await;
    let http = client_from(fresh_source_ip());
    let call = || http.post(&s.api_url).header("X-API-KEY", &key).form(&[("action", "balance")]).send();
    let (status, body) = json_of(call().await.expect("balance reaches the stack")).await;
    assert_eq!((status, body["balance"].as_str()), (200, Some("7770.01")));
    let record = store
        .find_key(&acct, &kobo_shared::domain::apikey::hash_key(&key)[..12])
        .await
        .expect("finding the key to revoke");
    store.revoke_key(&acct, &record.hash).await.expect("revoking the key");
    let r = call().await.expect("balance after revocation reaches the stack");
    assert_eq!(json_of(r).await, (401, json!({"error": "Invalid api key"})));
}

#[tokio::test]
async fn unknown_and_malformed_keys_are_invalid() {
    let s = stack();
    let http = client_from(fresh_source_ip());
    let forged = format!("kobo_{}_{}", s.demo.account_id, "A".repeat(40));
    for key in [forged.as_str(), "", "kobo_", "not-a-key", &s.demo.api_key[..s.demo.api_key.len() - 1]] {
        let r = http
            .post(&s.api_url)
            .form(&[("action", "balance"), ("key", key)])
            .send()
            .await
            .expect("balance with a bad key reaches the stack");
        assert_eq!(json_of(r).await, (401, json!({"error": "Invalid api key"})), "key {key:?}");
    }
    let r = http
        .post(&s.api_url)
        .form(&[("action", "balance")])
        .send()
        .await
        .expect("balance without a key reaches the stack");
    assert_eq!(json_of(r).await, (401, json!({"error": "Invalid api key"})));
}

#[tokio::test]
async fn scope_is_enforced() {
    let s = stack();
    let store = s.store().await;
    let (_, key) = account(&store, 0, 0, &[Action::Services, Action::Status], &[], &[]).await;
    let http = client_from(fresh_source_ip());
    let r = http
        .post(&s.api_url)
        .header("X-API-KEY", &key)
        .form(&[("action", "balance")])
        .send()
        .await
        .expect("balance out of scope reaches the stack");
    assert_eq!(json_of(r).await, (403, json!({"error": "This API key is not allowed for this action"})));
}

#[tokio::test]
async fn ip_whitelist_allows_listed_addresses_only() {
    let s = stack();
    let store = s.store().await;
    let allowed = fresh_source_ip();
    let (_, key) = account(&store, 0, 0, Action::ALL, &[&allowed.to_string()], &[]).await;
    let r = client_from(allowed)
        .post(&s.api_url)
        .header("X-API-KEY", &key)
        .form(&[("action", "balance")])
        .send()
        .await
        .expect("balance from the whitelisted IP reaches the stack");
    assert_eq!(json_of(r).await.0, 200);
    let other = fresh_source_ip();
    assert_ne!(other, allowed);
    let r = client_from(other)
        .post(&s.api_url)
        .header("X-API-KEY", &key)
        .form(&[("action", "balance")])
        .send()
        .await
        .expect("balance from another IP reaches the stack");
    let (status, body) = json_of(r).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], json!(format!("This API key is not allowed from IP address {other}")));
}

#[tokio::test]
async fn domain_whitelist_reads_every_origin_form_the_seed_lists() {
    let s = stack();
    let store = s.store().await;
    let (_, key) = account(&store, 0, 0, Action::ALL, &[], &["example.com"]).await;
    let http = client_from(fresh_source_ip());
    let post = || http.post(&s.api_url).header("X-API-KEY", &key);
    // Allowed: each documented form.
    for req in [
        post().header("X-API-ORIGIN", "https://example.com").form(&[("action", "balance")]),
        post().header("Origin", "https://example.com").form(&[("action", "balance")]),
        post().form(&[("action", "balance"), ("origin", "https://example.com")]),
        post().form(&[("action", "balance"), ("domain", "example.com")]),
        // X-API-ORIGIN wins over a wrong Origin.
        post()
            .header("X-API-ORIGIN", "https://example.com")
            .header("Origin", "https://evil.io")
            .form(&[("action", "balance")]),
    ] {
        let (status, body) = json_of(req.send().await.expect("balance from an allowed origin reaches the stack")).await;
        assert_eq!(status, 200, "{body}");
    }
    // Refused: none, or another domain, or a look-alike.
    for req in [
        post().form(&[("action", "balance")]),
        post().header("X-API-ORIGIN", "https://evil.io").form(&[("action", "balance")]),
        post()
            .header("X-API-ORIGIN", "https://example.com.evil.io")
            .header("Origin", "https://example.com")
            .form(&[("action", "balance")]),
        post().form(&[("action", "balance"), ("domain", "notexample.com")]),
    ] {
        let (status, body) = json_of(req.send().await.expect("balance from a refused origin reaches the stack")).await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error"].as_str().unwrap_or_default().contains("not allowed from this domain"), "{body}");
    }
}

#[tokio::test]
async fn inactive_api_access_is_refused() {
    let s = stack();
    let store = s.store().await;
    let (acct, key) = account(&store, 0, 0, Action::ALL, &[], &[]).await;
    let http = client_from(fresh_source_ip());
    let call = || http.post(&s.api_url).header("X-API-KEY", &key).form(&[("action", "balance")]).send();
    store.set_api_active(&acct, false).await.expect("turning API access off");
    let r = call().await.expect("balance with API access off reaches the stack");
    assert_eq!(json_of(r).await, (403, json!({"error": "API access is not active for this account"})));
    store.set_api_active(&acct, true).await.expect("turning API access back on");
    assert_eq!(json_of(call().await.expect("balance with API access on reaches the stack")).await.0, 200);
}

/// The stack's API with its rate windows on a fixed clock (a window's first second, an
/// hour ahead), invoked as Lambda invokes it: no test depends on where the wall clock
/// stands in a minute.
async fn clocked_api(s: &kobo_tests::Stack) -> kobo_api::App {
    let sdk = kobo_cli::devstack::moto::sdk_config_for(&s.aws_endpoint).await;
    let mut app =
        kobo_api::App::new(s.config(), aws_sdk_dynamodb::Client::new(&sdk), aws_sdk_secretsmanager::Client::new(&sdk));
    app.clock = kobo_shared::domain::time::Clock::fixed((chrono::Utc::now().timestamp() / 60 + 60) * 60);
    app
}

/// One `balance` call from `ip` with `key` (header), or with `body` as it stands; the
/// status and the `Retry-After` seconds.
async fn balance_call(app: &kobo_api::App, key: Option<&str>, body: &str, ip: &str) -> (u16, Option<u64>) {
    let headers: Vec<(&str, &str)> = key.map(|k| vec![("X-API-KEY", k)]).unwrap_or_default();
    let r = kobo_api::handle(app, kobo_tests::api_request(body, &headers, ip)).await;
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (r.status().as_u16(), retry)
}

#[tokio::test]
async fn key_rate_limit_answers_429_with_retry_after() {
    let s = stack();
    let store = s.store().await;
    let (_, key) = account(&store, 5, 0, Action::ALL, &[], &[]).await;
    let app = clocked_api(s).await;
    let ip = fresh_source_ip().to_string();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..8 {
        let (st, retry) = balance_call(&app, Some(&key), "action=balance", &ip).await;
        if st == 429 {
            retry_after = retry;
        }
        statuses.push(st);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    assert_eq!(retry_after, Some(60), "the whole window is left at its first second");
}

#[tokio::test]
async fn ip_rate_limit_counts_every_key_from_that_ip() {
    let s = stack();
    let store = s.store().await;
    let (_, key1) = account(&store, 0, 4, Action::ALL, &[], &[]).await;
    let app = clocked_api(s).await;
    let ip = fresh_source_ip().to_string();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(balance_call(&app, Some(&key1), "action=balance", &ip).await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429, 429]);
}

#[tokio::test]
async fn failed_key_guesses_are_rate_limited() {
    let s = stack();
    let app = clocked_api(s).await;
    let ip = fresh_source_ip().to_string();
    let mut statuses = Vec::new();
    // The local stack allows 60 bad-key requests per minute per IP.
    for i in 0..70 {
        let body = format!("action=balance&key=kobo_{}_{:040}", s.demo.account_id, i);
        statuses.push(balance_call(&app, None, &body, &ip).await.0);
    }
    assert!(statuses[..60].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[60..].iter().all(|s| *s == 429), "{statuses:?}");
    // Guessing does not lock out a reseller behind the same address: a valid key is
    // judged by its plan's limits.
    let body = format!("action=balance&key={}", s.demo.api_key);
    assert_eq!(balance_call(&app, None, &body, &ip).await.0, 200);
}
