//! `kobo access`: API access requests made in the Developer Portal: list the pending
//! ones, approve (plan set, API access on) or reject (the price refunded exactly once).

use anyhow::{bail, Result};
use clap::Subcommand;
use kobo_shared::flows::access;

use super::{print_json, Conn};

/// API access requests.
#[derive(Subcommand, Debug)]
pub enum AccessCmd {
    /// Requests waiting for a decision, oldest first.
    List,
    /// Approve a request: the account gets the plan and API access.
    Approve {
        /// Account id.
        account: String,
        /// Request id (`acr_...`).
        request: String,
    },
    /// Reject a request: its price goes back to the wallet, once.
    Reject {
        /// Account id.
        account: String,
        /// Request id (`acr_...`).
        request: String,
        /// Why (shown to the reseller).
        #[arg(long)]
        reason: String,
    },
}

/// Runs an access command.
pub async fn access_cmd(conn: &Conn, cmd: AccessCmd) -> Result<()> {
    match cmd {
        AccessCmd::List => print_json(&conn.store.pending_access_requests().await?),
        AccessCmd::Approve { account, request } => {
            if !access::approve(&conn.store, &account, &request).await? {
                bail!("request {request} was settled by someone else first; nothing changed");
            }
            println!("request {request} approved: {account} has API access");
            Ok(())
        }
        AccessCmd::Reject { account, request, reason } => {
            if reason.trim().is_empty() {
                bail!("--reason must say why");
            }
            if !access::reject(&conn.store, &account, &request, reason.trim()).await? {
                bail!("request {request} was settled by someone else first; nothing refunded by this call");
            }
            println!("request {request} rejected and refunded");
            Ok(())
        }
    }
}
