//! `kobo vtu`: VTU purchases (processing, settle, reverse) — the exit of a purchase the
//! provider never answered for (see `kobo alerts`), and of a reversal the provider told
//! an operator about but its requery does not show.

use anyhow::{anyhow, bail, Result};
use clap::Subcommand;
use kobo_shared::domain::vtu::Outcome;
use kobo_shared::flows::vtu;

use super::{print_json, Conn};

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

/// Runs a VTU command.
pub async fn vtu_cmd(conn: &Conn, cmd: VtuCmd) -> Result<()> {
    let store = &conn.store;
    match cmd {
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
