//! The training job: read data, split, fit ridge, evaluate, save the model and log the run.

use std::path::PathBuf;

use serde::Serialize;

use super::metrics::RegressionMetrics;
use super::model::{self, LinearModel, ModelError, ModelMetadata};
use super::ridge::{self, RidgeError};
use super::split::{SplitError, TestMask, TestSize, test_mask};
use super::stream::{self, Accumulated, Survey};
use crate::data::profile::profile_table;
use crate::data::registry::DatasetVersion;
use crate::data::{DataError, ReadOptions, ReadProgress};
use crate::error_kind::{ErrorKind, HasKind};
use crate::tracking::lineage;
pub use crate::tracking::provenance::Provenance;
use crate::tracking::{
    DatasetInput, LocalStore, Metric, RunInfo, RunStatus, StoreError, SyncReport, Tracker, now_millis,
};

/// Everything a training run needs, resolved.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub data: PathBuf,
    pub target: String,
    pub alpha: f64,
    pub test_size: TestSize,
    pub seed: u32,
    pub experiment: String,
    pub run_name: Option<String>,
    pub provenance: Provenance,
    /// The registered dataset version `data` is the copy of, when training on one.
    pub dataset: Option<DatasetVersion>,
    /// Recorded as `mlflow.parentRunId` (a pipeline step's run).
    pub parent_run_id: Option<String>,
    /// Extra tags of the run (`mlops.reproduces` on a reproduction).
    pub extra_tags: Vec<(String, String)>,
    /// Where `data` came from when its path means nothing elsewhere (an Azure ML job's mounted input).
    pub data_source: Option<String>,
    /// Threads and chunk size for reading the data.
    pub read: ReadOptions,
}

/// The fitted model and how it did on the held-out rows.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub model: LinearModel,
    pub split: SplitSizes,
    pub metrics: RegressionMetrics,
    pub example_row: Vec<f64>,
}

/// The result of `mlops train`, in the stable shape of `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub run_id: String,
    pub experiment_id: String,
    pub experiment_name: String,
    pub run_name: String,
    pub tracking_uri: String,
    pub artifact_uri: String,
    pub params: ReportParams,
    pub split: SplitSizes,
    pub metrics: RegressionMetrics,
    pub model: ModelReport,
    pub dataset: DatasetReport,
    /// The local store the run was written to (the journal, when tracking to a server).
    pub local_store: String,
    /// Present when tracking to a server: whether the run reached it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncReport>,
    /// What scikit-learn would warn about (an undefined R² on a one-row test split).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportParams {
    pub alpha: f64,
    pub test_size: serde_json::Value,
    pub seed: u32,
    pub target: String,
    pub data: String,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct SplitSizes {
    pub n_train: usize,
    pub n_test: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub path: String,
    pub feature_names: Vec<String>,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatasetReport {
    pub name: String,
    /// The registered version, when trained with `--dataset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    pub digest: String,
    pub sha256: String,
    pub rows: usize,
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Split(#[from] SplitError),
    #[error(transparent)]
    Ridge(#[from] RidgeError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the run is complete in the local store {store} (run {local_run_id}), but the tracking server did not accept it"
    )]
    Publish {
        store: String,
        local_run_id: String,
        #[source]
        source: Box<StoreError>,
    },
}

impl HasKind for TrainError {
    fn kind(&self) -> ErrorKind {
        match self {
            TrainError::Data(e) => e.kind(),
            TrainError::Split(e) => e.kind(),
            TrainError::Ridge(_) => ErrorKind::Training,
            TrainError::Model(e) => e.kind(),
            TrainError::Store(e) => e.kind(),
            TrainError::Publish { source, .. } => source.kind(),
        }
    }
}

/// Fits ridge on the training rows' co-moments and scores the test rows (pass 3 of the file).
pub fn fit_and_evaluate(
    survey: &Survey,
    data: &Accumulated,
    mask: &TestMask,
    alpha: f64,
    read: &ReadOptions,
    progress: &mut dyn ReadProgress,
) -> Result<Evaluation, TrainError> {
    let feature_names = survey.feature_names();
    let moments = data.train.as_ref().ok_or(RidgeError::NoRows)?;
    let fitted = ridge::solve(moments, alpha, &feature_names)?;
    let coefficients = fitted.coefficients.to_vec();
    let intercept = fitted.intercept;
    let predict = |x: &[f64]| x.iter().zip(&coefficients).map(|(x, w)| x * w).sum::<f64>() + intercept;
    let metrics = stream::evaluate(survey, mask, predict, read, progress)?;
    let model = LinearModel {
        format: model::FORMAT.to_string(),
        feature_names,
        coefficients: coefficients.clone(),
        intercept,
        alpha,
        target: survey.columns()[survey.target_index()].clone(),
        data_sha256: survey.sha256.clone(),
    };
    Ok(Evaluation {
        model,
        split: SplitSizes { n_train: mask.n_train(), n_test: mask.n_test },
        metrics,
        example_row: data.example_row.clone(),
    })
}

/// Reads `data` and fits as [`train`] does, without logging a run (what `mlops reproduce` compares).
pub fn fit_file(
    data: &std::path::Path,
    target: &str,
    alpha: f64,
    test_size: TestSize,
    seed: u32,
    read: &ReadOptions,
    progress: &mut dyn ReadProgress,
) -> Result<Evaluation, TrainError> {
    let survey = stream::survey(data, target, read, progress)?;
    let mask = test_mask(survey.rows, test_size, seed);
    let accumulated = stream::accumulate(&survey, mask.as_ref().ok(), read, progress)?;
    fit_and_evaluate(&survey, &accumulated, &mask?, alpha, read, progress)
}

/// Trains, logs the run to the tracker's local store, then publishes it to the server if there is one.
///
/// Bad data fails before a run exists. A failure after the run started marks it FAILED (with the
/// error in `mlops.error`), and the failed run is published too, as MLflow's client would leave it.
///
/// The file is read in three passes (see [`stream`]); the first two check every cell, so bad data
/// fails before a run exists, whatever line it is on.
pub async fn train(
    tracker: &Tracker,
    request: &TrainRequest,
    progress: &mut dyn ReadProgress,
) -> Result<TrainReport, TrainError> {
    let store = tracker.journal();
    let survey = stream::survey(&request.data, &request.target, &request.read, progress)?;
    let mask = test_mask(survey.rows, request.test_size, request.seed);
    let data = stream::accumulate(&survey, mask.as_ref().ok(), &request.read, progress)?;
    let experiment = store.get_or_create_experiment(&request.experiment)?;
    let run_name = request.run_name.clone().unwrap_or_else(generate_run_name);
    let start = now_millis();
    let mut tags = system_tags(request);
    tags.extend(data_tags(request, &survey));
    let run = store.create_run(&experiment.experiment_id, &run_name, &request.provenance.user, start, &tags)?;
    let result = log_training(store, request, &survey, &data, mask, &run.run_id, progress);
    let status = if result.is_ok() { RunStatus::Finished } else { RunStatus::Failed };
    if let Err(err) = &result {
        // The store is read by other tools and shown by the UI: no secret goes into it either.
        store.set_tag(&run.run_id, "mlops.error", &crate::secret::mask(&err.to_string()))?;
    }
    let run = store.update_run(&run.run_id, status, now_millis())?;
    let sync = tracker.publish(&run.run_id).await.map_err(|source| TrainError::Publish {
        store: store.root().display().to_string(),
        local_run_id: run.run_id.clone(),
        source: Box::new(source),
    })?;
    let evaluation = result?;
    let local = LocalRun {
        model_dir: store.artifact_dir(&run.run_id)?.join("model"),
        experiment_name: experiment.name,
        info: run,
    };
    Ok(report(request, &survey, &evaluation, &local, tracker, sync))
}

fn log_training(
    store: &LocalStore,
    request: &TrainRequest,
    survey: &Survey,
    data: &Accumulated,
    mask: Result<TestMask, SplitError>,
    run_id: &str,
    progress: &mut dyn ReadProgress,
) -> Result<Evaluation, TrainError> {
    store.log_params(run_id, &run_params(request))?;
    store.log_input(run_id, &run_dataset_input(request, survey))?;
    // The training data's profile travels with the model, so scoring data can be checked against it.
    let profile = profile_table(&data.table);
    let profile_path = store.artifact_dir(run_id)?.join(DATA_PROFILE_ARTIFACT);
    let text = serde_json::to_string_pretty(&profile).unwrap_or_default();
    crate::tracking::local::write_file(&profile_path, text.as_bytes())?;
    let evaluation = fit_and_evaluate(survey, data, &mask?, request.alpha, &request.read, progress)?;
    let now = now_millis();
    let metrics: Vec<(String, Metric)> = evaluation
        .metrics
        .pairs()
        .iter()
        .map(|(k, v)| (k.to_string(), Metric { value: *v, timestamp: now, step: 0 }))
        .collect();
    store.log_metrics(run_id, &metrics)?;
    let model_dir = store.artifact_dir(run_id)?.join("model");
    let meta = ModelMetadata {
        run_id: Some(run_id.to_string()),
        example_row: evaluation.example_row.clone(),
        utc_time_created: chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
    };
    model::save(&model_dir, &evaluation.model, &meta)?;
    // Also an MLflow 3 logged model, as `mlflow.sklearn.log_model` records one on a file store.
    store.log_model(run_id, "model")?;
    Ok(evaluation)
}

/// The artifact (relative to the run's artifact root) holding the training data's profile.
pub const DATA_PROFILE_ARTIFACT: &str = "data_profile.json";

/// The run's dataset input: the registered version's name, digest and source when training on one.
fn run_dataset_input(request: &TrainRequest, survey: &Survey) -> DatasetInput {
    let mut input = dataset_input(survey, &request.target);
    if let Some(dataset) = &request.dataset {
        input.name = dataset.name.clone();
        let uri = dataset.blob_url.clone().unwrap_or_else(|| dataset.path.clone());
        input.source = serde_json::json!({"uri": uri}).to_string();
    }
    input
}

/// The MLflow system tags of a run started by `mlops train`.
pub fn system_tags(request: &TrainRequest) -> Vec<(String, String)> {
    let mut tags = vec![
        ("mlflow.user".to_string(), request.provenance.user.clone()),
        ("mlflow.source.name".to_string(), request.provenance.source_name.clone()),
        ("mlflow.source.type".to_string(), "LOCAL".to_string()),
    ];
    tags.extend(request.provenance.code.tags());
    if let Some(parent) = &request.parent_run_id {
        tags.push(("mlflow.parentRunId".to_string(), parent.clone()));
    }
    if let Some(dataset) = &request.dataset {
        tags.push((lineage::DATASET_NAME.to_string(), dataset.name.clone()));
        tags.push((lineage::DATASET_VERSION.to_string(), dataset.version.to_string()));
        tags.push((lineage::DATASET_SHA256.to_string(), dataset.sha256.clone()));
    }
    tags.extend(request.extra_tags.iter().cloned());
    tags
}

/// The training file's full SHA-256 and where it came from: the dataset version's blob when it is in a
/// datastore, else the stated source, else the file's absolute path (what `mlops reproduce` fetches and checks).
pub fn data_tags(request: &TrainRequest, survey: &Survey) -> Vec<(String, String)> {
    let path = survey.path();
    let source = match request.dataset.as_ref().and_then(|d| d.blob_url.clone()).or(request.data_source.clone()) {
        Some(url) => url,
        None => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string(),
    };
    vec![(lineage::DATA_SHA256.to_string(), survey.sha256.clone()), (lineage::DATA_SOURCE.to_string(), source)]
}

/// Parameters as logged: strings, as MLflow stores them.
pub fn run_params(request: &TrainRequest) -> Vec<(String, String)> {
    vec![
        ("alpha".to_string(), format!("{:?}", request.alpha)),
        ("test_size".to_string(), request.test_size.to_string()),
        ("seed".to_string(), request.seed.to_string()),
        ("target".to_string(), request.target.clone()),
        ("data".to_string(), request.data.display().to_string()),
    ]
}

/// The training file as an MLflow dataset input (what `mlflow.data.from_pandas` would record).
pub fn dataset_input(survey: &Survey, target: &str) -> DatasetInput {
    let path = survey.path();
    let name = path.file_stem().map_or_else(|| "data".to_string(), |s| s.to_string_lossy().into_owned());
    let columns: Vec<serde_json::Value> =
        survey.columns().iter().map(|c| serde_json::json!({"type": "double", "name": c, "required": true})).collect();
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    DatasetInput {
        name,
        digest: dataset_digest(&survey.sha256),
        source_type: "local".to_string(),
        source: serde_json::json!({"uri": absolute.display().to_string()}).to_string(),
        schema: serde_json::json!({"mlflow_colspec": columns}).to_string(),
        profile: serde_json::json!({
            "num_rows": survey.rows,
            "num_elements": survey.rows * survey.columns().len(),
            "target": target,
        })
        .to_string(),
        context: "training".to_string(),
    }
}

/// The short digest MLflow shows for a dataset: the first 16 hex digits of its SHA-256.
pub fn dataset_digest(sha256: &str) -> String {
    sha256.chars().take(16).collect()
}

/// A run as written to the local store.
struct LocalRun {
    info: RunInfo,
    experiment_name: String,
    model_dir: PathBuf,
}

fn report(
    request: &TrainRequest,
    survey: &Survey,
    evaluation: &Evaluation,
    local: &LocalRun,
    tracker: &Tracker,
    sync: Option<SyncReport>,
) -> TrainReport {
    let run = &local.info;
    let test_size = match request.test_size {
        TestSize::Fraction(f) => serde_json::json!(f),
        TestSize::Rows(r) => serde_json::json!(r),
    };
    let input = run_dataset_input(request, survey);
    // Once on the server, the run is reported by its server ids; the local ids stay in `sync`.
    let synced = sync.as_ref().filter(|s| s.state == "synced");
    let pick = |remote: Option<&Option<String>>, local: &str| {
        remote.and_then(Clone::clone).unwrap_or_else(|| local.to_string())
    };
    TrainReport {
        run_id: pick(synced.map(|s| &s.remote_run_id), &run.run_id),
        experiment_id: pick(synced.map(|s| &s.remote_experiment_id), &run.experiment_id),
        experiment_name: local.experiment_name.clone(),
        run_name: run.run_name.clone(),
        tracking_uri: tracker.uri(),
        // Artifacts the server could not take are reported where they are: in the local store.
        artifact_uri: pick(
            synced.filter(|s| !s.artifacts.as_ref().is_some_and(|a| a.is_local_only())).map(|s| &s.remote_artifact_uri),
            &run.artifact_uri,
        ),
        params: ReportParams {
            alpha: request.alpha,
            test_size,
            seed: request.seed,
            target: request.target.clone(),
            data: request.data.display().to_string(),
        },
        split: evaluation.split,
        metrics: evaluation.metrics,
        model: ModelReport {
            path: local.model_dir.display().to_string(),
            feature_names: evaluation.model.feature_names.clone(),
            coefficients: evaluation.model.coefficients.clone(),
            intercept: evaluation.model.intercept,
        },
        dataset: DatasetReport {
            version: request.dataset.as_ref().map(|d| d.version),
            name: input.name,
            digest: input.digest,
            sha256: survey.sha256.clone(),
            rows: survey.rows,
        },
        local_store: tracker.journal().root().display().to_string(),
        sync,
        warnings: if evaluation.metrics.r2.is_nan() {
            vec![format!(
                "r2 is NaN: {} (the test split has {} row)",
                crate::ml::metrics::R2_UNDEFINED,
                evaluation.split.n_test
            )]
        } else {
            Vec::new()
        },
    }
}

/// A readable run name like MLflow's (`bold-heron-417`).
pub fn generate_run_name() -> String {
    const ADJECTIVES: [&str; 16] = [
        "bold", "calm", "clever", "eager", "fair", "gentle", "brisk", "keen", "lucid", "merry", "nimble", "quiet",
        "rapid", "sunny", "tidy", "witty",
    ];
    const NOUNS: [&str; 16] = [
        "heron", "otter", "falcon", "maple", "river", "comet", "badger", "cedar", "lynx", "harbor", "willow", "quartz",
        "finch", "meadow", "summit", "ember",
    ];
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    let number = u16::from_le_bytes([bytes[2], bytes[3]]) % 1000;
    format!("{}-{}-{number}", ADJECTIVES[bytes[0] as usize % 16], NOUNS[bytes[1] as usize % 16])
}
