//! Abuse resistance, each attack as a test: PIN and OTP guessing, one tenant starving the
//! others on Hubtel, unauthenticated floods, SSRF targets, secret rotation, forged
//! deposit callbacks.

use kobo_shared::flows::webhooks::deliver::Sender;
use kobo_shared::platform::ssrf::TargetPolicy;
use kobo_tests::receiver::{Mode, Receiver};

/// Set in the child process of [`webhook_sender_ignores_environment_proxies`]: the URL
/// it delivers to.
const PROXY_CHILD: &str = "KOBO_PROXY_CHILD_TARGET";

/// A webhook is never sent through a proxy named by the environment (a proxy would
/// resolve the name itself, past the guarded resolver). The environment is the process's,
/// so the sending happens in a child process of this test binary with every proxy
/// variable pointing at a recording listener; the listener must see no connection.
#[tokio::test]
async fn webhook_sender_ignores_environment_proxies() {
    if let Ok(target) = std::env::var(PROXY_CHILD) {
        let sender = Sender::new(TargetPolicy::LOCAL).unwrap_or_else(|e| panic!("sender: {e}"));
        let got = sender.post(&target, "order.created", "msg_proxy", "{}", &["whsec_proxy"]).await;
        assert_eq!(got.status, Some(200), "delivery from the child: {got:?}");
        return;
    }
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    proxy.set_nonblocking(true).unwrap_or_else(|e| panic!("nonblocking: {e}"));
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap_or_else(|e| panic!("addr: {e}")));
    let receiver = Receiver::start(Mode::Ok);
    receiver.set_secret("whsec_proxy");
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current exe: {e}"));
    let mut child = std::process::Command::new(exe);
    child.args(["abuse::webhook_sender_ignores_environment_proxies", "--exact", "--test-threads=1"]);
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
        child.env(var, &proxy_url);
    }
    child.env_remove("NO_PROXY").env_remove("no_proxy").env(PROXY_CHILD, &receiver.url);
    let out = tokio::task::spawn_blocking(move || child.output())
        .await
        .unwrap_or_else(|e| panic!("join: {e}"))
        .unwrap_or_else(|e| panic!("child: {e}"));
    let mut proxied = 0;
    while proxy.accept().is_ok() {
        proxied += 1;
    }
    assert_eq!(proxied, 0, "the webhook went through the environment's proxy");
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(receiver.got().len(), 1, "the receiver got the delivery directly");
}

/// Every listed special-purpose form is refused as a webhook target, at save time and
/// again at send time, whatever the spelling of the address.
#[tokio::test]
async fn ssrf_special_purpose_targets_are_refused() {
    use kobo_shared::platform::ssrf::check_url;
    let forms = [
        "https://[::7f00:1]/hook",            // ::/96 IPv4-compatible
        "https://[::a9fe:a9fe]/hook",         // ::/96 to the metadata service
        "https://[2002:7f00:1::]/hook",       // 6to4 of 127.0.0.1
        "https://[2002:a9fe:a9fe::]/hook",    // 6to4 of 169.254.169.254
        "https://[64:ff9b::a00:1]/hook",      // NAT64 of 10.0.0.1
        "https://[64:ff9b:1::c0a8:101]/hook", // local-use NAT64 of 192.168.1.1
        "https://[fec0::1]/hook",             // site local
        "https://100.64.0.1/hook",            // shared address space
        "https://100.127.255.254/hook",
        "https://198.18.0.1/hook", // benchmarking
        "https://198.19.255.254/hook",
        "https://192.0.2.10/hook",          // documentation
        "https://192.88.99.1/hook",         // 6to4 relay anycast
        "https://[2001:db8::1]/hook",       // documentation
        "https://[2001:2::1]/hook",         // benchmarking
        "https://[ff02::1]/hook",           // multicast
        "https://[::ffff:a9fe:a9fe]/hook",  // IPv4-mapped metadata
        "https://2852039166/hook",          // 169.254.169.254 as one number
        "https://0xa9.0xfe.0xa9.0xfe/hook", // ... in hex
    ];
    let sender = Sender::new(TargetPolicy::PRODUCTION).unwrap_or_else(|e| panic!("sender: {e}"));
    for url in forms {
        assert!(check_url(url, TargetPolicy::PRODUCTION).is_err(), "saved: {url}");
        let sent = sender.post(url, "order.created", "msg_ssrf", "{}", &["whsec_x"]).await;
        assert_eq!(sent.status, None, "sent to {url}");
        let why = sent.error.unwrap_or_default();
        assert!(why.starts_with("refused target"), "{url}: {why}");
    }
    // A public address is still accepted when saved.
    assert!(check_url("https://[2c0f:f248::1]/hook", TargetPolicy::PRODUCTION).is_ok());
    assert!(check_url("https://102.89.1.1/hook", TargetPolicy::PRODUCTION).is_ok());
}

/// A deposit's callback URL is the credential, but only for that deposit's account,
/// amount and paylink: a forged callback that reuses a valid URL with another amount, on
/// another account's path, or naming another paylink is refused and credits nothing;
/// the real payment still credits once.
#[tokio::test]
async fn forged_deposit_callbacks_with_a_valid_url_are_refused() {
    use kobo_shared::Kobo;
    use kobo_tests::{new_reseller, stack, ApiClient, ResellerSpec};
    use serde_json::{json, Value};
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(10), ..Default::default() }).await;
    let (other_acct, _) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(20), ..Default::default() }).await;
    let c = ApiClient::new(s, &key);
    let (st, v) = c.deposit("1500").await;
    assert_eq!(st, 200, "{v}");
    let id = v["deposit_id"].as_str().unwrap_or_default().to_string();
    let (paylink, link) = paylink_of(s, &id).await;
    let url = link["callbackUrl"].as_str().unwrap_or_default().to_string();
    let body = |amount: f64, paylink: &str| {
        json!({"message": "Success", "responseCode": "0000", "data": {"paymentType": "mobilemoney",
            "status": "Success", "amount": amount, "paylinkId": paylink, "phoneNumber": "2348031234567",
            "clientReference": id}})
    };
    let post = |url: String, body: Value| async move {
        let r = reqwest::Client::new().post(&url).json(&body).send().await.unwrap_or_else(|e| panic!("{e}"));
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or_default())
    };
    // The valid URL with another amount (more, and less).
    for amount in [150_000.0, 15.0, 1500.01] {
        let (st, v) = post(url.clone(), body(amount, &paylink)).await;
        assert_eq!(st, 401, "amount {amount}: {v}");
    }
    // The valid URL, the right amount, another paylink.
    let (st, v) = post(url.clone(), body(1500.0, "PL_forged")).await;
    assert_eq!((st, v["status"].as_str()), (401, Some("refused")), "{v}");
    // The valid secret moved to another account's path.
    let moved = url.replace(&format!("/{acct}/"), &format!("/{other_acct}/"));
    assert_ne!(moved, url);
    let (st, _) = post(moved, body(1500.0, &paylink)).await;
    assert_eq!(st, 401);
    assert_eq!(c.balance().await, Kobo::naira(10), "nothing was credited");
    // The paid one on another paylink is put before an operator (it could be a second,
    // lost paylink of this deposit that a customer really paid).
    let alerts = store.alerts().await.unwrap_or_default();
    assert!(alerts
        .iter()
        .any(|a| a.subject == format!("deposit:{id}/not-credited") && a.command.contains("kobo wallet credit")));
    assert_eq!(store.get_account(&other_acct).await.ok().flatten().map(|a| a.balance), Some(Kobo::naira(20)));
    // The real payment, through Hubtel: credited once.
    let (st, v) = post(url.clone(), body(1500.0, &paylink)).await;
    assert_eq!((st, v["status"].as_str()), (200, Some("credited")), "{v}");
    assert_eq!(c.balance().await, Kobo::naira(1510));
}

/// A reseller with a PIN ("1234") and a balance; the account id and key.
async fn pin_holder(s: &kobo_tests::Stack, naira: i64) -> (String, String) {
    use kobo_tests::{new_reseller, ResellerSpec};
    let store = s.store().await;
    let (acct, key) =
        new_reseller(&store, ResellerSpec { balance: kobo_shared::Kobo::naira(naira), ..Default::default() }).await;
    kobo_shared::flows::accounts::set_pin(&store, &s.pepper().await, &acct, "1234")
        .await
        .unwrap_or_else(|e| panic!("setting the PIN: {e}"));
    (acct, key)
}

/// 120 wrong PINs at once from a stolen key: an attempt is reserved in one conditional
/// write before each PIN is compared, so at most 5 PINs are ever evaluated, every answer
/// is the same refusal, and the account ends locked (the right PIN refused like the
/// wrong ones). Before the fix each request read the lock from its authentication read
/// and evaluated its PIN: all 120 were compared.
#[tokio::test]
async fn one_hundred_twenty_concurrent_pin_guesses_evaluate_at_most_five() {
    let _heavy = kobo_tests::heavy().await;
    use kobo_tests::{stack, ApiClient};
    let s = stack();
    let store = s.store().await;
    let (acct, key) = pin_holder(s, 5_000).await;
    let c = ApiClient::new(s, &key);
    let guesses: Vec<String> = (0..120).map(|i| format!("{:04}", 2000 + i)).collect();
    let started = std::time::Instant::now();
    let answers =
        futures_util::future::join_all(guesses.iter().map(|pin| c.vtu_airtime("mtn", "08031112222", "100", pin))).await;
    let busy = answers.iter().filter(|a| a.0 == 503).count();
    println!("120 concurrent PIN guesses answered in {:?} ({busy} told 503, retry)", started.elapsed());
    // Every refusal answers the same (a check that waited past its turn for the others
    // in flight may be told 503, retry: nothing about the PIN either).
    let first = answers.iter().find(|a| a.0 == 403).cloned().unwrap_or_else(|| panic!("no refusal: {answers:?}"));
    assert!(answers.iter().all(|a| *a == first || a.0 == 503), "every refusal answers the same");
    let a = store.get_account(&acct).await.ok().flatten().unwrap_or_else(|| panic!("no account"));
    println!("PIN guesses evaluated out of 120 concurrent: {}", a.pin_checks);
    assert!(a.pin_checks <= 5, "{} PINs were evaluated", a.pin_checks);
    assert!(a.pin_locked_until.is_some(), "the fifth wrong PIN locked the account");
    assert_eq!(c.vtu_airtime("mtn", "08031112222", "100", "1234").await, first, "the right PIN, locked");
    assert_eq!(c.balance().await, kobo_shared::Kobo::naira(5_000));
}

/// One PIN-gated purchase through the handler as Lambda invokes it; its status.
async fn buy_with_pin(app: &kobo_api::App, key: &str, ip: &str, pin: &str) -> u16 {
    let body = format!("action=vtu_airtime&service_name=mtn&phone=08031113333&amount=100&pin={pin}");
    let req = kobo_tests::api_request(&body, &[("X-API-KEY", key)], ip);
    kobo_api::handle(app, req).await.status().as_u16()
}

/// Locks escalate: 30 minutes, then 24 hours, then until an operator resets; a right
/// PIN between locks starts the escalation over. Driven on a fixed clock.
#[tokio::test]
async fn repeated_pin_locks_escalate_until_an_operator_resets() {
    use kobo_shared::domain::time::Clock;
    let s = kobo_tests::stack();
    let store = s.store().await;
    let (acct, key) = pin_holder(s, 5_000).await;
    let sdk = kobo_cli::devstack::moto::sdk_config_for(&s.aws_endpoint).await;
    let mut app =
        kobo_api::App::new(s.config(), aws_sdk_dynamodb::Client::new(&sdk), aws_sdk_secretsmanager::Client::new(&sdk));
    let ip = kobo_tests::fresh_source_ip().to_string();
    let start = chrono::Utc::now().timestamp() + 3600;
    let steps: [(i64, &str, u16, &str); 8] = [
        (0, "lock", 0, "first lock"),
        (29 * 60, "1234", 403, "locked for 30 minutes"),
        (31 * 60, "lock", 0, "second lock, right after the first ends"),
        (31 * 60 + 23 * 3600, "1234", 403, "the second lock lasts a day"),
        (31 * 60 + 24 * 3600 + 60, "lock", 0, "third lock"),
        (400 * 24 * 3600, "1234", 403, "the third lock lasts until an operator resets it"),
        (400 * 24 * 3600, "unlock", 200, "unlocked, the right PIN buys"),
        (400 * 24 * 3600 + 1, "lock", 0, "a right PIN started the escalation over"),
    ];
    for (at, what, want, why) in steps {
        app.clock = Clock::fixed(start + at);
        match what {
            "lock" => {
                for _ in 0..5 {
                    assert_eq!(buy_with_pin(&app, &key, &ip, "0000").await, 403, "{why}");
                }
            }
            "unlock" => {
                store.unlock_pin(&acct).await.unwrap_or_else(|e| panic!("operator unlock: {e}"));
                assert_eq!(buy_with_pin(&app, &key, &ip, "1234").await, want, "{why}");
            }
            pin => assert_eq!(buy_with_pin(&app, &key, &ip, pin).await, want, "{why}"),
        }
    }
    app.clock = Clock::fixed(start + 400 * 24 * 3600 + 1 + 31 * 60);
    assert_eq!(
        buy_with_pin(&app, &key, &ip, "1234").await,
        200,
        "after a right PIN the first lock is 30 minutes again"
    );
}

static ROTATION: kobo_tests::StackSlot = kobo_tests::StackSlot::new();

/// Rotates one of the stack's key rings as `kobo secrets rotate` does: a new key made
/// current, the old ones kept.
async fn rotate_ring(s: &kobo_tests::Stack, which: usize) -> String {
    let ring = s.key_ring(which).await;
    let kid = ring.next_key_id();
    let rotated = ring.rotated(&kid, &kobo_cli::devstack::provision::random_secret(64));
    let sdk = kobo_cli::devstack::moto::sdk_config_for(&s.aws_endpoint).await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .put_secret_value()
        .secret_id(&s.key_rings[which])
        .secret_string(rotated.to_json())
        .send()
        .await
        .unwrap_or_else(|e| panic!("rotating ring {which}: {e}"));
    kid
}

/// GETs a simulator's control URL as JSON (`null` when it is not JSON).
async fn get_json(url: String) -> serde_json::Value {
    let r = reqwest::get(&url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    r.json().await.unwrap_or_default()
}

/// The Hubtel simulator's paylink of deposit `id`: its id and the request kobo made.
async fn paylink_of(s: &kobo_tests::Stack, id: &str) -> (String, serde_json::Value) {
    let links: serde_json::Value = get_json(format!("{}/control/paylinks", s.hubtel_base)).await;
    links
        .as_object()
        .and_then(|m| m.iter().find(|(_, l)| l["clientReference"] == serde_json::json!(id)))
        .map(|(k, l)| (k.clone(), l.clone()))
        .unwrap_or_else(|| panic!("no paylink for {id}"))
}

/// Pays deposit `id` through the Hubtel simulator; the callback's status and answer.
async fn pay_deposit(s: &kobo_tests::Stack, id: &str) -> (u64, String) {
    use serde_json::Value;
    let (paylink, _) = paylink_of(s, id).await;
    let v: Value = reqwest::Client::new()
        .post(format!("{}/control/pay/{paylink}", s.hubtel_base))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("paying: {e}"))
        .json()
        .await
        .unwrap_or_default();
    (v["callback_status"].as_u64().unwrap_or(0), v["callback_answer"]["status"].as_str().unwrap_or("").to_string())
}

/// An endpoint of `acct` on `receiver` for `deposit.success`, sealed under the vault key
/// ring as it stands; its sealed secret.
async fn deposit_hooks(s: &kobo_tests::Stack, acct: &str, receiver: &Receiver) -> String {
    let (ep, secret) = kobo_shared::flows::webhooks::manage::create_endpoint(
        &s.store().await,
        &s.vault().await,
        acct,
        &receiver.url,
        vec![kobo_shared::domain::event::EventType::DepositSuccess],
        TargetPolicy::LOCAL,
    )
    .await
    .unwrap_or_else(|e| panic!("endpoint: {e}"));
    receiver.set_secret(&secret);
    ep.secret_sealed
}

/// Every secret rotates without breaking what the old key made, and functions already
/// warm with the old secret accept the new one at once (a key id or signature they do
/// not know has them fetch it again), well within their TTL: the PIN pepper (a PIN set
/// under the new key checks on the warm API; one set before still checks), the callback
/// key (a deposit URL made by a cold container under the new key is accepted by the warm
/// callbacks function; one made before the rotation still credits), the vault key (an
/// endpoint sealed under the new key gets its delivery from the warm worker), and the
/// top-up provider's callback secret. Its own stack: the rotations are its alone.
#[tokio::test]
async fn rotated_secrets_are_accepted_by_warm_functions_within_their_ttl() {
    use kobo_shared::Kobo;
    use kobo_tests::ApiClient;
    let s = kobo_tests::own_stack(&ROTATION, "rotation");
    let store = s.store().await;
    let (acct, key) = pin_holder(s, 1_000).await;
    let c = ApiClient::new(s, &key);
    let old_hooks = Receiver::start(Mode::Ok);
    deposit_hooks(s, &acct, &old_hooks).await;

    // Warm every function with the first keys: a purchase (PIN pepper), a paid deposit
    // (callback key in the API and the callbacks function), its webhook (vault key).
    assert_eq!(c.vtu_airtime("mtn", "08034445555", "100", "1234").await.0, 200);
    let (_, v) = c.deposit("200").await;
    let first = v["deposit_id"].as_str().unwrap_or_default().to_string();
    assert_eq!(pay_deposit(s, &first).await, (200, "credited".into()));
    assert_eq!(old_hooks.wait_for(1, std::time::Duration::from_secs(20)).await.len(), 1);
    let (_, v) = c.deposit("300").await;
    let made_before = v["deposit_id"].as_str().unwrap_or_default().to_string();

    // Rotate all three rings and the provider's callback secret.
    for which in 0..3 {
        assert_eq!(rotate_ring(s, which).await, "k2");
    }
    let sdk = kobo_cli::devstack::moto::sdk_config_for(&s.aws_endpoint).await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let provider = sm.get_secret_value().secret_id(&s.provider_secret).send().await.ok();
    let mut provider: serde_json::Value =
        serde_json::from_str(provider.and_then(|p| p.secret_string).as_deref().unwrap_or("{}")).unwrap_or_default();
    let new_topup_secret = kobo_cli::devstack::provision::random_secret(48);
    provider["topup_webhook_secret"] = serde_json::json!(new_topup_secret);
    sm.put_secret_value()
        .secret_id(&s.provider_secret)
        .secret_string(provider.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("rotating the provider secret: {e}"));

    // PIN pepper: a PIN set now is under k2; the warm API checks it.
    kobo_shared::flows::accounts::set_pin(&store, &s.pepper().await, &acct, "4321")
        .await
        .unwrap_or_else(|e| panic!("setting the PIN: {e}"));
    let digest = store.get_account(&acct).await.ok().flatten().and_then(|a| a.pin_digest).unwrap_or_default();
    assert!(digest.starts_with("k2:"), "{digest}");
    assert_eq!(c.vtu_airtime("mtn", "08034445555", "100", "4321").await.0, 200, "warm API, new pepper key");

    // Vault: an endpoint sealed under k2.
    let new_hooks = Receiver::start(Mode::Ok);
    let sealed = deposit_hooks(s, &acct, &new_hooks).await;
    assert!(sealed.starts_with("k2:"));

    // Callback key: a deposit made by a cold API container carries a k2 URL; the warm
    // callbacks function accepts it. The one made before the rotation still credits.
    let before = c.balance().await;
    let (cold, _) = s.counted_app().await;
    let req = kobo_tests::api_request("action=deposit&amount=400", &[("X-API-KEY", key.as_str())], "127.0.0.9");
    let answer = kobo_api::handle(&cold, req).await;
    let body = match answer.body() {
        lambda_http::Body::Text(t) => t.clone(),
        _ => String::new(),
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let made_after = v["deposit_id"].as_str().unwrap_or_default().to_string();
    assert!(!made_after.is_empty(), "{body}");
    assert_eq!(pay_deposit(s, &made_after).await, (200, "credited".into()), "k2 URL on the warm callbacks function");
    assert_eq!(pay_deposit(s, &made_before).await, (200, "credited".into()), "k1 URL after the rotation");
    assert_eq!(c.balance().await, before.checked_add(Kobo::naira(700)).unwrap_or_default());
    // Both endpoints got the three later deposits' webhooks, each signed with its secret.
    let got = new_hooks.wait_for(2, std::time::Duration::from_secs(20)).await;
    assert_eq!(got.len(), 2, "the warm worker opened the k2-sealed secret");
    assert!(got.iter().all(|r| r.seed_signature_ok));
    assert!(old_hooks.wait_for(3, std::time::Duration::from_secs(20)).await.iter().all(|r| r.seed_signature_ok));

    // The provider's callback secret: the warm callbacks function accepts the new one.
    let cb_url = format!("{}/callbacks/topup", s.base_url);
    let body = serde_json::json!({"success": false, "error": "x", "passthrough": "{}"}).to_string();
    let sign = |secret: &str| kobo_shared::platform::crypto::hmac_sha256_hex(secret.as_bytes(), body.as_bytes());
    let status = reqwest::Client::new()
        .post(&cb_url)
        .header("X-Signature", sign(&new_topup_secret))
        .body(body.clone())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_ne!(status, 401, "a callback signed with the rotated provider secret is accepted");
    let status = reqwest::Client::new()
        .post(&cb_url)
        .header("X-Signature", sign("not-the-secret-at-all"))
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(status, 401);
}

/// OTPs the Hubtel simulator sent to `phone` (E.164) so far.
async fn otps_sent_to(s: &kobo_tests::Stack, phone: &str) -> u64 {
    let v: serde_json::Value = get_json(format!("{}/control/stats", s.hubtel_base)).await;
    v["otp_per_phone"][phone].as_u64().unwrap_or(0)
}

/// The code Hubtel texted for an OTP (as the phone's owner would read it).
async fn otp_code(s: &kobo_tests::Stack, store: &kobo_shared::Store, acct: &str, otp_id: &str) -> String {
    let otp = store.get_otp(acct, otp_id).await.ok().flatten().unwrap_or_else(|| panic!("no otp {otp_id}"));
    let v: serde_json::Value = get_json(format!("{}/control/otp/{}", s.hubtel_base, otp.session.request_id)).await;
    v["code"].as_str().unwrap_or_default().to_string()
}

/// A stolen key cannot get a withdrawal OTP sent anywhere but the account's verified
/// payout phone, nor sent at all without the PIN; one OTP allows one guess, and wrong
/// codes count with wrong PINs towards the lock.
#[tokio::test]
async fn withdrawal_otps_need_the_pin_reach_only_the_payout_phone_and_allow_one_guess() {
    use kobo_shared::Kobo;
    use kobo_tests::ApiClient;
    let s = kobo_tests::stack();
    let store = s.store().await;
    let (acct, key) = pin_holder(s, 10_000).await;
    let c = ApiClient::new(s, &key);
    let own = format!("+234803{:07}", rand_suffix());
    let foreign = format!("+234805{:07}", rand_suffix());
    let local = |e164: &str| format!("0{}", &e164[4..]);

    // No verified payout phone: no OTP at all.
    let (st, v) = c.withdraw_otp(&local(&own), "1234").await;
    assert_eq!(st, 403, "{v}");
    store.set_payout_phone(&acct, Some(&own)).await.unwrap_or_else(|e| panic!("payout phone: {e}"));
    // A foreign phone, with or without the right PIN: refused, nothing sent to it.
    for pin in ["1234", "0000"] {
        let (st, v) = c.withdraw_otp(&local(&foreign), pin).await;
        assert_eq!(st, 422, "{v}");
        assert!(v["error"].as_str().unwrap_or_default().contains("payout phone"), "{v}");
    }
    // The payout phone without the PIN, or with a wrong one: refused, nothing sent.
    let (st, _) = c.call(&[("action", "withdraw_otp"), ("phone", &local(&own))]).await;
    assert_eq!(st, 422, "the PIN is required");
    assert_eq!(c.withdraw_otp(&local(&own), "9999").await.0, 403);
    assert_eq!(otps_sent_to(s, &foreign).await, 0);
    assert_eq!(otps_sent_to(s, &own).await, 0);
    // With the PIN: sent to the payout phone (naming it or not).
    let (st, v) = c.call(&[("action", "withdraw_otp"), ("pin", "1234")]).await;
    assert_eq!((st, v["status"].as_str()), (200, Some("sent")), "{v}");
    assert_eq!(otps_sent_to(s, &own).await, 1);
    let otp_id = v["otp_id"].as_str().unwrap_or_default().to_string();
    let right = otp_code(s, &store, &acct, &otp_id).await;
    let wrong = if right == "1111" { "2222" } else { "1111" };

    // One guess per OTP: a wrong code uses it up, and the right one then fails too.
    let (st, v) = c.withdraw("1000", &local(&own), "1234", &otp_id, wrong).await;
    assert_eq!(st, 422, "{v}");
    let (st, v) = c.withdraw("1000", &local(&own), "1234", &otp_id, &right).await;
    assert_eq!(st, 422, "a used OTP stays used: {v}");
    assert_eq!(c.balance().await, Kobo::naira(10_000), "nothing was held");
    // Nothing in clear: the OTP record holds Hubtel's session, never the code.
    let raw = store.get_otp(&acct, &otp_id).await.ok().flatten().unwrap_or_else(|| panic!("otp"));
    assert!(raw.used);

    // Wrong codes count like wrong PINs: one wrong code above, four more lock the PIN.
    for _ in 0..4 {
        let (st, v) = c.withdraw_otp(&local(&own), "1234").await;
        assert_eq!(st, 200, "{v}");
        let id = v["otp_id"].as_str().unwrap_or_default().to_string();
        let right = otp_code(s, &store, &acct, &id).await;
        let wrong = if right == "1111" { "2222" } else { "1111" };
        let (st, v) = c.withdraw("1000", &local(&own), "1234", &id, wrong).await;
        assert!(st == 422 || st == 403, "{st} {v}");
    }
    let (st, v) = c.vtu_airtime("mtn", "08031116666", "100", "1234").await;
    assert_eq!(st, 403, "five wrong codes locked the PIN: {v}");
    assert_eq!(c.balance().await, Kobo::naira(10_000));
}

fn rand_suffix() -> u32 {
    use rand::Rng;
    rand::rng().random_range(1_000_000..9_999_999)
}

static FLOOD: kobo_tests::StackSlot = kobo_tests::StackSlot::new();

/// 10,000 requests with random well-formed keys from four addresses: no per-key item is
/// ever written (a key is counted on its own item, which a random key does not have),
/// each address's counter stops once over its limit, and after that the container
/// writes nothing at all for the flood. On a fixed clock: one rate window. Its own stack,
/// so the flood does not slow the shared emulator under the other tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_random_keys_writes_no_per_key_items_and_stops_writing() {
    let _heavy = kobo_tests::heavy().await;
    use futures_util::StreamExt;
    use kobo_shared::db::keys::RateSubject;
    use rand::distr::{Alphanumeric, SampleString};
    let s = kobo_tests::own_stack(&FLOOD, "flood");
    let store = s.store().await;
    let (mut app, counter) = s.counted_app().await;
    let now = (chrono::Utc::now().timestamp() / 60 + 120) * 60 + 5;
    app.clock = kobo_shared::domain::time::Clock::fixed(now);
    let ips: Vec<String> = (0..4).map(|_| kobo_tests::fresh_source_ip().to_string()).collect();
    let total: usize = std::env::var("KOBO_FLOOD_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let keys: Vec<(String, String)> = (0..total)
        .map(|i| {
            let acct = Alphanumeric.sample_string(&mut rand::rng(), 12).to_ascii_lowercase();
            let secret = Alphanumeric.sample_string(&mut rand::rng(), 40);
            (format!("kobo_{acct}_{secret}"), ips[i % ips.len()].clone())
        })
        .collect();
    let started = std::time::Instant::now();
    let statuses: Vec<u16> = futures_util::stream::iter(keys.iter())
        .map(|(key, ip)| {
            let app = &app;
            async move {
                let req = kobo_tests::api_request("action=balance", &[("X-API-KEY", key.as_str())], ip);
                kobo_api::handle(app, req).await.status().as_u16()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let took = started.elapsed();
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "only 401 and 429");
    let anon = s.config().anon_ip_rpm as usize;
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), anon * ips.len(), "each IP gets its 60 tries");
    let calls = counter.calls();
    let writes = calls
        .iter()
        .filter(|c| ["UpdateItem", "PutItem", "TransactWriteItems", "DeleteItem"].contains(&c.as_str()))
        .count();
    println!(
        "MEASURE random-key flood: {total} requests from {} IPs in {:.1} s; DynamoDB write requests {writes} ({:.1} per 1,000; each key's one a conditional write that stores nothing), reads {}",
        ips.len(),
        took.as_secs_f64(),
        writes as f64 * 1000.0 / total as f64,
        calls.iter().filter(|c| *c == "BatchGetItem").count(),
    );
    // Each IP: its counter written until it passed the limit (61 times, and at most the
    // 16 requests then in flight), its keys tried as many times.
    let in_flight = 16;
    assert!(writes <= ips.len() * 2 * (anon + 1 + in_flight), "{writes} write requests for {total} requests");
    let w = kobo_shared::domain::ratelimit::window(now);
    for ip in &ips {
        let item = store
            .get_item(
                &kobo_shared::db::Key::new(
                    kobo_shared::db::keys::rate_pk(RateSubject::Ip(ip)),
                    kobo_shared::db::keys::rate_sk(w.start),
                ),
                true,
            )
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let hits = item.get("hits").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<usize>().ok());
        assert!(hits.is_some_and(|h| h > anon && h <= anon + 1 + in_flight), "{ip}: {hits:?}");
    }
    // From now on the flood writes nothing at all.
    counter.reset();
    for (i, (key, _)) in keys.iter().take(400).enumerate() {
        let req = kobo_tests::api_request("action=balance", &[("X-API-KEY", key.as_str())], &ips[i % ips.len()]);
        assert_eq!(kobo_api::handle(&app, req).await.status().as_u16(), 429);
    }
    let later = counter.calls();
    assert!(
        later.iter().all(|c| c == "BatchGetItem"),
        "{:?}",
        later.iter().filter(|c| *c != "BatchGetItem").collect::<Vec<_>>()
    );
    // No per-key item: neither a counter under the key nor anything in the claimed account.
    for (key, _) in keys.iter().step_by(total.div_ceil(200).max(1)) {
        let p = kobo_shared::domain::apikey::parse(key).unwrap_or_else(|| panic!("well-formed"));
        for pk in [format!("RATE#KEY#{}", p.hash), kobo_shared::db::keys::account_pk(p.account_id)] {
            let items = store.query(&kobo_shared::db::Query::partition(pk.clone())).await.unwrap_or_default();
            assert!(items.is_empty(), "{pk} holds {} items", items.len());
        }
    }
}

static FAIRNESS: kobo_tests::StackSlot = kobo_tests::StackSlot::new();

/// One tenant floods Hubtel with deposits (8 loops, as fast as answers come) while
/// another makes one deposit per window, over 5 of Hubtel's windows (compressed: 2 s
/// each, as the local stack runs them). The flooder is held to its share of each window
/// and to 3 deposits waiting; the quiet tenant's every deposit gets its paylink in its
/// own answer (its share of every window stays free).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_flooding_hubtel_cannot_starve_another() {
    let _heavy = kobo_tests::heavy().await;
    use kobo_shared::Kobo;
    use kobo_tests::{new_reseller, ApiClient, ResellerSpec};
    use std::time::{Duration, Instant};
    let s = kobo_tests::own_stack_with(&FAIRNESS, "fairness", |o| {
        o.reconcile_every = Some(Duration::from_millis(300));
    });
    let store = s.store().await;
    let spec = || ResellerSpec { balance: Kobo::naira(10), ..Default::default() };
    let (flooder, fkey) = new_reseller(&store, spec()).await;
    let (quiet, qkey) = new_reseller(&store, spec()).await;
    let window = Duration::from_millis(2_400); // 2 s and the throttle's margin
    let windows = 5;
    let run = window * windows;
    let started = Instant::now();
    let flood = (0..8).map(|_| {
        let c = ApiClient::new(s, &fkey);
        async move {
            let mut statuses = Vec::new();
            while started.elapsed() < run {
                let (st, _) = c.deposit("100").await;
                statuses.push(st);
                if st == 429 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            statuses
        }
    });
    let quiet_run = async {
        let c = ApiClient::new(s, &qkey);
        let mut waits = Vec::new();
        for i in 0..windows {
            tokio::time::sleep_until((started + window * i).into()).await;
            let asked = Instant::now();
            let (st, v) = c.deposit("100").await;
            assert_eq!(st, 200, "the quiet tenant's deposit: {v}");
            // Its share of the window is always free: the paylink comes in the answer.
            waits.push((v["status"].as_str().unwrap_or_default().to_string(), asked.elapsed()));
        }
        waits
    };
    let (flood, waits) = tokio::join!(futures_util::future::join_all(flood), quiet_run);
    let elapsed = started.elapsed();
    let statuses: Vec<u16> = flood.into_iter().flatten().collect();
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");

    // Hubtel's paylinks by account.
    let links: serde_json::Value = get_json(format!("{}/control/paylinks", s.hubtel_base)).await;
    let mut used = (0usize, 0usize);
    for link in links.as_object().map(|m| m.values().cloned().collect::<Vec<_>>()).unwrap_or_default() {
        let id = link["clientReference"].as_str().unwrap_or_default();
        if store.get_deposit(&flooder, id).await.ok().flatten().is_some() {
            used.0 += 1;
        } else if store.get_deposit(&quiet, id).await.ok().flatten().is_some() {
            used.1 += 1;
        }
    }
    let windows_elapsed = elapsed.as_secs_f64() / window.as_secs_f64();
    println!(
        "MEASURE Hubtel fairness over {windows_elapsed:.1} windows (2 s each, compressed): flooder {} paylinks from {} requests ({} refused 429), quiet {} paylinks from {windows} requests; quiet waits {:?}",
        used.0,
        statuses.len(),
        statuses.iter().filter(|s| **s == 429).count(),
        used.1,
        waits.iter().map(|(_, w)| format!("{:.1}s", w.as_secs_f64())).collect::<Vec<_>>()
    );
    for (status, _) in &waits {
        assert_eq!(status, "awaiting_payment", "a quiet deposit did not get its paylink in its own answer");
    }
    assert_eq!(used.1, windows as usize);
    // The flooder: at most its share (2 of 5) of every window that has begun.
    let share_cap = 2 * (windows_elapsed.ceil() as usize + 1);
    assert!(used.0 <= share_cap, "the flooder used {} slots, past {share_cap}", used.0);
    assert!(statuses.contains(&429), "the flooder hit its cap of waiting deposits");
}
