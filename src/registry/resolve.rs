//! Turning a model reference (a directory, `runs:/…`, `models:/NAME@ALIAS`, `models:/NAME/N`)
//! into a model directory on disk: the one place every command that loads a model asks. Models on
//! a tracking server are downloaded into a cache first.

use std::path::{Path, PathBuf};

use super::remote::{TAG_ARTIFACTS, TAG_LOCAL_RUN_ID};
use super::{Registry, RegistryError};
use crate::http::HttpError;
use crate::tracking::mlflow::{ArtifactStore, MlflowClient, artifact_store, artifacts_writable};
use crate::tracking::sync::TAG_SOURCE_RUN_ID;
use crate::tracking::{LocalStore, ModelRef, StoreError, Tracker};

/// A model directory and the name and version it is known by (for logs and request records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    pub dir: PathBuf,
    /// What the user asked for: the directory, or the URI as typed.
    pub name: String,
    /// The run id for `runs:/`, the version number for `models:/`; none for a bare directory.
    pub version: Option<String>,
}

/// Finds (downloading into `cache` if it is on a server) the directory of `model`.
pub async fn resolve_model(model: &ModelRef, tracker: &Tracker, cache: &Path) -> Result<ResolvedModel, RegistryError> {
    match model {
        ModelRef::Dir(dir) => Ok(ResolvedModel { dir: dir.clone(), name: dir.display().to_string(), version: None }),
        ModelRef::Run { run_id, path } => {
            let name = format!("runs:/{run_id}/{path}");
            let dir = match tracker {
                Tracker::Local(store) => store.artifact_dir(run_id)?.join(path),
                Tracker::Remote { client, journal } => {
                    let remote =
                        |source| RegistryError::Remote { uri: client.endpoint().to_string(), source: Box::new(source) };
                    let run = super::release::get_run(tracker, run_id).await?;
                    let models =
                        client.find_logged_models(&run.info.experiment_id, run_id, path).await.map_err(remote)?;
                    let Some(logged) = models.first() else {
                        return match run.tags.get(TAG_SOURCE_RUN_ID) {
                            Some(local_run) if !artifacts_writable(&run.info.artifact_uri) => {
                                let dir = local_copy(journal, &name, local_run, path)?;
                                Ok(ResolvedModel { dir, name, version: Some(run_id.clone()) })
                            }
                            // MLflow 2's layout (and what `log_artifacts` makes): the model is
                            // plain run artifacts below `<artifact_uri>/<path>`.
                            _ if artifacts_writable(&run.info.artifact_uri) => {
                                let dest = cache.join("runs").join(run_id).join(path);
                                let source = format!("{}/{path}", run.info.artifact_uri.trim_end_matches('/'));
                                download(client, &source, &dest).await?;
                                if !dest.join("MLmodel").is_file() {
                                    return Err(RegistryError::NoModel { run_id: run_id.clone() });
                                }
                                Ok(ResolvedModel { dir: dest, name, version: Some(run_id.clone()) })
                            }
                            _ => Err(RegistryError::NoModel { run_id: run_id.clone() }),
                        };
                    };
                    let dest = logged_model_cache(cache, &logged.model_id);
                    download(client, &logged.artifact_uri, &dest).await?;
                    dest
                }
            };
            Ok(ResolvedModel { dir, name, version: Some(run_id.clone()) })
        }
        ModelRef::Registered { name, selector } => {
            let registry = Registry::of(tracker);
            let uri = format!("models:/{name}{selector}");
            let version = registry.select(name, selector).await?;
            let dir = match tracker {
                Tracker::Local(_) => local_source(&version.source)?,
                Tracker::Remote { journal, .. }
                    if version.model_id.is_none()
                        && version.tags.get(TAG_ARTIFACTS).map(String::as_str) == Some("local-only") =>
                {
                    let local_run = version.tags.get(TAG_LOCAL_RUN_ID).cloned().unwrap_or_default();
                    local_copy(journal, &uri, &local_run, "model")?
                }
                Tracker::Remote { client, .. } => {
                    let remote =
                        |source| RegistryError::Remote { uri: client.endpoint().to_string(), source: Box::new(source) };
                    let model_id = version
                        .model_id
                        .clone()
                        .ok_or_else(|| RegistryError::NoModel { run_id: version.run_id.clone().unwrap_or_default() })?;
                    let logged = client.get_logged_model(&model_id).await.map_err(remote)?;
                    let dest = logged_model_cache(cache, &model_id);
                    download(client, &logged.artifact_uri, &dest).await?;
                    dest
                }
            };
            Ok(ResolvedModel { dir, name: uri, version: Some(version.version.to_string()) })
        }
    }
}

/// Where a logged model's files are cached: by its id, which names one immutable set of files, so
/// a model reached as `runs:/…` and as any number of registered versions is downloaded once, and a
/// registry name deleted and reused never serves the old files.
fn logged_model_cache(cache: &Path, model_id: &str) -> PathBuf {
    cache.join("logged-models").join(model_id)
}

/// The model directory `path` of a local run whose files never went to the server.
fn local_copy(journal: &LocalStore, what: &str, local_run_id: &str, path: &str) -> Result<PathBuf, RegistryError> {
    let dir = journal.artifact_dir(local_run_id).ok().map(|d| d.join(path)).filter(|d| d.join("MLmodel").is_file());
    dir.ok_or_else(|| RegistryError::LocalOnly { what: what.to_string(), local_run_id: local_run_id.to_string() })
}

/// The directory a local version's `file://` source names.
fn local_source(source: &str) -> Result<PathBuf, RegistryError> {
    source.strip_prefix("file://").map(PathBuf::from).ok_or_else(|| {
        RegistryError::Store(StoreError::Unsupported {
            what: source.to_string(),
            message: "a local registry version must point at a file:// model directory".to_string(),
        })
    })
}

/// Downloads every file below an artifact URI into `dest` (skipped when a complete copy is there).
pub async fn download(client: &MlflowClient, artifact_uri: &str, dest: &Path) -> Result<(), RegistryError> {
    let marker = dest.join(".mlops-complete");
    if marker.is_file() {
        return Ok(());
    }
    let io = |path: &Path, source| RegistryError::Store(StoreError::Io { path: path.to_path_buf(), source });
    // A server without an artifact proxy gave a local path: read it directly, as MLflow's client does.
    if let ArtifactStore::LocalPath(dir) = artifact_store(artifact_uri) {
        copy_dir(&dir, dest)?;
        return std::fs::write(&marker, b"").map_err(|e| io(&marker, e));
    }
    let remote =
        |source: HttpError| RegistryError::Remote { uri: client.endpoint().to_string(), source: Box::new(source) };
    // Azure ML: each file streamed from Blob storage to disk, never held whole in memory.
    if artifact_store(artifact_uri) == ArtifactStore::AzureMl {
        let files = client.list_azureml_artifacts(artifact_uri).await.map_err(remote)?;
        if files.is_empty() {
            // Nothing there: no marker, so a later upload is not hidden by an empty cache entry.
            return Ok(());
        }
        for relative in files {
            if relative.split('/').any(|part| part == ".." || part.is_empty()) {
                continue;
            }
            client.download_azureml_artifact(artifact_uri, &relative, &dest.join(&relative)).await.map_err(remote)?;
        }
        std::fs::create_dir_all(dest).map_err(|e| io(dest, e))?;
        return std::fs::write(&marker, b"").map_err(|e| io(&marker, e));
    }
    for relative in client.list_artifacts(artifact_uri).await.map_err(remote)? {
        if relative.split('/').any(|part| part == ".." || part.is_empty()) {
            continue;
        }
        let bytes = client.download_artifact(artifact_uri, &relative).await.map_err(remote)?;
        let path = dest.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
    }
    std::fs::write(&marker, b"").map_err(|e| io(&marker, e))
}

/// Copies a local model directory to `dest`.
pub fn copy_dir(src: &Path, dest: &Path) -> Result<(), RegistryError> {
    let io = |path: &Path, source| RegistryError::Store(StoreError::Io { path: path.to_path_buf(), source });
    std::fs::create_dir_all(dest).map_err(|e| io(dest, e))?;
    for entry in std::fs::read_dir(src).map_err(|e| io(src, e))? {
        let entry = entry.map_err(|e| io(src, e))?;
        let target = dest.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(|e| io(&entry.path(), e))?;
        }
    }
    Ok(())
}
