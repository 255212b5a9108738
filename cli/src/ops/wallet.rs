//! `kobo wallet`: wallets (credit and debit with a reason).

use anyhow::Result;
use clap::Subcommand;
use kobo_shared::flows::accounts;
use kobo_shared::flows::accounts::Direction;

use super::{parse_naira, print_json, Conn};

/// Wallets.
#[derive(Subcommand, Debug)]
pub enum WalletCmd {
    /// Credit a wallet (naira) with a reason.
    Credit {
        /// Account id.
        account: String,
        /// Naira, e.g. 5000 or 1250.50.
        amount: String,
        /// Why (kept in the ledger).
        #[arg(long)]
        reason: String,
    },
    /// Debit a wallet (naira) with a reason; never below zero.
    Debit {
        /// Account id.
        account: String,
        /// Naira.
        amount: String,
        /// Why (kept in the ledger).
        #[arg(long)]
        reason: String,
    },
}

/// Runs a wallet command.
pub async fn wallet(conn: &Conn, cmd: WalletCmd) -> Result<()> {
    let (account, amount, reason, dir) = match cmd {
        WalletCmd::Credit { account, amount, reason } => (account, amount, reason, Direction::Credit),
        WalletCmd::Debit { account, amount, reason } => (account, amount, reason, Direction::Debit),
    };
    let amount = parse_naira("amount", &amount)?;
    let entry = accounts::adjust(&conn.store, &account, dir, amount, &reason, "operator").await?;
    print_json(&entry)
}
