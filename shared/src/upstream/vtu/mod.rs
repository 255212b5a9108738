//! The VTU providers kobo buys from, one file each, behind the port
//! [`TopupProvider`](crate::upstream::topup::TopupProvider): VTpass ([`vtpass`]) so far.
//! Every provider answer is put in one of five classes ([`Class`]) before anything
//! moves money.

pub mod vtpass;

/// What a provider's answer means for the money, whatever its wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Delivered.
    Success,
    /// Accepted and not final yet: a requery or a callback tells later.
    Pending,
    /// Definitely failed and not charged by the provider (or reversed to its wallet):
    /// refunded.
    Failed,
    /// May or may not have happened: never a refund; a requery decides.
    Ambiguous,
    /// Certainly not taken (the provider refused it before processing: low wallet
    /// balance, account or product not enabled, a malformed request id): safe to send
    /// to another provider, or later.
    NotSent,
}

use std::sync::Arc;

use super::topup::{Customer, TopupClient, TopupProvider, TopupRequest, TopupResult};
use super::UpstreamError;

/// How every adapter words a refusal for a low wallet at the provider (VTpass `018`), so
/// routing can pass that provider by until its float is read above its threshold again.
pub const LOW_BALANCE: &str = "low wallet balance";

/// Whether a provider's not-sent reason is a refusal for its low wallet.
pub fn is_low_balance(why: &str) -> bool {
    why.contains(LOW_BALANCE)
}

/// The VTU providers kobo can route to, by the name routes and purchases record.
pub const PROVIDERS: &[&str] = &["topup", "vtpass"];

/// The provider a purchase recorded before routing existed.
pub const DEFAULT_PROVIDER: &str = crate::domain::vtu::DEFAULT_VTU_PROVIDER;

/// The reference `provider` knows a purchase by: VTpass's Lagos-time `request_id` made at
/// `at` (unix seconds) for `trx`; for the others the trx itself.
pub fn reference_for(provider: &str, trx: &str, at: i64) -> String {
    match provider {
        "vtpass" => vtpass::request_id(chrono::DateTime::from_timestamp(at, 0).unwrap_or_default(), trx),
        _ => trx.to_string(),
    }
}

/// One of the providers' clients.
#[derive(Debug, Clone)]
pub enum AnyVtu {
    /// The seed's top-up provider protocol.
    Topup(Arc<TopupClient>),
    /// VTpass.
    Vtpass(Arc<vtpass::VtpassClient>),
}

impl TopupProvider for AnyVtu {
    async fn purchase(&self, r: &TopupRequest) -> Result<TopupResult, UpstreamError> {
        match self {
            AnyVtu::Topup(c) => c.purchase(r).await,
            AnyVtu::Vtpass(c) => c.purchase(r).await,
        }
    }
    async fn requery(&self, reference: &str) -> Result<Option<TopupResult>, UpstreamError> {
        match self {
            AnyVtu::Topup(c) => c.requery(reference).await,
            AnyVtu::Vtpass(c) => c.requery(reference).await,
        }
    }
    async fn verify_cable(&self, service_id: &str, customer_id: &str) -> Result<Customer, UpstreamError> {
        match self {
            AnyVtu::Topup(c) => c.verify_cable(service_id, customer_id).await,
            AnyVtu::Vtpass(c) => c.verify_cable(service_id, customer_id).await,
        }
    }
    async fn verify_meter(&self, service: &str, meter_type: &str, meter: &str) -> Result<Customer, UpstreamError> {
        match self {
            AnyVtu::Topup(c) => c.verify_meter(service, meter_type, meter).await,
            AnyVtu::Vtpass(c) => c.verify_meter(service, meter_type, meter).await,
        }
    }
    async fn verify_profile(&self, exam: &str, profile_id: &str) -> Result<Customer, UpstreamError> {
        match self {
            AnyVtu::Topup(c) => c.verify_profile(exam, profile_id).await,
            AnyVtu::Vtpass(c) => c.verify_profile(exam, profile_id).await,
        }
    }
}

impl<T: TopupProvider> TopupProvider for &T {
    async fn purchase(&self, r: &TopupRequest) -> Result<TopupResult, UpstreamError> {
        (**self).purchase(r).await
    }
    async fn requery(&self, reference: &str) -> Result<Option<TopupResult>, UpstreamError> {
        (**self).requery(reference).await
    }
    async fn verify_cable(&self, service_id: &str, customer_id: &str) -> Result<Customer, UpstreamError> {
        (**self).verify_cable(service_id, customer_id).await
    }
    async fn verify_meter(&self, service: &str, meter_type: &str, meter: &str) -> Result<Customer, UpstreamError> {
        (**self).verify_meter(service, meter_type, meter).await
    }
    async fn verify_profile(&self, exam: &str, profile_id: &str) -> Result<Customer, UpstreamError> {
        (**self).verify_profile(exam, profile_id).await
    }
}

/// Where the client of the provider a purchase went to comes from: a container's
/// providers (by name), or one provider for every purchase (tests, tools).
pub trait VtuSource: Send + Sync {
    /// The client.
    type P<'a>: TopupProvider
    where
        Self: 'a;

    /// The client of provider `name`.
    fn provider_for<'a>(
        &'a self,
        name: &'a str,
    ) -> impl std::future::Future<Output = Result<Self::P<'a>, UpstreamError>> + Send + 'a;
}

impl<T: TopupProvider> VtuSource for T {
    type P<'a>
        = &'a T
    where
        T: 'a;

    async fn provider_for<'a>(&'a self, _name: &'a str) -> Result<&'a T, UpstreamError> {
        Ok(self)
    }
}
