//! The transport of every azure_core pipeline (ARM, Entra ID sign-in, Azure ML): our reqwest
//! client and the one [`RetryPolicy`] instead of azure_core's own retries, whose defaults (eight
//! tries of exponential waits, 20 s connect and 60 s read timeouts each) keep a sign-in against a
//! dead network busy for minutes.

use std::sync::Arc;

use azure_core::error::ErrorKind as CoreKind;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{AsyncRawResponse, ClientOptions, Context, HttpClient, Request, RetryOptions, Transport};

use super::{HttpError, RetryPolicy, TransportOptions, Verdict, redact_url, retryable_status, with_retries};

/// Sends each request with `client`, retried under `policy`.
#[derive(Debug)]
pub struct RetryingTransport {
    client: reqwest::Client,
    policy: RetryPolicy,
}

impl RetryingTransport {
    pub fn new(transport: &TransportOptions, policy: RetryPolicy) -> Result<Self, HttpError> {
        Ok(RetryingTransport { client: super::build_azure_client(transport)?, policy })
    }

    /// azure_core client options that send through this transport and retry nothing themselves.
    pub fn client_options(self, mut options: ClientOptions) -> ClientOptions {
        options.retry = RetryOptions::none();
        options.transport = Some(Transport::with_policy(Arc::new(self)));
        options
    }
}

#[async_trait::async_trait]
impl Policy for RetryingTransport {
    async fn send(&self, _ctx: &Context, request: &mut Request, _next: &[Arc<dyn Policy>]) -> PolicyResult {
        let request: &Request = request;
        let url = request.url().clone();
        let method = request.method();
        let what = format!("{method} {}", redact_url(&url));
        let outcome = with_retries(
            &self.policy,
            &what,
            || self.client.execute_request(request),
            classify,
            |budget| Err(azure_core::Error::new(CoreKind::Io, HttpError::budget_spent(method.as_str(), &url, budget))),
        )
        .await;
        // A failure to reach the service keeps its method, redacted URL and OS error as an
        // `HttpError` inside the azure_core error, for callers to find and report.
        outcome.map_err(|err| match err.into_downcast::<reqwest::Error>() {
            Ok(source) => {
                let http = HttpError::from_reqwest_error(&reqwest_method(method.as_str()), &url, source);
                azure_core::Error::new(CoreKind::Connection, http)
            }
            Err(err) => err,
        })
    }
}

fn reqwest_method(name: &str) -> reqwest::Method {
    reqwest::Method::from_bytes(name.as_bytes()).unwrap_or(reqwest::Method::GET)
}

fn classify(outcome: &azure_core::Result<AsyncRawResponse>) -> Verdict {
    match outcome {
        Ok(response) => {
            let status = u16::from(response.status());
            if !retryable_status(status) {
                return Verdict::Final;
            }
            let headers = response.headers();
            let header = |name: &str| {
                headers.iter().find(|(k, _)| k.as_str().eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str().to_string())
            };
            Verdict::Transient { reason: format!("HTTP {status}"), retry_after: super::retry_after(header) }
        }
        Err(err) => match err.downcast_ref::<reqwest::Error>() {
            Some(source) if source.is_builder() => Verdict::Final,
            Some(source) => {
                // The causes only: reqwest's own message names the full URL.
                let reason = std::error::Error::source(source)
                    .map_or_else(|| "error sending request".to_string(), crate::error_kind::chain);
                if source.is_connect() && !source.is_timeout() {
                    Verdict::NoConnection(reason)
                } else {
                    Verdict::Transient { reason, retry_after: None }
                }
            }
            None => Verdict::Final,
        },
    }
}
