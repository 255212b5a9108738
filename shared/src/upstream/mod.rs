//! Clients of the upstream providers. Each is a real HTTP client; the local stack and
//! the tests point them at simulators on loopback.

pub mod hubtel;
pub mod smm;
pub mod topup;
pub mod vtu;

pub use hubtel::HubtelApi;
pub use smm::SmmPanel;
pub use topup::TopupProvider;

/// How a call to a provider failed, in the terms that decide what kobo may do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The request certainly did not take effect (connection refused, 503): safe to
    /// send again later.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request may or may not have taken effect (timeout after sending, other 5xx,
    /// unreadable answer): never repeat it blindly.
    #[error("outcome unknown: {0}")]
    Ambiguous(String),
    /// The provider answered and refused (its error message).
    #[error("rejected: {0}")]
    Rejected(String),
}

/// Classifies a provider's HTTP status: 503 means the request was not processed (safe to
/// send again); any other 5xx, 502 included (a gateway can lose the answer of a request
/// the provider processed), leaves the outcome unknown.
pub(crate) fn check_status(status: u16) -> Result<(), UpstreamError> {
    match status {
        503 => Err(UpstreamError::NotSent(format!("provider answered {status}"))),
        500..=599 => Err(UpstreamError::Ambiguous(format!("provider answered {status}"))),
        _ => Ok(()),
    }
}

/// The HTTP client of a provider: its own timeout, 3 s to connect, no redirects.
pub(crate) fn http_client(timeout: std::time::Duration) -> Result<reqwest::Client, UpstreamError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(std::time::Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| UpstreamError::NotSent(format!("building the HTTP client: {e}")))
}

/// Classifies a transport error.
pub(crate) fn classify(e: &reqwest::Error) -> UpstreamError {
    if e.is_connect() {
        UpstreamError::NotSent(e.to_string())
    } else if e.is_builder() {
        UpstreamError::NotSent(format!("bad request: {e}"))
    } else {
        UpstreamError::Ambiguous(e.to_string())
    }
}

/// A provider client of a container, built on first use from the config (URL, timeout)
/// and the provider secret (credentials); a failed build is retried on the next use.
#[derive(Debug)]
pub struct Lazy<C> {
    url: String,
    url_var: &'static str,
    timeout: std::time::Duration,
    secrets: crate::platform::secrets::SecretsCache<crate::platform::secrets::ProviderSecrets>,
    /// The client and the credentials it was built from (rebuilt when they change).
    client: tokio::sync::RwLock<Option<Built<C>>>,
    build: fn(&str, &crate::platform::secrets::ProviderSecrets, std::time::Duration) -> Result<C, UpstreamError>,
}

type Built<C> = (std::sync::Arc<crate::platform::secrets::ProviderSecrets>, std::sync::Arc<C>);

/// The SMM panel client of a container.
pub type LazySmm = Lazy<smm::SmmClient>;
/// The top-up provider client of a container.
pub type LazyTopup = Lazy<topup::TopupClient>;
/// The VTpass client of a container.
pub type LazyVtpass = Lazy<vtu::vtpass::VtpassClient>;
/// The Hubtel client of a container.
pub type LazyHubtel = Lazy<hubtel::HubtelClient>;

impl<C> Lazy<C> {
    fn with(
        url: &str,
        url_var: &'static str,
        config: &crate::platform::config::Config,
        secrets: aws_sdk_secretsmanager::Client,
        build: fn(&str, &crate::platform::secrets::ProviderSecrets, std::time::Duration) -> Result<C, UpstreamError>,
    ) -> Lazy<C> {
        Lazy {
            url: url.to_string(),
            url_var,
            timeout: std::time::Duration::from_millis(config.upstream_timeout_ms),
            secrets: crate::platform::secrets::SecretsCache::new(secrets, config.provider_secret_id.clone()),
            client: tokio::sync::RwLock::new(None),
            build,
        }
    }

    /// The client, built from the provider credentials as they stand (fetched again
    /// after the secrets TTL, so a rotated key is used from then on); an error says what
    /// is missing.
    pub async fn get(&self) -> Result<std::sync::Arc<C>, UpstreamError> {
        if self.url.is_empty() {
            return Err(UpstreamError::NotSent(format!("{} is not set", self.url_var)));
        }
        let s = self.secrets.get().await.map_err(|e| UpstreamError::NotSent(e.to_string()))?;
        if let Some((from, client)) = self.client.read().await.as_ref() {
            if std::sync::Arc::ptr_eq(from, &s) {
                return Ok(client.clone());
            }
        }
        let client = std::sync::Arc::new((self.build)(&self.url, &s, self.timeout)?);
        *self.client.write().await = Some((s, client.clone()));
        Ok(client)
    }
}

fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, UpstreamError> {
    v.as_deref().ok_or_else(|| UpstreamError::NotSent(format!("{name} missing in the provider secret")))
}

impl Lazy<smm::SmmClient> {
    /// Nothing is fetched or built until [`Lazy::get`].
    pub fn new(config: &crate::platform::config::Config, secrets: aws_sdk_secretsmanager::Client) -> LazySmm {
        Lazy::with(&config.smm_url, "KOBO_SMM_URL", config, secrets, |url, s, t| {
            smm::SmmClient::new(url, s.smm_api_key.clone(), t)
        })
    }
}

impl Lazy<vtu::vtpass::VtpassClient> {
    /// Nothing is fetched or built until [`Lazy::get`].
    pub fn new(config: &crate::platform::config::Config, secrets: aws_sdk_secretsmanager::Client) -> LazyVtpass {
        Lazy::with(&config.vtpass_url, "KOBO_VTPASS_URL", config, secrets, |url, s, t| {
            let keys = vtu::vtpass::Credentials {
                api_key: required(&s.vtpass_api_key, "vtpass_api_key")?.to_string(),
                public_key: required(&s.vtpass_public_key, "vtpass_public_key")?.to_string(),
                secret_key: required(&s.vtpass_secret_key, "vtpass_secret_key")?.to_string(),
            };
            vtu::vtpass::VtpassClient::new(url, keys, t)
        })
    }
}

impl Lazy<topup::TopupClient> {
    /// Nothing is fetched or built until [`Lazy::get`].
    pub fn new(config: &crate::platform::config::Config, secrets: aws_sdk_secretsmanager::Client) -> LazyTopup {
        Lazy::with(&config.topup_url, "KOBO_TOPUP_URL", config, secrets, |url, s, t| {
            topup::TopupClient::new(url, required(&s.topup_api_key, "topup_api_key")?, t)
        })
    }

    /// The provider's callback signing secret (cached with the provider secret's TTL).
    pub async fn webhook_secret(&self) -> Result<String, UpstreamError> {
        let s = self.secrets.get().await.map_err(|e| UpstreamError::NotSent(e.to_string()))?;
        Self::usable_webhook_secret(&s)
    }

    /// The callback signing secret fetched again (a callback's signature did not verify
    /// with the cached one: the operator may have rotated it).
    pub async fn refreshed_webhook_secret(&self) -> Result<String, UpstreamError> {
        let s = self.secrets.refresh().await.map_err(|e| UpstreamError::NotSent(e.to_string()))?;
        Self::usable_webhook_secret(&s)
    }

    fn usable_webhook_secret(s: &crate::platform::secrets::ProviderSecrets) -> Result<String, UpstreamError> {
        match s.topup_webhook_secret.as_deref() {
            // A placeholder or short secret would let anyone forge results: refuse them all.
            Some(v) if v.len() >= 16 && v != "set-me" => Ok(v.to_string()),
            _ => Err(UpstreamError::NotSent(
                "topup_webhook_secret in the provider secret is missing or a placeholder".into(),
            )),
        }
    }
}

impl Lazy<hubtel::HubtelClient> {
    /// Nothing is fetched or built until [`Lazy::get`].
    pub fn new(config: &crate::platform::config::Config, secrets: aws_sdk_secretsmanager::Client) -> LazyHubtel {
        Lazy::with(&config.hubtel_url, "KOBO_HUBTEL_URL", config, secrets, |url, s, t| {
            hubtel::HubtelClient::new(
                url,
                required(&s.hubtel_client_id, "hubtel_client_id")?,
                required(&s.hubtel_client_secret, "hubtel_client_secret")?,
                t,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect 8: a 502 can come from a gateway that lost the answer of a request the
    /// provider processed (an SMM order created): never "certainly not sent".
    #[test]
    fn only_503_is_certainly_not_sent() {
        assert!(matches!(check_status(503), Err(UpstreamError::NotSent(_))));
        for status in [500, 502, 504, 599] {
            assert!(matches!(check_status(status), Err(UpstreamError::Ambiguous(_))), "{status}");
        }
        assert!(check_status(200).is_ok() && check_status(404).is_ok());
    }
}
