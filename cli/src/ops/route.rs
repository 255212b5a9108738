//! `kobo route`: which VTU providers a category's service is bought from, in order (the
//! next only when the one before certainly did not take a purchase).

use anyhow::{bail, Result};
use clap::Subcommand;
use kobo_shared::domain::vtu::{VtuCategory, VtuRoute};
use kobo_shared::upstream::vtu::PROVIDERS;

use super::{print_json, Conn};

/// VTU routes.
#[derive(Subcommand, Debug)]
pub enum RouteCmd {
    /// Set the providers of a category's service, first choice first, e.g. `kobo route
    /// set airtime mtn vtpass,topup`; `*` as the service sets the category's default.
    Set {
        /// `airtime`, `data`, `sme`, `cable`, `electricity`, `education`, `recharge_card`.
        category: String,
        /// The service (`mtn`, `mtn-data`, `dstv`, `ikeja-electric`, `waec`, ...) or `*`.
        service: String,
        /// Provider names, comma-separated (`topup`, `vtpass`).
        providers: String,
    },
    /// Every route set (a service without one goes to its category's, else to `topup`).
    Show,
}

/// The route `kobo route set` would store, checked.
pub fn parse_route(category: &str, service: &str, providers: &str) -> Result<VtuRoute> {
    let Ok(category) = category.parse::<VtuCategory>() else { bail!("unknown category {category:?}") };
    let service = service.trim().to_ascii_lowercase();
    if service.is_empty() || !service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*') {
        bail!("give a service such as mtn-data, or * for the whole category");
    }
    let providers: Vec<String> = providers.split(',').map(|p| p.trim().to_ascii_lowercase()).collect();
    if let Some(bad) = providers.iter().find(|p| !PROVIDERS.contains(&p.as_str())) {
        bail!("unknown provider {bad:?}: kobo routes to {}", PROVIDERS.join(", "));
    }
    let mut seen = std::collections::HashSet::new();
    if !providers.iter().all(|p| seen.insert(p.clone())) {
        bail!("a provider is named twice");
    }
    Ok(VtuRoute { category, service, providers })
}

/// Runs a route command.
pub async fn route(conn: &Conn, cmd: RouteCmd) -> Result<()> {
    match cmd {
        RouteCmd::Set { category, service, providers } => {
            let r = parse_route(&category, &service, &providers)?;
            conn.store.put_vtu_route(&r).await?;
            print_json(&r)
        }
        RouteCmd::Show => print_json(&conn.store.vtu_catalog().await?.routes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_checked() {
        let r = parse_route("airtime", "MTN", "vtpass, topup").map_err(|e| e.to_string());
        assert_eq!(r.map(|r| (r.service, r.providers)), Ok(("mtn".into(), vec!["vtpass".into(), "topup".into()])));
        assert!(parse_route("airtime", "*", "vtpass").is_ok());
        for (c, s, p) in [
            ("fuel", "mtn", "vtpass"),
            ("airtime", "", "vtpass"),
            ("airtime", "mtn", "nobody"),
            ("airtime", "mtn", "vtpass,vtpass"),
        ] {
            assert!(parse_route(c, s, p).is_err(), "{c} {s} {p}");
        }
    }
}
