//! Secrets in Secrets Manager, each a JSON object, fetched lazily once per container:
//! the app secret (keys kobo generates and uses itself) and the provider credentials
//! (set by the operator).

use aws_sdk_secretsmanager::Client;
use serde::Deserialize;
use tokio::sync::OnceCell;

/// The values of the app secret. Never logged.
#[derive(Clone, Deserialize)]
pub struct AppSecrets {
    /// Key of the transaction-PIN digests.
    pub pin_pepper: String,
}

impl std::fmt::Debug for AppSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppSecrets(..)")
    }
}

/// Credentials of the upstream providers, set by the operator. Never logged.
#[derive(Clone, Deserialize)]
pub struct ProviderSecrets {
    /// API key of the upstream SMM panel.
    pub smm_api_key: String,
    /// API key of the top-up (VTU) provider.
    #[serde(default)]
    pub topup_api_key: Option<String>,
    /// Secret the top-up provider signs its callbacks with (`X-Signature`).
    #[serde(default)]
    pub topup_webhook_secret: Option<String>,
    /// Hubtel ClientID.
    #[serde(default)]
    pub hubtel_client_id: Option<String>,
    /// Hubtel ClientSecret.
    #[serde(default)]
    pub hubtel_client_secret: Option<String>,
}

impl std::fmt::Debug for ProviderSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderSecrets(..)")
    }
}

/// Why the secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Secrets Manager refused or failed.
    #[error("secrets manager: {0}")]
    Fetch(String),
    /// The secret is not the expected JSON.
    #[error("secret {0} is not a JSON object with the expected keys: {1}")]
    Shape(String, String),
}

/// A secret fetched on first use; a failed fetch is retried on the next use.
#[derive(Debug)]
pub struct SecretsCache<T = AppSecrets> {
    client: Client,
    id: String,
    cell: OnceCell<T>,
}

impl<T: serde::de::DeserializeOwned> SecretsCache<T> {
    /// A cache for secret `id`; nothing is fetched until [`SecretsCache::get`].
    pub fn new(client: Client, id: impl Into<String>) -> SecretsCache<T> {
        SecretsCache { client, id: id.into(), cell: OnceCell::new() }
    }

    /// The secret, fetched on first use.
    pub async fn get(&self) -> Result<&T, SecretsError> {
        self.cell
            .get_or_try_init(|| async {
                let out = self.client.get_secret_value().secret_id(&self.id).send().await.map_err(|e| {
                    SecretsError::Fetch(aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string())
                })?;
                let text = out.secret_string().unwrap_or_default();
                serde_json::from_str(text).map_err(|e| SecretsError::Shape(self.id.clone(), e.to_string()))
            })
            .await
    }
}
