//! A client for a registry that speaks the OCI distribution spec: blob existence, chunked blob
//! uploads, manifests, pulls. It answers authentication challenges itself (Basic, Bearer token
//! services, ACR's Entra exchange) and retries transient failures with the project's policy.

use std::collections::HashMap;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};

use super::auth::{self, Challenge, Credentials, TokenError};
use super::{Digest, OciError, TransferProgress, short};
use crate::http::{self, ErrorDetail, HttpError, RetryPolicy, TransportOptions};
use crate::secret::Secret;

/// Options of [`OciClient::new`].
#[derive(Debug, Clone)]
pub struct OciClientOptions {
    pub transport: TransportOptions,
    pub retry: RetryPolicy,
    /// Bytes per `PATCH` of a chunked upload.
    pub chunk_size: usize,
    /// Talk `http://` instead of `https://` (a registry on the local machine).
    pub plain_http: bool,
}

impl Default for OciClientOptions {
    fn default() -> Self {
        OciClientOptions {
            transport: TransportOptions::default(),
            retry: RetryPolicy::default(),
            chunk_size: 4 * 1024 * 1024,
            plain_http: false,
        }
    }
}

/// What the registry asked for, learnt from its first 401.
#[derive(Debug, Clone)]
enum AuthScheme {
    Unknown,
    Basic,
    Bearer { realm: String, service: Option<String> },
}

#[derive(Debug)]
struct AuthState {
    scheme: AuthScheme,
    /// Bearer tokens by scope.
    tokens: HashMap<String, Secret>,
    /// ACR's refresh token from the Entra exchange.
    acr_refresh: Option<Secret>,
}

/// A registry (`host[:port]`).
#[derive(Debug)]
pub struct OciClient {
    registry: String,
    base: Url,
    http: reqwest::Client,
    credentials: Credentials,
    retry: RetryPolicy,
    pub(super) chunk_size: usize,
    auth: tokio::sync::Mutex<AuthState>,
}

/// The actions a request needs on its repository.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    Pull,
    Push,
}

impl OciClient {
    /// A client for the registry `host` (`host[:port]`, the API host of a reference).
    pub fn new(host: &str, credentials: Credentials, options: Option<OciClientOptions>) -> Result<Self, OciError> {
        let options = options.unwrap_or_default();
        let scheme = if options.plain_http { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{host}/")).map_err(|e| OciError::Reference {
            value: host.to_string(),
            reason: format!("not a registry host: {e}"),
        })?;
        let http = http::build_client(&options.transport)
            .map_err(|e| OciError::Http { registry: host.to_string(), source: Box::new(e) })?;
        Ok(OciClient {
            registry: host.to_string(),
            base,
            http,
            credentials,
            retry: options.retry,
            chunk_size: options.chunk_size.max(1),
            auth: tokio::sync::Mutex::new(AuthState {
                scheme: AuthScheme::Unknown,
                tokens: HashMap::new(),
                acr_refresh: None,
            }),
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub(super) fn url(&self, path: &str) -> Result<Url, OciError> {
        self.base.join(path).map_err(|e| self.protocol(format!("invalid URL {path:?}: {e}")))
    }

    fn protocol(&self, message: String) -> OciError {
        OciError::Protocol { registry: self.registry.clone(), message }
    }

    fn http_error(&self, source: HttpError) -> OciError {
        OciError::Http { registry: self.registry.clone(), source: Box::new(source) }
    }

    /// Whether the repository has the blob (`HEAD`).
    pub async fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool, OciError> {
        let url = self.url(&format!("v2/{repository}/blobs/{digest}"))?;
        self.retrying(|| async {
            let response = self.send(Method::HEAD, &url, repository, Access::Pull, |r| r).await?;
            match response.status() {
                StatusCode::OK => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                _ => Err(self.failure(&Method::HEAD, response).await),
            }
        })
        .await
    }

    /// Stores a manifest under `reference` (a tag or its digest); returns its digest.
    pub async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &Bytes,
    ) -> Result<Digest, OciError> {
        let url = self.url(&format!("v2/{repository}/manifests/{reference}"))?;
        let digest = Digest::of(bytes);
        self.retrying(|| async {
            let response = self
                .send(Method::PUT, &url, repository, Access::Push, |r| {
                    r.header(CONTENT_TYPE, media_type).body(bytes.clone())
                })
                .await?;
            if response.status() != StatusCode::CREATED {
                return Err(self.failure(&Method::PUT, response).await);
            }
            self.check_digest(&response, &digest, "the manifest")
        })
        .await?;
        Ok(digest)
    }

    /// A manifest or index by tag or digest: its media type and bytes (checked against a digest reference).
    pub async fn get_manifest(&self, repository: &str, reference: &str) -> Result<(String, Bytes), OciError> {
        let url = self.url(&format!("v2/{repository}/manifests/{reference}"))?;
        let accept = [
            super::MEDIA_TYPE_OCI_MANIFEST,
            super::MEDIA_TYPE_OCI_INDEX,
            super::MEDIA_TYPE_DOCKER_MANIFEST,
            super::MEDIA_TYPE_DOCKER_LIST,
        ]
        .join(", ");
        let (media_type, body) = self
            .retrying(|| async {
                let response = self
                    .send(Method::GET, &url, repository, Access::Pull, |r| r.header("Accept", accept.clone()))
                    .await?;
                if response.status() != StatusCode::OK {
                    return Err(self.failure(&Method::GET, response).await);
                }
                let media_type = response
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.split(';').next().unwrap_or_default().trim().to_string())
                    .unwrap_or_default();
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| self.http_error(HttpError::from_reqwest_error(&Method::GET, &url, e)))?;
                Ok((media_type, body))
            })
            .await?;
        if let Ok(expected) = Digest::parse(reference) {
            let actual = Digest::of(&body);
            if actual != expected {
                return Err(OciError::DigestMismatch {
                    registry: self.registry.clone(),
                    what: format!("manifest {repository}@{reference}"),
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        Ok((media_type, body))
    }

    /// A blob's bytes, checked against its digest.
    pub async fn get_blob(
        &self,
        repository: &str,
        digest: &Digest,
        progress: &mut dyn TransferProgress,
    ) -> Result<Bytes, OciError> {
        let url = self.url(&format!("v2/{repository}/blobs/{digest}"))?;
        let body = self
            .retrying(|| async {
                let response = self.send(Method::GET, &url, repository, Access::Pull, |r| r).await?;
                if response.status() != StatusCode::OK {
                    return Err(self.failure(&Method::GET, response).await);
                }
                response
                    .bytes()
                    .await
                    .map_err(|e| self.http_error(HttpError::from_reqwest_error(&Method::GET, &url, e)))
            })
            .await?;
        progress.begin(&short(digest), body.len() as u64);
        progress.advance(body.len() as u64);
        progress.end();
        let actual = Digest::of(&body);
        if &actual != digest {
            return Err(OciError::DigestMismatch {
                registry: self.registry.clone(),
                what: format!("blob {repository}@{digest}"),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(body)
    }

    /// Sends one request with the credentials the registry asked for; on a 401 it reads the
    /// challenge, gets a token (or switches to Basic) and sends the request once more.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &Url,
        repository: &str,
        access: Access,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Response, OciError> {
        let scope = match access {
            Access::Pull => format!("repository:{repository}:pull"),
            Access::Push => format!("repository:{repository}:pull,push"),
        };
        let mut challenged = false;
        loop {
            let mut request = build(self.http.request(method.clone(), url.clone()));
            request = self.authorize(request, &scope).await?;
            tracing::debug!(%method, url = %http::redact_url(url), "registry request");
            let response =
                request.send().await.map_err(|e| self.http_error(HttpError::from_reqwest_error(&method, url, e)))?;
            if response.status() != StatusCode::UNAUTHORIZED || challenged {
                return Ok(response);
            }
            challenged = true;
            let header = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_string);
            let Some(challenge) = header.as_deref().and_then(Challenge::parse) else {
                return Err(self.failure(&method, response).await);
            };
            self.answer(challenge, &scope).await?;
        }
    }

    /// Adds the credentials the registry asked for; once it has named its token service, a
    /// token for a new scope is fetched before the request rather than after a 401.
    async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        scope: &str,
    ) -> Result<reqwest::RequestBuilder, OciError> {
        let mut state = self.auth.lock().await;
        if let AuthScheme::Bearer { realm, service } = &state.scheme
            && !state.tokens.contains_key(scope)
        {
            let (realm, service) = (realm.clone(), service.clone());
            let token = self.token(&realm, service.as_deref(), scope, &mut state.acr_refresh).await?;
            state.tokens.insert(scope.to_string(), token);
        }
        Ok(match (&state.scheme, &self.credentials) {
            (AuthScheme::Basic, Credentials::Basic { username, password }) => {
                request.basic_auth(username, Some(password.expose()))
            }
            (AuthScheme::Bearer { .. }, _) => match state.tokens.get(scope) {
                Some(token) => request.bearer_auth(token.expose()),
                None => request,
            },
            _ => request,
        })
    }

    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        acr_refresh: &mut Option<Secret>,
    ) -> Result<Secret, OciError> {
        auth::bearer_token(&self.http, &self.credentials, realm, service, scope, acr_refresh).await.map_err(|e| match e
        {
            TokenError::Http(source) if source.status.is_some() => OciError::Auth {
                registry: self.registry.clone(),
                message: format!("the token service refused the credentials: {source}"),
            },
            TokenError::Http(source) => self.http_error(*source),
            other => OciError::Auth { registry: self.registry.clone(), message: other.to_string() },
        })
    }

    /// Meets a challenge: remembers Basic, or fetches a Bearer token for `scope` (the
    /// challenge's own scope may name fewer actions than the operation needs: a HEAD before a
    /// push is challenged for pull only).
    async fn answer(&self, challenge: Challenge, scope: &str) -> Result<(), OciError> {
        let mut state = self.auth.lock().await;
        match challenge {
            Challenge::Basic => {
                if matches!(self.credentials, Credentials::Basic { .. }) {
                    state.scheme = AuthScheme::Basic;
                    Ok(())
                } else {
                    Err(OciError::Auth {
                        registry: self.registry.clone(),
                        message:
                            "the registry asks for a user name and password (--username with MLOPS_REGISTRY_PASSWORD)"
                                .into(),
                    })
                }
            }
            Challenge::Bearer { realm, service, .. } => {
                let token = self.token(&realm, service.as_deref(), scope, &mut state.acr_refresh).await?;
                state.scheme = AuthScheme::Bearer { realm, service };
                state.tokens.insert(scope.to_string(), token);
                Ok(())
            }
        }
    }

    /// The `Location` of an upload step, resolved against the registry (it may be relative).
    pub(super) fn location(&self, response: &Response) -> Result<Url, OciError> {
        let value = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
            self.protocol(format!("{} answered {} without a Location", response.url().path(), response.status()))
        })?;
        response.url().join(value).map_err(|e| self.protocol(format!("invalid upload Location {value:?}: {e}")))
    }

    pub(super) fn check_digest(&self, response: &Response, expected: &Digest, what: &str) -> Result<(), OciError> {
        match response.headers().get("Docker-Content-Digest").and_then(|v| v.to_str().ok()) {
            Some(actual) if actual != expected.as_str() => Err(OciError::DigestMismatch {
                registry: self.registry.clone(),
                what: what.to_string(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// A failed answer as an error, with the registry's `{"errors":[…]}` document read.
    pub(super) async fn failure(&self, method: &Method, response: Response) -> OciError {
        let status = response.status().as_u16();
        let url = response.url().clone();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let mut err = HttpError::from_response(method.as_str(), &url, status, header, &body);
        if err.error.is_none()
            && let Some(detail) = registry_errors(&body)
        {
            err.error = Some(detail);
            err.body = None;
        }
        if status == 401 || status == 403 {
            return OciError::Auth { registry: self.registry.clone(), message: err.to_string() };
        }
        self.http_error(err)
    }

    pub(super) async fn retrying<T, F, Fut>(&self, attempt: F) -> Result<T, OciError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciError>>,
    {
        let what = format!("registry {}", self.registry);
        http::with_retries(
            &self.retry,
            &what,
            attempt,
            |outcome: &Result<T, OciError>| outcome.as_ref().err().map_or(http::Verdict::Final, OciError::verdict),
            |budget| {
                let reason = format!("no answer within the {} retry budget", crate::duration::human(budget));
                Err(self.protocol(reason))
            },
        )
        .await
    }
}

/// The distribution spec's error document: `{"errors":[{"code","message","detail"}]}`, the
/// first error with the others as details.
fn registry_errors(body: &[u8]) -> Option<ErrorDetail> {
    #[derive(serde::Deserialize)]
    struct Doc {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        code: String,
        #[serde(default)]
        message: Option<String>,
    }
    let doc: Doc = serde_json::from_slice(body).ok()?;
    let mut items =
        doc.errors.into_iter().map(|i| ErrorDetail { code: Some(i.code), message: i.message, ..Default::default() });
    let mut first = items.next()?;
    first.details = items.collect();
    Some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_registry_error_documents() {
        let body = br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:00"},{"code":"DENIED","message":"no"}]}"#;
        let detail = registry_errors(body).expect("errors");
        assert_eq!(detail.code.as_deref(), Some("BLOB_UNKNOWN"));
        assert_eq!(detail.details[0].code.as_deref(), Some("DENIED"));
        assert!(registry_errors(b"{}").is_none());
    }
}
