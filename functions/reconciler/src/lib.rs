//! The reconciler Lambda (EventBridge schedule): sends SMM orders that never reached
//! upstream, syncs open orders' statuses in batches, and refunds cancelled and partial
//! orders exactly once. Running it twice at the same time is safe: every change is a
//! conditional write.
#![warn(missing_docs)]

use kobo_shared::config::Config;
use kobo_shared::orders::{self, SyncReport};
use kobo_shared::upstream::{LazySmm, LazyTopup};
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
            store: Store::new(dynamodb, config.table.clone()),
            smm: LazySmm::new(config, secrets.clone()),
            topup: LazyTopup::new(config, secrets),
            requery_after_secs: config.vtu_requery_after_secs,
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

    /// Both passes (SMM then VTU); a failure of one does not stop the other.
    pub async fn run_all(&self) -> Result<(SyncReport, RequeryReport), ReconcileError> {
        let smm = self.run_once().await;
        let vtu = self.run_vtu_once().await;
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
