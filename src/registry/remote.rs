//! The registry of an MLflow server: `registered-models/*`, `model-versions/*` and aliases, with
//! the server's source rules (an MLflow 3 logged model `models:/m-…` with its `model_id`).

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use super::{ModelVersion, NewVersion, RegisteredModel, RegistryError};
use crate::http::HttpError;
use crate::tracking::mlflow::{ListCall, MlflowClient, artifacts_writable};
use crate::tracking::sync::TAG_SOURCE_RUN_ID;

/// Version tag: `local-only` when the model's files are not on the server (see `create_local_only_version`).
pub const TAG_ARTIFACTS: &str = "mlops.artifacts";
/// Version tag: the run in the local store that holds the model's files.
pub const TAG_LOCAL_RUN_ID: &str = "mlops.local_run_id";

/// The registry on an MLflow tracking server.
#[derive(Debug, Clone)]
pub struct RemoteRegistry {
    client: MlflowClient,
}

impl RemoteRegistry {
    pub fn new(client: MlflowClient) -> Self {
        RemoteRegistry { client }
    }

    fn remote(&self) -> impl Fn(HttpError) -> RegistryError + '_ {
        |source| RegistryError::Remote { uri: self.client.endpoint().to_string(), source: Box::new(source) }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value, RegistryError> {
        self.client.request(method, path, query, body.as_ref()).await.map_err(self.remote())
    }

    fn not_found(err: &RegistryError) -> bool {
        matches!(err, RegistryError::Remote { source, .. } if source.code() == Some("RESOURCE_DOES_NOT_EXIST"))
    }

    pub async fn create_version(&self, new: &NewVersion) -> Result<ModelVersion, RegistryError> {
        let model_ids = self.client.run_model_ids(&new.run_id).await.map_err(self.remote())?;
        let Some(model_id) = model_ids.first() else {
            return self.create_local_only_version(new).await;
        };
        let created = self
            .call(Method::POST, "api/2.0/mlflow/registered-models/create", &[], Some(json!({"name": new.name})))
            .await;
        match created {
            Ok(_) => {}
            Err(RegistryError::Remote { source, .. }) if source.code() == Some("RESOURCE_ALREADY_EXISTS") => {}
            Err(e) => return Err(e),
        }
        let tags: Vec<Value> = new.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let mut body = json!({"name": new.name, "source": format!("models:/{model_id}"), "model_id": model_id, "run_id": new.run_id, "tags": tags});
        if let Some(description) = &new.description {
            body["description"] = json!(description);
        }
        let doc = self.call(Method::POST, "api/2.0/mlflow/model-versions/create", &[], Some(body)).await?;
        Ok(version_from_json(&doc["model_version"]))
    }

    /// A version of a run pushed by mlops to a server whose artifact store it cannot write
    /// (Azure ML): the source is where the model would be on the server (MLflow 2's
    /// `<artifact_uri>/model`), and tags say that its files are in the local store only.
    async fn create_local_only_version(&self, new: &NewVersion) -> Result<ModelVersion, RegistryError> {
        let run = self.client.get_run(&new.run_id).await.map_err(self.remote())?;
        let local_run = run.tags.get(TAG_SOURCE_RUN_ID);
        let (Some(local_run), false) = (local_run, artifacts_writable(&run.info.artifact_uri)) else {
            return Err(RegistryError::NoModel { run_id: new.run_id.clone() });
        };
        let mut tags = new.tags.clone();
        tags.insert(TAG_ARTIFACTS.to_string(), "local-only".to_string());
        tags.insert(TAG_LOCAL_RUN_ID.to_string(), local_run.clone());
        self.call(Method::POST, "api/2.0/mlflow/registered-models/create", &[], Some(json!({"name": new.name})))
            .await
            .or_else(|e| match e {
                RegistryError::Remote { source, .. } if source.code() == Some("RESOURCE_ALREADY_EXISTS") => {
                    Ok(Value::Null)
                }
                e => Err(e),
            })?;
        let tags: Vec<Value> = tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let source = format!("{}/model", run.info.artifact_uri.trim_end_matches('/'));
        let mut body = json!({"name": new.name, "source": source, "run_id": new.run_id, "tags": tags});
        if let Some(description) = &new.description {
            body["description"] = json!(description);
        }
        let doc = self.call(Method::POST, "api/2.0/mlflow/model-versions/create", &[], Some(body)).await?;
        Ok(version_from_json(&doc["model_version"]))
    }

    pub async fn versions(&self, name: &str) -> Result<Vec<ModelVersion>, RegistryError> {
        self.model(name).await?;
        let filter = format!("name='{}'", name.replace('\'', "\\'"));
        let query = [("filter", filter.as_str())];
        let list = ListCall {
            method: Method::GET,
            path: "api/2.0/mlflow/model-versions/search",
            query: &query,
            body: Value::Null,
            items: "model_versions",
            page_size: 1000,
        };
        let mut out: Vec<ModelVersion> = self
            .client
            .list_all(list, usize::MAX)
            .await
            .map_err(self.remote())?
            .iter()
            .map(version_from_json)
            .collect();
        // Search results carry no aliases; take them from the registered model.
        let aliases = self.model(name).await?.aliases;
        for v in &mut out {
            v.aliases = aliases.iter().filter(|(_, n)| **n == v.version).map(|(a, _)| a.clone()).collect();
        }
        out.sort_by_key(|v| v.version);
        Ok(out)
    }

    pub async fn version(&self, name: &str, version: u64) -> Result<ModelVersion, RegistryError> {
        let v = version.to_string();
        match self
            .call(Method::GET, "api/2.0/mlflow/model-versions/get", &[("name", name), ("version", &v)], None)
            .await
        {
            Ok(doc) => Ok(version_from_json(&doc["model_version"])),
            Err(e) if Self::not_found(&e) => {
                self.model(name).await?;
                Err(RegistryError::VersionNotFound { name: name.to_string(), version: v })
            }
            Err(e) => Err(e),
        }
    }

    pub async fn by_alias(&self, name: &str, alias: &str) -> Result<Option<ModelVersion>, RegistryError> {
        match self
            .call(Method::GET, "api/2.0/mlflow/registered-models/alias", &[("name", name), ("alias", alias)], None)
            .await
        {
            Ok(doc) => Ok(Some(version_from_json(&doc["model_version"]))),
            Err(e) if Self::not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<(), RegistryError> {
        self.version(name, version).await?;
        let body = json!({"name": name, "alias": alias, "version": version.to_string()});
        self.call(Method::POST, "api/2.0/mlflow/registered-models/alias", &[], Some(body)).await.map(|_| ())
    }

    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<(), RegistryError> {
        if self.by_alias(name, alias).await?.is_none() {
            self.model(name).await?;
            return Err(RegistryError::AliasNotFound { name: name.to_string(), alias: alias.to_string() });
        }
        let body = json!({"name": name, "alias": alias});
        self.call(Method::DELETE, "api/2.0/mlflow/registered-models/alias", &[], Some(body)).await.map(|_| ())
    }

    pub async fn models(&self) -> Result<Vec<RegisteredModel>, RegistryError> {
        let list = ListCall {
            method: Method::GET,
            path: "api/2.0/mlflow/registered-models/search",
            query: &[],
            body: Value::Null,
            items: "registered_models",
            page_size: 1000,
        };
        let mut out: Vec<RegisteredModel> =
            self.client.list_all(list, usize::MAX).await.map_err(self.remote())?.iter().map(model_from_json).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub async fn model(&self, name: &str) -> Result<RegisteredModel, RegistryError> {
        match self.call(Method::GET, "api/2.0/mlflow/registered-models/get", &[("name", name)], None).await {
            Ok(doc) => Ok(model_from_json(&doc["registered_model"])),
            Err(e) if Self::not_found(&e) => Err(RegistryError::ModelNotFound { name: name.to_string() }),
            Err(e) => Err(e),
        }
    }

    /// The client, for downloading a version's files.
    pub fn client(&self) -> &MlflowClient {
        &self.client
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(v: &Value) -> u64 {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or(0)
}

fn version_from_json(doc: &Value) -> ModelVersion {
    ModelVersion {
        name: text(&doc["name"]).unwrap_or_default(),
        version: number(&doc["version"]),
        source: text(&doc["source"]).unwrap_or_default(),
        run_id: text(&doc["run_id"]),
        // The server stores the logged model in `source` (`models:/m-…`) and may omit `model_id`.
        model_id: text(&doc["model_id"]).or_else(|| {
            text(&doc["source"])
                .and_then(|s| s.strip_prefix("models:/").filter(|id| id.starts_with("m-")).map(str::to_string))
        }),
        description: text(&doc["description"]),
        creation_timestamp: doc["creation_timestamp"].as_i64().unwrap_or(0),
        tags: doc["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| (text(&t["key"]).unwrap_or_default(), text(&t["value"]).unwrap_or_default()))
            .collect::<BTreeMap<_, _>>(),
        aliases: doc["aliases"].as_array().into_iter().flatten().filter_map(text).collect(),
    }
}

fn model_from_json(doc: &Value) -> RegisteredModel {
    RegisteredModel {
        name: text(&doc["name"]).unwrap_or_default(),
        description: text(&doc["description"]),
        creation_timestamp: doc["creation_timestamp"].as_i64().unwrap_or(0),
        latest_version: doc["latest_versions"].as_array().into_iter().flatten().map(|v| number(&v["version"])).max(),
        aliases: doc["aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| (text(&a["alias"]).unwrap_or_default(), number(&a["version"])))
            .collect(),
    }
}
