//! A client for the MLflow tracking server's REST API (`/api/2.0/mlflow/…` and the
//! `mlflow-artifacts` proxy), shaped like an Azure SDK client.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use super::{DatasetInput, Experiment, Metric, Run, RunInfo, RunStatus};
use crate::http::{self, HttpError, RetryPolicy, TransportOptions};
use crate::secret::Secret;

/// The server's batch limits (`mlflow/utils/validation.py`).
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_PARAMS_PER_BATCH: usize = 100;
pub const MAX_TAGS_PER_BATCH: usize = 100;
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
/// Values the server would silently truncate; the client refuses them instead.
pub const MAX_PARAM_VALUE: usize = 6000;
pub const MAX_TAG_VALUE: usize = 8000;
pub const MAX_KEY: usize = 250;

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
    credential: Arc<crate::azure::AzureCredential>,
    scope: String,
    cached: Arc<tokio::sync::Mutex<Option<azure_core::credentials::AccessToken>>>,
}

impl AzureToken {
    pub fn new(credential: Arc<crate::azure::AzureCredential>, scope: String) -> Self {
        AzureToken { credential, scope, cached: Arc::default() }
    }

    async fn get(&self) -> Result<azure_core::credentials::AccessToken, HttpError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref()
            && token.expires_on.unix_timestamp() - chrono::Utc::now().timestamp() > TOKEN_REFRESH_MARGIN_SECS
        {
            return Ok(token.clone());
        }
        let token =
            self.credential.token(&[self.scope.as_str()]).await.map_err(|e| HttpError::Credential(e.to_string()))?;
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

/// A logged model (MLflow 3) as the server returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedModel {
    pub model_id: String,
    pub artifact_uri: String,
}

/// An MLflow tracking server.
#[derive(Debug, Clone)]
pub struct MlflowClient {
    base: Url,
    /// How the server is named to people and in sync records, when not by its REST base (`azureml://…`).
    display: Option<String>,
    http: reqwest::Client,
    auth: MlflowAuth,
    retry: RetryPolicy,
}

/// A value the server would truncate or mangle.
#[derive(Debug, thiserror::Error)]
#[error("{what} {key:?}: {message}")]
pub struct ValueError {
    pub what: &'static str,
    pub key: String,
    pub message: String,
}

impl MlflowClient {
    /// A client for the server at `endpoint` (`http(s)://host:port[/prefix]`).
    pub fn new(endpoint: &str, auth: MlflowAuth, options: Option<MlflowClientOptions>) -> Result<Self, HttpError> {
        let options = options.unwrap_or_default();
        let mut base = Url::parse(endpoint).map_err(|e| HttpError::Client(format!("invalid URL {endpoint:?}: {e}")))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = http::build_client(&options.transport)?;
        Ok(MlflowClient { base, display: None, http, auth: auth.clone(), retry: options.retry })
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
        self.base.join(path).map_err(|e| HttpError::Client(format!("invalid path {path:?}: {e}")))
    }

    async fn authorize(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, HttpError> {
        Ok(match &self.auth {
            MlflowAuth::None => request,
            MlflowAuth::Basic { username, password } => request.basic_auth(username, Some(password.expose())),
            MlflowAuth::Bearer(token) => request.bearer_auth(token.expose()),
            MlflowAuth::Azure(source) => request.bearer_auth(source.get().await?.token.secret()),
        })
    }

    /// One call, retried on connection errors, 429 and 5xx as MLflow's own client retries every call.
    ///
    /// Retrying a create is safe enough here: the SQL store commits nothing on a 5xx, and a push
    /// that resumes looks up what it created before creating again (see `sync`).
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, HttpError> {
        let url = self.url(path)?;
        let attempt = || async {
            let mut request = self.authorize(self.http.request(method.clone(), url.clone())).await?;
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            tracing::debug!(%method, url = %http::redact_url(&url), "mlflow request");
            let response = request.send().await.map_err(|e| http::connect_error(method.clone(), &url, &e))?;
            if !response.status().is_success() {
                return Err(http::error_from_response(method.clone(), response).await);
            }
            let text = response.text().await.map_err(|e| http::connect_error(method.clone(), &url, &e))?;
            if text.trim().is_empty() {
                return Ok(Value::Object(Default::default()));
            }
            serde_json::from_str(&text).map_err(|e| HttpError::Decode {
                method: method.clone(),
                url: http::redact_url(&url),
                message: e.to_string(),
            })
        };
        if self.retry.max_retries == 0 {
            return attempt().await;
        }
        attempt
            .retry(self.backoff())
            .when(HttpError::is_transient)
            .notify(|err, wait| tracing::warn!("{err}; retrying in {wait:?}"))
            .await
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.retry.backoff)
            .with_max_delay(self.retry.max_backoff)
            .with_factor(2.0)
            .with_max_times(self.retry.max_retries)
            .with_jitter()
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, HttpError> {
        self.call(Method::GET, path, query, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, HttpError> {
        self.call(Method::POST, path, &[], Some(&body)).await
    }

    /// `experiments/get-by-name`; `None` when the server says it does not exist.
    pub async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>, HttpError> {
        match self.get("api/2.0/mlflow/experiments/get-by-name", &[("experiment_name", name)]).await {
            Ok(doc) => Ok(Some(experiment_from_json(&doc["experiment"]))),
            Err(e) if e.error_code() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `experiments/get`.
    pub async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment, HttpError> {
        let doc = self.get("api/2.0/mlflow/experiments/get", &[("experiment_id", experiment_id)]).await?;
        Ok(experiment_from_json(&doc["experiment"]))
    }

    /// Get-or-create by name, as MLflow's client does (a concurrent create is tolerated).
    pub async fn get_or_create_experiment(&self, name: &str) -> Result<Experiment, HttpError> {
        if let Some(existing) = self.get_experiment_by_name(name).await? {
            return Ok(existing);
        }
        match self.post("api/2.0/mlflow/experiments/create", json!({"name": name})).await {
            Ok(doc) => {
                let id = doc["experiment_id"].as_str().unwrap_or_default().to_string();
                self.get_experiment(&id).await
            }
            Err(e) if e.error_code() == Some("RESOURCE_ALREADY_EXISTS") => {
                self.get_experiment_by_name(name).await?.ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// `runs/create` with an explicit start time and `user_id` (the server derives neither).
    pub async fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        user_id: &str,
        start_time: i64,
        tags: &[(String, String)],
    ) -> Result<RunInfo, HttpError> {
        let tags: Vec<Value> = tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let body = json!({"experiment_id": experiment_id, "user_id": user_id, "start_time": start_time, "run_name": run_name, "tags": tags});
        let doc = self.post("api/2.0/mlflow/runs/create", body).await?;
        Ok(run_info_from_json(&doc["run"]["info"]))
    }

    /// `runs/update`: terminal status and end time.
    pub async fn update_run(&self, run_id: &str, status: RunStatus, end_time: Option<i64>) -> Result<(), HttpError> {
        let mut body = json!({"run_id": run_id, "status": status.as_str()});
        if let Some(end) = end_time {
            body["end_time"] = json!(end);
        }
        self.post("api/2.0/mlflow/runs/update", body).await.map(|_| ())
    }

    /// `runs/log-batch`, split into requests within the server's limits. Params go as strings.
    pub async fn log_batch(
        &self,
        run_id: &str,
        metrics: &[(String, Metric)],
        params: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<(), HttpError> {
        for chunk in batches(metrics, params, tags) {
            let body = json!({
                "run_id": run_id,
                "metrics": chunk.metrics.iter().map(|(k, m)| json!({"key": k, "value": m.value, "timestamp": m.timestamp, "step": m.step})).collect::<Vec<_>>(),
                "params": chunk.params.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
                "tags": chunk.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
            });
            // The SQL store ignores a metric point it already has, so a retried batch cannot duplicate.
            self.post("api/2.0/mlflow/runs/log-batch", body).await?;
        }
        Ok(())
    }

    /// `runs/log-inputs` (the server deduplicates an identical dataset and context).
    pub async fn log_inputs(&self, run_id: &str, inputs: &[DatasetInput]) -> Result<(), HttpError> {
        let datasets: Vec<Value> = inputs
            .iter()
            .map(|d| {
                json!({
                    "tags": [{"key": "mlflow.data.context", "value": d.context}],
                    "dataset": {"name": d.name, "digest": d.digest, "source_type": d.source_type, "source": d.source, "schema": d.schema, "profile": d.profile},
                })
            })
            .collect();
        self.post("api/2.0/mlflow/runs/log-inputs", json!({"run_id": run_id, "datasets": datasets})).await.map(|_| ())
    }

    /// `runs/get`.
    pub async fn get_run(&self, run_id: &str) -> Result<Run, HttpError> {
        let doc = self.get("api/2.0/mlflow/runs/get", &[("run_id", run_id)]).await?;
        Ok(run_from_json(&doc["run"]))
    }

    /// Ids of the logged models a run produced (`outputs.model_outputs`), in order.
    pub async fn run_model_ids(&self, run_id: &str) -> Result<Vec<String>, HttpError> {
        let doc = self.get("api/2.0/mlflow/runs/get", &[("run_id", run_id)]).await?;
        Ok(doc["run"]["outputs"]["model_outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| text(&m["model_id"]))
            .collect())
    }

    /// `metrics/get-history`, all pages.
    pub async fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>, HttpError> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![("run_id", run_id), ("metric_key", key), ("max_results", "25000")];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let doc = self.get("api/2.0/mlflow/metrics/get-history", &query).await?;
            out.extend(doc["metrics"].as_array().into_iter().flatten().map(metric_from_json));
            match doc["next_page_token"].as_str() {
                Some(next) if !next.is_empty() => token = next.to_string(),
                _ => return Ok(out),
            }
        }
    }

    /// `runs/search`, following pages until `max_results` runs are collected.
    pub async fn search_runs(
        &self,
        experiment_ids: &[String],
        filter: Option<&str>,
        order_by: &[String],
        max_results: usize,
    ) -> Result<Vec<Run>, HttpError> {
        let mut runs = Vec::new();
        let mut token = String::new();
        while runs.len() < max_results {
            let body = json!({
                "experiment_ids": experiment_ids,
                "filter": filter.unwrap_or(""),
                "order_by": order_by,
                "max_results": (max_results - runs.len()).min(1000),
                "run_view_type": "ACTIVE_ONLY",
                "page_token": token,
            });
            let doc = self.post("api/2.0/mlflow/runs/search", body).await?;
            runs.extend(doc["runs"].as_array().into_iter().flatten().map(run_from_json));
            match doc["next_page_token"].as_str() {
                Some(next) if !next.is_empty() => token = next.to_string(),
                _ => break,
            }
        }
        Ok(runs)
    }

    /// Active experiments, all pages.
    pub async fn search_experiments(&self) -> Result<Vec<Experiment>, HttpError> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let body = json!({"max_results": 1000, "view_type": "ACTIVE_ONLY", "page_token": token});
            let doc = self.post("api/2.0/mlflow/experiments/search", body).await?;
            out.extend(doc["experiments"].as_array().into_iter().flatten().map(experiment_from_json));
            match doc["next_page_token"].as_str() {
                Some(next) if !next.is_empty() => token = next.to_string(),
                _ => return Ok(out),
            }
        }
    }

    /// Uploads one file below an `mlflow-artifacts:` URI through the server's artifact proxy.
    pub async fn upload_artifact(
        &self,
        artifact_uri: &str,
        relative_path: &str,
        bytes: Vec<u8>,
    ) -> Result<(), HttpError> {
        let path = artifact_http_path(artifact_uri)?;
        let url = self.url(&format!("{path}/{relative_path}"))?;
        let attempt = || async {
            let request = self.authorize(self.http.put(url.clone())).await?.body(bytes.clone());
            let response = request.send().await.map_err(|e| http::connect_error(Method::PUT, &url, &e))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(http::error_from_response(Method::PUT, response).await)
            }
        };
        attempt.retry(self.backoff()).when(HttpError::is_transient).await
    }

    /// Downloads one file below an `mlflow-artifacts:` URI.
    pub async fn download_artifact(&self, artifact_uri: &str, relative_path: &str) -> Result<Vec<u8>, HttpError> {
        let path = artifact_http_path(artifact_uri)?;
        let url = self.url(&format!("{path}/{relative_path}"))?;
        let attempt = || async {
            let response = self
                .authorize(self.http.get(url.clone()))
                .await?
                .send()
                .await
                .map_err(|e| http::connect_error(Method::GET, &url, &e))?;
            if !response.status().is_success() {
                return Err(http::error_from_response(Method::GET, response).await);
            }
            response.bytes().await.map(|b| b.to_vec()).map_err(|e| http::connect_error(Method::GET, &url, &e))
        };
        attempt.retry(self.backoff()).when(HttpError::is_transient).await
    }

    /// Lists files (recursively) below an `mlflow-artifacts:` URI, as paths relative to it.
    pub async fn list_artifacts(&self, artifact_uri: &str) -> Result<Vec<String>, HttpError> {
        let root = artifact_http_path(artifact_uri)?;
        let root = root.trim_start_matches("api/2.0/mlflow-artifacts/artifacts/").to_string();
        let mut files = Vec::new();
        let mut pending = vec![String::new()];
        while let Some(dir) = pending.pop() {
            let path = if dir.is_empty() { root.clone() } else { format!("{root}/{dir}") };
            let doc = self.get("api/2.0/mlflow-artifacts/artifacts", &[("path", &path)]).await?;
            for file in doc["files"].as_array().into_iter().flatten() {
                let name = file["path"].as_str().unwrap_or_default();
                let full = if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") };
                if file["is_dir"].as_bool() == Some(true) {
                    pending.push(full);
                } else {
                    files.push(full);
                }
            }
        }
        files.sort();
        Ok(files)
    }

    /// `POST logged-models`: a PENDING MLflow 3 logged model linked to its source run.
    pub async fn create_logged_model(
        &self,
        experiment_id: &str,
        name: &str,
        source_run_id: &str,
        params: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<LoggedModel, HttpError> {
        let body = json!({
            "experiment_id": experiment_id,
            "name": name,
            "source_run_id": source_run_id,
            "params": params.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
            "tags": tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
        });
        let doc = self.post("api/2.0/mlflow/logged-models", body).await?;
        Ok(logged_model_from_json(&doc["model"]["info"]))
    }

    /// `GET logged-models/<id>`.
    pub async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel, HttpError> {
        let doc = self.get(&format!("api/2.0/mlflow/logged-models/{model_id}"), &[]).await?;
        Ok(logged_model_from_json(&doc["model"]["info"]))
    }

    /// Logged models of an experiment made by a run, by name.
    pub async fn find_logged_models(
        &self,
        experiment_id: &str,
        source_run_id: &str,
        name: &str,
    ) -> Result<Vec<LoggedModel>, HttpError> {
        let body = json!({"experiment_ids": [experiment_id], "max_results": 100, "filter": format!("source_run_id = '{source_run_id}'")});
        let doc = self.post("api/2.0/mlflow/logged-models/search", body).await?;
        Ok(doc["models"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| &m["info"])
            .filter(|info| info["name"].as_str() == Some(name) && info["source_run_id"].as_str() == Some(source_run_id))
            .map(logged_model_from_json)
            .collect())
    }

    /// `PATCH logged-models/<id>` to READY once its files are uploaded.
    pub async fn finalize_logged_model(&self, model_id: &str) -> Result<(), HttpError> {
        let body = json!({"model_id": model_id, "status": "LOGGED_MODEL_READY"});
        self.call(Method::PATCH, &format!("api/2.0/mlflow/logged-models/{model_id}"), &[], Some(&body))
            .await
            .map(|_| ())
    }

    /// `runs/outputs`: records the logged model as an output of the run.
    pub async fn log_outputs(&self, run_id: &str, model_id: &str) -> Result<(), HttpError> {
        let body = json!({"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]});
        self.post("api/2.0/mlflow/runs/outputs", body).await.map(|_| ())
    }

    /// A raw call for modules built on this client (the model registry).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, HttpError> {
        self.call(method, path, query, body).await
    }

    /// Pause used between polls by callers that wait on the server.
    pub fn poll_interval(&self) -> Duration {
        self.retry.backoff
    }
}

/// Refuses values the server would truncate (params > 6000, tags > 8000 characters), over-long
/// keys, and non-finite metrics.
pub fn check_values(
    metrics: &[(String, Metric)],
    params: &[(String, String)],
    tags: &[(String, String)],
) -> Result<(), ValueError> {
    let key_check = |what: &'static str, key: &str| {
        if key.chars().count() > MAX_KEY {
            return Err(ValueError {
                what,
                key: key.chars().take(40).collect::<String>() + "…",
                message: format!("key longer than {MAX_KEY} characters"),
            });
        }
        Ok(())
    };
    for (key, metric) in metrics {
        key_check("metric", key)?;
        if !metric.value.is_finite() {
            return Err(ValueError {
                what: "metric",
                key: key.clone(),
                message: format!("value {} is not finite; MLflow would store it as a sentinel", metric.value),
            });
        }
    }
    for (key, value) in params {
        key_check("param", key)?;
        if value.chars().count() > MAX_PARAM_VALUE {
            return Err(ValueError {
                what: "param",
                key: key.clone(),
                message: format!(
                    "value is {} characters; the server keeps only {MAX_PARAM_VALUE}",
                    value.chars().count()
                ),
            });
        }
    }
    for (key, value) in tags {
        key_check("tag", key)?;
        if value.chars().count() > MAX_TAG_VALUE {
            return Err(ValueError {
                what: "tag",
                key: key.clone(),
                message: format!(
                    "value is {} characters; the server keeps only {MAX_TAG_VALUE}",
                    value.chars().count()
                ),
            });
        }
    }
    Ok(())
}

/// One `log-batch` request's worth of entities.
#[derive(Debug, Default, PartialEq)]
pub struct Batch<'a> {
    pub metrics: &'a [(String, Metric)],
    pub params: &'a [(String, String)],
    pub tags: &'a [(String, String)],
}

/// Splits entities into batches within every per-kind limit and the total limit.
pub fn batches<'a>(
    metrics: &'a [(String, Metric)],
    params: &'a [(String, String)],
    tags: &'a [(String, String)],
) -> Vec<Batch<'a>> {
    let mut out = Vec::new();
    let (mut m, mut p, mut t) = (metrics, params, tags);
    while !(m.is_empty() && p.is_empty() && t.is_empty()) {
        let np = p.len().min(MAX_PARAMS_PER_BATCH);
        let nt = t.len().min(MAX_TAGS_PER_BATCH).min(MAX_ENTITIES_PER_BATCH - np);
        let nm = m.len().min(MAX_METRICS_PER_BATCH).min(MAX_ENTITIES_PER_BATCH - np - nt);
        out.push(Batch { metrics: &m[..nm], params: &p[..np], tags: &t[..nt] });
        (m, p, t) = (&m[nm..], &p[np..], &t[nt..]);
    }
    out
}

/// Whether files can be uploaded below a server's artifact location: only through MLflow's
/// artifact proxy. Azure ML answers with `azureml://…` locations, which its own plugin writes
/// through a separate storage service.
pub fn artifacts_writable(artifact_uri: &str) -> bool {
    artifact_uri.starts_with("mlflow-artifacts:")
}

/// `mlflow-artifacts:/1/<run>/artifacts` (or `mlflow-artifacts://host/…`) → the proxy's HTTP path.
fn artifact_http_path(artifact_uri: &str) -> Result<String, HttpError> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:").ok_or_else(|| {
        HttpError::Client(format!(
            "the server gave artifact location {artifact_uri:?}, which a remote client cannot write; start it with --serve-artifacts (the default in MLflow 3)"
        ))
    })?;
    let path = match rest.strip_prefix("//") {
        Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
        None => rest.trim_start_matches('/'),
    };
    Ok(format!("api/2.0/mlflow-artifacts/artifacts/{}", path.trim_end_matches('/')))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn float(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or(f64::NAN),
        },
        _ => f64::NAN,
    }
}

fn experiment_from_json(doc: &Value) -> Experiment {
    Experiment {
        experiment_id: text(&doc["experiment_id"]),
        name: text(&doc["name"]),
        artifact_location: text(&doc["artifact_location"]),
    }
}

fn run_info_from_json(info: &Value) -> RunInfo {
    let status = match info["status"].as_str().unwrap_or("") {
        "SCHEDULED" => RunStatus::Scheduled,
        "FINISHED" => RunStatus::Finished,
        "FAILED" => RunStatus::Failed,
        "KILLED" => RunStatus::Killed,
        _ => RunStatus::Running,
    };
    RunInfo {
        run_id: text(&info["run_id"]),
        experiment_id: text(&info["experiment_id"]),
        run_name: text(&info["run_name"]),
        status,
        start_time: int(&info["start_time"]).unwrap_or(0),
        end_time: int(&info["end_time"]),
        artifact_uri: text(&info["artifact_uri"]),
        user_id: text(&info["user_id"]),
        lifecycle_stage: text(&info["lifecycle_stage"]),
    }
}

fn metric_from_json(m: &Value) -> Metric {
    Metric {
        value: float(&m["value"]),
        timestamp: int(&m["timestamp"]).unwrap_or(0),
        step: int(&m["step"]).unwrap_or(0),
    }
}

fn pairs(list: &Value) -> BTreeMap<String, String> {
    list.as_array().into_iter().flatten().map(|kv| (text(&kv["key"]), text(&kv["value"]))).collect()
}

fn run_from_json(doc: &Value) -> Run {
    let data = &doc["data"];
    let metrics =
        data["metrics"].as_array().into_iter().flatten().map(|m| (text(&m["key"]), metric_from_json(m))).collect();
    let inputs = doc["inputs"]["dataset_inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|input| {
            let d = &input["dataset"];
            DatasetInput {
                name: text(&d["name"]),
                digest: text(&d["digest"]),
                source_type: text(&d["source_type"]),
                source: text(&d["source"]),
                schema: text(&d["schema"]),
                profile: text(&d["profile"]),
                context: pairs(&input["tags"]).remove("mlflow.data.context").unwrap_or_default(),
            }
        })
        .collect();
    Run {
        info: run_info_from_json(&doc["info"]),
        params: pairs(&data["params"]),
        metrics,
        tags: pairs(&data["tags"]),
        inputs,
    }
}

fn logged_model_from_json(info: &Value) -> LoggedModel {
    LoggedModel { model_id: text(&info["model_id"]), artifact_uri: text(&info["artifact_uri"]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), "v".to_string())).collect()
    }

    #[test]
    fn batches_respect_every_limit() {
        let metrics: Vec<(String, Metric)> =
            (0..2500).map(|i| (format!("m{i}"), Metric { value: 1.0, timestamp: 0, step: 0 })).collect();
        let params = kv(250);
        let tags = kv(120);
        let chunks = batches(&metrics, &params, &tags);
        for c in &chunks {
            assert!(c.metrics.len() <= 1000 && c.params.len() <= 100 && c.tags.len() <= 100);
            assert!(c.metrics.len() + c.params.len() + c.tags.len() <= 1000);
        }
        assert_eq!(chunks.iter().map(|c| c.metrics.len()).sum::<usize>(), 2500);
        assert_eq!(chunks.iter().map(|c| c.params.len()).sum::<usize>(), 250);
        assert_eq!(chunks.iter().map(|c| c.tags.len()).sum::<usize>(), 120);
        assert!(batches(&[], &[], &[]).is_empty());
    }

    #[test]
    fn value_checks() {
        assert!(check_values(&[], &[("a".into(), "x".repeat(6001))], &[]).is_err());
        assert!(check_values(&[], &[("a".into(), "x".repeat(6000))], &[]).is_ok());
        assert!(check_values(&[], &[], &[("t".into(), "x".repeat(8001))]).is_err());
        assert!(check_values(&[], &[("k".repeat(251), "v".into())], &[]).is_err());
        assert!(check_values(&[("m".into(), Metric { value: f64::NAN, timestamp: 0, step: 0 })], &[], &[]).is_err());
    }

    #[test]
    fn artifact_paths() {
        assert_eq!(
            artifact_http_path("mlflow-artifacts:/1/abc/artifacts").ok().as_deref(),
            Some("api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts")
        );
        assert_eq!(
            artifact_http_path("mlflow-artifacts://h:5000/1/abc/artifacts/").ok().as_deref(),
            Some("api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts")
        );
        assert!(artifact_http_path("./mlruns/1/abc").is_err());
        assert!(artifacts_writable("mlflow-artifacts:/1/abc/artifacts"));
        assert!(!artifacts_writable("azureml://experiments/e/runs/abc/artifacts"));
    }
}
