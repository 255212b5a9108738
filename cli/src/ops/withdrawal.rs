//! `kobo withdrawal`: withdrawals (pending, paying, approve, reject, settle).

use anyhow::{anyhow, bail, Result};
use clap::Subcommand;
use kobo_shared::domain::withdrawal::Withdrawal;
use kobo_shared::Store;

use super::{demo_str, print_json, read_demo, Conn, Target};
use crate::devstack::Project;

/// Withdrawals.
#[derive(Subcommand, Debug)]
pub enum WithdrawalCmd {
    /// Withdrawals waiting for approval, oldest first.
    Pending,
    /// Withdrawals approved and not settled yet (Hubtel's outcome awaited), oldest first.
    Paying,
    /// Settle a paying withdrawal whose outcome only Hubtel can tell (see `kobo alerts`),
    /// after looking its clientReference (the withdrawal id) up on Hubtel.
    Settle {
        /// Account id.
        account: String,
        /// Withdrawal id.
        id: String,
        /// Hubtel paid it.
        #[arg(long, conflicts_with = "failed", requires = "transaction")]
        paid: bool,
        /// Hubtel's transaction id of the payout.
        #[arg(long)]
        transaction: Option<String>,
        /// Hubtel did not pay it: the hold goes back to the wallet.
        #[arg(long, requires = "reason")]
        failed: bool,
        /// Why it failed (kept on the withdrawal and in the ledger).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Approve: `withdraw.approved`, then Hubtel sends the money.
    Approve {
        /// Account id.
        account: String,
        /// Withdrawal id.
        id: String,
    },
    /// Reject: the held amount goes back to the wallet.
    Reject {
        /// Account id.
        account: String,
        /// Withdrawal id.
        id: String,
        /// Why (kept on the withdrawal and in the ledger).
        #[arg(long)]
        reason: String,
    },
}

/// Runs a withdrawal command.
pub async fn withdrawal(conn: &Conn, project: &Project, target: &Target, cmd: WithdrawalCmd) -> Result<()> {
    use kobo_shared::domain::withdrawal::WithdrawalStatus;
    use kobo_shared::flows::withdrawals;
    let store = &conn.store;
    match cmd {
        WithdrawalCmd::Pending => print_json(&store.pending_withdrawals(1000).await?),
        WithdrawalCmd::Paying => print_json(&store.paying_withdrawals().await?),
        WithdrawalCmd::Settle { account, id, paid, transaction, failed, reason } => {
            let w = find_withdrawal(store, &account, &id).await?;
            let moved = match (paid, failed) {
                (true, false) => withdrawals::mark_paid(store, &w, transaction.as_deref().unwrap_or_default()).await?,
                (false, true) => {
                    let why = reason.unwrap_or_default();
                    withdrawals::release(
                        store,
                        &w,
                        WithdrawalStatus::Paying,
                        WithdrawalStatus::Failed,
                        &why,
                        "operator",
                    )
                    .await?
                }
                _ => bail!("say --paid --transaction <Hubtel id>, or --failed --reason <why>"),
            };
            if !moved {
                bail!("withdrawal {id} is {}, not paying: nothing changed", w.status.as_str());
            }
            print_json(&store.get_withdrawal(&account, &id).await?)
        }
        WithdrawalCmd::Reject { account, id, reason } => {
            let w = find_withdrawal(store, &account, &id).await?;
            if !withdrawals::release(
                store,
                &w,
                WithdrawalStatus::PendingApproval,
                WithdrawalStatus::Rejected,
                &reason,
                "operator",
            )
            .await?
            {
                bail!(
                    "withdrawal {id} is {} now, not pending approval",
                    store.get_withdrawal(&account, &id).await?.map(|w| w.status.as_str()).unwrap_or("gone")
                );
            }
            print_json(&store.get_withdrawal(&account, &id).await?)
        }
        WithdrawalCmd::Approve { account, id } => {
            let w = find_withdrawal(store, &account, &id).await?;
            if w.status != WithdrawalStatus::PendingApproval {
                bail!("withdrawal {id} is {}, not pending approval", w.status.as_str());
            }
            let (hubtel_url, public_url, window) = if target.local {
                let v = read_demo(project)?;
                (
                    demo_str(&v, "hubtel_simulator")?,
                    demo_str(&v, "base_url")?,
                    v["hubtel_window_secs"].as_u64().unwrap_or(60),
                )
            } else {
                let c = kobo_shared::platform::config::Config::from_env()?;
                (c.hubtel_url, c.public_url, c.hubtel_window_secs)
            };
            let mut config = kobo_shared::platform::config::Config::for_table(store.table());
            config.hubtel_url = hubtel_url;
            config.provider_secret_id = provider_secret_id(project, target)?;
            config.hubtel_window_secs = window;
            let providers = kobo_shared::flows::providers::Providers::new(&config, conn.secrets_client.clone(), store);
            let key = conn.callback_key().await?;
            let after = withdrawals::approve_and_pay(
                store,
                &*providers.hubtel.get().await?,
                &providers.hubtel_throttle,
                &key,
                &public_url,
                &w,
            )
            .await?;
            print_json(&after)
        }
    }
}

fn provider_secret_id(project: &Project, target: &Target) -> Result<String> {
    if target.local {
        return demo_str(&read_demo(project)?, "provider_secret_id");
    }
    Ok(std::env::var("KOBO_PROVIDER_SECRET_ID").unwrap_or_else(|_| "kobo/providers".into()))
}

async fn find_withdrawal(store: &Store, account: &str, id: &str) -> Result<Withdrawal> {
    store.get_withdrawal(account, id).await?.ok_or_else(|| anyhow!("no withdrawal {id} of {account}"))
}
