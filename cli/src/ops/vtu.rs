//! `kobo vtu`: VTU purchases (processing, settle, reverse) — the exit of a purchase the
//! provider never answered for (see `kobo alerts`), and of a reversal the provider told
//! an operator about but its requery does not show.

use anyhow::{anyhow, bail, Result};
use clap::Subcommand;
use kobo_shared::domain::vtu::Outcome;
use kobo_shared::flows::vtu;

use super::{demo_str, percent_to_bp, print_json, read_demo, Conn, Target};
use crate::devstack::Project;

/// VTU purchases.
#[derive(Subcommand, Debug)]
pub enum VtuCmd {
    /// Purchases still processing, oldest first.
    Processing,
    /// Settle a processing purchase after checking it with the provider: `--delivered`
    /// (it stays charged) or `--failed` (refunded once).
    Settle {
        /// Account id.
        account: String,
        /// The purchase's trx.
        trx: String,
        /// The provider delivered it.
        #[arg(long, conflicts_with = "failed")]
        delivered: bool,
        /// The provider did not deliver it: the amount goes back to the wallet.
        #[arg(long)]
        failed: bool,
        /// Why (kept on the purchase and in the ledger).
        #[arg(long, default_value = "settled by an operator")]
        reason: String,
    },
    /// Import or refresh a provider's fixed-price plans (data, cable bouquets) into the VTU
    /// catalog: its price as the base, plus the operator's profit. Plan ids are kept.
    Import {
        /// The provider (`vtpass`).
        #[arg(long, default_value = "vtpass")]
        provider: String,
        /// Profit over the provider's price, in percent (e.g. 2.5).
        #[arg(long, default_value = "2")]
        profit: String,
        /// VTpass's API base URL (default: KOBO_VTPASS_URL; the local stack's replica with --local).
        #[arg(long, env = "KOBO_VTPASS_URL")]
        vtpass_url: Option<String>,
        /// Secrets Manager id of the provider secret (its vtpass_* keys).
        #[arg(long, env = "KOBO_PROVIDER_SECRET_ID", default_value = "kobo/providers")]
        provider_secret_id: String,
    },
    /// The callback URL to set in the VTpass dashboard (it carries a secret of the callback
    /// key ring; after `kobo secrets rotate callback-key`, set it again).
    CallbackUrl {
        /// kobo's public base URL (the API's), e.g. https://abc123.execute-api.eu-west-1.amazonaws.com.
        #[arg(long, env = "KOBO_PUBLIC_URL")]
        public_url: String,
    },
    /// The provider's wallet (float) as it answers now.
    Balance {
        /// The provider (`vtpass`).
        #[arg(long, default_value = "vtpass")]
        provider: String,
        /// VTpass's API base URL (default: KOBO_VTPASS_URL; the local stack's replica with --local).
        #[arg(long, env = "KOBO_VTPASS_URL")]
        vtpass_url: Option<String>,
        /// Secrets Manager id of the provider secret.
        #[arg(long, env = "KOBO_PROVIDER_SECRET_ID", default_value = "kobo/providers")]
        provider_secret_id: String,
    },
    /// Refund a delivered purchase the provider reversed (once: a purchase reversed
    /// already, by its callback or the reconciler, is left as it is).
    Reverse {
        /// Account id.
        account: String,
        /// The purchase's trx.
        trx: String,
        /// What the provider said (kept on the purchase).
        #[arg(long)]
        reason: String,
    },
}

/// The VTpass client of the target: the local stack's replica (`--local`), else the URL
/// given and the provider secret's keys.
pub(super) async fn vtpass_client(
    conn: &Conn,
    project: &Project,
    target: &Target,
    provider: &str,
    url: Option<String>,
    secret_id: String,
) -> Result<std::sync::Arc<kobo_shared::upstream::vtu::vtpass::VtpassClient>> {
    if provider != "vtpass" {
        bail!("unknown provider {provider:?}: kobo speaks to vtpass");
    }
    let (url, secret_id) = if target.local {
        let v = read_demo(project)?;
        (demo_str(&v, "vtpass_url")?, demo_str(&v, "provider_secret_id")?)
    } else {
        (url.ok_or_else(|| anyhow!("give --vtpass-url or set KOBO_VTPASS_URL"))?, secret_id)
    };
    let mut config = kobo_shared::platform::config::Config::for_table(conn.store.table());
    config.vtpass_url = url;
    config.provider_secret_id = secret_id;
    let providers = kobo_shared::flows::providers::Providers::new(&config, conn.secrets_client.clone(), &conn.store);
    Ok(providers.vtpass.get().await?)
}

/// Runs a VTU command.
pub async fn vtu_cmd(conn: &Conn, project: &Project, target: &Target, cmd: VtuCmd) -> Result<()> {
    let store = &conn.store;
    match cmd {
        VtuCmd::Import { provider, profit, vtpass_url, provider_secret_id } => {
            let client = vtpass_client(conn, project, target, &provider, vtpass_url, provider_secret_id).await?;
            let report =
                kobo_shared::flows::catalog::import_vtpass_plans(store, &client, percent_to_bp(&profit)?).await?;
            println!(
                "{} added, {} updated, {} unchanged, {} services skipped",
                report.added.len(),
                report.updated.len(),
                report.unchanged,
                report.skipped.len()
            );
            print_json(&report)
        }
        VtuCmd::CallbackUrl { public_url } => {
            let ring = conn.keys.callback_key.get().await?;
            println!(
                "{}/callbacks/vtpass/{}",
                public_url.trim_end_matches('/'),
                kobo_shared::domain::callback::vtpass_secret(&ring)
            );
            Ok(())
        }
        VtuCmd::Balance { provider, vtpass_url, provider_secret_id } => {
            let client = vtpass_client(conn, project, target, &provider, vtpass_url, provider_secret_id).await?;
            let balance = client.balance().await?;
            print_json(&serde_json::json!({"provider": provider, "balance": balance.to_string(), "currency": "NGN"}))
        }
        VtuCmd::Processing => print_json(&store.processing_vtu().await?),
        VtuCmd::Settle { account, trx, delivered, failed, reason } => {
            let tx = store.get_vtu(&account, &trx).await?.ok_or_else(|| anyhow!("no purchase {trx} of {account}"))?;
            let outcome = match (delivered, failed) {
                (true, false) => {
                    Outcome::Success { provider_ref: None, meta: serde_json::json!({}), cards: tx.cards.clone() }
                }
                (false, true) => Outcome::Failed { reason },
                _ => bail!("say --delivered or --failed"),
            };
            match vtu::settle(store, &tx, &outcome, "operator").await? {
                Some(after) => print_json(&after),
                None => bail!("purchase {trx} is {} now, not processing: nothing changed", tx.status.as_str()),
            }
        }
        VtuCmd::Reverse { account, trx, reason } => {
            let tx = store.get_vtu(&account, &trx).await?.ok_or_else(|| anyhow!("no purchase {trx} of {account}"))?;
            match vtu::reverse(store, &tx, &reason, "operator").await? {
                Some(after) => print_json(&after),
                None => bail!("purchase {trx} is {} now, not delivered: nothing changed", tx.status.as_str()),
            }
        }
    }
}
