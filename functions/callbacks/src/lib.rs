//! The callbacks Lambda: `POST /callbacks/topup` receives the VTU provider's signed
//! results; `POST /callbacks/hubtel/payment/<account>/<deposit>/<secret>` receives
//! Hubtel's payment callbacks, authenticated by the per-deposit secret in the URL. Every answer is fast; forged or malformed bodies change nothing; a duplicate
//! or late callback is acknowledged and changes nothing twice.
#![warn(missing_docs)]

use kobo_shared::domain::callback::hubtel_amount;
use kobo_shared::domain::callback::HubtelCallback;
use kobo_shared::domain::deposit::PaymentResult;
use kobo_shared::flows::deposits;
use kobo_shared::flows::deposits::apply_payment;
use kobo_shared::flows::providers::Providers;
use kobo_shared::flows::vtu;
use kobo_shared::flows::vtu::{CallbackError, CallbackResult};
use kobo_shared::flows::withdrawals::apply_callback;
use kobo_shared::platform::config::Config;
use kobo_shared::platform::secrets::KeyCheck;
use kobo_shared::{Store, StoreError};
use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request, Response};

/// Largest callback body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Per-container state.
#[derive(Debug)]
pub struct Callbacks {
    /// The table.
    pub store: Store,
    /// The providers (the VTU provider's secret signs its callbacks).
    pub providers: Providers,
    /// The key rings (the callback-URL key is the one used here).
    pub keys: kobo_shared::platform::secrets::KeyRings,
}

impl Callbacks {
    /// From clients made by the caller.
    pub fn new(
        config: &Config,
        dynamodb: aws_sdk_dynamodb::Client,
        secrets: aws_sdk_secretsmanager::Client,
    ) -> Callbacks {
        let store = Store::new(dynamodb, config.table.clone());
        Callbacks {
            providers: Providers::new(config, secrets.clone(), &store),
            store,
            keys: kobo_shared::platform::secrets::KeyRings::new(&secrets, config),
        }
    }
}

fn reply(status: u16, body: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::Text(body.to_string()));
    *r.status_mut() =
        lambda_http::http::StatusCode::from_u16(status).unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, lambda_http::http::HeaderValue::from_static("application/json"));
    r
}

/// Handles one request.
pub async fn handle(cb: &Callbacks, req: Request) -> Response<Body> {
    if req.method() != lambda_http::http::Method::POST {
        return reply(405, serde_json::json!({"error": "use POST"}));
    }
    let body: &[u8] = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if body.len() > MAX_BODY {
        return reply(413, serde_json::json!({"error": "body too large"}));
    }
    let path = req.uri().path().to_string();
    for kind in [HubtelCallback::Payment, HubtelCallback::Withdrawal] {
        if let Some(rest) = path.strip_prefix(&format!("/callbacks/hubtel/{}/", kind.kind())) {
            return hubtel(cb, kind, rest, body).await;
        }
    }
    if let Some(secret) = path.strip_prefix("/callbacks/vtpass/") {
        return vtpass(cb, secret, body).await;
    }
    if path != "/callbacks/topup" {
        return reply(404, serde_json::json!({"error": "unknown callback"}));
    }
    let signature = req.headers().get("x-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let secret = match cb.providers.topup.webhook_secret().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "callback secret unavailable");
            return reply(503, serde_json::json!({"error": "retry later"}));
        }
    };
    // The callback is a hint: whatever it says is checked with the provider the purchase
    // went to.
    let provider = &cb.providers;
    let mut result = vtu::handle_callback(&cb.store, provider, &secret, body, signature).await;
    if matches!(result, Err(CallbackError::BadSignature)) {
        // The provider may have rotated its secret since this container read it: read it
        // again (at most every few seconds) and check once more.
        if let Ok(fresh) = cb.providers.topup.refreshed_webhook_secret().await {
            if fresh != secret {
                result = vtu::handle_callback(&cb.store, provider, &fresh, body, signature).await;
            }
        }
    }
    match result {
        Ok(r) => {
            let word = match r {
                CallbackResult::Applied => "applied",
                CallbackResult::AlreadySettled => "duplicate",
                CallbackResult::Awaiting => "awaiting",
                CallbackResult::Contradicted => "contradicted",
                CallbackResult::Reversed => "reversed",
                CallbackResult::Superseded => "superseded",
                CallbackResult::Unknown => "unknown",
                CallbackResult::OtherProvider => "other_provider",
            };
            tracing::info!(result = word, "topup callback");
            reply(200, serde_json::json!({"status": word}))
        }
        Err(CallbackError::BadSignature) => {
            tracing::warn!("topup callback with an invalid signature refused");
            reply(401, serde_json::json!({"error": "Invalid signature"}))
        }
        Err(CallbackError::Malformed(m)) => {
            tracing::warn!(error = %m, "malformed topup callback refused");
            reply(400, serde_json::json!({"error": "malformed callback"}))
        }
        Err(CallbackError::Unconfirmed) => {
            tracing::warn!("failure callback not confirmed by a requery yet; the provider should retry");
            reply(503, serde_json::json!({"error": "retry later"}))
        }
        Err(CallbackError::Store(e)) => {
            tracing::error!(error = %e, "topup callback could not be applied; the provider should retry");
            reply(503, serde_json::json!({"error": "retry later"}))
        }
    }
}

/// VTpass's answer that makes it stop sending a callback (`{"response":"success"}`), and
/// the one that makes it send it again.
fn vtpass_reply(done: bool) -> Response<Body> {
    let mut r = Response::new(Body::Text(if done {
        kobo_shared::upstream::vtu::vtpass::CALLBACK_ACK.to_string()
    } else {
        serde_json::json!({"response": "retry"}).to_string()
    }));
    *r.status_mut() =
        if done { lambda_http::http::StatusCode::OK } else { lambda_http::http::StatusCode::SERVICE_UNAVAILABLE };
    r.headers_mut().insert(CONTENT_TYPE, lambda_http::http::HeaderValue::from_static("application/json"));
    r
}

/// VTpass's `transaction-update` callback (`POST /callbacks/vtpass/<secret>`). It is
/// unsigned, so its URL carries a secret of kobo's (checked in constant time first), and
/// its body is only a hint: the purchase its `requestId` names is requeried at VTpass,
/// and only that answer settles it. A body kobo can never use is acknowledged (logged) so
/// VTpass stops sending it; an answer kobo could not get yet asks VTpass to send it again.
async fn vtpass(cb: &Callbacks, secret: &str, body: &[u8]) -> Response<Body> {
    use kobo_shared::domain::callback::vtpass_secret_check;
    use kobo_shared::upstream::vtu::vtpass::{parse_callback, CallbackHint};
    let ring = match cb.keys.callback_key.get().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "callback key unavailable");
            return vtpass_reply(false);
        }
    };
    let mut check = vtpass_secret_check(&ring, secret);
    if check == KeyCheck::UnknownKey {
        if let Ok(fresh) = cb.keys.callback_key.refresh().await {
            check = vtpass_secret_check(&fresh, secret);
        }
    }
    if check != KeyCheck::Match {
        tracing::warn!("VTpass callback with a bad URL secret refused");
        return reply(401, serde_json::json!({"error": "unauthorized"}));
    }
    let request_id = match parse_callback(body) {
        Ok(CallbackHint::Transaction { request_id, .. }) => request_id,
        Ok(CallbackHint::Other(kind)) => {
            tracing::info!(kind = %kind, "VTpass callback of another type; acknowledged");
            return vtpass_reply(true);
        }
        Err(why) => {
            tracing::warn!(why = %why, "VTpass callback kobo cannot use; acknowledged, nothing changed");
            return vtpass_reply(true);
        }
    };
    let trx = request_id.get(12..).unwrap_or_default();
    let found = match cb.store.vtu_account_of(trx).await {
        Ok(Some(account)) => cb.store.get_vtu(&account, trx).await,
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    let tx = match found {
        Ok(Some(tx)) => tx,
        Ok(None) => {
            tracing::warn!(request_id = %request_id, "VTpass callback for a purchase kobo does not have; acknowledged");
            return vtpass_reply(true);
        }
        Err(e) => {
            tracing::error!(error = %e, "VTpass callback: the store failed; VTpass should send it again");
            return vtpass_reply(false);
        }
    };
    if vtu::provider_of(&tx) != ("vtpass".to_string(), request_id.clone()) {
        tracing::warn!(trx = %tx.trx, "VTpass callback for a purchase that went elsewhere (or under another id); acknowledged, nothing changed");
        return vtpass_reply(true);
    }
    match vtu::handle_hint(&cb.store, &cb.providers, &tx).await {
        Ok(r) => {
            tracing::info!(trx = %tx.trx, result = ?r, "VTpass callback");
            vtpass_reply(true)
        }
        Err(e) => {
            tracing::warn!(trx = %tx.trx, error = %e, "VTpass callback not confirmed yet; VTpass should send it again");
            vtpass_reply(false)
        }
    }
}

/// The common front of Hubtel's callbacks, whose URL is the credential:
/// `<account>/<id>/<secret>` with the secret checked (constant time) before any lookup,
/// so unknown and forged answer alike (401), then a JSON body. One lookup follows a
/// deposit secret that fails: the deposit is read to tell a forgery from Hubtel's own
/// callback reporting another amount (which an operator must hear of); both answer 401.
/// Deposit ids are random UUIDs, so the read tells a guesser nothing it can use. The
/// refusal is the reply.
async fn verified(
    cb: &Callbacks,
    kind: HubtelCallback,
    rest: &str,
    body: &[u8],
) -> Result<(String, String, serde_json::Value), Response<Body>> {
    let parts: Vec<&str> = rest.split('/').collect();
    let [account, id, secret] = parts.as_slice() else {
        return Err(reply(404, serde_json::json!({"error": "unknown callback"})));
    };
    let ring = match cb.keys.callback_key.get().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "callback key unavailable");
            return Err(reply(503, serde_json::json!({"error": "retry later"})));
        }
    };
    let payload = serde_json::from_slice::<serde_json::Value>(body).ok();
    // A deposit's URL is bound to its amount: the body's amount must be the one the URL
    // was made for (a missing or malformed body fails here like a forged one).
    let amount = match kind {
        HubtelCallback::Payment => payload.as_ref().and_then(|p| hubtel_amount(&p["data"]["amount"])),
        HubtelCallback::Withdrawal => None,
    };
    let bound_ok = kind == HubtelCallback::Withdrawal || amount.is_some();
    let mut check = kind.check(&ring, account, id, amount, secret);
    if check == KeyCheck::UnknownKey {
        // Made under a key newer than this container's ring: read the ring again, once.
        if let Ok(fresh) = cb.keys.callback_key.refresh().await {
            check = kind.check(&fresh, account, id, amount, secret);
        }
    }
    if !kobo_shared::domain::apikey::is_account_id(account) || !bound_ok || check != KeyCheck::Match {
        if kind == HubtelCallback::Payment && kobo_shared::domain::apikey::is_account_id(account) {
            if let Some(p) = &payload {
                another_amount(cb, &ring, account, id, secret, p).await?;
            }
        }
        tracing::warn!(callback = kind.kind(), "hubtel callback with a bad URL secret (or another amount) refused");
        return Err(reply(401, serde_json::json!({"error": "unauthorized"})));
    }
    let Some(payload) = payload else {
        return Err(reply(400, serde_json::json!({"error": "malformed callback"})));
    };
    Ok((account.to_string(), id.to_string(), payload))
}

/// A deposit callback whose URL secret does not match the amount its body reports: when
/// the URL is the deposit's own (it matches the deposit's stored amount), Hubtel sent
/// the deposit's real callback with an amount kobo did not ask for (a string it could
/// not read, fees added): refused as before, and put before an operator. A forged URL
/// matches nothing and raises nothing.
async fn another_amount(
    cb: &Callbacks,
    ring: &kobo_shared::platform::secrets::KeyRing,
    account: &str,
    id: &str,
    secret: &str,
    payload: &serde_json::Value,
) -> Result<(), Response<Body>> {
    let d = match cb.store.get_deposit(account, id).await {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "deposit not readable; Hubtel should retry");
            return Err(reply(503, serde_json::json!({"error": "retry later"})));
        }
    };
    if HubtelCallback::Payment.check(ring, account, id, Some(d.amount), secret) != KeyCheck::Match {
        return Ok(());
    }
    let raw = &payload["data"]["amount"];
    let read = hubtel_amount(raw).map(|a| a.to_string()).unwrap_or_else(|| "nothing".into());
    let what = format!("amount {raw} (read as {read}), not the deposit's {}", d.amount);
    if let Err(e) = deposits::alert_not_credited(&cb.store, &d, &what).await {
        tracing::error!(error = %e, "alert not raised; Hubtel should retry");
        return Err(reply(503, serde_json::json!({"error": "retry later"})));
    }
    Ok(())
}

/// What a Hubtel callback did: the word answered, and the SMS notice it earns (account,
/// text) when money moved.
struct Settled {
    word: &'static str,
    notice: Option<(String, String)>,
}

impl Settled {
    fn quiet(word: &'static str) -> Settled {
        Settled { word, notice: None }
    }
}

/// One of Hubtel's callbacks: verified, applied once, acknowledged; a store failure is a
/// 503 so Hubtel sends it again.
async fn hubtel(cb: &Callbacks, kind: HubtelCallback, rest: &str, body: &[u8]) -> Response<Body> {
    let (account, id, payload) = match verified(cb, kind, rest, body).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let settled = match kind {
        HubtelCallback::Payment => payment(cb, &account, &id, &payload).await,
        HubtelCallback::Withdrawal => withdrawal(cb, &account, &id, &payload).await,
    };
    match settled {
        Ok(s) => {
            tracing::info!(callback = kind.kind(), id = %id, result = s.word, "hubtel callback");
            if let Some((account, text)) = s.notice {
                if let Err(e) = kobo_shared::flows::sms::notify(&cb.store, &account, text).await {
                    tracing::warn!(error = %e, "notice not queued");
                }
            }
            // A callback the URL allowed but the deposit refutes is refused like a forged one.
            let status = if s.word == "refused" { 401 } else { 200 };
            reply(status, serde_json::json!({"status": s.word}))
        }
        Err(e) => {
            tracing::error!(callback = kind.kind(), error = %e, "hubtel callback could not be applied; Hubtel should retry");
            reply(503, serde_json::json!({"error": "retry later"}))
        }
    }
}

/// Hubtel's payment callback for a deposit.
async fn payment(cb: &Callbacks, account: &str, id: &str, payload: &serde_json::Value) -> Result<Settled, StoreError> {
    let Some(d) = cb.store.get_deposit(account, id).await? else {
        tracing::warn!(deposit = %id, "payment callback for an unknown deposit; nothing changed");
        return Ok(Settled::quiet("unknown"));
    };
    // The URL proves the account, deposit and amount; the paylink must be the one Hubtel
    // created for this deposit.
    // (A deposit whose paylink answer was lost has none stored: the URL alone binds it.)
    let paylink = payload["data"]["paylinkId"].as_str().unwrap_or_default();
    if d.paylink_id.as_deref().is_some_and(|stored| stored != paylink) {
        tracing::warn!(deposit = %d.id, "payment callback for another paylink refused; nothing changed");
        // Refused, but not forgotten: a URL that holds the deposit's secret and amount may
        // be Hubtel reporting a second paylink of it (one whose answer was lost) that a
        // customer paid. An operator confirms on Hubtel and credits it by hand.
        let status = payload["data"]["status"].as_str().unwrap_or_default();
        if deposits::is_paid_status(status) {
            let what = format!(
                "a payment on paylink {paylink:?}, not on its paylink {:?}",
                d.paylink_id.as_deref().unwrap_or_default()
            );
            deposits::alert_not_credited(&cb.store, &d, &what).await?;
        }
        return Ok(Settled::quiet("refused"));
    }
    Ok(match apply_payment(&cb.store, &d, payload).await? {
        PaymentResult::Credited => Settled {
            word: "credited",
            notice: Some((
                d.account_id.clone(),
                format!("kobo: your wallet was credited with NGN {}. Ref {}", d.amount, d.id),
            )),
        },
        PaymentResult::Duplicate => Settled::quiet("duplicate"),
        PaymentResult::Ignored(why) => {
            tracing::warn!(deposit = %d.id, reason = %why, "payment callback ignored");
            Settled::quiet("ignored")
        }
    })
}

/// Hubtel's send-money callback for a withdrawal.
async fn withdrawal(
    cb: &Callbacks,
    account: &str,
    id: &str,
    payload: &serde_json::Value,
) -> Result<Settled, StoreError> {
    let Some(w) = cb.store.get_withdrawal(account, id).await? else {
        return Ok(Settled::quiet("unknown"));
    };
    let word = apply_callback(&cb.store, &w, payload).await?;
    let notice = (word == "paid").then(|| {
        (w.account_id.clone(), format!("kobo: your withdrawal of NGN {} has been paid. Ref {}", w.amount, w.id))
    });
    Ok(Settled { word, notice })
}
