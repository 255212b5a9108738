//! The app secret in Secrets Manager: a JSON object of keys kobo generates and uses
//! itself (PIN pepper, webhook-secret encryption key). Fetched lazily, once per container.

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

/// Lazily loaded app secrets; clone-cheap handle shared by a container.
#[derive(Debug)]
pub struct SecretsCache {
    client: Client,
    id: String,
    cell: OnceCell<AppSecrets>,
}

impl SecretsCache {
    /// A cache for secret `id`; nothing is fetched until [`SecretsCache::get`].
    pub fn new(client: Client, id: impl Into<String>) -> SecretsCache {
        SecretsCache {
            client,
            id: id.into(),
            cell: OnceCell::new(),
        }
    }

    /// The secrets, fetched on first use.
    pub async fn get(&self) -> Result<&AppSecrets, SecretsError> {
        self.cell
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .get_secret_value()
                    .secret_id(&self.id)
                    .send()
                    .await
                    .map_err(|e| {
                        SecretsError::Fetch(
                            aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
                        )
                    })?;
                let text = out.secret_string().unwrap_or_default();
                serde_json::from_str(text)
                    .map_err(|e| SecretsError::Shape(self.id.clone(), e.to_string()))
            })
            .await
    }
}
