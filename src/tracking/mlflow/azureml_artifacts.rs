//! Run files on an Azure ML workspace, as the `azureml-mlflow` plugin moves them: the
//! workspace's run history service (`/history/v1.0/…/experiments/{e}/runs/{r}/artifacts`) hands
//! out a SAS URL per file in the workspace's default datastore, and the bytes go to Blob storage.
//! No `api-version`, the same ARM token as the MLflow calls (see azureml-artifacts.md §2).

use std::collections::HashMap;
use std::path::Path;

use futures::TryStreamExt;
use reqwest::{Method, Url};
use serde_json::json;

use super::MlflowClient;
use crate::azure::blob_transfer::{SasUrlSource, UploadSource};
use crate::http::HttpError;

/// Paths per `batch/metadata` call, as the plugin sends them (`AZUREML_ARTIFACT_BATCH_SIZE`).
const BATCH: usize = 50;
/// Files moved at once (each may have several blocks in flight).
const PARALLEL_FILES: usize = 4;

/// The run and path prefix an `azureml://…/experiments/{e}/runs/{r}/artifacts[/sub]` URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArtifactLocation {
    pub experiment: String,
    pub run_id: String,
    /// The part after `/artifacts`, without slashes at either end: a prefix of every path.
    pub prefix: String,
}

impl RunArtifactLocation {
    /// Parses the run part of an artifact URI, as the plugin's `get_artifact_repository` does:
    /// only the experiment segment, the run id and the suffix after `/artifacts` are used; the
    /// host and workspace come from the tracking client.
    pub fn parse(artifact_uri: &str) -> Option<Self> {
        let rest = artifact_uri.strip_prefix("azureml://")?;
        let at = rest.rfind("/experiments/")?;
        let tail = &rest[at + "/experiments/".len()..];
        let (experiment, tail) = tail.split_once("/runs/")?;
        let (run_id, suffix) = tail.split_once('/').unwrap_or((tail, ""));
        let prefix = match suffix.strip_prefix("artifacts") {
            Some(p) if p.is_empty() || p.starts_with('/') => p.trim_matches('/').to_string(),
            _ => return None,
        };
        if experiment.is_empty() || experiment.contains('/') || run_id.is_empty() {
            return None;
        }
        Some(RunArtifactLocation { experiment: experiment.to_string(), run_id: run_id.to_string(), prefix })
    }

    /// The run-relative path of `relative` below this location.
    fn full(&self, relative: &str) -> String {
        if self.prefix.is_empty() { relative.to_string() } else { format!("{}/{relative}", self.prefix) }
    }
}

impl MlflowClient {
    /// `https://<host>/history/v1.0/<workspace scope>/experiments/{e}/runs/{r}/artifacts{tail}`.
    fn history_url(&self, location: &RunArtifactLocation, tail: &str) -> Result<Url, HttpError> {
        let path = self.base.path();
        let scope = ["/mlflow/v2.0/", "/mlflow/v1.0/"]
            .iter()
            .find_map(|p| path.strip_prefix(p))
            .ok_or_else(|| HttpError::client(format!("{} is not an Azure ML MLflow endpoint", self.endpoint())))?;
        let mut url = self.base.clone();
        url.set_path(&format!("/history/v1.0/{}", scope.trim_end_matches('/')));
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.extend(["experiments", &location.experiment, "runs", &location.run_id, "artifacts"]);
            segments.extend(tail.split('/').filter(|s| !s.is_empty()));
        }
        Ok(url)
    }

    /// `batch/metadata`: a write URL for each run-relative path.
    async fn artifact_write_urls(
        &self,
        location: &RunArtifactLocation,
        paths: &[String],
    ) -> Result<HashMap<String, Url>, HttpError> {
        let url = self.history_url(location, "batch/metadata")?;
        let body = json!({"paths": paths.iter().map(|p| json!({"path": p})).collect::<Vec<_>>()});
        let doc = self.request_url(Method::POST, url.clone(), &[], Some(&body)).await?;
        if let Some(errors) = doc["errors"].as_object().filter(|e| !e.is_empty()) {
            let (path, error) = errors.iter().next().map(|(p, e)| (p.clone(), e.clone())).unwrap_or_default();
            return Err(HttpError::decode(
                "POST",
                &url,
                format!(
                    "the artifact service refused {path:?}: {}: {}",
                    error["error"]["code"].as_str().unwrap_or("?"),
                    error["error"]["message"].as_str().unwrap_or("")
                ),
            ));
        }
        let mut out = HashMap::new();
        for path in paths {
            let uri = doc["artifactContentInformation"][path]["contentUri"].as_str().ok_or_else(|| {
                HttpError::decode("POST", &url, format!("no contentUri for {path:?} in the artifact service's answer"))
            })?;
            let parsed = Url::parse(uri)
                .map_err(|e| HttpError::decode("POST", &url, format!("contentUri of {path:?} is not a URL: {e}")))?;
            out.insert(path.clone(), parsed);
        }
        Ok(out)
    }

    /// `contentinfo`: a read URL for a run-relative path.
    async fn artifact_read_url(&self, location: &RunArtifactLocation, path: &str) -> Result<Url, HttpError> {
        let url = self.history_url(location, "contentinfo")?;
        let doc = self.request_url(Method::GET, url.clone(), &[("path", path)], None).await?;
        let uri = doc["contentUri"]
            .as_str()
            .ok_or_else(|| HttpError::decode("GET", &url, format!("no contentUri for {path:?}")))?;
        Url::parse(uri).map_err(|e| HttpError::decode("GET", &url, format!("contentUri of {path:?} is not a URL: {e}")))
    }

    /// Every file below an `azureml://…/runs/{r}/artifacts[/sub]` URI, relative to it, sorted.
    /// The service lists the whole run (following `nextLink`); the prefix is applied here, as
    /// the plugin does.
    pub async fn list_azureml_artifacts(&self, artifact_uri: &str) -> Result<Vec<String>, HttpError> {
        let location = location(artifact_uri)?;
        let mut url = self.history_url(&location, "")?;
        let mut files = Vec::new();
        loop {
            let doc = self.request_url(Method::GET, url.clone(), &[], None).await?;
            for item in doc["value"].as_array().into_iter().flatten() {
                let Some(path) = item["path"].as_str() else { continue };
                let relative = if location.prefix.is_empty() {
                    Some(path)
                } else {
                    path.strip_prefix(&location.prefix).and_then(|r| r.strip_prefix('/'))
                };
                if let Some(relative) = relative {
                    files.push(relative.to_string());
                }
            }
            match (doc["nextLink"].as_str(), doc["continuationToken"].as_str()) {
                (Some(next), _) if !next.is_empty() => {
                    url = Url::parse(next).map_err(|e| HttpError::decode("GET", &url, e.to_string()))?;
                }
                (_, Some(token)) if !token.is_empty() => {
                    let mut next = self.history_url(&location, "")?;
                    next.query_pairs_mut().append_pair("continuationToken", token);
                    url = next;
                }
                _ => break,
            }
        }
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// Uploads files below an `azureml://` artifact URI: write URLs in batches, then the bytes to
    /// Blob storage, a few files at once. Returns the bytes sent.
    pub async fn upload_azureml_artifacts(
        &self,
        artifact_uri: &str,
        items: Vec<(String, UploadSource)>,
    ) -> Result<u64, HttpError> {
        let location = location(artifact_uri)?;
        let mut sent = 0;
        for batch in items.chunks(BATCH) {
            let paths: Vec<String> = batch.iter().map(|(relative, _)| location.full(relative)).collect();
            let urls = self.artifact_write_urls(&location, &paths).await?;
            let location = &location;
            let urls = &urls;
            sent += futures::stream::iter(batch.iter().map(Ok))
                .map_ok(|(relative, source)| async move {
                    let path = location.full(relative);
                    let url =
                        urls.get(&path).cloned().ok_or_else(|| HttpError::client(format!("no URL for {path}")))?;
                    let renew = WriteUrl { client: self, location, path: path.clone() };
                    self.transfer.upload(relative, source, url, &renew).await
                })
                .try_buffer_unordered(PARALLEL_FILES)
                .try_fold(0u64, |total, bytes| async move { Ok(total + bytes) })
                .await?;
        }
        Ok(sent)
    }

    /// Downloads one file below an `azureml://` artifact URI to `dest`, streamed.
    pub async fn download_azureml_artifact(
        &self,
        artifact_uri: &str,
        relative: &str,
        dest: &Path,
    ) -> Result<u64, HttpError> {
        let location = location(artifact_uri)?;
        let path = location.full(relative);
        let url = self.artifact_read_url(&location, &path).await?;
        let renew = ReadUrl { client: self, location: &location, path: path.clone() };
        self.transfer.download(relative, url, dest, &renew).await
    }
}

fn location(artifact_uri: &str) -> Result<RunArtifactLocation, HttpError> {
    RunArtifactLocation::parse(artifact_uri).ok_or_else(|| {
        HttpError::client(format!(
            "{artifact_uri:?} is not an Azure ML run artifact location (azureml://…/experiments/<id>/runs/<run>/artifacts)"
        ))
    })
}

/// A new write URL for one path, from `batch/metadata`.
struct WriteUrl<'a> {
    client: &'a MlflowClient,
    location: &'a RunArtifactLocation,
    path: String,
}

#[async_trait::async_trait]
impl SasUrlSource for WriteUrl<'_> {
    async fn renew(&self) -> Result<Url, HttpError> {
        let urls = self.client.artifact_write_urls(self.location, std::slice::from_ref(&self.path)).await?;
        urls.get(&self.path).cloned().ok_or_else(|| HttpError::client(format!("no URL for {}", self.path)))
    }
}

/// A new read URL for one path, from `contentinfo`.
struct ReadUrl<'a> {
    client: &'a MlflowClient,
    location: &'a RunArtifactLocation,
    path: String,
}

#[async_trait::async_trait]
impl SasUrlSource for ReadUrl<'_> {
    async fn renew(&self) -> Result<Url, HttpError> {
        self.client.artifact_read_url(self.location, &self.path).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_run_artifact_locations_as_the_plugin_does() {
        let base = "azureml://h:1/mlflow/v2.0/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w";
        let at = |uri: &str| RunArtifactLocation::parse(uri);
        assert_eq!(
            at(&format!("{base}/experiments/7/runs/abc/artifacts")),
            Some(RunArtifactLocation { experiment: "7".into(), run_id: "abc".into(), prefix: String::new() })
        );
        assert_eq!(
            at(&format!("{base}/experiments/7/runs/abc/artifacts/outputs/m-1/")).map(|l| l.prefix),
            Some("outputs/m-1".into())
        );
        assert_eq!(at(&format!("{base}/experiments/7/runs/abc/other")), None);
        assert_eq!(at("mlflow-artifacts:/1/abc/artifacts"), None);
        let location = at(&format!("{base}/experiments/7/runs/abc/artifacts/outputs/m-1")).expect("location");
        assert_eq!(location.full("MLmodel"), "outputs/m-1/MLmodel");
    }
}
