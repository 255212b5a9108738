//! The SMM panel API v2 client (the API every SMM panel speaks): one URL, form bodies,
//! `key` and `action` fields.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{classify, UpstreamError};

/// A service as the upstream panel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamService {
    /// Upstream service id.
    pub service: String,
    /// Name.
    pub name: String,
    /// Type.
    pub kind: String,
    /// Category.
    pub category: String,
    /// Rate per 1000 as text (upstream currency).
    pub rate: String,
    /// Minimum quantity.
    pub min: u64,
    /// Maximum quantity.
    pub max: u64,
    /// Refill supported.
    pub refill: bool,
    /// Cancel supported.
    pub cancel: bool,
    /// Drip-feed supported.
    pub dripfeed: bool,
}

/// An order's state as the upstream panel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamStatus {
    /// Status word (`Pending`, `In progress`, `Completed`, `Partial`, `Canceled`, ...).
    pub status: String,
    /// Start count.
    pub start_count: u64,
    /// Remains, when the panel sent a count kobo can read (`None`: missing, `null` or
    /// not a number).
    pub remains: Option<u64>,
}

/// Client of one SMM panel.
#[derive(Debug, Clone)]
pub struct SmmClient {
    http: reqwest::Client,
    url: String,
    key: String,
}

/// A count as panels send it: `250`, `"250"`, `250.0`, `"250.00"` (a fraction is cut
/// off). `None` for anything else: `null`, `""`, words, negative or non-finite numbers.
fn num(v: &Value) -> Option<u64> {
    signed(v).filter(|x| *x >= 0).map(|x| x.unsigned_abs())
}

/// A status line's remains: a count as [`num`] reads it, where a negative count (panels
/// send it for over-delivery) is 0 left.
fn remains(v: &Value) -> Option<u64> {
    signed(v).map(|x| x.max(0).unsigned_abs())
}

fn signed(v: &Value) -> Option<i64> {
    let x = match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Some(i);
            }
            n.as_f64()?
        }
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (x.is_finite() && x.abs() < 1e15).then(|| x.trunc() as i64)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn flag(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_u64() == Some(1),
        Value::String(s) => matches!(s.as_str(), "1" | "true" | "yes"),
        _ => false,
    }
}

impl SmmClient {
    /// A client for `url` with API `key`; requests time out after `timeout`.
    pub fn new(url: impl Into<String>, key: impl Into<String>, timeout: Duration) -> Result<SmmClient, UpstreamError> {
        let http = super::http_client(timeout)?;
        Ok(SmmClient { http, url: url.into(), key: key.into() })
    }

    async fn call(&self, action: &str, fields: &[(&str, &str)]) -> Result<Value, UpstreamError> {
        let mut form: Vec<(&str, &str)> = vec![("key", self.key.as_str()), ("action", action)];
        form.extend_from_slice(fields);
        let resp = self.http.post(&self.url).form(&form).send().await.map_err(|e| classify(&e))?;
        let status = resp.status().as_u16();
        super::check_status(status)?;
        let body = resp.text().await.map_err(|e| UpstreamError::Ambiguous(e.to_string()))?;
        let v: Value = serde_json::from_str(&body)
            .map_err(|_| UpstreamError::Ambiguous(format!("upstream answered {status} with non-JSON")))?;
        if let Some(err) = v.get("error") {
            return Err(UpstreamError::Rejected(text(err)));
        }
        if status >= 400 {
            return Err(UpstreamError::Rejected(format!("upstream answered {status}")));
        }
        Ok(v)
    }
}

/// The SMM panel port: what kobo asks of an upstream SMM API v2 panel.
pub trait SmmPanel: Send + Sync {
    /// `action=services`.
    fn services(&self) -> impl std::future::Future<Output = Result<Vec<UpstreamService>, UpstreamError>> + Send;

    /// `action=add` with the order's fields (`link`, `quantity`, `comments`, ... as its
    /// type takes them): the upstream order id.
    fn add(
        &self,
        service: &str,
        fields: &[(String, String)],
    ) -> impl std::future::Future<Output = Result<String, UpstreamError>> + Send;

    /// `action=status&orders=a,b,c`: each id's status or error.
    fn statuses(
        &self,
        ids: &[String],
    ) -> impl std::future::Future<Output = Result<HashMap<String, Result<UpstreamStatus, String>>, UpstreamError>> + Send;

    /// `action=refill&order=id`: the upstream refill id.
    fn refill(&self, order: &str) -> impl std::future::Future<Output = Result<String, UpstreamError>> + Send;

    /// `action=refill_status&refill=id`: the status word.
    fn refill_status(&self, refill: &str) -> impl std::future::Future<Output = Result<String, UpstreamError>> + Send;

    /// `action=cancel&orders=a,b`: per upstream id, accepted or the error.
    fn cancel(
        &self,
        ids: &[String],
    ) -> impl std::future::Future<Output = Result<HashMap<String, Result<(), String>>, UpstreamError>> + Send;
}

impl SmmPanel for SmmClient {
    /// `action=services`.
    async fn services(&self) -> Result<Vec<UpstreamService>, UpstreamError> {
        let v = self.call("services", &[]).await?;
        let list = v.as_array().ok_or_else(|| UpstreamError::Ambiguous("services is not a list".into()))?;
        Ok(list
            .iter()
            .filter_map(|s| {
                Some(UpstreamService {
                    service: text(s.get("service")?),
                    name: text(s.get("name")?),
                    kind: s.get("type").map(text).unwrap_or_else(|| "Default".into()),
                    category: s.get("category").map(text).unwrap_or_default(),
                    rate: text(s.get("rate")?),
                    min: num(s.get("min")?)?,
                    max: num(s.get("max")?)?,
                    refill: s.get("refill").map(flag).unwrap_or(false),
                    cancel: s.get("cancel").map(flag).unwrap_or(false),
                    dripfeed: s.get("dripfeed").map(flag).unwrap_or(false),
                })
            })
            .collect())
    }

    /// `action=add`: the upstream order id.
    async fn add(&self, service: &str, fields: &[(String, String)]) -> Result<String, UpstreamError> {
        let mut form: Vec<(&str, &str)> = vec![("service", service)];
        form.extend(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let v = self.call("add", &form).await?;
        match v.get("order") {
            Some(id) if !text(id).is_empty() => Ok(text(id)),
            _ => Err(UpstreamError::Ambiguous("add answered without an order id".into())),
        }
    }

    /// `action=status&orders=a,b,c`: each id's status or error.
    async fn statuses(&self, ids: &[String]) -> Result<HashMap<String, Result<UpstreamStatus, String>>, UpstreamError> {
        let joined = ids.join(",");
        let v = self.call("status", &[("orders", &joined)]).await?;
        let map = v.as_object().ok_or_else(|| UpstreamError::Ambiguous("status is not an object".into()))?;
        Ok(map
            .iter()
            .map(|(id, s)| {
                let r = match s.get("error") {
                    Some(e) => Err(text(e)),
                    None => Ok(UpstreamStatus {
                        status: s.get("status").map(text).unwrap_or_default(),
                        start_count: s.get("start_count").and_then(num).unwrap_or(0),
                        remains: s.get("remains").and_then(remains),
                    }),
                };
                (id.clone(), r)
            })
            .collect())
    }

    /// `action=refill&order=id`: the upstream refill id.
    async fn refill(&self, order: &str) -> Result<String, UpstreamError> {
        let v = self.call("refill", &[("order", order)]).await?;
        match v.get("refill") {
            Some(id) if !text(id).is_empty() => Ok(text(id)),
            _ => Err(UpstreamError::Ambiguous("refill answered without a refill id".into())),
        }
    }

    /// `action=refill_status&refill=id`: the status word.
    async fn refill_status(&self, refill: &str) -> Result<String, UpstreamError> {
        let v = self.call("refill_status", &[("refill", refill)]).await?;
        Ok(v.get("status").map(text).unwrap_or_default())
    }

    /// `action=cancel&orders=a,b`: per upstream id, accepted or the error.
    async fn cancel(&self, ids: &[String]) -> Result<HashMap<String, Result<(), String>>, UpstreamError> {
        #[derive(Deserialize)]
        struct Row {
            order: Value,
            cancel: Value,
        }
        let joined = ids.join(",");
        let v = self.call("cancel", &[("orders", &joined)]).await?;
        let rows: Vec<Row> =
            serde_json::from_value(v).map_err(|e| UpstreamError::Ambiguous(format!("cancel answer: {e}")))?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let res = match r.cancel.get("error") {
                    Some(e) => Err(text(e)),
                    None => Ok(()),
                };
                (text(&r.order), res)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{num, remains};

    #[test]
    fn counts_in_the_forms_panels_send() {
        for v in [json!(250), json!("250"), json!(250.0), json!("250.00"), json!(" 250 "), json!(250.7)] {
            assert_eq!((num(&v), remains(&v)), (Some(250), Some(250)), "{v}");
        }
        assert_eq!((num(&json!(-3)), remains(&json!(-3))), (None, Some(0)), "over-delivered");
        assert_eq!(remains(&json!("-3.0")), Some(0));
        for v in [json!(null), json!(""), json!("n/a"), json!(true), json!([]), json!("1e30"), json!("NaN")] {
            assert_eq!((num(&v), remains(&v)), (None, None), "{v}");
        }
    }
}
