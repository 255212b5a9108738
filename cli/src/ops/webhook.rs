//! `kobo webhook`: webhook endpoints (add, rotate, test, logs, redeliver).

use anyhow::{anyhow, Result};
use clap::Subcommand;

use super::{print_json, print_secret_once, read_demo, Conn, Target};
use crate::devstack::Project;

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
    use kobo_shared::platform::ssrf::TargetPolicy;
    let store = &conn.store;
    let policy = if target.local { TargetPolicy::LOCAL } else { TargetPolicy::PRODUCTION };
    let vault = || conn.vault();
    match cmd {
        WebhookCmd::Add { account, url, events } => {
            let events = parse_events(&events).map_err(|e| anyhow!(e))?;
            let (ep, secret) = manage::create_endpoint(store, &vault().await?, &account, &url, events, policy).await?;
            print_secret_once("secret", &serde_json::json!({ "endpoint": ep, "secret": secret }))
        }
        WebhookCmd::List { account } => print_json(&store.endpoints(&account).await?),
        WebhookCmd::Rotate { account, endpoint, grace } => {
            let secret = manage::rotate_secret(store, &vault().await?, &account, &endpoint, grace).await?;
            print_secret_once(
                "secret",
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
