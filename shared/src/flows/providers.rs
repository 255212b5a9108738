//! The providers of a container, built in one place for the API, the reconciler, the
//! callbacks and the CLI: each client on first use from the config and the provider
//! secret, and the Hubtel throttle every Hubtel caller shares.

use std::time::Duration;

use crate::db::throttle::Throttle;
use crate::db::Store;
use crate::platform::config::Config;
use crate::upstream::{LazyHubtel, LazySmm, LazyTopup, LazyVtpass};

/// Hubtel's limit: calls per window.
pub const HUBTEL_CALLS: usize = 5;

/// The providers, built once per container.
#[derive(Debug)]
pub struct Providers {
    /// The SMM panel.
    pub smm: LazySmm,
    /// The VTU provider.
    pub topup: LazyTopup,
    /// VTpass (when `KOBO_VTPASS_URL` is set).
    pub vtpass: LazyVtpass,
    /// Hubtel.
    pub hubtel: LazyHubtel,
    /// Hubtel's sliding-window limit, shared by every container.
    pub hubtel_throttle: Throttle,
}

impl Providers {
    /// Nothing is fetched or connected until a client is first used.
    pub fn new(config: &Config, secrets: aws_sdk_secretsmanager::Client, store: &Store) -> Providers {
        Providers {
            smm: LazySmm::new(config, secrets.clone()),
            topup: LazyTopup::new(config, secrets.clone()),
            vtpass: LazyVtpass::new(config, secrets.clone()),
            hubtel: LazyHubtel::new(config, secrets),
            hubtel_throttle: hubtel_throttle(config, store),
        }
    }
}

/// The Hubtel throttle of `config`'s window.
pub fn hubtel_throttle(config: &Config, store: &Store) -> Throttle {
    Throttle::new(store.clone(), "hubtel", HUBTEL_CALLS, Duration::from_secs(config.hubtel_window_secs))
}

impl crate::upstream::vtu::VtuSource for Providers {
    type P<'a> = crate::upstream::vtu::AnyVtu;

    /// The client of VTU provider `name` (`vtpass`, else the top-up provider).
    async fn provider_for<'a>(
        &'a self,
        name: &'a str,
    ) -> Result<crate::upstream::vtu::AnyVtu, crate::upstream::UpstreamError> {
        use crate::upstream::vtu::AnyVtu;
        Ok(match name {
            "vtpass" => AnyVtu::Vtpass(self.vtpass.get().await?),
            _ => AnyVtu::Topup(self.topup.get().await?),
        })
    }
}
