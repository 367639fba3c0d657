//! The one retry policy of every client (MLflow, ARM, Entra ID, Azure ML, Blob Storage): which
//! failures are worth another attempt, how long to wait, and the total time all attempts may take.
//!
//! Written here rather than with `backon` because the policy needs three things at once: two
//! limits by kind of failure (a refused connection or unknown host does not heal in seconds; a
//! 503 often does), a server's `Retry-After`, and a budget of wall-clock time that bounds the
//! attempts themselves as well as the waits between them.

use std::future::Future;
use std::time::{Duration, Instant};

/// How a client retries a failed call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries of failures that may heal in seconds: timeouts, broken connections, 408, 429, 5xx.
    pub max_retries: usize,
    /// Retries when no connection could be made at all (refused, unknown host).
    pub max_connect_retries: usize,
    /// The first wait; each further wait doubles it (`backoff_factor` of MLflow's Python client).
    pub backoff: Duration,
    /// Cap on a computed wait (a server's `Retry-After` is capped by the budget instead).
    pub max_backoff: Duration,
    /// Wall-clock time for every attempt after the first and every wait: no retry starts, and no
    /// retried attempt runs, past it.
    pub budget: Duration,
}

/// The default budget, in seconds (`MLOPS_HTTP_RETRY_BUDGET` changes it).
pub const DEFAULT_BUDGET_SECS: f64 = 12.0;

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            max_connect_retries: 1,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            budget: Duration::from_secs_f64(DEFAULT_BUDGET_SECS),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub fn none() -> Self {
        RetryPolicy { max_retries: 0, max_connect_retries: 0, ..RetryPolicy::default() }
    }

    /// The computed wait before retry `n` (0-based): `backoff · 2ⁿ`, capped, with ±20 % jitter so
    /// that many clients failing together do not come back together.
    fn wait(&self, n: usize) -> Duration {
        let base = self.backoff.as_secs_f64() * 2f64.powi(n.min(30) as i32);
        let base = base.min(self.max_backoff.as_secs_f64());
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let jitter = 0.8 + 0.4 * f64::from(nanos % 1000) / 1000.0;
        Duration::from_secs_f64(base * jitter)
    }
}

/// What a failed attempt is worth.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Success, or a failure another attempt will not change (a 4xx other than 408/429).
    Final,
    /// No connection could be made (refused, unknown host): retried at most `max_connect_retries`.
    NoConnection(String),
    /// A failure that may heal: a timeout, a broken connection, 408, 429, 5xx; with the server's
    /// `Retry-After` when it sent one.
    Transient { reason: String, retry_after: Option<Duration> },
}

/// Runs `attempt` until it succeeds, fails for good, or the policy says stop; returns the last
/// outcome. `what` names the call in the one line each retry logs (at `-v`). `expired` makes the
/// outcome of a retried attempt cut short by the budget.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    mut attempt: F,
    classify: impl Fn(&T) -> Verdict,
    expired: impl Fn(Duration) -> T,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let start = Instant::now();
    let (mut transient, mut connect) = (0usize, 0usize);
    let mut outcome = attempt().await;
    loop {
        let (reason, retry_after, used, limit) = match classify(&outcome) {
            Verdict::Final => return outcome,
            Verdict::NoConnection(reason) => (reason, None, &mut connect, policy.max_connect_retries),
            Verdict::Transient { reason, retry_after } => (reason, retry_after, &mut transient, policy.max_retries),
        };
        if *used >= limit {
            return outcome;
        }
        let wait = retry_after.unwrap_or_else(|| policy.wait(*used));
        let elapsed = start.elapsed();
        if elapsed + wait >= policy.budget {
            tracing::info!(
                "{what}: {reason}; not retried: the next attempt (in {}) would pass the {} retry budget",
                crate::duration::human(wait),
                crate::duration::human(policy.budget)
            );
            return outcome;
        }
        *used += 1;
        tracing::info!(
            "{what}: {reason}; attempt {} of {} failed, next in {}",
            *used,
            limit + 1,
            crate::duration::human(wait)
        );
        tokio::time::sleep(wait).await;
        let remaining = policy.budget.saturating_sub(start.elapsed());
        outcome = match tokio::time::timeout(remaining, attempt()).await {
            Ok(outcome) => outcome,
            Err(_) => expired(policy.budget),
        };
    }
}

/// The wait a response asks for: `retry-after-ms`, `x-ms-retry-after-ms`, then `Retry-After` in
/// seconds or as an HTTP date. A zero or unreadable value counts as absent.
pub fn retry_after(header: impl Fn(&str) -> Option<String>) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = header(name).and_then(|v| v.trim().parse::<u64>().ok()).filter(|ms| *ms > 0) {
            return Some(Duration::from_millis(ms));
        }
    }
    let value = header("retry-after")?;
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return (secs > 0).then(|| Duration::from_secs(secs));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    wait.to_std().ok().filter(|w| !w.is_zero())
}

/// Whether a status is worth another attempt: 408, 429 and 5xx. Every other 4xx is an answer.
pub fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            max_connect_retries: 1,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            budget: Duration::from_secs(30),
        }
    }

    async fn count(policy: &RetryPolicy, verdict: Verdict) -> usize {
        let calls = AtomicUsize::new(0);
        with_retries(
            policy,
            "test",
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
            },
            |_| verdict.clone(),
            |_| (),
        )
        .await;
        calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn limits_depend_on_the_kind_of_failure() {
        assert_eq!(count(&policy(), Verdict::Final).await, 1);
        assert_eq!(count(&policy(), Verdict::NoConnection("refused".into())).await, 2);
        let transient = Verdict::Transient { reason: "503".into(), retry_after: None };
        assert_eq!(count(&policy(), transient.clone()).await, 4);
        assert_eq!(count(&RetryPolicy::none(), transient).await, 1);
    }

    #[tokio::test]
    async fn a_retry_after_past_the_budget_ends_the_retries() {
        let policy = RetryPolicy { budget: Duration::from_secs(5), ..policy() };
        let far = Verdict::Transient { reason: "429".into(), retry_after: Some(Duration::from_secs(60)) };
        let start = Instant::now();
        assert_eq!(count(&policy, far).await, 1);
        assert!(start.elapsed() < Duration::from_secs(5));
        let near = Verdict::Transient { reason: "429".into(), retry_after: Some(Duration::from_millis(20)) };
        assert_eq!(count(&policy, near).await, 4);
    }

    #[tokio::test]
    async fn the_budget_bounds_retried_attempts() {
        let policy = RetryPolicy { budget: Duration::from_millis(300), ..policy() };
        let start = Instant::now();
        let outcome = with_retries(
            &policy,
            "test",
            || tokio::time::sleep(Duration::from_secs(60)),
            |_| Verdict::Transient { reason: "slow".into(), retry_after: None },
            |_| (),
        );
        // The first attempt is bounded by its own timeout, not the budget: here, it never ends.
        assert!(tokio::time::timeout(Duration::from_secs(1), outcome).await.is_err());
        assert!(start.elapsed() < Duration::from_secs(30));

        let calls = AtomicUsize::new(0);
        let start = Instant::now();
        with_retries(
            &policy,
            "test",
            || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n > 0 {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                }
            },
            |_| Verdict::Transient { reason: "slow".into(), retry_after: None },
            |_| (),
        )
        .await;
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    }

    #[test]
    fn reads_every_retry_after_form() {
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(retry_after(headers(&[("retry-after", "3")])), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(headers(&[("retry-after", "0")])), None);
        assert_eq!(
            retry_after(headers(&[("retry-after", "3"), ("retry-after-ms", "1500")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(retry_after(headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")])), None, "in the past");
        assert_eq!(retry_after(headers(&[])), None);
        assert!(retryable_status(429) && retryable_status(408) && retryable_status(503));
        assert!(!retryable_status(400) && !retryable_status(404) && !retryable_status(409));
    }
}
