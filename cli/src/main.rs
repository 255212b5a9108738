//! `kobo`: the local stack (`kobo dev`), the test runner (`kobo test`) and operator tasks.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kobo_cli::devstack::{self, DevStack, Project};
use kobo_cli::ops;

#[derive(Parser, Debug)]
#[command(name = "kobo", version, about = "kobo: local stack, tests and operator tasks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the whole stack on 127.0.0.1 (port KOBO_PORT, default 3000) with a seeded demo
    /// reseller; writes .local/demo.json. Ctrl-C stops it.
    Dev,
    /// Run every check: rustfmt, clippy, and all tests (unit, integration, end to end).
    Test,
    /// Benchmark: a local stack of its own; prints one table of DynamoDB calls and round
    /// trips per action, p50/p99 over HTTP beside the handler and the emulator's share,
    /// throughput of add and a VTU purchase at concurrency 1/8/32, and (with --cold) the
    /// release binaries' cold starts beside a hello-world lambda_http binary.
    Bench {
        /// Timed requests per action.
        #[arg(long, default_value_t = 40)]
        samples: usize,
        /// Also build the release binaries and measure their cold starts.
        #[arg(long)]
        cold: bool,
        /// Also print the figures as one JSON line (`BENCH {...}`).
        #[arg(long)]
        json: bool,
    },
    /// Soak benchmark: a local stack of its own under mixed reseller traffic; prints
    /// spends/s, early and late latency, and the emulator's memory.
    Soak {
        /// Stop after this many requests.
        #[arg(long, default_value_t = 10_000)]
        requests: u64,
        /// Or after this many minutes, whichever comes first.
        #[arg(long)]
        minutes: Option<f64>,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Run moto as stock (table copied per transaction item, streams never trimmed), to compare.
        #[arg(long)]
        stock_emulator: bool,
        /// Seed of the request mix.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Plans: discounts and rate limits.
    Plan {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::PlanCmd,
    },
    /// API access requests from the Developer Portal: list, approve, reject.
    Access {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::AccessCmd,
    },
    /// Accounts: create, activate, PIN, plan.
    Account {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::AccountCmd,
    },
    /// API keys: issue, list, revoke, scopes, whitelists.
    Key {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::KeyCmd,
    },
    /// Wallets: credit and debit with a reason.
    Wallet {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::WalletCmd,
    },
    /// The SMM catalog: import from upstream, enable, disable, set rates.
    Service {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::ServiceCmd,
    },
    /// SMM orders: show, list open ones, resolve unknown upstream outcomes.
    Order {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::OrderCmd,
    },
    /// Webhook endpoints: add, rotate, test, logs, redeliver.
    Webhook {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::WebhookCmd,
    },
    /// Withdrawals: pending, approve, reject.
    Withdrawal {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::WithdrawalCmd,
    },
    /// Ledgers: show, check.
    Ledger {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::LedgerCmd,
    },
    /// VTU providers: list (state and float), enable, disable, balance.
    Provider {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::ProviderCmd,
    },
    /// VTU routes: which providers each category and service is bought from.
    Route {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::RouteCmd,
    },
    /// VTU purchases: processing, settle.
    Vtu {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::VtuCmd,
    },
    /// Key rings (PIN pepper, callback key, vault key): rotate.
    Secrets {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::SecretsCmd,
    },
    /// Operator alerts: what kobo cannot settle by itself, and how to settle it.
    Alerts {
        #[command(flatten)]
        target: ops::Target,
        #[command(subcommand)]
        cmd: ops::AlertCmd,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Test => run_tests(),
        other => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")
            .and_then(|rt| rt.block_on(run(other))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kobo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cmd: Cmd) -> Result<()> {
    let project = Project::locate()?;
    match cmd {
        Cmd::Dev => dev(&project).await,
        Cmd::Plan { target, cmd } => ops::plan(&target.connect(&project).await?, cmd).await,
        Cmd::Access { target, cmd } => ops::access_cmd(&target.connect(&project).await?, cmd).await,
        Cmd::Account { target, cmd } => ops::account(&target.connect(&project).await?, cmd).await,
        Cmd::Key { target, cmd } => ops::key(&target.connect(&project).await?, cmd).await,
        Cmd::Wallet { target, cmd } => ops::wallet(&target.connect(&project).await?, cmd).await,
        Cmd::Ledger { target, cmd } => ops::ledger(&target.connect(&project).await?, cmd).await,
        Cmd::Secrets { target, cmd } => ops::secrets_cmd(&target.connect(&project).await?, cmd).await,
        Cmd::Alerts { target, cmd } => ops::alert(&target.connect(&project).await?, cmd).await,
        Cmd::Provider { target, cmd } => ops::provider(&target.connect(&project).await?, &project, &target, cmd).await,
        Cmd::Route { target, cmd } => ops::route(&target.connect(&project).await?, cmd).await,
        Cmd::Vtu { target, cmd } => ops::vtu_cmd(&target.connect(&project).await?, &project, &target, cmd).await,
        Cmd::Service { target, cmd } => ops::service(&target.connect(&project).await?, &project, &target, cmd).await,
        Cmd::Webhook { target, cmd } => ops::webhook(&target.connect(&project).await?, &project, &target, cmd).await,
        Cmd::Withdrawal { target, cmd } => {
            ops::withdrawal(&target.connect(&project).await?, &project, &target, cmd).await
        }
        Cmd::Order { target, cmd } => ops::order(&target.connect(&project).await?, cmd).await,
        Cmd::Test => run_tests(),
        Cmd::Bench { samples, cold, json } => {
            let report = kobo_cli::bench::run(&project, kobo_cli::bench::BenchOptions { samples, cold }).await?;
            println!("{report}");
            if json {
                println!("BENCH {}", serde_json::to_string(&report)?);
            }
            Ok(())
        }
        Cmd::Soak { requests, minutes, concurrency, stock_emulator, seed } => {
            let duration = minutes.map(|m| std::time::Duration::from_secs_f64(m.max(0.0) * 60.0));
            let opts = kobo_cli::soak::SoakOptions { requests, duration, concurrency, stock_emulator, seed };
            let report = kobo_cli::soak::run(&project, opts).await?;
            println!("{report}");
            println!("SOAK {}", serde_json::to_string(&report)?);
            if !report.ledger_ok {
                anyhow::bail!("the soak account's ledger does not sum to its balance");
            }
            Ok(())
        }
    }
}

async fn dev(project: &Project) -> Result<()> {
    kobo_shared::platform::telemetry::init();
    let port: u16 = match std::env::var("KOBO_PORT") {
        Ok(p) => p.trim().parse().with_context(|| format!("KOBO_PORT={p:?} is not a port"))?,
        Err(_) => 3000,
    };
    let opts = devstack::Options {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        demo_json: Some(devstack::demo_json_path(project)?),
        moto_log: "moto.log".into(),
        moto_args: Vec::new(),
        pace: Default::default(),
        reconcile_every: Some(std::time::Duration::from_secs(5)),
        upstream_timeout: std::time::Duration::from_secs(8),
        webhook_retry_delays: match std::env::var("KOBO_WEBHOOK_RETRY_DELAYS") {
            Ok(v) => kobo_shared::platform::config::parse_delays(&v)?,
            Err(_) => vec![10, 60, 300],
        },
        webhook_workers: 4,
        demo_webhook_url: std::env::var("KOBO_DEMO_WEBHOOK_URL").ok().filter(|u| !u.trim().is_empty()),
        topup_callback_delay: std::time::Duration::from_secs(3),
        vtu_requery_after: std::time::Duration::from_secs(30),
        smm_sending_grace: std::time::Duration::from_secs(300),
        hubtel_window: std::time::Duration::from_secs(60),
        faults: std::env::var("KOBO_FAULTS").ok().filter(|f| !f.trim().is_empty()),
        crashes: None,
    };
    let stack = DevStack::start(project, opts).await?;
    eprintln!(
        "\nkobo is running at {base}/api/v1\n  portal        {base}/portal  ({email} / {password})\n  demo account  {acct}\n  demo API key  {key}\n  PIN           {pin}\n  AWS endpoint  {aws} (moto)\n  details       {json}\n\ntry:  curl -X POST \"{base}/api/v1\" -H \"X-API-KEY: {key}\" -d \"action=balance\"\nCtrl-C stops everything; the next start begins from freshly seeded data.\n",
        base = stack.base_url,
        acct = stack.demo.account_id,
        key = stack.demo.api_key,
        pin = stack.demo.pin,
        email = stack.demo.portal_email,
        password = stack.demo.portal_password,
        aws = stack.aws_endpoint,
        json = stack.demo_json.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
    );
    wait_for_stop().await;
    eprintln!("kobo: stopping");
    stack.stop().await;
    Ok(())
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The portal's browser test drives Debian's Chromium: installed here when missing and
/// `apt-get` can (as root), otherwise a clear message naming the packages.
fn ensure_browser() -> Result<()> {
    let have = |p: &str| std::path::Path::new(p).exists();
    if have("/usr/bin/chromium") && have("/usr/bin/chromedriver") {
        return Ok(());
    }
    let packages = "chromium chromium-driver";
    let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    if !is_root || !have("/usr/bin/apt-get") {
        anyhow::bail!(
            "the portal's browser test needs Chromium and chromedriver: install the Debian packages {packages} \
             (sudo apt-get install -y {packages}) and run again"
        );
    }
    eprintln!("kobo test: installing {packages} for the portal's browser test (apt-get)");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let install = ["install", "-y", "-qq"].into_iter().chain(packages.split(' ')).collect::<Vec<_>>();
    if !apt(&["update", "-qq"]) || !apt(&install) {
        anyhow::bail!("apt-get could not install {packages}; install them and run again");
    }
    Ok(())
}

/// rustfmt, clippy, then every test of the workspace; stops at the first failure and ends
/// with one `N passed, N failed` line summing every test binary.
fn run_tests() -> Result<()> {
    let project = Project::locate()?;
    // Install the pinned tools once, before the test binaries race for them.
    project.ensure_tools()?;
    ensure_browser()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let steps: [(&str, &[&str]); 2] = [
        ("rustfmt", &["fmt", "--all", "--check"]),
        ("clippy", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
    ];
    for (name, args) in steps {
        eprintln!("kobo test: {name}: cargo {}", args.join(" "));
        let status = Command::new(&cargo)
            .args(args)
            .current_dir(&project.root)
            .status()
            .with_context(|| format!("running cargo for {name}"))?;
        if !status.success() {
            anyhow::bail!("{name} failed ({status})");
        }
    }
    let args = ["test", "--workspace", "--all-targets", "--no-fail-fast"];
    eprintln!("kobo test: tests: cargo {}", args.join(" "));
    let mut child = Command::new(&cargo)
        .args(args)
        .current_dir(&project.root)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let (mut passed, mut failed) = (0u64, 0u64);
    if let Some(out) = child.stdout.take() {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some((p, f)) = parse_result_line(&line) {
                passed += p;
                failed += f;
            }
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    println!("kobo test: {passed} passed, {failed} failed");
    if !status.success() || failed > 0 {
        anyhow::bail!("tests failed ({status})");
    }
    if passed == 0 {
        anyhow::bail!("no test ran");
    }
    Ok(())
}

/// `(passed, failed)` from libtest's `test result: ok. 3 passed; 1 failed; ...` line.
fn parse_result_line(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let count = |word: &str| {
        rest.split(';')
            .find_map(|part| part.trim().trim_start_matches("ok. ").trim_start_matches("FAILED. ").strip_suffix(word))
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    Some((count(" passed")?, count(" failed")?))
}

#[cfg(test)]
mod tests {
    use super::parse_result_line;

    #[test]
    fn reads_libtest_summaries() {
        assert_eq!(
            parse_result_line(
                "test result: ok. 27 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s"
            ),
            Some((27, 0))
        );
        assert_eq!(parse_result_line("test result: FAILED. 2 passed; 1 failed; 0 ignored"), Some((2, 1)));
        assert_eq!(parse_result_line("running 3 tests"), None);
    }
}
