//! `kobo account`: accounts (create, activate, PIN, plan).

use anyhow::{anyhow, bail, Result};
use clap::Subcommand;
use kobo_shared::flows::accounts;
use kobo_shared::flows::accounts::NewAccount;
use kobo_shared::Kobo;

use super::{parse_naira, print_json, Conn};

/// Accounts.
#[derive(Subcommand, Debug)]
pub enum AccountCmd {
    /// Create an account (API access inactive unless --active).
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Plan id.
        #[arg(long)]
        plan: String,
        /// Contact e-mail.
        #[arg(long)]
        email: Option<String>,
        /// Contact phone.
        #[arg(long)]
        phone: Option<String>,
        /// Activate API access at once.
        #[arg(long)]
        active: bool,
    },
    /// List accounts.
    List,
    /// Show one account.
    Show {
        /// Account id.
        account: String,
    },
    /// Activate API access.
    Activate {
        /// Account id.
        account: String,
    },
    /// Deactivate API access (effective on the next request).
    Deactivate {
        /// Account id.
        account: String,
    },
    /// Move to another plan.
    SetPlan {
        /// Account id.
        account: String,
        /// Plan id.
        plan: String,
    },
    /// Set the minimum balance spends may not go below (naira).
    SetMinBalance {
        /// Account id.
        account: String,
        /// Naira, e.g. 500 or 0.
        amount: String,
    },
    /// Turn SMS notices on (deposit credited, withdrawal paid, low balance) or off.
    Notices {
        /// Account id.
        account: String,
        /// Nigerian phone to notify; omit with --off.
        #[arg(long)]
        phone: Option<String>,
        /// Also notify when a spend takes the balance below this (naira).
        #[arg(long)]
        low_balance: Option<String>,
        /// Turn notices off.
        #[arg(long)]
        off: bool,
    },
    /// Set or reset the transaction PIN (4-6 digits); clears a lockout.
    SetPin {
        /// Account id.
        account: String,
        /// The new PIN; read from KOBO_NEW_PIN when omitted, so it stays out of shell history.
        #[arg(long, env = "KOBO_NEW_PIN", hide_env_values = true)]
        pin: String,
    },
    /// Set the verified payout phone: withdrawals are paid to it and their OTPs go only
    /// there. Set it only after verifying the reseller owns it (the portal does this by
    /// OTP).
    PayoutPhone {
        /// Account id.
        account: String,
        /// Nigerian mobile number.
        #[arg(long, conflicts_with = "off")]
        phone: Option<String>,
        /// Remove it (withdrawals stop until a new one is verified).
        #[arg(long)]
        off: bool,
    },
    /// Lift a PIN lock of any level (after repeated wrong PINs), keeping the PIN: for a
    /// reseller who proved who they are. The escalation starts over.
    UnlockPin {
        /// Account id.
        account: String,
    },
}

/// Runs an account command.
pub async fn account(conn: &Conn, cmd: AccountCmd) -> Result<()> {
    let store = &conn.store;
    match cmd {
        AccountCmd::Create { name, plan, email, phone, active } => {
            let a = accounts::create_account(
                store,
                NewAccount { name, plan_id: plan, email, phone, api_active: active, id: None },
            )
            .await?;
            print_json(&a)
        }
        AccountCmd::List => print_json(&store.list_accounts().await?),
        AccountCmd::Show { account } => {
            print_json(&store.get_account(&account).await?.ok_or_else(|| anyhow!("no account {account}"))?)
        }
        AccountCmd::Activate { account } => {
            store.set_api_active(&account, true).await?;
            println!("API access of {account} is active");
            Ok(())
        }
        AccountCmd::Deactivate { account } => {
            store.set_api_active(&account, false).await?;
            println!("API access of {account} is inactive");
            Ok(())
        }
        AccountCmd::SetPlan { account, plan } => {
            if !store.plans().await?.iter().any(|p| p.id == plan) {
                bail!("plan {plan:?} does not exist");
            }
            store.set_plan(&account, &plan).await?;
            println!("{account} is on plan {plan}");
            Ok(())
        }
        AccountCmd::SetMinBalance { account, amount } => {
            let min = if amount.trim() == "0" { Kobo::ZERO } else { parse_naira("amount", &amount)? };
            store.set_min_balance(&account, min).await?;
            println!("minimum balance of {account} is {min}");
            Ok(())
        }
        AccountCmd::Notices { account, phone, low_balance, off } => {
            let settings = if off {
                kobo_shared::domain::account::NoticeSettings::default()
            } else {
                let phone = phone.ok_or_else(|| anyhow!("give --phone or --off"))?;
                let phone = kobo_shared::domain::phone::nigerian_e164(&phone)
                    .ok_or_else(|| anyhow!("--phone must be a Nigerian mobile number"))?;
                let low = low_balance.map(|l| parse_naira("--low-balance", &l)).transpose()?;
                kobo_shared::domain::account::NoticeSettings { phone: Some(phone), low_balance: low }
            };
            store.set_notices(&account, &settings).await?;
            print_json(&settings)
        }
        AccountCmd::SetPin { account, pin } => {
            let pepper = conn.pin_pepper().await?;
            accounts::set_pin(store, &pepper, &account, &pin).await?;
            println!("PIN of {account} set; failed attempts and lockout cleared");
            Ok(())
        }
        AccountCmd::PayoutPhone { account, phone, off } => {
            let phone = if off {
                None
            } else {
                let phone = phone.ok_or_else(|| anyhow!("give --phone or --off"))?;
                Some(
                    kobo_shared::domain::phone::nigerian_e164(&phone)
                        .ok_or_else(|| anyhow!("--phone must be a Nigerian mobile number"))?,
                )
            };
            store.set_payout_phone(&account, phone.as_deref()).await?;
            println!(
                "payout phone of {account}: {}",
                phone.as_deref().map(kobo_shared::domain::phone::mask_phone).unwrap_or_else(|| "none".into())
            );
            Ok(())
        }
        AccountCmd::UnlockPin { account } => {
            store.unlock_pin(&account).await?;
            println!("PIN lock of {account} lifted; failed attempts cleared");
            Ok(())
        }
    }
}
