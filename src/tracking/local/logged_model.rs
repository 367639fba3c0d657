//! MLflow 3 logged models in the file store: what `mlflow.sklearn.log_model` records there, so
//! `mlflow.search_logged_models`, `models:/m-…` and the UI's "Logged models" see a run's model.
//!
//! Layout (MLflow's `FileStore.create_logged_model`, `log_outputs`, `_log_model_metric`):
//! `<exp>/models/<m-id>/{meta.yaml, params/, tags/, metrics/, artifacts/}` and the run's
//! `outputs/<m-id>/meta.yaml` linking it to the model.

use std::path::Path;

use serde::Serialize;

use super::{LocalStore, META, io, key_path, publish_dir, python_float, write_staged, write_yaml};
use crate::tracking::uri::file_uri;
use crate::tracking::{StoreError, now_millis};

/// `LoggedModelStatus` as the file store writes it (`to_int`).
const PENDING: i64 = 1;
const READY: i64 = 2;

/// Run tags MLflow's client copies onto the logged model it creates.
const COPIED_TAGS: [&str; 4] = ["mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.source.git.commit"];

#[derive(Serialize)]
struct ModelMeta<'a> {
    artifact_location: &'a str,
    creation_timestamp: i64,
    experiment_id: &'a str,
    last_updated_timestamp: i64,
    lifecycle_stage: &'a str,
    model_id: &'a str,
    model_type: Option<&'a str>,
    name: &'a str,
    source_run_id: &'a str,
    status: i64,
    status_message: Option<&'a str>,
}

impl LocalStore {
    /// Records the model in the run's artifact directory `artifact_path` as an MLflow 3 logged
    /// model of the run (its files copied, the run's params and latest metrics attached), and
    /// returns its id `m-…`.
    pub fn log_model(&self, run_id: &str, artifact_path: &str) -> Result<String, StoreError> {
        let run = self.get_run(run_id)?;
        let run_dir = self.run_dir(run_id)?;
        let source = run_dir.join("artifacts").join(artifact_path);
        let experiment_dir = run_dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let model_id = format!("m-{}", uuid::Uuid::new_v4().simple());
        let dir = experiment_dir.join("models").join(&model_id);
        let artifact_location = file_uri(&dir.join("artifacts"));
        let created = now_millis();
        let mut meta = ModelMeta {
            artifact_location: &artifact_location,
            creation_timestamp: created,
            experiment_id: &run.info.experiment_id,
            last_updated_timestamp: created,
            lifecycle_stage: "active",
            model_id: &model_id,
            model_type: None,
            name: artifact_path,
            source_run_id: run_id,
            status: PENDING,
            status_message: None,
        };
        // PENDING until the files are in place, as MLflow's client leaves a model whose upload died.
        write_yaml(&dir.join(META), &meta)?;
        for (key, value) in &run.params {
            write_staged(&key_path(&dir.join("params"), "param key", key)?, value.as_bytes(), &dir)?;
        }
        for key in COPIED_TAGS {
            if let Some(value) = run.tags.get(key) {
                write_staged(&key_path(&dir.join("tags"), "tag key", key)?, value.as_bytes(), &dir)?;
            }
        }
        for (key, metric) in &run.metrics {
            // Model metric lines carry the run id: `<timestamp> <value> <step> <run_id>`.
            let line = format!("{} {} {} {run_id}\n", metric.timestamp, python_float(metric.value), metric.step);
            write_staged(&key_path(&dir.join("metrics"), "metric key", key)?, line.as_bytes(), &dir)?;
        }
        let overrides = [
            ("artifact_path", artifact_location.as_str()),
            ("model_id", model_id.as_str()),
            ("model_uuid", model_id.as_str()),
            ("run_id", run_id),
        ];
        copy_model_files(&source, &dir.join("artifacts"), &dir, &overrides)?;
        meta.status = READY;
        meta.last_updated_timestamp = now_millis();
        write_yaml(&dir.join(META), &meta)?;
        self.log_output(&run_dir, &model_id)?;
        Ok(model_id)
    }

    /// Links the run to a model it produced (`outputs/<m-id>/meta.yaml`).
    fn log_output(&self, run_dir: &Path, model_id: &str) -> Result<(), StoreError> {
        #[derive(Serialize)]
        struct OutputMeta<'a> {
            destination_id: &'a str,
            destination_type: &'a str,
            source_id: &'a str,
            source_type: &'a str,
            step: i64,
            tags: std::collections::BTreeMap<String, String>,
        }
        // MLflow 3.17 writes the model id into both ids (its `write_yaml` uses source_id twice),
        // and reads the model id back from destination_id.
        let meta = OutputMeta {
            destination_id: model_id,
            destination_type: "MODEL_OUTPUT",
            source_id: model_id,
            source_type: "RUN_OUTPUT",
            step: 0,
            tags: Default::default(),
        };
        // MLflow reads every entry of `outputs/` as a directory with its meta.yaml: it appears whole.
        let outputs = run_dir.join("outputs");
        std::fs::create_dir_all(&outputs).map_err(io(&outputs))?;
        publish_dir(&outputs.join(model_id), run_dir, |dir| write_yaml(&dir.join(META), &meta))?;
        Ok(())
    }
}

/// Copies a model directory; the `MLmodel` gets the logged model's ids, as MLflow writes them.
/// Files are staged in `staging` (the model's directory), so none is ever listed half-written.
fn copy_model_files(from: &Path, to: &Path, staging: &Path, overrides: &[(&str, &str)]) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_model_files(&source, &target, staging, overrides)?;
            continue;
        }
        let mut bytes = std::fs::read(&source).map_err(io(&source))?;
        if entry.file_name() == "MLmodel" {
            let corrupt = |e: yaml_serde::Error| StoreError::Corrupt { path: source.clone(), message: e.to_string() };
            let mut doc: yaml_serde::Value = yaml_serde::from_slice(&bytes).map_err(corrupt)?;
            if let Some(map) = doc.as_mapping_mut() {
                for (key, value) in overrides {
                    map.insert(yaml_serde::Value::from(*key), yaml_serde::Value::from(*value));
                }
            }
            bytes = yaml_serde::to_string(&doc).map_err(corrupt)?.into_bytes();
        }
        write_staged(&target, &bytes, staging)?;
    }
    Ok(())
}
