//! The reconciler Lambda (EventBridge schedule): sends SMM orders that never reached
//! upstream, syncs open orders' statuses in batches, and refunds cancelled and partial
//! orders exactly once. Running it twice at the same time is safe: every change is a
//! conditional write.
#![warn(missing_docs)]

use kobo_shared::db::throttle::Slot;
use kobo_shared::flows::orders::{self, SyncReport};
use kobo_shared::flows::providers::Providers;
use kobo_shared::flows::vtu::{self, RequeryReport};
use kobo_shared::flows::{deposits, fair, sms, withdrawals};
use kobo_shared::platform::config::Config;
use kobo_shared::platform::secrets::{KeyRing, KeyRings};
use kobo_shared::upstream::{HubtelApi, UpstreamError};
use kobo_shared::{Store, StoreError};

/// How long one pass of a kind (VTU requeries, SMM syncs) may take before it leaves the
/// rest to the next pass (the function's timeout is 60 s and it runs several kinds).
pub const PASS_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// The function's `Timeout` in `template.yaml` (a test holds the two equal).
pub const FUNCTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What [`Reconciler::run_all`] keeps in hand before the function's timeout: no pass
/// starts, and no provider call is begun, that could still be running when Lambda
/// stops the function (a payout cut off there is one whose outcome only Hubtel knows).
pub const TIMEOUT_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Per-container state.
#[derive(Debug)]
pub struct Reconciler {
    /// The table.
    pub store: Store,
    /// The providers (SMM panel, VTU provider, Hubtel and its shared throttle).
    pub providers: Providers,
    /// VTU transactions processing longer than this are requeried (seconds).
    pub requery_after_secs: i64,
    /// Seconds an SMM order may stay `Sending` before it is called unknown.
    pub sending_grace_secs: i64,
    /// The key rings (callback URLs; pending OTP codes at rest).
    pub keys: KeyRings,
    /// kobo's public URL (for Hubtel callbacks).
    pub public_url: String,
    /// The longest a provider call may take (its HTTP timeout).
    pub call_timeout: std::time::Duration,
    /// Below this float a VTU provider is alerted on and passed by in routes.
    pub float_threshold: kobo_shared::Kobo,
    /// Whether VTpass is configured (its float is read each pass).
    pub vtpass: bool,
}

/// What serving one queued item came to.
enum Step {
    /// Done (a paylink created).
    Done,
    /// Nothing more for this one now; the others go on.
    Next,
    /// Hubtel's window is full: the pass stops.
    Stop,
}

/// A pass failed; nothing half-done is left (each order's change is one transaction).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The upstream panel cannot be reached or configured.
    #[error(transparent)]
    Upstream(#[from] kobo_shared::upstream::UpstreamError),
}

impl Reconciler {
    /// From clients made by the caller.
    pub fn new(
        config: &Config,
        dynamodb: aws_sdk_dynamodb::Client,
        secrets: aws_sdk_secretsmanager::Client,
    ) -> Reconciler {
        Reconciler {
            store: Store::new(dynamodb.clone(), config.table.clone()),
            providers: Providers::new(config, secrets.clone(), &Store::new(dynamodb, config.table.clone())),
            requery_after_secs: config.vtu_requery_after_secs,
            sending_grace_secs: config.smm_sending_grace_secs,
            keys: KeyRings::new(&secrets, config),
            public_url: config.public_url.clone(),
            call_timeout: std::time::Duration::from_millis(config.upstream_timeout_ms),
            float_threshold: kobo_shared::Kobo::naira(config.vtu_float_alert_naira),
            vtpass: !config.vtpass_url.is_empty(),
        }
    }

    /// One VTU pass: requery transactions stuck in processing and settle them.
    pub async fn run_vtu_once(&self) -> Result<RequeryReport, ReconcileError> {
        self.run_vtu_until(std::time::Instant::now() + PASS_BUDGET).await
    }

    async fn run_vtu_until(&self, deadline: std::time::Instant) -> Result<RequeryReport, ReconcileError> {
        // Each purchase is asked of the provider it went to.
        let provider = &self.providers;
        let report = vtu::requery_processing(&self.store, provider, self.requery_after_secs, deadline).await?;
        log_pass("vtu requery pass", &report);
        let now = kobo_shared::domain::time::now_unix();
        match vtu::check_reversals(&self.store, provider, now, deadline).await {
            Ok(reversals) => log_pass("vtu reversal checks", &reversals),
            Err(e) => tracing::warn!(error = %e, "reversal checks failed; the next pass tries again"),
        }
        Ok(report)
    }

    /// Reads each VTU provider's float that has one (VTpass): recorded; below the threshold
    /// flagged low (routes pass it by) and alerted, at or above routed to again.
    pub async fn run_float_once(&self) -> Result<Vec<(String, vtu::Float)>, ReconcileError> {
        let mut out = Vec::new();
        if self.vtpass {
            let balance = self.providers.vtpass.get().await?.balance().await?;
            let now = kobo_shared::domain::time::now_unix();
            out.push((
                "vtpass".to_string(),
                vtu::check_float(&self.store, "vtpass", balance, self.float_threshold, now).await?,
            ));
        }
        Ok(out)
    }

    /// One pass of reversal checks as if the time were `now` (unix seconds): every
    /// delivered purchase whose check is due is asked about, and refunded once when the
    /// provider reversed it.
    pub async fn run_reversal_checks_at(&self, now: i64) -> Result<vtu::ReversalReport, ReconcileError> {
        let deadline = std::time::Instant::now() + PASS_BUDGET;
        let report = vtu::check_reversals(&self.store, &self.providers, now, deadline).await?;
        log_pass("vtu reversal checks", &report);
        Ok(report)
    }

    /// Creates the paylinks of deposits that found no Hubtel slot when they were made,
    /// taking accounts in turn, and drops those that waited too long. Returns how many
    /// got one.
    pub async fn run_deposits_once(&self) -> Result<usize, ReconcileError> {
        self.run_deposits_until(std::time::Instant::now() + PASS_BUDGET).await
    }

    /// The paylink pass; no paylink is asked for after `deadline`.
    async fn run_deposits_until(&self, deadline: std::time::Instant) -> Result<usize, ReconcileError> {
        let pending = self.store.pending_deposits(100).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let hubtel = self.providers.hubtel.get().await?;
        let hubtel = &*hubtel;
        let key = self.callback_key().await?;
        let mut done = 0;
        for d in fair::round_robin(pending, |d| d.account_id.as_str()) {
            if std::time::Instant::now() >= deadline {
                break;
            }
            // A store failure on one deposit is logged and the others go on.
            match self.serve_deposit(hubtel, &key, &d).await {
                Ok(Step::Done) => done += 1,
                Ok(Step::Next) => {}
                Ok(Step::Stop) => break, // Hubtel's window is full: the next pass goes on
                Err(e) => tracing::warn!(deposit = %d.id, error = %e, "deposit not served; the others go on"),
            }
        }
        Ok(done)
    }

    /// One pending deposit: dropped when it waited too long, else its paylink asked for
    /// (one caller at a time: the reseller's own request may be at it), within its
    /// account's share of Hubtel's window.
    async fn serve_deposit(
        &self,
        hubtel: &kobo_shared::upstream::hubtel::HubtelClient,
        key: &KeyRing,
        d: &kobo_shared::domain::deposit::Deposit,
    ) -> Result<Step, StoreError> {
        use kobo_shared::db::queue_slots::QueueKind;
        let now = kobo_shared::domain::time::now_unix();
        if d.waited_too_long(now) {
            if self.store.expire_deposit(d).await? {
                tracing::warn!(deposit = %d.id, "deposit never got its paylink; dropped");
            }
            self.store.free_queue_slot(&d.account_id, QueueKind::Deposit, &d.id).await?;
            return Ok(Step::Next);
        }
        if !self.store.claim_paylink(d, now, now + deposits::PAYLINK_CLAIM_SECS).await? {
            return Ok(Step::Next);
        }
        match self.providers.hubtel_throttle.take_now_for(&d.account_id).await? {
            Slot::Taken => {}
            other => {
                self.store.release_paylink_claim(d).await?;
                return Ok(if other == Slot::Full { Step::Stop } else { Step::Next });
            }
        }
        match deposits::send_paylink(&self.store, hubtel, key, &self.public_url, d).await? {
            deposits::Paylink::Done(_) => {
                self.store.free_queue_slot(&d.account_id, QueueKind::Deposit, &d.id).await?;
                Ok(Step::Done)
            }
            // One Hubtel refuses blocks none behind it; it expires if it never goes.
            _ => Ok(Step::Next),
        }
    }

    /// Sends queued SMS notices while Hubtel's limit allows. Returns how many.
    pub async fn run_sms_once(&self) -> Result<usize, ReconcileError> {
        let hubtel = self.providers.hubtel.get().await?;
        let hubtel = &*hubtel;
        Ok(sms::drain(&self.store, &self.providers.hubtel_throttle, hubtel, "kobo", 10).await?)
    }

    /// Checks the OTPs of withdrawals held while Hubtel was busy. Returns how many were
    /// settled either way.
    pub async fn run_withdrawals_once(&self) -> Result<usize, ReconcileError> {
        self.run_withdrawals_until(std::time::Instant::now() + PASS_BUDGET).await
    }

    /// The withdrawal OTP pass; no OTP check starts after `deadline`.
    async fn run_withdrawals_until(&self, deadline: std::time::Instant) -> Result<usize, ReconcileError> {
        // OTPs queued while Hubtel was busy go out first, accounts in turn; expired ones
        // are dropped, and so is one Hubtel refuses. One whose sending failed otherwise is
        // logged and left for the next pass (never blocking those behind it in this one);
        // it is dropped when it expires.
        let now = kobo_shared::domain::time::now_unix();
        let otp_queue = kobo_shared::db::queue_slots::QueueKind::Otp;
        for otp in fair::round_robin(self.store.queued_otps(100).await?, |o| o.account_id.as_str()) {
            if std::time::Instant::now() >= deadline {
                break;
            }
            if otp.expires_at <= now {
                let dropped = match self.store.drop_queued_otp(&otp.account_id, &otp.id).await {
                    Ok(_) => self.store.free_queue_slot(&otp.account_id, otp_queue, &otp.id).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = dropped {
                    tracing::warn!(otp = %otp.id, error = %e, "expired OTP not dropped; the others go on");
                }
                continue;
            }
            match self.providers.hubtel_throttle.take_now_for(&otp.account_id).await? {
                Slot::Taken => {}
                Slot::ShareUsed => continue,
                Slot::Full => break,
            }
            let sent = match self.providers.hubtel.get().await?.otp_send("kobo", &otp.phone, "NG").await {
                Ok(session) => self.store.otp_sent(&otp.account_id, &otp.id, &session).await,
                Err(UpstreamError::Rejected(e)) => {
                    // Refused (its answer said so): it would be refused every time and take
                    // its account's share of each window from the OTPs behind it. Dropped,
                    // as a refused notice is; the reseller asks for a new one.
                    tracing::warn!(otp = %otp.id, error = %e, "Hubtel refused a queued OTP; dropped");
                    self.store.drop_queued_otp(&otp.account_id, &otp.id).await.map(drop)
                }
                Err(e) => {
                    tracing::warn!(otp = %otp.id, error = %e, "queued OTP not sent; the others go on");
                    continue;
                }
            };
            if let Err(e) = sent {
                tracing::warn!(otp = %otp.id, error = %e, "queued OTP sent but not recorded");
            }
            if let Err(e) = self.store.free_queue_slot(&otp.account_id, otp_queue, &otp.id).await {
                tracing::warn!(otp = %otp.id, error = %e, "OTP queue slot not freed; it frees itself at expiry");
            }
        }
        let waiting = self.store.verifying_withdrawals(10).await?;
        if waiting.is_empty() {
            return Ok(0);
        }
        let hubtel = self.providers.hubtel.get().await?;
        let hubtel = &*hubtel;
        let mut done = 0;
        for w in waiting {
            // Its slot wait (up to 10 s) and its check must end by the deadline.
            if std::time::Instant::now() + std::time::Duration::from_secs(10) >= deadline {
                break;
            }
            let Some((session, sealed)) = &w.pending_otp else { continue };
            let code = match self.open_code(&w, sealed).await {
                Ok(code) => code,
                Err(e) => {
                    tracing::warn!(withdrawal = %w.id, error = %e, "pending OTP code cannot be opened; the others go on");
                    continue;
                }
            };
            if !self.providers.hubtel_throttle.acquire(std::time::Duration::from_secs(10)).await? {
                break;
            }
            let ok = match hubtel.otp_verify(session, &code).await {
                Ok(ok) => ok,
                Err(e) => {
                    tracing::warn!(withdrawal = %w.id, error = %e, "OTP check failed; the others go on");
                    continue;
                }
            };
            // The code counts like a PIN (its attempt was reserved when it came in).
            let counted = if ok {
                self.store.pin_ok(&w.account_id, kobo_shared::domain::pin::Guess::OtpCode).await
            } else {
                self.store.deferred_code_wrong(&w.account_id, kobo_shared::domain::time::now_unix()).await
            };
            if let Err(e) = counted {
                tracing::warn!(withdrawal = %w.id, error = %e, "OTP attempt not counted");
            }
            match withdrawals::finish_verification(&self.store, &w, ok).await {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(withdrawal = %w.id, error = %e, "verification not recorded; next pass"),
            }
        }
        Ok(done)
    }

    /// The OTP code a withdrawal holds sealed (the vault key ring fetched again once
    /// when it was sealed under a newer key).
    async fn open_code(&self, w: &kobo_shared::domain::withdrawal::Withdrawal, sealed: &str) -> Result<String, String> {
        use kobo_shared::platform::vault::Vault;
        let context = kobo_shared::domain::withdrawal::otp_code_context(&w.account_id, &w.id);
        let ring = self.keys.vault_key.get().await.map_err(|e| e.to_string())?;
        match Vault::new(&ring).map_err(|e| e.to_string())?.open(sealed, &context) {
            Err(e) if e.is_unknown_key() => {
                let ring = self.keys.vault_key.refresh().await.map_err(|e| e.to_string())?;
                Vault::new(&ring).map_err(|e| e.to_string())?.open(sealed, &context).map_err(|e| e.to_string())
            }
            other => other.map_err(|e| e.to_string()),
        }
    }

    /// The key ring callback URLs are made under.
    async fn callback_key(&self) -> Result<std::sync::Arc<KeyRing>, ReconcileError> {
        self.keys.callback_key.get().await.map_err(|e| ReconcileError::Store(StoreError::Backend(e.to_string())))
    }

    /// Pays out approved withdrawals Hubtel has not taken yet, and puts those only Hubtel
    /// can settle before an operator. Returns how many Hubtel accepted.
    pub async fn run_payouts_once(&self) -> Result<usize, ReconcileError> {
        self.run_payouts_until(std::time::Instant::now() + PASS_BUDGET).await
    }

    /// The payout pass, done by `end`: no send-money attempt starts later than its slot
    /// wait, its call and its writes could finish by then (nor after [`PASS_BUDGET`]).
    async fn run_payouts_until(&self, end: std::time::Instant) -> Result<usize, ReconcileError> {
        let hubtel = self.providers.hubtel.get().await?;
        let hubtel = &*hubtel;
        let key = self.callback_key().await?;
        let payer = withdrawals::Payer {
            store: &self.store,
            hubtel,
            throttle: &self.providers.hubtel_throttle,
            callback_key: &key,
            public_url: &self.public_url,
        };
        let attempt = std::time::Duration::from_secs(5) + self.call_timeout + std::time::Duration::from_secs(2);
        let last_start = end
            .checked_sub(attempt)
            .unwrap_or_else(std::time::Instant::now)
            .min(std::time::Instant::now() + PASS_BUDGET);
        // An attempt is cut off after the payout cut-off, or sooner where the stack's
        // sending grace is shorter (tests that drain quickly).
        let cut_off = withdrawals::SENDING_CUT_OFF_SECS.min(self.sending_grace_secs);
        Ok(payer.run(kobo_shared::domain::time::now_unix(), cut_off, last_start).await?)
    }

    /// Every pass (SMM, VTU, deposits, withdrawals, payouts, SMS); a failure of one does
    /// not stop the others. All of it ends inside the function's timeout: each pass gets
    /// at most [`PASS_BUDGET`] of what is left before [`FUNCTION_TIMEOUT`] less
    /// [`TIMEOUT_MARGIN`], a pass that could not finish in what is left does not start
    /// (the next scheduled run takes it), and payouts start no call they could not finish.
    pub async fn run_all(&self) -> Result<(SyncReport, RequeryReport), ReconcileError> {
        let end = std::time::Instant::now() + FUNCTION_TIMEOUT - TIMEOUT_MARGIN;
        // A pass's deadline is when it starts no new item; an item's provider call may
        // then take its timeout, so it comes that long before the end.
        let calls_end = end.checked_sub(self.call_timeout).unwrap_or(end);
        let pass_end = || (std::time::Instant::now() + PASS_BUDGET).min(calls_end);
        // A Hubtel pass makes calls of up to the call timeout after a slot wait of up to 10 s.
        let hubtel_pass = std::time::Duration::from_secs(10) + self.call_timeout + TIMEOUT_MARGIN;
        let left = || end.saturating_duration_since(std::time::Instant::now());
        let smm = self.run_once_until(pass_end()).await;
        if let Err(e) = self.run_float_once().await {
            tracing::warn!(error = %e, "provider float pass failed");
        }
        let vtu = self.run_vtu_until(pass_end()).await;
        // Payouts first of Hubtel's passes: their alerts need no call and always run.
        if let Err(e) = self.run_payouts_until(end).await {
            tracing::warn!(error = %e, "payout pass failed");
        }
        if left() > hubtel_pass {
            if let Err(e) = self.run_deposits_until(pass_end()).await {
                tracing::warn!(error = %e, "deposit paylink pass failed");
            }
        }
        if left() > hubtel_pass {
            if let Err(e) = self.run_withdrawals_until(pass_end()).await {
                tracing::warn!(error = %e, "withdrawal OTP pass failed");
            }
        }
        if left() > hubtel_pass {
            if let Err(e) = self.run_sms_once().await {
                tracing::warn!(error = %e, "SMS notice pass failed");
            }
        }
        Ok((smm?, vtu?))
    }

    /// One SMM pass.
    pub async fn run_once(&self) -> Result<SyncReport, ReconcileError> {
        self.run_once_until(std::time::Instant::now() + PASS_BUDGET).await
    }

    async fn run_once_until(&self, deadline: std::time::Instant) -> Result<SyncReport, ReconcileError> {
        let panel = self.providers.smm.get().await?;
        let panel = &*panel;
        let report = orders::sync_open_orders(&self.store, panel, self.sending_grace_secs, deadline).await?;
        log_pass("reconciler pass", &report);
        Ok(report)
    }
}

/// Logs what a pass did, its counters as one JSON field.
fn log_pass(what: &str, report: &impl serde::Serialize) {
    let counts = serde_json::to_string(report).unwrap_or_default();
    tracing::info!(pass = what, counts = %counts, "reconciler pass done");
}
