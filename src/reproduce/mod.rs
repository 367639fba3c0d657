//! `mlops reproduce`: rebuild a recorded model from its lineage and prove it is the same model.
//!
//! The run's parameters, data digest and lineage tags say what made the model. The data is fetched
//! (a local path, a registered dataset version, or its datastore blob) and checked against the
//! recorded digest, the model is retrained with the recorded parameters, and coefficients,
//! intercept and test metrics are compared bit for bit with the recorded ones. Training is
//! deterministic (the split is numpy's MT19937 shuffle, the fit an exact Cholesky solve), so the
//! same inputs must give the same bits; anything else is a finding.

mod compare;
mod fetch;
mod inputs;

use std::path::PathBuf;

use serde::Serialize;

pub use compare::{Comparison, Numbers, compare};
pub use fetch::BlobAccess;
pub use inputs::{DataFound, LineageCheck, Params};

use crate::data::registry::DatasetRegistry;
use crate::data::{NoProgress, ReadOptions};
use crate::error_kind::{ErrorKind, HasKind};
use crate::ml::model::{self, ModelError};
use crate::ml::train::{Provenance, TrainError, TrainRequest, fit_file, train};
use crate::registry::{Registry, RegistryError, resolve_model};
use crate::tracking::lineage::REPRODUCES;
use crate::tracking::model_ref::VersionSelector;
use crate::tracking::{ModelRef, Run, StoreError, Tracker};

/// What `mlops reproduce` was asked to reproduce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A run of `mlops train` (or a pipeline run, whose training step is reproduced).
    Run(String),
    /// A registered version: the run that made it.
    Model { name: String, selector: VersionSelector },
}

impl Target {
    pub fn parse(text: &str) -> Result<Self, ReproduceError> {
        match ModelRef::parse(text)? {
            ModelRef::Registered { name, selector } => Ok(Target::Model { name, selector }),
            ModelRef::Run { run_id, .. } => Ok(Target::Run(run_id)),
            ModelRef::Dir(_) if !text.is_empty() && !text.contains(['/', '\\']) => Ok(Target::Run(text.to_string())),
            ModelRef::Dir(_) => Err(ReproduceError::Target { text: text.to_string() }),
        }
    }
}

/// Everything a reproduction needs, resolved by the command.
#[derive(Debug, Clone)]
pub struct ReproduceRequest {
    pub target: Target,
    /// A data file to use instead of the recorded location (still checked against the digest).
    pub data: Option<PathBuf>,
    pub blob: BlobAccess,
    /// The local dataset registry, where registered dataset versions are looked up.
    pub datasets: DatasetRegistry,
    /// Where models from a server and data from blobs are downloaded.
    pub cache: PathBuf,
    pub mlops_version: String,
    pub build_target: String,
    /// With `--log`: the reproduction is a run in this experiment, tagged `mlops.reproduces`.
    pub log: Option<LogRun>,
}

/// How the reproduction is logged as a run.
#[derive(Debug, Clone)]
pub struct LogRun {
    pub experiment: String,
    pub provenance: Provenance,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Same inputs, same bits.
    Identical,
    /// Same inputs, different numbers.
    Different,
    /// An input is missing or changed (data, mlops version, a dirty tree): not reproducible as recorded.
    InputChanged,
}

/// A reason the record cannot be reproduced as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `data-missing`, `data-digest-mismatch`, `mlops-version`, `dirty-tree`, `params-missing`,
    /// `params-invalid`, `metrics-missing`.
    pub kind: &'static str,
    pub message: String,
}

impl Problem {
    pub fn new(kind: &'static str, message: String) -> Self {
        Problem { kind, message }
    }
}

/// The result of `mlops reproduce`, in the stable shape of `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct ReproduceReport {
    pub outcome: Outcome,
    pub run_id: String,
    /// The registered version asked for, when a `models:/` URI was given.
    pub model: Option<ModelVersionRef>,
    /// Set when a pipeline run was given: its training step's run is `run_id`.
    pub pipeline_run_id: Option<String>,
    pub params: Option<Params>,
    pub recorded_sha256: Option<String>,
    pub data: Option<DataFound>,
    pub lineage: LineageCheck,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    /// Absent when the model could not be retrained (missing or changed data, missing parameters).
    pub comparison: Option<Comparison>,
    /// The run made with `--log`.
    pub reproduction_run_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelVersionRef {
    pub name: String,
    pub version: u64,
}

/// Why a reproduction could not be attempted.
#[derive(Debug, thiserror::Error)]
pub enum ReproduceError {
    #[error("{text:?} is not a run id, runs:/RUN_ID/model, models:/NAME/VERSION or models:/NAME@ALIAS")]
    Target { text: String },
    #[error("model {name} version {version} names no run, so there is nothing to reproduce it from")]
    VersionWithoutRun { name: String, version: u64 },
    #[error("pipeline run {run_id} has no training step run (a child run of mlops train)")]
    PipelineWithoutTraining { run_id: String },
    #[error("cannot read the recorded model of run {run_id}")]
    RecordedModel {
        run_id: String,
        #[source]
        source: ModelError,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
}

impl HasKind for ReproduceError {
    fn kind(&self) -> ErrorKind {
        match self {
            ReproduceError::Target { .. } => ErrorKind::Usage,
            ReproduceError::VersionWithoutRun { .. } | ReproduceError::PipelineWithoutTraining { .. } => {
                ErrorKind::NotFound
            }
            ReproduceError::RecordedModel { source, .. } => source.kind(),
            ReproduceError::Registry(e) => e.kind(),
            ReproduceError::Store(e) => e.kind(),
            ReproduceError::Train(e) => e.kind(),
            ReproduceError::Fetch(e) => e.kind(),
        }
    }
}

/// Reproduces the target's model and compares it with the recorded one.
pub async fn reproduce(tracker: &Tracker, request: &ReproduceRequest) -> Result<ReproduceReport, ReproduceError> {
    let (run_id, model) = resolve_target(tracker, &request.target).await?;
    let given = crate::registry::release::get_run(tracker, &run_id).await?;
    let (run, pipeline_run_id) = match training_run(tracker, &given).await? {
        Some(child) => (child, Some(given.info.run_id.clone())),
        None => (given, None),
    };
    let run_id = run.info.run_id.clone();
    let (lineage, mut problems, warnings) =
        inputs::check_lineage(&run.tags, &request.mlops_version, &request.build_target);
    let recorded_sha256 = match inputs::recorded_digest(&run) {
        Some(sha) => Some(sha),
        None => recorded_model_sha(tracker, request, &run_id).await,
    };
    let mut report = ReproduceReport {
        outcome: Outcome::InputChanged,
        run_id: run_id.clone(),
        model,
        pipeline_run_id,
        params: None,
        recorded_sha256: recorded_sha256.clone(),
        data: None,
        lineage,
        problems: Vec::new(),
        warnings: Vec::new(),
        comparison: None,
        reproduction_run_id: None,
    };
    let params = match inputs::params(&run) {
        Ok(params) => Some(params),
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    let recorded_metrics = recorded_metrics(&run);
    if recorded_metrics.is_none() {
        problems.push(Problem::new(
            "metrics-missing",
            format!(
                "run {run_id} has no test metrics (status {}): there is nothing to compare",
                run.info.status.as_str()
            ),
        ));
    }
    let data = fetch::find_data(&run, recorded_sha256.as_deref(), request).await?;
    let data = match data {
        Ok(found) => Some(found),
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    report.params = params.clone();
    report.data = data.clone();
    if let (Some(params), Some(data), Some(metrics)) = (params, data, recorded_metrics) {
        let recorded = recorded_numbers(tracker, request, &run_id, metrics).await?;
        let (reproduced, reproduction_run_id) = retrain(tracker, request, &run_id, &params, &data).await?;
        let comparison = compare(&recorded, &reproduced);
        report.outcome = if !problems.is_empty() {
            Outcome::InputChanged
        } else if comparison.identical {
            Outcome::Identical
        } else {
            Outcome::Different
        };
        report.comparison = Some(comparison);
        report.reproduction_run_id = reproduction_run_id;
    }
    report.problems = problems;
    report.warnings = warnings;
    Ok(report)
}

/// The run id behind the target, and the version when a registered model was named.
async fn resolve_target(
    tracker: &Tracker,
    target: &Target,
) -> Result<(String, Option<ModelVersionRef>), ReproduceError> {
    match target {
        Target::Run(run_id) => Ok((run_id.clone(), None)),
        Target::Model { name, selector } => {
            let registry = Registry::of(tracker);
            let version = registry.select(name, selector).await?;
            let run_id = version
                .run_id
                .clone()
                .filter(|r| !r.is_empty())
                .ok_or(ReproduceError::VersionWithoutRun { name: name.clone(), version: version.version })?;
            Ok((run_id, Some(ModelVersionRef { name: name.clone(), version: version.version })))
        }
    }
}

/// For the parent run of `mlops pipeline run`, its child run that trained; `None` for any other run.
async fn training_run(tracker: &Tracker, run: &Run) -> Result<Option<Run>, ReproduceError> {
    // The parent's params are the pipeline's parameters (an `alpha` among them), not a training run's.
    if !run.tags.contains_key(crate::pipeline::TAG_PIPELINE) {
        return Ok(None);
    }
    let parent = &run.info.run_id;
    let experiments = [run.info.experiment_id.clone()];
    let children: Vec<Run> = match tracker {
        Tracker::Local(store) => store.list_runs(Some(&experiments))?,
        Tracker::Remote { client, .. } => {
            let filter = format!("tags.mlflow.parentRunId = '{parent}'");
            client
                .search_runs(&experiments, Some(&filter), &[], 1000)
                .await
                .map_err(|source| StoreError::Remote { uri: client.endpoint().to_string(), source })?
        }
    };
    // Newest first: a resumed pipeline's latest training step wins.
    children
        .into_iter()
        .find(|c| c.tags.get("mlflow.parentRunId") == Some(parent) && c.params.contains_key("alpha"))
        .map(Some)
        .ok_or_else(|| ReproduceError::PipelineWithoutTraining { run_id: parent.clone() })
}

/// The test metrics logged on the run, in `RegressionMetrics::pairs` order.
fn recorded_metrics(run: &Run) -> Option<Vec<(String, f64)>> {
    ["mse", "rmse", "mae", "r2"]
        .iter()
        .map(|name| run.metrics.get(*name).map(|m| (name.to_string(), m.value)))
        .collect()
}

async fn recorded_model(
    tracker: &Tracker,
    request: &ReproduceRequest,
    run_id: &str,
) -> Result<crate::ml::model::LinearModel, ReproduceError> {
    let reference = ModelRef::Run { run_id: run_id.to_string(), path: "model".to_string() };
    let resolved = resolve_model(&reference, tracker, &request.cache).await?;
    model::load(&resolved.dir).map_err(|source| ReproduceError::RecordedModel { run_id: run_id.to_string(), source })
}

/// The training file's SHA-256 the model itself records, for runs without the lineage tags.
async fn recorded_model_sha(tracker: &Tracker, request: &ReproduceRequest, run_id: &str) -> Option<String> {
    recorded_model(tracker, request, run_id).await.ok().map(|m| m.data_sha256).filter(|s| !s.is_empty())
}

async fn recorded_numbers(
    tracker: &Tracker,
    request: &ReproduceRequest,
    run_id: &str,
    metrics: Vec<(String, f64)>,
) -> Result<Numbers, ReproduceError> {
    let model = recorded_model(tracker, request, run_id).await?;
    Ok(Numbers {
        feature_names: model.feature_names,
        coefficients: model.coefficients,
        intercept: model.intercept,
        metrics,
    })
}

/// Trains again with the recorded parameters: in memory, or as a run tagged `mlops.reproduces` with `--log`.
async fn retrain(
    tracker: &Tracker,
    request: &ReproduceRequest,
    run_id: &str,
    params: &Params,
    data: &DataFound,
) -> Result<(Numbers, Option<String>), ReproduceError> {
    let path = PathBuf::from(&data.path);
    match &request.log {
        None => {
            let read = ReadOptions::default();
            let (alpha, size, seed) = (params.alpha, params.test_size, params.seed);
            let fit = fit_file(&path, &params.target, alpha, size, seed, &read, &mut NoProgress)?;
            let m = &fit.model;
            Ok((Numbers::from_fit(&m.feature_names, &m.coefficients, m.intercept, &fit.metrics), None))
        }
        Some(log) => {
            let train_request = TrainRequest {
                data: path,
                target: params.target.clone(),
                alpha: params.alpha,
                test_size: params.test_size,
                seed: params.seed,
                experiment: log.experiment.clone(),
                run_name: Some(format!("reproduce-{}", &run_id[..run_id.len().min(8)])),
                provenance: log.provenance.clone(),
                dataset: None,
                parent_run_id: None,
                extra_tags: vec![(REPRODUCES.to_string(), run_id.to_string())],
                data_source: None,
                read: ReadOptions::default(),
            };
            let report = train(tracker, &train_request, &mut NoProgress).await?;
            let m = &report.model;
            Ok((
                Numbers::from_fit(&m.feature_names, &m.coefficients, m.intercept, &report.metrics),
                Some(report.run_id),
            ))
        }
    }
}
