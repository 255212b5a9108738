//! `kobo plan`: plans (discounts and rate limits).

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use clap::Subcommand;
use kobo_shared::domain::account::Plan;
use kobo_shared::domain::vtu::VtuCategory;
use kobo_shared::flows::accounts;

use super::{percent_to_bp, print_json, Conn};

/// Plans.
#[derive(Subcommand, Debug)]
pub enum PlanCmd {
    /// Create or replace a plan.
    Create {
        /// Plan id (letters and digits).
        #[arg(long)]
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// SMM discount in percent, e.g. 2.5.
        #[arg(long, default_value = "0")]
        smm_discount: String,
        /// VTU discount on the profit, per category: `data=10` (repeatable).
        #[arg(long = "vtu-discount", value_name = "CATEGORY=PERCENT")]
        vtu_discount: Vec<String>,
        /// Requests per minute per key (0 = unlimited).
        #[arg(long, default_value_t = 120)]
        key_rpm: u32,
        /// Requests per minute per source IP (0 = unlimited).
        #[arg(long, default_value_t = 300)]
        ip_rpm: u32,
        /// Offer the plan in the Developer Portal at this price in naira (requests are
        /// charged it from the wallet and wait for `kobo access approve`). Without it the
        /// plan is not offered: replacing an offered plan withdraws its offer.
        #[arg(long)]
        price: Option<String>,
        /// Requests for the plan must carry KYC details (business name, NIN/BVN, address).
        #[arg(long, requires = "price")]
        kyc: bool,
    },
    /// List plans.
    List,
}

/// Runs a plan command.
pub async fn plan(conn: &Conn, cmd: PlanCmd) -> Result<()> {
    match cmd {
        PlanCmd::Create { id, name, smm_discount, vtu_discount, key_rpm, ip_rpm, price, kyc } => {
            let mut vtu: BTreeMap<VtuCategory, u32> = VtuCategory::ALL.into_iter().map(|c| (c, 0)).collect();
            for entry in vtu_discount {
                let (cat, pct) =
                    entry.split_once('=').ok_or_else(|| anyhow!("--vtu-discount takes CATEGORY=PERCENT"))?;
                let cat: VtuCategory = cat.trim().parse().map_err(|e: String| anyhow!(e))?;
                vtu.insert(cat, percent_to_bp(pct)?);
            }
            let plan = Plan {
                id,
                name,
                smm_discount_bp: percent_to_bp(&smm_discount)?,
                vtu_discount_bp: vtu,
                key_rpm,
                ip_rpm,
            };
            accounts::validate_plan(&plan)?;
            conn.store.put_plan(&plan).await?;
            if let Some(price) = price {
                let price = kobo_shared::Kobo::parse_naira(&price).map_err(|e| anyhow!("--price: {e}"))?;
                conn.store.set_plan_offer(&plan.id, price, kyc).await?;
            }
            print_json(&plan)
        }
        PlanCmd::List => print_json(&conn.store.plans().await?),
    }
}

#[cfg(test)]
mod tests {
    use super::PlanCmd;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Args {
        #[command(subcommand)]
        cmd: PlanCmd,
    }

    #[test]
    fn kyc_is_refused_without_a_price_to_offer_the_plan_at() {
        let create = ["plan", "create", "--id", "gold", "--name", "Gold", "--kyc"];
        let e = Args::try_parse_from(create).expect_err("--kyc alone offers nothing");
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let offered = Args::try_parse_from(create.into_iter().chain(["--price", "20000"])).expect("offered with KYC");
        assert!(matches!(offered.cmd, PlanCmd::Create { kyc: true, price: Some(ref p), .. } if p == "20000"));
    }
}
