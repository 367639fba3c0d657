//! Experiments, runs and their metrics: the tracking half of the API.

use reqwest::Method;
use serde_json::{Value, json};

use super::decode::{experiment_from_json, metric_from_json, run_from_json, run_info_from_json, text};
use super::{ListCall, MlflowClient, batches};
use crate::http::HttpError;
use crate::tracking::{DatasetInput, Experiment, Metric, Run, RunInfo, RunStatus};

impl MlflowClient {
    /// `experiments/get-by-name`; `None` when the server says it does not exist.
    pub async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>, HttpError> {
        match self.get("api/2.0/mlflow/experiments/get-by-name", &[("experiment_name", name)]).await {
            Ok(doc) => Ok(Some(experiment_from_json(&doc["experiment"]))),
            Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(None),
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
            Err(e) if e.code() == Some("RESOURCE_ALREADY_EXISTS") => self.get_experiment_by_name(name).await?.ok_or(e),
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
        let query = [("run_id", run_id), ("metric_key", key)];
        let list = ListCall {
            method: Method::GET,
            path: "api/2.0/mlflow/metrics/get-history",
            query: &query,
            body: Value::Null,
            items: "metrics",
            page_size: 25_000,
        };
        Ok(self.list_all(list, usize::MAX).await?.iter().map(metric_from_json).collect())
    }

    /// `runs/search`, following pages until `max_results` runs are collected.
    pub async fn search_runs(
        &self,
        experiment_ids: &[String],
        filter: Option<&str>,
        order_by: &[String],
        max_results: usize,
    ) -> Result<Vec<Run>, HttpError> {
        let list = ListCall {
            method: Method::POST,
            path: "api/2.0/mlflow/runs/search",
            query: &[],
            body: json!({
                "experiment_ids": experiment_ids,
                "filter": filter.unwrap_or(""),
                "order_by": order_by,
                "run_view_type": "ACTIVE_ONLY",
            }),
            items: "runs",
            page_size: 1000,
        };
        Ok(self.list_all(list, max_results).await?.iter().map(run_from_json).collect())
    }

    /// Active experiments, all pages.
    pub async fn search_experiments(&self) -> Result<Vec<Experiment>, HttpError> {
        let list = ListCall {
            method: Method::POST,
            path: "api/2.0/mlflow/experiments/search",
            query: &[],
            body: json!({"view_type": "ACTIVE_ONLY"}),
            items: "experiments",
            page_size: 1000,
        };
        Ok(self.list_all(list, usize::MAX).await?.iter().map(experiment_from_json).collect())
    }
}
