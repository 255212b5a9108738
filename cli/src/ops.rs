//! Operator commands: plans, accounts, keys, wallets and ledgers, against the table named
//! by `--table`/`KOBO_TABLE` (or the running local stack with `--local`).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use kobo_shared::domain::account::Plan;
use kobo_shared::domain::action::parse_scopes;
use kobo_shared::domain::vtu::VtuCategory;
use kobo_shared::flows::accounts;
use kobo_shared::flows::accounts::{Direction, NewAccount};
use kobo_shared::platform::secrets::SecretsCache;
use kobo_shared::{Kobo, Store};

use crate::devstack::{demo_json_path, Project};

/// Where the operator commands connect.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Use the running local stack (reads .local/demo.json, or KOBO_DEMO_JSON).
    #[arg(long, global = true)]
    pub local: bool,
    /// DynamoDB table name.
    #[arg(long, env = "KOBO_TABLE", global = true)]
    pub table: Option<String>,
    /// Secrets Manager id of the app secret.
    #[arg(long, env = "KOBO_APP_SECRET_ID", global = true, default_value = "kobo/app")]
    pub app_secret_id: String,
}

/// A connected target.
pub struct Conn {
    /// The table.
    pub store: Store,
    /// The app secret.
    pub secrets: SecretsCache,
    /// Secrets Manager, for other secrets.
    pub secrets_client: aws_sdk_secretsmanager::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
}

impl Target {
    /// Connects to AWS (or the local stack).
    pub async fn connect(&self, project: &Project) -> Result<Conn> {
        if self.local {
            let path = demo_json_path(project)?;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}: is the local stack running (kobo dev)?", path.display()))?;
            let v: serde_json::Value = serde_json::from_str(&text)?;
            let field =
                |k: &str| v[k].as_str().map(str::to_string).ok_or_else(|| anyhow!("{} has no {k}", path.display()));
            let sdk = crate::devstack::moto::sdk_config_for(&field("aws_endpoint_url")?).await;
            return Ok(Conn {
                store: Store::new(aws_sdk_dynamodb::Client::new(&sdk), field("table")?),
                secrets: SecretsCache::new(aws_sdk_secretsmanager::Client::new(&sdk), field("app_secret_id")?),
                secrets_client: aws_sdk_secretsmanager::Client::new(&sdk),
                sqs: aws_sdk_sqs::Client::new(&sdk),
            });
        }
        let table = self.table.clone().ok_or_else(|| anyhow!("give --table, set KOBO_TABLE, or use --local"))?;
        let sdk = kobo_shared::platform::aws::load().await;
        Ok(Conn {
            store: Store::new(aws_sdk_dynamodb::Client::new(&sdk), table),
            secrets: SecretsCache::new(aws_sdk_secretsmanager::Client::new(&sdk), self.app_secret_id.clone()),
            secrets_client: aws_sdk_secretsmanager::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
        })
    }
}

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
    },
    /// List plans.
    List,
}

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
}

/// API keys.
#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// Issue a key; it is printed once and stored only as a hash.
    Issue {
        /// Account id.
        account: String,
        /// Label.
        #[arg(long, default_value = "default")]
        label: String,
        /// Scopes: action names, comma separated, or `all`.
        #[arg(long, default_value = "all")]
        scopes: String,
        /// Allowed source IP or CIDR (repeatable).
        #[arg(long = "ip")]
        ips: Vec<String>,
        /// Allowed origin domain (repeatable).
        #[arg(long = "domain")]
        domains: Vec<String>,
    },
    /// List an account's keys.
    List {
        /// Account id.
        account: String,
    },
    /// Revoke a key (effective on the next request).
    Revoke {
        /// Account id.
        account: String,
        /// Key id (from `key list`).
        key_id: String,
    },
    /// Replace a key's scopes.
    Scopes {
        /// Account id.
        account: String,
        /// Key id.
        key_id: String,
        /// Action names, comma separated, or `all`.
        scopes: String,
    },
    /// Replace a key's IP and/or domain whitelist.
    Whitelist {
        /// Account id.
        account: String,
        /// Key id.
        key_id: String,
        /// Allowed source IP or CIDR (repeatable); replaces the list.
        #[arg(long = "ip")]
        ips: Vec<String>,
        /// Allowed origin domain (repeatable); replaces the list.
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// Remove every IP restriction.
        #[arg(long)]
        clear_ips: bool,
        /// Remove every domain restriction.
        #[arg(long)]
        clear_domains: bool,
    },
}

/// Wallets.
#[derive(Subcommand, Debug)]
pub enum WalletCmd {
    /// Credit a wallet (naira) with a reason.
    Credit {
        /// Account id.
        account: String,
        /// Naira, e.g. 5000 or 1250.50.
        amount: String,
        /// Why (kept in the ledger).
        #[arg(long)]
        reason: String,
    },
    /// Debit a wallet (naira) with a reason; never below zero.
    Debit {
        /// Account id.
        account: String,
        /// Naira.
        amount: String,
        /// Why (kept in the ledger).
        #[arg(long)]
        reason: String,
    },
}

/// Ledgers.
#[derive(Subcommand, Debug)]
pub enum LedgerCmd {
    /// Show an account's ledger.
    Show {
        /// Account id.
        account: String,
    },
    /// Check that every account's ledger sums to its balance (exit 1 if not).
    Check,
}

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
}

/// Runs a service command.
pub async fn service(conn: &Conn, project: &Project, target: &Target, cmd: ServiceCmd) -> Result<()> {
    let store = &conn.store;
    match cmd {
        ServiceCmd::Import { markup, smm_url, provider_secret_id } => {
            let (url, secret_id) = if target.local {
                let v = read_demo(project)?;
                (
                    v["smm_url"].as_str().map(str::to_string).ok_or_else(|| anyhow!("demo.json has no smm_url"))?,
                    v["provider_secret_id"]
                        .as_str()
                        .map(str::to_string)
                        .ok_or_else(|| anyhow!("demo.json has no provider_secret_id"))?,
                )
            } else {
                (smm_url.ok_or_else(|| anyhow!("give --smm-url or set KOBO_SMM_URL"))?, provider_secret_id)
            };
            let mut config = kobo_shared::platform::config::Config::for_table(store.table());
            config.smm_url = url;
            config.provider_secret_id = secret_id;
            let smm = kobo_shared::flows::providers::Providers::new(&config, conn.secrets_client.clone(), store).smm;
            let panel = smm.get().await?;
            let imported = kobo_shared::flows::catalog::import_services(store, panel, percent_to_bp(&markup)?).await?;
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
            let rate = Kobo::parse_naira(&rate).map_err(|e| anyhow!("rate {e}"))?;
            print_json(&kobo_shared::flows::catalog::update_service(store, id, |s| s.rate_per_1000 = rate).await?)
        }
    }
}

/// Runs an order command.
pub async fn order(conn: &Conn, cmd: OrderCmd) -> Result<()> {
    use kobo_shared::domain::smm::UpstreamState;
    let store = &conn.store;
    match cmd {
        OrderCmd::Show { account, id } => {
            print_json(&store.get_order(&account, id).await?.ok_or_else(|| anyhow!("no order {id} of {account}"))?)
        }
        OrderCmd::Open => print_json(&store.open_orders(1000).await?),
        OrderCmd::Resolve { account, id, upstream_order, not_placed } => {
            let o = store.get_order(&account, id).await?.ok_or_else(|| anyhow!("no order {id} of {account}"))?;
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
    }
}

/// Webhook endpoints.
#[derive(Subcommand, Debug)]
pub enum WebhookCmd {
    /// Add an endpoint; its secret is printed once.
    Add {
        /// Account id.
        account: String,
        /// https URL (http and loopback only with --local).
        url: String,
        /// Events, comma separated, or `all`.
        #[arg(long, default_value = "all")]
        events: String,
    },
    /// List an account's endpoints.
    List {
        /// Account id.
        account: String,
    },
    /// Replace an endpoint's secret; the old one keeps signing during the grace period.
    Rotate {
        /// Account id.
        account: String,
        /// Endpoint id.
        endpoint: String,
        /// Seconds both secrets sign (webhook-signature carries both).
        #[arg(long, default_value_t = 86_400)]
        grace: i64,
    },
    /// Resume deliveries to an endpoint.
    Enable {
        /// Account id.
        account: String,
        /// Endpoint id.
        endpoint: String,
    },
    /// Stop deliveries to an endpoint.
    Disable {
        /// Account id.
        account: String,
        /// Endpoint id.
        endpoint: String,
    },
    /// Send a signed sample event now and show the attempt.
    Test {
        /// Account id.
        account: String,
        /// Endpoint id.
        endpoint: String,
        /// Event name.
        #[arg(long, default_value = "vtu.success")]
        event: String,
    },
    /// An endpoint's recent attempts, newest first.
    Logs {
        /// Endpoint id.
        endpoint: String,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i32,
    },
    /// Queue a past delivery again (same webhook-id and payload).
    Redeliver {
        /// Account id.
        account: String,
        /// Delivery id (from `logs`).
        delivery: String,
        /// The delivery queue URL (default: KOBO_WEBHOOK_QUEUE_URL; the local stack's with --local).
        #[arg(long, env = "KOBO_WEBHOOK_QUEUE_URL")]
        queue_url: Option<String>,
    },
}

/// Runs a webhook command.
pub async fn webhook(conn: &Conn, project: &Project, target: &Target, cmd: WebhookCmd) -> Result<()> {
    use kobo_shared::domain::webhook::{parse_event, parse_events};
    use kobo_shared::flows::webhooks::{deliver, manage};
    use kobo_shared::platform::{ssrf::TargetPolicy, vault::Vault};
    let store = &conn.store;
    let policy = if target.local { TargetPolicy::LOCAL } else { TargetPolicy::PRODUCTION };
    let vault = || async {
        let pepper = conn.secrets.get().await?.pin_pepper.clone();
        Vault::new(pepper.as_bytes()).map_err(|e| anyhow!(e))
    };
    match cmd {
        WebhookCmd::Add { account, url, events } => {
            let events = parse_events(&events).map_err(|e| anyhow!(e))?;
            let (ep, secret) = manage::create_endpoint(store, &vault().await?, &account, &url, events, policy).await?;
            eprintln!("Store this secret now: it is shown only once.");
            print_json(&serde_json::json!({ "endpoint": ep, "secret": secret }))
        }
        WebhookCmd::List { account } => print_json(&store.endpoints(&account).await?),
        WebhookCmd::Rotate { account, endpoint, grace } => {
            let secret = manage::rotate_secret(store, &vault().await?, &account, &endpoint, grace).await?;
            eprintln!("Store this secret now: it is shown only once.");
            print_json(
                &serde_json::json!({ "endpoint": endpoint, "secret": secret, "old_secret_signs_for_seconds": grace }),
            )
        }
        WebhookCmd::Enable { account, endpoint } => {
            print_json(&manage::set_active(store, &account, &endpoint, true).await?)
        }
        WebhookCmd::Disable { account, endpoint } => {
            print_json(&manage::set_active(store, &account, &endpoint, false).await?)
        }
        WebhookCmd::Test { account, endpoint, event } => {
            let event = parse_event(&event).ok_or_else(|| anyhow!("unknown event {event:?}"))?;
            let ep = store.get_endpoint(&account, &endpoint).await?.ok_or_else(|| anyhow!("no endpoint {endpoint}"))?;
            let sender = deliver::Sender::new(policy).map_err(|e| anyhow!(e))?;
            print_json(&deliver::send_test(store, &vault().await?, &sender, &ep, event).await?)
        }
        WebhookCmd::Logs { endpoint, limit } => {
            print_json(&store.attempts(&endpoint, usize::try_from(limit).unwrap_or_default()).await?)
        }
        WebhookCmd::Redeliver { account, delivery, queue_url } => {
            let url = if target.local {
                read_demo(project)?["queues"]["WebhookQueue"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| anyhow!("demo.json has no queue"))?
            } else {
                queue_url.ok_or_else(|| anyhow!("give --queue-url or set KOBO_WEBHOOK_QUEUE_URL"))?
            };
            let queue = deliver::Queue::new(conn.sqs.clone(), url);
            let id = deliver::redeliver(store, &queue, &account, &delivery).await?;
            println!("queued as delivery {id}");
            Ok(())
        }
    }
}

/// Withdrawals.
#[derive(Subcommand, Debug)]
pub enum WithdrawalCmd {
    /// Withdrawals waiting for approval, oldest first.
    Pending,
    /// Approve: `withdraw.approved`, then Hubtel sends the money.
    Approve {
        /// Account id.
        account: String,
        /// Withdrawal id.
        id: String,
    },
    /// Reject: the held amount goes back to the wallet.
    Reject {
        /// Account id.
        account: String,
        /// Withdrawal id.
        id: String,
        /// Why (kept on the withdrawal and in the ledger).
        #[arg(long)]
        reason: String,
    },
}

/// Runs a withdrawal command.
pub async fn withdrawal(conn: &Conn, project: &Project, target: &Target, cmd: WithdrawalCmd) -> Result<()> {
    use kobo_shared::domain::withdrawal::WithdrawalStatus;
    use kobo_shared::flows::withdrawals;
    let store = &conn.store;
    match cmd {
        WithdrawalCmd::Pending => print_json(&store.pending_withdrawals(1000).await?),
        WithdrawalCmd::Reject { account, id, reason } => {
            let w =
                store.get_withdrawal(&account, &id).await?.ok_or_else(|| anyhow!("no withdrawal {id} of {account}"))?;
            if !withdrawals::release(
                store,
                &w,
                WithdrawalStatus::PendingApproval,
                WithdrawalStatus::Rejected,
                &reason,
                "operator",
            )
            .await?
            {
                bail!(
                    "withdrawal {id} is {} now, not pending approval",
                    store.get_withdrawal(&account, &id).await?.map(|w| w.status.as_str()).unwrap_or("gone")
                );
            }
            print_json(&store.get_withdrawal(&account, &id).await?)
        }
        WithdrawalCmd::Approve { account, id } => {
            let w =
                store.get_withdrawal(&account, &id).await?.ok_or_else(|| anyhow!("no withdrawal {id} of {account}"))?;
            if w.status != WithdrawalStatus::PendingApproval {
                bail!("withdrawal {id} is {}, not pending approval", w.status.as_str());
            }
            let (hubtel_url, public_url, window) = if target.local {
                let v = read_demo(project)?;
                let f = |k: &str| v[k].as_str().map(str::to_string).ok_or_else(|| anyhow!("demo.json has no {k}"));
                (f("hubtel_simulator")?, f("base_url")?, v["hubtel_window_secs"].as_u64().unwrap_or(60))
            } else {
                let c = kobo_shared::platform::config::Config::from_env()?;
                (c.hubtel_url, c.public_url, c.hubtel_window_secs)
            };
            let mut config = kobo_shared::platform::config::Config::for_table(store.table());
            config.hubtel_url = hubtel_url;
            config.provider_secret_id = provider_secret_id(project, target)?;
            config.hubtel_window_secs = window;
            let providers = kobo_shared::flows::providers::Providers::new(&config, conn.secrets_client.clone(), store);
            let key = conn.secrets.get().await?.pin_pepper.clone();
            let after = withdrawals::approve_and_pay(
                store,
                providers.hubtel.get().await?,
                &providers.hubtel_throttle,
                key.as_bytes(),
                &public_url,
                &w,
            )
            .await?;
            print_json(&after)
        }
    }
}

fn provider_secret_id(project: &Project, target: &Target) -> Result<String> {
    if target.local {
        return read_demo(project)?["provider_secret_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("demo.json has no provider_secret_id"));
    }
    Ok(std::env::var("KOBO_PROVIDER_SECRET_ID").unwrap_or_else(|_| "kobo/providers".into()))
}

fn read_demo(project: &Project) -> Result<serde_json::Value> {
    let path = demo_json_path(project)?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}: is the local stack running (kobo dev)?", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// Percent with up to two decimals → basis points.
pub fn percent_to_bp(s: &str) -> Result<u32> {
    let s = s.trim().trim_end_matches('%');
    if s.trim_start_matches('0').trim_start_matches('.').trim_start_matches('0').is_empty() {
        return Ok(0);
    }
    let bp = Kobo::parse_naira(s).map_err(|e| anyhow!("percent {s:?} {e}"))?.as_i64();
    if bp > 10_000 {
        bail!("percent {s:?} is above 100");
    }
    Ok(bp as u32)
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Runs a plan command.
pub async fn plan(conn: &Conn, cmd: PlanCmd) -> Result<()> {
    match cmd {
        PlanCmd::Create { id, name, smm_discount, vtu_discount, key_rpm, ip_rpm } => {
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
            print_json(&plan)
        }
        PlanCmd::List => print_json(&conn.store.plans().await?),
    }
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
            let min = if amount.trim() == "0" {
                Kobo::ZERO
            } else {
                Kobo::parse_naira(&amount).map_err(|e| anyhow!("amount {e}"))?
            };
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
                let low =
                    low_balance.map(|l| Kobo::parse_naira(&l).map_err(|e| anyhow!("--low-balance {e}"))).transpose()?;
                kobo_shared::domain::account::NoticeSettings { phone: Some(phone), low_balance: low }
            };
            store.set_notices(&account, &settings).await?;
            print_json(&settings)
        }
        AccountCmd::SetPin { account, pin } => {
            let pepper = conn.secrets.get().await?.pin_pepper.clone();
            accounts::set_pin(store, pepper.as_bytes(), &account, &pin).await?;
            println!("PIN of {account} set; failed attempts and lockout cleared");
            Ok(())
        }
    }
}

/// Runs a key command.
pub async fn key(conn: &Conn, cmd: KeyCmd) -> Result<()> {
    let store = &conn.store;
    match cmd {
        KeyCmd::Issue { account, label, scopes, ips, domains } => {
            let scopes = parse_scopes(&scopes).map_err(|e| anyhow!(e))?;
            let (key, record) = accounts::issue_key(store, &account, &label, &scopes, &ips, &domains).await?;
            eprintln!("Store this key now: it is shown only once.");
            print_json(&serde_json::json!({ "api_key": key.secret, "key": record }))
        }
        KeyCmd::List { account } => print_json(&store.list_keys(&account).await?),
        KeyCmd::Revoke { account, key_id } => {
            let k = store.find_key(&account, &key_id).await?;
            store.revoke_key(&account, &k.hash).await?;
            println!("key {} of {account} revoked", k.key_id);
            Ok(())
        }
        KeyCmd::Scopes { account, key_id, scopes } => {
            let scopes = parse_scopes(&scopes).map_err(|e| anyhow!(e))?;
            let k = store.find_key(&account, &key_id).await?;
            store.set_key_scopes(&account, &k.hash, &scopes).await?;
            print_json(&store.find_key(&account, &k.key_id).await?)
        }
        KeyCmd::Whitelist { account, key_id, ips, domains, clear_ips, clear_domains } => {
            let k = store.find_key(&account, &key_id).await?;
            let (ips, domains) = accounts::normalize_whitelists(&ips, &domains)?;
            let ips = (clear_ips || !ips.is_empty()).then_some(ips);
            let domains = (clear_domains || !domains.is_empty()).then_some(domains);
            store.set_key_whitelists(&account, &k.hash, ips.as_deref(), domains.as_deref()).await?;
            print_json(&store.find_key(&account, &k.key_id).await?)
        }
    }
}

/// Runs a wallet command.
pub async fn wallet(conn: &Conn, cmd: WalletCmd) -> Result<()> {
    let (account, amount, reason, dir) = match cmd {
        WalletCmd::Credit { account, amount, reason } => (account, amount, reason, Direction::Credit),
        WalletCmd::Debit { account, amount, reason } => (account, amount, reason, Direction::Debit),
    };
    let amount = Kobo::parse_naira(&amount).map_err(|e| anyhow!("amount {e}"))?;
    let entry = accounts::adjust(&conn.store, &account, dir, amount, &reason, "operator").await?;
    print_json(&entry)
}

/// Runs a ledger command.
pub async fn ledger(conn: &Conn, cmd: LedgerCmd) -> Result<()> {
    match cmd {
        LedgerCmd::Show { account } => print_json(&conn.store.ledger(&account).await?),
        LedgerCmd::Check => {
            let checks = accounts::check_all_ledgers(&conn.store).await?;
            let bad: Vec<_> = checks.iter().filter(|c| !c.ok()).collect();
            for c in &checks {
                println!(
                    "{} {:<32} balance {:>16} ledger {:>16} ({} entries)",
                    if c.ok() { "ok " } else { "BAD" },
                    c.account_id,
                    c.balance.to_string(),
                    c.ledger_sum.to_string(),
                    c.entries
                );
            }
            if !bad.is_empty() {
                bail!("{} of {} ledgers do not sum to their balance", bad.len(), checks.len());
            }
            println!("all {} ledgers sum to their balances", checks.len());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents() {
        assert_eq!(percent_to_bp("2.5").ok(), Some(250));
        assert_eq!(percent_to_bp("0").ok(), Some(0));
        assert_eq!(percent_to_bp("0.00").ok(), Some(0));
        assert_eq!(percent_to_bp("100").ok(), Some(10_000));
        assert_eq!(percent_to_bp("10%").ok(), Some(1000));
        assert!(percent_to_bp("100.01").is_err());
        assert!(percent_to_bp("-1").is_err());
        assert!(percent_to_bp("1.234").is_err());
    }
}
