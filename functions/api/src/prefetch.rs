//! What the authentication wave reads and writes besides the key, the account and the rate
//! counters, so a spend reaches its provider after that one wave and its transaction:
//!
//! - in the same `BatchGetItem`: the catalog versions (the container's SMM, VTU and plan
//!   caches are used only while their version holds), the idempotency record(s) of the
//!   request's key, a JAMB purchase's verified profile;
//! - concurrently: the fresh id(s) of an order or a purchase (an id a refused request took
//!   is skipped, as ids may be), and — for a key this container authenticated recently —
//!   the PIN attempt of a VTU purchase. A forged or unknown key never reserves an attempt
//!   (its first purchase reserves after authentication, one round trip more); an attempt
//!   reserved for a request that never evaluates its PIN is released once it is answered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kobo_shared::db::catalog::{Catalog, CatalogVersions};
use kobo_shared::db::item::{Item, Key};
use kobo_shared::db::{idempotency, vtu as vtu_db};
use kobo_shared::domain::idempotency::IdemRecord;
use kobo_shared::domain::pin;
use kobo_shared::domain::vtu::{Exam, ProfileId};
use kobo_shared::{Action, Store, StoreError};

use crate::request::ApiRequest;

/// What one request asks the wave for.
#[derive(Debug, Default)]
pub struct Wanted {
    /// Idempotency record key hashes (one per bulk item).
    pub idem: Vec<String>,
    /// A JAMB profile: exam and profile id.
    pub profile: Option<(Exam, String)>,
    /// A counter and how many ids to take from it.
    pub ids: Option<(&'static str, u64)>,
    /// Reserve a PIN attempt (a VTU purchase by a key known here).
    pub pin: bool,
}

/// The idempotency key hash of a request's key with `suffix` (bulk items are `#<i>`).
pub fn idem_hash(key: &str, suffix: &str) -> String {
    kobo_shared::platform::crypto::sha256_hex(format!("{key}{suffix}").as_bytes())
}

impl Wanted {
    /// What `req`, claiming `action`, will need (nothing for an action it does not name).
    pub fn of(req: &ApiRequest, action: Option<Action>, known_key: bool) -> Wanted {
        let Some(action) = action else { return Wanted::default() };
        let key = req.idempotency_key.as_deref().filter(|k| kobo_shared::domain::idempotency::validate_key(k).is_ok());
        let mut w = Wanted::default();
        match action {
            Action::Add => {
                w.ids = Some(("order", 1));
                w.idem.extend(key.map(|k| idem_hash(k, "")));
            }
            Action::AddBulk => {
                let n = req
                    .params
                    .get("orders")
                    .and_then(|o| serde_json::from_str::<Vec<serde_json::Value>>(o).ok())
                    .map(|v| v.len())
                    .filter(|n| (1..=crate::actions::orders::MAX_BULK).contains(n));
                if let Some(n) = n {
                    w.ids = Some(("order", n as u64));
                    if let Some(k) = key {
                        w.idem.extend((0..n).map(|i| idem_hash(k, &format!("#{i}"))));
                    }
                }
            }
            a if a.spends() => {
                w.ids = Some(("vtu", 1));
                w.idem.extend(key.map(|k| idem_hash(k, "")));
                w.pin = known_key;
                if a == Action::VtuEducation {
                    let exam = req.params.get("exam").and_then(Exam::parse);
                    let profile = req.params.get("profile_id").and_then(ProfileId::parse);
                    if let (Some(exam), Some(profile)) = (exam.filter(|e| e.needs_profile()), profile) {
                        w.profile = Some((exam, profile.as_str().to_string()));
                    }
                }
            }
            _ => {}
        }
        w
    }

    /// The extra keys of the wave's `BatchGetItem`.
    pub fn keys(&self, account_id: &str) -> Vec<Key> {
        let mut keys = vec![CatalogVersions::key()];
        keys.extend(self.idem.iter().map(|h| idempotency::idem_key(account_id, h)));
        if let Some((exam, id)) = &self.profile {
            keys.push(vtu_db::profile_key(account_id, exam.as_str(), id));
        }
        keys
    }

    /// Takes the ids and reserves the PIN attempt, concurrently with the reads.
    pub async fn writes(&self, store: &Store, account_id: &str, now: i64) -> (Option<u64>, Option<pin::Attempt>) {
        let ids = async {
            match self.ids {
                Some((counter, n)) => store.next_ids(counter, n).await.ok(),
                None => None,
            }
        };
        let pin = async {
            match self.pin {
                true => store.reserve_attempt(account_id, pin::Guess::Pin, now).await.ok(),
                false => None,
            }
        };
        tokio::join!(ids, pin)
    }
}

/// What the wave brought for the request's action.
#[derive(Debug, Default)]
pub struct Prefetched {
    /// The catalog versions, when read.
    pub versions: Option<CatalogVersions>,
    /// Records of the key hashes asked for (`None`: no live record).
    pub idem: HashMap<String, Option<IdemRecord>>,
    /// The JAMB profile asked for: the candidate's name if verified and live.
    pub profile: Option<Option<String>>,
    /// The last of the ids taken (`n` ids: `last - n + 1 ..= last`) and `n`.
    pub ids: Option<(u64, u64)>,
    /// A PIN attempt reserved before the key was checked.
    pub pin: Option<pin::Attempt>,
    pin_used: AtomicBool,
}

impl Prefetched {
    /// Reads what the wave found.
    pub fn from_wave(
        wanted: &Wanted,
        extras: &[Item],
        ids: Option<u64>,
        pin: Option<pin::Attempt>,
        now: i64,
    ) -> Result<Prefetched, StoreError> {
        let mut p = Prefetched {
            versions: Some(CatalogVersions::default()),
            idem: wanted.idem.iter().map(|h| (h.clone(), None)).collect(),
            profile: wanted.profile.as_ref().map(|_| None),
            ids: ids.zip(wanted.ids.map(|(_, n)| n)),
            pin,
            pin_used: AtomicBool::new(false),
        };
        for item in extras {
            if CatalogVersions::is(item) {
                p.versions = Some(CatalogVersions::read(item)?);
            } else if idempotency::is_record(item) {
                if let Some(rec) = idempotency::live_record(item, now)? {
                    p.idem.insert(rec.key_hash.clone(), Some(rec));
                }
            } else if vtu_db::is_profile(item) {
                p.profile = Some(vtu_db::live_profile(item, now)?);
            }
        }
        Ok(p)
    }

    /// The version of catalog `c` read in the wave, if it was.
    pub fn version(&self, c: Catalog) -> Option<u64> {
        self.versions.map(|v| v.of(c))
    }

    /// The `i`-th id taken, if the wave took ids.
    pub fn id(&self, i: u64) -> Option<u64> {
        let (last, n) = self.ids?;
        (i < n).then(|| last - n + 1 + i)
    }

    /// The record of `key_hash`, if the wave looked it up (`Some(None)`: none).
    pub fn idem(&self, key_hash: &str) -> Option<Option<IdemRecord>> {
        self.idem.get(key_hash).cloned()
    }

    /// The reserved PIN attempt, at most once (whoever takes it evaluates the PIN).
    pub fn take_pin(&self) -> Option<pin::Attempt> {
        let a = self.pin?;
        (!self.pin_used.swap(true, Ordering::SeqCst)).then_some(a)
    }

    /// A reserved attempt nobody evaluated (the request was refused or replayed first).
    pub fn unused_pin(&self) -> bool {
        matches!(self.pin, Some(pin::Attempt::Reserved { .. })) && !self.pin_used.load(Ordering::SeqCst)
    }
}

/// Keys this container authenticated recently (by hash): only their VTU purchases reserve
/// a PIN attempt in the wave. Bounded: past [`KnownKeys::MAX`] the oldest half goes.
#[derive(Debug, Default)]
pub struct KnownKeys {
    inner: Mutex<HashMap<String, Instant>>,
}

impl KnownKeys {
    /// Most keys remembered.
    pub const MAX: usize = 10_000;
    /// How long one is remembered.
    pub const FOR: Duration = Duration::from_secs(600);

    /// Whether `hash` authenticated here within [`KnownKeys::FOR`].
    pub fn knows(&self, hash: &str) -> bool {
        self.inner.lock().map(|m| m.get(hash).is_some_and(|t| t.elapsed() < Self::FOR)).unwrap_or(false)
    }

    /// Remembers that `hash` authenticated now.
    pub fn note(&self, hash: &str) {
        if let Ok(mut m) = self.inner.lock() {
            if m.len() >= Self::MAX {
                let mut ages: Vec<Instant> = m.values().copied().collect();
                ages.sort();
                let cut = ages[ages.len() / 2];
                m.retain(|_, t| *t > cut);
            }
            m.insert(hash.to_string(), Instant::now());
        }
    }
}
