//! Moto, the local stack and the SDK: one moto server and one local stack per test
//! binary, started on first use on a background runtime that outlives each test's own
//! (tests that need them start more, in slots of their own); fresh resources per test; and
//! a DynamoDB call counter built on an SDK interceptor.

use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;
use kobo_cli::devstack::{self, moto, provision, DevStack, Moto, Project, Provisioned};
use kobo_cli::template::Template;
use kobo_shared::platform::config::Config;
use kobo_shared::Store;
use tokio::runtime::Runtime;

use crate::fixtures::unique;

/// The runtime that owns moto and the local stack for the whole test binary.
fn background() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the background runtime: {e}"))
    })
}

/// Runs a future on the background runtime from any context (even inside a test runtime).
pub(crate) fn on_background<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || background().block_on(f)).join().unwrap_or_else(|_| panic!("background task panicked"))
}

/// The project checkout.
pub fn project() -> Project {
    Project::locate().expect("locating the project checkout")
}

/// The test binary's moto endpoint (started on first use). It checks every DynamoDB
/// result the launcher writes directly against moto's own serializer
/// (`--check-results`), so every store test also tests that fast path.
pub fn moto_endpoint() -> &'static str {
    static MOTO: OnceLock<(Moto, String)> = OnceLock::new();
    launch_moto(&MOTO, "test", &["--check-results"])
}

/// A second launcher for this test binary, started on first use with `args` (e.g.
/// `--stock`); `slot` keeps it alive for the binary's lifetime.
pub fn launch_moto(
    slot: &'static OnceLock<(Moto, String)>,
    name: &'static str,
    args: &'static [&'static str],
) -> &'static str {
    &slot
        .get_or_init(|| {
            let log = format!("moto-{name}-{}.log", std::process::id());
            let moto = on_background(async move { Moto::start_with(&project(), &log, args).await })
                .unwrap_or_else(|e| panic!("starting moto ({name}): {e:#}"));
            let endpoint = moto.endpoint.clone();
            (moto, endpoint)
        })
        .1
}

/// The functions the local gateway can serve, built with `config` on `sdk` as their
/// Lambdas build them: `(logical id, function)` for [`devstack::server::Routes::bind`].
pub fn local_functions(sdk: &SdkConfig, config: &Config) -> Vec<(&'static str, devstack::server::LocalFunction)> {
    use devstack::server::LocalFunction;
    let app = Arc::new(kobo_api::App::new(
        config.clone(),
        aws_sdk_dynamodb::Client::new(sdk),
        aws_sdk_secretsmanager::Client::new(sdk),
    ));
    let cb = Arc::new(kobo_callbacks::Callbacks::new(
        config,
        aws_sdk_dynamodb::Client::new(sdk),
        aws_sdk_secretsmanager::Client::new(sdk),
    ));
    let portal = kobo_portal::App::new(
        kobo_api::App::new(
            config.clone(),
            aws_sdk_dynamodb::Client::new(sdk),
            aws_sdk_secretsmanager::Client::new(sdk),
        ),
        aws_sdk_sqs::Client::new(sdk),
        kobo_shared::platform::ssrf::TargetPolicy::LOCAL,
    )
    .unwrap_or_else(|e| panic!("building the portal: {e}"));
    vec![
        ("ApiFunction", LocalFunction::Api(app)),
        ("CallbacksFunction", LocalFunction::Callbacks(cb)),
        ("PortalFunction", LocalFunction::Portal(Arc::new(portal))),
    ]
}

/// SDK configuration for the test binary's moto.
pub async fn sdk() -> SdkConfig {
    moto::sdk_config_for(moto_endpoint()).await
}

/// Creates the template's resources under a fresh prefix.
pub async fn fresh_resources(sdk: &SdkConfig) -> Provisioned {
    let template = Template::load(&project().template()).expect("loading template.yaml");
    provision::provision(sdk, &template, &format!("t{}", unique()))
        .await
        .unwrap_or_else(|e| panic!("provisioning: {e:#}"))
}

pub use kobo_cli::bench::CallCounter;

/// An API app over fresh resources, with its DynamoDB calls counted, plus a plain store.
pub struct TestApp {
    /// The app, as the Lambda builds it.
    pub app: kobo_api::App,
    /// Counts the app's DynamoDB calls.
    pub counter: CallCounter,
    /// An uncounted store on the same table (for setup).
    pub store: Store,
    /// The PIN pepper ring.
    pub pepper: kobo_shared::platform::secrets::KeyRing,
}

/// Builds a [`TestApp`] over fresh resources with the fixtures of `events/` seeded.
pub async fn test_app() -> TestApp {
    let sdk = sdk().await;
    let res = fresh_resources(&sdk).await;
    let counter = CallCounter::default();
    let ddb_conf = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone()).build();
    let mut config = Config::for_table(res.table().unwrap_or_default());
    res.configure_secrets(&mut config).unwrap_or_else(|e| panic!("{e:#}"));
    let app = kobo_api::App::new(
        config,
        aws_sdk_dynamodb::Client::from_conf(ddb_conf),
        aws_sdk_secretsmanager::Client::new(&sdk),
    );
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), res.table().unwrap_or_default());
    let pepper = app.keys.pin_pepper.get().await.map(|r| (*r).clone()).unwrap_or_else(|e| panic!("PIN pepper: {e}"));
    devstack::seed::seed_fixtures(&store, &pepper).await.unwrap_or_else(|e| panic!("seeding fixtures: {e:#}"));
    TestApp { app, counter, store, pepper }
}

/// What tests need of the shared local stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// `<base_url>/api/v1`.
    pub api_url: String,
    /// moto endpoint.
    pub aws_endpoint: String,
    /// Table name.
    pub table: String,
    /// Secret ids of the key rings: PIN pepper, callback key, vault key.
    pub key_rings: [String; 3],
    /// Demo reseller.
    pub demo: devstack::Demo,
    /// Provider secret id.
    pub provider_secret: String,
    /// The SMM simulator's API URL.
    pub smm_url: String,
    /// The SMM simulator's base URL (for `/control/...`).
    pub smm_base: String,
    /// The webhook delivery queue URL.
    pub queue_url: String,
    /// The top-up simulator's base URL.
    pub topup_base: String,
    /// The Hubtel simulator's base URL.
    pub hubtel_base: String,
    /// The VTpass replica's API base (`http://127.0.0.1:<port>/api`).
    pub vtpass_url: String,
    /// The VTpass replica's root (its `/control/...`).
    pub vtpass_base: String,
    /// Seconds an SMM order may stay `Sending` in this stack.
    pub smm_sending_grace_secs: i64,
    /// Each function's IAM credentials (its template policy), by logical id.
    pub credentials: std::collections::HashMap<String, aws_sdk_dynamodb::config::Credentials>,
}

impl Stack {
    /// SDK configuration as `function` (its IAM user: exactly its template policy).
    pub async fn sdk_as(&self, function: &str) -> SdkConfig {
        let sdk = moto::sdk_config_for(&self.aws_endpoint).await;
        match self.credentials.get(function) {
            Some(c) => moto::sdk_config_as(&sdk, c),
            None => panic!("the template has no function {function}"),
        }
    }

    /// A store on the stack's table as the operator (every permission), for setup.
    pub async fn store(&self) -> Store {
        let sdk = moto::sdk_config_for(&self.aws_endpoint).await;
        Store::new(aws_sdk_dynamodb::Client::new(&sdk), self.table.clone())
    }

    /// The latest code the Hubtel simulator texted to `phone` (any format), as its owner
    /// reads it; `None` while none was sent.
    pub async fn code_sent_to(&self, phone: &str) -> Option<String> {
        let v: serde_json::Value = reqwest::get(format!("{}/control/otp?phone={phone}", self.hubtel_base))
            .await
            .expect("the Hubtel simulator answers")
            .json()
            .await
            .unwrap_or_default();
        v["code"].as_str().map(str::to_string)
    }

    /// The stack's config, as its Lambdas get it.
    pub fn config(&self) -> Config {
        let mut c = Config::for_table(self.table.clone());
        c.pin_pepper_secret_id = self.key_rings[0].clone();
        c.callback_key_secret_id = self.key_rings[1].clone();
        c.vault_key_secret_id = self.key_rings[2].clone();
        c.provider_secret_id = self.provider_secret.clone();
        c.smm_url = self.smm_url.clone();
        c.upstream_timeout_ms = 2000;
        c.topup_url = self.topup_base.clone();
        c.hubtel_url = self.hubtel_base.clone();
        c.vtpass_url = self.vtpass_url.clone();
        c.public_url = self.base_url.clone();
        c.hubtel_window_secs = 2;
        c.vtu_requery_after_secs = 0;
        c.smm_sending_grace_secs = self.smm_sending_grace_secs;
        c
    }

    /// A reconciler for the calling test's runtime, as the scheduled Lambda builds it.
    pub async fn reconciler(&self) -> kobo_reconciler::Reconciler {
        let sdk = self.sdk_as("ReconcilerFunction").await;
        kobo_reconciler::Reconciler::new(
            &self.config(),
            aws_sdk_dynamodb::Client::new(&sdk),
            aws_sdk_secretsmanager::Client::new(&sdk),
        )
    }

    /// An API app on the stack's table for the calling test's runtime, with its DynamoDB
    /// calls counted, on a clock standing still at the moment it was made (so call counts
    /// never depend on a request falling in a new rate window).
    pub async fn counted_app(&self) -> (kobo_api::App, CallCounter) {
        let sdk = self.sdk_as("ApiFunction").await;
        let counter = CallCounter::default();
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone()).build();
        let mut app = kobo_api::App::new(
            self.config(),
            aws_sdk_dynamodb::Client::from_conf(conf),
            aws_sdk_secretsmanager::Client::new(&sdk),
        );
        app.clock = kobo_shared::domain::time::Clock::fixed(kobo_shared::domain::time::now_unix());
        (app, counter)
    }

    /// One of the stack's key rings as it stands (0: PIN pepper, 1: callback key, 2: vault key).
    pub async fn key_ring(&self, which: usize) -> kobo_shared::platform::secrets::KeyRing {
        let sdk = moto::sdk_config_for(&self.aws_endpoint).await;
        kobo_shared::platform::secrets::SecretsCache::<kobo_shared::platform::secrets::KeyRing>::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
            self.key_rings[which].clone(),
        )
        .get()
        .await
        .map(|r| (*r).clone())
        .expect("reading one of the stack's key rings")
    }

    /// The PIN pepper ring.
    pub async fn pepper(&self) -> kobo_shared::platform::secrets::KeyRing {
        self.key_ring(0).await
    }

    /// The vault of the stack (the vault key ring its Lambdas use).
    pub async fn vault(&self) -> kobo_shared::platform::vault::Vault {
        kobo_shared::platform::vault::Vault::new(&self.key_ring(2).await).expect("building the vault")
    }

    /// The delivery queue for the calling test's runtime.
    pub async fn queue(&self) -> kobo_shared::flows::webhooks::deliver::Queue {
        let sdk = moto::sdk_config_for(&self.aws_endpoint).await;
        kobo_shared::flows::webhooks::deliver::Queue::new(aws_sdk_sqs::Client::new(&sdk), self.queue_url.clone())
    }

    /// POSTs JSON to the SMM simulator's control endpoint `path`.
    pub async fn sim_control(&self, path: &str, body: serde_json::Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.smm_base))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("simulator control {path}: {e}"));
        assert!(r.status().is_success(), "simulator control {path}: {}", r.status());
    }

    /// Queues the top-up simulator's next outcome(s) for purchases to `phone` (tests
    /// running at once each use their own number).
    pub async fn topup_next(&self, outcome: &str, times: u32, phone: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/control/next", self.topup_base))
            .json(&serde_json::json!({"outcome": outcome, "times": times, "phone": phone}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("top-up control: {e}"));
        assert!(r.status().is_success(), "top-up control: {}", r.status());
    }

    /// Posts `body` to the top-up simulator's control endpoint `path` (e.g. `/control/reverse`).
    pub async fn topup_control(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        control(&self.topup_base, path, body).await
    }

    /// Posts a top-up provider callback `body` signed with the provider's secret to the
    /// stack: (status, answer).
    pub async fn signed_topup_callback(&self, body: &str) -> (u16, serde_json::Value) {
        let secret = self.topup_webhook_secret().await;
        let sig = kobo_shared::platform::crypto::hmac_sha256_hex(secret.as_bytes(), body.as_bytes());
        let r = reqwest::Client::new()
            .post(format!("{}/callbacks/topup", self.base_url))
            .header("X-Signature", sig)
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("the callback reaches the stack: {e}"));
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// Posts `body` to the Hubtel simulator's control endpoint `path`.
    pub async fn hubtel_control(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        control(&self.hubtel_base, path, body).await
    }

    /// The provider's callback signing secret, as the stack's provider secret holds it.
    pub async fn topup_webhook_secret(&self) -> String {
        let sdk = moto::sdk_config_for(&self.aws_endpoint).await;
        kobo_shared::platform::secrets::SecretsCache::<kobo_shared::platform::secrets::ProviderSecrets>::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
            self.provider_secret.clone(),
        )
        .get()
        .await
        .ok()
        .and_then(|s| s.topup_webhook_secret.clone())
        .unwrap_or_default()
    }

    /// The simulator's counters: `add` calls received and orders it holds.
    pub async fn sim_stats(&self) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}/control/stats", self.smm_base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("simulator stats: {e}"))
            .json()
            .await
            .unwrap_or_default()
    }
}

/// Taken by the tests that load the whole machine (floods, bursts, benchmarks, the chaos
/// run) for their duration, so no two of them run at once on CI's two cores and starve
/// each other's functions past their Lambda timeout; the other tests run beside them.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// Where a local stack lives once started: `static S: StackSlot = StackSlot::new();`.
pub type StackSlot = OnceLock<(DevStack, Stack)>;

/// The test binary's local stack, shared by every test that does not need one of its
/// own; started on first use on a random port.
pub fn stack() -> &'static Stack {
    static STACK: StackSlot = StackSlot::new();
    own_stack(&STACK, "stack")
}

/// A local stack of its own (its own moto, simulators, queue and workers) for tests that
/// change what the whole stack does (simulator faults) or would flood it for the others;
/// started on first use in `slot`, which keeps it alive for the binary's lifetime. `name`
/// names its moto log.
pub fn own_stack(slot: &'static StackSlot, name: &'static str) -> &'static Stack {
    own_stack_with(slot, name, |_| {})
}

/// [`own_stack`] with its options changed by `customize` first (faults, crashes, pace).
pub fn own_stack_with(
    slot: &'static StackSlot,
    name: &'static str,
    customize: impl FnOnce(&mut devstack::Options),
) -> &'static Stack {
    &slot
        .get_or_init(|| {
            let mut opts = devstack::Options {
                addr: "127.0.0.1:0".parse().expect("the loopback address parses"),
                demo_json: None,
                moto_log: format!("moto-{name}-{}.log", std::process::id()),
                moto_args: Vec::new(),
                pace: kobo_cli::sim::smm::Pace {
                    pending: std::time::Duration::from_secs(3600),
                    processing: std::time::Duration::from_secs(3600),
                },
                reconcile_every: None,
                upstream_timeout: std::time::Duration::from_secs(2),
                webhook_retry_delays: vec![1, 1, 1],
                webhook_workers: 4,
                demo_webhook_url: None,
                topup_callback_delay: std::time::Duration::from_millis(300),
                vtu_requery_after: std::time::Duration::from_secs(0),
                smm_sending_grace: std::time::Duration::from_secs(300),
                hubtel_window: std::time::Duration::from_secs(2),
                faults: None,
                crashes: None,
            };
            customize(&mut opts);
            let grace = opts.smm_sending_grace.as_secs() as i64;
            // Warnings and errors of the stack's loops go to the test output.
            let _ = tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
                )
                .try_init();
            let dev = on_background(async move { DevStack::start(&project(), opts).await })
                .unwrap_or_else(|e| panic!("starting the local stack ({name}): {e:#}"));
            let info = Stack {
                api_url: format!("{}/api/v1", dev.base_url),
                base_url: dev.base_url.clone(),
                aws_endpoint: dev.aws_endpoint.clone(),
                table: dev.resources.table().unwrap_or_default().to_string(),
                key_rings: ["PinPepperSecret", "CallbackKeySecret", "VaultKeySecret"]
                    .map(|id| dev.resources.secret(id).unwrap_or_default().to_string()),
                demo: dev.demo.clone(),
                provider_secret: dev.resources.secret("ProviderSecret").unwrap_or_default().to_string(),
                smm_url: dev.smm.url.clone(),
                smm_base: dev.smm.base.clone(),
                queue_url: dev.queue.url().to_string(),
                topup_base: dev.topup.base.clone(),
                hubtel_base: dev.hubtel.base.clone(),
                vtpass_url: dev.vtpass.base.clone(),
                vtpass_base: dev.vtpass.root.clone(),
                credentials: dev.credentials.clone(),
                smm_sending_grace_secs: grace,
            };
            (dev, info)
        })
        .1
}

/// Posts `body` to a simulator's control endpoint: its JSON answer (a failure panics).
async fn control(base: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("simulator control {base}{path}: {e}"));
    assert!(r.status().is_success(), "simulator control {base}{path}: {}", r.status());
    r.json().await.unwrap_or_default()
}
