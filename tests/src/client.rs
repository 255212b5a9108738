//! Talking to the API: HTTP clients from chosen loopback addresses, the reseller's
//! [`ApiClient`], gateway events for calling the handler directly, and latency figures.

use std::net::IpAddr;

use crate::stack::Stack;

/// An HTTP client whose requests come from `source` (any 127.x.y.z address works on
/// loopback), so per-IP limits and whitelists can be tested without interference.
pub fn client_from(source: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("building an HTTP client: {e}"))
}

/// A fresh loopback source address for one test: 127.<a>.<b>.<c> from a random draw.
pub fn fresh_source_ip() -> IpAddr {
    let n: u32 = rand::random::<u32>() % (1 << 24);
    IpAddr::from([127, (n >> 16) as u8, (n >> 8) as u8, n as u8 | 1])
}

/// A response's status and JSON body.
pub async fn json_of(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({ "__raw": text }));
    (status, body)
}

/// An API Gateway v2 request to `POST /api/v1` with a form body, from `source_ip`, as
/// the local gateway builds it.
pub fn api_request(body: &str, headers: &[(&str, &str)], source_ip: &str) -> lambda_http::Request {
    let route =
        kobo_cli::template::Route { method: "POST".into(), path: "/api/v1".into(), function: "ApiFunction".into() };
    let mut map = lambda_http::http::HeaderMap::new();
    map.insert("content-type", lambda_http::http::HeaderValue::from_static("application/x-www-form-urlencoded"));
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) =
            (lambda_http::http::HeaderName::from_bytes(k.as_bytes()), lambda_http::http::HeaderValue::from_str(v))
        {
            map.insert(k, v);
        }
    }
    let event =
        kobo_cli::devstack::server::gateway_event(&route, "POST", "/api/v1", "", &map, source_ip, body.as_bytes());
    lambda_http::request::from_str(&event).unwrap_or_else(|e| panic!("{e}"))
}

/// Percentile (0..=100) of sorted durations, in milliseconds.
pub fn percentile_ms(sorted: &[std::time::Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) * p) / 100;
    sorted[i].as_secs_f64() * 1000.0
}

/// A reseller's HTTP client for the stack's API, from its own loopback address, sending
/// the key in the body as stock SMM panel clients do.
pub struct ApiClient {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl ApiClient {
    /// A client for `key` on stack `s`.
    pub fn new(s: &Stack, key: &str) -> ApiClient {
        ApiClient { http: client_from(fresh_source_ip()), url: s.api_url.clone(), key: key.to_string() }
    }

    /// The API key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// POSTs `fields` (plus the key) as a form; the status and JSON answer.
    pub async fn call(&self, fields: &[(&str, &str)]) -> (u16, serde_json::Value) {
        self.call_with_headers(fields, &[]).await
    }

    /// [`ApiClient::call`] with extra request headers.
    pub async fn call_with_headers(
        &self,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let mut form: Vec<(&str, &str)> = vec![("key", self.key.as_str())];
        form.extend_from_slice(fields);
        let mut req = self.http.post(&self.url).form(&form);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        json_of(req.send().await.unwrap_or_else(|e| panic!("{e}"))).await
    }

    /// The wallet balance (`-0.01` if unreadable, so comparisons fail loudly).
    pub async fn balance(&self) -> kobo_shared::Kobo {
        let (_, v) = self.call(&[("action", "balance")]).await;
        kobo_shared::Kobo::parse_naira(v["balance"].as_str().unwrap_or_default()).unwrap_or(kobo_shared::Kobo(-1))
    }
}
