//! Clients of the upstream providers. Each is a real HTTP client; the local stack and
//! the tests point them at simulators on loopback.

pub mod hubtel;
pub mod smm;
pub mod topup;

/// How a call to a provider failed, in the terms that decide what kobo may do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The request certainly did not take effect (connection refused, 502/503): safe to
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

/// Classifies a provider's HTTP status: 502 and 503 mean the request was not processed
/// (safe to send again); any other 5xx leaves the outcome unknown.
pub(crate) fn check_status(status: u16) -> Result<(), UpstreamError> {
    match status {
        502 | 503 => Err(UpstreamError::NotSent(format!("provider answered {status}"))),
        500..=599 => Err(UpstreamError::Ambiguous(format!("provider answered {status}"))),
        _ => Ok(()),
    }
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

/// The SMM panel client of a container, built on first use from the config (URL,
/// timeout) and the provider secret (API key).
#[derive(Debug)]
pub struct LazySmm {
    url: String,
    timeout: std::time::Duration,
    secrets: crate::secrets::SecretsCache<crate::secrets::ProviderSecrets>,
    client: tokio::sync::OnceCell<smm::SmmClient>,
}

impl LazySmm {
    /// Nothing is fetched or built until [`LazySmm::get`].
    pub fn new(config: &crate::config::Config, secrets: aws_sdk_secretsmanager::Client) -> LazySmm {
        LazySmm {
            url: config.smm_url.clone(),
            timeout: std::time::Duration::from_millis(config.upstream_timeout_ms),
            secrets: crate::secrets::SecretsCache::new(secrets, config.provider_secret_id.clone()),
            client: tokio::sync::OnceCell::new(),
        }
    }

    /// The client; an error says what is missing.
    pub async fn get(&self) -> Result<&smm::SmmClient, UpstreamError> {
        self.client
            .get_or_try_init(|| async {
                if self.url.is_empty() {
                    return Err(UpstreamError::NotSent("KOBO_SMM_URL is not set".into()));
                }
                let s = self.secrets.get().await.map_err(|e| UpstreamError::NotSent(e.to_string()))?;
                smm::SmmClient::new(self.url.clone(), s.smm_api_key.clone(), self.timeout)
            })
            .await
    }
}

/// The top-up provider client of a container, built on first use from the config (URL,
/// timeout) and the provider secret (API key).
#[derive(Debug)]
pub struct LazyTopup {
    url: String,
    timeout: std::time::Duration,
    secrets: crate::secrets::SecretsCache<crate::secrets::ProviderSecrets>,
    client: tokio::sync::OnceCell<topup::TopupClient>,
}

impl LazyTopup {
    /// Nothing is fetched or built until [`LazyTopup::get`].
    pub fn new(config: &crate::config::Config, secrets: aws_sdk_secretsmanager::Client) -> LazyTopup {
        LazyTopup {
            url: config.topup_url.clone(),
            timeout: std::time::Duration::from_millis(config.upstream_timeout_ms),
            secrets: crate::secrets::SecretsCache::new(secrets, config.provider_secret_id.clone()),
            client: tokio::sync::OnceCell::new(),
        }
    }

    /// The client; an error says what is missing.
    pub async fn get(&self) -> Result<&topup::TopupClient, UpstreamError> {
        self.client
            .get_or_try_init(|| async {
                if self.url.is_empty() {
                    return Err(UpstreamError::NotSent("KOBO_TOPUP_URL is not set".into()));
                }
                let s = self.secrets.get().await.map_err(|e| UpstreamError::NotSent(e.to_string()))?;
                let key = s
                    .topup_api_key
                    .clone()
                    .ok_or_else(|| UpstreamError::NotSent("topup_api_key missing in the provider secret".into()))?;
                topup::TopupClient::new(self.url.clone(), key, self.timeout)
            })
            .await
    }

    /// The provider's callback signing secret.
    pub async fn webhook_secret(&self) -> Result<String, UpstreamError> {
        let s = self.secrets.get().await.map_err(|e| UpstreamError::NotSent(e.to_string()))?;
        match s.topup_webhook_secret.as_deref() {
            // A placeholder or short secret would let anyone forge results: refuse them all.
            Some(v) if v.len() >= 16 && v != "set-me" => Ok(v.to_string()),
            _ => Err(UpstreamError::NotSent(
                "topup_webhook_secret in the provider secret is missing or a placeholder".into(),
            )),
        }
    }
}

/// The Hubtel client of a container, built on first use from the config (URL, timeout)
/// and the provider secret (ClientID, ClientSecret).
#[derive(Debug)]
pub struct LazyHubtel {
    url: String,
    timeout: std::time::Duration,
    secrets: crate::secrets::SecretsCache<crate::secrets::ProviderSecrets>,
    client: tokio::sync::OnceCell<hubtel::HubtelClient>,
}

impl LazyHubtel {
    /// Nothing is fetched or built until [`LazyHubtel::get`].
    pub fn new(config: &crate::config::Config, secrets: aws_sdk_secretsmanager::Client) -> LazyHubtel {
        LazyHubtel {
            url: config.hubtel_url.clone(),
            timeout: std::time::Duration::from_millis(config.upstream_timeout_ms),
            secrets: crate::secrets::SecretsCache::new(secrets, config.provider_secret_id.clone()),
            client: tokio::sync::OnceCell::new(),
        }
    }

    /// The client; an error says what is missing.
    pub async fn get(&self) -> Result<&hubtel::HubtelClient, UpstreamError> {
        self.client
            .get_or_try_init(|| async {
                if self.url.is_empty() {
                    return Err(UpstreamError::NotSent("KOBO_HUBTEL_URL is not set".into()));
                }
                let s = self.secrets.get().await.map_err(|e| UpstreamError::NotSent(e.to_string()))?;
                match (&s.hubtel_client_id, &s.hubtel_client_secret) {
                    (Some(id), Some(secret)) => hubtel::HubtelClient::new(&self.url, id, secret, self.timeout),
                    _ => Err(UpstreamError::NotSent(
                        "hubtel_client_id / hubtel_client_secret missing in the provider secret".into(),
                    )),
                }
            })
            .await
    }
}
