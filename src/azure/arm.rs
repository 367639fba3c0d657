//! The Azure Resource Manager client: bearer-token requests with ARM's retry rules, and the raw
//! responses the resource-specific clients interpret.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::headers::{HeaderName, Headers};
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{ClientOptions, Context, Method, Pipeline, PipelineSendOptions, Request, Url};
use serde::de::DeserializeOwned;

use super::error::{self, HttpError};
use crate::error_kind::chain;
use crate::http::{Failure, RetryPolicy, RetryingTransport, TransportOptions};

/// The API version used for resource groups and deployments unless configured otherwise.
pub const DEFAULT_API_VERSION: &str = "2025-04-01";

/// Options of an [`ArmClient`].
#[derive(Debug, Clone)]
pub struct ArmClientOptions {
    /// `api-version` for the requests this client builds (not for URLs ARM hands back).
    pub api_version: String,
    /// Retries of 408/429/5xx and connection failures, honouring `Retry-After`.
    pub retry: RetryPolicy,
    /// The bound on one attempt (default 30 s).
    pub timeout: Option<std::time::Duration>,
}

impl Default for ArmClientOptions {
    fn default() -> Self {
        ArmClientOptions { api_version: DEFAULT_API_VERSION.to_string(), retry: RetryPolicy::default(), timeout: None }
    }
}

/// A response from ARM with its body read.
#[derive(Debug, Clone)]
pub struct ArmResponse {
    pub method: &'static str,
    pub url: Url,
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl ArmResponse {
    pub fn header(&self, name: &'static str) -> Option<String> {
        self.headers.get_optional_string(&HeaderName::from_static(name))
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let mut err = error::from_response(self.method, &self.url, self.status, &self.headers, &self.body);
            err.failure = Some(Failure::Decode(e.to_string()));
            err
        })
    }

    /// The response as an error (for statuses the caller does not accept).
    pub fn into_error(self) -> HttpError {
        error::from_response(self.method, &self.url, self.status, &self.headers, &self.body)
    }
}

/// Talks to one ARM endpoint with one credential.
#[derive(Debug, Clone)]
pub struct ArmClient {
    endpoint: Url,
    pipeline: Pipeline,
    api_version: String,
    credential: Arc<dyn TokenCredential>,
}

impl ArmClient {
    /// `scope` is the token scope for this ARM endpoint (`<audience>/.default`).
    pub fn new(
        endpoint: Url,
        credential: Arc<dyn TokenCredential>,
        scope: String,
        options: Option<ArmClientOptions>,
    ) -> Result<Self, HttpError> {
        let options = options.unwrap_or_default();
        let auth = BearerTokenAuthorizationPolicy::new(credential.clone(), [scope]);
        let transport = TransportOptions { timeout: options.timeout, ..Default::default() };
        let client_options =
            RetryingTransport::new(&transport, options.retry)?.client_options(ClientOptions::default());
        let pipeline = Pipeline::new(
            Some("mlops"),
            Some(env!("CARGO_PKG_VERSION")),
            client_options,
            Vec::new(),
            vec![Arc::new(auth)],
            None,
        );
        Ok(ArmClient { endpoint, pipeline, api_version: options.api_version, credential })
    }

    /// The credential this client signs in with, for other endpoints of the same cloud (the
    /// MLflow endpoint of an Azure ML workspace takes ARM tokens too).
    pub fn credential(&self) -> Arc<dyn TokenCredential> {
        self.credential.clone()
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The URL of an ARM path (starting with `/`) with this client's `api-version`.
    pub fn url(&self, path: &str) -> Result<Url, HttpError> {
        let mut url = self
            .endpoint
            .join(path)
            .map_err(|e| HttpError::request("BUILD", &self.endpoint, format!("bad path {path:?}: {e}")))?;
        url.query_pairs_mut().append_pair("api-version", &self.api_version);
        Ok(url)
    }

    /// Sends one request (retried by the pipeline) and returns the response whatever its status.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<ArmResponse, HttpError> {
        let method_name = method_name(method);
        let mut request = Request::new(url.clone(), method);
        request.insert_header("accept", "application/json");
        match body {
            Some(body) => {
                let bytes = serde_json::to_vec(body)
                    .map_err(|e| HttpError::request(method_name, &url, format!("cannot serialise body: {e}")))?;
                request.insert_header("content-type", "application/json");
                request.set_body(bytes);
            }
            None if matches!(method, Method::Post | Method::Put) => {
                request.insert_header("content-length", "0");
            }
            None => {}
        }
        tracing::debug!(method = method_name, url = %super::error::redact_url(&url), "ARM request");
        let response = self
            .pipeline
            .send(&Context::new(), &mut request, Some(PipelineSendOptions { skip_checks: true, ..Default::default() }))
            .await
            .map_err(|e| match e.into_downcast::<HttpError>() {
                Ok(err) => err,
                Err(e) => HttpError::connect(method_name, &url, chain(&e)),
            })?;
        let (status, headers, body) = response.deconstruct();
        let response =
            ArmResponse { method: method_name, url, status: u16::from(status), headers, body: body.to_vec() };
        tracing::debug!(
            status = response.status,
            request_id = response.header("x-ms-request-id").unwrap_or_default(),
            "ARM response"
        );
        Ok(response)
    }

    /// Sends a request and requires one of `ok` statuses; anything else becomes an [`HttpError`].
    pub async fn expect(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        ok: &[u16],
    ) -> Result<ArmResponse, HttpError> {
        let response = self.send(method, url, body).await?;
        if ok.contains(&response.status) { Ok(response) } else { Err(response.into_error()) }
    }

    /// Every item of an ARM list (`value`), following `nextLink` as ARM wrote it. Our
    /// `api-version` is added only when a `nextLink` lacks one: ARM's usually carry theirs, and
    /// a page URL must not be rewritten beyond that (its skip token is opaque).
    pub async fn list(&self, first: Url) -> Result<Vec<serde_json::Value>, HttpError> {
        let mut items = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let page: serde_json::Value = self.expect(Method::Get, url, None, &[200]).await?.json()?;
            if let Some(values) = page.get("value").and_then(serde_json::Value::as_array) {
                items.extend(values.iter().cloned());
            }
            next = page
                .get("nextLink")
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .and_then(|s| Url::parse(s).ok())
                .map(|url| self.with_api_version(url));
        }
        Ok(items)
    }

    fn with_api_version(&self, mut url: Url) -> Url {
        if !url.query_pairs().any(|(k, _)| k == "api-version") {
            url.query_pairs_mut().append_pair("api-version", &self.api_version);
        }
        url
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Put => "PUT",
        Method::Post => "POST",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
        Method::Patch => "PATCH",
        _ => "REQUEST",
    }
}
