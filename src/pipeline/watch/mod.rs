//! Retraining on new data: poll a source for data files, register each new content (by SHA-256)
//! as a dataset version, and trigger the pipeline with that version, at most once per digest.
//!
//! The trigger is a [`Trigger`]: the local runner ([`LocalTrigger`]) or a pipeline job in Azure ML
//! (`azureml::watch::AzureMlTrigger`, which lives with Azure ML).

mod local;
mod source;
mod state;

pub use local::LocalTrigger;
pub use source::{Entry, Source, wildcard_match};
pub use state::{Seen, TriggerRecord, TriggerStatus, WatchState};

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use futures::FutureExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Pipeline, PipelineError};
use crate::azure::blob::BlobError;
use crate::data::DataError;
use crate::data::registry::{DatasetRegistry, DatasetVersion};
use crate::error_kind::{ErrorKind, ExitCodeOf, HasKind, KindedError};

/// Pipeline parameter that receives the dataset name.
pub const PARAM_DATASET_NAME: &str = "dataset_name";
/// Pipeline parameter that receives the new dataset version.
pub const PARAM_DATASET_VERSION: &str = "dataset_version";
/// Pipeline parameter that receives the path of the version's file (the registry's copy).
pub const PARAM_DATA_PATH: &str = "data_path";

/// Why a watch could not go on.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot read the watched source {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("watched source {source}")]
    Blob {
        source: String,
        #[source]
        error: Box<BlobError>,
    },
    #[error("watch state {}", path.display())]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("watch state {} is malformed: {message}", path.display())]
    StateFormat { path: PathBuf, message: String },
    #[error("another `mlops pipeline watch` is running on this state (it holds {})", path.display())]
    Locked { path: PathBuf },
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A trigger's own failure (an Azure ML job that could not be submitted, say).
    #[error(transparent)]
    Trigger(TriggerError),
}

/// The failure of a trigger defined elsewhere (Azure ML's lives with Azure ML), keeping its
/// message, causes and kind.
#[derive(Debug)]
pub struct TriggerError(Box<dyn KindedError>);

impl TriggerError {
    pub fn new(err: impl KindedError) -> Self {
        TriggerError(Box::new(err))
    }
}

impl std::fmt::Display for TriggerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TriggerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl HasKind for WatchError {
    fn kind(&self) -> ErrorKind {
        match self {
            WatchError::Read { .. } => ErrorKind::Input,
            WatchError::Blob { error, .. } => error.kind(),
            WatchError::State { .. } | WatchError::Locked { .. } => ErrorKind::Internal,
            WatchError::StateFormat { .. } => ErrorKind::Input,
            WatchError::Setup(_) => ErrorKind::Usage,
            WatchError::Data(e) => e.kind(),
            WatchError::Pipeline(e) => e.kind(),
            WatchError::Trigger(e) => e.0.kind(),
        }
    }
}

/// One trigger's request: the new dataset version and the pipeline parameters that carry it.
///
/// `data_path` among the parameters is the local registry's copy; a remote trigger (Azure ML)
/// hands the job `dataset.original_path` instead, which for a blob source is the blob's URL.
#[derive(Debug, Clone)]
pub struct TriggerRequest {
    pub dataset: DatasetVersion,
    pub source_file: String,
    pub parameters: Vec<(String, String)>,
}

/// What a triggered pipeline did.
#[derive(Debug, Clone)]
pub struct TriggerOutcome {
    /// `Succeeded`, `NotBetter` or `Failed`.
    pub status: TriggerStatus,
    pub run_id: Option<String>,
    pub exit_code: Option<i32>,
    pub message: Option<String>,
}

/// Starts the pipeline for a new dataset version: locally, or as a job in Azure ML.
pub trait Trigger {
    /// Where the pipeline runs, as reports name it (`local`, `azureml`).
    fn target(&self) -> &'static str;
    /// Runs (or submits and follows) the pipeline. An `Err` is a failure to trigger at all.
    fn trigger(&mut self, request: &TriggerRequest) -> impl Future<Output = Result<TriggerOutcome, WatchError>>;
}

/// How to watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub pipeline: String,
    pub dataset: String,
    /// Only file (blob) names matching this wildcard pattern.
    pub pattern: String,
    pub interval: Duration,
    /// One poll, then return.
    pub once: bool,
    /// The number a failed trigger's record carries for its error.
    pub exit_code_of: ExitCodeOf,
}

/// One trigger, in the stable shape of a `--output json` line.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerReport {
    pub pipeline: String,
    pub target: &'static str,
    pub source_file: String,
    pub source: String,
    pub sha256: String,
    pub dataset: String,
    pub dataset_version: u32,
    /// False when the registry's latest version already had this content.
    pub dataset_created: bool,
    pub status: TriggerStatus,
    pub run_id: Option<String>,
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// What a watch tells its caller as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A trigger a previous process started but never finished; it is not retried.
    Interrupted(&'a TriggerRecord),
    /// A poll found nothing new (how many data files it saw).
    Idle {
        files: usize,
    },
    /// A source file's content was triggered before.
    AlreadyTriggered {
        source_file: &'a str,
        record: &'a TriggerRecord,
    },
    /// About to run the pipeline for a new version.
    Triggering {
        source_file: &'a str,
        dataset: &'a DatasetVersion,
    },
    Triggered(&'a TriggerReport),
    /// A poll failed; the watch tries again after the interval.
    PollFailed(&'a WatchError),
}

/// The end of a watch.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WatchSummary {
    pub polls: u64,
    pub triggers: u64,
    pub failed: u64,
    /// The exit code of the first failed trigger.
    pub first_failure_exit_code: Option<i32>,
}

/// The dataset name a pipeline's `dataset_name` parameter defaults to, if any.
pub fn default_dataset(pipeline: &Pipeline) -> Option<String> {
    pipeline.parameters.get(PARAM_DATASET_NAME).and_then(|p| p.default.clone())
}

/// Checks the pipeline can receive new data, and `overrides` are its parameters but not those the
/// watch sets (so a bad `--param` fails now, not at the first trigger).
pub fn check_pipeline(pipeline: &Pipeline, overrides: &[String], file: &std::path::Path) -> Result<(), WatchError> {
    if ![PARAM_DATASET_VERSION, PARAM_DATA_PATH].iter().any(|p| pipeline.parameters.contains_key(*p)) {
        return Err(WatchError::Setup(format!(
            "pipeline {:?} has no parameter {PARAM_DATASET_VERSION:?} or {PARAM_DATA_PATH:?}, so a watch cannot hand it \
             the new data",
            pipeline.name
        )));
    }
    for text in overrides {
        let key = text.split_once('=').map_or(text.as_str(), |(k, _)| k.trim());
        if [PARAM_DATASET_NAME, PARAM_DATASET_VERSION, PARAM_DATA_PATH].contains(&key) {
            return Err(WatchError::Setup(format!(
                "--param {text:?}: the watch sets {key} itself for each new dataset version"
            )));
        }
    }
    let mut all = overrides.to_vec();
    for key in [PARAM_DATASET_NAME, PARAM_DATASET_VERSION, PARAM_DATA_PATH] {
        if pipeline.parameters.contains_key(key) {
            all.push(format!("{key}=set-by-the-watch"));
        }
    }
    super::resolve_parameters(pipeline, &all, file)?;
    Ok(())
}

/// The parameters that hand a dataset version to the pipeline (those the pipeline declares).
pub fn dataset_parameters(pipeline: &Pipeline, dataset: &DatasetVersion) -> Vec<(String, String)> {
    [
        (PARAM_DATASET_NAME, dataset.name.clone()),
        (PARAM_DATASET_VERSION, dataset.version.to_string()),
        (PARAM_DATA_PATH, dataset.path.clone()),
    ]
    .into_iter()
    .filter(|(k, _)| pipeline.parameters.contains_key(*k))
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A future that resolves when the watch should stop (Ctrl-C, SIGTERM).
pub type Stop<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Polls `source` until `stop` (or once): each new content becomes a dataset version and a trigger.
/// The first poll's failure is returned (a wrong source fails fast); later ones are reported
/// through `events` and retried after the interval.
#[expect(clippy::too_many_arguments, reason = "the watch's collaborators, each used once")]
pub async fn watch<T: Trigger>(
    pipeline: &Pipeline,
    source: &Source,
    state: &mut WatchState,
    registry: &DatasetRegistry,
    trigger: &mut T,
    options: &WatchOptions,
    events: &mut dyn FnMut(Event<'_>),
    mut stop: Stop<'_>,
) -> Result<WatchSummary, WatchError> {
    for record in state.take_interrupted()? {
        events(Event::Interrupted(&record));
    }
    let mut summary = WatchSummary::default();
    loop {
        summary.polls += 1;
        match poll(pipeline, source, state, registry, trigger, options, events, &mut stop).await {
            Ok(reports) => {
                for report in reports {
                    summary.triggers += 1;
                    if report.status == TriggerStatus::Failed {
                        summary.failed += 1;
                        summary.first_failure_exit_code.get_or_insert(report.exit_code.unwrap_or(1));
                    }
                }
            }
            Err(err) if summary.polls == 1 || options.once => return Err(err),
            Err(err) => events(Event::PollFailed(&err)),
        }
        if options.once || (&mut stop).now_or_never().is_some() {
            return Ok(summary);
        }
        tokio::select! {
            () = tokio::time::sleep(options.interval) => {}
            () = &mut stop => return Ok(summary),
        }
    }
}

#[expect(clippy::too_many_arguments, reason = "as watch")]
async fn poll<T: Trigger>(
    pipeline: &Pipeline,
    source: &Source,
    state: &mut WatchState,
    registry: &DatasetRegistry,
    trigger: &mut T,
    options: &WatchOptions,
    events: &mut dyn FnMut(Event<'_>),
    stop: &mut Stop<'_>,
) -> Result<Vec<TriggerReport>, WatchError> {
    let entries = source.list(&options.pattern).await?;
    let mut reports = Vec::new();
    for entry in &entries {
        if (&mut *stop).now_or_never().is_some() {
            break;
        }
        let known = state.seen(&entry.name).filter(|s| s.fingerprint == entry.fingerprint).cloned();
        if let Some(record) = known.as_ref().and_then(|s| state.trigger_for(&s.sha256)) {
            events(Event::AlreadyTriggered { source_file: &entry.name, record });
            continue;
        }
        let Some(bytes) = source.read(entry).await? else { continue };
        let sha256 = hex::encode(Sha256::digest(&bytes));
        state.set_seen(&entry.name, Seen { fingerprint: entry.fingerprint.clone(), sha256: sha256.clone() });
        if let Some(record) = state.trigger_for(&sha256) {
            events(Event::AlreadyTriggered { source_file: &entry.name, record });
            state.save()?;
            continue;
        }
        // Registering first is safe to repeat: the same bytes again are the same latest version.
        let file_name = entry.name.rsplit('/').next().unwrap_or(&entry.name);
        let description = format!("new data seen by `mlops pipeline watch` in {}", source.describe());
        let registration = registry.register_bytes(
            &options.dataset,
            file_name,
            &bytes,
            &source.location(entry),
            Some(&description),
        )?;
        let dataset = registration.dataset;
        let started_at = state::now();
        // Recorded (durably) before the pipeline starts: a crash from here on never re-triggers.
        state.record_started(TriggerRecord {
            sha256: sha256.clone(),
            source_file: entry.name.clone(),
            dataset: dataset.name.clone(),
            dataset_version: dataset.version,
            status: TriggerStatus::Started,
            started_at: started_at.clone(),
            finished_at: None,
            run_id: None,
            exit_code: None,
        })?;
        events(Event::Triggering { source_file: &entry.name, dataset: &dataset });
        let request = TriggerRequest {
            parameters: dataset_parameters(pipeline, &dataset),
            dataset: dataset.clone(),
            source_file: entry.name.clone(),
        };
        let outcome = trigger.trigger(&request).await.unwrap_or_else(|err| TriggerOutcome {
            status: TriggerStatus::Failed,
            run_id: None,
            exit_code: Some(i32::from((options.exit_code_of)(err.kind()))),
            message: Some(crate::error_kind::chain(&err)),
        });
        let record = state.record_outcome(&sha256, outcome.status, outcome.run_id.clone(), outcome.exit_code)?;
        let report = TriggerReport {
            pipeline: options.pipeline.clone(),
            target: trigger.target(),
            source_file: entry.name.clone(),
            source: source.location(entry),
            sha256,
            dataset: dataset.name.clone(),
            dataset_version: dataset.version,
            dataset_created: registration.created,
            status: record.status,
            run_id: record.run_id,
            exit_code: record.exit_code,
            message: outcome.message,
            started_at,
            finished_at: record.finished_at,
        };
        events(Event::Triggered(&report));
        reports.push(report);
    }
    let present: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    state.retain_seen(&present);
    if reports.is_empty() {
        events(Event::Idle { files: entries.len() });
    }
    Ok(reports)
}
