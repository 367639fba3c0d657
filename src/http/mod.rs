//! HTTP plumbing shared by the service clients: TLS trust, retries, and errors that keep what a
//! person needs to debug a failed call (method, URL without secrets, status, service error, request id).

use std::path::{Path, PathBuf};
use std::time::Duration;

mod azure_transport;
mod error;
mod retry;

pub use azure_transport::RetryingTransport;

pub use error::{ErrorDetail, Failure, HttpError, HttpErrorData, excerpt, redact_url};
pub use retry::{DEFAULT_BUDGET_SECS, RetryPolicy, Verdict, retry_after, retryable_status, with_retries};

/// Sends one reqwest call under `policy`: `send` builds and sends a fresh request each attempt.
pub async fn send_with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    method: &reqwest::Method,
    url: &reqwest::Url,
    send: F,
) -> Result<T, HttpError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, HttpError>>,
{
    let what = format!("{method} {}", redact_url(url));
    with_retries(
        policy,
        &what,
        send,
        |outcome: &Result<T, HttpError>| outcome.as_ref().err().map_or(Verdict::Final, HttpError::verdict),
        |budget| Err(HttpError::budget_spent(method.as_str(), url, budget)),
    )
    .await
}

/// How long one attempt of a call may take unless the client is told otherwise: long enough
/// for a loaded tracking server, short enough that a silent one is noticed in seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS and timeout settings for a client.
#[derive(Debug, Clone, Default)]
pub struct TransportOptions {
    /// A PEM bundle that replaces the default trust roots (as `SSL_CERT_FILE` does for OpenSSL).
    pub ca_bundle: Option<PathBuf>,
    /// Skip certificate verification (`MLFLOW_TRACKING_INSECURE_TLS`); for test servers only.
    pub insecure: bool,
    /// The bound on one attempt (connect, send, answer); `None` for the client's default.
    pub timeout: Option<Duration>,
}

/// Builds a reqwest client with the trust and timeouts asked for.
pub fn build_client(options: &TransportOptions) -> Result<reqwest::Client, HttpError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("mlops/", env!("CARGO_PKG_VERSION")))
        .timeout(options.timeout.unwrap_or(DEFAULT_TIMEOUT))
        .connect_timeout(Duration::from_secs(5));
    if let Some(path) = &options.ca_bundle {
        builder = builder.tls_certs_only(read_ca_bundle(path)?);
    }
    if options.insecure {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| HttpError::client(e.to_string()))
}

/// The reqwest client under azure_core pipelines: as azure_core builds its own (no redirects),
/// with this process's trust settings and a bound on each attempt (`timeout`, default 30 s).
pub fn build_azure_client(options: &TransportOptions) -> Result<reqwest::Client, HttpError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(options.timeout.unwrap_or(Duration::from_secs(30)))
        .redirect(reqwest::redirect::Policy::none());
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
