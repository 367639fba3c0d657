//! ARM long-running operations: which URL to poll, how long to wait, when it is over.
//!
//! The rules are ARM's (and the Python SDK's `ARMPolling`): prefer `Azure-AsyncOperation` over
//! `Location`, poll the URL verbatim, honour `Retry-After` from the latest response, treat any
//! status that is not Succeeded/Failed/Canceled as still running.

use std::time::Duration;

use azure_core::http::{Method, Url};

use super::arm::{ArmClient, ArmResponse};
use super::error::{ErrorDetail, HttpError};
use crate::error_kind::{ErrorKind, HasKind};

/// How many polls in a row may fail (after the pipeline's own retries) before giving up.
const MAX_CONSECUTIVE_POLL_FAILURES: u32 = 5;

/// Bounds on the wait between polls.
#[derive(Debug, Clone, Copy)]
pub struct PollInterval {
    /// When the service sends no `Retry-After`.
    pub default: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl Default for PollInterval {
    fn default() -> Self {
        PollInterval { default: Duration::from_secs(5), min: Duration::from_secs(1), max: Duration::from_secs(60) }
    }
}

#[derive(Debug, Clone)]
enum Strategy {
    AsyncOperation(Url),
    Location(Url),
    /// No header: GET the resource and read `properties.provisioningState`.
    Body(Url),
    Done,
}

/// Where a long-running operation stands after a poll.
#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    Running {
        status: String,
        /// A poll that failed but did not end the wait (a transient network or 5xx failure).
        warning: Option<String>,
    },
    Succeeded,
    Failed(Option<ErrorDetail>),
    Canceled,
}

/// Why waiting for an operation stopped without an outcome.
#[derive(Debug, thiserror::Error)]
pub enum LroError {
    #[error("polling the operation failed {MAX_CONSECUTIVE_POLL_FAILURES} times in a row; last failure: {0}")]
    PollFailures(HttpError),
    #[error("{0}")]
    Http(#[from] HttpError),
}

impl HasKind for LroError {
    fn kind(&self) -> ErrorKind {
        match self {
            LroError::PollFailures(err) | LroError::Http(err) => err.kind(),
        }
    }
}

/// Drives one long-running operation from its initial response to its result.
#[derive(Debug)]
pub struct Poller {
    original: Url,
    is_put: bool,
    strategy: Strategy,
    interval: PollInterval,
    retry_after: Option<Duration>,
    last: ArmResponse,
    /// For POSTs polled through `Azure-AsyncOperation`, where the result lives.
    final_location: Option<Url>,
    failures: u32,
    outcome: Option<PollOutcome>,
}

impl Poller {
    /// `PUT`s a resource whose creation is a long-running operation (200 update, 201 new) and
    /// returns ARM's first answer with the poller that follows it to the end.
    pub async fn begin_put(
        arm: &ArmClient,
        url: Url,
        body: &serde_json::Value,
        interval: PollInterval,
    ) -> Result<(ArmResponse, Poller), HttpError> {
        let response = arm.expect(Method::Put, url, Some(body), &[200, 201]).await?;
        Ok((response.clone(), Poller::new(response, interval)))
    }

    /// Starts from the (successful) initial response of a PUT, POST or DELETE.
    pub fn new(initial: ArmResponse, interval: PollInterval) -> Self {
        let async_op = initial.header("azure-asyncoperation").and_then(|u| Url::parse(&u).ok());
        let location = initial.header("location").and_then(|u| Url::parse(&u).ok());
        let is_put = initial.method == "PUT" || initial.method == "PATCH";
        let (strategy, outcome) = match (async_op, location.clone()) {
            (Some(url), _) => (Strategy::AsyncOperation(url), None),
            (None, Some(url)) => (Strategy::Location(url), None),
            (None, None) if is_put => match body_state(&initial.body) {
                Some(state) if is_terminal(&state) => (Strategy::Done, Some(terminal(&state, &initial.body))),
                Some(_) => (Strategy::Body(initial.url.clone()), None),
                None => (Strategy::Done, Some(PollOutcome::Succeeded)),
            },
            (None, None) => (Strategy::Done, Some(PollOutcome::Succeeded)),
        };
        Poller {
            original: initial.url.clone(),
            is_put,
            strategy,
            interval,
            retry_after: retry_after(&initial),
            final_location: if is_put { None } else { location },
            last: initial,
            failures: 0,
            outcome,
        }
    }

    /// The outcome once the operation has finished.
    pub fn outcome(&self) -> Option<&PollOutcome> {
        self.outcome.as_ref()
    }

    /// How long to wait before the next poll: the latest `Retry-After`, clamped, or the default.
    pub fn delay(&self) -> Duration {
        self.retry_after.unwrap_or(self.interval.default).clamp(self.interval.min, self.interval.max)
    }

    /// Polls once. A failed poll is reported as a warning until too many fail in a row.
    pub async fn poll(&mut self, client: &ArmClient) -> Result<PollOutcome, LroError> {
        if let Some(outcome) = &self.outcome {
            return Ok(outcome.clone());
        }
        let url = match &self.strategy {
            Strategy::AsyncOperation(url) | Strategy::Location(url) | Strategy::Body(url) => url.clone(),
            Strategy::Done => return Ok(PollOutcome::Succeeded),
        };
        let response = match client.send(Method::Get, url, None).await {
            Ok(r) if is_transient(r.status) => Err(r.into_error()),
            other => other,
        };
        let response = match response {
            Ok(response) => {
                self.failures = 0;
                response
            }
            Err(err) => {
                self.failures += 1;
                if self.failures >= MAX_CONSECUTIVE_POLL_FAILURES {
                    return Err(LroError::PollFailures(err));
                }
                let warning = err.to_string().lines().next().unwrap_or_default().to_string();
                return Ok(PollOutcome::Running { status: "Unknown".to_string(), warning: Some(warning) });
            }
        };
        self.retry_after = retry_after(&response);
        let outcome = match &self.strategy {
            Strategy::AsyncOperation(_) => {
                if !(200..300).contains(&response.status) {
                    return Err(response.into_error().into());
                }
                let status = serde_json::from_slice::<serde_json::Value>(&response.body)
                    .ok()
                    .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string))
                    .ok_or_else(|| {
                        let mut err = response.clone().into_error();
                        err.failure =
                            Some(crate::http::Failure::Decode("the operation status has no `status`".to_string()));
                        err
                    })?;
                if is_terminal(&status) {
                    terminal(&status, &response.body)
                } else {
                    PollOutcome::Running { status, warning: None }
                }
            }
            Strategy::Location(_) => match response.status {
                202 => {
                    if let Some(next) = response.header("location").and_then(|u| Url::parse(&u).ok()) {
                        self.strategy = Strategy::Location(next);
                    }
                    PollOutcome::Running { status: "Running".to_string(), warning: None }
                }
                200..=299 => PollOutcome::Succeeded,
                _ => PollOutcome::Failed(ErrorDetail::from_body(&response.body)),
            },
            Strategy::Body(_) => {
                if !(200..300).contains(&response.status) {
                    return Err(response.into_error().into());
                }
                match body_state(&response.body) {
                    Some(state) if is_terminal(&state) => terminal(&state, &response.body),
                    Some(state) => PollOutcome::Running { status: state, warning: None },
                    None => PollOutcome::Succeeded,
                }
            }
            Strategy::Done => PollOutcome::Succeeded,
        };
        self.last = response;
        if !matches!(outcome, PollOutcome::Running { .. }) {
            self.outcome = Some(outcome.clone());
        }
        Ok(outcome)
    }

    /// The operation's result once it succeeded: the resource for PUTs, the final body for POSTs.
    pub async fn result(&self, client: &ArmClient) -> Result<ArmResponse, HttpError> {
        match &self.strategy {
            Strategy::Location(_) | Strategy::Done if !self.is_put => Ok(self.last.clone()),
            Strategy::AsyncOperation(_) if !self.is_put => match &self.final_location {
                Some(url) => client.expect(Method::Get, url.clone(), None, &[200, 201, 204]).await,
                None => Ok(self.last.clone()),
            },
            _ => client.expect(Method::Get, self.original.clone(), None, &[200]).await,
        }
    }
}

fn is_transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

fn is_terminal(status: &str) -> bool {
    ["succeeded", "failed", "canceled", "cancelled"].iter().any(|t| status.eq_ignore_ascii_case(t))
}

fn terminal(status: &str, body: &[u8]) -> PollOutcome {
    if status.eq_ignore_ascii_case("succeeded") {
        PollOutcome::Succeeded
    } else if status.eq_ignore_ascii_case("failed") {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let error = value
            .get("error")
            .or_else(|| value.pointer("/properties/error"))
            .and_then(|e| serde_json::from_value::<ErrorDetail>(e.clone()).ok());
        PollOutcome::Failed(error)
    } else {
        PollOutcome::Canceled
    }
}

fn body_state(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.pointer("/properties/provisioningState").and_then(|s| s.as_str()).map(str::to_string)
}

/// The server's requested wait: `retry-after-ms`, `x-ms-retry-after-ms`, then `Retry-After` (seconds).
/// A zero or unparsable value counts as absent (Python does the same with `Retry-After: 0`).
fn retry_after(response: &ArmResponse) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = response.header(name).and_then(|v| v.trim().parse::<u64>().ok())
            && ms > 0
        {
            return Some(Duration::from_millis(ms));
        }
    }
    response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::headers::Headers;

    fn response(method: &'static str, status: u16, headers: &[(&'static str, &str)], body: &str) -> ArmResponse {
        let mut h = Headers::new();
        for (k, v) in headers {
            h.insert(*k, v.to_string());
        }
        ArmResponse {
            method,
            url: Url::parse("https://arm.example/sub/x?api-version=1").expect("url"),
            status,
            headers: h,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn prefers_async_operation_and_honours_retry_after() {
        let r = response(
            "PUT",
            201,
            &[
                ("azure-asyncoperation", "https://arm.example/op/1?api-version=2"),
                ("location", "https://arm.example/loc"),
                ("retry-after", "3"),
            ],
            r#"{"properties":{"provisioningState":"Accepted"}}"#,
        );
        let poller = Poller::new(r, PollInterval::default());
        assert!(
            matches!(&poller.strategy, Strategy::AsyncOperation(u) if u.as_str() == "https://arm.example/op/1?api-version=2")
        );
        assert_eq!(poller.delay(), Duration::from_secs(3));
    }

    #[test]
    fn retry_after_is_clamped_and_zero_means_default() {
        let interval = PollInterval::default();
        let p = Poller::new(response("POST", 202, &[("location", "https://a/b"), ("retry-after", "0")], ""), interval);
        assert_eq!(p.delay(), interval.default);
        let p =
            Poller::new(response("POST", 202, &[("location", "https://a/b"), ("retry-after", "900")], ""), interval);
        assert_eq!(p.delay(), interval.max);
        let p = Poller::new(
            response("POST", 202, &[("location", "https://a/b"), ("retry-after-ms", "1500")], ""),
            interval,
        );
        assert_eq!(p.delay(), Duration::from_millis(1500));
    }

    #[test]
    fn synchronous_results_are_done() {
        let p = Poller::new(
            response("PUT", 200, &[], r#"{"properties":{"provisioningState":"Succeeded"}}"#),
            PollInterval::default(),
        );
        assert_eq!(p.outcome(), Some(&PollOutcome::Succeeded));
        let p = Poller::new(
            response(
                "PUT",
                200,
                &[],
                r#"{"properties":{"provisioningState":"Failed","error":{"code":"X","message":"m"}}}"#,
            ),
            PollInterval::default(),
        );
        assert!(matches!(p.outcome(), Some(PollOutcome::Failed(Some(e))) if e.code.as_deref() == Some("X")));
    }
}
