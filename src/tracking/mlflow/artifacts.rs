//! Files below a run's artifact location: through the server's `mlflow-artifacts` proxy, and which kind of
//! location (proxy, local path, elsewhere) a server gave.

use reqwest::Method;

use super::MlflowClient;
use crate::http::{self, HttpError};

impl MlflowClient {
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
            let response = request.send().await.map_err(|e| HttpError::from_reqwest_error(&Method::PUT, &url, e))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(HttpError::from_reqwest(&Method::PUT, response).await)
            }
        };
        http::send_with_retries(&self.retry, &Method::PUT, &url, attempt).await
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
                .map_err(|e| HttpError::from_reqwest_error(&Method::GET, &url, e))?;
            if !response.status().is_success() {
                return Err(HttpError::from_reqwest(&Method::GET, response).await);
            }
            response.bytes().await.map(|b| b.to_vec()).map_err(|e| HttpError::from_reqwest_error(&Method::GET, &url, e))
        };
        http::send_with_retries(&self.retry, &Method::GET, &url, attempt).await
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
}

/// What kind of artifact location a server gave a run or logged model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactStore {
    /// `mlflow-artifacts:…`: files go through the server's artifact proxy.
    Proxy,
    /// A local path or `file:` URI (`mlflow server --no-serve-artifacts`, or a file-store backend's
    /// own experiments): MLflow's client writes the files there directly, on its own machine.
    LocalPath(std::path::PathBuf),
    /// An Azure ML run's artifacts (`azureml://…/experiments/{e}/runs/{r}/artifacts…`): files go
    /// through the workspace's run history service to Blob storage, as the azureml-mlflow plugin
    /// moves them.
    AzureMl,
    /// Anything else (`s3://…`, an `azureml://` location that names no run), which MLflow's
    /// client writes through a plugin mlops does not have.
    Elsewhere,
}

/// Classifies an artifact location as MLflow's `get_artifact_repository` would pick a repository.
pub fn artifact_store(artifact_uri: &str) -> ArtifactStore {
    if artifact_uri.starts_with("mlflow-artifacts:") {
        return ArtifactStore::Proxy;
    }
    if super::azureml_artifacts::RunArtifactLocation::parse(artifact_uri).is_some() {
        return ArtifactStore::AzureMl;
    }
    if let Some(rest) = artifact_uri.strip_prefix("file://") {
        return ArtifactStore::LocalPath(crate::tracking::uri::percent_decode(rest).into());
    }
    if let Some(rest) = artifact_uri.strip_prefix("file:") {
        return ArtifactStore::LocalPath(crate::tracking::uri::percent_decode(rest).into());
    }
    // No scheme at all: a plain path (absolute, as servers resolve it, or relative to the client).
    let scheme = artifact_uri.split_once(':').map(|(s, _)| s).filter(|s| !s.contains('/'));
    match scheme {
        None if !artifact_uri.is_empty() => ArtifactStore::LocalPath(artifact_uri.into()),
        _ => ArtifactStore::Elsewhere,
    }
}

/// Whether mlops can put files below a server's artifact location (proxy, local path, Azure ML run).
pub fn artifacts_writable(artifact_uri: &str) -> bool {
    artifact_store(artifact_uri) != ArtifactStore::Elsewhere
}

/// `mlflow-artifacts:/1/<run>/artifacts` (or `mlflow-artifacts://host/…`) → the proxy's HTTP path.
fn artifact_http_path(artifact_uri: &str) -> Result<String, HttpError> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:").ok_or_else(|| {
        HttpError::client(format!(
            "the server gave artifact location {artifact_uri:?}, which a remote client cannot write; start it with --serve-artifacts (the default in MLflow 3)"
        ))
    })?;
    let path = match rest.strip_prefix("//") {
        Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
        None => rest.trim_start_matches('/'),
    };
    Ok(format!("api/2.0/mlflow-artifacts/artifacts/{}", path.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(artifacts_writable("azureml://h/mlflow/v2.0/subscriptions/s/experiments/e/runs/abc/artifacts"));
        assert!(!artifacts_writable("azureml://artifacts/LocalUpload/c/model"));
        assert!(!artifacts_writable("s3://bucket/abc"));
        assert_eq!(
            artifact_store("/srv/mlruns/1/abc/artifacts"),
            ArtifactStore::LocalPath("/srv/mlruns/1/abc/artifacts".into())
        );
        assert_eq!(artifact_store("file:///srv/a%20b"), ArtifactStore::LocalPath("/srv/a b".into()));
    }
}
