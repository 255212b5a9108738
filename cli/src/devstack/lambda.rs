//! One invocation as Lambda runs it: to its end whatever happens to the caller (an HTTP
//! client that hangs up does not stop a function that is already running), and no longer
//! than the function's template `Timeout` (past it the work is cut off where it stands,
//! as Lambda freezes and discards a timed-out sandbox).

use std::future::Future;
use std::time::Duration;

/// Why an invocation produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvocationError {
    /// It ran past its function's `Timeout` and was cut off.
    #[error("{function}: Task timed out after {secs} seconds")]
    TimedOut {
        /// The function's logical id.
        function: String,
        /// Its `Timeout`.
        secs: u64,
    },
    /// It panicked (Lambda reports a runtime error).
    #[error("{function}: the invocation crashed")]
    Crashed {
        /// The function's logical id.
        function: String,
    },
}

/// A function's name and `Timeout`, as the template declares them, and any crashes to
/// inject.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Logical id, e.g. `ApiFunction`.
    pub function: String,
    /// Its `Timeout`.
    pub timeout: Duration,
    /// Invocations cut short at a random point (chaos runs only).
    pub crashes: Option<Crashes>,
}

/// Seeded crashes: with probability `p` an invocation is cut off after a random 0 to
/// `max_ms` milliseconds, wherever its work stands (between any two awaits), as a Lambda
/// sandbox that dies mid-invocation.
#[derive(Debug, Clone)]
pub struct Crashes {
    rng: std::sync::Arc<std::sync::Mutex<rand::rngs::StdRng>>,
    p: std::sync::Arc<std::sync::Mutex<f64>>,
    max_ms: u64,
    cut: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Crashes {
    /// Crashes drawn from `seed`: probability `p` per invocation, cut within `max_ms`.
    pub fn new(seed: u64, p: f64, max_ms: u64) -> Crashes {
        use rand::SeedableRng;
        Crashes {
            rng: std::sync::Arc::new(std::sync::Mutex::new(rand::rngs::StdRng::seed_from_u64(seed))),
            p: std::sync::Arc::new(std::sync::Mutex::new(p)),
            max_ms: max_ms.max(1),
            cut: Default::default(),
        }
    }

    /// Changes the probability for every clone (0 stops the crashes).
    pub fn set_p(&self, p: f64) {
        if let Ok(mut cur) = self.p.lock() {
            *cur = p;
        }
    }

    /// How many invocations were cut so far (shared by every clone).
    pub fn cut(&self) -> u64 {
        self.cut.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The cut-off for the next invocation, if it is to crash.
    fn draw(&self) -> Option<Duration> {
        use rand::Rng;
        let p = self.p.lock().map(|p| *p).unwrap_or(0.0);
        let mut rng = self.rng.lock().ok()?;
        if !rng.random_bool(p.clamp(0.0, 1.0)) {
            return None;
        }
        self.cut.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some(Duration::from_millis(rng.random_range(0..=self.max_ms)))
    }
}

impl Limits {
    /// Limits of `function` from the template.
    pub fn from_template(template: &crate::template::Template, function: &str) -> anyhow::Result<Limits> {
        Ok(Limits { function: function.to_string(), timeout: template.timeout(function)?, crashes: None })
    }

    /// These limits, with `crashes` injected.
    pub fn with_crashes(mut self, crashes: Option<Crashes>) -> Limits {
        self.crashes = crashes;
        self
    }

    /// Runs `work` as one invocation. The work runs on its own task, so dropping the
    /// returned future (a caller that went away) does not stop it; the timeout lives on
    /// that task too, so it holds whether or not anybody still waits.
    pub async fn invoke<T, F>(&self, work: F) -> Result<T, InvocationError>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let crash = self.crashes.as_ref().and_then(Crashes::draw);
        let timeout = crash.unwrap_or(self.timeout).min(self.timeout);
        let task = tokio::spawn(async move { tokio::time::timeout(timeout, work).await });
        match task.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_elapsed)) if crash.is_some() => {
                tracing::warn!(function = %self.function, after_ms = timeout.as_millis() as u64, "invocation crashed (injected)");
                Err(InvocationError::Crashed { function: self.function.clone() })
            }
            Ok(Err(_elapsed)) => {
                let e = InvocationError::TimedOut { function: self.function.clone(), secs: timeout.as_secs() };
                tracing::error!(function = %self.function, timeout_secs = timeout.as_secs(), "{e}");
                Err(e)
            }
            Err(join) => {
                tracing::error!(function = %self.function, error = %join, "invocation crashed");
                Err(InvocationError::Crashed { function: self.function.clone() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn limits(secs: u64) -> Limits {
        Limits { function: "TestFunction".into(), timeout: Duration::from_secs(secs), crashes: None }
    }

    #[tokio::test(start_paused = true)]
    async fn injected_crashes_cut_work_where_it_stands_and_are_reproducible() {
        let run = |seed| async move {
            let l = limits(15).with_crashes(Some(Crashes::new(seed, 0.5, 100)));
            let mut outcomes = Vec::new();
            for _ in 0..40 {
                let out = l
                    .invoke(async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        1
                    })
                    .await;
                outcomes.push(out.is_ok());
            }
            (outcomes, l.crashes.map(|c| c.cut()).unwrap_or(0))
        };
        let (a, cut_a) = run(7).await;
        let (b, cut_b) = run(7).await;
        assert_eq!(a, b, "the same seed cuts the same invocations");
        assert_eq!(cut_a, cut_b);
        assert!(cut_a > 5 && cut_a < 35, "about half are cut: {cut_a}");
        assert!(a.iter().any(|ok| !ok) && a.iter().any(|ok| *ok));
    }

    #[tokio::test(start_paused = true)]
    async fn work_past_the_timeout_is_cut_off_where_it_stands() {
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        let out = limits(15)
            .invoke(async move {
                tokio::time::sleep(Duration::from_secs(20)).await;
                f.store(true, Ordering::SeqCst);
            })
            .await;
        assert_eq!(out, Err(InvocationError::TimedOut { function: "TestFunction".into(), secs: 15 }));
        // Long after: the rest of the work never ran.
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!finished.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn work_within_the_timeout_answers() {
        let out = limits(15)
            .invoke(async {
                tokio::time::sleep(Duration::from_secs(14)).await;
                7
            })
            .await;
        assert_eq!(out, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_goes_away_does_not_stop_the_work() {
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        let l = limits(15);
        let call = l.invoke(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            f.store(true, Ordering::SeqCst);
        });
        // The caller gives up after one second and drops the call.
        let gave_up = tokio::time::timeout(Duration::from_secs(1), call).await;
        assert!(gave_up.is_err());
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(finished.load(Ordering::SeqCst), "the invocation was dropped with its caller");
    }

    #[tokio::test]
    async fn a_panic_is_a_crashed_invocation() {
        let out: Result<(), _> = limits(3).invoke(async { panic!("boom") }).await;
        assert_eq!(out, Err(InvocationError::Crashed { function: "TestFunction".into() }));
    }
}
