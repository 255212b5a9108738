//! Talking to the API: HTTP clients from chosen loopback addresses, the reseller's
//! [`ApiClient`], gateway events for calling the handler directly, and latency figures.

use std::net::IpAddr;

use kobo_shared::{Action, Kobo};
use serde_json::Value;

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
    lambda_http::request::from_str(&event).expect("the gateway event is an API Gateway request lambda_http accepts")
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
///
/// One method per action of [`Action`], each sending that action's fields in the order the
/// seed documents them and answering the status and JSON body; [`ApiClient::call`] sends
/// any fields as they stand, for requests a typed method cannot make (malformed input,
/// extra fields such as `request_id`).
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    url: String,
    key: String,
    idempotency_key: Option<String>,
}

impl ApiClient {
    /// A client for `key` on stack `s`.
    pub fn new(s: &Stack, key: &str) -> ApiClient {
        ApiClient {
            http: client_from(fresh_source_ip()),
            url: s.api_url.clone(),
            key: key.to_string(),
            idempotency_key: None,
        }
    }

    /// The same reseller, from the same address, sending `Idempotency-Key: key` with every
    /// request.
    pub fn with_idempotency_key(&self, key: &str) -> ApiClient {
        ApiClient { idempotency_key: Some(key.to_string()), ..self.clone() }
    }

    /// The API key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// POSTs `fields` (plus the key) as a form; the status and JSON answer.
    pub async fn call(&self, fields: &[(&str, &str)]) -> (u16, Value) {
        self.call_with_headers(fields, &[]).await
    }

    /// [`ApiClient::call`], with the answer's `Retry-After` header too.
    pub async fn call_answer(&self, fields: &[(&str, &str)]) -> (u16, Option<String>, Value) {
        let mut form: Vec<(&str, &str)> = vec![("key", self.key.as_str())];
        form.extend_from_slice(fields);
        let mut req = self.http.post(&self.url).form(&form);
        if let Some(k) = &self.idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("POST {} failed: {e}", self.url));
        let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let (status, v) = json_of(r).await;
        (status, retry_after, v)
    }

    /// [`ApiClient::call`] with extra request headers.
    pub async fn call_with_headers(&self, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> (u16, Value) {
        let mut form: Vec<(&str, &str)> = vec![("key", self.key.as_str())];
        form.extend_from_slice(fields);
        let mut req = self.http.post(&self.url).form(&form);
        if let Some(k) = &self.idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        json_of(req.send().await.unwrap_or_else(|e| panic!("POST {} failed: {e}", self.url))).await
    }

    /// `action=<action>` and its fields.
    async fn act(&self, action: Action, fields: &[(&str, &str)]) -> (u16, Value) {
        let mut form = vec![("action", action.as_str())];
        form.extend_from_slice(fields);
        self.call(&form).await
    }

    // Account: balance, deposits, withdrawals.

    /// `balance`: the answer as it stands.
    pub async fn balance_answer(&self) -> (u16, Value) {
        self.act(Action::Balance, &[]).await
    }

    /// The wallet balance (`-0.01` if unreadable, so comparisons fail loudly).
    pub async fn balance(&self) -> Kobo {
        let (_, v) = self.balance_answer().await;
        Kobo::parse_naira(v["balance"].as_str().unwrap_or_default()).unwrap_or(Kobo::new(-1))
    }

    /// `deposit` of `amount` naira (`"2500.50"`).
    pub async fn deposit(&self, amount: &str) -> (u16, Value) {
        self.act(Action::Deposit, &[("amount", amount)]).await
    }

    /// `deposit_status` of one deposit.
    pub async fn deposit_status(&self, deposit_id: &str) -> (u16, Value) {
        self.act(Action::DepositStatus, &[("deposit_id", deposit_id)]).await
    }

    /// `withdraw_otp`: an OTP by SMS to the payout phone (`phone` must name it).
    pub async fn withdraw_otp(&self, phone: &str, pin: &str) -> (u16, Value) {
        self.act(Action::WithdrawOtp, &[("phone", phone), ("pin", pin)]).await
    }

    /// `withdraw` of `amount` naira to `phone`, with the PIN and the OTP from `withdraw_otp`.
    pub async fn withdraw(&self, amount: &str, phone: &str, pin: &str, otp_id: &str, otp: &str) -> (u16, Value) {
        self.act(
            Action::Withdraw,
            &[("amount", amount), ("phone", phone), ("pin", pin), ("otp_id", otp_id), ("otp", otp)],
        )
        .await
    }

    /// `withdrawal_status` of one withdrawal.
    pub async fn withdrawal_status(&self, withdrawal_id: &str) -> (u16, Value) {
        self.act(Action::WithdrawalStatus, &[("withdrawal_id", withdrawal_id)]).await
    }

    // SMM: the panel API v2 actions.

    /// `services`: the catalog at this reseller's rates.
    pub async fn services(&self) -> (u16, Value) {
        self.act(Action::Services, &[]).await
    }

    /// `add`: one order of `quantity` of `service` for `link`.
    pub async fn add(&self, service: u64, link: &str, quantity: u64) -> (u16, Value) {
        let (service, quantity) = (service.to_string(), quantity.to_string());
        self.act(Action::Add, &[("service", &service), ("link", link), ("quantity", &quantity)]).await
    }

    /// `add_bulk`: `orders`, a JSON array of orders, sent as its JSON text.
    pub async fn add_bulk(&self, orders: &Value) -> (u16, Value) {
        self.act(Action::AddBulk, &[("orders", &orders.to_string())]).await
    }

    /// `status` of one order.
    pub async fn status(&self, order: u64) -> (u16, Value) {
        self.act(Action::Status, &[("order", &order.to_string())]).await
    }

    /// `status` of several orders (`orders=1,2,3`).
    pub async fn multi_status(&self, orders: &[u64]) -> (u16, Value) {
        self.act(Action::Status, &[("orders", &id_list(orders))]).await
    }

    /// `refill` of one order.
    pub async fn refill(&self, order: u64) -> (u16, Value) {
        self.act(Action::Refill, &[("order", &order.to_string())]).await
    }

    /// `refill_status` of one refill.
    pub async fn refill_status(&self, refill: &str) -> (u16, Value) {
        self.act(Action::RefillStatus, &[("refill", refill)]).await
    }

    /// `refill_status` of several refills (`refills=1,2`).
    pub async fn multi_refill_status(&self, refills: &[&str]) -> (u16, Value) {
        self.act(Action::RefillStatus, &[("refills", &refills.join(","))]).await
    }

    /// `cancel` of several orders (`orders=1,2,3`).
    pub async fn cancel(&self, orders: &[u64]) -> (u16, Value) {
        self.act(Action::Cancel, &[("orders", &id_list(orders))]).await
    }

    // VTU: catalog, verification, the seven purchases, status.

    /// `vtu_data_plans` of a data service (`mtn-data`).
    pub async fn vtu_data_plans(&self, service_id: &str) -> (u16, Value) {
        self.act(Action::VtuDataPlans, &[("service_id", service_id)]).await
    }

    /// `vtu_sme_plans` of a network (`mtn`).
    pub async fn vtu_sme_plans(&self, network: &str) -> (u16, Value) {
        self.act(Action::VtuSmePlans, &[("network", network)]).await
    }

    /// `vtu_cable_plans` of a cable service (`dstv`).
    pub async fn vtu_cable_plans(&self, service_id: &str) -> (u16, Value) {
        self.act(Action::VtuCablePlans, &[("service_id", service_id)]).await
    }

    /// `vtu_electric_discos`: the electricity companies.
    pub async fn vtu_electric_discos(&self) -> (u16, Value) {
        self.act(Action::VtuElectricDiscos, &[]).await
    }

    /// `vtu_cable_verify`: the customer behind a smartcard or IUC number.
    pub async fn vtu_cable_verify(&self, service_id: &str, customer_id: &str) -> (u16, Value) {
        self.act(Action::VtuCableVerify, &[("service_id", service_id), ("customer_id", customer_id)]).await
    }

    /// `vtu_electricity_verify`: the customer behind a meter (`prepaid` or `postpaid`).
    pub async fn vtu_electricity_verify(
        &self,
        service_name: &str,
        meter_type: &str,
        meter_number: &str,
    ) -> (u16, Value) {
        self.act(
            Action::VtuElectricityVerify,
            &[("service_name", service_name), ("meter_type", meter_type), ("meter_number", meter_number)],
        )
        .await
    }

    /// `vtu_airtime` of `amount` naira on network `service_name` to `phone`.
    pub async fn vtu_airtime(&self, service_name: &str, phone: &str, amount: &str, pin: &str) -> (u16, Value) {
        self.act(
            Action::VtuAirtime,
            &[("service_name", service_name), ("phone", phone), ("amount", amount), ("pin", pin)],
        )
        .await
    }

    /// `vtu_data`: data plan `plan_id` to `phone`.
    pub async fn vtu_data(&self, plan_id: u64, phone: &str, pin: &str) -> (u16, Value) {
        self.act(Action::VtuData, &[("plan_id", &plan_id.to_string()), ("phone", phone), ("pin", pin)]).await
    }

    /// `vtu_sme`: SME data plan `plan_id` to `phone`.
    pub async fn vtu_sme(&self, plan_id: u64, phone: &str, pin: &str) -> (u16, Value) {
        self.act(Action::VtuSme, &[("plan_id", &plan_id.to_string()), ("phone", phone), ("pin", pin)]).await
    }

    /// `vtu_cable`: cable plan `plan_id` for smartcard `customer_id`.
    pub async fn vtu_cable(&self, plan_id: u64, customer_id: &str, phone: &str, pin: &str) -> (u16, Value) {
        let plan_id = plan_id.to_string();
        self.act(
            Action::VtuCable,
            &[("plan_id", &plan_id), ("customer_id", customer_id), ("phone", phone), ("pin", pin)],
        )
        .await
    }

    /// `vtu_electricity`: `amount` naira of power from disco `service_name` for a meter.
    pub async fn vtu_electricity(
        &self,
        service_name: &str,
        meter_type: &str,
        meter_number: &str,
        phone: &str,
        amount: &str,
        pin: &str,
    ) -> (u16, Value) {
        self.act(
            Action::VtuElectricity,
            &[
                ("service_name", service_name),
                ("meter_type", meter_type),
                ("meter_number", meter_number),
                ("phone", phone),
                ("amount", amount),
                ("pin", pin),
            ],
        )
        .await
    }

    /// `vtu_education`: exam PINs worth `amount` naira.
    pub async fn vtu_education(&self, phone: &str, amount: &str, pin: &str) -> (u16, Value) {
        self.act(Action::VtuEducation, &[("phone", phone), ("amount", amount), ("pin", pin)]).await
    }

    /// `vtu_recharge_card`: `quantity` printed cards of `value` naira on `card_network`.
    pub async fn vtu_recharge_card(&self, card_network: &str, value: &str, quantity: u32, pin: &str) -> (u16, Value) {
        let quantity = quantity.to_string();
        self.act(
            Action::VtuRechargeCard,
            &[("card_network", card_network), ("value", value), ("quantity", &quantity), ("pin", pin)],
        )
        .await
    }

    /// `vtu_status` of one transaction.
    pub async fn vtu_status(&self, trx: &str) -> (u16, Value) {
        self.act(Action::VtuStatus, &[("trx", trx)]).await
    }

    /// `vtu_status` by the `request_id` the purchase was made with.
    pub async fn vtu_status_by_request(&self, request_id: &str) -> (u16, Value) {
        self.act(Action::VtuStatus, &[("request_id", request_id)]).await
    }

    /// `vtu_airtime_networks`, quoting `amount` naira when given.
    pub async fn vtu_airtime_networks(&self, amount: Option<&str>) -> (u16, Value) {
        self.act(Action::VtuAirtimeNetworks, &amount.map(|a| vec![("amount", a)]).unwrap_or_default()).await
    }

    /// `vtu_education_products`: the exams and one PIN's price.
    pub async fn vtu_education_products(&self) -> (u16, Value) {
        self.act(Action::VtuEducationProducts, &[]).await
    }

    /// `vtu_recharge_card_networks`: networks and their denominations.
    pub async fn vtu_recharge_card_networks(&self) -> (u16, Value) {
        self.act(Action::VtuRechargeCardNetworks, &[]).await
    }

    /// `vtu_education_verify`: an exam candidate's profile.
    pub async fn vtu_education_verify(&self, exam: &str, profile_id: &str) -> (u16, Value) {
        self.act(Action::VtuEducationVerify, &[("exam", exam), ("profile_id", profile_id)]).await
    }
}

/// `1,2,3`.
fn id_list(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}
