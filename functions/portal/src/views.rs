//! The pages' shared markup: the layout (balance and navigation on every page), forms,
//! amounts in naira, times in Africa/Lagos, and the static CSS and script.

use kobo_shared::domain::money::Kobo;
use maud::{html, Markup, DOCTYPE};

use crate::auth::Ctx;
use crate::web::Page;

/// The stylesheet (no inline styles anywhere).
pub const CSS: &str = include_str!("../static/app.css");
/// The only script: copy buttons and confirmations (forms work without it).
pub const JS: &str = include_str!("../static/app.js");

/// A static asset by name.
pub fn asset(name: &str) -> Page {
    match name {
        "app.css" => Page::asset("text/css; charset=utf-8", CSS),
        "app.js" => Page::asset("text/javascript; charset=utf-8", JS),
        _ => Page::error(&crate::PortalError::NotFound),
    }
}

/// An amount as the portal shows it: `₦1,234.50`.
pub fn naira(k: Kobo) -> String {
    let v = k.as_i64();
    let sign = if v < 0 { "-" } else { "" };
    let abs = v.unsigned_abs();
    let whole = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}₦{grouped}.{:02}", abs % 100)
}

/// Africa/Lagos: UTC+1 all year (no daylight saving), checked at compile time.
const LAGOS: chrono::FixedOffset = match chrono::FixedOffset::east_opt(3600) {
    Some(o) => o,
    None => panic!("UTC+1 is a valid offset"),
};

fn lagos() -> chrono::FixedOffset {
    LAGOS
}

/// An RFC 3339 time in Africa/Lagos: `2026-12-03 14:05 WAT`.
pub fn lagos_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t.with_timezone(&lagos()).format("%Y-%m-%d %H:%M:%S WAT").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// A unix time in Africa/Lagos.
pub fn lagos_unix(t: i64) -> String {
    match chrono::DateTime::from_timestamp(t, 0) {
        Some(t) => t.with_timezone(&lagos()).format("%Y-%m-%d %H:%M:%S WAT").to_string(),
        None => t.to_string(),
    }
}

/// The hidden CSRF field of a session's forms.
pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.session.csrf); }
}

/// A notice: `ok` (green) or an error (red), announced to screen readers.
pub fn notice(text: Option<&str>, ok: bool) -> Markup {
    html! {
        @if let Some(t) = text {
            p class=(if ok { "notice ok" } else { "notice err" }) role=(if ok { "status" } else { "alert" }) { (t) }
        }
    }
}

/// What a `done=` query word says after a form (fixed texts: nothing the URL carries is
/// shown).
pub fn done_text(word: &str) -> Option<&'static str> {
    Some(match word {
        "verified" => "Your phone is verified. It is now your payout phone.",
        "requested" => "Your request was sent and the price charged. You will get API access when it is approved.",
        "revoked" => "The key was revoked.",
        "saved" => "Saved.",
        "enabled" => "The endpoint is enabled.",
        "disabled" => "The endpoint is disabled.",
        "redelivered" => "The delivery was queued again.",
        "whitelisted" => "The IP was added to the key's whitelist.",
        "reset" => "Your password was changed and every session signed out. Sign in with the new password.",
        "signedout" => "You are signed out.",
        "pin" => "Your transaction PIN is saved.",
        _ => return None,
    })
}

/// The `<head>` of every page: the stylesheet and the one deferred script.
fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · kobo Developer Portal" }
            link rel="stylesheet" href="/portal/static/app.css";
            script src="/portal/static/app.js" defer {}
        }
    }
}

/// A page without a session (sign-in, sign-up, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header class="top" { a class="brand" href="/portal" { "kobo" } span { "Developer Portal" } }
                main id="main" { h1 { (title) } (body) }
            }
        }
    }
}

/// A signed-in page: balance and navigation on top.
pub fn layout(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    let nav = [
        ("/portal", "Dashboard"),
        ("/portal/access", "API access"),
        ("/portal/keys", "API keys"),
        ("/portal/webhooks", "Webhooks"),
        ("/portal/refused", "Refused requests"),
        ("/portal/history", "History"),
        ("/portal/funding", "Funding"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/portal" { "kobo" }
                    span class="who" { (ctx.account.name) }
                    span class="balance" id="balance" { "Balance " strong { (naira(ctx.account.balance)) } }
                    form method="post" action="/portal/signout" class="inline" {
                        (csrf(ctx)) button type="submit" class="link" { "Sign out" }
                    }
                }
                nav aria-label="Portal" {
                    ul { @for (href, label) in nav { li { a href=(href) { (label) } } } }
                }
                main id="main" { h1 { (title) } (body) }
            }
        }
    }
}

/// A short page with one message.
pub fn message_page(status: u16, title: &str, text: &str) -> Page {
    Page::html(status, bare(title, html! { p { (text) } p { a href="/portal" { "Back to the portal" } } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_times() {
        assert_eq!(naira(Kobo::new(123_456_789)), "₦1,234,567.89");
        assert_eq!(naira(Kobo::new(-5)), "-₦0.05");
        assert_eq!(naira(Kobo::new(100_000)), "₦1,000.00");
        assert_eq!(lagos_time("2026-12-03T23:30:00Z"), "2026-12-04 00:30:00 WAT");
        assert_eq!(lagos_unix(0), "1970-01-01 01:00:00 WAT");
    }
}
