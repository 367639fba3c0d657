//! Pushing a run from the local store to a tracking server, idempotently and resumably.
//!
//! The local run is the source of truth. The server run carries `mlops.source_run_id` from the
//! request that creates it, and a push looks for that tag before creating anything, so an
//! interrupted push (or train) finds its server run again whatever URL reaches the server; then
//! each object is looked for before it is sent (metric points the server has, the logged model,
//! the run's model output), and the status goes last, marking the server run complete. Progress
//! is also noted on the local run as `mlops.sync.*` tags, which only spare a complete run the
//! look-up when synced again to the same URL.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::local::{STAGING_PREFIX, write_file};
use super::mlflow::{ArtifactStore, LoggedModel, MlflowClient, artifact_store, check_values};
use super::{LocalStore, Metric, Run, RunStatus, StoreError};
use crate::azure::blob_transfer::UploadSource;

/// Local tags that record sync progress (never sent to the server).
pub const TAG_REMOTE_URI: &str = "mlops.sync.remote_uri";
pub const TAG_REMOTE_RUN_ID: &str = "mlops.sync.remote_run_id";
pub const TAG_REMOTE_MODEL_ID: &str = "mlops.sync.model_id";
pub const TAG_STATE: &str = "mlops.sync.state";
/// Server tag naming the local run a server run was pushed from.
pub const TAG_SOURCE_RUN_ID: &str = "mlops.source_run_id";

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    pub local_run_id: String,
    pub remote_run_id: String,
    pub remote_experiment_id: String,
    pub remote_artifact_uri: String,
    pub remote_uri: String,
    /// False when the run had already been pushed completely and nothing was sent.
    pub uploaded: bool,
    pub metric_points: usize,
    pub artifacts: usize,
    pub logged_model_id: Option<String>,
    pub artifact_upload: ArtifactUpload,
}

/// Where a pushed run's artifacts (the model included) are.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactUpload {
    /// `uploaded` (through the server's artifact proxy, or Azure ML's artifact service to the
    /// workspace's Blob storage); `written` (the server gave a local path,
    /// and the files were written there, as MLflow's client does); `in-place` (the server reads
    /// this local store itself); or `local-only` (a location mlops cannot write, such as `s3://…`:
    /// the files stay in the local store).
    pub state: &'static str,
    /// Where the files are, when they did not go through the proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_path: Option<String>,
    /// Why, in a sentence for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ArtifactUpload {
    /// What happens to the artifacts of local run `run_id` pushed to a run at `remote_artifact_uri`.
    fn for_run(
        local: &LocalStore,
        client: &MlflowClient,
        run_id: &str,
        remote_artifact_uri: &str,
    ) -> Result<Self, StoreError> {
        match artifact_store(remote_artifact_uri) {
            ArtifactStore::Proxy | ArtifactStore::AzureMl => {
                Ok(ArtifactUpload { state: "uploaded", local_path: None, reason: None })
            }
            ArtifactStore::LocalPath(path) => {
                let path = std::path::absolute(&path).unwrap_or(path).display().to_string();
                Ok(ArtifactUpload {
                    state: "written",
                    reason: Some(format!(
                        "{} has no artifact proxy (mlflow server --no-serve-artifacts): it gave the local artifact location {remote_artifact_uri:?}, so the artifacts and model were written to {path} on this machine, as MLflow's client does; the server can serve them only if it runs on this machine",
                        client.endpoint()
                    )),
                    local_path: Some(path),
                })
            }
            ArtifactStore::Elsewhere => {
                let dir = local.artifact_dir(run_id)?;
                let dir = std::path::absolute(&dir).unwrap_or(dir).display().to_string();
                Ok(ArtifactUpload {
                    state: "local-only",
                    reason: Some(format!(
                        "{} takes no artifact uploads from mlops (it gave the artifact location {remote_artifact_uri:?}, neither an MLflow artifact proxy nor a local path); the run's params, metrics, tags and dataset are on the server, the artifacts and model stay in {dir}",
                        client.endpoint()
                    )),
                    local_path: Some(dir),
                })
            }
        }
    }

    pub fn is_local_only(&self) -> bool {
        self.state == "local-only"
    }
}

fn remote(client: &MlflowClient) -> impl Fn(crate::http::HttpError) -> StoreError + '_ {
    move |source| StoreError::Remote { uri: client.endpoint().to_string(), source }
}

/// Whether the local run is already completely pushed to this server.
pub fn is_synced(run: &Run, remote_uri: &str) -> bool {
    run.tags.get(TAG_REMOTE_URI).map(String::as_str) == Some(remote_uri)
        && run.tags.get(TAG_STATE).map(String::as_str) == Some("synced")
}

/// Pushes one local run (params, metrics with their timestamps and steps, tags, dataset inputs,
/// artifacts, the logged model, status) to the server.
///
/// A child run's `mlflow.parentRunId` names its local parent; on the server it names the parent's
/// server run, once the parent has been pushed there.
pub async fn push_run(local: &LocalStore, client: &MlflowClient, run_id: &str) -> Result<PushOutcome, StoreError> {
    let remote_uri = client.endpoint().to_string();
    let run = local.get_run(run_id)?;
    if is_synced(&run, &remote_uri) {
        let remote_run_id = run.tags.get(TAG_REMOTE_RUN_ID).cloned().unwrap_or_default();
        let remote_run = client.get_run(&remote_run_id).await.map_err(remote(client))?;
        let artifact_upload = ArtifactUpload::for_run(local, client, run_id, &remote_run.info.artifact_uri)?;
        return Ok(PushOutcome {
            local_run_id: run_id.to_string(),
            remote_run_id,
            remote_experiment_id: remote_run.info.experiment_id,
            remote_artifact_uri: remote_run.info.artifact_uri,
            remote_uri,
            uploaded: false,
            metric_points: 0,
            artifacts: 0,
            logged_model_id: run.tags.get(TAG_REMOTE_MODEL_ID).cloned(),
            artifact_upload,
        });
    }
    if let Some(outcome) = same_store(local, client, &run).await? {
        return Ok(outcome);
    }
    let experiment_name = local
        .list_experiments()?
        .into_iter()
        .find(|e| e.experiment_id == run.info.experiment_id)
        .map(|e| e.name)
        .unwrap_or_else(|| "Default".to_string());

    let tags: Vec<(String, String)> = run
        .tags
        .iter()
        .filter(|(k, _)| !k.starts_with("mlops.sync.") && k.as_str() != "mlflow.runName")
        .map(|(k, v)| (k.clone(), remote_tag_value(local, k, v, &remote_uri)))
        .collect();
    let params: Vec<(String, String)> = run.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let histories = local_histories(local, &run)?;
    let all_points: Vec<(String, Metric)> =
        histories.iter().flat_map(|(k, h)| h.iter().map(move |m| (k.clone(), *m))).collect();
    check_values(&all_points, &params, &tags)?;

    let experiment = client.get_or_create_experiment(&experiment_name).await.map_err(remote(client))?;
    // What the server already has is found by its content (the mlops.source_run_id tag), never by
    // the URL it was reached under: the same server under another name or port gets no copy.
    let found = find_remote_run(client, &run, &experiment.experiment_id).await?;
    let fresh = found.is_none();
    let (remote_run_id, remote_artifact_uri) = match found {
        Some(existing) => {
            let done = run.info.status.is_terminal() && existing.info.status == run.info.status;
            if done {
                // The status is set last: a server run that has it has everything else.
                return already_there(local, client, &run, existing, &experiment.experiment_id).await;
            }
            (existing.info.run_id, existing.info.artifact_uri)
        }
        None => {
            local.set_tag(run_id, TAG_REMOTE_URI, &remote_uri)?;
            local.set_tag(run_id, TAG_STATE, "creating")?;
            let mut create_tags = tags.clone();
            create_tags.push((TAG_SOURCE_RUN_ID.to_string(), run_id.to_string()));
            let created = client
                .create_run(
                    &experiment.experiment_id,
                    &run.info.run_name,
                    &run.info.user_id,
                    run.info.start_time,
                    &create_tags,
                )
                .await
                .map_err(remote(client))?;
            local.set_tag(run_id, TAG_REMOTE_RUN_ID, &created.run_id)?;
            local.set_tag(run_id, TAG_STATE, "pending")?;
            (created.run_id, created.artifact_uri)
        }
    };
    if !fresh {
        local.set_tag(run_id, TAG_REMOTE_URI, &remote_uri)?;
        local.set_tag(run_id, TAG_REMOTE_RUN_ID, &remote_run_id)?;
    }

    // A fresh server run has no metric points yet; a resumed one gets only the points it lacks.
    let missing: Vec<(String, Metric)> = if fresh {
        all_points
    } else {
        let mut missing = Vec::new();
        for (key, history) in &histories {
            let have = client.metric_history(&remote_run_id, key).await.map_err(remote(client))?;
            missing.extend(missing_points(history, &have).into_iter().map(|m| (key.clone(), m)));
        }
        missing
    };
    client.log_batch(&remote_run_id, &missing, &params, &tags).await.map_err(remote(client))?;
    if !run.inputs.is_empty() {
        client.log_inputs(&remote_run_id, &run.inputs).await.map_err(remote(client))?;
    }

    // The model goes to the server as an MLflow 3 logged model (below), not as run artifacts:
    // MLflow resolves runs:/<run>/model to it, as for models logged by its own client. Where the
    // server's artifact store cannot be written, no logged model is recorded either: one without
    // its files would claim a model the server cannot serve. The local store's own logged models
    // (`models/`) and run `outputs/` are its bookkeeping, not artifacts, and are not sent.
    let artifact_upload = ArtifactUpload::for_run(local, client, run_id, &remote_artifact_uri)?;
    let artifact_dir = local.artifact_dir(run_id)?;
    let files: Vec<String> = if artifact_upload.is_local_only() {
        Vec::new()
    } else {
        list_files(&artifact_dir)?.into_iter().filter(|f| !f.starts_with("model/")).collect()
    };
    upload_all(client, &artifact_dir, &files, &remote_artifact_uri, &[("run_id", &remote_run_id)]).await?;

    let logged_model_id = if !artifact_upload.is_local_only() && artifact_dir.join("model/MLmodel").is_file() {
        let target = ModelTarget { remote_run_id: &remote_run_id, experiment_id: &experiment.experiment_id, fresh };
        let model = push_logged_model(client, local, &run, &target, &params).await?;
        Some(model.model_id)
    } else {
        None
    };

    let status = match run.info.status {
        RunStatus::Running | RunStatus::Scheduled => None,
        done => Some(done),
    };
    if let Some(status) = status {
        client.update_run(&remote_run_id, status, run.info.end_time).await.map_err(remote(client))?;
        local.set_tag(run_id, TAG_STATE, "synced")?;
    }
    Ok(PushOutcome {
        local_run_id: run_id.to_string(),
        remote_run_id,
        remote_experiment_id: experiment.experiment_id,
        remote_artifact_uri,
        remote_uri,
        uploaded: true,
        metric_points: missing.len(),
        artifacts: files.len(),
        logged_model_id,
        artifact_upload,
    })
}

/// The run itself, when the server reads this local store as its own backend (`mlflow ui
/// --backend-store-uri ./mlruns` next to a journal in `./mlruns`): it then already has the run,
/// under the same id, and pushing a copy would show every run twice.
async fn same_store(local: &LocalStore, client: &MlflowClient, run: &Run) -> Result<Option<PushOutcome>, StoreError> {
    let seen = match client.get_run(&run.info.run_id).await {
        Ok(seen) => seen,
        Err(err) if err.is_transient() => return Err(remote(client)(err)),
        // Unknown to the server (404), or an id it does not accept: a different store.
        Err(_) => return Ok(None),
    };
    if seen.info.start_time != run.info.start_time || seen.info.experiment_id != run.info.experiment_id {
        return Ok(None);
    }
    let dir = local.artifact_dir(&run.info.run_id)?;
    let dir = std::path::absolute(&dir).unwrap_or(dir).display().to_string();
    let root = local.root().display().to_string();
    Ok(Some(PushOutcome {
        local_run_id: run.info.run_id.clone(),
        remote_run_id: run.info.run_id.clone(),
        remote_experiment_id: run.info.experiment_id.clone(),
        remote_artifact_uri: seen.info.artifact_uri,
        remote_uri: client.endpoint().to_string(),
        uploaded: false,
        metric_points: 0,
        artifacts: 0,
        logged_model_id: None,
        artifact_upload: ArtifactUpload {
            state: "in-place",
            local_path: Some(dir),
            reason: Some(format!(
                "{} reads this local store ({root}) as its own backend, so run {} is already there and nothing was pushed (a copy would show every run twice); track to the directory itself (--tracking-uri {root}) or journal elsewhere (--local-store DIR) to silence this",
                client.endpoint(),
                run.info.run_id
            )),
        },
    }))
}

/// The server run this local run was (partly) pushed to before, if any: the one carrying its
/// `mlops.source_run_id` tag, which goes with the create itself, so a push that died at any
/// point after the server made the run finds it.
async fn find_remote_run(client: &MlflowClient, run: &Run, experiment_id: &str) -> Result<Option<Run>, StoreError> {
    let filter = format!("tags.`{TAG_SOURCE_RUN_ID}` = '{}'", run.info.run_id);
    let found =
        client.search_runs(&[experiment_id.to_string()], Some(&filter), &[], 1).await.map_err(remote(client))?;
    Ok(found.into_iter().next())
}

/// The outcome for a run the server already has completely; the local run is marked so.
async fn already_there(
    local: &LocalStore,
    client: &MlflowClient,
    run: &Run,
    existing: Run,
    experiment_id: &str,
) -> Result<PushOutcome, StoreError> {
    let run_id = &run.info.run_id;
    let remote_uri = client.endpoint().to_string();
    let remote_run_id = existing.info.run_id;
    let logged_model_id = client
        .find_logged_models(experiment_id, &remote_run_id, "model")
        .await
        .map_err(remote(client))?
        .into_iter()
        .next();
    local.set_tag(run_id, TAG_REMOTE_URI, &remote_uri)?;
    local.set_tag(run_id, TAG_REMOTE_RUN_ID, &remote_run_id)?;
    if let Some(model) = &logged_model_id {
        local.set_tag(run_id, TAG_REMOTE_MODEL_ID, &model.model_id)?;
    }
    local.set_tag(run_id, TAG_STATE, "synced")?;
    let artifact_upload = ArtifactUpload::for_run(local, client, run_id, &existing.info.artifact_uri)?;
    Ok(PushOutcome {
        local_run_id: run_id.clone(),
        remote_run_id,
        remote_experiment_id: existing.info.experiment_id,
        remote_artifact_uri: existing.info.artifact_uri,
        remote_uri,
        uploaded: false,
        metric_points: 0,
        artifacts: 0,
        logged_model_id: logged_model_id.map(|m| m.model_id),
        artifact_upload,
    })
}

/// Where a logged model goes.
struct ModelTarget<'a> {
    remote_run_id: &'a str,
    experiment_id: &'a str,
    /// The server run was created by this push, so no model of it can exist yet.
    fresh: bool,
}

async fn push_logged_model(
    client: &MlflowClient,
    local: &LocalStore,
    run: &Run,
    target: &ModelTarget<'_>,
    params: &[(String, String)],
) -> Result<LoggedModel, StoreError> {
    let existing = if target.fresh {
        None
    } else {
        client
            .find_logged_models(target.experiment_id, target.remote_run_id, "model")
            .await
            .map_err(remote(client))?
            .into_iter()
            .next()
    };
    let model = match existing {
        Some(model) => model,
        None => {
            let tags = [
                ("mlflow.user".to_string(), run.info.user_id.clone()),
                ("mlflow.source.name".to_string(), "mlops".to_string()),
                ("mlflow.source.type".to_string(), "LOCAL".to_string()),
            ];
            let created = client
                .create_logged_model(target.experiment_id, "model", target.remote_run_id, params, &tags)
                .await
                .map_err(remote(client))?;
            local.set_tag(&run.info.run_id, TAG_REMOTE_MODEL_ID, &created.model_id)?;
            created
        }
    };
    let model_dir = local.artifact_dir(&run.info.run_id)?.join("model");
    let overrides = [
        ("artifact_path", model.artifact_uri.as_str()),
        ("model_id", model.model_id.as_str()),
        ("model_uuid", model.model_id.as_str()),
        ("run_id", target.remote_run_id),
    ];
    let files = list_files(&model_dir)?;
    upload_all(client, &model_dir, &files, &model.artifact_uri, &overrides).await?;
    client.finalize_logged_model(&model.model_id).await.map_err(remote(client))?;
    // The server refuses a second identical output (HTTP 400, a SQL integrity error), so the link
    // is looked for first; a refusal because it appeared meanwhile is success too.
    let linked = |ids: Vec<String>| ids.contains(&model.model_id);
    let missing = target.fresh || !linked(client.run_model_ids(target.remote_run_id).await.map_err(remote(client))?);
    if missing && let Err(err) = client.log_outputs(target.remote_run_id, &model.model_id).await {
        let now = client.run_model_ids(target.remote_run_id).await.map_err(remote(client))?;
        if !linked(now) {
            return Err(remote(client)(err));
        }
    }
    Ok(model)
}

/// Puts files below `artifact_uri`: through the artifact proxy (concurrently); to an Azure ML
/// workspace's Blob storage (streamed from the files, in blocks); or, for a local path, straight
/// into that directory, as MLflow's `LocalArtifactRepository` does.
async fn upload_all(
    client: &MlflowClient,
    dir: &Path,
    files: &[String],
    artifact_uri: &str,
    mlmodel_overrides: &[(&str, &str)],
) -> Result<(), StoreError> {
    if let ArtifactStore::LocalPath(root) = artifact_store(artifact_uri) {
        for relative in files {
            write_file(&root.join(relative), &read_artifact(dir, relative, mlmodel_overrides)?)?;
        }
        return Ok(());
    }
    if artifact_store(artifact_uri) == ArtifactStore::AzureMl {
        let mut items = Vec::with_capacity(files.len());
        for relative in files {
            let source = if relative.ends_with("MLmodel") {
                UploadSource::Bytes(read_artifact(dir, relative, mlmodel_overrides)?.into())
            } else {
                UploadSource::File(dir.join(relative))
            };
            items.push((relative.clone(), source));
        }
        return client.upload_azureml_artifacts(artifact_uri, items).await.map(drop).map_err(remote(client));
    }
    let uploads = files.iter().map(|relative| async move {
        let bytes = read_artifact(dir, relative, mlmodel_overrides)?;
        client.upload_artifact(artifact_uri, relative, bytes).await.map_err(remote(client))
    });
    futures::future::try_join_all(uploads).await.map(|_| ())
}

fn local_histories(local: &LocalStore, run: &Run) -> Result<Vec<(String, Vec<Metric>)>, StoreError> {
    run.metrics.keys().map(|key| Ok((key.clone(), local.metric_history(&run.info.run_id, key)?))).collect()
}

/// Points of `local` the server does not have yet, counting duplicates (a multiset difference).
pub fn missing_points(local: &[Metric], remote: &[Metric]) -> Vec<Metric> {
    let key = |m: &Metric| (m.timestamp, m.step, m.value.to_bits());
    let mut have: HashMap<(i64, i64, u64), usize> = HashMap::new();
    for m in remote {
        *have.entry(key(m)).or_default() += 1;
    }
    local
        .iter()
        .filter(|m| match have.get_mut(&key(m)) {
            Some(count) if *count > 0 => {
                *count -= 1;
                false
            }
            _ => true,
        })
        .copied()
        .collect()
}

/// Files below `dir`, as `/`-separated relative paths, sorted.
fn list_files(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(StoreError::Io { path: current, source }),
        };
        for entry in entries {
            let path = entry.map_err(|source| StoreError::Io { path: current.clone(), source })?.path();
            let leftover = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(STAGING_PREFIX));
            if path.is_dir() {
                pending.push(path);
            } else if leftover {
                // Half of a write a kill -9 interrupted; the file it was for is whole or absent.
                continue;
            } else if let Ok(relative) = path.strip_prefix(dir) {
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A file's bytes; an `MLmodel` gets the server-side ids written into it.
fn read_artifact(dir: &Path, relative: &str, mlmodel_overrides: &[(&str, &str)]) -> Result<Vec<u8>, StoreError> {
    let path = dir.join(relative);
    let bytes = std::fs::read(&path).map_err(|source| StoreError::Io { path: path.clone(), source })?;
    if !relative.ends_with("MLmodel") {
        return Ok(bytes);
    }
    let mut doc: yaml_serde::Value = yaml_serde::from_slice(&bytes)
        .map_err(|e| StoreError::Corrupt { path: path.clone(), message: e.to_string() })?;
    if let Some(map) = doc.as_mapping_mut() {
        for (key, value) in mlmodel_overrides {
            map.insert(yaml_serde::Value::from(*key), yaml_serde::Value::from(*value));
        }
    }
    let text = yaml_serde::to_string(&doc).map_err(|e| StoreError::Corrupt { path, message: e.to_string() })?;
    Ok(text.into_bytes())
}

/// A tag's value as the server should see it: local run ids of parents become their server ids.
fn remote_tag_value(local: &LocalStore, key: &str, value: &str, remote_uri: &str) -> String {
    if key != "mlflow.parentRunId" {
        return value.to_string();
    }
    local
        .get_run(value)
        .ok()
        .filter(|parent| parent.tags.get(TAG_REMOTE_URI).map(String::as_str) == Some(remote_uri))
        .and_then(|parent| parent.tags.get(TAG_REMOTE_RUN_ID).cloned())
        .unwrap_or_else(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_points_is_a_multiset_difference() {
        let m = |t, s, v| Metric { value: v, timestamp: t, step: s };
        let local = [m(1, 0, 1.0), m(2, 1, 2.0), m(2, 1, 2.0), m(3, 2, 3.0)];
        let remote = [m(2, 1, 2.0), m(1, 0, 1.0)];
        assert_eq!(missing_points(&local, &remote), vec![m(2, 1, 2.0), m(3, 2, 3.0)]);
        assert!(missing_points(&local, &local).is_empty());
    }
}
