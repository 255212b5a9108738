//! moto's server on loopback with DynamoDB requests serialized (see
//! `cli/python/moto_serial.py`), and SDK configuration that points at it.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::tools::Project;

/// A running moto server; killed when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Moto {
    /// Installs the tools if needed and starts moto on a free loopback port. Its request
    /// log goes to `.local/<log_name>`.
    pub async fn start(project: &Project, log_name: &str) -> Result<Moto> {
        Moto::start_with(project, log_name, &[]).await
    }

    /// [`Moto::start`] with extra launcher arguments (see `moto_serial.py --help`, e.g.
    /// `--stock` or smaller stream limits for tests). `KOBO_MOTO_ARGS` (space separated)
    /// adds more to every launch, e.g. `KOBO_MOTO_ARGS=--stock` to time a test on stock moto.
    pub async fn start_with(project: &Project, log_name: &str, args: &[&str]) -> Result<Moto> {
        let bin = tokio::task::spawn_blocking({
            let p = project.clone();
            move || p.ensure_tools()
        })
        .await
        .context("installing tools")??;
        let log = std::fs::File::create(project.local_dir()?.join(log_name)).context("creating the moto log")?;
        let mut child = Command::new(bin.join("python"))
            .arg(project.moto_script())
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .args(std::env::var("KOBO_MOTO_ARGS").unwrap_or_default().split_whitespace())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("starting moto")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("moto has no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .context("moto did not start within 60 s")?
            .context("reading moto's port")?;
        let port: u16 = match first.as_deref().and_then(|l| l.strip_prefix("PORT ")) {
            Some(p) => p.trim().parse().context("moto printed a bad port")?,
            None => bail!("moto exited before listening; see .local/{log_name}"),
        };
        Ok(Moto { child, endpoint: format!("http://127.0.0.1:{port}") })
    }

    /// SDK configuration for this server (dummy credentials, us-east-1).
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint).await
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// SDK configuration for a local endpoint.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("kobo-local", "kobo-local", None, None, "kobo-local"))
        .load()
        .await
}

/// `sdk` with `credentials` instead of the operator's (a function's IAM user).
pub fn sdk_config_as(sdk: &SdkConfig, credentials: &Credentials) -> SdkConfig {
    sdk.to_builder()
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(credentials.clone()))
        .build()
}

/// The launcher's counters at `endpoint` (`GET /_kobo/stats`).
pub async fn launcher_stats(endpoint: &str) -> Result<serde_json::Value> {
    let r = reqwest::get(format!("{endpoint}/_kobo/stats")).await.context("asking moto for its stats")?;
    r.error_for_status().context("moto's stats")?.json().await.context("reading moto's stats")
}

/// Runs the launcher's TTL sweep and stream trim now, as if the clock read `now` (epoch
/// seconds); what it removed.
pub async fn launcher_sweep(endpoint: &str, now: Option<i64>) -> Result<serde_json::Value> {
    let url = match now {
        Some(t) => format!("{endpoint}/_kobo/sweep?now={t}"),
        None => format!("{endpoint}/_kobo/sweep"),
    };
    let r = reqwest::Client::new().post(url).send().await.context("asking moto to sweep")?;
    r.error_for_status().context("moto's sweep")?.json().await.context("reading moto's sweep")
}

/// Sets the launcher's DynamoDB faults (`""` turns them off); what it now injects.
pub async fn launcher_faults(endpoint: &str, spec: &str) -> Result<serde_json::Value> {
    if !spec.chars().all(|c| c.is_ascii_alphanumeric() || "_.=,".contains(c) || c == '+') {
        bail!("a fault spec is key=value pairs separated by commas, e.g. seed=7,conflict=0.1; got {spec:?}");
    }
    let r = reqwest::Client::new()
        .post(format!("{endpoint}/_kobo/faults?spec={}", spec.replace('+', "%2B")))
        .send()
        .await
        .context("asking moto to set faults")?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.context("reading moto's faults")?;
    if !status.is_success() {
        bail!("moto refused the fault spec {spec:?}: {body}");
    }
    Ok(body)
}
