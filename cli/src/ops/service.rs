//! `kobo service`: the SMM catalog (import from upstream, enable, disable, set rates).

use anyhow::{anyhow, Result};
use clap::Subcommand;

use super::{demo_str, parse_naira, percent_to_bp, print_json, read_demo, Conn, Target};
use crate::devstack::Project;

/// The SMM catalog.
#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    /// Import or refresh every upstream service with a markup over its cost (percent).
    Import {
        /// Markup in percent, e.g. 20.
        #[arg(long, default_value = "20")]
        markup: String,
        /// Upstream panel API URL (default: KOBO_SMM_URL; the local stack's simulator with --local).
        #[arg(long, env = "KOBO_SMM_URL")]
        smm_url: Option<String>,
        /// Secrets Manager id of the provider secret.
        #[arg(long, env = "KOBO_PROVIDER_SECRET_ID", default_value = "kobo/providers")]
        provider_secret_id: String,
    },
    /// List the catalog (disabled services included).
    List,
    /// Let resellers see and order a service.
    Enable {
        /// Service id.
        id: u64,
    },
    /// Hide a service from resellers.
    Disable {
        /// Service id.
        id: u64,
    },
    /// Set the sell rate per 1000 (naira), before plan discounts.
    SetRate {
        /// Service id.
        id: u64,
        /// Naira per 1000.
        rate: String,
    },
}

/// Runs a service command.
pub async fn service(conn: &Conn, project: &Project, target: &Target, cmd: ServiceCmd) -> Result<()> {
    let store = &conn.store;
    match cmd {
        ServiceCmd::Import { markup, smm_url, provider_secret_id } => {
            let (url, secret_id) = if target.local {
                let v = read_demo(project)?;
                (demo_str(&v, "smm_url")?, demo_str(&v, "provider_secret_id")?)
            } else {
                (smm_url.ok_or_else(|| anyhow!("give --smm-url or set KOBO_SMM_URL"))?, provider_secret_id)
            };
            let mut config = kobo_shared::platform::config::Config::for_table(store.table());
            config.smm_url = url;
            config.provider_secret_id = secret_id;
            let smm = kobo_shared::flows::providers::Providers::new(&config, conn.secrets_client.clone(), store).smm;
            let panel = smm.get().await?;
            let imported =
                kobo_shared::flows::catalog::import_services(store, &*panel, percent_to_bp(&markup)?).await?;
            println!("imported {} services", imported.len());
            print_json(&imported)
        }
        ServiceCmd::List => print_json(&store.services().await?),
        ServiceCmd::Enable { id } => {
            print_json(&kobo_shared::flows::catalog::update_service(store, id, |s| s.enabled = true).await?)
        }
        ServiceCmd::Disable { id } => {
            print_json(&kobo_shared::flows::catalog::update_service(store, id, |s| s.enabled = false).await?)
        }
        ServiceCmd::SetRate { id, rate } => {
            let rate = parse_naira("rate", &rate)?;
            print_json(&kobo_shared::flows::catalog::update_service(store, id, |s| s.rate_per_1000 = rate).await?)
        }
    }
}
