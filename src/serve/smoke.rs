//! The deployment smoke test of the reference (MLOpsPython `smoke_test_scoring_service.py`): wait
//! until the scoring service answers, POST two sample rows with a `traceparent`, and check two
//! finite results come back.
//!
//! The rows fit the model being served: they are built from its signature (`--model`), or taken
//! from the example in the service's own `/swagger.json` (which `mlops serve` and Azure ML
//! publish); only a service that publishes neither gets the reference's fixed 10-feature sample.

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
    /// The request body, when the model's signature is known here (`--model`).
    pub sample: Option<Value>,
    /// Sent as `azureml-model-deployment`: an Azure ML endpoint routes the request to this
    /// deployment whatever its traffic split, so a deployment is tested before it takes traffic.
    pub deployment: Option<String>,
}

/// The header that pins a request to one deployment of an Azure ML online endpoint.
pub const DEPLOYMENT_HEADER: &str = "azureml-model-deployment";

/// Where the sample request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SampleSource {
    /// Built from the model's signature.
    Model,
    /// The example of the service's `/swagger.json`.
    Service,
    /// The reference's fixed 10-feature sample (the service publishes no example).
    Reference,
    /// `--get`: no sample sent.
    None,
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
    pub sample_source: SampleSource,
    /// How many feature values each sample row has.
    pub features: usize,
}

/// Why the smoke test failed.
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("invalid URL {url:?}: {message}")]
    InvalidUrl { url: String, message: String },
    #[error("{url} did not answer within {} ({attempts} attempts); last: {last}", crate::duration::human(*waited))]
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
    sample_for(10)
}

/// The reference's two rows for a model with `features` inputs: 1, 2, … n and n, … 2, 1.
pub fn sample_for(features: usize) -> Value {
    let row: Vec<usize> = (1..=features).collect();
    let reversed: Vec<usize> = row.iter().rev().copied().collect();
    json!({"data": [row, reversed]})
}

/// The service's `/swagger.json` beside its scoring URL (`…/score` → `…/swagger.json`).
fn swagger_url(url: &Url) -> Url {
    let mut swagger = url.clone();
    swagger.set_query(None);
    let path = url.path();
    let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    swagger.set_path(&format!("{dir}/swagger.json"));
    swagger
}

/// The `/score` request example of an OpenAPI or Swagger document, if it has one of rows.
fn example_of(doc: &Value) -> Option<Value> {
    let candidates = [
        doc.pointer("/paths/~1score/post/requestBody/content/application~1json/example"),
        // Azure ML's Swagger 2 documents put it on the input definition.
        doc.pointer("/definitions/ServiceInput/example"),
    ];
    candidates.into_iter().flatten().find(|e| rows_of(e).is_some_and(|r| r > 0)).cloned()
}

/// How many rows a `{"data": [[…], …]}` body has.
fn rows_of(sample: &Value) -> Option<usize> {
    let rows = sample.get("data")?.as_array()?;
    rows.iter().all(Value::is_array).then_some(rows.len())
}

fn features_of(sample: &Value) -> usize {
    sample.pointer("/data/0").and_then(Value::as_array).map_or(0, Vec::len)
}

/// What one try of the swagger document found: a sample (final, or for this attempt only while
/// the service may still be starting), or the service does not answer yet.
enum SwaggerRead {
    Found(Value, SampleSource),
    ForNow(Value, SampleSource),
    NotReady(String),
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
    let mut sample = match (options.probe, &options.sample) {
        (Probe::Get, _) => Some((Value::Null, SampleSource::None)),
        (Probe::Score, Some(given)) => Some((given.clone(), SampleSource::Model)),
        (Probe::Score, None) => None,
    };
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt_timeout = remaining.clamp(Duration::from_millis(100), ATTEMPT_TIMEOUT);
        let mut this_attempt = sample.clone();
        if sample.is_none() {
            match read_swagger(&client, &url, options, attempt_timeout).await {
                SwaggerRead::Found(found, source) => {
                    sample = Some((found, source));
                    this_attempt = sample.clone();
                }
                SwaggerRead::ForNow(found, source) => this_attempt = Some((found, source)),
                SwaggerRead::NotReady(last) => {
                    if Instant::now() + RETRY_PAUSE >= deadline {
                        return Err(SmokeError::TimedOut { url: shown, waited: start.elapsed(), attempts, last });
                    }
                    not_ready(&shown, &last, attempts, deadline);
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
            }
        }
        let (body, source) = this_attempt.unwrap_or((Value::Null, SampleSource::None));
        let request = match options.probe {
            Probe::Score => client.post(url.clone()).json(&body),
            Probe::Get => client.get(url.clone()),
        };
        let mut request = request.timeout(attempt_timeout).header("traceparent", &traceparent);
        if let Some(key) = &options.key {
            request = request.bearer_auth(key.expose());
        }
        if let Some(deployment) = &options.deployment {
            request = request.header(DEPLOYMENT_HEADER, deployment);
        }
        let last = match request.send().await {
            Ok(response) => {
                let status = response.status();
                let request_id =
                    response.headers().get("x-ms-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
                let response_body = response.text().await.unwrap_or_default();
                if status.is_success() {
                    let results = match options.probe {
                        Probe::Score => check_output(&response_body, rows_of(&body).unwrap_or(0)),
                        Probe::Get => Ok(Vec::new()),
                    }
                    .map_err(|problem| SmokeError::BadOutput {
                        url: shown.clone(),
                        problem,
                        body: truncate(&response_body),
                    })?;
                    return Ok(SmokeReport {
                        url: shown,
                        attempts,
                        elapsed_ms: start.elapsed().as_millis(),
                        traceparent,
                        request_id,
                        results,
                        sample_source: source,
                        features: features_of(&body),
                    });
                }
                if !is_transient(status) {
                    return Err(SmokeError::Refused { url: shown, status, body: truncate(&response_body) });
                }
                format!("HTTP {status}: {}", truncate(&response_body))
            }
            Err(err) => error_text(&err.without_url()),
        };
        if Instant::now() + RETRY_PAUSE >= deadline {
            return Err(SmokeError::TimedOut { url: shown, waited: start.elapsed(), attempts, last });
        }
        not_ready(&shown, &last, attempts, deadline);
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// The one `-v` line of a retry, in the shape every client's retries have. Unlike the other
/// clients (see `crate::http::RetryPolicy`), a smoke test retries refused connections until
/// `--timeout`: waiting for a service that is still starting is its job.
fn not_ready(shown: &str, last: &str, attempt: u32, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    tracing::info!(
        "{shown}: not ready ({last}); attempt {attempt} failed, next in {} ({} of --timeout left)",
        crate::duration::human(RETRY_PAUSE),
        crate::duration::human(left)
    );
}

/// One try at the service's `/swagger.json`: its example, or the reference sample when the service
/// answers without one; a service that does not answer yet is not ready.
async fn read_swagger(client: &reqwest::Client, url: &Url, options: &SmokeOptions, timeout: Duration) -> SwaggerRead {
    let mut request = client.get(swagger_url(url)).timeout(timeout);
    if let Some(key) = &options.key {
        request = request.bearer_auth(key.expose());
    }
    if let Some(deployment) = &options.deployment {
        request = request.header(DEPLOYMENT_HEADER, deployment);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => {
            let doc: Value = response.json().await.unwrap_or_default();
            match example_of(&doc) {
                Some(example) => SwaggerRead::Found(example, SampleSource::Service),
                None => SwaggerRead::Found(sample(), SampleSource::Reference),
            }
        }
        // No document. While the answer may be a service (or its load balancer) still starting, the
        // document is asked for again next time; the scoring request tells whether it is up.
        Ok(response) if is_transient(response.status()) => SwaggerRead::ForNow(sample(), SampleSource::Reference),
        Ok(_) => SwaggerRead::Found(sample(), SampleSource::Reference),
        Err(err) => SwaggerRead::NotReady(error_text(&err.without_url())),
    }
}

/// Statuses of a service that is still starting (or behind a load balancer that is).
fn is_transient(status: StatusCode) -> bool {
    crate::http::retryable_status(status.as_u16()) || status == StatusCode::NOT_FOUND
}

/// `{"result": [a, b]}` with one finite number per sample row, as the reference asserts.
fn check_output(body: &str, expected: usize) -> Result<Vec<f64>, String> {
    let doc: Value = serde_json::from_str(body).map_err(|e| format!("the body is not JSON ({e})"))?;
    let Some(result) = doc.get("result").and_then(Value::as_array) else {
        return Err("the body has no \"result\" list".to_string());
    };
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
        assert_eq!(check_output(r#"{"result": [1.5, 2]}"#, 2), Ok(vec![1.5, 2.0]));
        assert!(check_output(r#"{"result": [1.5]}"#, 2).is_err());
        assert!(check_output(r#"{"result": [1.5, null]}"#, 2).is_err());
        assert!(check_output(r#"{"predictions": [1, 2]}"#, 2).is_err());
        assert!(check_output("<html>", 2).is_err());
        let score = Url::parse("https://x.example/api/v1/service/s/score?v=1").expect("url");
        assert_eq!(swagger_url(&score).as_str(), "https://x.example/api/v1/service/s/swagger.json");
        assert_eq!(sample_for(3), json!({"data": [[1, 2, 3], [3, 2, 1]]}));
        let doc = json!({"paths": {"/score": {"post": {"requestBody": {"content": {"application/json": {"example": {"data": [[1.0, 2.0]]}}}}}}}});
        assert_eq!(example_of(&doc), Some(json!({"data": [[1.0, 2.0]]})));
        assert_eq!(example_of(&json!({"paths": {}})), None);
        let tp = new_traceparent();
        assert_eq!(tp.len(), 55, "{tp}");
        assert!(tp.starts_with("00-") && tp.ends_with("-01"));
    }
}
