//! `kobo wallet`: wallets (credit and debit with a reason), each at most once per
//! reference.

use anyhow::Result;
use clap::Subcommand;
use kobo_shared::flows::accounts;
use kobo_shared::flows::accounts::{Adjusted, Direction};

use super::{parse_naira, print_json, Conn};

/// Wallets.
#[derive(Subcommand, Debug)]
pub enum WalletCmd {
    /// Credit a wallet (naira) with a reason, at most once per reference.
    Credit {
        /// Account id.
        account: String,
        /// Naira, e.g. 5000 or 1250.50.
        amount: String,
        /// Why (kept in the ledger).
        #[arg(long)]
        reason: String,
        /// Idempotency reference: running the command again with it (after an unclear
        /// answer) applies it at most once. Derived from account, amount and reason when
        /// not given, and printed; an identical second credit needs a reference of its own.
        #[arg(long = "ref")]
        reference: Option<String>,
    },
    /// Debit a wallet (naira) with a reason, never below zero; at most once per reference.
    Debit {
        /// Account id.
        account: String,
        /// Naira.
        amount: String,
        /// Why (kept in the ledger).
        #[arg(long)]
        reason: String,
        /// Idempotency reference (see `credit --ref`).
        #[arg(long = "ref")]
        reference: Option<String>,
    },
}

/// Runs a wallet command.
pub async fn wallet(conn: &Conn, cmd: WalletCmd) -> Result<()> {
    let (account, amount, reason, reference, dir) = match cmd {
        WalletCmd::Credit { account, amount, reason, reference } => {
            (account, amount, reason, reference, Direction::Credit)
        }
        WalletCmd::Debit { account, amount, reason, reference } => {
            (account, amount, reason, reference, Direction::Debit)
        }
    };
    let amount = parse_naira("amount", &amount)?;
    let reference = reference.unwrap_or_else(|| accounts::derived_reference(&account, dir, amount, &reason));
    eprintln!("reference {reference} (run again with --ref {reference} to apply it at most once)");
    match accounts::adjust_once(&conn.store, &account, dir, amount, &reason, "operator", &reference).await? {
        Adjusted::Applied(entry) => print_json(&entry),
        Adjusted::AlreadyApplied(entry) => {
            eprintln!("already applied under reference {reference} at {}: nothing changed now", entry.created_at);
            print_json(&entry)
        }
    }
}
