//! `kobo ledger`: ledgers (show, check).

use anyhow::{bail, Result};
use clap::Subcommand;
use kobo_shared::flows::accounts;

use super::{print_json, Conn};

/// Ledgers.
#[derive(Subcommand, Debug)]
pub enum LedgerCmd {
    /// Show an account's ledger.
    Show {
        /// Account id.
        account: String,
    },
    /// Check that every account's ledger sums to its balance (exit 1 if not).
    Check,
}

/// Runs a ledger command.
pub async fn ledger(conn: &Conn, cmd: LedgerCmd) -> Result<()> {
    match cmd {
        LedgerCmd::Show { account } => print_json(&conn.store.ledger(&account).await?),
        LedgerCmd::Check => {
            let checks = accounts::check_all_ledgers(&conn.store).await?;
            let bad: Vec<_> = checks.iter().filter(|c| !c.ok()).collect();
            for c in &checks {
                println!(
                    "{} {:<32} balance {:>16} ledger {:>16} ({} entries)",
                    if c.ok() { "ok " } else { "BAD" },
                    c.account_id,
                    c.balance.to_string(),
                    c.ledger_sum.to_string(),
                    c.entries
                );
            }
            if !bad.is_empty() {
                bail!("{} of {} ledgers do not sum to their balance", bad.len(), checks.len());
            }
            println!("all {} ledgers sum to their balances", checks.len());
            Ok(())
        }
    }
}
