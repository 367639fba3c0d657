//! Azure ML's MLflow-compatible data plane: `/mlflow/v1.0/…` and
//! `/mlflow/v2.0/subscriptions/…/workspaces/{ws}/api/2.0/mlflow/*`, answered by a real
//! `mlflow server` behind it.
//!
//! What is Azure here is what a client can tell apart: the workspace-scoped paths, the bearer
//! token Entra issued (401 in MLflow's error envelope otherwise), no `mlflow-artifacts` proxy, and
//! `azureml://` artifact locations in place of the server's `mlflow-artifacts:` ones (whose files
//! the run history service in `history.rs` keeps).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::{StandIn, State};

/// The MLflow server requests are answered by, once [`StandIn::serve_mlflow`] was called.
#[derive(Default)]
pub struct MlflowPlane {
    upstream: Option<String>,
    /// (pipeline job, step) → (run id, status) of the step runs made in the MLflow server.
    step_runs: HashMap<(String, String), (String, &'static str)>,
    experiments: HashMap<String, String>,
}

impl StandIn {
    /// Serves the Azure ML MLflow endpoint of every workspace from the MLflow server at `upstream`,
    /// and records the steps of pipeline jobs there as Azure ML does: a child run per step (tag
    /// `mlflow.parentRunId` = the job's name, run name = the step) whose status follows the job's.
    pub fn serve_mlflow(&self, upstream: &str) {
        let upstream = upstream.trim_end_matches('/').to_string();
        let first = self.state().mlflow.upstream.replace(upstream.clone()).is_none();
        if first {
            let state = Arc::downgrade(&self.state);
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                runtime.block_on(mirror_steps(state, upstream));
            });
        }
    }

    /// The workspace's tracking URI as Azure ML gives it (`properties.mlFlowTrackingUri`).
    pub fn azureml_tracking_uri(&self, group: &str, workspace: &str) -> String {
        format!("azureml://127.0.0.1:{}/mlflow/v1.0/{}", self.port, scope(super::SUBSCRIPTION, group, workspace))
    }

    /// The REST base stock MLflow clients use for that workspace (`https://…/mlflow/v2.0/…`).
    pub fn azureml_rest_base(&self, group: &str, workspace: &str) -> String {
        format!("{}/mlflow/v2.0/{}", self.url(), scope(super::SUBSCRIPTION, group, workspace))
    }
}

fn scope(subscription: &str, group: &str, workspace: &str) -> String {
    format!(
        "subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.MachineLearningServices/workspaces/{workspace}"
    )
}

/// Whether a (lower-cased) path belongs to this plane.
pub fn owns(lower_path: &str) -> bool {
    lower_path.starts_with("/mlflow/v1.0/") || lower_path.starts_with("/mlflow/v2.0/")
}

/// A request of this plane, as the dispatcher read it.
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a hyper::HeaderMap,
    pub body: Bytes,
}

/// Checks the workspace path and the token, forwards to the MLflow server, rewrites artifact locations.
pub async fn serve(state: &Arc<Mutex<State>>, call: Call<'_>) -> Response<Full<Bytes>> {
    let Some((version, workspace_scope, rest)) = split(call.path) else {
        return error(404, "ENDPOINT_NOT_FOUND", &format!("no such workspace-scoped path: {}", call.path));
    };
    let (upstream, authorized) = {
        let s = state.lock().unwrap_or_else(|p| p.into_inner());
        let token = bearer(call.headers);
        (s.mlflow.upstream.clone(), token.is_some_and(|t| s.tokens.contains(&t)))
    };
    if !authorized {
        return error(401, "UNAUTHENTICATED", "the request needs a valid Entra ID bearer token for the workspace");
    }
    let Some(upstream) = upstream else {
        return error(503, "TEMPORARILY_UNAVAILABLE", "no MLflow server behind the stand-in");
    };
    // Azure ML serves the tracking and registry REST API, not MLflow's artifact proxy.
    if !(rest.starts_with("api/2.0/mlflow/") || rest.starts_with("api/3.0/mlflow/")) {
        return error(404, "ENDPOINT_NOT_FOUND", &format!("{} is not served by Azure ML", call.path));
    }
    let host = call.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    let artifact_root = format!("azureml://{host}/mlflow/{version}/{workspace_scope}");
    let mut url = format!("{upstream}/{rest}");
    if !call.query.is_empty() {
        url = format!("{url}?{}", call.query);
    }
    let method = reqwest::Method::from_bytes(call.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut request = reqwest::Client::new().request(method, &url).body(call.body.to_vec());
    if let Some(kind) = call.headers.get("content-type").and_then(|v| v.to_str().ok()) {
        request = request.header("content-type", kind);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return error(502, "BAD_GATEWAY", &format!("MLflow server: {e}")),
    };
    let status = response.status().as_u16();
    let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = response.bytes().await.unwrap_or_default();
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut doc) => {
            let mut runs = HashMap::new();
            for model_id in logged_model_locations(&doc) {
                let url = format!("{upstream}/api/2.0/mlflow/logged-models/{model_id}");
                let info: Value = match reqwest::get(&url).await {
                    Ok(r) => r.json().await.unwrap_or_default(),
                    Err(_) => Value::Null,
                };
                if let Some(run) = info["model"]["info"]["source_run_id"].as_str() {
                    runs.insert(model_id, run.to_string());
                }
            }
            rewrite_model_locations(&mut doc, &artifact_root, &runs);
            rewrite_artifact_locations(&mut doc, &artifact_root);
            Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
        }
        Err(_) => bytes,
    };
    if status == 200 && rest.ends_with("model-versions/create") {
        record_model_asset(state, &workspace_scope, &body);
    }
    let mut builder = Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY));
    if let Some(kind) = kind {
        builder = builder.header("content-type", kind);
    }
    builder
        .header("x-ms-request-id", uuid::Uuid::new_v4().to_string())
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// In Azure ML a model version registered through MLflow is a model asset of type
/// `mlflow_model` whose files are the run's, in the workspace's artifact datastore.
fn record_model_asset(state: &Arc<Mutex<State>>, workspace_scope: &str, body: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Value>(body) else { return };
    let version = &doc["model_version"];
    let (Some(name), Some(number), Some(source)) =
        (version["name"].as_str(), version["version"].as_str(), version["source"].as_str())
    else {
        return;
    };
    let parts: Vec<&str> = workspace_scope.split('/').collect();
    let (subscription, group, workspace) = (parts[1], parts[3], parts[7]);
    let run = version["run_id"].as_str().unwrap_or_default();
    let path = match source.strip_prefix("models:/") {
        Some(model_id) => format!("ExperimentRun/dcid.{run}/outputs/{model_id}"),
        None => match source.split_once("/artifacts/") {
            Some((_, rest)) => format!("ExperimentRun/dcid.{run}/{rest}"),
            None => format!("ExperimentRun/dcid.{run}"),
        },
    };
    let model_uri = format!(
        "azureml://subscriptions/{subscription}/resourcegroups/{group}/workspaces/{workspace}/datastores/workspaceartifactstore/paths/{path}"
    );
    let tags: serde_json::Map<String, Value> = version["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["key"].as_str()?.to_string(), t["value"].clone())))
        .collect();
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    s.aml.record_mlflow_model((subscription, group, workspace), name, number, &model_uri, Value::Object(tags));
}

/// Keeps the step runs in the MLflow server in line with each pipeline job's [`StepPlan`]s until
/// the stand-in is dropped.
async fn mirror_steps(state: Weak<Mutex<State>>, upstream: String) {
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let request = http.post(format!("{upstream}/api/2.0/mlflow/{path}")).json(&body);
        async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let doc: Value = response.json().await.unwrap_or_default();
            if status.is_success() { Ok(doc) } else { Err(format!("{status}: {doc}")) }
        }
    };
    loop {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let Some(strong) = state.upgrade() else { return };
        let (plans, runs, experiments) = {
            let s = strong.lock().unwrap_or_else(|p| p.into_inner());
            (s.aml.step_plans(Instant::now(), s.step), s.mlflow.step_runs.clone(), s.mlflow.experiments.clone())
        };
        drop(strong);
        for plan in plans {
            let now_ms = || chrono::Utc::now().timestamp_millis();
            for (step, wanted) in &plan.steps {
                let Some(wanted) = *wanted else { continue };
                let key = (plan.job.clone(), step.clone());
                let current = runs.get(&key).cloned();
                if current.as_ref().is_some_and(|(_, status)| *status == wanted) {
                    continue;
                }
                let run_id = match current {
                    Some((run_id, _)) => run_id,
                    None => {
                        let experiment_id = match experiments.get(&plan.experiment) {
                            Some(id) => id.clone(),
                            None => match experiment_id(&post, &plan.experiment).await {
                                Ok(id) => {
                                    remember(&state, |m| m.experiments.insert(plan.experiment.clone(), id.clone()));
                                    id
                                }
                                Err(_) => continue,
                            },
                        };
                        let tags = json!([{"key": "mlflow.parentRunId", "value": plan.job},
                                          {"key": "mlflow.runName", "value": step},
                                          {"key": "azureml.nodeid", "value": step}]);
                        let body = json!({"experiment_id": experiment_id, "run_name": step, "start_time": now_ms(),
                                          "tags": tags});
                        match post("runs/create", body).await {
                            Ok(doc) => doc["run"]["info"]["run_id"].as_str().unwrap_or_default().to_string(),
                            Err(_) => continue,
                        }
                    }
                };
                let mut update = json!({"run_id": run_id, "status": wanted});
                if wanted != "RUNNING" {
                    update["end_time"] = json!(now_ms());
                }
                if post("runs/update", update).await.is_ok() {
                    remember(&state, |m| m.step_runs.insert(key.clone(), (run_id.clone(), wanted)));
                }
            }
        }
    }
}

async fn experiment_id<F, Fut>(post: &F, name: &str) -> Result<String, String>
where
    F: Fn(&str, Value) -> Fut,
    Fut: std::future::Future<Output = Result<Value, String>>,
{
    match post("experiments/create", json!({"name": name})).await {
        Ok(doc) => Ok(doc["experiment_id"].as_str().unwrap_or_default().to_string()),
        // It exists already (made by a run, or by the previous tick).
        Err(_) => {
            let doc =
                post("experiments/search", json!({"filter": format!("name = '{name}'"), "max_results": 1})).await?;
            doc["experiments"][0]["experiment_id"].as_str().map(str::to_string).ok_or_else(|| "no experiment".into())
        }
    }
}

fn remember<R>(state: &Weak<Mutex<State>>, f: impl FnOnce(&mut MlflowPlane) -> R) {
    if let Some(strong) = state.upgrade() {
        let mut s = strong.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s.mlflow);
    }
}

/// `/mlflow/{v1.0|v2.0}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}/{rest}`
/// → (version, canonical workspace scope, rest). Literal segments match case-insensitively.
fn split(path: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(11, '/').collect();
    let literal = |i: usize, want: &str| parts.get(i).is_some_and(|p| p.eq_ignore_ascii_case(want));
    let named = |i: usize| parts.get(i).copied().filter(|p| !p.is_empty());
    let ok = literal(0, "mlflow")
        && (literal(1, "v1.0") || literal(1, "v2.0"))
        && literal(2, "subscriptions")
        && literal(4, "resourceGroups")
        && literal(6, "providers")
        && literal(7, "Microsoft.MachineLearningServices")
        && literal(8, "workspaces");
    let (subscription, group, workspace) = (named(3)?, named(5)?, named(9)?);
    if !ok || !subscription.eq_ignore_ascii_case(super::SUBSCRIPTION) {
        return None;
    }
    let version = parts[1].to_ascii_lowercase();
    Some((version, scope(super::SUBSCRIPTION, group, workspace), parts.get(10).copied().unwrap_or("").to_string()))
}

/// The logged model ids named by `mlflow-artifacts:/<e>/models/<id>/artifacts` locations in `doc`.
fn logged_model_locations(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![doc];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(map) => pending.extend(map.values()),
            Value::Array(items) => pending.extend(items.iter()),
            Value::String(text) => {
                if let Some(id) = logged_model_id(text) {
                    out.push(id);
                }
            }
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

fn logged_model_id(location: &str) -> Option<String> {
    let rest = location.strip_prefix("mlflow-artifacts:")?.trim_start_matches('/');
    let parts: Vec<&str> = rest.split('/').collect();
    (parts.len() >= 3 && parts[1] == "models").then(|| parts[2].to_string())
}

/// A logged model's files are kept with its run's, under `outputs/<model id>` (what the unmodified
/// plugin does with a logged model whose location is below its run's):
/// `mlflow-artifacts:/<e>/models/<id>/artifacts` → `<root>/experiments/<e>/runs/<run>/artifacts/outputs/<id>`.
fn rewrite_model_locations(doc: &mut Value, artifact_root: &str, runs: &HashMap<String, String>) {
    match doc {
        Value::Object(map) => map.values_mut().for_each(|v| rewrite_model_locations(v, artifact_root, runs)),
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_model_locations(v, artifact_root, runs)),
        Value::String(text) => {
            if let Some(id) = logged_model_id(text)
                && let Some(run) = runs.get(&id)
            {
                let experiment = text.trim_start_matches("mlflow-artifacts:").trim_start_matches('/');
                let experiment = experiment.split('/').next().unwrap_or_default();
                *text = format!("{artifact_root}/experiments/{experiment}/runs/{run}/artifacts/outputs/{id}");
            }
        }
        _ => {}
    }
}

/// `mlflow-artifacts:/1/<run>/artifacts` → `azureml://<host>/mlflow/v2.0/<scope>/experiments/1/runs/<run>/artifacts`,
/// wherever a response names an artifact location.
fn rewrite_artifact_locations(doc: &mut Value, artifact_root: &str) {
    match doc {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if matches!(key.as_str(), "artifact_uri" | "artifact_location")
                    && let Value::String(text) = value
                    && let Some(rest) = text.strip_prefix("mlflow-artifacts:")
                {
                    let rest = rest.trim_start_matches('/');
                    let path = match rest.split_once('/') {
                        Some((experiment, tail)) => match tail.split_once('/') {
                            Some((run, more)) => format!("experiments/{experiment}/runs/{run}/{more}"),
                            None => format!("experiments/{experiment}/{tail}"),
                        },
                        None => format!("experiments/{rest}"),
                    };
                    *text = format!("{artifact_root}/{path}");
                } else {
                    rewrite_artifact_locations(value, artifact_root);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rewrite_artifact_locations(item, artifact_root)),
        _ => {}
    }
}

fn bearer(headers: &hyper::HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// MLflow's error envelope (Azure ML's MLflow endpoint answers in it, not in ARM's).
fn error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&json!({"error_code": code, "message": message})).unwrap_or_default();
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json; charset=utf-8")
        .header("x-ms-request-id", uuid::Uuid::new_v4().to_string())
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_artifact_locations() {
        let path = format!(
            "/mlflow/v2.0/subscriptions/{}/resourcegroups/rg/providers/microsoft.machinelearningservices/workspaces/ws/api/2.0/mlflow/runs/get",
            super::super::SUBSCRIPTION
        );
        let (version, scope, rest) = split(&path).expect("workspace path");
        assert_eq!((version.as_str(), rest.as_str()), ("v2.0", "api/2.0/mlflow/runs/get"));
        assert!(scope.contains("/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"));
        assert!(split(&path.replace("resourcegroups", "resourcegroup")).is_none());
        let mut doc = json!({"run": {"info": {"artifact_uri": "mlflow-artifacts:/3/abc/artifacts"}}});
        rewrite_artifact_locations(&mut doc, "azureml://h/mlflow/v2.0/S");
        assert_eq!(doc["run"]["info"]["artifact_uri"], "azureml://h/mlflow/v2.0/S/experiments/3/runs/abc/artifacts");
    }
}
