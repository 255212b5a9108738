//! The Developer Portal's routes over the local stack's HTTP (as API Gateway serves them):
//! sign-up with the phone verified by a Hubtel OTP, API access requested and approved,
//! keys and webhooks managed, and every form refused cleanly when signed out, from
//! another site, with a bad CSRF token, on an expired session, on another account's
//! objects or with bad input, changing nothing.

use kobo_shared::flows::access;
use kobo_shared::flows::accounts::{self, Direction};
use kobo_shared::{Kobo, Store};
use kobo_tests::{fresh_source_ip, stack, unique, ApiClient, Mode, Receiver, Stack};

/// A browser without JavaScript: one cookie, no redirects followed, `Origin` sent.
struct Visitor {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

/// Status, `Location`, body.
type Answer = (u16, String, String);

impl Visitor {
    fn new(s: &Stack) -> Visitor {
        let http = reqwest::Client::builder()
            .local_address(fresh_source_ip())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("building an HTTP client: {e}"));
        Visitor { http, base: s.base_url.clone(), cookie: None }
    }

    async fn answer(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", format!("kobo_session={c}")),
            None => req,
        };
        let resp = req.send().await.unwrap_or_else(|e| panic!("portal request: {e}"));
        let status = resp.status().as_u16();
        let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let location = header("location");
        let set = header("set-cookie");
        if let Some(v) = set.strip_prefix("kobo_session=") {
            let v = v.split(';').next().unwrap_or("");
            self.cookie = (!v.is_empty()).then(|| v.to_string());
        }
        assert!(header("content-security-policy").contains("script-src 'self'"), "every page has the CSP");
        (status, location, resp.text().await.unwrap_or_default())
    }

    async fn get(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base));
        self.answer(req).await
    }

    async fn post_from(&mut self, origin: &str, path: &str, fields: &[(&str, &str)]) -> Answer {
        let req = self.http.post(format!("{}{path}", self.base)).header("origin", origin).form(fields);
        self.answer(req).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let origin = self.base.clone();
        self.post_from(&origin, path, fields).await
    }

    /// Posts a form of a signed-in page with the CSRF token that page carries.
    async fn submit(&mut self, page: &str, path: &str, fields: &[(&str, &str)]) -> Answer {
        let (st, _, body) = self.get(page).await;
        assert_eq!(st, 200, "{page}: {body}");
        let token = csrf_of(&body);
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }
}

/// The secret a page shows once (a new key's or endpoint's).
fn shown_secret(body: &str) -> String {
    let at = body.find("<code id=\"secret\">").unwrap_or_else(|| panic!("no secret shown in {body}"));
    body[at + 18..].split('<').next().unwrap_or("").to_string()
}

fn csrf_of(body: &str) -> String {
    let at = body.find("name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no CSRF field in {body}"));
    body[at + 19..].split('"').next().unwrap_or("").to_string()
}

/// Verifies the phone as its owner would: the code read from the phone, entered on the
/// verify page. Hubtel's limit is shared with every test running: while it has no slot
/// the portal answers 429 or 503 (nothing changed) and the owner asks again a window
/// later, as the page tells them to.
async fn verify_phone(s: &Stack, v: &mut Visitor, phone: &str) {
    for _ in 0..10 {
        let Some(code) = s.code_sent_to(phone).await else {
            let (st, _, _) = v.submit("/portal/verify", "/portal/verify/send", &[]).await;
            assert!([303, 429, 503].contains(&st), "{st}");
            tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
            continue;
        };
        let (st, loc, body) = v.submit("/portal/verify", "/portal/verify", &[("code", &code)]).await;
        match st {
            303 => {
                assert_eq!(loc, "/portal?done=verified");
                return;
            }
            429 | 503 => tokio::time::sleep(std::time::Duration::from_millis(2500)).await,
            _ => panic!("verify answered {st}: {body}"),
        }
    }
    panic!("the phone {phone} could not be verified in 10 tries");
}

/// A fresh Nigerian mobile number (0803 + 7 digits).
fn fresh_phone() -> String {
    format!("0803{:07}", rand::random::<u32>() % 10_000_000)
}

const PASSWORD: &str = "correct-horse-42";

/// Signs up a new reseller and verifies its phone; answers the visitor, email, phone and
/// account id.
async fn signed_up(s: &Stack, store: &Store) -> (Visitor, String, String, String) {
    let mut v = Visitor::new(s);
    let email = format!("r{}@example.com", unique());
    let phone = fresh_phone();
    let (st, loc, body) = v
        .post("/portal/signup", &[("name", "Ada Stores"), ("email", &email), ("phone", &phone), ("password", PASSWORD)])
        .await;
    assert_eq!((st, loc.as_str()), (303, "/portal/verify"), "{body}");
    let login = store.get_login(&email).await.ok().flatten().expect("the login exists");
    verify_phone(s, &mut v, &phone).await;
    (v, email, phone, login.account_id)
}

#[tokio::test]
async fn sign_up_verify_request_access_approve_and_use_a_key() {
    let s = stack();
    let store = s.store().await;
    let mut v = Visitor::new(s);
    let email = format!("r{}@example.com", unique());
    let phone = fresh_phone();

    // Bad input: a clear message, nothing created.
    let (st, _, body) = v
        .post(
            "/portal/signup",
            &[("name", "Ada"), ("email", "not-an-email"), ("phone", &phone), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(st, 422);
    assert!(body.contains("Email"), "{body}");
    let (st, _, body) =
        v.post("/portal/signup", &[("name", "Ada"), ("email", &email), ("phone", &phone), ("password", "short")]).await;
    assert_eq!(st, 422);
    assert!(body.contains("Password"), "{body}");
    assert!(store.get_login(&email).await.expect("store").is_none(), "nothing was created");

    // Sign-up: the account starts with API access off; a code goes to the phone.
    let (st, loc, _) = v
        .post("/portal/signup", &[("name", "Ada Stores"), ("email", &email), ("phone", &phone), ("password", PASSWORD)])
        .await;
    assert_eq!((st, loc.as_str()), (303, "/portal/verify"));
    let account = store.get_login(&email).await.ok().flatten().expect("login").account_id;
    let a = store.get_account(&account).await.ok().flatten().expect("account");
    assert!(!a.api_active && a.payout_phone.is_none());
    // The same email again is refused.
    let mut other = Visitor::new(s);
    let (st, _, body) = other
        .post(
            "/portal/signup",
            &[("name", "Ada"), ("email", &email), ("phone", &fresh_phone()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(st, 422);
    assert!(body.contains("exists"), "{body}");

    // Unverified: every other page sends to /portal/verify.
    let (st, loc, _) = v.get("/portal/keys").await;
    assert_eq!((st, loc.as_str()), (303, "/portal/verify"));
    // A wrong code is refused and the phone stays unverified; the right one verifies it.
    let code = s.code_sent_to(&phone).await.unwrap_or_default();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (st, _, body) = v.submit("/portal/verify", "/portal/verify", &[("code", wrong)]).await;
    assert!([422, 429, 503].contains(&st), "a wrong code is never accepted: {body}");
    assert!(store.get_account(&account).await.ok().flatten().expect("account").payout_phone.is_none());
    verify_phone(s, &mut v, &phone).await;
    let a = store.get_account(&account).await.ok().flatten().expect("account");
    let e164 = format!("+234{}", &phone[1..]);
    assert_eq!(a.payout_phone.as_deref(), Some(e164.as_str()), "the verified phone is the payout phone");

    // The API answers 403 until a plan is approved.
    let (st, _, body) = v.submit("/portal/keys", "/portal/keys", &[("label", "first"), ("scope_balance", "on")]).await;
    assert_eq!(st, 200, "{body}");
    let key = shown_secret(&body);
    let api = ApiClient::new(s, &key);
    assert_eq!(api.balance_answer().await.0, 403);
    let (_, _, listed) = v.get("/portal/keys").await;
    assert!(!listed.contains(&key), "the key is shown only once");

    // Requests: no money → refused, nothing charged; KYC plan without KYC → refused.
    let (st, _, body) = v.submit("/portal/access", "/portal/access", &[("plan", "demo")]).await;
    assert_eq!(st, 422);
    assert!(body.contains("Fund your wallet"), "{body}");
    accounts::adjust(&store, &account, Direction::Credit, Kobo::naira(30_000), "test funds", "test")
        .await
        .expect("credit");
    let (st, _, body) = v.submit("/portal/access", "/portal/access", &[("plan", "pro")]).await;
    assert_eq!(st, 422);
    assert!(body.contains("KYC"), "{body}");
    assert_eq!(store.balance(&account).await.ok().flatten(), Some(Kobo::naira(30_000)), "nothing charged");
    let (st, loc, _) = v.submit("/portal/access", "/portal/access", &[("plan", "demo")]).await;
    assert_eq!((st, loc.as_str()), (303, "/portal/access?done=requested"));
    assert_eq!(store.balance(&account).await.ok().flatten(), Some(Kobo::naira(25_000)), "the price is charged");
    let (st, _, _) = v.submit("/portal/access", "/portal/access", &[("plan", "demo")]).await;
    assert_eq!(st, 409, "one pending request at a time");
    assert_eq!(store.balance(&account).await.ok().flatten(), Some(Kobo::naira(25_000)), "charged once");
    let ledger = store.ledger(&account).await.expect("ledger");
    assert_eq!(ledger.iter().filter(|e| e.kind == "api_access").count(), 1);

    // The operator approves: plan set, API access on; the same key now works.
    let pending = store.access_requests(&account).await.expect("requests");
    assert_eq!(pending.len(), 1);
    assert!(access::approve(&store, &account, &pending[0].id).await.expect("approve"));
    assert!(!access::approve(&store, &account, &pending[0].id).await.is_ok_and(|x| x), "approved once");
    assert_eq!(api.balance_answer().await.0, 200);
    let (_, _, body) = v.get("/portal").await;
    assert!(body.contains("Active on plan"), "{body}");
    assert!(body.contains("₦25,000.00"), "the balance shows in naira: {body}");
}

#[tokio::test]
async fn forms_are_refused_signed_out_cross_site_with_a_bad_token_or_an_expired_session() {
    let s = stack();
    let store = s.store().await;
    let (mut v, _, _, account) = signed_up(s, &store).await;

    // Signed out: to the sign-in page, for pages and forms alike.
    let mut anon = Visitor::new(s);
    for path in ["/portal", "/portal/keys", "/portal/webhooks", "/portal/history", "/portal/funding", "/portal/refused"]
    {
        let (st, loc, _) = anon.get(path).await;
        assert_eq!((st, loc.as_str()), (303, "/portal/signin?expired=1"), "{path}");
    }
    let (st, loc, _) = anon.post("/portal/keys", &[("label", "x"), ("scope_balance", "on")]).await;
    assert_eq!((st, loc.as_str()), (303, "/portal/signin?expired=1"));

    // A bad or missing CSRF token, or another Origin: 403, nothing made.
    let (st, _, _) = v.post("/portal/keys", &[("csrf", "nope"), ("label", "x"), ("scope_balance", "on")]).await;
    assert_eq!(st, 403);
    let (st, _, _) = v.post("/portal/keys", &[("label", "x"), ("scope_balance", "on")]).await;
    assert_eq!(st, 403);
    let (_, _, page) = v.get("/portal/keys").await;
    let token = csrf_of(&page);
    let (st, _, _) = v
        .post_from("https://evil.example", "/portal/keys", &[("csrf", &token), ("label", "x"), ("scope_balance", "on")])
        .await;
    assert_eq!(st, 403);
    assert!(store.list_keys(&account).await.expect("keys").is_empty(), "no key was made");

    // Bad input: a clear message, nothing made.
    let (st, _, body) = v.submit("/portal/keys", "/portal/keys", &[("label", "no scopes")]).await;
    assert_eq!(st, 422);
    assert!(body.contains("at least one scope"), "{body}");
    let (st, _, body) = v
        .submit("/portal/keys", "/portal/keys", &[("label", "bad ip"), ("scope_balance", "on"), ("ips", "300.1.1.1")])
        .await;
    assert_eq!(st, 422);
    assert!(body.contains("300.1.1.1"), "{body}");
    let (st, _, body) = v
        .submit(
            "/portal/webhooks",
            "/portal/webhooks",
            &[("url", "http://10.0.0.1/hook"), ("event_order.created", "on")],
        )
        .await;
    assert_eq!(st, 422, "the SSRF guard refuses private targets: {body}");
    assert!(store.list_keys(&account).await.expect("keys").is_empty());
    assert!(store.endpoints(&account).await.expect("endpoints").is_empty());

    // Another account's key and endpoint answer like missing ones.
    let (mut w, _, _, other) = signed_up(s, &store).await;
    let (st, _, body) = w.submit("/portal/keys", "/portal/keys", &[("label", "theirs"), ("scope_balance", "on")]).await;
    assert_eq!(st, 200, "{body}");
    let hook = Receiver::start(Mode::Ok);
    let (st, _, _) =
        w.submit("/portal/webhooks", "/portal/webhooks", &[("url", &hook.url), ("event_order.created", "on")]).await;
    assert_eq!(st, 200);
    let their_key = store.list_keys(&other).await.expect("keys").remove(0);
    let their_ep = store.endpoints(&other).await.expect("endpoints").remove(0);
    let (st, _, _) = v.get(&format!("/portal/keys/{}", their_key.key_id)).await;
    assert_eq!(st, 404);
    let (st, _, _) = v.get(&format!("/portal/webhooks/{}", their_ep.id)).await;
    assert_eq!(st, 404);
    let (st, _, _) =
        v.submit("/portal", &format!("/portal/keys/{}/revoke", their_key.key_id), &[("confirm", "yes")]).await;
    assert_eq!(st, 404);
    assert!(store.list_keys(&other).await.expect("keys")[0].revoked_at.is_none(), "their key is untouched");
    let (st, _, _) = v.get("/portal/keys/no-such-key").await;
    assert_eq!(st, 404);

    // An idle session expires: the next request signs out and removes it.
    let cookie = v.cookie.clone().expect("a session cookie");
    let token = cookie.split_once('.').map(|(_, t)| t.to_string()).expect("cookie shape");
    let hash = kobo_shared::platform::crypto::sha256_hex(token.as_bytes());
    let (session, _) = store.session_wave(&account, &hash).await.expect("wave");
    let mut session = session.expect("the session is stored hashed");
    let idle = kobo_shared::domain::portal::SESSION_IDLE_SECS;
    session.last_seen -= idle + 1;
    session.created_at -= idle + 1;
    store.delete_session(&account, &hash).await.expect("ageing the session");
    store.put_session(&session).await.expect("ageing the session");
    let (st, loc, _) = v.get("/portal/keys").await;
    assert_eq!((st, loc.as_str()), (303, "/portal/signin?expired=1"));
    assert!(store.session_wave(&account, &hash).await.expect("wave").0.is_none(), "the expired session is gone");

    // Sign in again (a new session), then sign out everywhere ends every session.
    let mut v2 = Visitor::new(s);
    let email = store.get_account(&account).await.ok().flatten().and_then(|a| a.email).expect("email");
    let (st, loc, _) = v2.post("/portal/signin", &[("email", &email), ("password", PASSWORD)]).await;
    assert_eq!((st, loc.as_str()), (303, "/portal"));
    let (st, _, body) = v2.post("/portal/signin", &[("email", &email), ("password", "wrong-password-1")]).await;
    assert_eq!(st, 401);
    assert!(body.contains("Wrong email or password"));
    let (st, loc, _) = v2.submit("/portal", "/portal/signout-all", &[]).await;
    assert_eq!((st, loc.as_str()), (303, "/portal/signin?done=signedout"));
}

#[tokio::test]
async fn keys_webhooks_test_redeliver_refusals_and_history() {
    let s = stack();
    let store = s.store().await;
    let (mut v, _, _, account) = signed_up(s, &store).await;
    store.set_api_active(&account, true).await.expect("API access on");

    // A key with one scope and an IP whitelist; its refusals show with the check named.
    let (st, _, body) = v
        .submit("/portal/keys", "/portal/keys", &[("label", "shop"), ("scope_balance", "on"), ("ips", "127.9.9.8")])
        .await;
    assert_eq!(st, 200, "{body}");
    let api = ApiClient::new(s, &shown_secret(&body));
    assert_eq!(api.balance_answer().await.0, 403, "refused by the IP whitelist");
    let (st, _, body) = v.get("/portal/refused").await;
    assert_eq!(st, 200);
    assert!(body.contains("<strong>ip</strong>"), "{body}");
    // One click whitelists the refused IP; the key then works from it.
    let rec = store.list_keys(&account).await.expect("keys").remove(0);
    let refused_ip = store.refusals(&account, 10).await.expect("refusals")[0].ip.clone();
    let (st, loc, _) =
        v.submit("/portal/refused", "/portal/refused/whitelist", &[("key_id", &rec.key_id), ("ip", &refused_ip)]).await;
    assert_eq!((st, loc.as_str()), (303, "/portal/refused?done=whitelisted"));
    let rec = store.list_keys(&account).await.expect("keys").remove(0);
    assert!(rec.ip_whitelist.contains(&refused_ip));
    assert_eq!(api.balance_answer().await.0, 200, "the key works from the whitelisted IP");

    // Roll: a new key now; the old one retires within the grace period.
    let (st, _, body) = v
        .submit(
            &format!("/portal/keys/{}", rec.key_id),
            &format!("/portal/keys/{}/roll", rec.key_id),
            &[("grace", "3600")],
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("new API key"), "{body}");
    let keys = store.list_keys(&account).await.expect("keys");
    assert_eq!(keys.len(), 2);
    let old = keys.iter().find(|k| k.key_id == rec.key_id).expect("old key");
    assert!(old.retire_at.is_some_and(|t| t > chrono::Utc::now().timestamp()), "retires later, not now");
    // Revoke needs the confirmation box.
    let edit = format!("/portal/keys/{}", rec.key_id);
    let (st, _, _) = v.submit(&edit, &format!("{edit}/revoke"), &[]).await;
    assert_eq!(st, 422);
    let (st, loc, _) = v.submit(&edit, &format!("{edit}/revoke"), &[("confirm", "yes")]).await;
    assert_eq!((st, loc.as_str()), (303, "/portal/keys?done=revoked"));

    // A webhook: the secret shown once, Test shows its result and logs it, Redeliver sends again.
    let hook = Receiver::start(Mode::Ok);
    let (st, _, body) = v
        .submit(
            "/portal/webhooks",
            "/portal/webhooks",
            &[("url", &hook.url), ("event_order.created", "on"), ("event_vtu.success", "on")],
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("signing secret"), "{body}");
    let secret = shown_secret(&body);
    hook.set_secret(&secret);
    let ep = store.endpoints(&account).await.expect("endpoints").remove(0);
    let page = format!("/portal/webhooks/{}", ep.id);
    let (st, _, body) = v.submit(&page, &format!("{page}/test"), &[("event", "order.created")]).await;
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("Test result") && body.contains("HTTP 200"), "{body}");
    assert_eq!(hook.wait_for(1, std::time::Duration::from_secs(10)).await.len(), 1);
    let attempts = store.attempts(&ep.id, 10).await.expect("log");
    assert_eq!(attempts.len(), 1);
    assert!(attempts[0].headers.iter().any(|h| h.starts_with("webhook-signature:")), "{:?}", attempts[0].headers);
    let (st, _, body) = v
        .submit(
            &page,
            &format!("{page}/redeliver"),
            &[("delivery_id", &attempts[0].delivery_id), ("event", "order.created")],
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(hook.wait_for(2, std::time::Duration::from_secs(10)).await.len(), 2);
    let (_, _, log) = v.get(&format!("{page}?status=success&event=order.created")).await;
    assert_eq!(log.matches("Redeliver</button>").count(), 2, "{log}");
    let (_, _, none) = v.get(&format!("{page}?status=failed")).await;
    assert!(none.contains("No attempts."), "{none}");

    // History: the ledger pages newest first; filters keep to one kind.
    accounts::adjust(&store, &account, Direction::Credit, Kobo::naira(100), "first", "test").await.expect("credit");
    for i in 0..27 {
        accounts::adjust(&store, &account, Direction::Credit, Kobo::new(100 + i), "more", "test")
            .await
            .expect("credit");
    }
    let (st, _, page1) = v.get("/portal/history?tab=ledger&kind=credit").await;
    assert_eq!(st, 200);
    assert_eq!(page1.matches("<td>credit</td>").count(), 25, "a page is 25 entries");
    assert!(page1.contains("₦1.26"), "newest first: {page1}");
    let next = page1.split("rel=\"next\"").next().and_then(|h| h.rsplit("href=\"").next()).expect("an older link");
    let next = next.split('"').next().unwrap_or("").replace("&amp;", "&");
    let (st, _, page2) = v.get(&next).await;
    assert_eq!(st, 200, "{next}");
    assert_eq!(page2.matches("<td>credit</td>").count(), 3, "{page2}");
    assert!(page2.contains("₦100.00"));
    let (st, _, _) = v.get("/portal/history?tab=orders&status=bogus").await;
    assert_eq!(st, 200, "an unknown filter is no filter, not an error");
}

#[tokio::test]
async fn a_rejected_request_is_refunded_exactly_once_whoever_races() {
    let s = stack();
    let store = s.store().await;
    let (mut v, _, _, account) = signed_up(s, &store).await;
    accounts::adjust(&store, &account, Direction::Credit, Kobo::naira(6_000), "funds", "test").await.expect("credit");
    let (st, _, _) = v.submit("/portal/access", "/portal/access", &[("plan", "demo")]).await;
    assert_eq!(st, 303);
    assert_eq!(store.balance(&account).await.ok().flatten(), Some(Kobo::naira(1_000)));
    let id = store.access_requests(&account).await.expect("requests")[0].id.clone();
    // Two rejections and an approval at once: exactly one of them settles the request.
    let (a, b, c) = tokio::join!(
        access::reject(&store, &account, &id, "incomplete"),
        access::reject(&store, &account, &id, "incomplete"),
        access::approve(&store, &account, &id),
    );
    let won = [a.is_ok_and(|x| x), b.is_ok_and(|x| x), c.is_ok_and(|x| x)];
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let ledger = store.ledger(&account).await.expect("ledger");
    let refunds = ledger.iter().filter(|e| e.kind == "api_access_refund").count();
    let a = store.get_account(&account).await.ok().flatten().expect("account");
    if won[2] {
        assert_eq!((refunds, a.api_active, a.balance), (0, true, Kobo::naira(1_000)));
    } else {
        assert_eq!((refunds, a.api_active, a.balance), (1, false, Kobo::naira(6_000)));
        let (_, _, body) = v.get("/portal/access").await;
        assert!(body.contains("(refunded)"), "{body}");
    }
    kobo_tests::assert_ledger_sums(&store, &account).await;
}

#[tokio::test]
async fn sign_in_is_limited_per_email_on_a_fixed_clock() {
    use kobo_shared::domain::time::Clock;
    let s = stack();
    let store = s.store().await;
    let (_, email, _, _) = signed_up(s, &store).await;
    // The portal as its Lambda builds it, on a clock fixed inside one rate window.
    let sdk = s.sdk_as("PortalFunction").await;
    let mut portal = kobo_portal::App::new(
        kobo_api::App::new(s.config(), aws_sdk_dynamodb::Client::new(&sdk), aws_sdk_secretsmanager::Client::new(&sdk)),
        aws_sdk_sqs::Client::new(&sdk),
        kobo_shared::platform::ssrf::TargetPolicy::LOCAL,
    )
    .expect("portal");
    portal.clock = Clock::fixed((chrono::Utc::now().timestamp() / 60 + 10) * 60 + 1);
    portal.secure_cookies = true;
    let route = kobo_cli::template::Route {
        method: "ANY".into(),
        path: "/portal/{proxy+}".into(),
        function: "PortalFunction".into(),
    };
    let signin = |password: &str| {
        let mut h = lambda_http::http::HeaderMap::new();
        h.insert("content-type", lambda_http::http::HeaderValue::from_static("application/x-www-form-urlencoded"));
        h.insert("host", lambda_http::http::HeaderValue::from_static("portal.test"));
        h.insert("origin", lambda_http::http::HeaderValue::from_static("https://portal.test"));
        let body = format!("email={}&password={password}", email.replace('@', "%40"));
        let event = kobo_cli::devstack::server::gateway_event(
            &route,
            "POST",
            "/portal/signin",
            "",
            &h,
            "127.3.3.3",
            body.as_bytes(),
        );
        lambda_http::request::from_str(&event).expect("a gateway request")
    };
    let limit = kobo_portal::auth::limits::SIGNIN_EMAIL;
    for i in 0..limit {
        let resp = kobo_portal::handle(&portal, signin("wrong-password-1")).await;
        assert_eq!(resp.status().as_u16(), 401, "attempt {i}");
    }
    // Over the limit: 429 with Retry-After, even with the right password.
    let resp = kobo_portal::handle(&portal, signin(PASSWORD)).await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    // The next window lets the owner in.
    portal.clock = Clock::fixed((chrono::Utc::now().timestamp() / 60 + 11) * 60 + 1);
    let resp = kobo_portal::handle(&portal, signin(PASSWORD)).await;
    assert_eq!(resp.status().as_u16(), 303);
    let cookie = resp.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(cookie.starts_with("__Host-kobo_session=") && cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
}

static FAULTY: kobo_tests::StackSlot = kobo_tests::StackSlot::new();

/// Sets the DynamoDB faults of the stack of its own (`""`: none).
async fn faults(s: &Stack, spec: &str) {
    kobo_cli::devstack::moto::launcher_faults(&s.aws_endpoint, spec)
        .await
        .unwrap_or_else(|e| panic!("setting faults {spec:?}: {e:#}"));
}

/// Money under DynamoDB faults (a stack of its own: faults are global to an emulator).
/// A request whose transaction is throttled throughout, or answered 500 without applying
/// on every attempt (read back), answers 503 with nothing charged or pending; one whose transaction was applied but answered 500 is answered as made and
/// charged once; a rejection that keeps conflicting refunds nothing and leaves the request
/// pending for the operator to repeat; one applied but answered 500 refunds exactly once.
#[tokio::test]
async fn access_requests_under_dynamodb_faults_charge_once_and_refund_once() {
    let s = kobo_tests::own_stack(&FAULTY, "portal-faults");
    let store = s.store().await;
    faults(s, "").await;
    let (mut v, _, _, account) = signed_up(s, &store).await;
    accounts::adjust(&store, &account, Direction::Credit, Kobo::naira(12_000), "funds", "test").await.expect("credit");
    let price = Kobo::naira(5_000);

    let (_, _, page) = v.get("/portal/access").await;
    let token = csrf_of(&page);
    // Throttled on every attempt; or answered 500 without applying on every attempt, an
    // unknown outcome until the request's item is read back and says nothing was made:
    // 503, nothing changed, nothing charged, nothing pending.
    for spec in ["seed=1,throttle=1,ops=TransactWriteItems", "seed=5,error_before_write=1,ops=TransactWriteItems"] {
        faults(s, spec).await;
        let (st, _, body) = v.post("/portal/access", &[("csrf", &token), ("plan", "demo")]).await;
        faults(s, "").await;
        assert_eq!(st, 503, "{spec}: {body}");
        assert!(body.contains("Nothing was changed"), "{spec}: known to be not made: {body}");
        assert_eq!(store.balance(&account).await.ok().flatten(), Some(Kobo::naira(12_000)), "{spec}: nothing charged");
        assert!(store.access_requests(&account).await.expect("requests").is_empty(), "{spec}: nothing pending");
    }

    // Applied, then answered 500 (the SDK retries with the same token): answered as made,
    // charged once.
    faults(s, "seed=2,error_after_write=1,ops=TransactWriteItems").await;
    let (st, loc, body) = v.post("/portal/access", &[("csrf", &token), ("plan", "demo")]).await;
    faults(s, "").await;
    assert_eq!((st, loc.as_str()), (303, "/portal/access?done=requested"), "{body}");
    assert_eq!(store.balance(&account).await.ok().flatten(), Some(Kobo::naira(7_000)), "charged once");
    let requests = store.access_requests(&account).await.expect("requests");
    assert_eq!(requests.len(), 1, "one request recorded");
    assert_eq!(requests[0].price, price);
    let id = requests[0].id.clone();
    let (st, _, _) = v.post("/portal/access", &[("csrf", &token), ("plan", "demo")]).await;
    assert_eq!(st, 409, "the same request again is refused, not charged twice");
    assert_eq!(store.balance(&account).await.ok().flatten(), Some(Kobo::naira(7_000)));

    // The rejection conflicts on every attempt: an error for the operator, nothing
    // refunded, the request still pending.
    faults(s, "seed=3,conflict=1,ops=TransactWriteItems").await;
    let refused = access::reject(&store, &account, &id, "KYC incomplete").await;
    faults(s, "").await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(store.balance(&account).await.ok().flatten(), Some(Kobo::naira(7_000)), "nothing refunded");
    let r = store.get_access_request(&account, &id).await.ok().flatten().expect("the request");
    assert_eq!(r.status.as_str(), "pending");

    // Repeated while the write is applied but answered 500: refunded exactly once, and a
    // third try is told it is settled.
    faults(s, "seed=4,error_after_write=1,ops=TransactWriteItems").await;
    let settled = access::reject(&store, &account, &id, "KYC incomplete").await;
    faults(s, "").await;
    assert!(settled.as_ref().is_ok_and(|x| *x), "{settled:?}");
    assert!(access::reject(&store, &account, &id, "KYC incomplete").await.is_err(), "already rejected");
    assert!(!access::approve(&store, &account, &id).await.is_ok_and(|x| x), "a rejected request is not approved");
    let ledger = store.ledger(&account).await.expect("ledger");
    let count =
        |kind: &str| ledger.iter().filter(|e| e.kind == kind && e.reference.as_deref() == Some(id.as_str())).count();
    assert_eq!((count("api_access"), count("api_access_refund")), (1, 1));
    let a = store.get_account(&account).await.ok().flatten().expect("account");
    assert_eq!((a.balance, a.api_active), (Kobo::naira(12_000), false));
    kobo_tests::assert_ledger_sums(&store, &account).await;
}
