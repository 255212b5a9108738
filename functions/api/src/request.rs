//! Reading `POST /api/v1`: the body (form or JSON), the key, the origin and the source IP.
//! Every malformed input becomes a clear 4xx [`ApiError`], never a panic.

use std::collections::BTreeMap;
use std::net::IpAddr;

use kobo_shared::ApiError;
use lambda_http::http::{HeaderMap, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use percent_encoding::percent_decode;

/// Most fields a body may have.
const MAX_FIELDS: usize = 64;
/// Longest field name.
const MAX_NAME_LEN: usize = 64;

/// The request's fields by name. Each name appears once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// A field's value, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A field that must be present and non-empty.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name).map(str::trim) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::field(name, "is required")),
        }
    }

    fn insert(&mut self, name: String, value: String) -> Result<(), ApiError> {
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(ApiError::Validation(format!("field names must be 1 to {MAX_NAME_LEN} characters")));
        }
        if self.0.len() >= MAX_FIELDS {
            return Err(ApiError::Validation(format!("too many fields: at most {MAX_FIELDS}")));
        }
        if self.0.contains_key(&name) {
            return Err(ApiError::Validation(format!("field {name} is repeated; send it once")));
        }
        self.0.insert(name, value);
        Ok(())
    }
}

/// Everything the API needs from one HTTP request.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// The body's fields.
    pub params: Params,
    /// The API key: `X-API-KEY` header, else `key=` in the body.
    pub key: Option<String>,
    /// Origin by precedence: `X-API-ORIGIN`, `Origin`, `origin=`, `domain=`.
    pub origin: Option<String>,
    /// The caller's address as API Gateway saw it.
    pub source_ip: Option<IpAddr>,
    /// `Idempotency-Key` header, else `request_id=` in the body.
    pub idempotency_key: Option<String>,
    /// API Gateway's request id, for logs.
    pub request_id: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// Parses an HTTP request into an [`ApiRequest`].
pub fn parse(req: &Request, max_body: usize) -> Result<ApiRequest, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if bytes.len() > max_body {
        return Err(ApiError::BodyTooLarge(max_body));
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| ApiError::Validation("request body is not valid UTF-8".into()))?;
    let headers = req.headers();
    let content_type = header(headers, "content-type").unwrap_or("").to_ascii_lowercase();
    let params = if content_type.starts_with("application/json") || text.trim_start().starts_with('{') {
        parse_json(text)?
    } else {
        parse_form(text)?
    };

    let key = header(headers, "x-api-key")
        .map(str::to_string)
        .or_else(|| params.get("key").map(|k| k.trim().to_string()).filter(|k| !k.is_empty()));
    let origin = header(headers, "x-api-origin")
        .or_else(|| header(headers, "origin"))
        .or_else(|| params.get("origin"))
        .or_else(|| params.get("domain"))
        .map(|o| o.trim().to_string())
        .filter(|o| !o.is_empty());
    let idempotency_key = header(headers, "idempotency-key").or_else(|| params.get("request_id")).map(str::to_string);
    let (source_ip, request_id) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            (ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()), ctx.request_id.clone())
        }
        _ => (None, None),
    };
    Ok(ApiRequest { params, key, origin, source_ip, idempotency_key, request_id })
}

/// `application/x-www-form-urlencoded`: `+` is a space, `%XX` must decode to UTF-8.
pub fn parse_form(text: &str) -> Result<Params, ApiError> {
    let mut params = Params::default();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode(s.replace('+', " ").as_bytes())
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| ApiError::Validation("request body has a field that is not valid UTF-8".into()))
        };
        params.insert(decode(name)?, decode(value)?)?;
    }
    Ok(params)
}

/// A JSON object body. Strings are taken as they are, numbers and booleans as their JSON
/// text, arrays and objects (such as `orders`) as compact JSON; `null` is absent. A key
/// given twice is refused, as in a form body.
pub fn parse_json(text: &str) -> Result<Params, ApiError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let params = serde::Deserializer::deserialize_any(&mut de, ObjectVisitor).map_err(json_error)?;
    de.end().map_err(json_error)?;
    params
}

fn json_error(e: serde_json::Error) -> ApiError {
    ApiError::Validation(format!("request body is not valid JSON: {e}"))
}

/// Reads a JSON object entry by entry, so repeated keys are seen.
struct ObjectVisitor;

impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
    type Value = Result<Params, ApiError>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut params = Params::default();
        while let Some((name, value)) = map.next_entry::<String, serde_json::Value>()? {
            let text = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            if let Err(e) = params.insert(name, text) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(params))
    }
}

impl Params {
    /// Every field in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether no field was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies() {
        let p = parse_form("action=add&link=https%3A%2F%2Fx.ng%2Fa+b&quantity=1000&empty=").unwrap_or_default();
        assert_eq!(p.get("action"), Some("add"));
        assert_eq!(p.get("link"), Some("https://x.ng/a b"));
        assert_eq!(p.get("empty"), Some(""));
        assert_eq!(p.require("empty"), Err(ApiError::field("empty", "is required")));
        assert!(parse_form("a=1&a=2").is_err());
        assert!(parse_form("a=%FF").is_err());
        assert!(parse_form("=1").is_err());
        let many: Vec<String> = (0..100).map(|i| format!("f{i}=1")).collect();
        assert!(parse_form(&many.join("&")).is_err());
    }

    #[test]
    fn json_bodies() {
        let p = parse_json(r#"{"action":"add_bulk","orders":[{"service":1}],"n":5,"x":null}"#).unwrap_or_default();
        assert_eq!(p.get("orders"), Some(r#"[{"service":1}]"#));
        assert_eq!(p.get("n"), Some("5"));
        assert_eq!(p.get("x"), None);
        assert!(parse_json("[1,2]").is_err());
        assert!(parse_json(r#"{"a":1,"a":2}"#).is_err());
        assert!(parse_json(r#"{"a":1} x"#).is_err());
        assert!(parse_json("{").is_err());
    }
}
