//! Time as kobo stores it (RFC 3339 seconds, UTC) and a clock tests can stop.

/// Current time as RFC 3339 with second precision, UTC (`2026-04-05T12:00:00Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Current unix time in seconds.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Where a rate window takes "now" from: the system clock, or an instant a test sets, so
/// no test depends on the wall clock falling inside one window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock(Option<i64>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock standing still at `unix` seconds.
    pub fn fixed(unix: i64) -> Clock {
        Clock(Some(unix))
    }

    /// Unix seconds now.
    pub fn now_unix(&self) -> i64 {
        self.0.unwrap_or_else(now_unix)
    }
}
