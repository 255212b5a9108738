//! The Developer Portal Lambda: server-rendered pages at `/` and `/portal/...` where a
//! reseller signs up, verifies a phone, requests API access, manages keys and webhooks,
//! sees refused requests, history and funding. Every page is parse → authorize (session,
//! CSRF, Origin) → a flow from `kobo_shared` (or the API's own action) → render (maud).
#![warn(missing_docs)]

pub mod auth;
pub mod pages;
pub mod views;
pub mod web;

use kobo_shared::domain::time::Clock;
use kobo_shared::flows::webhooks::deliver::{Queue, Sender};
use kobo_shared::platform::ssrf::TargetPolicy;
use kobo_shared::StoreError;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use crate::web::{Page, Req};

/// Per-container state: the API's app (store, config, key rings, providers), the webhook
/// queue and sender, the clock.
#[derive(Debug)]
pub struct App {
    /// The API's own state: the portal calls the same flows and actions.
    pub api: kobo_api::App,
    /// The webhook queue (redeliveries).
    pub queue: Queue,
    /// Sends test deliveries.
    pub sender: Sender,
    /// Which webhook targets are allowed.
    pub policy: TargetPolicy,
    /// Now (tests fix it).
    pub clock: Clock,
    /// `__Host-` cookie with `Secure` (false only for the local stack on plain http).
    pub secure_cookies: bool,
}

impl App {
    /// Builds the app from clients made by the caller.
    pub fn new(
        api: kobo_api::App,
        sqs: aws_sdk_sqs::Client,
        policy: TargetPolicy,
    ) -> Result<App, kobo_shared::platform::config::ConfigError> {
        let queue = Queue::new(sqs, api.config.webhook_queue_url.clone());
        let sender = Sender::new(policy).map_err(kobo_shared::platform::config::ConfigError::new)?;
        let secure_cookies = !api.config.public_url.starts_with("http://");
        Ok(App { api, queue, sender, policy, clock: Clock::system(), secure_cookies })
    }

    /// Builds the app from the environment, as the Lambda does at init.
    pub async fn from_env() -> Result<App, kobo_shared::platform::config::ConfigError> {
        let c = kobo_shared::platform::aws::Container::init().await?;
        let api = kobo_api::App::new(c.config, c.dynamodb, c.secrets);
        App::new(api, c.sqs, TargetPolicy::PRODUCTION)
    }

    /// The table.
    pub fn store(&self) -> &kobo_shared::Store {
        &self.api.store
    }

    /// Now, unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now_unix()
    }
}

/// Why a page could not be served.
#[derive(Debug)]
pub enum PortalError {
    /// Nothing here, or another account's (answered alike).
    NotFound,
    /// A state-changing request without the session's CSRF token or from another origin.
    Forbidden,
    /// Too many attempts; retry after the seconds given.
    RateLimited(u64),
    /// A dependency is down; nothing was changed.
    Unavailable,
    /// A write's outcome is unknown (it may have applied): the page says to look before
    /// trying again.
    Uncertain,
}

impl From<StoreError> for PortalError {
    fn from(e: StoreError) -> PortalError {
        tracing::warn!(error = %e, "portal store error");
        match e {
            StoreError::Unknown(_) => PortalError::Uncertain,
            _ => PortalError::Unavailable,
        }
    }
}

/// Handles one request. Never fails: every error is a page with its status.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let r = Req::parse(&req);
    let page = match &r {
        Some(r) => route(app, r).await,
        None => Ok(Page::bad_request()),
    };
    let response = match page {
        Ok(p) => p,
        Err(e) => Page::error(&e),
    };
    let response = response.into_response(app.secure_cookies);
    tracing::info!(
        method = %req.method(),
        path = req.uri().path(),
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "portal request"
    );
    response
}

async fn route(app: &App, r: &Req) -> Result<Page, PortalError> {
    let path = r.path.trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let get = r.method == Method::GET || r.method == Method::HEAD;
    let post = r.method == Method::POST;
    if post {
        web::check_origin(r)?;
    }
    match segs.as_slice() {
        [] if get => Ok(Page::redirect("/portal")),
        ["portal", "static", name] if get => Ok(views::asset(name)),
        ["portal", "signup"] if get => Ok(auth::signup_form(app, r).await),
        ["portal", "signup"] if post => auth::signup(app, r).await,
        ["portal", "signin"] if get => Ok(auth::signin_form(app, r).await),
        ["portal", "signin"] if post => auth::signin(app, r).await,
        ["portal", "reset"] if get => Ok(auth::reset_form(r, None, None)),
        ["portal", "reset"] if post => auth::reset_send(app, r).await,
        ["portal", "reset", "confirm"] if post => auth::reset_confirm(app, r).await,
        ["portal", rest @ ..] => {
            let Some(ctx) = auth::session(app, r).await? else {
                return Ok(Page::redirect("/portal/signin?expired=1").clear_session());
            };
            if post {
                web::check_csrf(r, &ctx.session)?;
            }
            match (rest, get) {
                (["signout"], false) => auth::signout(app, &ctx).await,
                (["signout-all"], false) => auth::signout_all(app, &ctx).await,
                (["verify"], true) => Ok(auth::verify_form(app, &ctx, r, None).await),
                (["verify"], false) => auth::verify(app, &ctx, r).await,
                (["verify", "send"], false) => auth::verify_send(app, &ctx).await,
                _ if !ctx.verified() => Ok(Page::redirect("/portal/verify")),
                ([], true) => pages::dashboard(app, &ctx, r).await,
                (["access"], true) => pages::access(app, &ctx, r, None).await,
                (["access"], false) => pages::access_request(app, &ctx, r).await,
                (["keys"], true) => pages::keys(app, &ctx, r, None).await,
                (["keys"], false) => pages::key_create(app, &ctx, r).await,
                (["keys", id], true) => pages::key_edit_form(app, &ctx, id, None).await,
                (["keys", id], false) => pages::key_update(app, &ctx, r, id).await,
                (["keys", id, "revoke"], false) => pages::key_revoke(app, &ctx, r, id).await,
                (["keys", id, "roll"], false) => pages::key_roll(app, &ctx, r, id).await,
                (["webhooks"], true) => pages::webhooks(app, &ctx, r, None).await,
                (["webhooks"], false) => pages::webhook_create(app, &ctx, r).await,
                (["webhooks", id], true) => pages::webhook(app, &ctx, r, id, None).await,
                (["webhooks", id, "rotate"], false) => pages::webhook_rotate(app, &ctx, r, id).await,
                (["webhooks", id, "enable"], false) => pages::webhook_active(app, &ctx, id, true).await,
                (["webhooks", id, "disable"], false) => pages::webhook_active(app, &ctx, id, false).await,
                (["webhooks", id, "test"], false) => pages::webhook_test(app, &ctx, r, id).await,
                (["webhooks", id, "redeliver"], false) => pages::webhook_redeliver(app, &ctx, r, id).await,
                (["refused"], true) => pages::refused(app, &ctx, r).await,
                (["refused", "whitelist"], false) => pages::refused_whitelist(app, &ctx, r).await,
                (["history"], true) => pages::history(app, &ctx, r).await,
                (["funding"], true) => pages::funding(app, &ctx, r, None).await,
                (["funding", "deposit"], false) => pages::deposit(app, &ctx, r).await,
                (["funding", "otp"], false) => pages::withdraw_otp(app, &ctx, r).await,
                (["funding", "withdraw"], false) => pages::withdraw(app, &ctx, r).await,
                (["funding", "pin"], false) => pages::set_pin(app, &ctx, r).await,
                _ => Err(PortalError::NotFound),
            }
        }
        _ => Err(PortalError::NotFound),
    }
}
