//! A client for the MLflow tracking server's REST API (`/api/2.0/mlflow/…` and the
//! `mlflow-artifacts` proxy), shaped like an Azure SDK client. This file holds the client itself:
//! authentication, retries and paging; the calls are grouped by the part of the API they use.

mod artifacts;
mod azureml_artifacts;
mod decode;
mod limits;
mod logged_models;
mod runs;

pub use artifacts::{ArtifactStore, artifact_store, artifacts_writable};
pub use azureml_artifacts::RunArtifactLocation;
pub use limits::{
    Batch, MAX_ENTITIES_PER_BATCH, MAX_KEY, MAX_METRICS_PER_BATCH, MAX_PARAM_VALUE, MAX_PARAMS_PER_BATCH,
    MAX_TAG_VALUE, MAX_TAGS_PER_BATCH, ValueError, batches, check_values,
};
pub use logged_models::LoggedModel;

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::azure::blob_transfer::{BlobTransfer, NoProgress, TransferProgress};
use crate::http::{self, HttpError, RetryPolicy, TransportOptions};
use crate::secret::Secret;

/// How requests are authenticated. Basic wins over a token, as in MLflow's client.
#[derive(Debug, Clone, Default)]
pub enum MlflowAuth {
    #[default]
    None,
    Basic {
        username: String,
        password: Secret,
    },
    Bearer(Secret),
    /// An Entra ID token from the Azure credential chain (Azure ML).
    Azure(AzureToken),
}

/// Seconds before expiry at which a token is renewed, as azure_core's bearer policy does.
const TOKEN_REFRESH_MARGIN_SECS: i64 = 300;

/// ARM tokens for a client: reused until five minutes before they expire, then asked for again,
/// so a long sync never sends an expired one (and a credential that does not cache, like the
/// Azure CLI, is not run for every request).
#[derive(Debug, Clone)]
pub struct AzureToken {
    credential: Arc<dyn azure_core::credentials::TokenCredential>,
    scope: String,
    cached: Arc<tokio::sync::Mutex<Option<azure_core::credentials::AccessToken>>>,
}

impl AzureToken {
    pub fn new(credential: Arc<dyn azure_core::credentials::TokenCredential>, scope: String) -> Self {
        AzureToken { credential, scope, cached: Arc::default() }
    }

    async fn get(&self) -> Result<azure_core::credentials::AccessToken, HttpError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref()
            && token.expires_on.unix_timestamp() - chrono::Utc::now().timestamp() > TOKEN_REFRESH_MARGIN_SECS
        {
            return Ok(token.clone());
        }
        let token = self
            .credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|e| HttpError::credential(e.to_string()))?;
        *cached = Some(token.clone());
        Ok(token)
    }
}

/// Options of [`MlflowClient::new`].
#[derive(Debug, Clone, Default)]
pub struct MlflowClientOptions {
    pub transport: TransportOptions,
    pub retry: RetryPolicy,
}

/// An MLflow tracking server.
#[derive(Debug, Clone)]
pub struct MlflowClient {
    base: Url,
    /// How the server is named to people and in sync records, when not by its REST base (`azureml://…`).
    display: Option<String>,
    http: reqwest::Client,
    auth: MlflowAuth,
    /// Shared: the policy is larger than the rest of the client.
    retry: Arc<RetryPolicy>,
    /// Moves run files to and from Blob storage when the server is an Azure ML workspace.
    transfer: Arc<BlobTransfer>,
}

impl MlflowClient {
    /// A client for the server at `endpoint` (`http(s)://host:port[/prefix]`).
    pub fn new(endpoint: &str, auth: MlflowAuth, options: Option<MlflowClientOptions>) -> Result<Self, HttpError> {
        let options = options.unwrap_or_default();
        let mut base = Url::parse(endpoint).map_err(|e| HttpError::client(format!("invalid URL {endpoint:?}: {e}")))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = http::build_client(&options.transport)?;
        let transfer = Arc::new(BlobTransfer::new(http.clone(), options.retry, Arc::new(NoProgress)));
        Ok(MlflowClient { base, display: None, http, auth: auth.clone(), retry: Arc::new(options.retry), transfer })
    }

    /// The same client, showing artifact uploads and downloads on `progress`.
    pub fn with_transfer_progress(mut self, progress: Arc<dyn TransferProgress>) -> Self {
        self.transfer = Arc::new(BlobTransfer::new(self.http.clone(), *self.retry, progress));
        self
    }

    /// The same client, named by `uri` (the tracking URI the user gave) instead of its REST base.
    pub fn with_display_uri(mut self, uri: String) -> Self {
        self.display = Some(uri);
        self
    }

    /// The server's address, for messages.
    pub fn endpoint(&self) -> &str {
        self.display.as_deref().unwrap_or_else(|| self.base.as_str().trim_end_matches('/'))
    }

    fn url(&self, path: &str) -> Result<Url, HttpError> {
        self.base.join(path).map_err(|e| HttpError::client(format!("invalid path {path:?}: {e}")))
    }

    async fn authorize(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, HttpError> {
        Ok(match &self.auth {
            MlflowAuth::None => request,
            MlflowAuth::Basic { username, password } => request.basic_auth(username, Some(password.expose())),
            MlflowAuth::Bearer(token) => request.bearer_auth(token.expose()),
            MlflowAuth::Azure(source) => request.bearer_auth(source.get().await?.token.secret()),
        })
    }

    /// One call, retried under the client's [`RetryPolicy`] (connection errors, 408, 429, 5xx).
    /// Public for modules built on this client (the model registry).
    ///
    /// Retrying a create is safe enough here: the SQL store commits nothing on a 5xx, and a push
    /// that resumes looks up what it created before creating again (see `sync`).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, HttpError> {
        let url = self.url(path)?;
        self.request_url(method, url, query, body).await
    }

    /// [`request`](Self::request) to a full URL (another service of the same host, such as
    /// Azure ML's run history).
    async fn request_url(
        &self,
        method: Method,
        url: Url,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, HttpError> {
        let attempt = || async {
            let mut request = self.authorize(self.http.request(method.clone(), url.clone())).await?;
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            tracing::debug!(%method, url = %http::redact_url(&url), "mlflow request");
            let response = request.send().await.map_err(|e| HttpError::from_reqwest_error(&method, &url, e))?;
            if !response.status().is_success() {
                return Err(HttpError::from_reqwest(&method, response).await);
            }
            let text = response.text().await.map_err(|e| HttpError::from_reqwest_error(&method, &url, e))?;
            if text.trim().is_empty() {
                return Ok(Value::Object(Default::default()));
            }
            serde_json::from_str(&text).map_err(|e| HttpError::decode(method.as_str(), &url, e.to_string()))
        };
        http::send_with_retries(&self.retry, &method, &url, attempt).await
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, HttpError> {
        self.request(Method::GET, path, query, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, HttpError> {
        self.request(Method::POST, path, &[], Some(&body)).await
    }

    /// Every item of a paged list call, up to `limit`: follows `next_page_token`, asking each page
    /// for at most `page_size` items (in the query of a GET, in the body of a POST).
    pub async fn list_all(&self, list: ListCall<'_>, limit: usize) -> Result<Vec<Value>, HttpError> {
        let mut out = Vec::new();
        let mut token = String::new();
        while out.len() < limit {
            let size = (limit - out.len()).min(list.page_size);
            let doc = if list.method == Method::GET {
                let size = size.to_string();
                let mut query: Vec<(&str, &str)> = list.query.to_vec();
                query.push(("max_results", &size));
                if !token.is_empty() {
                    query.push(("page_token", &token));
                }
                self.request(Method::GET, list.path, &query, None).await?
            } else {
                let mut body = list.body.clone();
                body["max_results"] = json!(size);
                body["page_token"] = json!(token);
                self.request(list.method.clone(), list.path, &[], Some(&body)).await?
            };
            out.extend(doc[list.items].as_array().into_iter().flatten().cloned());
            match doc["next_page_token"].as_str() {
                Some(next) if !next.is_empty() => token = next.to_string(),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Pause used between polls by callers that wait on the server.
    pub fn poll_interval(&self) -> Duration {
        self.retry.backoff
    }
}

/// A paged MLflow list call: where it goes, what it filters on, and the field with the items.
pub struct ListCall<'a> {
    pub method: Method,
    pub path: &'a str,
    /// Query parameters of a GET (besides `max_results` and `page_token`).
    pub query: &'a [(&'a str, &'a str)],
    /// The body of a POST (without `max_results` and `page_token`).
    pub body: Value,
    /// The response field that lists the items.
    pub items: &'a str,
    /// The most items the server returns in one page.
    pub page_size: usize,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use axum::Json;
    use axum::extract::{Query, State};
    use axum::routing::{get, post};

    use super::*;

    /// A server listing items 0..25 in pages; records the page size and token each call asked for.
    async fn paging_server() -> (String, Arc<Mutex<Vec<(usize, String)>>>) {
        type Calls = Arc<Mutex<Vec<(usize, String)>>>;
        fn page(calls: &Calls, size: usize, token: &str) -> Json<Value> {
            calls.lock().expect("calls").push((size, token.to_string()));
            let start: usize = token.parse().unwrap_or(0);
            let end = (start + size.min(10)).min(25);
            let mut doc = json!({"items": (start..end).collect::<Vec<_>>()});
            if end < 25 {
                doc["next_page_token"] = json!(end.to_string());
            }
            Json(doc)
        }
        let calls: Calls = Arc::default();
        let app = axum::Router::new()
            .route(
                "/get",
                get(|State(calls): State<Calls>, Query(q): Query<BTreeMap<String, String>>| async move {
                    assert_eq!(q.get("filter").map(String::as_str), Some("x"));
                    let size = q["max_results"].parse().expect("size");
                    page(&calls, size, q.get("page_token").map_or("", String::as_str))
                }),
            )
            .route(
                "/post",
                post(|State(calls): State<Calls>, Json(body): Json<Value>| async move {
                    assert_eq!(body["filter"], "x");
                    let size = body["max_results"].as_u64().expect("size") as usize;
                    page(&calls, size, body["page_token"].as_str().expect("token"))
                }),
            )
            .with_state(calls.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/"), calls)
    }

    #[tokio::test]
    async fn list_all_follows_pages_up_to_the_limit() {
        let (url, calls) = paging_server().await;
        let client = MlflowClient::new(&url, MlflowAuth::None, None).expect("client");
        let numbers = |items: Vec<Value>| items.iter().filter_map(Value::as_u64).collect::<Vec<_>>();
        let query = [("filter", "x")];
        let get = || ListCall {
            method: Method::GET,
            path: "get",
            query: &query,
            body: Value::Null,
            items: "items",
            page_size: 1000,
        };
        assert_eq!(numbers(client.list_all(get(), usize::MAX).await.expect("all")), (0..25).collect::<Vec<_>>());
        assert_eq!(*calls.lock().expect("calls"), [(1000, String::new()), (1000, "10".into()), (1000, "20".into())]);
        calls.lock().expect("calls").clear();
        let post = ListCall {
            method: Method::POST,
            path: "post",
            query: &[],
            body: json!({"filter": "x"}),
            items: "items",
            page_size: 1000,
        };
        // A limit asks for no more than is still missing, and stops once it is reached.
        assert_eq!(numbers(client.list_all(post, 13).await.expect("13")), (0..13).collect::<Vec<_>>());
        assert_eq!(*calls.lock().expect("calls"), [(13, String::new()), (3, "10".into())]);
    }
}
