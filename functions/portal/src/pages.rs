//! The signed-in pages: dashboard, API access, keys, webhooks, refused requests, history
//! and funding. Each is parse → (the session was checked by the router) → a flow of
//! `kobo_shared` or an action of the API → render. Ids are always looked up under the
//! session's account, so another account's objects answer like missing ones.

use std::sync::Arc;

use kobo_api::actions::Caller;
use kobo_api::prefetch::Prefetched;
use kobo_api::request::Params;
use kobo_shared::domain::account::ApiKeyRecord;
use kobo_shared::domain::event::EventType;
use kobo_shared::domain::portal::{AccessStatus, Kyc, RefusedBy, MAX_ROLL_GRACE_SECS};
use kobo_shared::domain::smm::OrderStatus;
use kobo_shared::domain::vtu::{VtuCategory, VtuStatus};
use kobo_shared::domain::webhook::{parse_event, Attempt, ALL_EVENTS};
use kobo_shared::flows::accounts::{self, OpsError};
use kobo_shared::flows::webhooks::{deliver, manage};
use kobo_shared::platform::vault::Vault;
use kobo_shared::{Action, ApiError, StoreError};
use maud::{html, Markup};

use crate::auth::Ctx;
use crate::views::{csrf, done_text, lagos_time, lagos_unix, layout, naira, notice};
use crate::web::{Page, Req};
use crate::{App, PortalError};

/// What a page shows after a form: a message, a secret shown once, a test's result.
#[derive(Debug, Default)]
pub struct Shown {
    /// HTTP status of the page (200 unless the form was refused).
    pub status: u16,
    /// A message and whether it is good news.
    pub message: Option<(bool, String)>,
    /// A secret shown this once: what it is and its value.
    pub secret: Option<(&'static str, String)>,
    /// A test delivery's result.
    pub test: Option<Attempt>,
}

impl Shown {
    /// A refused form: 422 (or `status`) with what to fix; nothing was changed.
    pub fn refused(status: u16, text: impl Into<String>) -> Option<Shown> {
        Some(Shown { status, message: Some((false, text.into())), ..Shown::default() })
    }

    /// Good news.
    pub fn ok(text: impl Into<String>) -> Option<Shown> {
        Some(Shown { status: 200, message: Some((true, text.into())), ..Shown::default() })
    }

    fn markup(&self) -> Markup {
        html! {
            @if let Some((ok, text)) = &self.message { (notice(Some(text), *ok)) }
            @if let Some((what, value)) = &self.secret {
                div class="secret" role="status" {
                    p { strong { "Your " (what) " (shown only this once; copy it now):" } }
                    code id="secret" { (value) }
                    button type="button" class="secondary" data-copy="secret" { "Copy" }
                }
            }
        }
    }
}

fn render(ctx: &Ctx, r: Option<&Req>, title: &str, shown: Option<Shown>, body: Markup) -> Page {
    let shown = shown.unwrap_or_default();
    let done = r.and_then(|r| done_text(r.q("done")));
    let status = if shown.status == 0 { 200 } else { shown.status };
    Page::html(status, layout(ctx, title, html! { (notice(done, true)) (shown.markup()) (body) }))
}

fn ops_refusal(e: OpsError) -> Result<Option<Shown>, PortalError> {
    match e {
        OpsError::Invalid(m) => Ok(Shown::refused(422, capitalized(&m))),
        OpsError::InsufficientBalance => Ok(Shown::refused(422, "Insufficient balance.")),
        OpsError::Store(e) => Err(e.into()),
    }
}

fn capitalized(m: &str) -> String {
    let mut c = m.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str().trim_end_matches('.')),
        None => String::new(),
    }
}

fn vault_err(e: impl std::fmt::Display) -> PortalError {
    tracing::error!(error = %e, "vault key unavailable");
    PortalError::Unavailable
}

async fn vault(app: &App) -> Result<Vault, PortalError> {
    let ring = app.api.keys.vault_key.get().await.map_err(vault_err)?;
    Vault::new(&ring).map_err(vault_err)
}

/// Whether an id from a URL has a shape worth looking up.
fn id_shape(id: &str) -> bool {
    !id.is_empty() && id.len() <= 80 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Lines or commas of a textarea, trimmed, without blanks.
fn list_field(raw: &str) -> Vec<String> {
    raw.split(['\n', ',']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

// ---------------------------------------------------------------- dashboard

/// `GET /portal`.
pub async fn dashboard(app: &App, ctx: &Ctx, r: &Req) -> Result<Page, PortalError> {
    let a = &ctx.account;
    let (keys, endpoints, refused) =
        tokio::join!(app.store().list_keys(&a.id), app.store().endpoints(&a.id), app.store().refusals(&a.id, 50));
    let live = keys?.iter().filter(|k| k.usable_at(app.now())).count();
    let (endpoints, refused) = (endpoints?.len(), refused?.len());
    Ok(render(
        ctx,
        Some(r),
        "Dashboard",
        None,
        html! {
            dl class="facts" {
                dt { "Balance" } dd id="dash-balance" { (naira(a.balance)) }
                dt { "API access" }
                dd id="api-access" {
                    @if a.api_active { "Active on plan " strong { (a.plan_id) } }
                    @else { "Inactive. " a href="/portal/access" { "Request an API access plan" } }
                }
                dt { "Live API keys" } dd { (live) " · " a href="/portal/keys" { "Manage keys" } }
                dt { "Webhook endpoints" } dd { (endpoints) " · " a href="/portal/webhooks" { "Manage webhooks" } }
                dt { "Refused requests (last 7 days)" } dd { (refused) " · " a href="/portal/refused" { "Why?" } }
                dt { "Payout phone" } dd { (a.payout_phone.as_deref().map(kobo_shared::domain::phone::mask_phone).unwrap_or_default()) }
            }
            p { "The API: " code { (app.api.config.public_url) "/api/v1" } " — send " code { "key" } " and " code { "action" } "." }
            form method="post" action="/portal/signout-all" {
                (csrf(ctx))
                button type="submit" class="secondary" { "Sign out everywhere" }
            }
        },
    ))
}

// ---------------------------------------------------------------- API access

fn percent(bp: u32) -> String {
    format!("{}.{:02}%", bp / 100, bp % 100)
}

/// `GET /portal/access`.
pub async fn access(app: &App, ctx: &Ctx, r: &Req, shown: Option<Shown>) -> Result<Page, PortalError> {
    let a = &ctx.account;
    let (plans, offers, requests) =
        tokio::join!(app.store().plans(), app.store().plan_offers(), app.store().access_requests(&a.id));
    let (plans, offers, mut requests) = (plans?, offers?, requests?);
    requests.sort_by(|x, y| y.created_at.cmp(&x.created_at));
    let pending = requests.iter().any(|q| q.status == AccessStatus::Pending);
    Ok(render(
        ctx,
        Some(r),
        "API access",
        shown,
        html! {
            p id="access-state" {
                @if a.api_active { "API access is active on plan " strong { (a.plan_id) } "." }
                @else if pending { "Your request is waiting for approval." }
                @else { "API access is inactive: the API answers 403 until a plan is approved." }
            }
            h2 { "Plans" }
            @if offers.is_empty() { p { "No plans are offered yet." } }
            div class="cards" {
                @for o in &offers {
                    @let plan = plans.iter().find(|p| p.id == o.plan_id);
                    section class="card" aria-labelledby=(format!("plan-{}", o.plan_id)) {
                        h3 id=(format!("plan-{}", o.plan_id)) { (plan.map(|p| p.name.as_str()).unwrap_or(&o.plan_id)) }
                        dl class="facts" {
                            dt { "Price" } dd { (naira(o.price)) }
                            @if let Some(p) = plan {
                                dt { "SMM discount" } dd { (percent(p.smm_discount_bp)) }
                                @for (cat, bp) in &p.vtu_discount_bp { dt { "VTU " (cat.as_str()) " discount" } dd { (percent(*bp)) } }
                                dt { "Per key" } dd { @if p.key_rpm == 0 { "unlimited" } @else { (p.key_rpm) " requests/min" } }
                                dt { "Per IP" } dd { @if p.ip_rpm == 0 { "unlimited" } @else { (p.ip_rpm) " requests/min" } }
                            }
                            dt { "KYC" } dd { @if o.kyc_required { "required" } @else { "not required" } }
                        }
                        @if !pending {
                            form.stack method="post" action="/portal/access" data-confirm=(format!("Pay {} from your wallet for this plan?", naira(o.price))) {
                                (csrf(ctx))
                                input type="hidden" name="plan" value=(o.plan_id);
                                @if o.kyc_required {
                                    @let f = |n: &str| format!("{}-{n}", o.plan_id);
                                    label for=(f("business")) { "Registered business name" }
                                    input id=(f("business")) type="text" name="business_name" required value=(r.field("business_name"));
                                    label for=(f("nin")) { "NIN or BVN (11 digits)" }
                                    input id=(f("nin")) type="text" name="id_number" inputmode="numeric" required;
                                    label for=(f("address")) { "Business address" }
                                    input id=(f("address")) type="text" name="address" required value=(r.field("address"));
                                }
                                button type="submit" { "Request " (o.plan_id) " for " (naira(o.price)) }
                            }
                        }
                    }
                }
            }
            h2 { "Your requests" }
            @if requests.is_empty() { p { "None yet." } } @else {
                table {
                    thead { tr { th { "Requested" } th { "Plan" } th { "Price" } th { "Status" } th { "Note" } } }
                    tbody {
                        @for q in &requests {
                            tr { td { (lagos_time(&q.created_at)) } td { (q.plan_id) } td { (naira(q.price)) }
                                 td class=(format!("status-{}", q.status.as_str())) { (q.status.as_str()) }
                                 td { (q.reason.as_deref().unwrap_or("")) @if q.status == AccessStatus::Rejected { " (refunded)" } } }
                        }
                    }
                }
            }
        },
    ))
}

/// `POST /portal/access`: charges the plan's price and records the request.
pub async fn access_request(app: &App, ctx: &Ctx, r: &Req) -> Result<Page, PortalError> {
    use kobo_shared::flows::access::{request, RequestError};
    let kyc = (!r.field("business_name").is_empty() || !r.field("id_number").is_empty()).then(|| Kyc {
        business_name: r.field("business_name").to_string(),
        id_number: r.field("id_number").to_string(),
        address: r.field("address").to_string(),
    });
    let refused = match request(app.store(), &ctx.account.id, r.field("plan"), kyc, ctx.account.min_balance).await {
        Ok(q) => {
            tracing::info!(account_id = %ctx.account.id, request_id = %q.id, "API access requested");
            return Ok(Page::redirect("/portal/access?done=requested"));
        }
        Err(RequestError::NoSuchPlan) => Shown::refused(422, "Choose one of the plans offered."),
        Err(RequestError::Kyc(field, m)) => Shown::refused(422, format!("KYC: the {field} {m}.")),
        Err(RequestError::AlreadyPending) => Shown::refused(409, "A request is already waiting for approval."),
        Err(RequestError::InsufficientBalance) => {
            Shown::refused(422, "Your balance does not cover this plan's price. Fund your wallet first.")
        }
        Err(RequestError::Store(e)) => return Err(e.into()),
    };
    access(app, ctx, r, refused).await
}

// ---------------------------------------------------------------- API keys

/// Which group of the key form an action's checkbox is in.
fn scope_group(a: Action) -> &'static str {
    match a {
        Action::Services
        | Action::Add
        | Action::AddBulk
        | Action::Status
        | Action::Refill
        | Action::RefillStatus
        | Action::Cancel => "SMM",
        _ if a.as_str().starts_with("vtu_") => "VTU",
        _ => "Wallet",
    }
}

/// The scope checkboxes, grouped, checked as `checked` says.
fn scope_boxes(checked: &[Action]) -> Markup {
    html! {
        @for name in ["SMM", "Wallet", "VTU"] {
            fieldset class="boxes" {
                legend { (name) }
                @for a in Action::ALL.iter().filter(|a| scope_group(**a) == name) {
                    label class="box" {
                        input type="checkbox" name=(format!("scope_{}", a.as_str())) value="on" checked[checked.contains(a)];
                        " " code { (a.as_str()) }
                    }
                }
            }
        }
    }
}

fn scopes_of(r: &Req) -> Vec<Action> {
    Action::ALL.iter().copied().filter(|a| r.form.get(&format!("scope_{}", a.as_str())).is_some()).collect()
}

fn key_state(k: &ApiKeyRecord, now: i64) -> String {
    match (&k.revoked_at, k.retire_at) {
        (Some(at), _) => format!("revoked {}", lagos_time(at)),
        (None, Some(t)) if t <= now => format!("retired {}", lagos_unix(t)),
        (None, Some(t)) => format!("retires {}", lagos_unix(t)),
        (None, None) => "active".into(),
    }
}

fn whitelist_fields(ips: &str, domains: &str) -> Markup {
    html! {
        label for="ips" { "IP whitelist (one IP or CIDR per line; empty: any IP)" }
        textarea id="ips" name="ips" rows="3" { (ips) }
        label for="domains" { "Domain whitelist (one per line, *.example.com allowed; empty: any)" }
        textarea id="domains" name="domains" rows="3" { (domains) }
    }
}

/// `GET /portal/keys`.
pub async fn keys(app: &App, ctx: &Ctx, r: &Req, shown: Option<Shown>) -> Result<Page, PortalError> {
    let mut keys = app.store().list_keys(&ctx.account.id).await?;
    keys.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let now = app.now();
    Ok(render(
        ctx,
        Some(r),
        "API keys",
        shown,
        html! {
            @if keys.is_empty() { p { "No keys yet." } } @else {
                table id="keys" {
                    thead { tr { th { "Label" } th { "Key" } th { "Scopes" } th { "Whitelists" } th { "Created" } th { "Last used" } th { "State" } th {} } }
                    tbody {
                        @for k in &keys {
                            tr {
                                td { (k.label) }
                                td { code { "…" (k.hint) } }
                                td { (k.scopes.len()) " of " (Action::ALL.len()) }
                                td { @if k.ip_whitelist.is_empty() && k.domain_whitelist.is_empty() { "none" }
                                     @else { (k.ip_whitelist.join(", ")) @if !k.domain_whitelist.is_empty() { " " (k.domain_whitelist.join(", ")) } } }
                                td { (lagos_time(&k.created_at)) }
                                td { (k.last_used.map(lagos_unix).unwrap_or_else(|| "never".into())) }
                                td { (key_state(k, now)) }
                                td { @if k.revoked_at.is_none() { a href=(format!("/portal/keys/{}", k.key_id)) { "Edit" } } }
                            }
                        }
                    }
                }
            }
            h2 { "Create a key" }
            form.stack method="post" action="/portal/keys" {
                (csrf(ctx))
                label for="label" { "Label" }
                input id="label" type="text" name="label" required maxlength="64" value=(r.field("label"));
                (scope_boxes(&scopes_of(r)))
                (whitelist_fields(r.field("ips"), r.field("domains")))
                button type="submit" { "Create key" }
            }
        },
    ))
}

fn label_of(r: &Req) -> Result<String, &'static str> {
    let l = r.field("label");
    if l.is_empty() || l.chars().count() > 64 || l.chars().any(char::is_control) {
        return Err("Give the key a label of 1 to 64 characters.");
    }
    Ok(l.to_string())
}

/// `POST /portal/keys`: a new key, shown once.
pub async fn key_create(app: &App, ctx: &Ctx, r: &Req) -> Result<Page, PortalError> {
    let label = match label_of(r) {
        Ok(l) => l,
        Err(m) => return keys(app, ctx, r, Shown::refused(422, m)).await,
    };
    let scopes = scopes_of(r);
    if scopes.is_empty() {
        return keys(app, ctx, r, Shown::refused(422, "Choose at least one scope.")).await;
    }
    let (ips, domains) = (list_field(r.field("ips")), list_field(r.field("domains")));
    match accounts::issue_key(app.store(), &ctx.account.id, &label, &scopes, &ips, &domains).await {
        Ok((key, _)) => {
            let shown = Shown { secret: Some(("API key", key.secret)), ..Shown::default() };
            keys(app, ctx, &Req::blank(), Some(shown)).await
        }
        Err(e) => keys(app, ctx, r, ops_refusal(e)?).await,
    }
}

async fn live_key(app: &App, ctx: &Ctx, id: &str) -> Result<ApiKeyRecord, PortalError> {
    if !id_shape(id) {
        return Err(PortalError::NotFound);
    }
    match app.store().find_key(&ctx.account.id, id).await {
        Ok(k) if k.revoked_at.is_none() => Ok(k),
        Ok(_) | Err(StoreError::NotFound(_)) => Err(PortalError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// `GET /portal/keys/{id}`.
pub async fn key_edit_form(app: &App, ctx: &Ctx, id: &str, shown: Option<Shown>) -> Result<Page, PortalError> {
    let k = live_key(app, ctx, id).await?;
    let base = format!("/portal/keys/{}", k.key_id);
    Ok(render(
        ctx,
        None,
        &format!("Key {}", k.label),
        shown,
        html! {
            p { "Key ending " code { (k.hint) } ", " (key_state(&k, app.now())) "." }
            form.stack method="post" action=(base) {
                (csrf(ctx))
                (scope_boxes(&k.scopes))
                (whitelist_fields(&k.ip_whitelist.join("\n"), &k.domain_whitelist.join("\n")))
                button type="submit" { "Save" }
            }
            h2 { "Roll" }
            form.stack method="post" action=(format!("{base}/roll")) {
                (csrf(ctx))
                p { "A new key with the same scopes and whitelists now; this one keeps working for the grace period, then stops." }
                label for="grace" { "Grace period" }
                select id="grace" name="grace" {
                    option value="0" { "none: stop this key now" }
                    option value="3600" selected { "1 hour" }
                    option value="86400" { "24 hours" }
                }
                button type="submit" { "Roll key" }
            }
            h2 { "Revoke" }
            form.stack method="post" action=(format!("{base}/revoke")) data-confirm="Revoke this key? Requests with it stop at once." {
                (csrf(ctx))
                label class="box" { input type="checkbox" name="confirm" value="yes" required; " Yes, revoke this key now" }
                button type="submit" class="danger" { "Revoke key" }
            }
        },
    ))
}

/// `POST /portal/keys/{id}`: new scopes and whitelists.
pub async fn key_update(app: &App, ctx: &Ctx, r: &Req, id: &str) -> Result<Page, PortalError> {
    let k = live_key(app, ctx, id).await?;
    let scopes = scopes_of(r);
    if scopes.is_empty() {
        return key_edit_form(app, ctx, id, Shown::refused(422, "Choose at least one scope.")).await;
    }
    let (ips, domains) =
        match accounts::normalize_whitelists(&list_field(r.field("ips")), &list_field(r.field("domains"))) {
            Ok(w) => w,
            Err(e) => return key_edit_form(app, ctx, id, ops_refusal(e)?).await,
        };
    app.store().set_key_scopes(&ctx.account.id, &k.hash, &scopes).await?;
    app.store().set_key_whitelists(&ctx.account.id, &k.hash, Some(&ips), Some(&domains)).await?;
    Ok(Page::redirect("/portal/keys?done=saved"))
}

/// `POST /portal/keys/{id}/revoke` (with the confirmation box ticked).
pub async fn key_revoke(app: &App, ctx: &Ctx, r: &Req, id: &str) -> Result<Page, PortalError> {
    let k = live_key(app, ctx, id).await?;
    if r.field("confirm") != "yes" {
        return key_edit_form(app, ctx, id, Shown::refused(422, "Tick the box to confirm the revocation.")).await;
    }
    app.store().revoke_key(&ctx.account.id, &k.hash).await?;
    Ok(Page::redirect("/portal/keys?done=revoked"))
}

/// `POST /portal/keys/{id}/roll`: a new key now (shown once); the old one retires after
/// the grace period (at most 24 h).
pub async fn key_roll(app: &App, ctx: &Ctx, r: &Req, id: &str) -> Result<Page, PortalError> {
    let k = live_key(app, ctx, id).await?;
    let grace = match r.field("grace").parse::<i64>() {
        Ok(g) if (0..=MAX_ROLL_GRACE_SECS).contains(&g) => g,
        _ => {
            return key_edit_form(app, ctx, id, Shown::refused(422, "Choose a grace period of at most 24 hours.")).await
        }
    };
    let (key, _) =
        accounts::issue_key(app.store(), &ctx.account.id, &k.label, &k.scopes, &k.ip_whitelist, &k.domain_whitelist)
            .await
            .map_err(|e| match e {
                OpsError::Store(e) => PortalError::from(e),
                _ => PortalError::Unavailable,
            })?;
    // The new key exists: from here on the page shows it, whatever else fails.
    let retired = if grace == 0 {
        app.store().revoke_key(&ctx.account.id, &k.hash).await
    } else {
        app.store().retire_key(&ctx.account.id, &k.hash, app.now() + grace).await
    };
    let message = match retired {
        Ok(()) if grace == 0 => (true, "The key was rolled; the old key is revoked.".to_string()),
        Ok(()) => (true, format!("The key was rolled; the old key works until {}.", lagos_unix(app.now() + grace))),
        Err(e) => {
            tracing::warn!(error = %e, "old key not retired after a roll");
            (
                false,
                "The new key is ready, but the old key could not be scheduled to stop: revoke it from its page.".into(),
            )
        }
    };
    let shown = Shown { status: 200, message: Some(message), secret: Some(("new API key", key.secret)), test: None };
    keys(app, ctx, &Req::blank(), Some(shown)).await
}

// ---------------------------------------------------------------- webhooks

fn event_boxes(checked: &[EventType]) -> Markup {
    let prefixes = ["vtu", "order", "deposit", "withdraw"];
    html! {
        @for p in prefixes {
            fieldset class="boxes" {
                legend { (p) ".*" }
                @for e in ALL_EVENTS.iter().filter(|e| e.as_str().split('.').next() == Some(p)) {
                    label class="box" {
                        input type="checkbox" name=(format!("event_{}", e.as_str())) value="on" checked[checked.contains(e)];
                        " " code { (e.as_str()) }
                    }
                }
            }
        }
    }
}

/// `GET /portal/webhooks`.
pub async fn webhooks(app: &App, ctx: &Ctx, r: &Req, shown: Option<Shown>) -> Result<Page, PortalError> {
    let endpoints = app.store().endpoints(&ctx.account.id).await?;
    let lasts = futures_util::future::join_all(endpoints.iter().map(|e| app.store().attempts(&e.id, 1))).await;
    let checked: Vec<EventType> =
        ALL_EVENTS.iter().copied().filter(|e| r.form.get(&format!("event_{}", e.as_str())).is_some()).collect();
    Ok(render(
        ctx,
        Some(r),
        "Webhooks",
        shown,
        html! {
            @if endpoints.is_empty() { p { "No endpoints yet." } } @else {
                table id="endpoints" {
                    thead { tr { th { "URL" } th { "Events" } th { "State" } th { "Last attempt" } th {} } }
                    tbody {
                        @for (e, last) in endpoints.iter().zip(lasts) {
                            tr {
                                td { code { (e.url) } }
                                td { (e.events.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")) }
                                td { @if e.active { "active" } @else { "disabled: " (e.disabled_reason.as_deref().unwrap_or("")) } }
                                td { @match last.ok().and_then(|l| l.into_iter().next()) {
                                    Some(a) => { (lagos_time(&a.at)) " · " (a.status.map(|s| s.to_string()).unwrap_or_else(|| "no answer".into())) }
                                    None => "none",
                                } }
                                td { a href=(format!("/portal/webhooks/{}", e.id)) { "Open" } }
                            }
                        }
                    }
                }
            }
            h2 { "Add an endpoint" }
            form.stack method="post" action="/portal/webhooks" {
                (csrf(ctx))
                label for="url" { "URL (https, public)" }
                input id="url" type="url" name="url" required value=(r.field("url"));
                (event_boxes(&checked))
                button type="submit" { "Add endpoint" }
            }
        },
    ))
}

/// `POST /portal/webhooks`: a new endpoint (URL through the SSRF guard), its secret shown once.
pub async fn webhook_create(app: &App, ctx: &Ctx, r: &Req) -> Result<Page, PortalError> {
    let events: Vec<EventType> =
        ALL_EVENTS.iter().copied().filter(|e| r.form.get(&format!("event_{}", e.as_str())).is_some()).collect();
    let vault = vault(app).await?;
    match manage::create_endpoint(app.store(), &vault, &ctx.account.id, r.field("url"), events, app.policy).await {
        Ok((ep, secret)) => {
            let shown = Shown { secret: Some(("signing secret", secret)), ..Shown::default() };
            webhook(app, ctx, &Req::blank(), &ep.id, Some(shown)).await
        }
        Err(e) => webhooks(app, ctx, r, ops_refusal(e)?).await,
    }
}

async fn endpoint(app: &App, ctx: &Ctx, id: &str) -> Result<kobo_shared::domain::webhook::Endpoint, PortalError> {
    if !id_shape(id) {
        return Err(PortalError::NotFound);
    }
    app.store().get_endpoint(&ctx.account.id, id).await?.ok_or(PortalError::NotFound)
}

fn attempt_row(ctx: &Ctx, ep_id: &str, a: &Attempt) -> Markup {
    html! {
        tr class=(if a.success { "ok" } else { "err" }) {
            td { (lagos_time(&a.at)) }
            td { code { (a.event) } }
            td { (a.status.map(|s| s.to_string()).unwrap_or_else(|| a.error.clone().unwrap_or_else(|| "no answer".into()))) }
            td { (a.duration_ms) " ms" }
            td { @if a.success { "yes" } @else { "no" } }
            td { (a.attempt) }
            td { (a.next_retry_at.map(lagos_unix).unwrap_or_else(|| "—".into())) }
            td {
                details {
                    summary { "Headers and response" }
                    pre { @for h in &a.headers { (h) "\n" } }
                    pre { (a.response.as_deref().unwrap_or("(no body)")) }
                }
            }
            td {
                form method="post" action=(format!("/portal/webhooks/{ep_id}/redeliver")) {
                    (csrf(ctx))
                    input type="hidden" name="delivery_id" value=(a.delivery_id);
                    input type="hidden" name="event" value=(a.event);
                    button type="submit" class="secondary" { "Redeliver" }
                }
            }
        }
    }
}

/// Most attempts the delivery log reads.
const LOG_ATTEMPTS: usize = 100;

/// `GET /portal/webhooks/{id}`: the endpoint, its controls and its delivery log.
pub async fn webhook(app: &App, ctx: &Ctx, r: &Req, id: &str, shown: Option<Shown>) -> Result<Page, PortalError> {
    let ep = endpoint(app, ctx, id).await?;
    let all = app.store().attempts(&ep.id, LOG_ATTEMPTS).await?;
    let (want_status, want_event) = (r.q("status"), r.q("event"));
    let log: Vec<&Attempt> = all
        .iter()
        .filter(|a| match want_status {
            "success" => a.success,
            "failed" => !a.success,
            _ => true,
        })
        .filter(|a| want_event.is_empty() || a.event == want_event)
        .collect();
    let base = format!("/portal/webhooks/{}", ep.id);
    let test = shown.as_ref().and_then(|s| s.test.clone());
    Ok(render(
        ctx,
        Some(r),
        "Webhook endpoint",
        shown,
        html! {
            p { code id="endpoint-url" { (ep.url) } }
            p id="endpoint-state" { @if ep.active { "Active." } @else { "Disabled: " (ep.disabled_reason.as_deref().unwrap_or("")) } }
            p { "Events: " (ep.events.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")) }
            @if let Some(until) = ep.old_secret_until { p { "The previous secret also signs until " (lagos_unix(until)) "." } }
            @if let Some(t) = &test {
                section id="test-result" class=(if t.success { "notice ok" } else { "notice err" }) role="status" {
                    h2 { "Test result" }
                    p { "Event " code { (t.event) } ": "
                        @if let Some(s) = t.status { "HTTP " (s) } @else { (t.error.as_deref().unwrap_or("no answer")) }
                        " in " (t.duration_ms) " ms." }
                    pre { (t.response.as_deref().unwrap_or("(no body)")) }
                }
            }
            div class="row" {
                form method="post" action=(format!("{base}/test")) class="inline" {
                    (csrf(ctx))
                    label for="test-event" { "Event" }
                    select id="test-event" name="event" {
                        @for e in ALL_EVENTS { option value=(e.as_str()) { (e.as_str()) } }
                    }
                    button type="submit" { "Test" }
                }
                form method="post" action=(format!("{base}/{}", if ep.active { "disable" } else { "enable" })) class="inline" {
                    (csrf(ctx))
                    button type="submit" class="secondary" { @if ep.active { "Disable" } @else { "Enable" } }
                }
                form method="post" action=(format!("{base}/rotate")) class="inline" data-confirm="Rotate the signing secret?" {
                    (csrf(ctx))
                    label for="rotate-grace" { "Old secret also signs for" }
                    select id="rotate-grace" name="grace" {
                        option value="0" { "no grace" }
                        option value="3600" { "1 hour" }
                        option value="86400" selected { "24 hours" }
                    }
                    button type="submit" class="secondary" { "Rotate secret" }
                }
            }
            h2 { "Delivery log" }
            form method="get" action=(base) class="inline filters" {
                label for="f-status" { "Status" }
                select id="f-status" name="status" {
                    option value="" { "all" }
                    option value="success" selected[want_status == "success"] { "succeeded" }
                    option value="failed" selected[want_status == "failed"] { "failed" }
                }
                label for="f-event" { "Event" }
                select id="f-event" name="event" {
                    option value="" { "all" }
                    @for e in ALL_EVENTS { option value=(e.as_str()) selected[want_event == e.as_str()] { (e.as_str()) } }
                }
                button type="submit" class="secondary" { "Filter" }
            }
            @if log.is_empty() { p { "No attempts." } } @else {
                table id="log" {
                    thead { tr { th { "Time" } th { "Event" } th { "HTTP" } th { "Took" } th { "OK" } th { "Attempt" } th { "Next retry" } th { "Sent and answered" } th {} } }
                    tbody { @for a in &log { (attempt_row(ctx, &ep.id, a)) } }
                }
                p class="hint" { "The newest " (LOG_ATTEMPTS) " attempts of the last 30 days." }
            }
        },
    ))
}

fn grace_of(r: &Req) -> Option<i64> {
    r.field("grace").parse::<i64>().ok().filter(|g| (0..=MAX_ROLL_GRACE_SECS).contains(g))
}

/// `POST /portal/webhooks/{id}/rotate`: a new secret (shown once); the old one also signs
/// for the grace period.
pub async fn webhook_rotate(app: &App, ctx: &Ctx, r: &Req, id: &str) -> Result<Page, PortalError> {
    let ep = endpoint(app, ctx, id).await?;
    let Some(grace) = grace_of(r) else {
        return webhook(app, ctx, &Req::blank(), id, Shown::refused(422, "Choose a grace period of at most 24 hours."))
            .await;
    };
    let vault = vault(app).await?;
    match manage::rotate_secret(app.store(), &vault, &ctx.account.id, &ep.id, grace).await {
        Ok(secret) => {
            let shown = Shown { secret: Some(("new signing secret", secret)), ..Shown::default() };
            webhook(app, ctx, &Req::blank(), id, Some(shown)).await
        }
        Err(e) => webhook(app, ctx, &Req::blank(), id, ops_refusal(e)?).await,
    }
}

/// `POST /portal/webhooks/{id}/enable|disable`.
pub async fn webhook_active(app: &App, ctx: &Ctx, id: &str, active: bool) -> Result<Page, PortalError> {
    let ep = endpoint(app, ctx, id).await?;
    match manage::set_active(app.store(), &ctx.account.id, &ep.id, active).await {
        Ok(_) => Ok(Page::redirect(&format!(
            "/portal/webhooks/{}?done={}",
            ep.id,
            if active { "enabled" } else { "disabled" }
        ))),
        Err(e) => webhook(app, ctx, &Req::blank(), id, ops_refusal(e)?).await,
    }
}

fn event_of(r: &Req) -> Option<EventType> {
    parse_event(r.field("event"))
}

async fn test_now(app: &App, ctx: &Ctx, id: &str, event: EventType) -> Result<Page, PortalError> {
    let ep = endpoint(app, ctx, id).await?;
    let vault = vault(app).await?;
    let attempt = deliver::send_test(app.store(), &vault, &app.sender, &ep, event).await?;
    let shown = Shown { test: Some(attempt), ..Shown::default() };
    webhook(app, ctx, &Req::blank(), id, Some(shown)).await
}

/// `POST /portal/webhooks/{id}/test`: a signed sample of the chosen event, sent now; the
/// result shows on the page and in the log.
pub async fn webhook_test(app: &App, ctx: &Ctx, r: &Req, id: &str) -> Result<Page, PortalError> {
    let Some(event) = event_of(r) else {
        return webhook(app, ctx, &Req::blank(), id, Shown::refused(422, "Choose an event to test.")).await;
    };
    test_now(app, ctx, id, event).await
}

/// `POST /portal/webhooks/{id}/redeliver`: a delivery queued again with its event id and
/// payload (a test is sent again now).
pub async fn webhook_redeliver(app: &App, ctx: &Ctx, r: &Req, id: &str) -> Result<Page, PortalError> {
    let ep = endpoint(app, ctx, id).await?;
    let delivery_id = r.field("delivery_id");
    if delivery_id.starts_with("test_") {
        let Some(event) = event_of(r) else { return Err(PortalError::NotFound) };
        return test_now(app, ctx, id, event).await;
    }
    if delivery_id.is_empty() || delivery_id.len() > 200 {
        return Err(PortalError::NotFound);
    }
    match app.store().get_delivery(&ctx.account.id, delivery_id).await? {
        Some(d) if d.endpoint_id == ep.id => {}
        _ => return Err(PortalError::NotFound),
    }
    deliver::redeliver(app.store(), &app.queue, &ctx.account.id, delivery_id).await?;
    Ok(Page::redirect(&format!("/portal/webhooks/{}?done=redelivered", ep.id)))
}

// ---------------------------------------------------------------- refused requests

/// `GET /portal/refused`: "why was my request refused?"
pub async fn refused(app: &App, ctx: &Ctx, r: &Req) -> Result<Page, PortalError> {
    let (list, keys) = tokio::join!(app.store().refusals(&ctx.account.id, 200), app.store().list_keys(&ctx.account.id));
    let (list, keys) = (list?, keys?);
    let hint = |key_id: &str| keys.iter().find(|k| k.key_id == key_id).map(|k| format!("{} …{}", k.label, k.hint));
    Ok(render(
        ctx,
        Some(r),
        "Refused requests",
        None,
        html! {
            p { "API requests with one of your keys that kobo refused in the last 7 days, counted per minute, check and IP." }
            @if list.is_empty() { p id="no-refusals" { "None." } } @else {
                table id="refusals" {
                    thead { tr { th { "Minute" } th { "Key" } th { "Refused by" } th { "IP" } th { "Action" } th { "Count" } th { "What to do" } } }
                    tbody {
                        @for f in &list {
                            tr {
                                td { (lagos_unix(f.window_start)) }
                                td { (hint(&f.key_id).unwrap_or_else(|| f.key_id.clone())) }
                                td { strong { (f.by.as_str()) } br; (f.message) }
                                td { code { (f.ip) } }
                                td { code { (f.action) } }
                                td { (f.count) }
                                td {
                                    (f.by.advice())
                                    @if f.by == RefusedBy::Ip && hint(&f.key_id).is_some() {
                                        form method="post" action="/portal/refused/whitelist" {
                                            (csrf(ctx))
                                            input type="hidden" name="key_id" value=(f.key_id);
                                            input type="hidden" name="ip" value=(f.ip);
                                            button type="submit" class="secondary" { "Whitelist " (f.ip) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// `POST /portal/refused/whitelist`: adds a refused IP to its key's whitelist.
pub async fn refused_whitelist(app: &App, ctx: &Ctx, r: &Req) -> Result<Page, PortalError> {
    let k = live_key(app, ctx, r.field("key_id")).await?;
    let ip = r.field("ip").to_string();
    let mut ips = k.ip_whitelist.clone();
    if !ips.contains(&ip) {
        ips.push(ip);
    }
    let (ips, domains) = match accounts::normalize_whitelists(&ips, &k.domain_whitelist) {
        Ok(w) => w,
        Err(_) => return Ok(Page::redirect("/portal/refused")),
    };
    app.store().set_key_whitelists(&ctx.account.id, &k.hash, Some(&ips), Some(&domains)).await?;
    Ok(Page::redirect("/portal/refused?done=whitelisted"))
}

// ---------------------------------------------------------------- history

/// Entries per history page.
pub const PAGE_SIZE: usize = 25;

fn cursor(r: &Req) -> Option<&str> {
    Some(r.q("before")).filter(|c| !c.is_empty() && c.len() <= 200)
}

fn older_link(tab: &str, filters: &[(&str, &str)], next: Option<String>) -> Markup {
    let Some(next) = next else { return html! {} };
    let mut q = format!("/portal/history?tab={tab}");
    for (k, v) in filters.iter().filter(|(_, v)| !v.is_empty()) {
        q.push_str(&format!("&{k}={}", enc(v)));
    }
    q.push_str(&format!("&before={}", enc(&next)));
    html! { p { a href=(q) rel="next" { "Older →" } } }
}

fn enc(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `GET /portal/history?tab=ledger|orders|vtu`: newest first, filtered, paged.
pub async fn history(app: &App, ctx: &Ctx, r: &Req) -> Result<Page, PortalError> {
    let acct = &ctx.account.id;
    let tab = match r.q("tab") {
        "orders" => "orders",
        "vtu" => "vtu",
        _ => "ledger",
    };
    let tabs = html! {
        nav aria-label="History" class="tabs" {
            a href="/portal/history?tab=ledger" aria-current=[(tab == "ledger").then_some("page")] { "Ledger" }
            a href="/portal/history?tab=orders" aria-current=[(tab == "orders").then_some("page")] { "SMM orders" }
            a href="/portal/history?tab=vtu" aria-current=[(tab == "vtu").then_some("page")] { "VTU" }
        }
    };
    let body = match tab {
        "orders" => {
            let status = OrderStatus::parse(r.q("status"));
            let (orders, next) = app.store().orders_page(acct, status, cursor(r), PAGE_SIZE).await?;
            let statuses = ["pending", "processing", "completed", "partial", "cancelled", "refunded"];
            html! {
                (filter_form("orders", "status", "Status", &statuses, status.map(|s| s.as_str()).unwrap_or("")))
                table id="orders" {
                    thead { tr { th { "Order" } th { "Placed" } th { "Service" } th { "Link" } th { "Quantity" } th { "Charge" } th { "Refunded" } th { "Status" } } }
                    tbody { @for o in &orders { tr {
                        td { (o.id) } td { (lagos_time(&o.created_at)) } td { (o.service_id) } td { (o.link) }
                        td { (o.quantity) } td { (naira(o.charge)) } td { (naira(o.refunded)) } td { (o.status.as_str()) }
                    } } }
                }
                (older_link("orders", &[("status", status.map(|s| s.as_str()).unwrap_or(""))], next))
            }
        }
        "vtu" => {
            let status = VtuStatus::parse(r.q("status"));
            let category = VtuCategory::ALL.into_iter().find(|c| c.as_str() == r.q("category"));
            let (txs, next) = app.store().vtu_page(acct, cursor(r), PAGE_SIZE).await?;
            let shown: Vec<_> = txs
                .iter()
                .filter(|t| status.is_none_or(|s| t.status == s))
                .filter(|t| category.is_none_or(|c| t.category == c))
                .collect();
            let cats: Vec<&str> = VtuCategory::ALL.iter().map(|c| c.as_str()).collect();
            html! {
                form method="get" action="/portal/history" class="inline filters" {
                    input type="hidden" name="tab" value="vtu";
                    (select("status", "Status", &["processing", "success", "failed"], status.map(|s| s.as_str()).unwrap_or("")))
                    (select("category", "Category", &cats, category.map(|c| c.as_str()).unwrap_or("")))
                    button type="submit" class="secondary" { "Filter" }
                }
                table id="vtu" {
                    thead { tr { th { "Reference" } th { "Time" } th { "Category" } th { "Service" } th { "Recipient" } th { "Amount" } th { "Status" } } }
                    tbody { @for t in &shown { tr {
                        td { code { (t.trx) } } td { (lagos_time(&t.created_at)) } td { (t.category.as_str()) } td { (t.service_name) }
                        td { (kobo_shared::domain::phone::mask_phone(&t.phone)) } td { (naira(t.amount)) } td { (t.status.as_str()) }
                    } } }
                }
                (older_link("vtu", &[("status", r.q("status")), ("category", r.q("category"))], next))
            }
        }
        _ => {
            let kinds = [
                "deposit",
                "order",
                "refund",
                "vtu",
                "vtu_refund",
                "withdrawal",
                "api_access",
                "api_access_refund",
                "credit",
                "debit",
            ];
            let kind = kinds.iter().copied().find(|k| *k == r.q("kind"));
            let (entries, next) = app.store().ledger_page(acct, kind, cursor(r), PAGE_SIZE).await?;
            html! {
                (filter_form("ledger", "kind", "Kind", &kinds, kind.unwrap_or("")))
                table id="ledger" {
                    thead { tr { th { "Time" } th { "Kind" } th { "Amount" } th { "What" } th { "Reference" } } }
                    tbody { @for e in &entries { tr {
                        td { (lagos_time(&e.created_at)) } td { (e.kind) }
                        td class=(if e.amount.as_i64() < 0 { "debit" } else { "credit" }) { (naira(e.amount)) }
                        td { (e.reason) } td { code { (e.reference.as_deref().unwrap_or("")) } }
                    } } }
                }
                (older_link("ledger", &[("kind", kind.unwrap_or(""))], next))
            }
        }
    };
    Ok(render(ctx, Some(r), "History", None, html! { (tabs) (body) }))
}

fn select(name: &str, label: &str, options: &[&str], chosen: &str) -> Markup {
    let id = format!("f-{name}");
    html! {
        label for=(id) { (label) }
        select id=(id) name=(name) {
            option value="" { "all" }
            @for o in options { option value=(o) selected[*o == chosen] { (o) } }
        }
    }
}

fn filter_form(tab: &str, name: &str, label: &str, options: &[&str], chosen: &str) -> Markup {
    html! {
        form method="get" action="/portal/history" class="inline filters" {
            input type="hidden" name="tab" value=(tab);
            (select(name, label, options, chosen))
            button type="submit" class="secondary" { "Filter" }
        }
    }
}

// ---------------------------------------------------------------- funding

/// The caller the API's own actions see for a portal request: the session's account,
/// a key that exists only for this request and allows every action.
fn portal_caller(ctx: &Ctx) -> Caller {
    let key = ApiKeyRecord {
        account_id: ctx.account.id.clone(),
        hash: String::new(),
        key_id: "portal".into(),
        label: "Developer Portal".into(),
        hint: String::new(),
        scopes: Action::ALL.to_vec(),
        ip_whitelist: Vec::new(),
        domain_whitelist: Vec::new(),
        revoked_at: None,
        retire_at: None,
        last_used: None,
        created_at: String::new(),
    };
    Caller { account: ctx.account.clone(), key, plan: None, pre: Arc::new(Prefetched::default()) }
}

/// Runs one of the API's wallet actions with the form's fields; its JSON answer, or the
/// refusal's message (nothing was changed) as a refused page's text.
async fn run_action<'a, F, Fut>(
    app: &'a App,
    ctx: &Ctx,
    fields: &[(&str, &str)],
    f: F,
) -> Result<Result<serde_json::Value, Option<Shown>>, PortalError>
where
    F: FnOnce(&'a kobo_api::App, Caller, Params) -> Fut,
    Fut: std::future::Future<Output = Result<lambda_http::Response<lambda_http::Body>, ApiError>>,
{
    let text = fields.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&");
    let params = kobo_api::request::parse_form(&text).map_err(|_| PortalError::Unavailable)?;
    match f(&app.api, portal_caller(ctx), params).await {
        Ok(resp) => {
            let body = match resp.body() {
                lambda_http::Body::Text(t) => t.clone(),
                lambda_http::Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            };
            Ok(Ok(serde_json::from_str(&body).unwrap_or_default()))
        }
        Err(ApiError::Unavailable | ApiError::Internal) => Err(PortalError::Unavailable),
        Err(ApiError::RateLimited { retry_after }) => Err(PortalError::RateLimited(retry_after)),
        Err(e) => Ok(Err(Shown::refused(e.status(), e.to_string()))),
    }
}

fn json_str<'v>(v: &'v serde_json::Value, field: &str) -> &'v str {
    v.get(field).and_then(|x| x.as_str()).unwrap_or("")
}

/// `GET /portal/funding`.
pub async fn funding(_app: &App, ctx: &Ctx, r: &Req, shown: Option<Shown>) -> Result<Page, PortalError> {
    funding_page(ctx, r, shown, None, html! {})
}

fn funding_page(
    ctx: &Ctx,
    r: &Req,
    shown: Option<Shown>,
    otp: Option<(&str, &str)>,
    extra: Markup,
) -> Result<Page, PortalError> {
    let a = &ctx.account;
    Ok(render(
        ctx,
        Some(r),
        "Funding",
        shown,
        html! {
            (extra)
            h2 { "Deposit" }
            form.stack method="post" action="/portal/funding/deposit" {
                (csrf(ctx))
                label for="dep-amount" { "Amount in naira" }
                input id="dep-amount" type="text" name="amount" inputmode="decimal" required value=(r.field("amount"));
                button type="submit" { "Get a Hubtel payment link" }
            }
            h2 { "Withdraw" }
            @match &a.payout_phone {
                None => p { "Verify your phone first: withdrawals go only to it." },
                Some(phone) => {
                    p { "Withdrawals go to your verified phone " strong { (kobo_shared::domain::phone::mask_phone(phone)) } " and wait for an operator's approval." }
                    @if a.pin_digest.is_none() { p { "Set a transaction PIN below first." } }
                    @if let Some((otp_id, prefix)) = otp {
                        form.stack method="post" action="/portal/funding/withdraw" {
                            (csrf(ctx))
                            input type="hidden" name="otp_id" value=(otp_id);
                            label for="wd-amount" { "Amount in naira" }
                            input id="wd-amount" type="text" name="amount" inputmode="decimal" required value=(r.field("amount"));
                            label for="wd-otp" { "Code sent by SMS" @if !prefix.is_empty() { " (starts " (prefix) ")" } }
                            input id="wd-otp" type="text" name="otp" inputmode="numeric" autocomplete="one-time-code" required;
                            label for="wd-pin" { "Transaction PIN" }
                            input id="wd-pin" type="password" name="pin" inputmode="numeric" required autocomplete="off";
                            button type="submit" { "Withdraw" }
                        }
                    } @else {
                        form.stack method="post" action="/portal/funding/otp" {
                            (csrf(ctx))
                            label for="otp-pin" { "Transaction PIN" }
                            input id="otp-pin" type="password" name="pin" inputmode="numeric" required autocomplete="off";
                            button type="submit" { "Text me a withdrawal code" }
                        }
                    }
                }
            }
            h2 { @if a.pin_digest.is_some() { "Change the transaction PIN" } @else { "Set a transaction PIN" } }
            form.stack method="post" action="/portal/funding/pin" {
                (csrf(ctx))
                label for="pin-password" { "Your portal password" }
                input id="pin-password" type="password" name="password" required autocomplete="current-password";
                label for="pin-new" { "New PIN (4 to 6 digits)" }
                input id="pin-new" type="password" name="new_pin" inputmode="numeric" required autocomplete="off";
                button type="submit" { "Save PIN" }
            }
        },
    ))
}

/// `POST /portal/funding/deposit`: the API's `deposit` → a Hubtel paylink.
pub async fn deposit(app: &App, ctx: &Ctx, r: &Req) -> Result<Page, PortalError> {
    let fields = [("amount", r.field("amount"))];
    let v = match run_action(app, ctx, &fields, |api, c, p| async move {
        kobo_api::actions::account::deposit(api, &c, &p).await
    })
    .await?
    {
        Ok(v) => v,
        Err(shown) => return funding(app, ctx, r, shown).await,
    };
    let url = json_str(&v, "paylink_url");
    let extra = html! {
        section id="deposit-result" class="notice ok" role="status" {
            p { "Deposit " code { (json_str(&v, "deposit_id")) } " of ₦" (json_str(&v, "amount")) ": " (json_str(&v, "status")) "." }
            @if url.starts_with("https://") || url.starts_with("http://") { p { a href=(url) rel="noopener" { "Pay with Hubtel" } } }
            @else { p { "The payment link is on its way; check History in a minute." } }
        }
    };
    funding_page(ctx, &Req::blank(), None, None, extra)
}

/// `POST /portal/funding/otp`: the API's `withdraw_otp` (PIN first).
pub async fn withdraw_otp(app: &App, ctx: &Ctx, r: &Req) -> Result<Page, PortalError> {
    let fields = [("pin", r.form.get("pin").unwrap_or(""))];
    let v = match run_action(app, ctx, &fields, |api, c, p| async move {
        kobo_api::actions::account::withdraw_otp(api, &c, &p).await
    })
    .await?
    {
        Ok(v) => v,
        Err(shown) => return funding(app, ctx, &Req::blank(), shown).await,
    };
    let shown = Shown::ok("A code is on its way to your payout phone.");
    funding_page(ctx, &Req::blank(), shown, Some((json_str(&v, "otp_id"), json_str(&v, "prefix"))), html! {})
}

/// `POST /portal/funding/withdraw`: the API's `withdraw` (PIN and code).
pub async fn withdraw(app: &App, ctx: &Ctx, r: &Req) -> Result<Page, PortalError> {
    let fields = [
        ("amount", r.field("amount")),
        ("otp_id", r.field("otp_id")),
        ("otp", r.field("otp")),
        ("pin", r.form.get("pin").unwrap_or("")),
    ];
    let v = match run_action(app, ctx, &fields, |api, c, p| async move {
        kobo_api::actions::account::withdraw(api, &c, &p).await
    })
    .await?
    {
        Ok(v) => v,
        Err(shown) => return funding(app, ctx, &Req::blank(), shown).await,
    };
    let text = format!(
        "Withdrawal {} of ₦{} is {}: it waits for an operator's approval. Balance now ₦{}.",
        json_str(&v, "withdrawal_id"),
        json_str(&v, "amount"),
        json_str(&v, "status"),
        json_str(&v, "balance")
    );
    funding_page(ctx, &Req::blank(), Shown::ok(text), None, html! {})
}

/// `POST /portal/funding/pin`: sets or changes the transaction PIN (the password again).
pub async fn set_pin(app: &App, ctx: &Ctx, r: &Req) -> Result<Page, PortalError> {
    crate::auth::limit_pin(app, &ctx.account.id).await?;
    let email = ctx.account.email.clone().unwrap_or_default();
    if !crate::auth::password_matches(app, &email, r.form.get("password").unwrap_or("")).await? {
        return funding(app, ctx, &Req::blank(), Shown::refused(422, "That password is wrong.")).await;
    }
    let pepper = app.api.keys.pin_pepper.get().await.map_err(vault_err)?;
    match accounts::set_pin(app.store(), &pepper, &ctx.account.id, r.form.get("new_pin").unwrap_or("")).await {
        Ok(()) => Ok(Page::redirect("/portal/funding?done=pin")),
        Err(e) => funding(app, ctx, &Req::blank(), ops_refusal(e)?).await,
    }
}
