//! HTTP plumbing shared by the service clients: TLS trust, retries, and errors that keep what a
//! person needs to debug a failed call (method, URL without secrets, status, service error, request id).

use crate::error_kind::{ErrorKind, HasKind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};

/// How a client retries idempotent calls: exponential backoff on connection errors, 429 and 5xx.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: usize,
    /// The first wait; each further wait doubles it (`backoff_factor` of MLflow's Python client).
    pub backoff: Duration,
    /// Cap on a single wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 7, backoff: Duration::from_secs(2), max_backoff: Duration::from_secs(120) }
    }
}

/// TLS and timeout settings for a client.
#[derive(Debug, Clone, Default)]
pub struct TransportOptions {
    /// A PEM bundle that replaces the default trust roots (as `SSL_CERT_FILE` does for OpenSSL).
    pub ca_bundle: Option<PathBuf>,
    /// Skip certificate verification (`MLFLOW_TRACKING_INSECURE_TLS`); for test servers only.
    pub insecure: bool,
    pub timeout: Option<Duration>,
}

/// Builds a reqwest client with the trust and timeouts asked for.
pub fn build_client(options: &TransportOptions) -> Result<reqwest::Client, HttpError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("mlops/", env!("CARGO_PKG_VERSION")))
        .timeout(options.timeout.unwrap_or(Duration::from_secs(120)))
        .connect_timeout(Duration::from_secs(10));
    if let Some(path) = &options.ca_bundle {
        builder = builder.tls_certs_only(read_ca_bundle(path)?);
    }
    if options.insecure {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| HttpError::Client(e.to_string()))
}

fn read_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, HttpError> {
    let pem =
        std::fs::read(path).map_err(|e| HttpError::CaBundle { path: path.to_path_buf(), message: e.to_string() })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| HttpError::CaBundle { path: path.to_path_buf(), message: e.to_string() })?;
    if certs.is_empty() {
        return Err(HttpError::CaBundle {
            path: path.to_path_buf(),
            message: "no PEM certificates in the file".to_string(),
        });
    }
    Ok(certs)
}

/// A failed HTTP call.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: cannot connect: {message}")]
    Connect { method: Method, url: String, message: String },
    #[error("{0}")]
    Status(Box<StatusError>),
    #[error("{method} {url}: the response is not the JSON expected: {message}")]
    Decode { method: Method, url: String, message: String },
    #[error("cannot use CA bundle {}: {message}", path.display())]
    CaBundle { path: PathBuf, message: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// No token could be had for a service that authenticates with Entra ID (Azure ML).
    #[error("cannot get an access token: {0}")]
    Credential(String),
}

/// A response with a failure status, and what the service said about it.
#[derive(Debug)]
pub struct StatusError {
    pub method: Method,
    pub url: String,
    pub status: StatusCode,
    pub error_code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    /// The start of a body that was not a service error document (an HTML page, plain text).
    pub body_excerpt: Option<String>,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}{}",
            self.method,
            self.url,
            self.status,
            fmt_service(self.error_code.as_deref(), self.message.as_deref())
        )?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        if let Some(body) = &self.body_excerpt {
            write!(f, "; response: {body}")?;
        }
        Ok(())
    }
}

fn fmt_service(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(": {code}: {message}"),
        (Some(code), None) => format!(": {code}"),
        (None, Some(message)) => format!(": {message}"),
        (None, None) => String::new(),
    }
}

impl HttpError {
    /// Whether retrying the same call may succeed: connection failures, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            HttpError::Connect { .. } => true,
            HttpError::Status(e) => {
                e.status == StatusCode::TOO_MANY_REQUESTS
                    || e.status == StatusCode::REQUEST_TIMEOUT
                    || e.status.is_server_error()
                    || concurrent_write_conflict(e)
            }
            _ => false,
        }
    }

    /// Whether the server could not be reached at all (the offline case).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, HttpError::Connect { .. })
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            HttpError::Status(e) => Some(e.status),
            _ => None,
        }
    }

    /// The service's error code (`RESOURCE_DOES_NOT_EXIST`, …), when it sent one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            HttpError::Status(e) => e.error_code.as_deref(),
            _ => None,
        }
    }
}

impl HasKind for HttpError {
    /// 9 for service and network failures, 10 for rejected credentials, 8 for missing resources.
    fn kind(&self) -> ErrorKind {
        match self.status() {
            Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => ErrorKind::Auth,
            Some(StatusCode::NOT_FOUND) if self.error_code().is_some() => ErrorKind::NotFound,
            _ => match self {
                HttpError::CaBundle { .. } => ErrorKind::Input,
                HttpError::Credential(_) => ErrorKind::Auth,
                _ => ErrorKind::Remote,
            },
        }
    }
}

/// An MLflow server on SQLite reports two writers racing (two runs logging the same new dataset,
/// say) as a database error; the retried call finds the row in place. A duplicate create is a
/// real answer, not a race, and is not retried.
fn concurrent_write_conflict(e: &StatusError) -> bool {
    e.error_code.as_deref() != Some("RESOURCE_ALREADY_EXISTS")
        && e.message.as_deref().is_some_and(|m| m.contains("IntegrityError") || m.contains("database is locked"))
}

/// The URL without its query string, which may carry SAS tokens or codes.
pub fn redact_url(url: &reqwest::Url) -> String {
    let mut clean = url.clone();
    clean.set_query(None);
    clean.set_fragment(None);
    let _ = clean.set_password(None);
    clean.to_string()
}

/// Turns a non-success response into an [`HttpError`], reading the service's JSON error envelope
/// if there is one (MLflow: `error_code`/`message`; Azure: `error.code`/`error.message`).
pub async fn error_from_response(method: Method, response: reqwest::Response) -> HttpError {
    let status = response.status();
    let url = redact_url(response.url());
    let request_id = ["x-ms-request-id", "x-request-id", "x-ms-correlation-request-id"]
        .iter()
        .find_map(|h| response.headers().get(*h))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.text().await.unwrap_or_default();
    let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    let field = |doc: &serde_json::Value, path: &[&str]| {
        path.iter().try_fold(doc, |d, k| d.get(*k)).and_then(|v| v.as_str()).map(str::to_string)
    };
    let (error_code, message) = match &json {
        Some(doc) => (
            field(doc, &["error_code"]).or_else(|| field(doc, &["error", "code"])),
            field(doc, &["message"]).or_else(|| field(doc, &["error", "message"])),
        ),
        None => (None, None),
    };
    let body_excerpt =
        if error_code.is_none() && message.is_none() && !text.trim().is_empty() { Some(excerpt(&text)) } else { None };
    HttpError::Status(Box::new(StatusError { method, url, status, error_code, message, request_id, body_excerpt }))
}

/// The first 300 characters of a body, on one line.
fn excerpt(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 300 { format!("{}…", flat.chars().take(300).collect::<String>()) } else { flat }
}

/// A connection-level failure as an [`HttpError`].
pub fn connect_error(method: Method, url: &reqwest::Url, err: &reqwest::Error) -> HttpError {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    HttpError::Connect { method, url: redact_url(url), message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_query_and_password() {
        let url = reqwest::Url::parse("https://u:p@acct.blob.core.windows.net/c/b?sv=1&sig=SECRET").expect("url");
        let clean = redact_url(&url);
        assert!(!clean.contains("SECRET") && !clean.contains(":p@"), "{clean}");
    }

    #[test]
    fn transient_classification() {
        let status = |s: u16| {
            HttpError::Status(Box::new(StatusError {
                method: Method::GET,
                url: "u".into(),
                status: StatusCode::from_u16(s).expect("status"),
                error_code: None,
                message: None,
                request_id: None,
                body_excerpt: None,
            }))
        };
        assert!(status(503).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(400).is_transient());
        assert_eq!(status(401).kind(), ErrorKind::Auth);
    }
}
