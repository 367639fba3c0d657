//! HTTP plumbing shared by the service clients: TLS trust, retries, and errors that keep what a
//! person needs to debug a failed call (method, URL without secrets, status, service error, request id).

use std::path::{Path, PathBuf};
use std::time::Duration;

mod error;

pub use error::{ErrorDetail, Failure, HttpError, HttpErrorData, excerpt, redact_url};

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
    builder.build().map_err(|e| HttpError::client(e.to_string()))
}

fn read_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, HttpError> {
    let pem = std::fs::read(path).map_err(|e| HttpError::ca_bundle(path.to_path_buf(), e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| HttpError::ca_bundle(path.to_path_buf(), e.to_string()))?;
    if certs.is_empty() {
        return Err(HttpError::ca_bundle(path.to_path_buf(), "no PEM certificates in the file".to_string()));
    }
    Ok(certs)
}
