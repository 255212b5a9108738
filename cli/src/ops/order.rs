//! `kobo order`: SMM orders (show, list open ones, resolve unknown upstream outcomes).

use anyhow::{anyhow, bail, Result};
use clap::Subcommand;
use kobo_shared::domain::smm::Order;
use kobo_shared::Store;

use super::{parse_naira, print_json, Conn};

/// SMM orders.
#[derive(Subcommand, Debug)]
pub enum OrderCmd {
    /// Show an order.
    Show {
        /// Account id.
        account: String,
        /// Order id.
        id: u64,
    },
    /// List orders not final yet (oldest first), with their upstream state.
    Open,
    /// Settle an order whose upstream outcome is unknown, after checking the panel by hand:
    /// either upstream has it (give its id) or it never arrived (it is sent again).
    Resolve {
        /// Account id.
        account: String,
        /// Order id.
        id: u64,
        /// The upstream order id found on the panel.
        #[arg(long, conflicts_with = "not_placed")]
        upstream_order: Option<String>,
        /// Upstream does not have it: send it again on the next reconciler pass.
        #[arg(long)]
        not_placed: bool,
    },
    /// Settle an open order as partial with what the panel refunded (a package reported
    /// partial, or remains kobo could not read: see `kobo alerts list`). Refunds once.
    SettlePartial {
        /// Account id.
        account: String,
        /// Order id.
        id: u64,
        /// Naira to refund (what the panel refunded in kobo's price; at most the charge;
        /// 0 for none).
        #[arg(long)]
        refund: String,
    },
}

/// Runs an order command.
pub async fn order(conn: &Conn, cmd: OrderCmd) -> Result<()> {
    use kobo_shared::domain::smm::UpstreamState;
    let store = &conn.store;
    match cmd {
        OrderCmd::Show { account, id } => print_json(&find_order(store, &account, id).await?),
        OrderCmd::Open => print_json(&store.open_orders().await?),
        OrderCmd::Resolve { account, id, upstream_order, not_placed } => {
            let o = find_order(store, &account, id).await?;
            if o.upstream != UpstreamState::Unknown {
                bail!("order {id} is {:?} upstream, not unknown: nothing to resolve", o.upstream);
            }
            match (upstream_order, not_placed) {
                (Some(u), false) => {
                    store.set_upstream(&o, UpstreamState::Unknown, UpstreamState::Placed, Some(&u)).await?
                }
                (None, true) => store.set_upstream(&o, UpstreamState::Unknown, UpstreamState::Unsent, None).await?,
                _ => bail!("give --upstream-order ID or --not-placed"),
            }
            print_json(&store.get_order(&account, id).await?)
        }
        OrderCmd::SettlePartial { account, id, refund } => {
            let o = find_order(store, &account, id).await?;
            let zero = matches!(refund.trim(), "0" | "0.0" | "0.00");
            let refund = if zero { kobo_shared::Kobo::ZERO } else { parse_naira("refund", &refund)? };
            if refund > o.charge {
                bail!("the refund {refund} is more than order {id}'s charge {}", o.charge);
            }
            if !kobo_shared::flows::orders::settle_partial(store, &o, refund, "settled by the operator").await? {
                bail!(
                    "order {id} is {} already: nothing changed",
                    store.get_order(&account, id).await?.map(|o| o.status.to_string()).unwrap_or_default()
                );
            }
            print_json(&store.get_order(&account, id).await?)
        }
    }
}

async fn find_order(store: &Store, account: &str, id: u64) -> Result<Order> {
    store.get_order(account, id).await?.ok_or_else(|| anyhow!("no order {id} of {account}"))
}
