//! HTTP at the portal's edge: the request as the pages need it, the page as a response
//! (security headers, the session cookie), and the CSRF and Origin checks.

use kobo_api::request::{parse_form, Params};
use kobo_shared::domain::portal::Session;
use lambda_http::http::{HeaderMap, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::PortalError;

/// Largest form body the portal reads.
pub const MAX_FORM_BYTES: usize = 32 * 1024;

/// The session cookie's name with `Secure` (the `__Host-` prefix pins it to this host and
/// path `/`, over https only).
pub const SECURE_COOKIE: &str = "__Host-kobo_session";
/// The session cookie's name on the local stack's plain http (no prefix, no `Secure`).
pub const LOCAL_COOKIE: &str = "kobo_session";

/// The strict Content-Security-Policy of every page: no inline script or style.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// One request as the pages read it.
#[derive(Debug)]
pub struct Req {
    /// GET, POST, ...
    pub method: Method,
    /// The path.
    pub path: String,
    /// Query string fields.
    pub query: Params,
    /// Form fields (POST).
    pub form: Params,
    /// The session cookie's value.
    pub cookie: Option<String>,
    /// `Origin`, else `Referer`.
    pub origin: Option<String>,
    /// `Host`.
    pub host: Option<String>,
    /// The caller's address as API Gateway saw it.
    pub ip: String,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn cookie_value(h: &HeaderMap) -> Option<String> {
    let mut found = None;
    for line in h.get_all("cookie").iter().filter_map(|v| v.to_str().ok()) {
        for pair in line.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                if name == SECURE_COOKIE || (name == LOCAL_COOKIE && found.is_none()) {
                    found = Some(value.trim().to_string());
                }
            }
        }
    }
    found
}

impl Req {
    /// Reads a request; `None` for a body that is too large or not UTF-8 form data.
    pub fn parse(req: &Request) -> Option<Req> {
        let h = req.headers();
        let query = parse_form(req.uri().query().unwrap_or("")).ok()?;
        let form = if req.method() == Method::POST {
            let bytes: &[u8] = match req.body() {
                Body::Text(t) => t.as_bytes(),
                Body::Binary(b) => b,
                _ => &[],
            };
            if bytes.len() > MAX_FORM_BYTES {
                return None;
            }
            parse_form(std::str::from_utf8(bytes).ok()?).ok()?
        } else {
            Params::default()
        };
        let ip = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
            _ => None,
        };
        Some(Req {
            method: req.method().clone(),
            path: req.uri().path().to_string(),
            query,
            form,
            cookie: cookie_value(h),
            origin: header(h, "origin").or_else(|| header(h, "referer")).map(str::to_string),
            host: header(h, "x-forwarded-host").or_else(|| header(h, "host")).map(str::to_string),
            ip: ip.unwrap_or_else(|| "unknown".into()),
        })
    }

    /// An empty GET request: a page rendered after a form, without the form's values.
    pub fn blank() -> Req {
        Req {
            method: Method::GET,
            path: String::new(),
            query: Params::default(),
            form: Params::default(),
            cookie: None,
            origin: None,
            host: None,
            ip: String::new(),
        }
    }

    /// A form field, trimmed ("" when absent).
    pub fn field(&self, name: &str) -> &str {
        self.form.get(name).map(str::trim).unwrap_or("")
    }

    /// A query field, trimmed ("" when absent).
    pub fn q(&self, name: &str) -> &str {
        self.query.get(name).map(str::trim).unwrap_or("")
    }
}

/// A state-changing request must come from this site: its `Origin` (or `Referer`) names
/// the host it was sent to.
pub fn check_origin(r: &Req) -> Result<(), PortalError> {
    let (Some(origin), Some(host)) = (&r.origin, &r.host) else { return Err(PortalError::Forbidden) };
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    let origin_host = rest.map(|r| r.split('/').next().unwrap_or(""));
    if origin_host == Some(host.as_str()) {
        Ok(())
    } else {
        Err(PortalError::Forbidden)
    }
}

/// A state-changing request of a session must carry its CSRF token.
pub fn check_csrf(r: &Req, session: &Session) -> Result<(), PortalError> {
    let given = r.field("csrf").as_bytes();
    let want = session.csrf.as_bytes();
    // Compared in constant time over the token's length.
    let same = given.len() == want.len() && given.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same {
        Ok(())
    } else {
        Err(PortalError::Forbidden)
    }
}

/// What happens to the session cookie with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieOp {
    /// Nothing.
    Keep,
    /// Set to this value (sign-in).
    Set(String),
    /// Removed (sign-out, expired).
    Clear,
}

/// A response of the portal.
#[derive(Debug)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: String,
    /// Its content type.
    pub content_type: &'static str,
    /// Where a redirect goes.
    pub location: Option<String>,
    /// The session cookie.
    pub cookie: CookieOp,
    /// `Retry-After`, for 429 and 503.
    pub retry_after: Option<u64>,
    /// Whether it may be cached (static assets).
    pub cacheable: bool,
}

impl Page {
    /// An HTML page.
    pub fn html(status: u16, markup: maud::Markup) -> Page {
        Page {
            status,
            body: markup.into_string(),
            content_type: "text/html; charset=utf-8",
            location: None,
            cookie: CookieOp::Keep,
            retry_after: None,
            cacheable: false,
        }
    }

    /// A 303 to `to` (after a form, or to the sign-in page).
    pub fn redirect(to: &str) -> Page {
        Page { status: 303, location: Some(to.to_string()), ..Page::html(303, maud::html! {}) }
    }

    /// A static asset.
    pub fn asset(content_type: &'static str, body: &str) -> Page {
        Page { content_type, cacheable: true, body: body.to_string(), ..Page::html(200, maud::html! {}) }
    }

    /// This page, setting the session cookie.
    pub fn set_session(mut self, value: String) -> Page {
        self.cookie = CookieOp::Set(value);
        self
    }

    /// This page, removing the session cookie.
    pub fn clear_session(mut self) -> Page {
        self.cookie = CookieOp::Clear;
        self
    }

    /// 400 for a body that cannot be read.
    pub fn bad_request() -> Page {
        crate::views::message_page(400, "Bad request", "The form could not be read. Go back and try again.")
    }

    /// The page of an error.
    pub fn error(e: &PortalError) -> Page {
        match e {
            PortalError::NotFound => crate::views::message_page(404, "Not found", "There is nothing here."),
            PortalError::Forbidden => crate::views::message_page(
                403,
                "Form expired",
                "This form expired or came from another site. Reload the page and try again.",
            ),
            PortalError::RateLimited(after) => Page {
                retry_after: Some(*after),
                ..crate::views::message_page(
                    429,
                    "Too many attempts",
                    &format!("Too many attempts. Wait {after} seconds and try again."),
                )
            },
            PortalError::Uncertain => Page {
                retry_after: Some(5),
                ..crate::views::message_page(
                    503,
                    "Not sure it was saved",
                    "kobo could not confirm whether this change was saved. Look at the page again before repeating it.",
                )
            },
            PortalError::Unavailable => Page {
                retry_after: Some(5),
                ..crate::views::message_page(
                    503,
                    "Temporarily unavailable",
                    "Something kobo depends on is unavailable. Nothing was changed; try again in a moment.",
                )
            },
        }
    }

    /// The HTTP response, with the security headers of every page.
    pub fn into_response(self, secure: bool) -> Response<Body> {
        let mut b = Response::builder()
            .status(self.status)
            .header("content-type", self.content_type)
            .header("content-security-policy", CSP)
            .header("x-content-type-options", "nosniff")
            .header("x-frame-options", "DENY")
            .header("referrer-policy", "same-origin")
            .header("cache-control", if self.cacheable { "public, max-age=3600" } else { "no-store" });
        if secure {
            b = b.header("strict-transport-security", "max-age=31536000");
        }
        if let Some(l) = &self.location {
            b = b.header("location", l.as_str());
        }
        if let Some(s) = self.retry_after {
            b = b.header("retry-after", s.to_string());
        }
        let (name, attrs) = if secure { (SECURE_COOKIE, "; Secure") } else { (LOCAL_COOKIE, "") };
        match &self.cookie {
            CookieOp::Keep => {}
            CookieOp::Set(v) => {
                let max_age = kobo_shared::domain::portal::SESSION_ABSOLUTE_SECS;
                b = b.header(
                    "set-cookie",
                    format!("{name}={v}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{attrs}"),
                );
            }
            CookieOp::Clear => {
                b = b.header("set-cookie", format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{attrs}"));
            }
        }
        b.body(Body::Text(self.body)).unwrap_or_else(|_| Response::new(Body::Empty))
    }
}
