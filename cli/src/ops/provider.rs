//! `kobo provider`: the VTU providers kobo routes to (list with their state and float,
//! enable, disable, balance). Credentials stay in the provider secret and URLs in the
//! stack's settings (`KOBO_VTPASS_URL`, `KOBO_TOPUP_URL`).

use anyhow::{bail, Result};
use clap::Subcommand;
use kobo_shared::upstream::vtu::PROVIDERS;

use super::{print_json, Conn, Target};
use crate::devstack::Project;

/// VTU providers.
#[derive(Subcommand, Debug)]
pub enum ProviderCmd {
    /// Every provider kobo can route to: enabled or not, float flagged low or not, the
    /// float last read and when.
    List,
    /// Route to this provider again.
    Enable {
        /// `topup` or `vtpass`.
        name: String,
    },
    /// Never route to this provider (purchases already with it are still requeried
    /// there; a route left with no enabled provider refuses purchases, charging nothing).
    Disable {
        /// `topup` or `vtpass`.
        name: String,
    },
    /// The provider's wallet as it answers now (VTpass).
    Balance {
        /// The provider.
        #[arg(default_value = "vtpass")]
        name: String,
        /// VTpass's API base URL (default: KOBO_VTPASS_URL; the local stack's replica with --local).
        #[arg(long, env = "KOBO_VTPASS_URL")]
        vtpass_url: Option<String>,
        /// Secrets Manager id of the provider secret.
        #[arg(long, env = "KOBO_PROVIDER_SECRET_ID", default_value = "kobo/providers")]
        provider_secret_id: String,
    },
}

fn known(name: &str) -> Result<String> {
    let name = name.trim().to_ascii_lowercase();
    if !PROVIDERS.contains(&name.as_str()) {
        bail!("unknown provider {name:?}: kobo routes to {}", PROVIDERS.join(", "));
    }
    Ok(name)
}

/// Runs a provider command.
pub async fn provider(conn: &Conn, project: &Project, target: &Target, cmd: ProviderCmd) -> Result<()> {
    let store = &conn.store;
    match cmd {
        ProviderCmd::List => {
            let states = store.provider_states().await?;
            let list: Vec<serde_json::Value> = PROVIDERS
                .iter()
                .map(|p| {
                    states.iter().find(|s| s["provider"] == *p).cloned().unwrap_or_else(
                        || serde_json::json!({"provider": p, "disabled": false, "low": false, "float": null}),
                    )
                })
                .collect();
            print_json(&list)
        }
        ProviderCmd::Enable { name } => {
            let name = known(&name)?;
            let changed = store.set_provider_disabled(&name, false).await?;
            println!("{name} {}", if changed { "enabled" } else { "was enabled already" });
            Ok(())
        }
        ProviderCmd::Disable { name } => {
            let name = known(&name)?;
            let changed = store.set_provider_disabled(&name, true).await?;
            println!("{name} {}", if changed { "disabled" } else { "was disabled already" });
            Ok(())
        }
        ProviderCmd::Balance { name, vtpass_url, provider_secret_id } => {
            let name = known(&name)?;
            let client =
                super::vtu::vtpass_client(conn, project, target, &name, vtpass_url, provider_secret_id).await?;
            print_json(
                &serde_json::json!({"provider": name, "balance": client.balance().await?.to_string(), "currency": "NGN"}),
            )
        }
    }
}
