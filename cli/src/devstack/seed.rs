//! Seed data of the local stack: a demo plan and reseller (random key, shown once), and
//! the fixture account whose known keys the files in `events/` carry.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use kobo_shared::domain::account::Plan;
use kobo_shared::domain::vtu::VtuCategory;
use kobo_shared::flows::accounts;
use kobo_shared::flows::accounts::{Direction, NewAccount};
use kobo_shared::{Action, Kobo, Store};

/// The demo reseller's transaction PIN.
pub const DEMO_PIN: &str = "1234";
/// The demo reseller's opening balance: ₦50,000.00.
pub const DEMO_BALANCE: Kobo = Kobo::naira(50_000);
/// Markup of the demo catalog over the upstream cost: 20%.
pub const DEMO_MARKUP_BP: u32 = 2000;
/// The demo plan's id.
pub const DEMO_PLAN: &str = "demo";

/// Account id of the `events/` fixtures.
pub const FIXTURE_ACCOUNT: &str = "evtfixture";
/// The fixture key with every scope (in `events/balance-*.json`).
pub const FIXTURE_KEY: &str = "kobo_evtfixture_EventsFixtureKeyAllScopes0000000000000001";
/// The fixture key allowed only `services` (in `events/balance-wrong-scope.json`).
pub const FIXTURE_SCOPED_KEY: &str = "kobo_evtfixture_EventsFixtureKeyServicesOnly00000000000002";
/// The fixture account's balance: ₦1,234.56.
pub const FIXTURE_BALANCE: Kobo = Kobo::new(123_456);

/// What was seeded for the demo reseller.
#[derive(Debug, Clone)]
pub struct Demo {
    /// Account id.
    pub account_id: String,
    /// The full API key (every scope).
    pub api_key: String,
    /// Transaction PIN.
    pub pin: String,
    /// The Developer Portal login's email.
    pub portal_email: String,
    /// Its password (random per start).
    pub portal_password: String,
}

/// The demo reseller's portal email.
pub const DEMO_EMAIL: &str = "demo@kobo.local";

/// A plan the portal offers beside the demo plan: discounts, KYC required.
pub fn pro_plan() -> Plan {
    Plan {
        id: "pro".into(),
        name: "Pro".into(),
        smm_discount_bp: 500,
        vtu_discount_bp: VtuCategory::ALL.into_iter().map(|c| (c, 1000)).collect::<BTreeMap<_, _>>(),
        key_rpm: 1200,
        ip_rpm: 2400,
    }
}

/// The demo plan: no discounts, generous limits.
pub fn demo_plan() -> Plan {
    Plan {
        id: DEMO_PLAN.into(),
        name: "Demo".into(),
        smm_discount_bp: 0,
        vtu_discount_bp: VtuCategory::ALL.into_iter().map(|c| (c, 0)).collect::<BTreeMap<_, _>>(),
        key_rpm: 600,
        ip_rpm: 1200,
    }
}

/// The demo reseller's verified payout phone (withdrawal OTPs go only there).
pub const DEMO_PAYOUT_PHONE: &str = "+2348031234567";

/// Seeds the demo plan, the demo reseller (₦50,000.00 credited through the ledger, every
/// scope, PIN 1234, payout phone 08031234567) and the events fixture account.
pub async fn seed(store: &Store, pin_pepper: &kobo_shared::platform::secrets::KeyRing) -> Result<Demo> {
    store.put_plan(&demo_plan()).await.context("seeding the demo plan")?;
    let demo = accounts::create_account(
        store,
        NewAccount {
            name: "Demo Reseller".into(),
            plan_id: DEMO_PLAN.into(),
            email: Some(DEMO_EMAIL.into()),
            phone: None,
            api_active: true,
            id: None,
        },
    )
    .await
    .context("creating the demo reseller")?;
    accounts::adjust(store, &demo.id, Direction::Credit, DEMO_BALANCE, "demo opening balance", "seed")
        .await
        .context("crediting the demo reseller")?;
    accounts::set_pin(store, pin_pepper, &demo.id, DEMO_PIN).await.context("setting the demo PIN")?;
    store.set_payout_phone(&demo.id, Some(DEMO_PAYOUT_PHONE)).await.context("setting the demo payout phone")?;
    let (key, _) =
        accounts::issue_key(store, &demo.id, "demo", Action::ALL, &[], &[]).await.context("issuing the demo key")?;

    // The portal: the demo reseller's login (a fresh password each start) and two plans
    // on offer (₦5,000 without KYC, ₦20,000 with).
    let password = {
        use rand::distr::{Alphanumeric, SampleString};
        format!("Demo-{}-7", Alphanumeric.sample_string(&mut rand::rng(), 12))
    };
    kobo_portal::auth::set_login(store, &demo.id, DEMO_EMAIL, &password)
        .await
        .map_err(|e| anyhow::anyhow!("setting the demo portal login: {e}"))?;
    seed_fixtures(store, pin_pepper).await?;
    // After the fixtures: storing a plan replaces its item, offer included.
    store.put_plan(&pro_plan()).await.context("seeding the pro plan")?;
    store.set_plan_offer(DEMO_PLAN, Kobo::naira(5_000), false).await.context("offering the demo plan")?;
    store.set_plan_offer("pro", Kobo::naira(20_000), true).await.context("offering the pro plan")?;
    Ok(Demo {
        account_id: demo.id,
        api_key: key.secret,
        pin: DEMO_PIN.into(),
        portal_email: DEMO_EMAIL.into(),
        portal_password: password,
    })
}

/// Seeds the account and keys that the files in `events/` use.
pub async fn seed_fixtures(store: &Store, pin_pepper: &kobo_shared::platform::secrets::KeyRing) -> Result<()> {
    store.put_plan(&demo_plan()).await.context("seeding the demo plan")?;
    accounts::create_account(
        store,
        NewAccount {
            name: "Events Fixture".into(),
            plan_id: DEMO_PLAN.into(),
            email: None,
            phone: None,
            api_active: true,
            id: Some(FIXTURE_ACCOUNT.into()),
        },
    )
    .await
    .context("creating the fixture account")?;
    accounts::adjust(store, FIXTURE_ACCOUNT, Direction::Credit, FIXTURE_BALANCE, "fixture balance", "seed").await?;
    accounts::set_pin(store, pin_pepper, FIXTURE_ACCOUNT, DEMO_PIN).await?;
    accounts::issue_fixture_key(store, FIXTURE_ACCOUNT, "events", Action::ALL, FIXTURE_KEY).await?;
    accounts::issue_fixture_key(store, FIXTURE_ACCOUNT, "events-scoped", &[Action::Services], FIXTURE_SCOPED_KEY)
        .await?;
    Ok(())
}
