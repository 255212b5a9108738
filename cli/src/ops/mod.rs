//! Operator commands: plans, accounts, keys, wallets and ledgers, against the table named
//! by `--table`/`KOBO_TABLE` (or the running local stack with `--local`).
//!
//! One file per command group, each with its `…Cmd` enum and its handler; this file holds
//! where they connect and the helpers they share.

mod access;
mod account;
mod alert;
mod key;
mod ledger;
mod order;
mod plan;
mod provider;
mod route;
mod secrets;
mod service;
mod vtu;
mod wallet;
mod webhook;
mod withdrawal;

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use kobo_shared::platform::secrets::{KeyRing, KeyRings};
use kobo_shared::{Kobo, Store};

pub use self::access::{access_cmd, AccessCmd};
pub use self::account::{account, AccountCmd};
pub use self::alert::{alert, AlertCmd};
pub use self::key::{key, KeyCmd};
pub use self::ledger::{ledger, LedgerCmd};
pub use self::order::{order, OrderCmd};
pub use self::plan::{plan, PlanCmd};
pub use self::provider::{provider, ProviderCmd};
pub use self::route::{route, RouteCmd};
pub use self::secrets::{secrets_cmd, SecretsCmd};
pub use self::service::{service, ServiceCmd};
pub use self::vtu::{vtu_cmd, VtuCmd};
pub use self::wallet::{wallet, WalletCmd};
pub use self::webhook::{webhook, WebhookCmd};
pub use self::withdrawal::{withdrawal, WithdrawalCmd};
use crate::devstack::{demo_json_path, Project};

/// Where the operator commands connect.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Use the running local stack (reads .local/demo.json, or KOBO_DEMO_JSON).
    #[arg(long, global = true)]
    pub local: bool,
    /// DynamoDB table name.
    #[arg(long, env = "KOBO_TABLE", global = true)]
    pub table: Option<String>,
    /// Secrets Manager id of the PIN pepper key ring.
    #[arg(long, env = "KOBO_PIN_PEPPER_SECRET_ID", global = true, default_value = "kobo/pin-pepper")]
    pub pin_pepper_secret_id: String,
    /// Secrets Manager id of the callback-URL key ring.
    #[arg(long, env = "KOBO_CALLBACK_KEY_SECRET_ID", global = true, default_value = "kobo/callback-key")]
    pub callback_key_secret_id: String,
    /// Secrets Manager id of the vault key ring.
    #[arg(long, env = "KOBO_VAULT_KEY_SECRET_ID", global = true, default_value = "kobo/vault-key")]
    pub vault_key_secret_id: String,
}

/// A connected target.
pub struct Conn {
    /// The table.
    pub store: Store,
    /// The key rings.
    pub keys: KeyRings,
    /// Secrets Manager, for other secrets.
    pub secrets_client: aws_sdk_secretsmanager::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
}

impl Target {
    /// Connects to AWS (or the local stack).
    pub async fn connect(&self, project: &Project) -> Result<Conn> {
        if self.local {
            let path = demo_json_path(project)?;
            let v = read_demo_at(&path)?;
            let field =
                |k: &str| v[k].as_str().map(str::to_string).ok_or_else(|| anyhow!("{} has no {k}", path.display()));
            let sdk = crate::devstack::moto::sdk_config_for(&field("aws_endpoint_url")?).await;
            return Ok(Conn {
                store: Store::new(aws_sdk_dynamodb::Client::new(&sdk), field("table")?),
                keys: KeyRings::from_ids(
                    &aws_sdk_secretsmanager::Client::new(&sdk),
                    &field("pin_pepper_secret_id")?,
                    &field("callback_key_secret_id")?,
                    &field("vault_key_secret_id")?,
                ),
                secrets_client: aws_sdk_secretsmanager::Client::new(&sdk),
                sqs: aws_sdk_sqs::Client::new(&sdk),
            });
        }
        let table = self.table.clone().ok_or_else(|| anyhow!("give --table, set KOBO_TABLE, or use --local"))?;
        let sdk = kobo_shared::platform::aws::load().await;
        Ok(Conn {
            store: Store::new(aws_sdk_dynamodb::Client::new(&sdk), table),
            keys: KeyRings::from_ids(
                &aws_sdk_secretsmanager::Client::new(&sdk),
                &self.pin_pepper_secret_id,
                &self.callback_key_secret_id,
                &self.vault_key_secret_id,
            ),
            secrets_client: aws_sdk_secretsmanager::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
        })
    }
}

impl Conn {
    /// The PIN pepper ring.
    async fn pin_pepper(&self) -> Result<std::sync::Arc<KeyRing>> {
        Ok(self.keys.pin_pepper.get().await?)
    }

    /// The callback-URL key ring.
    async fn callback_key(&self) -> Result<std::sync::Arc<KeyRing>> {
        Ok(self.keys.callback_key.get().await?)
    }

    /// The vault of the vault key ring.
    async fn vault(&self) -> Result<kobo_shared::platform::vault::Vault> {
        kobo_shared::platform::vault::Vault::new(&*self.keys.vault_key.get().await?).map_err(|e| anyhow!(e))
    }
}

/// The running local stack's demo.json.
fn read_demo(project: &Project) -> Result<serde_json::Value> {
    read_demo_at(&demo_json_path(project)?)
}

fn read_demo_at(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {}: is the local stack running (kobo dev)?", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// A string field of demo.json.
fn demo_str(demo: &serde_json::Value, key: &str) -> Result<String> {
    demo[key].as_str().map(str::to_string).ok_or_else(|| anyhow!("demo.json has no {key}"))
}

/// Naira, e.g. `1250.50`; `what` names it in the error.
fn parse_naira(what: &str, s: &str) -> Result<Kobo> {
    Kobo::parse_naira(s).map_err(|e| anyhow!("{what} {e}"))
}

/// Percent with up to two decimals → basis points.
pub fn percent_to_bp(s: &str) -> Result<u32> {
    let s = s.trim().trim_end_matches('%');
    if s.trim_start_matches('0').trim_start_matches('.').trim_start_matches('0').is_empty() {
        return Ok(0);
    }
    let bp = Kobo::parse_naira(s).map_err(|e| anyhow!("percent {s:?} {e}"))?.as_i64();
    if bp > 10_000 {
        bail!("percent {s:?} is above 100");
    }
    Ok(bp as u32)
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Prints a new secret (`what`: key, secret) with the warning that it is shown only once.
fn print_secret_once(what: &str, v: &impl serde::Serialize) -> Result<()> {
    eprintln!("Store this {what} now: it is shown only once.");
    print_json(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents() {
        assert_eq!(percent_to_bp("2.5").ok(), Some(250));
        assert_eq!(percent_to_bp("0").ok(), Some(0));
        assert_eq!(percent_to_bp("0.00").ok(), Some(0));
        assert_eq!(percent_to_bp("100").ok(), Some(10_000));
        assert_eq!(percent_to_bp("10%").ok(), Some(1000));
        assert!(percent_to_bp("100.01").is_err());
        assert!(percent_to_bp("-1").is_err());
        assert!(percent_to_bp("1.234").is_err());
    }
}
