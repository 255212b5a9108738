//! The reconciler Lambda (EventBridge schedule): sends SMM orders that never reached
//! upstream, syncs open orders' statuses in batches, and refunds cancelled and partial
//! orders exactly once. Running it twice at the same time is safe: every change is a
//! conditional write.
#![warn(missing_docs)]

use kobo_shared::config::Config;
use kobo_shared::deposits;
use kobo_shared::hubtel_throttle::Throttle;
use kobo_shared::orders::{self, SyncReport};
use kobo_shared::secrets::SecretsCache;
use kobo_shared::upstream::{LazyHubtel, LazySmm, LazyTopup};
use kobo_shared::vtu_flow::{self, RequeryReport};
use kobo_shared::{Store, StoreError};

/// Open orders examined per pass (one upstream multi-status call).
pub const BATCH: i32 = 100;

/// Per-container state.
#[derive(Debug)]
pub struct Reconciler {
    /// The table.
    pub store: Store,
    /// The upstream SMM panel.
    pub smm: LazySmm,
    /// The top-up provider.
    pub topup: LazyTopup,
    /// VTU transactions processing longer than this are requeried (seconds).
    pub requery_after_secs: i64,
    /// Hubtel.
    pub hubtel: LazyHubtel,
    /// Hubtel's shared rate limit.
    pub hubtel_throttle: Throttle,
    /// The app secret (deposit callback secrets derive from it).
    pub app_secrets: SecretsCache,
    /// kobo's public URL (for Hubtel callbacks).
    pub public_url: String,
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
            smm: LazySmm::new(config, secrets.clone()),
            topup: LazyTopup::new(config, secrets.clone()),
            requery_after_secs: config.vtu_requery_after_secs,
            hubtel: LazyHubtel::new(config, secrets.clone()),
            hubtel_throttle: Throttle::new(
                Store::new(dynamodb.clone(), config.table.clone()),
                "hubtel",
                5,
                std::time::Duration::from_secs(config.hubtel_window_secs),
            ),
            app_secrets: SecretsCache::new(secrets, config.app_secret_id.clone()),
            public_url: config.public_url.clone(),
        }
    }

    /// One VTU pass: requery transactions stuck in processing and settle them.
    pub async fn run_vtu_once(&self) -> Result<RequeryReport, ReconcileError> {
        let provider = self.topup.get().await?;
        let report = vtu_flow::requery_processing(&self.store, provider, self.requery_after_secs, BATCH).await?;
        tracing::info!(
            examined = report.examined,
            succeeded = report.succeeded,
            failed = report.failed,
            resent = report.resent,
            "vtu requery pass"
        );
        Ok(report)
    }

    /// Creates the paylinks of deposits that found no Hubtel slot when they were made.
    /// Returns how many got one.
    pub async fn run_deposits_once(&self) -> Result<usize, ReconcileError> {
        let pending = self.store.pending_deposits(20).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let hubtel = self.hubtel.get().await?;
        let key = self
            .app_secrets
            .get()
            .await
            .map_err(|e| ReconcileError::Store(StoreError::Backend(e.to_string())))?
            .pin_pepper
            .clone();
        let mut done = 0;
        for d in pending {
            let after = deposits::create_paylink(
                &self.store,
                hubtel,
                &self.hubtel_throttle,
                key.as_bytes(),
                &self.public_url,
                &d,
                std::time::Duration::from_secs(10),
            )
            .await?;
            if after.paylink_url.is_some() {
                done += 1;
            } else {
                break; // no slot: the next pass goes on
            }
        }
        Ok(done)
    }

    /// Sends queued SMS notices while Hubtel's limit allows. Returns how many.
    pub async fn run_sms_once(&self) -> Result<usize, ReconcileError> {
        let hubtel = self.hubtel.get().await?;
        Ok(kobo_shared::sms::drain(
            &self.store,
            &self.hubtel_throttle,
            hubtel,
            "kobo",
            10,
            std::time::Duration::from_secs(10),
        )
        .await?)
    }

    /// Checks the OTPs of withdrawals held while Hubtel was busy. Returns how many were
    /// settled either way.
    pub async fn run_withdrawals_once(&self) -> Result<usize, ReconcileError> {
        // OTPs queued while Hubtel was busy go out first.
        for (account, id, phone) in self.store.queued_otps(10).await? {
            if !self.hubtel_throttle.acquire(std::time::Duration::from_secs(10)).await? {
                break;
            }
            let session = self.hubtel.get().await?.otp_send("kobo", &phone, "NG").await?;
            self.store.otp_sent(&account, &id, &session).await?;
        }
        let waiting = self.store.verifying_withdrawals(10).await?;
        if waiting.is_empty() {
            return Ok(0);
        }
        let hubtel = self.hubtel.get().await?;
        let mut done = 0;
        for w in waiting {
            let Some((session, code)) = &w.pending_otp else { continue };
            if !self.hubtel_throttle.acquire(std::time::Duration::from_secs(10)).await? {
                break;
            }
            let ok = hubtel.otp_verify(session, code).await?;
            if kobo_shared::withdrawals::finish_verification(&self.store, &w, ok).await? {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Every pass (SMM, VTU, deposits, withdrawals, SMS); a failure of one does not stop the others.
    pub async fn run_all(&self) -> Result<(SyncReport, RequeryReport), ReconcileError> {
        let smm = self.run_once().await;
        let vtu = self.run_vtu_once().await;
        if let Err(e) = self.run_deposits_once().await {
            tracing::warn!(error = %e, "deposit paylink pass failed");
        }
        if let Err(e) = self.run_withdrawals_once().await {
            tracing::warn!(error = %e, "withdrawal OTP pass failed");
        }
        if let Err(e) = self.run_sms_once().await {
            tracing::warn!(error = %e, "SMS notice pass failed");
        }
        Ok((smm?, vtu?))
    }

    /// One SMM pass.
    pub async fn run_once(&self) -> Result<SyncReport, ReconcileError> {
        let panel = self.smm.get().await?;
        let report = orders::sync_open_orders(&self.store, panel, BATCH).await?;
        tracing::info!(
            examined = report.examined,
            sent = report.sent,
            changed = report.changed,
            refunded = report.refunded,
            unknown = report.unknown,
            "reconciler pass"
        );
        Ok(report)
    }
}
