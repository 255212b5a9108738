//! Per-account caps on work waiting for Hubtel's shared 5-per-minute budget: deposits
//! waiting for their paylink, OTPs waiting to be sent, SMS notices. An account holds at
//! most `cap` slots of a kind; a slot is one item (`HUBTELQ#<account>` /
//! `<kind>#<n>`) put only where none is (or the one there has expired), so the cap is
//! exact however many requests race; it is given back when its work is done or dropped,
//! and one never given back (a crash) frees itself when its work would have expired.

use super::item::{n, s, Key, Reader};
use super::table::{Change, Query};
use super::Store;
use crate::error::StoreError;

/// What waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// A deposit waiting for its paylink (or being created).
    Deposit,
    /// A withdrawal OTP waiting to be sent (or being sent).
    Otp,
    /// An SMS notice.
    Notice,
}

impl QueueKind {
    /// The word in keys.
    pub const fn as_str(self) -> &'static str {
        match self {
            QueueKind::Deposit => "DEPOSIT",
            QueueKind::Otp => "OTP",
            QueueKind::Notice => "NOTICE",
        }
    }

    /// Most of this kind one account may have waiting.
    pub const fn cap(self) -> u32 {
        match self {
            QueueKind::Deposit => 3,
            QueueKind::Otp => 2,
            QueueKind::Notice => 20,
        }
    }
}

fn pk(account_id: &str) -> String {
    format!("HUBTELQ#{account_id}")
}

fn slot_key(account_id: &str, kind: QueueKind, slot: u32) -> Key {
    Key::new(pk(account_id), format!("{}#{slot:02}", kind.as_str()))
}

impl Store {
    /// Takes a free slot of `kind` for the work `reference` until `expires_at`; `false`
    /// when the account's slots are all taken (the caller refuses the work).
    pub async fn take_queue_slot(
        &self,
        account_id: &str,
        kind: QueueKind,
        reference: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let taken = self.query(&Query::partition(pk(account_id)).prefix(format!("{}#", kind.as_str()))).await?;
        let busy: Vec<String> = taken
            .iter()
            .filter(|i| Reader::new(i).opt_i64("expires_at").ok().flatten().is_some_and(|e| e > now))
            .filter_map(|i| Reader::new(i).s("SK").ok())
            .collect();
        for slot in 0..kind.cap() {
            let key = slot_key(account_id, kind, slot);
            if busy.contains(&key.sk) {
                continue;
            }
            let put = Change::new()
                .set("reference", s(reference))
                .set("expires_at", n(expires_at))
                .set("type", s("queue_slot"))
                .if_expr("attribute_not_exists(PK) OR {expires_at} <= :now", &["expires_at"], vec![(":now", n(now))]);
            if self.transition(&key, put).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Gives back the slot held for `reference` (nothing when none is).
    pub async fn free_queue_slot(&self, account_id: &str, kind: QueueKind, reference: &str) -> Result<(), StoreError> {
        let taken = self.query(&Query::partition(pk(account_id)).prefix(format!("{}#", kind.as_str()))).await?;
        for item in taken {
            let r = Reader::new(&item);
            if r.opt_s("reference")?.as_deref() == Some(reference) {
                let key = Key::new(r.s("PK")?, r.s("SK")?);
                // Freed by expiring it (a put may reuse it at once), conditional on it
                // still being this work's.
                let free = Change::new().set("expires_at", n(0)).if_eq("reference", s(reference));
                self.transition(&key, free).await?;
            }
        }
        Ok(())
    }
}
