//! The handler fed with the files in `events/`, exactly as `sam local invoke -e` would,
//! against moto through the real SDK; and the DynamoDB calls one `balance` costs.

use kobo_cli::devstack::seed::{FIXTURE_ACCOUNT, FIXTURE_BALANCE};
use kobo_tests::{project, test_app};
use lambda_http::Body;

fn event(name: &str) -> lambda_http::Request {
    let path = project().root.join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"))
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
        ("balance-header-key.json", 200, serde_json::json!({"balance": want_balance, "currency": "NGN"})),
        ("balance-body-key.json", 200, serde_json::json!({"balance": want_balance, "currency": "NGN"})),
        ("balance-bad-key.json", 401, serde_json::json!({"error": "Invalid api key"})),
        ("balance-wrong-scope.json", 403, serde_json::json!({"error": "This API key is not allowed for this action"})),
    ] {
        let resp = kobo_api::handle(&t.app, event(file)).await;
        assert_eq!(resp.status().as_u16(), status, "{file}");
        assert_eq!(body_json(&resp), body, "{file}");
        assert_eq!(
            resp.headers().get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{file}"
        );
    }
}

#[tokio::test]
async fn balance_costs_one_batch_get_and_two_counter_updates() {
    let mut t = test_app().await;
    // On a fixed clock: both requests in one rate window.
    t.app.clock = kobo_shared::domain::time::Clock::fixed((chrono::Utc::now().timestamp() / 60 + 60) * 60 + 5);
    // First request of a container also loads the plans (one Query); the key's first
    // request of a window starts its count over (a second write on the key's item), and
    // its first request of the hour writes `last_used` beside the action (a third).
    let resp = kobo_api::handle(&t.app, event("balance-header-key.json")).await;
    assert_eq!(resp.status().as_u16(), 200);
    let mut cold = t.counter.calls();
    cold.sort();
    assert_eq!(cold, ["BatchGetItem", "Query", "UpdateItem", "UpdateItem", "UpdateItem", "UpdateItem"]);

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
    req.headers_mut().insert("x-api-key", lambda_http::http::HeaderValue::from_static("garbage"));
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

fn read_event<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = project().root.join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn relay_event_queues_one_delivery_per_subscribed_endpoint() {
    use kobo_shared::domain::webhook::DeliveryState;
    use kobo_shared::flows::webhooks::manage;
    use kobo_shared::platform::{ssrf::TargetPolicy, vault::Vault};
    let t = test_app().await;
    let event: aws_lambda_events::event::dynamodb::Event = read_event("relay-outbox-insert.json");
    let records = kobo_relay::outbox_records(&event);
    assert_eq!(records.len(), 1, "the MODIFY of an account is not an outbox event");
    assert_eq!(records[0].event, "order.created");

    let ring = t.app.keys.vault_key.get().await.expect("the vault key ring");
    let vault = Vault::new(&ring).expect("building the webhook vault");
    let subscribed = vec![kobo_shared::domain::event::EventType::OrderCreated];
    let other = vec![kobo_shared::domain::event::EventType::VtuSuccess];
    let (a, _) = manage::create_endpoint(
        &t.store,
        &vault,
        FIXTURE_ACCOUNT,
        "https://hooks.example.com/a",
        subscribed,
        TargetPolicy::PRODUCTION,
    )
    .await
    .expect("creating the subscribed endpoint");
    manage::create_endpoint(
        &t.store,
        &vault,
        FIXTURE_ACCOUNT,
        "https://hooks.example.com/b",
        other,
        TargetPolicy::PRODUCTION,
    )
    .await
    .expect("creating the other endpoint");
    let sdk = kobo_tests::sdk().await;
    let res = kobo_tests::fresh_resources(&sdk).await;
    let queue_url = res.queues.get("WebhookQueue").cloned().unwrap_or_default();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let relay = kobo_relay::Relay {
        store: t.store.clone(),
        queue: kobo_shared::flows::webhooks::deliver::Queue::new(sqs.clone(), queue_url.clone()),
    };
    assert_eq!(relay.handle(&records).await.ok(), Some(1));
    assert_eq!(relay.handle(&records).await.ok(), Some(1), "redelivered: re-queued (never sent yet), not re-created");
    let id = format!("{}#{}", records[0].event_id, a.id);
    let d =
        t.store.get_delivery(FIXTURE_ACCOUNT, &id).await.ok().flatten().unwrap_or_else(|| panic!("no delivery {id}"));
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
    assert_eq!(d.payload, records[0].payload);
    let got = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receiving from the webhook queue");
    assert_eq!(got.messages.unwrap_or_default().len(), 2);
}

#[tokio::test]
async fn webhooks_event_reports_only_the_malformed_message() {
    use kobo_shared::flows::webhooks::deliver::{Queue, Settings};
    use kobo_shared::platform::secrets::SecretsCache;
    let t = test_app().await;
    let sdk = kobo_tests::sdk().await;
    let worker = kobo_webhooks::Worker::new(
        t.store.clone(),
        Queue::new(aws_sdk_sqs::Client::new(&sdk), "http://unused.invalid/queue"),
        SecretsCache::new(aws_sdk_secretsmanager::Client::new(&sdk), t.app.config.vault_key_secret_id.clone()),
        Settings::production(),
    )
    .expect("building the webhooks worker");
    let event: aws_lambda_events::event::sqs::SqsEvent = read_event("webhooks-delivery.json");
    let response = worker.handle(event).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["0f5d6f5e-0000-4000-8000-000000000002"]);
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dead_letter_queue() {
    use kobo_shared::flows::webhooks::deliver::{Queue, Settings};
    use kobo_shared::platform::secrets::SecretsCache;
    let t = test_app().await;
    let sdk = kobo_tests::sdk().await;
    let res = kobo_tests::fresh_resources(&sdk).await;
    let url = res.queues.get("WebhookQueue").cloned().unwrap_or_default();
    let dlq = res.queues.get("WebhookDeadLetterQueue").cloned().unwrap_or_default();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let worker = kobo_webhooks::Worker::new(
        t.store.clone(),
        Queue::new(sqs.clone(), url.clone()),
        SecretsCache::new(aws_sdk_secretsmanager::Client::new(&sdk), t.app.config.vault_key_secret_id.clone()),
        Settings::production(),
    )
    .expect("building the webhooks worker");
    sqs.send_message().queue_url(&url).message_body("{not json").send().await.expect("queueing the poison message");
    // Receive it as the event source mapping would, failing each time, until the queue's
    // redrive policy (maxReceiveCount 5 in template.yaml) moves it.
    let mut receives = 0;
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receiving from the webhook queue");
        let Some(m) = out.messages.unwrap_or_default().into_iter().next() else { break };
        receives += 1;
        assert!(worker.process_body(m.body.as_deref().unwrap_or_default()).await.is_err());
    }
    assert_eq!(receives, 5, "received maxReceiveCount times");
    let dead = sqs
        .receive_message()
        .queue_url(&dlq)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receiving from the dead-letter queue");
    let bodies: Vec<String> = dead.messages.unwrap_or_default().into_iter().filter_map(|m| m.body).collect();
    assert_eq!(bodies, ["{not json"]);
}

#[tokio::test]
async fn portal_events_get_the_sign_in_page_and_refuse_a_cross_site_form() {
    let t = test_app().await;
    let sqs = aws_sdk_sqs::Client::new(&kobo_tests::stack::sdk().await);
    let portal = kobo_portal::App::new(t.app, sqs, kobo_shared::platform::ssrf::TargetPolicy::PRODUCTION)
        .unwrap_or_else(|e| panic!("portal: {e}"));
    let resp = kobo_portal::handle(&portal, event("portal-signin-page.json")).await;
    assert_eq!(resp.status().as_u16(), 200);
    let header = |r: &lambda_http::Response<Body>, n: &str| {
        r.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
    };
    assert!(header(&resp, "content-security-policy").contains("default-src 'none'"));
    assert_eq!(header(&resp, "cache-control"), "no-store");
    let html = match resp.body() {
        Body::Text(t) => t.clone(),
        _ => String::new(),
    };
    assert!(html.contains("<form class=\"stack\" method=\"post\" action=\"/portal/signin\">"), "{html}");
    let resp = kobo_portal::handle(&portal, event("portal-signin-cross-site.json")).await;
    assert_eq!(resp.status().as_u16(), 403);
}

/// `sam local invoke CallbacksFunction -e events/callbacks-vtpass-forged.json`: a VTpass
/// "reversed" callback at a URL whose secret is not kobo's is refused (401) before any
/// lookup, and changes nothing.
#[tokio::test]
async fn a_vtpass_callback_at_a_forged_url_is_refused() {
    let t = test_app().await;
    let sdk = kobo_tests::stack::sdk().await;
    let cb = kobo_callbacks::Callbacks::new(
        &t.app.config,
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_secretsmanager::Client::new(&sdk),
    );
    let resp = kobo_callbacks::handle(&cb, event("callbacks-vtpass-forged.json")).await;
    assert_eq!(resp.status().as_u16(), 401, "{:?}", body_json(&resp));
}
