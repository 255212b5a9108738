//! Fixed-window rate limiting: one counter item per subject per minute, incremented with
//! an atomic `ADD` and expired by TTL.

/// Length of a rate-limit window, in seconds.
pub const WINDOW_SECS: i64 = 60;

/// The window a moment falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start of the window, unix seconds.
    pub start: i64,
    /// Seconds left until the next window starts (at least 1): the `Retry-After`.
    pub retry_after: u64,
    /// When the counter item may be deleted (TTL attribute value).
    pub expires_at: i64,
}

impl Window {
    /// The moment the window was taken at (unix seconds).
    pub fn now(&self) -> i64 {
        self.start + WINDOW_SECS - self.retry_after as i64
    }
}

/// The window containing `now` (unix seconds).
pub fn window(now: i64) -> Window {
    let start = now - now.rem_euclid(WINDOW_SECS);
    let end = start + WINDOW_SECS;
    Window { start, retry_after: (end - now).max(1) as u64, expires_at: end + WINDOW_SECS }
}

/// Whether a request that brought the window's count to `count` is over `limit`.
/// A limit of 0 means unlimited.
pub fn exceeded(count: u64, limit: u32) -> bool {
    limit != 0 && count > u64::from(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(window(120), Window { start: 120, retry_after: 60, expires_at: 240 });
        assert_eq!(window(179), Window { start: 120, retry_after: 1, expires_at: 240 });
        assert_eq!(window(150).now(), 150);
        assert_eq!(window(120).now(), 120);
        assert!(!exceeded(5, 5));
        assert!(exceeded(6, 5));
        assert!(!exceeded(1_000_000, 0));
    }
}
