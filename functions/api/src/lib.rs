//! The reseller API Lambda (`POST /api/v1`): parse → authorize → run the action → render.
//! `main.rs` only wires [`App`] and [`handle`] to the Lambda runtime; tests and the local
//! stack call them directly.
#![warn(missing_docs)]

pub mod actions;
pub mod caches;
pub mod plans;
pub mod prefetch;
pub mod rates;
pub mod render;
pub mod request;

use std::time::Instant;

use kobo_shared::domain::auth;
use kobo_shared::domain::auth::AnonymousLimits;
use kobo_shared::domain::{apikey, ratelimit};
use kobo_shared::flows::providers::Providers;
use kobo_shared::platform::config::Config;
use kobo_shared::platform::secrets::KeyRings;
use kobo_shared::upstream::smm::SmmClient;
use kobo_shared::{ApiError, Store};
use lambda_http::{Body, Request, Response};

use crate::actions::Caller;
use crate::plans::PlanCache;
use crate::request::ApiRequest;

/// Per-container state: SDK clients, config, caches. Built once, outside the handler.
#[derive(Debug)]
pub struct App {
    /// The table.
    pub store: Store,
    /// Settings.
    pub config: Config,
    /// The key rings (PIN pepper, callback key, vault key), each fetched on first use.
    pub keys: KeyRings,
    /// Plans, cached.
    pub plans: PlanCache,
    /// The providers (SMM panel, VTU provider, Hubtel and its shared throttle), each
    /// connected on first use.
    pub providers: Providers,
    /// The VTU catalog, cached while its version holds.
    pub vtu_catalog: caches::Versioned<kobo_shared::domain::vtu::VtuCatalog>,
    /// The SMM services, cached while their version holds.
    pub smm_catalog: caches::Versioned<Vec<kobo_shared::domain::smm::Service>>,
    /// Keys authenticated here lately (their purchases reserve PIN attempts in the wave).
    pub known_keys: prefetch::KnownKeys,
    /// The clock of the rate windows (the system clock; tests fix it).
    pub clock: kobo_shared::domain::time::Clock,
    /// Subjects over their limit in the current window (their counters are not written).
    pub over_limit: rates::OverLimit,
}

impl App {
    /// Builds the app from clients made by the caller (tests pass instrumented ones).
    pub fn new(config: Config, dynamodb: aws_sdk_dynamodb::Client, secrets: aws_sdk_secretsmanager::Client) -> App {
        App {
            store: Store::new(dynamodb.clone(), config.table.clone()),
            keys: KeyRings::new(&secrets, &config),
            providers: Providers::new(&config, secrets, &Store::new(dynamodb.clone(), config.table.clone())),
            vtu_catalog: Default::default(),
            smm_catalog: Default::default(),
            known_keys: Default::default(),
            config,
            plans: PlanCache::default(),
            clock: kobo_shared::domain::time::Clock::system(),
            over_limit: rates::OverLimit::default(),
        }
    }

    /// The VTU catalog, as fresh as the version the request read.
    pub async fn vtu_catalog(
        &self,
        pre: &prefetch::Prefetched,
    ) -> Result<std::sync::Arc<kobo_shared::domain::vtu::VtuCatalog>, ApiError> {
        let version = pre.version(kobo_shared::db::catalog::Catalog::Vtu);
        Ok(self.vtu_catalog.get(version, || self.store.vtu_catalog()).await?)
    }

    /// The SMM services, as fresh as the version the request read.
    pub async fn smm_catalog(
        &self,
        pre: &prefetch::Prefetched,
    ) -> Result<std::sync::Arc<Vec<kobo_shared::domain::smm::Service>>, ApiError> {
        let version = pre.version(kobo_shared::db::catalog::Catalog::Smm);
        Ok(self.smm_catalog.get(version, || self.store.services()).await?)
    }

    /// The upstream SMM panel client, built on first use (its key comes from Secrets
    /// Manager). Unavailable (503) when it cannot be built.
    pub async fn smm(&self) -> Result<std::sync::Arc<SmmClient>, ApiError> {
        self.providers.smm.get().await.map_err(|e| {
            tracing::error!(error = %e, "SMM panel client unavailable");
            ApiError::Unavailable
        })
    }

    /// Builds the app from the environment, as the Lambda does at init.
    pub async fn from_env() -> Result<App, kobo_shared::platform::config::ConfigError> {
        let c = kobo_shared::platform::aws::Container::init().await?;
        Ok(App::new(c.config, c.dynamodb, c.secrets))
    }
}

/// Handles one request. Never fails: every error is rendered as JSON with its status.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = Instant::now();
    let mut log = RequestLog::default();
    let response = match request::parse(&req, app.config.max_body_bytes) {
        Ok(parsed) => match serve(app, &parsed, &mut log).await {
            Ok(r) => r,
            Err(e) => render::error(&e),
        },
        Err(e) => render::error(&e),
    };
    tracing::info!(
        action = log.action,
        account_id = log.account_id.as_deref().unwrap_or(""),
        key_id = log.key_id.as_deref().unwrap_or(""),
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "api request"
    );
    response
}

/// What one request log line says (never the key, PIN or phone).
#[derive(Debug, Default)]
struct RequestLog {
    action: &'static str,
    account_id: Option<String>,
    key_id: Option<String>,
}

async fn serve(app: &App, req: &ApiRequest, log: &mut RequestLog) -> Result<Response<Body>, ApiError> {
    let window = ratelimit::window(app.clock.now_unix());
    let ip = req.source_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into());
    let presented = req.key.as_deref().and_then(apikey::parse);
    let anonymous = AnonymousLimits { ip_rpm: app.config.anon_ip_rpm };
    let claimed: Option<kobo_shared::Action> = req.params.get("action").and_then(|a| a.parse().ok());
    let known = presented.as_ref().is_some_and(|p| app.known_keys.knows(&p.hash));
    let wanted = prefetch::Wanted::of(req, claimed, known);

    let (lookup, hits, pre) =
        rates::lookup_and_count(app, &ip, presented.as_ref(), &window, anonymous, &wanted).await?;
    let pre = std::sync::Arc::new(pre);
    let answer =
        authorized(app, req, log, &ip, presented.as_ref(), lookup, hits, &window, anonymous, pre.clone()).await;
    // An attempt reserved in the wave that no PIN check took goes back.
    if let (true, Some(p)) = (pre.unused_pin(), &presented) {
        if let Err(e) = app.store.pin_release(p.account_id).await {
            tracing::warn!(error = %e, "PIN attempt not released; it expires with the others");
        }
    }
    answer
}

#[allow(clippy::too_many_arguments)]
async fn authorized(
    app: &App,
    req: &ApiRequest,
    log: &mut RequestLog,
    ip: &str,
    presented: Option<&apikey::PresentedKey<'_>>,
    lookup: rates::Lookup,
    hits: auth::Hits,
    window: &ratelimit::Window,
    anonymous: AnonymousLimits,
    pre: std::sync::Arc<prefetch::Prefetched>,
) -> Result<Response<Body>, ApiError> {
    let authenticated = matches!(&lookup, (Some(_), Some(_)));
    let (account, key) = lookup;
    let plan = match &account {
        Some(a) if key.is_some() => {
            app.plans.get(&app.store, &a.plan_id, pre.version(kobo_shared::db::catalog::Catalog::Plans)).await?
        }
        _ => None,
    };
    let caller_ctx = auth::Caller { source_ip: req.source_ip, origin: req.origin.as_deref() };
    let action = auth::authorize(
        account.as_ref(),
        key.as_ref(),
        plan.as_ref(),
        req.params.get("action"),
        caller_ctx,
        hits,
        window,
        anonymous,
    );
    if let Some(k) = &key {
        log.key_id = Some(k.key_id.clone());
        log.account_id = Some(k.account_id.clone());
    }
    rates::remember_over(app, ip, presented, plan.as_ref(), authenticated, hits, window, anonymous);
    let action = match action {
        Ok(a) => a,
        Err(e) => {
            if let (Some(a), Some(k)) = (&account, &key) {
                rates::record_refusal(app, a, k, ip, req.params.get("action"), &e, window).await;
            }
            return Err(e);
        }
    };
    log.action = action.as_str();
    let (Some(account), Some(key)) = (account, key) else {
        return Err(ApiError::InvalidKey);
    };
    if let Some(p) = presented {
        app.known_keys.note(&p.hash);
    }
    let caller = Caller { account, key, plan, pre };
    // `last_used` is written at most once an hour per key, beside the action, never
    // before it.
    let (answer, ()) = tokio::join!(actions::dispatch(app, &caller, action, req), touch_key(app, &caller.key));
    answer
}

/// Writes the key's `last_used` when the one read in the wave is over an hour old.
async fn touch_key(app: &App, key: &kobo_shared::domain::account::ApiKeyRecord) {
    let now = app.clock.now_unix();
    if key.last_used.is_some_and(|t| now - t < kobo_shared::domain::portal::KEY_LAST_USED_EVERY_SECS) {
        return;
    }
    if let Err(e) = app.store.touch_key(&key.account_id, &key.hash, now).await {
        tracing::warn!(error = %e, "key last_used not written; the next request tries again");
    }
}
