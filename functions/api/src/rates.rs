//! What a flood may cost. Rate counters are written in the authentication wave, but:
//! a key is counted on its own item, so a key that does not exist writes nothing; every
//! counter stops at the highest limit that could apply to it; and a container remembers,
//! until the window ends, the subjects it saw over their limit (an IP guessing keys, a
//! key past its plan), so their further requests write nothing at all.

use std::collections::HashMap;
use std::sync::Mutex;

/// Subjects seen over their limit in the current window, per container (bounded).
#[derive(Debug, Default)]
pub struct OverLimit {
    inner: Mutex<(i64, HashMap<String, u64>)>,
}

/// Most subjects remembered per window; past it a flood just costs its writes again.
const MAX_REMEMBERED: usize = 10_000;

/// The memo's subject for an IP guessing keys.
pub fn anonymous_ip(ip: &str) -> String {
    format!("ip:{ip}")
}

/// The memo's subject for a key.
pub fn key(hash: &str) -> String {
    format!("key:{hash}")
}

impl OverLimit {
    /// The count last seen for `subject` in the window starting at `window`, if it was
    /// over its limit.
    pub fn get(&self, window: i64, subject: &str) -> Option<u64> {
        let guard = self.inner.lock().ok()?;
        (guard.0 == window).then(|| guard.1.get(subject).copied()).flatten()
    }

    /// Remembers `subject` over its limit with `hits` in the window starting at `window`.
    pub fn note(&self, window: i64, subject: String, hits: u64) {
        let Ok(mut guard) = self.inner.lock() else { return };
        if guard.0 != window {
            *guard = (window, HashMap::new());
        }
        if guard.1.len() < MAX_REMEMBERED || guard.1.contains_key(&subject) {
            guard.1.insert(subject, hits);
        }
    }

    /// How many subjects are remembered now.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.1.len()).unwrap_or(0)
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_window_and_is_bounded() {
        let m = OverLimit::default();
        m.note(60, anonymous_ip("1.2.3.4"), 61);
        assert_eq!(m.get(60, &anonymous_ip("1.2.3.4")), Some(61));
        assert_eq!(m.get(120, &anonymous_ip("1.2.3.4")), None, "a new window forgets");
        for i in 0..(MAX_REMEMBERED + 50) {
            m.note(120, key(&i.to_string()), 1);
        }
        assert_eq!(m.len(), MAX_REMEMBERED);
        m.note(180, key("x"), 1);
        assert_eq!(m.len(), 1);
    }
}
