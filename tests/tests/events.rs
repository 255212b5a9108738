//! The handler fed with the files in `events/`, exactly as `sam local invoke -e` would,
//! against moto through the real SDK; and the DynamoDB calls one `balance` costs.

use kobo_cli::devstack::seed::{FIXTURE_ACCOUNT, FIXTURE_BALANCE};
use kobo_tests::{project, test_app};
use lambda_http::Body;

fn event(name: &str) -> lambda_http::Request {
    let path = project().root.join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"))
}

fn body_json(resp: &lambda_http::Response<Body>) -> serde_json::Value {
    let text = match resp.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("response is not JSON ({e}): {text}"))
}

#[tokio::test]
async fn balance_events_answer_as_the_seed_says() {
    let t = test_app().await;
    let want_balance = FIXTURE_BALANCE.to_string();
    assert_eq!(want_balance, "1234.56");
    for (file, status, body) in [
        (
            "balance-header-key.json",
            200,
            serde_json::json!({"balance": want_balance, "currency": "NGN"}),
        ),
        (
            "balance-body-key.json",
            200,
            serde_json::json!({"balance": want_balance, "currency": "NGN"}),
        ),
        (
            "balance-bad-key.json",
            401,
            serde_json::json!({"error": "Invalid api key"}),
        ),
        (
            "balance-wrong-scope.json",
            403,
            serde_json::json!({"error": "This API key is not allowed for this action"}),
        ),
    ] {
        let resp = kobo_api::handle(&t.app, event(file)).await;
        assert_eq!(resp.status().as_u16(), status, "{file}");
        assert_eq!(body_json(&resp), body, "{file}");
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{file}"
        );
    }
}

#[tokio::test]
async fn balance_costs_one_batch_get_and_two_counter_updates() {
    let t = test_app().await;
    // First request of a container also loads the plans (one Query).
    let resp = kobo_api::handle(&t.app, event("balance-header-key.json")).await;
    assert_eq!(resp.status().as_u16(), 200);
    let mut cold = t.counter.calls();
    cold.sort();
    assert_eq!(cold, ["BatchGetItem", "Query", "UpdateItem", "UpdateItem"]);

    t.counter.reset();
    let resp = kobo_api::handle(&t.app, event("balance-header-key.json")).await;
    assert_eq!(resp.status().as_u16(), 200);
    let mut warm = t.counter.calls();
    warm.sort();
    assert_eq!(warm, ["BatchGetItem", "UpdateItem", "UpdateItem"]);
    println!(
        "MEASURE balance: {} DynamoDB calls warm ({} cold), at most {} in flight at once",
        warm.len(),
        cold.len(),
        t.counter.max_in_flight()
    );

    // A key that cannot be a kobo key costs only the IP counter.
    t.counter.reset();
    let mut req = event("balance-bad-key.json");
    req.headers_mut().insert(
        "x-api-key",
        lambda_http::http::HeaderValue::from_static("garbage"),
    );
    let resp = kobo_api::handle(&t.app, req).await;
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(t.counter.calls(), ["UpdateItem"]);
}

#[tokio::test]
async fn the_fixture_account_is_the_one_the_events_name() {
    let t = test_app().await;
    let acct = t.store.get_account(FIXTURE_ACCOUNT).await.ok().flatten();
    assert_eq!(acct.map(|a| a.balance), Some(FIXTURE_BALANCE));
}
