//! MLflow 3 logged models: created PENDING for a run, filled with files, then marked READY.

use reqwest::Method;
use serde_json::json;

use super::MlflowClient;
use super::decode::logged_model_from_json;
use crate::http::HttpError;

/// A logged model (MLflow 3) as the server returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedModel {
    pub model_id: String,
    pub artifact_uri: String,
}

impl MlflowClient {
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
        self.request(Method::PATCH, &format!("api/2.0/mlflow/logged-models/{model_id}"), &[], Some(&body))
            .await
            .map(|_| ())
    }

    /// `runs/outputs`: records the logged model as an output of the run.
    pub async fn log_outputs(&self, run_id: &str, model_id: &str) -> Result<(), HttpError> {
        let body = json!({"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]});
        self.post("api/2.0/mlflow/runs/outputs", body).await.map(|_| ())
    }
}
