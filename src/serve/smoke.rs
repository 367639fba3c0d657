//! The deployment smoke test of the reference (MLOpsPython `smoke_test_scoring_service.py`): wait
//! until the scoring service answers, POST the two sample rows with a `traceparent`, and check two
//! finite results come back.

use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error_kind::{ErrorKind, HasKind};
use crate::secret::Secret;

/// Pause between attempts while the service is not up yet.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Longest single attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to test.
#[derive(Debug, Clone)]
pub struct SmokeOptions {
    /// The scoring URL; a bare `http://host:port` gets `/score` appended.
    pub url: String,
    /// Sent as `Authorization: Bearer <key>` (Azure ML endpoints' key auth).
    pub key: Option<Secret>,
    /// How long to wait for the service to answer.
    pub timeout: Duration,
    pub probe: Probe,
}

/// What counts as passing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// POST the reference's sample and check two finite results (the reference's smoke test).
    Score,
    /// GET the URL as given and expect a 2xx: a container health check, whatever the model.
    Get,
}

/// A passed smoke test.
#[derive(Debug, Clone, Serialize)]
pub struct SmokeReport {
    pub url: String,
    pub attempts: u32,
    pub elapsed_ms: u128,
    pub traceparent: String,
    pub request_id: Option<String>,
    pub results: Vec<f64>,
}

/// Why the smoke test failed.
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("invalid URL {url:?}: {message}")]
    InvalidUrl { url: String, message: String },
    #[error("{url} did not answer within {}s ({attempts} attempts); last: {last}", waited.as_secs_f64())]
    TimedOut { url: String, waited: Duration, attempts: u32, last: String },
    #[error("{url} refused the sample request: HTTP {status}: {body}")]
    Refused { url: String, status: StatusCode, body: String },
    #[error("{url} answered HTTP 200, but {problem}: {body}")]
    BadOutput { url: String, problem: String, body: String },
}

impl HasKind for SmokeError {
    fn kind(&self) -> ErrorKind {
        match self {
            SmokeError::InvalidUrl { .. } => ErrorKind::Usage,
            SmokeError::Refused { status, .. }
                if *status == StatusCode::UNAUTHORIZED || *status == StatusCode::FORBIDDEN =>
            {
                ErrorKind::Auth
            }
            _ => ErrorKind::Remote,
        }
    }
}

/// The reference's sample input.
pub fn sample() -> Value {
    json!({"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]})
}

/// The scoring URL: `/score` is appended to a URL without a path.
pub fn scoring_url(url: &str) -> Result<Url, SmokeError> {
    let invalid = |message: String| SmokeError::InvalidUrl { url: url.to_string(), message };
    let mut parsed = Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https".to_string()));
    }
    if parsed.path() == "/" || parsed.path().is_empty() {
        parsed.set_path("/score");
    }
    Ok(parsed)
}

/// A fresh W3C `traceparent` (version 00, sampled).
pub fn new_traceparent() -> String {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
}

/// Runs the smoke test.
pub async fn run(options: &SmokeOptions) -> Result<SmokeReport, SmokeError> {
    let url = match options.probe {
        Probe::Score => scoring_url(&options.url)?,
        Probe::Get => Url::parse(&options.url)
            .map_err(|e| SmokeError::InvalidUrl { url: options.url.clone(), message: e.to_string() })?,
    };
    let shown = {
        let mut u = url.clone();
        u.set_query(None);
        u.to_string()
    };
    let client = reqwest::Client::builder().build().map_err(|e| SmokeError::InvalidUrl {
        url: shown.clone(),
        message: format!("cannot build the HTTP client: {e}"),
    })?;
    let traceparent = new_traceparent();
    let start = Instant::now();
    let deadline = start + options.timeout;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let request = match options.probe {
            Probe::Score => client.post(url.clone()).json(&sample()),
            Probe::Get => client.get(url.clone()),
        };
        let mut request = request
            .timeout(remaining.clamp(Duration::from_millis(100), ATTEMPT_TIMEOUT))
            .header("traceparent", &traceparent);
        if let Some(key) = &options.key {
            request = request.bearer_auth(key.expose());
        }
        let last = match request.send().await {
            Ok(response) => {
                let status = response.status();
                let request_id =
                    response.headers().get("x-ms-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
                let body = response.text().await.unwrap_or_default();
                if status.is_success() {
                    let results = match options.probe {
                        Probe::Score => check_output(&body),
                        Probe::Get => Ok(Vec::new()),
                    }
                    .map_err(|problem| SmokeError::BadOutput {
                        url: shown.clone(),
                        problem,
                        body: truncate(&body),
                    })?;
                    return Ok(SmokeReport {
                        url: shown,
                        attempts,
                        elapsed_ms: start.elapsed().as_millis(),
                        traceparent,
                        request_id,
                        results,
                    });
                }
                if !is_transient(status) {
                    return Err(SmokeError::Refused { url: shown, status, body: truncate(&body) });
                }
                format!("HTTP {status}: {}", truncate(&body))
            }
            Err(err) => error_text(&err.without_url()),
        };
        if Instant::now() + RETRY_PAUSE >= deadline {
            return Err(SmokeError::TimedOut { url: shown, waited: start.elapsed(), attempts, last });
        }
        tracing::info!("{shown} not ready ({last}); retrying");
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// Statuses of a service that is still starting (or behind a load balancer that is).
fn is_transient(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::NOT_FOUND
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// `{"result": [a, b]}` with two finite numbers, as the reference asserts.
fn check_output(body: &str) -> Result<Vec<f64>, String> {
    let doc: Value = serde_json::from_str(body).map_err(|e| format!("the body is not JSON ({e})"))?;
    let Some(result) = doc.get("result").and_then(Value::as_array) else {
        return Err("the body has no \"result\" list".to_string());
    };
    let expected = sample()["data"].as_array().map_or(2, Vec::len);
    if result.len() != expected {
        return Err(format!("\"result\" has {} values for {expected} rows", result.len()));
    }
    result
        .iter()
        .enumerate()
        .map(|(i, v)| match v.as_f64() {
            Some(x) if x.is_finite() => Ok(x),
            _ => Err(format!("result[{i}] is {v}, not a finite number")),
        })
        .collect()
}

fn error_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn truncate(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_outputs() {
        assert_eq!(scoring_url("http://127.0.0.1:5001").expect("url").as_str(), "http://127.0.0.1:5001/score");
        assert_eq!(scoring_url("https://x.azurecontainer.io/api/score?v=1").expect("url").path(), "/api/score");
        assert!(scoring_url("ftp://x").is_err());
        assert_eq!(check_output(r#"{"result": [1.5, 2]}"#), Ok(vec![1.5, 2.0]));
        assert!(check_output(r#"{"result": [1.5]}"#).is_err());
        assert!(check_output(r#"{"result": [1.5, null]}"#).is_err());
        assert!(check_output(r#"{"predictions": [1, 2]}"#).is_err());
        assert!(check_output("<html>").is_err());
        let tp = new_traceparent();
        assert_eq!(tp.len(), 55, "{tp}");
        assert!(tp.starts_with("00-") && tp.ends_with("-01"));
    }
}
