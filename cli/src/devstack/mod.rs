//! The local stack: moto (DynamoDB serialized), resources created from `template.yaml`,
//! seed data, and every template route served on 127.0.0.1 by the functions' own code.

pub mod lambda;
pub mod moto;
pub mod provision;
pub mod seed;
pub mod server;
pub mod tools;
pub mod triggers;
pub mod vtu_catalog;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use kobo_shared::platform::config::Config;
use kobo_shared::platform::secrets::{KeyRing, ProviderSecrets, SecretsCache};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::sim::hubtel::HubtelSim;
use crate::sim::smm::{Pace, SmmSim};
use crate::sim::topup::TopupSim;
use crate::template::Template;
use kobo_shared::flows::webhooks::deliver::{Queue, Settings};
use kobo_shared::platform::ssrf::TargetPolicy;
use kobo_shared::platform::vault::Vault;
pub use moto::Moto;
pub use provision::Provisioned;
pub use seed::Demo;
pub use tools::Project;

/// How to start the stack.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to serve on; port 0 picks a free one.
    pub addr: std::net::SocketAddr,
    /// Where to write the demo details once ready (the `dev` command writes
    /// `.local/demo.json`; in-process tests write none).
    pub demo_json: Option<PathBuf>,
    /// moto's log file name under `.local/`.
    pub moto_log: String,
    /// Extra arguments for the moto launcher (e.g. `--stock` to measure stock moto).
    pub moto_args: Vec<String>,
    /// How fast the SMM simulator's orders progress.
    pub pace: Pace,
    /// Run the reconciler this often (its EventBridge schedule); `None` = never (tests
    /// run it by hand).
    pub reconcile_every: Option<Duration>,
    /// Timeout of calls to upstream providers.
    pub upstream_timeout: Duration,
    /// Seconds before each webhook retry (production: 10, 60, 300).
    pub webhook_retry_delays: Vec<u32>,
    /// Concurrent queue pollers (Lambda would scale out).
    pub webhook_workers: usize,
    /// Subscribe the demo reseller to every event at this URL.
    pub demo_webhook_url: Option<String>,
    /// How long the top-up simulator waits before a pending purchase's callback.
    pub topup_callback_delay: Duration,
    /// How long a VTU transaction may stay processing before the reconciler requeries it.
    pub vtu_requery_after: Duration,
    /// How long an SMM order may stay `Sending` before it is called unknown (300 s).
    pub smm_sending_grace: Duration,
    /// Hubtel's rate window (60 s in production; tests compress it).
    pub hubtel_window: Duration,
    /// DynamoDB faults to turn on once the stack is seeded (`KOBO_FAULTS` for `kobo dev`),
    /// e.g. `seed=7,conflict=0.1,throttle=0.05,error_after_write=0.02`; see
    /// `cli/python/moto_serial.py`.
    pub faults: Option<String>,
    /// Invocations of every function cut at a random point (chaos runs; `None` normally).
    pub crashes: Option<lambda::Crashes>,
}

impl Options {
    /// A stack of its own for a command that measures it (`kobo soak`, `kobo bench`): on a
    /// free loopback port, no demo file, production timings, the reconciler every
    /// `reconcile_every` (or never).
    pub fn standalone(moto_log: &str, reconcile_every: Option<Duration>) -> Options {
        Options {
            addr: std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
            demo_json: None,
            moto_log: moto_log.into(),
            moto_args: Vec::new(),
            pace: Default::default(),
            reconcile_every,
            upstream_timeout: Duration::from_secs(8),
            webhook_retry_delays: vec![10, 60, 300],
            webhook_workers: 4,
            demo_webhook_url: None,
            topup_callback_delay: Duration::from_secs(3),
            vtu_requery_after: Duration::from_secs(30),
            smm_sending_grace: Duration::from_secs(300),
            hubtel_window: Duration::from_secs(60),
            faults: None,
            crashes: None,
        }
    }
}

/// A running local stack. Dropping it stops the server and moto.
pub struct DevStack {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// moto's endpoint.
    pub aws_endpoint: String,
    /// What was created.
    pub resources: Provisioned,
    /// The demo reseller.
    pub demo: Demo,
    /// `.local/demo.json`, when written.
    pub demo_json: Option<PathBuf>,
    moto: Option<Moto>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    /// The SMM panel simulator.
    pub smm: SmmSim,
    /// The top-up provider simulator.
    pub topup: TopupSim,
    /// The Hubtel simulator.
    pub hubtel: HubtelSim,
    /// The VTpass replica.
    pub vtpass: crate::sim::vtpass::VtpassSim,
    /// Hubtel's rate window in this stack (seconds).
    pub hubtel_window_secs: u64,
    /// The reconciler, as its Lambda runs it (tests call [`kobo_reconciler::Reconciler::run_once`]).
    pub reconciler: Arc<kobo_reconciler::Reconciler>,
    /// The relay, as its Lambda runs it.
    pub relay: Arc<kobo_relay::Relay>,
    /// The webhook worker, as its Lambda runs it.
    pub worker: Arc<kobo_webhooks::Worker>,
    /// The delivery queue.
    pub queue: Queue,
    /// Each function's IAM credentials in the emulator (exactly its template policy), by
    /// logical id; see [`moto::sdk_config_as`].
    pub credentials: std::collections::HashMap<String, aws_sdk_dynamodb::config::Credentials>,
    /// The demo reseller's webhook endpoint id and secret, when `KOBO_DEMO_WEBHOOK_URL` is set.
    pub demo_webhook: Option<(String, String)>,
    /// The functions' settings (as their environment carries them).
    pub config: Config,
    loops_stop: tokio::sync::watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

/// Runs the reconciler every `every`, as its schedule would, until told to stop.
async fn reconcile_loop(
    rec: Arc<kobo_reconciler::Reconciler>,
    every: Duration,
    limits: lambda::Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let rec = rec.clone();
        match limits.invoke(async move { rec.run_all().await }).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "reconciler pass failed"),
            Err(e) => tracing::warn!(error = %e, "reconciler pass cut off"),
        }
    }
}

impl DevStack {
    /// Starts everything and returns once the routes are being served.
    pub async fn start(project: &Project, opts: Options) -> Result<DevStack> {
        let template = Template::load(&project.template())?;
        let moto_args: Vec<&str> = opts.moto_args.iter().map(String::as_str).collect();
        let moto = Moto::start_with(project, &opts.moto_log, &moto_args).await?;
        let sdk = moto.sdk_config().await;
        let resources = provision::provision(&sdk, &template, "kobo-local").await?;
        // From here on every function calls AWS as itself: exactly its template policy.
        let credentials = provision::enforce_iam(&moto.endpoint, &template, &resources).await?;
        let as_function = |id: &str| -> Result<aws_config::SdkConfig> {
            let c = credentials.get(id).ok_or_else(|| anyhow::anyhow!("template has no {id}"))?;
            Ok(moto::sdk_config_as(&sdk, c))
        };
        let portal_sdk = as_function("PortalFunction")?;
        let (api_sdk, callbacks_sdk, reconciler_sdk, relay_sdk, webhooks_sdk) = (
            as_function("ApiFunction")?,
            as_function("CallbacksFunction")?,
            as_function("ReconcilerFunction")?,
            as_function("RelayFunction")?,
            as_function("WebhooksFunction")?,
        );
        // Seeding and the catalog import are an operator's work (all permissions).
        let operator = kobo_shared::db::Store::new(aws_sdk_dynamodb::Client::new(&sdk), resources.table()?);

        // Bind first: the top-up simulator needs the callback URL.
        let listener = TcpListener::bind(opts.addr).await.with_context(|| format!("binding {}", opts.addr))?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");

        // Provider credentials: the template generates the SMM key; the local stack makes
        // up the top-up ones (an operator sets the real ones after deploying).
        let secrets_client = aws_sdk_secretsmanager::Client::new(&sdk);
        let provider_secret = resources.secret("ProviderSecret")?.to_string();
        let smm_key = SecretsCache::<ProviderSecrets>::new(secrets_client.clone(), provider_secret.clone())
            .get()
            .await
            .context("reading the provider secret")?
            .smm_api_key
            .clone();
        let topup_key = provision::random_secret(40);
        let topup_hook = provision::random_secret(48);
        let (hubtel_id, hubtel_secret) = (provision::random_secret(16), provision::random_secret(32));
        let vtpass_keys = crate::sim::vtpass::Keys {
            api_key: provision::random_secret(32),
            public_key: format!("PK_{}", provision::random_secret(32)),
            secret_key: format!("SK_{}", provision::random_secret(32)),
        };
        secrets_client
            .put_secret_value()
            .secret_id(&provider_secret)
            .secret_string(
                serde_json::json!({"smm_api_key": smm_key, "topup_api_key": topup_key, "topup_webhook_secret": topup_hook,
                                   "hubtel_client_id": hubtel_id, "hubtel_client_secret": hubtel_secret,
                                   "vtpass_api_key": vtpass_keys.api_key, "vtpass_public_key": vtpass_keys.public_key,
                                   "vtpass_secret_key": vtpass_keys.secret_key})
                .to_string(),
            )
            .send()
            .await
            .context("writing the local provider credentials")?;
        let smm = SmmSim::start(&smm_key, opts.pace).await?;
        let hubtel = HubtelSim::start(&hubtel_id, &hubtel_secret, 5, opts.hubtel_window).await?;
        // Its callback URL carries a secret of the callback key ring: set once that is read.
        let vtpass =
            crate::sim::vtpass::VtpassSim::start(vtpass_keys, "", opts.upstream_timeout + Duration::from_millis(500))
                .await?;
        let topup = TopupSim::start(
            &topup_key,
            &topup_hook,
            &format!("{base_url}/callbacks/topup"),
            opts.topup_callback_delay,
            opts.upstream_timeout + Duration::from_millis(500),
        )
        .await?;

        let mut config = Config::for_table(resources.table()?);
        resources.configure_secrets(&mut config)?;
        config.smm_url = smm.url.clone();
        config.topup_url = topup.base.clone();
        config.vtpass_url = vtpass.base.clone();
        config.hubtel_url = hubtel.base.clone();
        config.public_url = base_url.clone();
        config.hubtel_window_secs = opts.hubtel_window.as_secs().max(1);
        config.vtu_requery_after_secs = opts.vtu_requery_after.as_secs() as i64;
        config.smm_sending_grace_secs = opts.smm_sending_grace.as_secs() as i64;
        config.upstream_timeout_ms = opts.upstream_timeout.as_millis() as u64;
        let app = Arc::new(kobo_api::App::new(
            config.clone(),
            aws_sdk_dynamodb::Client::new(&api_sdk),
            aws_sdk_secretsmanager::Client::new(&api_sdk),
        ));
        let ring = |id: &str| SecretsCache::<KeyRing>::new(secrets_client.clone(), id);
        let pepper = ring(&config.pin_pepper_secret_id).get().await.context("reading the PIN pepper ring")?;
        let vault_key = ring(&config.vault_key_secret_id).get().await.context("reading the vault key ring")?;
        let callback_key = ring(&config.callback_key_secret_id).get().await.context("reading the callback key ring")?;
        vtpass.set_callback_url(&format!(
            "{base_url}/callbacks/vtpass/{}",
            kobo_shared::domain::callback::vtpass_secret(&callback_key)
        ));
        let demo = seed::seed(&operator, &pepper).await?;
        vtu_catalog::seed(&operator).await.context("seeding the VTU catalog")?;
        let callbacks = Arc::new(kobo_callbacks::Callbacks::new(
            &config,
            aws_sdk_dynamodb::Client::new(&callbacks_sdk),
            aws_sdk_secretsmanager::Client::new(&callbacks_sdk),
        ));
        let panel = app.providers.smm.get().await.context("connecting to the SMM simulator")?;
        let panel = &*panel;
        kobo_shared::flows::catalog::import_services(&operator, panel, seed::DEMO_MARKUP_BP)
            .await
            .context("importing the SMM catalog from the simulator")?;

        let reconciler = Arc::new(kobo_reconciler::Reconciler::new(
            &config,
            aws_sdk_dynamodb::Client::new(&reconciler_sdk),
            aws_sdk_secretsmanager::Client::new(&reconciler_sdk),
        ));
        let (loops_stop, loops_rx) = tokio::sync::watch::channel(false);
        let mut loops = Vec::new();
        if let Some(every) = opts.reconcile_every {
            loops.push(tokio::spawn(reconcile_loop(
                reconciler.clone(),
                every,
                lambda::Limits::from_template(&template, "ReconcilerFunction")?.with_crashes(opts.crashes.clone()),
                loops_rx.clone(),
            )));
        }

        // Webhooks: stream → relay → SQS → worker, with the local target policy.
        let queue_url = resources
            .queues
            .get("WebhookQueue")
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("template has no WebhookQueue"))?;
        // The queue and stream pollers are Lambda's event source mappings (operator).
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue = Queue::new(sqs.clone(), queue_url.clone());
        let relay = Arc::new(kobo_relay::Relay {
            store: kobo_shared::db::Store::new(aws_sdk_dynamodb::Client::new(&relay_sdk), resources.table()?),
            queue: Queue::new(aws_sdk_sqs::Client::new(&relay_sdk), queue_url.clone()),
        });
        let settings = Settings { retry_delays: opts.webhook_retry_delays.clone(), policy: TargetPolicy::LOCAL };
        let worker = Arc::new(
            kobo_webhooks::Worker::new(
                kobo_shared::db::Store::new(aws_sdk_dynamodb::Client::new(&webhooks_sdk), resources.table()?),
                Queue::new(aws_sdk_sqs::Client::new(&webhooks_sdk), queue_url.clone()),
                SecretsCache::with_ttl(
                    aws_sdk_secretsmanager::Client::new(&webhooks_sdk),
                    config.vault_key_secret_id.clone(),
                    Duration::from_secs(config.secrets_ttl_secs),
                ),
                settings,
            )
            .map_err(|e| anyhow::anyhow!(e))?,
        );
        loops.push(tokio::spawn(triggers::stream_loop(
            aws_sdk_dynamodbstreams::Client::new(&sdk),
            aws_sdk_dynamodb::Client::new(&sdk),
            resources.table()?.to_string(),
            relay.clone(),
            lambda::Limits::from_template(&template, "RelayFunction")?.with_crashes(opts.crashes.clone()),
            loops_rx.clone(),
        )));
        for _ in 0..opts.webhook_workers.max(1) {
            loops.push(tokio::spawn(triggers::queue_loop(
                sqs.clone(),
                queue_url.clone(),
                worker.clone(),
                lambda::Limits::from_template(&template, "WebhooksFunction")?.with_crashes(opts.crashes.clone()),
                loops_rx.clone(),
            )));
        }
        let vault = Vault::new(&vault_key).map_err(|e| anyhow::anyhow!(e))?;
        let demo_webhook = match &opts.demo_webhook_url {
            Some(url) => {
                let (ep, secret) = kobo_shared::flows::webhooks::manage::create_endpoint(
                    &app.store,
                    &vault,
                    &demo.account_id,
                    url,
                    kobo_shared::domain::webhook::ALL_EVENTS.to_vec(),
                    TargetPolicy::LOCAL,
                )
                .await
                .context("creating the demo webhook endpoint")?;
                Some((ep.id, secret))
            }
            None => None,
        };

        let portal = Arc::new(
            kobo_portal::App::new(
                kobo_api::App::new(
                    config.clone(),
                    aws_sdk_dynamodb::Client::new(&portal_sdk),
                    aws_sdk_secretsmanager::Client::new(&portal_sdk),
                ),
                aws_sdk_sqs::Client::new(&portal_sdk),
                TargetPolicy::LOCAL,
            )
            .map_err(|e| anyhow::anyhow!(e))?,
        );
        let routes = server::Routes::bind(
            &template,
            &[
                ("ApiFunction", server::LocalFunction::Api(app.clone())),
                ("CallbacksFunction", server::LocalFunction::Callbacks(callbacks.clone())),
                ("PortalFunction", server::LocalFunction::Portal(portal.clone())),
            ],
        )?
        .with_crashes(opts.crashes.clone());
        let (stop_tx, stop_rx) = oneshot::channel();
        let server = tokio::spawn(server::serve(listener, routes, stop_rx));

        let mut stack = DevStack {
            base_url,
            aws_endpoint: moto.endpoint.clone(),
            resources,
            demo,
            demo_json: None,
            moto: Some(moto),
            stop: Some(stop_tx),
            server: Some(server),
            smm,
            topup,
            hubtel,
            vtpass,
            hubtel_window_secs: config.hubtel_window_secs,
            reconciler,
            relay,
            worker,
            queue,
            credentials,
            demo_webhook,
            config: config.clone(),
            loops_stop,
            loops,
        };
        if let Some(spec) = &opts.faults {
            moto::launcher_faults(&stack.aws_endpoint, spec).await.context("turning the DynamoDB faults on")?;
            tracing::warn!(faults = %spec, "DynamoDB faults are on");
        }
        if let Some(path) = opts.demo_json {
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_string_pretty(&stack.demo_info()?)?)?;
            std::fs::rename(&tmp, &path)?;
            stack.demo_json = Some(path);
        }
        Ok(stack)
    }

    /// What `.local/demo.json` holds.
    pub fn demo_info(&self) -> Result<serde_json::Value> {
        Ok(serde_json::json!({
            "base_url": self.base_url,
            "api_url": format!("{}/api/v1", self.base_url),
            "api_key": self.demo.api_key,
            "account_id": self.demo.account_id,
            "pin": self.demo.pin,
            "portal_url": format!("{}/portal", self.base_url),
            "portal_email": self.demo.portal_email,
            "portal_password": self.demo.portal_password,
            "aws_endpoint_url": self.aws_endpoint,
            "aws_region": "us-east-1",
            "table": self.resources.table()?,
            "pin_pepper_secret_id": self.resources.secret("PinPepperSecret")?,
            "callback_key_secret_id": self.resources.secret("CallbackKeySecret")?,
            "vault_key_secret_id": self.resources.secret("VaultKeySecret")?,
            "queues": self.resources.queues,
            "smm_simulator": self.smm.base,
            "smm_url": self.smm.url,
            "topup_simulator": self.topup.base,
            "hubtel_simulator": self.hubtel.base,
            "vtpass_simulator": self.vtpass.root,
            "vtpass_url": self.vtpass.base,
            "hubtel_window_secs": self.hubtel_window_secs,
            "provider_secret_id": self.resources.secret("ProviderSecret")?,
            "webhook_endpoint_id": self.demo_webhook.as_ref().map(|w| w.0.clone()),
            "webhook_secret": self.demo_webhook.as_ref().map(|w| w.1.clone()),
        }))
    }

    /// Stops the server and moto, and removes the demo details file.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        let _ = self.loops_stop.send(true);
        for l in self.loops.drain(..) {
            let _ = l.await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(moto) = self.moto.take() {
            moto.stop().await;
        }
        if let Some(path) = self.demo_json.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for DevStack {
    fn drop(&mut self) {
        let _ = self.loops_stop.send(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(path) = self.demo_json.take() {
            let _ = std::fs::remove_file(path);
        }
        // moto is killed by its own Drop (kill_on_drop).
    }
}

/// Where `kobo dev` writes the demo details: `KOBO_DEMO_JSON`, else `.local/demo.json`.
pub fn demo_json_path(project: &Project) -> Result<PathBuf> {
    match std::env::var_os("KOBO_DEMO_JSON") {
        Some(p) => Ok(PathBuf::from(p)),
        None => Ok(project.local_dir()?.join("demo.json")),
    }
}
