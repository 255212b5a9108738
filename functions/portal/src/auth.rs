//! Accounts and sessions: sign-up with phone verification by Hubtel OTP, sign-in with
//! argon2id, password reset by OTP, sign-out (here or everywhere), and the session every
//! other page runs in.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use kobo_shared::db::keys::RateSubject;
use kobo_shared::db::portal::{Login, PortalOtp};
use kobo_shared::domain::account::Account;
use kobo_shared::domain::apikey;
use kobo_shared::domain::phone::{mask_phone, NigerianPhone};
use kobo_shared::domain::portal::{
    check_name, check_password, Email, OtpPurpose, Session, PORTAL_OTP_SECS, PORTAL_OTP_TRIES,
};
use kobo_shared::domain::ratelimit;
use kobo_shared::upstream::HubtelApi;
use maud::html;
use rand::distr::{Alphanumeric, SampleString};

use crate::views::{bare, done_text, layout, notice};
use crate::web::{Page, Req};
use crate::{App, PortalError};

/// The plan a new account starts on (API access is off until a plan is approved).
pub const NO_PLAN: &str = "none";

/// A signed-in request's context.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The account, read with the session.
    pub account: Account,
    /// The session.
    pub session: Session,
}

impl Ctx {
    /// Whether the sign-up phone is verified (it is then the payout phone).
    pub fn verified(&self) -> bool {
        self.account.payout_phone.is_some()
    }
}

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes), off the
/// async threads.
pub async fn hash_password(password: String) -> Result<String, PortalError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())?;
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(|_| PortalError::Unavailable)?
    .map_err(|_| PortalError::Unavailable)
}

/// Whether `password` matches the PHC string `hash`.
pub async fn password_ok(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || match PasswordHash::new(&hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    })
    .await
    .unwrap_or(false)
}

/// A hash no password matches, checked when the email is unknown so that an unknown
/// email takes as long as a wrong password.
async fn decoy_hash() -> String {
    static DECOY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DECOY.get() {
        return h.clone();
    }
    let random = Alphanumeric.sample_string(&mut rand::rng(), 24);
    let h = hash_password(random).await.unwrap_or_default();
    DECOY.get_or_init(|| h).clone()
}

/// Counts one attempt of `kind` by `who`; over `limit` this minute → 429.
async fn limit(app: &App, kind: &str, who: &str, limit: u64) -> Result<(), PortalError> {
    let window = ratelimit::window(app.now());
    let hits = app.store().hit_rate(RateSubject::Portal(kind, who), &window, Some(limit + 1)).await?;
    if hits > limit {
        return Err(PortalError::RateLimited(window.retry_after));
    }
    Ok(())
}

/// Counts a PIN change attempt of an account (its password is checked each time).
pub async fn limit_pin(app: &App, account_id: &str) -> Result<(), PortalError> {
    limit(app, "pin-account", account_id, limits::PIN_ACCOUNT).await
}

/// Whether `password` is the password of the login `email`.
pub async fn password_matches(app: &App, email: &str, password: &str) -> Result<bool, PortalError> {
    let Ok(email) = Email::parse(email) else { return Ok(false) };
    let Some(login) = app.store().get_login(email.as_str()).await? else { return Ok(false) };
    Ok(password_ok(password.to_string(), login.password_hash).await)
}

/// Per-IP and per-account (or email) limits, per minute.
pub mod limits {
    /// Sign-in attempts from one IP.
    pub const SIGNIN_IP: u64 = 30;
    /// Sign-in attempts on one email.
    pub const SIGNIN_EMAIL: u64 = 5;
    /// Sign-ups from one IP.
    pub const SIGNUP_IP: u64 = 20;
    /// OTPs sent from one IP.
    pub const OTP_IP: u64 = 20;
    /// OTPs sent to one account.
    pub const OTP_ACCOUNT: u64 = 3;
    /// Codes checked for one account.
    pub const CODE_ACCOUNT: u64 = 6;
    /// Password checks before a PIN change, per account.
    pub const PIN_ACCOUNT: u64 = 5;
}

/// Starts a session for `account_id`: a fresh random token (its hash stored, never the
/// token), a fresh CSRF token. The cookie value names the account and the token.
async fn start_session(app: &App, account_id: &str) -> Result<String, PortalError> {
    let token = Alphanumeric.sample_string(&mut rand::rng(), 43);
    let now = app.now();
    let session = Session {
        account_id: account_id.to_string(),
        token_hash: kobo_shared::platform::crypto::sha256_hex(token.as_bytes()),
        csrf: Alphanumeric.sample_string(&mut rand::rng(), 32),
        created_at: now,
        last_seen: now,
    };
    app.store().put_session(&session).await?;
    Ok(format!("{account_id}.{token}"))
}

/// The session a request's cookie names, with its account, when it still holds. An
/// expired one is removed.
pub async fn session(app: &App, r: &Req) -> Result<Option<Ctx>, PortalError> {
    let Some(cookie) = &r.cookie else { return Ok(None) };
    let Some((account_id, token)) = cookie.split_once('.') else { return Ok(None) };
    if !apikey::is_account_id(account_id) || token.len() != 43 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let hash = kobo_shared::platform::crypto::sha256_hex(token.as_bytes());
    let (session, account) = app.store().session_wave(account_id, &hash).await?;
    let (Some(session), Some(account)) = (session, account) else { return Ok(None) };
    let now = app.now();
    if !session.live_at(now) {
        app.store().delete_session(account_id, &hash).await?;
        return Ok(None);
    }
    if let Err(e) = app.store().touch_session(&session, now).await {
        tracing::warn!(error = %e, "session last_seen not written");
    }
    Ok(Some(Ctx { account, session }))
}

/// `GET /portal/signup`.
pub async fn signup_form(_app: &App, _r: &Req) -> Page {
    signup_page(200, None, &[("name", ""), ("email", ""), ("phone", "")])
}

fn signup_page(status: u16, error: Option<&str>, values: &[(&str, &str)]) -> Page {
    let v = |n: &str| values.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string()).unwrap_or_default();
    Page::html(
        status,
        bare(
            "Create your account",
            html! {
                (notice(error, false))
                form.stack method="post" action="/portal/signup" {
                    label for="name" { "Business or your name" }
                    input id="name" type="text" name="name" value=(v("name")) required autocomplete="organization";
                    label for="email" { "Email" }
                    input id="email" type="email" name="email" value=(v("email")) required autocomplete="email";
                    label for="phone" { "Nigerian mobile number (we text a code to verify it; it becomes your payout phone)" }
                    input id="phone" type="tel" name="phone" value=(v("phone")) required autocomplete="tel";
                    label for="password" { "Password (at least 10 characters, letters with digits or symbols)" }
                    input id="password" type="password" name="password" required autocomplete="new-password";
                    button type="submit" { "Create account" }
                }
                p { "Have an account? " a href="/portal/signin" { "Sign in" } }
            },
        ),
    )
}

/// `POST /portal/signup`: creates the account (API access off) and its login in one
/// transaction, signs in, and texts a code to the phone.
pub async fn signup(app: &App, r: &Req) -> Result<Page, PortalError> {
    let values = [("name", r.field("name")), ("email", r.field("email")), ("phone", r.field("phone"))];
    let bad = |m: &str| Ok(signup_page(422, Some(m), &values));
    let name = match check_name(r.field("name")) {
        Ok(n) => n,
        Err(m) => return bad(&format!("Name {m}.")),
    };
    let email = match Email::parse(r.field("email")) {
        Ok(e) => e,
        Err(m) => return bad(&format!("Email {m}.")),
    };
    let Some(phone) = NigerianPhone::parse(r.field("phone")) else {
        return bad("Phone must be a Nigerian mobile number, such as 08031234567.");
    };
    let password = r.form.get("password").unwrap_or("");
    if let Err(m) = check_password(password) {
        return bad(&format!("Password {m}."));
    }
    limit(app, "signup-ip", &r.ip, limits::SIGNUP_IP).await?;
    let account = kobo_shared::flows::accounts::NewAccount {
        name,
        plan_id: NO_PLAN.into(),
        email: Some(email.as_str().to_string()),
        phone: Some(phone.e164()),
        api_active: false,
        id: None,
    }
    .record();
    let login = Login {
        email: email.as_str().to_string(),
        account_id: account.id.clone(),
        password_hash: hash_password(password.to_string()).await?,
    };
    if !app.store().create_login(&login, &account).await? {
        return bad("An account with this email exists. Sign in, or reset its password.");
    }
    tracing::info!(account_id = %account.id, "portal sign-up");
    let cookie = start_session(app, &account.id).await?;
    // A code now when Hubtel can; otherwise the verify page sends one.
    if let Err(e) = send_otp(app, &account.id, &phone.e164(), OtpPurpose::VerifyPhone).await {
        tracing::warn!(?e, "verification code not sent at sign-up");
    }
    Ok(Page::redirect("/portal/verify").set_session(cookie))
}

/// Texts a code for `purpose` to `phone` through Hubtel (within the account's share of
/// Hubtel's rate) and stores its session.
async fn send_otp(app: &App, account_id: &str, phone: &str, purpose: OtpPurpose) -> Result<(), PortalError> {
    limit(app, "otp-account", account_id, limits::OTP_ACCOUNT).await?;
    let hubtel = app.api.providers.hubtel.get().await.map_err(|e| {
        tracing::warn!(error = %e, "Hubtel unavailable");
        PortalError::Unavailable
    })?;
    if !app.api.providers.hubtel_throttle.acquire_for(account_id, std::time::Duration::from_secs(5)).await? {
        return Err(PortalError::RateLimited(60));
    }
    let session = hubtel.otp_send("kobo", phone, "NG").await.map_err(|e| {
        tracing::warn!(error = %e, "Hubtel OTP not sent");
        PortalError::Unavailable
    })?;
    let otp = PortalOtp {
        account_id: account_id.to_string(),
        purpose,
        phone: phone.to_string(),
        session,
        expires_at: app.now() + PORTAL_OTP_SECS,
        tries: 0,
    };
    app.store().put_portal_otp(&otp).await?;
    Ok(())
}

/// Checks a code against the account's OTP for `purpose`: one try taken first (at most
/// [`PORTAL_OTP_TRIES`] per code), then Hubtel asked. `Ok(false)`: wrong, expired or used up.
async fn check_code(app: &App, account_id: &str, purpose: OtpPurpose, code: &str) -> Result<bool, PortalError> {
    limit(app, "code-account", account_id, limits::CODE_ACCOUNT).await?;
    let Some(otp) = app.store().get_portal_otp(account_id, purpose).await? else { return Ok(false) };
    if otp.expires_at < app.now() || code.is_empty() || code.len() > 12 {
        return Ok(false);
    }
    if !app.store().take_portal_otp_try(account_id, purpose, PORTAL_OTP_TRIES).await? {
        return Ok(false);
    }
    let hubtel = app.api.providers.hubtel.get().await.map_err(|_| PortalError::Unavailable)?;
    if !app.api.providers.hubtel_throttle.acquire_for(account_id, std::time::Duration::from_secs(8)).await? {
        return Err(PortalError::RateLimited(5));
    }
    let ok = hubtel.otp_verify(&otp.session, code).await.map_err(|e| {
        tracing::warn!(error = %e, "Hubtel OTP check failed");
        PortalError::Unavailable
    })?;
    if ok {
        app.store().delete_portal_otp(account_id, purpose).await?;
    }
    Ok(ok)
}

/// `GET /portal/verify`.
pub async fn verify_form(app: &App, ctx: &Ctx, _r: &Req, error: Option<&str>) -> Page {
    if ctx.verified() {
        return Page::redirect("/portal");
    }
    let otp = app.store().get_portal_otp(&ctx.account.id, OtpPurpose::VerifyPhone).await.ok().flatten();
    let phone = ctx.account.phone.as_deref().map(mask_phone).unwrap_or_default();
    let prefix = otp.as_ref().map(|o| o.session.prefix.clone());
    Page::html(
        if error.is_some() { 422 } else { 200 },
        layout(
            ctx,
            "Verify your phone",
            html! {
                (notice(error, false))
                p { "We sent a code by SMS to " strong { (phone) } "." }
                @if let Some(p) = prefix { p { "The code starts with " strong id="otp-prefix" { (p) } "." } }
                form.stack method="post" action="/portal/verify" {
                    (crate::views::csrf(ctx))
                    label for="code" { "Code" }
                    input id="code" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required;
                    button type="submit" { "Verify" }
                }
                form method="post" action="/portal/verify/send" {
                    (crate::views::csrf(ctx))
                    button.secondary type="submit" { "Send a new code" }
                }
            },
        ),
    )
}

/// `POST /portal/verify`.
pub async fn verify(app: &App, ctx: &Ctx, r: &Req) -> Result<Page, PortalError> {
    let Some(phone) = ctx.account.phone.clone() else {
        return Ok(verify_form(app, ctx, r, Some("This account has no phone; contact support.")).await);
    };
    if !check_code(app, &ctx.account.id, OtpPurpose::VerifyPhone, r.field("code")).await? {
        return Ok(verify_form(app, ctx, r, Some("That code is wrong or expired. Try again or send a new code.")).await);
    }
    app.store().set_verified_phone(&ctx.account.id, &phone).await?;
    Ok(Page::redirect("/portal?done=verified"))
}

/// `POST /portal/verify/send`.
pub async fn verify_send(app: &App, ctx: &Ctx) -> Result<Page, PortalError> {
    let Some(phone) = ctx.account.phone.clone() else { return Err(PortalError::NotFound) };
    send_otp(app, &ctx.account.id, &phone, OtpPurpose::VerifyPhone).await?;
    Ok(Page::redirect("/portal/verify"))
}

/// `GET /portal/signin`.
pub async fn signin_form(_app: &App, r: &Req) -> Page {
    let info = if r.q("expired") == "1" { Some("Your session ended. Sign in again.") } else { done_text(r.q("done")) };
    signin_page(200, info, None, "")
}

fn signin_page(status: u16, info: Option<&str>, error: Option<&str>, email: &str) -> Page {
    Page::html(
        status,
        bare(
            "Sign in",
            html! {
                (notice(info, true))
                (notice(error, false))
                form.stack method="post" action="/portal/signin" {
                    label for="email" { "Email" }
                    input id="email" type="email" name="email" value=(email) required autocomplete="username";
                    label for="password" { "Password" }
                    input id="password" type="password" name="password" required autocomplete="current-password";
                    button type="submit" { "Sign in" }
                }
                p { a href="/portal/signup" { "Create an account" } " · " a href="/portal/reset" { "Forgot your password?" } }
            },
        ),
    )
}

/// `POST /portal/signin`: limited per IP and per email; a new session every time.
pub async fn signin(app: &App, r: &Req) -> Result<Page, PortalError> {
    let email_raw = r.field("email");
    let Ok(email) = Email::parse(email_raw) else {
        return Ok(signin_page(422, None, Some("Enter the email you signed up with."), email_raw));
    };
    limit(app, "signin-ip", &r.ip, limits::SIGNIN_IP).await?;
    limit(app, "signin-email", email.as_str(), limits::SIGNIN_EMAIL).await?;
    let password = r.form.get("password").unwrap_or("").to_string();
    let login = app.store().get_login(email.as_str()).await?;
    let hash = match &login {
        Some(l) => l.password_hash.clone(),
        None => decoy_hash().await,
    };
    let ok = password_ok(password, hash).await;
    let Some(login) = login.filter(|_| ok) else {
        return Ok(signin_page(401, None, Some("Wrong email or password."), email.as_str()));
    };
    // A session cookie brought to sign-in is ended: sign-in always starts a new one.
    if let Some(old) = session(app, r).await? {
        app.store().delete_session(&old.account.id, &old.session.token_hash).await?;
    }
    let cookie = start_session(app, &login.account_id).await?;
    Ok(Page::redirect("/portal").set_session(cookie))
}

/// `POST /portal/signout`.
pub async fn signout(app: &App, ctx: &Ctx) -> Result<Page, PortalError> {
    app.store().delete_session(&ctx.account.id, &ctx.session.token_hash).await?;
    Ok(Page::redirect("/portal/signin?done=signedout").clear_session())
}

/// `POST /portal/signout-all`: every session of the account ends.
pub async fn signout_all(app: &App, ctx: &Ctx) -> Result<Page, PortalError> {
    app.store().delete_sessions(&ctx.account.id).await?;
    Ok(Page::redirect("/portal/signin?done=signedout").clear_session())
}

/// The password reset page: ask for the email, then the code and a new password.
pub fn reset_form(r: &Req, sent_to: Option<&str>, error: Option<&str>) -> Page {
    let email = r.field("email");
    Page::html(
        if error.is_some() { 422 } else { 200 },
        bare(
            "Reset your password",
            html! {
                (notice(error, false))
                @if sent_to.is_none() {
                    form.stack method="post" action="/portal/reset" {
                        label for="email" { "Email" }
                        input id="email" type="email" name="email" value=(email) required autocomplete="username";
                        button type="submit" { "Text me a code" }
                    }
                } @else {
                    p class="notice ok" role="status" { "If this email has an account with a verified phone, a code was sent to it." }
                    form.stack method="post" action="/portal/reset/confirm" {
                        input type="hidden" name="email" value=(email);
                        label for="code" { "Code" }
                        input id="code" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required;
                        label for="password" { "New password" }
                        input id="password" type="password" name="password" required autocomplete="new-password";
                        button type="submit" { "Change password" }
                    }
                }
            },
        ),
    )
}

/// `POST /portal/reset`: texts a code to the account's verified phone. The answer is the
/// same whether or not the email has an account.
pub async fn reset_send(app: &App, r: &Req) -> Result<Page, PortalError> {
    let Ok(email) = Email::parse(r.field("email")) else {
        return Ok(reset_form(r, None, Some("Enter the email you signed up with.")));
    };
    limit(app, "reset-ip", &r.ip, limits::OTP_IP).await?;
    if let Some(login) = app.store().get_login(email.as_str()).await? {
        if let Some(account) = app.store().get_account(&login.account_id).await? {
            if let Some(phone) = account.payout_phone {
                match send_otp(app, &account.id, &phone, OtpPurpose::ResetPassword).await {
                    Ok(()) | Err(PortalError::RateLimited(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(reset_form(r, Some(email.as_str()), None))
}

/// `POST /portal/reset/confirm`: a right code sets the new password and ends every session.
pub async fn reset_confirm(app: &App, r: &Req) -> Result<Page, PortalError> {
    let wrong = "That code is wrong or expired, or the email has no account.";
    let Ok(email) = Email::parse(r.field("email")) else { return Ok(reset_form(r, None, Some(wrong))) };
    let password = r.form.get("password").unwrap_or("");
    if let Err(m) = check_password(password) {
        return Ok(reset_form(r, Some(email.as_str()), Some(&format!("Password {m}."))));
    }
    let Some(login) = app.store().get_login(email.as_str()).await? else {
        return Ok(reset_form(r, Some(email.as_str()), Some(wrong)));
    };
    if !check_code(app, &login.account_id, OtpPurpose::ResetPassword, r.field("code")).await? {
        return Ok(reset_form(r, Some(email.as_str()), Some(wrong)));
    }
    let hash = hash_password(password.to_string()).await?;
    app.store().set_password_hash(email.as_str(), &hash).await?;
    app.store().delete_sessions(&login.account_id).await?;
    Ok(Page::redirect("/portal/signin?done=reset").clear_session())
}

/// Sets (or replaces) an account's portal login: the operator's and the demo's.
pub async fn set_login(
    store: &kobo_shared::Store,
    account_id: &str,
    email: &str,
    password: &str,
) -> Result<(), String> {
    let email = Email::parse(email).map_err(|m| format!("email {m}"))?;
    check_password(password).map_err(|m| format!("password {m}"))?;
    let hash = hash_password(password.to_string()).await.map_err(|_| "hashing failed".to_string())?;
    let login = Login { email: email.as_str().to_string(), account_id: account_id.to_string(), password_hash: hash };
    store.put_login(&login).await.map_err(|e| e.to_string())
}
