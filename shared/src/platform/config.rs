//! Runtime configuration from the environment (set by `template.yaml` in AWS and by the
//! local stack). Read once per container.

use std::env;

/// kobo's runtime settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table (`KOBO_TABLE`).
    pub table: String,
    /// Secrets Manager id of the PIN pepper key ring (`KOBO_PIN_PEPPER_SECRET_ID`).
    pub pin_pepper_secret_id: String,
    /// Secrets Manager id of the callback-URL key ring (`KOBO_CALLBACK_KEY_SECRET_ID`).
    pub callback_key_secret_id: String,
    /// Secrets Manager id of the vault key ring (`KOBO_VAULT_KEY_SECRET_ID`).
    pub vault_key_secret_id: String,
    /// Seconds a fetched secret is trusted before it is fetched again
    /// (`KOBO_SECRETS_TTL_SECS`, default 300).
    pub secrets_ttl_secs: u64,
    /// Requests per minute one IP may make with bad keys (`KOBO_ANON_IP_RPM`, default 60).
    pub anon_ip_rpm: u32,
    /// Largest accepted request body in bytes (`KOBO_MAX_BODY_BYTES`, default 262144).
    pub max_body_bytes: usize,
    /// Secrets Manager id of the provider credentials (`KOBO_PROVIDER_SECRET_ID`).
    pub provider_secret_id: String,
    /// The upstream SMM panel's API URL (`KOBO_SMM_URL`).
    pub smm_url: String,
    /// Upstream request timeout in milliseconds (`KOBO_UPSTREAM_TIMEOUT_MS`, default 8000).
    pub upstream_timeout_ms: u64,
    /// The top-up provider's base URL (`KOBO_TOPUP_URL`).
    pub topup_url: String,
    /// VTpass's API base URL (`KOBO_VTPASS_URL`, e.g. `https://sandbox.vtpass.com/api`;
    /// empty: VTpass not used).
    pub vtpass_url: String,
    /// Below this many naira a VTU provider's float raises an alert and routes pass it by
    /// (`KOBO_VTU_FLOAT_ALERT_NAIRA`, default 20000).
    pub vtu_float_alert_naira: i64,
    /// Seconds a VTU transaction may stay processing before the reconciler requeries it
    /// (`KOBO_VTU_REQUERY_AFTER_SECS`, default 120).
    pub vtu_requery_after_secs: i64,
    /// Seconds an SMM order may stay `Sending` (its add's answer lost, e.g. a crash)
    /// before the reconciler calls its outcome unknown and alerts an operator
    /// (`KOBO_SMM_SENDING_GRACE_SECS`, default 300).
    pub smm_sending_grace_secs: i64,
    /// Hubtel's base URL (`KOBO_HUBTEL_URL`).
    pub hubtel_url: String,
    /// kobo's public base URL, for callback URLs given to Hubtel (`KOBO_PUBLIC_URL`).
    pub public_url: String,
    /// Hubtel's rate window in seconds (`KOBO_HUBTEL_WINDOW_SECS`, default 60; tests shrink it).
    pub hubtel_window_secs: u64,
    /// The webhook delivery queue (`KOBO_WEBHOOK_QUEUE_URL`).
    pub webhook_queue_url: String,
    /// Seconds before each webhook retry (`KOBO_WEBHOOK_RETRY_DELAYS`, default `10,60,300`).
    pub webhook_retry_delays: Vec<u32>,
}

/// Parses `10,60,300`.
pub fn parse_delays(s: &str) -> Result<Vec<u32>, ConfigError> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u32>().map_err(|_| ConfigError(format!("retry delay {p:?} is not a number of seconds"))))
        .collect()
}

/// A required setting is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    /// A configuration error saying `why`.
    pub fn new(why: impl Into<String>) -> ConfigError {
        ConfigError(why.into())
    }
}

fn var_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, ConfigError> {
    match env::var(name) {
        Ok(v) => v.trim().parse().map_err(|_| ConfigError(format!("{name}={v:?} is not valid"))),
        Err(_) => Ok(default),
    }
}

impl Config {
    /// Reads the environment; `KOBO_TABLE` is required.
    pub fn from_env() -> Result<Config, ConfigError> {
        let table =
            env::var("KOBO_TABLE").map_err(|_| ConfigError("set KOBO_TABLE to the DynamoDB table name".into()))?;
        Ok(Config {
            table,
            pin_pepper_secret_id: env::var("KOBO_PIN_PEPPER_SECRET_ID").unwrap_or_else(|_| "kobo/pin-pepper".into()),
            callback_key_secret_id: env::var("KOBO_CALLBACK_KEY_SECRET_ID")
                .unwrap_or_else(|_| "kobo/callback-key".into()),
            vault_key_secret_id: env::var("KOBO_VAULT_KEY_SECRET_ID").unwrap_or_else(|_| "kobo/vault-key".into()),
            secrets_ttl_secs: var_or("KOBO_SECRETS_TTL_SECS", 300)?,
            anon_ip_rpm: var_or("KOBO_ANON_IP_RPM", 60)?,
            max_body_bytes: var_or("KOBO_MAX_BODY_BYTES", 256 * 1024)?,
            provider_secret_id: env::var("KOBO_PROVIDER_SECRET_ID").unwrap_or_else(|_| "kobo/providers".into()),
            smm_url: env::var("KOBO_SMM_URL").unwrap_or_default(),
            upstream_timeout_ms: var_or("KOBO_UPSTREAM_TIMEOUT_MS", 8000)?,
            topup_url: env::var("KOBO_TOPUP_URL").unwrap_or_default(),
            vtpass_url: env::var("KOBO_VTPASS_URL").unwrap_or_default(),
            vtu_float_alert_naira: var_or("KOBO_VTU_FLOAT_ALERT_NAIRA", 20_000)?,
            vtu_requery_after_secs: var_or("KOBO_VTU_REQUERY_AFTER_SECS", 120)?,
            smm_sending_grace_secs: var_or("KOBO_SMM_SENDING_GRACE_SECS", 300)?,
            hubtel_url: env::var("KOBO_HUBTEL_URL").unwrap_or_default(),
            public_url: env::var("KOBO_PUBLIC_URL").unwrap_or_default(),
            hubtel_window_secs: var_or("KOBO_HUBTEL_WINDOW_SECS", 60)?,
            webhook_queue_url: env::var("KOBO_WEBHOOK_QUEUE_URL").unwrap_or_default(),
            webhook_retry_delays: match env::var("KOBO_WEBHOOK_RETRY_DELAYS") {
                Ok(v) => parse_delays(&v)?,
                Err(_) => vec![10, 60, 300],
            },
        })
    }

    /// The environment that [`Config::from_env`] reads back as these settings (what a
    /// function process is started with: SAM sets the same variables).
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        let delays: Vec<String> = self.webhook_retry_delays.iter().map(u32::to_string).collect();
        vec![
            ("KOBO_TABLE", self.table.clone()),
            ("KOBO_PIN_PEPPER_SECRET_ID", self.pin_pepper_secret_id.clone()),
            ("KOBO_CALLBACK_KEY_SECRET_ID", self.callback_key_secret_id.clone()),
            ("KOBO_VAULT_KEY_SECRET_ID", self.vault_key_secret_id.clone()),
            ("KOBO_SECRETS_TTL_SECS", self.secrets_ttl_secs.to_string()),
            ("KOBO_ANON_IP_RPM", self.anon_ip_rpm.to_string()),
            ("KOBO_MAX_BODY_BYTES", self.max_body_bytes.to_string()),
            ("KOBO_PROVIDER_SECRET_ID", self.provider_secret_id.clone()),
            ("KOBO_SMM_URL", self.smm_url.clone()),
            ("KOBO_UPSTREAM_TIMEOUT_MS", self.upstream_timeout_ms.to_string()),
            ("KOBO_TOPUP_URL", self.topup_url.clone()),
            ("KOBO_VTPASS_URL", self.vtpass_url.clone()),
            ("KOBO_VTU_FLOAT_ALERT_NAIRA", self.vtu_float_alert_naira.to_string()),
            ("KOBO_VTU_REQUERY_AFTER_SECS", self.vtu_requery_after_secs.to_string()),
            ("KOBO_SMM_SENDING_GRACE_SECS", self.smm_sending_grace_secs.to_string()),
            ("KOBO_HUBTEL_URL", self.hubtel_url.clone()),
            ("KOBO_PUBLIC_URL", self.public_url.clone()),
            ("KOBO_HUBTEL_WINDOW_SECS", self.hubtel_window_secs.to_string()),
            ("KOBO_WEBHOOK_QUEUE_URL", self.webhook_queue_url.clone()),
            ("KOBO_WEBHOOK_RETRY_DELAYS", delays.join(",")),
        ]
    }

    /// Settings for a given table with every other value at its default (tests, tools).
    pub fn for_table(table: impl Into<String>) -> Config {
        Config {
            table: table.into(),
            pin_pepper_secret_id: "kobo/pin-pepper".into(),
            callback_key_secret_id: "kobo/callback-key".into(),
            vault_key_secret_id: "kobo/vault-key".into(),
            secrets_ttl_secs: 300,
            anon_ip_rpm: 60,
            max_body_bytes: 256 * 1024,
            provider_secret_id: "kobo/providers".into(),
            smm_url: String::new(),
            upstream_timeout_ms: 8000,
            topup_url: String::new(),
            vtpass_url: String::new(),
            vtu_float_alert_naira: 20_000,
            vtu_requery_after_secs: 120,
            smm_sending_grace_secs: 300,
            hubtel_url: String::new(),
            public_url: String::new(),
            hubtel_window_secs: 60,
            webhook_queue_url: String::new(),
            webhook_retry_delays: vec![10, 60, 300],
        }
    }
}
