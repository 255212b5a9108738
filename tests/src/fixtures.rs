//! Test data: unique names, and resellers (a plan, an account with its opening balance,
//! a key) made to a spec.

use kobo_shared::Store;
use rand::distr::{Alphanumeric, SampleString};

/// A random lowercase suffix for unique names.
pub fn unique() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 10).to_ascii_lowercase()
}

/// What a test reseller gets.
#[derive(Debug, Clone)]
pub struct ResellerSpec<'a> {
    /// Opening balance (credited through the ledger).
    pub balance: kobo_shared::Kobo,
    /// Plan requests per minute per key (0 = unlimited).
    pub key_rpm: u32,
    /// Plan requests per minute per IP (0 = unlimited).
    pub ip_rpm: u32,
    /// Plan SMM discount, basis points.
    pub smm_discount_bp: u32,
    /// Key scopes.
    pub scopes: &'a [kobo_shared::Action],
    /// Key IP whitelist.
    pub ips: &'a [&'a str],
    /// Key domain whitelist.
    pub domains: &'a [&'a str],
}

impl Default for ResellerSpec<'_> {
    fn default() -> Self {
        ResellerSpec {
            balance: kobo_shared::Kobo::naira(10_000),
            key_rpm: 0,
            ip_rpm: 0,
            smm_discount_bp: 0,
            scopes: kobo_shared::Action::ALL,
            ips: &[],
            domains: &[],
        }
    }
}

/// Creates a plan, an active account on it with the opening balance, and one key;
/// returns the account id and the key.
pub async fn new_reseller(store: &Store, spec: ResellerSpec<'_>) -> (String, String) {
    use kobo_shared::flows::accounts;
    use kobo_shared::flows::accounts::{Direction, NewAccount};
    let plan = kobo_shared::domain::account::Plan {
        id: format!("p{}", unique()),
        name: "test".into(),
        smm_discount_bp: spec.smm_discount_bp,
        vtu_discount_bp: Default::default(),
        key_rpm: spec.key_rpm,
        ip_rpm: spec.ip_rpm,
    };
    store.put_plan(&plan).await.expect("storing the test plan");
    let a = accounts::create_account(
        store,
        NewAccount { name: "t".into(), plan_id: plan.id, email: None, phone: None, api_active: true, id: None },
    )
    .await
    .expect("creating the test account");
    if spec.balance.is_positive() {
        accounts::adjust(store, &a.id, Direction::Credit, spec.balance, "test opening balance", "test")
            .await
            .expect("crediting the opening balance");
    }
    let ips: Vec<String> = spec.ips.iter().map(|s| s.to_string()).collect();
    let domains: Vec<String> = spec.domains.iter().map(|s| s.to_string()).collect();
    let (key, _) =
        accounts::issue_key(store, &a.id, "t", spec.scopes, &ips, &domains).await.expect("issuing the test key");
    (a.id, key.secret)
}

/// A store on a fresh table holding one plan, `basic`, without discounts and with `rpm`
/// requests per minute for keys and IPs (0 = unlimited).
pub async fn store_with_plan(rpm: u32) -> kobo_shared::Store {
    let sdk = crate::stack::sdk().await;
    let res = crate::stack::fresh_resources(&sdk).await;
    let store = kobo_shared::Store::new(aws_sdk_dynamodb::Client::new(&sdk), res.table().unwrap_or_default());
    let plan = kobo_shared::domain::account::Plan {
        id: "basic".into(),
        name: "Basic".into(),
        smm_discount_bp: 0,
        vtu_discount_bp: Default::default(),
        key_rpm: rpm,
        ip_rpm: rpm,
    };
    store.put_plan(&plan).await.expect("storing the plan");
    store
}

/// Asserts that an account's ledger sums to its balance (and its entries are whole).
pub async fn assert_ledger_sums(store: &Store, account: &str) {
    let a = store.get_account(account).await.ok().flatten().unwrap_or_else(|| panic!("no account {account}"));
    let check = kobo_shared::flows::accounts::check_ledger(store, &a).await.expect("checking the ledger");
    assert!(check.ok(), "{check:?}");
}

/// A reseller with a PIN (`1234`) on a plan with the given VTU discounts (basis points per
/// category), and its API client on stack `s`.
pub async fn vtu_reseller(
    s: &crate::stack::Stack,
    store: &Store,
    balance: kobo_shared::Kobo,
    discounts: &[(kobo_shared::domain::vtu::VtuCategory, u32)],
) -> (String, crate::client::ApiClient) {
    let (acct, key) = new_reseller(store, ResellerSpec { balance, ..Default::default() }).await;
    if !discounts.is_empty() {
        let plan = kobo_shared::domain::account::Plan {
            id: format!("v{}", unique()),
            name: "vtu".into(),
            smm_discount_bp: 0,
            vtu_discount_bp: discounts.iter().copied().collect(),
            key_rpm: 0,
            ip_rpm: 0,
        };
        store.put_plan(&plan).await.expect("storing the discount plan");
        store.set_plan(&acct, &plan.id).await.expect("moving the reseller to the discount plan");
    }
    let pepper = s.pepper().await;
    kobo_shared::flows::accounts::set_pin(store, &pepper, &acct, "1234").await.expect("setting the reseller's PIN");
    (acct, crate::client::ApiClient::new(s, &key))
}
