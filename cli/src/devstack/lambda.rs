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

/// A function's name and `Timeout`, as the template declares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Logical id, e.g. `ApiFunction`.
    pub function: String,
    /// Its `Timeout`.
    pub timeout: Duration,
}

impl Limits {
    /// Limits of `function` from the template.
    pub fn from_template(template: &crate::template::Template, function: &str) -> anyhow::Result<Limits> {
        Ok(Limits { function: function.to_string(), timeout: template.timeout(function)? })
    }

    /// Runs `work` as one invocation. The work runs on its own task, so dropping the
    /// returned future (a caller that went away) does not stop it; the timeout lives on
    /// that task too, so it holds whether or not anybody still waits.
    pub async fn invoke<T, F>(&self, work: F) -> Result<T, InvocationError>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let timeout = self.timeout;
        let task = tokio::spawn(async move { tokio::time::timeout(timeout, work).await });
        match task.await {
            Ok(Ok(value)) => Ok(value),
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
        Limits { function: "TestFunction".into(), timeout: Duration::from_secs(secs) }
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
