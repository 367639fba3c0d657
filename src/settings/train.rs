//! `mlops train`: data, parameters and experiment from flags, the parameters file, mlops.toml
//! and the reference's defaults.

use std::path::PathBuf;

use super::{DEFAULT_ALPHA, DEFAULT_DATA, DEFAULT_EXPERIMENT, DEFAULT_SEED, DEFAULT_TARGET, DEFAULT_TEST_SIZE};
use super::{ProjectFile, TrackingSettings, resolve_tracking};
use crate::cli::TrainArgs;
use crate::error_kind::UsageError;
use crate::ml::params::{TrainingParams, parse_overrides, read_parameters_file};
use crate::ml::split::TestSize;
use crate::ml::train::{Provenance, TrainRequest};
use crate::tracking::TrackingUri;

/// Resolved settings of `mlops train`.
#[derive(Debug, Clone)]
pub struct TrainSettings {
    pub request: TrainRequest,
    pub tracking: TrackingSettings,
}

/// Resolves `mlops train` arguments against the project file and defaults.
///
/// `provenance` (who trains, from which code, build and CI) is detected by the caller: finding it runs git.
pub fn resolve_train(args: &TrainArgs, project: &ProjectFile, provenance: Provenance) -> anyhow::Result<TrainSettings> {
    let from_flags = TrainingParams {
        alpha: args.alpha,
        test_size: args.test_size.as_deref().map(TestSize::parse).transpose()?,
        seed: args.seed,
        target: args.target.clone(),
    };
    if let Some(alpha) = args.alpha
        && !(alpha.is_finite() && alpha >= 0.0)
    {
        return Err(UsageError(format!("--alpha must be a finite number >= 0, got {alpha}")).into());
    }
    let from_overrides = parse_overrides(&args.param)?;
    let params_path = args.params.clone().or_else(|| project.train.params.as_deref().map(|p| project.path(p)));
    let from_file = match &params_path {
        Some(path) => read_parameters_file(path)?.training,
        None => TrainingParams::default(),
    };
    let params = from_flags.or(from_overrides).or(from_file);
    let tracking = resolve_tracking(&args.tracking, &args.azureml.azure, project)?;
    let dataset = match &args.dataset {
        Some(text) => {
            let reference = crate::data::registry::DatasetRef::parse(text)?;
            let store = match &tracking.uri {
                TrackingUri::Local(root) => root.clone(),
                TrackingUri::Http(_) | TrackingUri::AzureMl(_) => tracking.local_store.clone(),
            };
            Some(crate::data::registry::DatasetRegistry::for_store(&store).get(&reference)?)
        }
        None => None,
    };
    let data = match &dataset {
        Some(dataset) => PathBuf::from(&dataset.path),
        None => args
            .data
            .clone()
            .or_else(|| project.train.data.as_deref().map(|p| project.path(p)))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA)),
    };
    let request = TrainRequest {
        data,
        target: params.target.unwrap_or_else(|| DEFAULT_TARGET.to_string()),
        alpha: params.alpha.unwrap_or(DEFAULT_ALPHA),
        test_size: params.test_size.unwrap_or(DEFAULT_TEST_SIZE),
        seed: params.seed.unwrap_or(DEFAULT_SEED),
        experiment: args
            .experiment
            .clone()
            .or_else(|| project.tracking.experiment.clone())
            .unwrap_or_else(|| DEFAULT_EXPERIMENT.to_string()),
        run_name: args.run_name.clone(),
        provenance,
        dataset,
        parent_run_id: args.parent_run_id.clone(),
        extra_tags: Vec::new(),
        data_source: std::env::var(crate::env_vars::MLOPS_DATA_SOURCE).ok().filter(|v| !v.trim().is_empty()),
        read: super::read_options(&args.read),
    };
    Ok(TrainSettings { request, tracking })
}
