//! `kobo key`: API keys (issue, list, revoke, scopes, whitelists).

use anyhow::{anyhow, Result};
use clap::Subcommand;
use kobo_shared::domain::action::parse_scopes;
use kobo_shared::flows::accounts;

use super::{print_json, print_secret_once, Conn};

/// API keys.
#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// Issue a key; it is printed once and stored only as a hash.
    Issue {
        /// Account id.
        account: String,
        /// Label.
        #[arg(long, default_value = "default")]
        label: String,
        /// Scopes: action names, comma separated, or `all`.
        #[arg(long, default_value = "all")]
        scopes: String,
        /// Allowed source IP or CIDR (repeatable).
        #[arg(long = "ip")]
        ips: Vec<String>,
        /// Allowed origin domain (repeatable).
        #[arg(long = "domain")]
        domains: Vec<String>,
    },
    /// List an account's keys.
    List {
        /// Account id.
        account: String,
    },
    /// Revoke a key (effective on the next request).
    Revoke {
        /// Account id.
        account: String,
        /// Key id (from `key list`).
        key_id: String,
    },
    /// Replace a key's scopes.
    Scopes {
        /// Account id.
        account: String,
        /// Key id.
        key_id: String,
        /// Action names, comma separated, or `all`.
        scopes: String,
    },
    /// Replace a key's IP and/or domain whitelist.
    Whitelist {
        /// Account id.
        account: String,
        /// Key id.
        key_id: String,
        /// Allowed source IP or CIDR (repeatable); replaces the list.
        #[arg(long = "ip")]
        ips: Vec<String>,
        /// Allowed origin domain (repeatable); replaces the list.
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// Remove every IP restriction.
        #[arg(long)]
        clear_ips: bool,
        /// Remove every domain restriction.
        #[arg(long)]
        clear_domains: bool,
    },
}

/// Runs a key command.
pub async fn key(conn: &Conn, cmd: KeyCmd) -> Result<()> {
    let store = &conn.store;
    match cmd {
        KeyCmd::Issue { account, label, scopes, ips, domains } => {
            let scopes = parse_scopes(&scopes).map_err(|e| anyhow!(e))?;
            let (key, record) = accounts::issue_key(store, &account, &label, &scopes, &ips, &domains).await?;
            print_secret_once("key", &serde_json::json!({ "api_key": key.secret, "key": record }))
        }
        KeyCmd::List { account } => print_json(&store.list_keys(&account).await?),
        KeyCmd::Revoke { account, key_id } => {
            let k = store.find_key(&account, &key_id).await?;
            store.revoke_key(&account, &k.hash).await?;
            println!("key {} of {account} revoked", k.key_id);
            Ok(())
        }
        KeyCmd::Scopes { account, key_id, scopes } => {
            let scopes = parse_scopes(&scopes).map_err(|e| anyhow!(e))?;
            let k = store.find_key(&account, &key_id).await?;
            store.set_key_scopes(&account, &k.hash, &scopes).await?;
            print_json(&store.find_key(&account, &k.key_id).await?)
        }
        KeyCmd::Whitelist { account, key_id, ips, domains, clear_ips, clear_domains } => {
            let k = store.find_key(&account, &key_id).await?;
            let (ips, domains) = accounts::normalize_whitelists(&ips, &domains)?;
            let ips = (clear_ips || !ips.is_empty()).then_some(ips);
            let domains = (clear_domains || !domains.is_empty()).then_some(domains);
            store.set_key_whitelists(&account, &k.hash, ips.as_deref(), domains.as_deref()).await?;
            print_json(&store.find_key(&account, &k.key_id).await?)
        }
    }
}
