//! `kobo alerts`: what kobo cannot settle by itself, each with its reason and the command
//! that settles it (list, resolve).

use anyhow::{bail, Result};
use clap::Subcommand;

use super::Conn;

/// Operator alerts.
#[derive(Subcommand, Debug)]
pub enum AlertCmd {
    /// List open alerts: subject, account, reason and the command that settles each.
    List,
    /// Close an alert once it is settled.
    Resolve {
        /// Its subject, e.g. `vtu:<trx>/processing-long`.
        subject: String,
    },
}

/// Runs an alert command.
pub async fn alert(conn: &Conn, cmd: AlertCmd) -> Result<()> {
    match cmd {
        AlertCmd::List => {
            let alerts = conn.store.alerts().await?;
            for a in &alerts {
                println!(
                    "{}  {}  account {}\n  {}\n  settle: {}",
                    a.created_at, a.subject, a.account_id, a.reason, a.command
                );
            }
            println!("{} open alert(s)", alerts.len());
            Ok(())
        }
        AlertCmd::Resolve { subject } => {
            if !conn.store.resolve_alert(&subject).await? {
                bail!("no open alert on {subject}");
            }
            println!("closed the alert on {subject}");
            Ok(())
        }
    }
}
