//! Hubtel's limit (5 requests per window) is never exceeded, whoever sends: 30 SMS queued
//! at once and sent by 4 concurrent senders (as 4 Lambda containers would) all go out,
//! and the simulator — which answers 429 past the limit — refuses none. The window is
//! compressed to 2 s here; production uses 60 s.

use std::time::{Duration, Instant};

use kobo_cli::sim::hubtel::HubtelSim;
use kobo_shared::db::throttle::Throttle;
use kobo_shared::domain::sms::Sms;
use kobo_shared::flows::sms;
use kobo_shared::flows::sms::Sent;
use kobo_shared::upstream::hubtel::HubtelClient;
use kobo_shared::upstream::HubtelApi;
use kobo_shared::Store;
use kobo_tests::{fresh_resources, sdk};

const WINDOW: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_sms_at_once_never_exceed_five_per_window() {
    let sdk = sdk().await;
    let res = fresh_resources(&sdk).await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), res.table().unwrap_or_default());
    let sim = HubtelSim::start("client-id", "client-secret", 5, WINDOW).await.expect("starting the Hubtel simulator");
    let hubtel = HubtelClient::new(&sim.base, "client-id", "client-secret", Duration::from_secs(5))
        .expect("building the Hubtel client");

    let queue: std::sync::Arc<tokio::sync::Mutex<Vec<Sms>>> = std::sync::Arc::new(tokio::sync::Mutex::new(
        (0..30)
            .map(|i| Sms { to: format!("+23480312{i:05}"), content: format!("Deposit of N{i}00.00 credited") })
            .collect(),
    ));
    let started = Instant::now();
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let queue = queue.clone();
            let throttle = Throttle::new(store.clone(), "hubtel", 5, WINDOW);
            let hubtel = hubtel.clone();
            tokio::spawn(async move {
                let mut sent = 0;
                loop {
                    let Some(next) = queue.lock().await.pop() else { return sent };
                    match sms::send(&throttle, &hubtel, "KoboNG", &next, Duration::from_secs(3)).await {
                        Ok(Sent::Accepted(_)) => sent += 1,
                        Ok(Sent::Deferred) => queue.lock().await.push(next),
                        Err(e) => panic!("sending failed: {e}"),
                    }
                }
            })
        })
        .collect();
    let mut total = 0;
    for s in senders {
        total += s.await.unwrap_or(0);
    }
    let took = started.elapsed();
    assert_eq!(total, 30, "every SMS sent");
    let stats = stats(&sim).await;
    assert_eq!(stats["refused"], 0, "Hubtel never had to refuse a request: {stats}");
    assert_eq!(stats["sms"].as_array().map(Vec::len), Some(30));
    // Independently of the simulator: no window of the arrival times holds more than 5.
    let mut at: Vec<u64> =
        stats["sms"].as_array().map(|l| l.iter().filter_map(|m| m["at_ms"].as_u64()).collect()).unwrap_or_default();
    at.sort_unstable();
    for w in at.windows(6) {
        assert!(w[5] - w[0] >= WINDOW.as_millis() as u64 - 20, "6 SMS within one window: {w:?}");
    }
    assert!(took >= WINDOW * 5, "30 at 5 per window take at least 5 windows, took {took:?}");
    println!(
        "MEASURE hubtel throttle: 30 SMS through 4 senders in {:.2} s at 5 per {} s window, 0 refused",
        took.as_secs_f64(),
        WINDOW.as_secs()
    );
}

#[tokio::test]
async fn hubtel_inputs_are_validated_before_any_call() {
    let sim = HubtelSim::start("id", "secret", 5, WINDOW).await.expect("starting the Hubtel simulator");
    let h = HubtelClient::new(&sim.base, "id", "secret", Duration::from_secs(5)).expect("building the Hubtel client");
    assert!(h.send_sms("TooLongSenderId", "+2348012345678", "hi").await.is_err());
    assert!(h.send_sms("Kobo", "08012345678", "hi").await.is_err());
    assert!(h.otp_send("Kobo", "+2348012345678", "XX").await.is_err());
    let stats = stats(&sim).await;
    assert_eq!(stats["served"], 0, "nothing invalid reached Hubtel");
    // Valid calls work, OTP round trip included; wrong credentials are refused.
    assert!(h.send_sms("Kobo", "+2348012345678", "hi").await.is_ok());
    let session = h.otp_send("Kobo", "+2348012345678", "NG").await.expect("sending an OTP");
    let code: serde_json::Value = reqwest::get(format!("{}/control/otp/{}", sim.base, session.request_id))
        .await
        .expect("the Hubtel simulator tells the OTP")
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(h.otp_verify(&session, "0000").await.ok(), Some(code["code"] == "0000"));
    assert_eq!(h.otp_verify(&session, code["code"].as_str().unwrap_or_default()).await.ok(), Some(true));
    let wrong = HubtelClient::new(&sim.base, "id", "nope", Duration::from_secs(5))
        .expect("building the Hubtel client with wrong credentials");
    assert!(wrong.send_sms("Kobo", "+2348012345678", "hi").await.is_err());
}

/// What the Hubtel simulator saw.
async fn stats(sim: &HubtelSim) -> serde_json::Value {
    reqwest::get(format!("{}/control/stats", sim.base))
        .await
        .expect("the Hubtel simulator reports its stats")
        .json()
        .await
        .expect("the simulator's stats are JSON")
}
