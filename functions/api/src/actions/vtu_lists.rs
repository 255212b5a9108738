//! VTU discovery: what the seed's plan lists leave out, listed with the caller's price —
//! airtime networks (`vtu_airtime_networks`, with an optional `amount` to quote), exam
//! products (`vtu_education_products`) and recharge card networks with their
//! denominations (`vtu_recharge_card_networks`). Every price is computed by the same
//! function the purchase charges with, under the caller's plan discount.

use kobo_shared::domain::vtu::{Exam, VtuCategory};
use kobo_shared::{Action, ApiError, Kobo};
use lambda_http::{Body, Response};

use super::vtu::{discount, MAX_CARDS};
use super::Caller;
use crate::render::{self, CardNetworkRow, Denomination, ExamRow, FaceRow};
use crate::request::Params;
use crate::App;

/// Most denominations listed per network.
const MAX_DENOMINATIONS: usize = 20;

/// The face value to quote, when the request names one.
pub(crate) fn quoted(p: &Params) -> Result<Option<Kobo>, ApiError> {
    match p.get("amount").map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(raw) => Kobo::parse_naira(raw).map(Some).map_err(|e| ApiError::field("amount", e)),
    }
}

/// `vtu_airtime_networks`, `vtu_education_products`, `vtu_recharge_card_networks`.
pub async fn list(app: &App, caller: &Caller, action: Action, p: &Params) -> Result<Response<Body>, ApiError> {
    let quote = quoted(p)?;
    let cat = app.vtu_catalog(&caller.pre).await?;
    let faces = |category: VtuCategory| cat.faces.iter().filter(move |f| f.category == category);
    Ok(match action {
        Action::VtuAirtimeNetworks => {
            let d = discount(caller, VtuCategory::Airtime);
            let rows: Vec<FaceRow> = faces(VtuCategory::Airtime)
                .map(|f| FaceRow {
                    service_name: f.service.clone(),
                    name: f.name.clone(),
                    min_amount: f.min.to_string(),
                    max_amount: f.max.to_string(),
                    price_per_100: f.price(Kobo::naira(100), d).to_string(),
                    amount: quote.map(|a| a.to_string()),
                    price: quote.filter(|a| *a >= f.min && *a <= f.max).map(|a| f.price(a, d).to_string()),
                    currency: "NGN",
                })
                .collect();
            render::ok(&rows)
        }
        Action::VtuEducationProducts => {
            let d = discount(caller, VtuCategory::Education);
            let rows: Vec<ExamRow> = Exam::ALL
                .into_iter()
                .filter_map(|exam| cat.face(VtuCategory::Education, exam.as_str()).map(|f| (exam, f)))
                .map(|(exam, f)| ExamRow {
                    exam: exam.as_str(),
                    name: f.name.clone(),
                    price: f.price(f.step, d).to_string(),
                    face_value: f.step.to_string(),
                    max_quantity: exam.max_quantity(),
                    needs_profile: exam.needs_profile(),
                    currency: "NGN",
                })
                .collect();
            render::ok(&rows)
        }
        _ => {
            let d = discount(caller, VtuCategory::RechargeCard);
            let rows: Vec<CardNetworkRow> = faces(VtuCategory::RechargeCard)
                .map(|f| CardNetworkRow {
                    card_network: f.service.clone(),
                    name: f.name.clone(),
                    denominations: f
                        .denominations(MAX_DENOMINATIONS)
                        .into_iter()
                        .map(|v| Denomination { value: v.to_string(), price: f.price(v, d).to_string() })
                        .collect(),
                    max_quantity: MAX_CARDS,
                    currency: "NGN",
                })
                .collect();
            render::ok(&rows)
        }
    })
}
