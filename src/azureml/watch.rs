//! The Azure ML trigger: for each new dataset version, submits the published pipeline as a pipeline
//! job and follows it to its end, as `mlops pipeline submit --stream` does.
//!
//! The new file reaches the job as the `uri_file` input of the pipeline's data parameter
//! (`data_path`, `type: data`): its URL at the source, which Azure ML mounts on the compute. The
//! watch's dataset version (a number in the local registry) is not passed as `dataset_version`: the
//! job registers the file in its own registry, where that number means nothing; the version, digest
//! and source file are recorded as job tags instead.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::jobs::{self, FollowEvent};
use super::publish::{self, is_data_uri};
use super::steps::StepReader;
use super::{AzureMlClient, AzureMlError, JobState, Published, SubmitOptions};
use crate::error_kind::{ErrorKind, ExitCodeOf};
use crate::pipeline::watch::{
    PARAM_DATA_PATH, PARAM_DATASET_VERSION, Trigger, TriggerError, TriggerOutcome, TriggerRequest, TriggerStatus,
    WatchError,
};
use crate::pipeline::{ParameterKind, Pipeline};

/// Job tags that say which new data a job was triggered for.
pub const TAG_DATASET: &str = "mlops.dataset";
pub const TAG_DATASET_VERSION: &str = "mlops.dataset.version";
pub const TAG_DATASET_SHA256: &str = "mlops.dataset.sha256";
pub const TAG_SOURCE_FILE: &str = "mlops.watch.source_file";

impl From<AzureMlError> for WatchError {
    fn from(err: AzureMlError) -> Self {
        WatchError::Trigger(TriggerError::new(err))
    }
}

/// A future that resolves when following should stop (the job goes on).
pub type Interrupt = Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Told each job's status changes and warnings: (job name, event).
pub type OnJobEvent<'a> = Box<dyn FnMut(&str, FollowEvent<'_>) + 'a>;

/// Submits the pipeline to Azure ML for each new dataset version.
pub struct AzureMlTrigger<'a> {
    pub client: AzureMlClient,
    pub published: Published,
    /// Parameters, experiment and compute every job gets; the trigger adds the data.
    pub options: SubmitOptions,
    /// How often a followed job is read.
    pub interval: Duration,
    /// Reads each job's steps, when the workspace has an MLflow endpoint.
    pub steps: Option<StepReader>,
    pub interrupt: Interrupt,
    pub on_event: OnJobEvent<'a>,
    /// The numbers a trigger's record carries: a job that ended Failed or Canceled is recorded
    /// with the remote-failure code, as `pipeline submit --stream` exits.
    pub exit_code_of: ExitCodeOf,
}

/// Checks the pipeline can take new data in Azure ML: a `type: data` parameter `data_path`.
pub fn check_azureml_pipeline(pipeline: &Pipeline) -> Result<(), WatchError> {
    match pipeline.parameters.get(PARAM_DATA_PATH) {
        Some(p) if p.kind == ParameterKind::Data => Ok(()),
        Some(_) => Err(WatchError::Setup(format!(
            "--target azureml hands the new file to the job as a data input: declare parameter {PARAM_DATA_PATH:?} \
             of pipeline {:?} with `type: data`",
            pipeline.name
        ))),
        None => Err(WatchError::Setup(format!(
            "--target azureml hands the new file to the job as the data parameter {PARAM_DATA_PATH:?}, which \
             pipeline {:?} does not declare",
            pipeline.name
        ))),
    }
}

impl Trigger for AzureMlTrigger<'_> {
    fn target(&self) -> &'static str {
        "azureml"
    }

    async fn trigger(&mut self, request: &TriggerRequest) -> Result<TriggerOutcome, WatchError> {
        let dataset = &request.dataset;
        let uri = &dataset.original_path;
        if !is_data_uri(uri) {
            return Err(WatchError::Setup(format!(
                "{uri} is a local file, which Azure ML cannot read: watch a blob container (--source \
                 https://ACCOUNT.blob.core.windows.net/CONTAINER or blob:CONTAINER) for --target azureml"
            )));
        }
        let mut options = self.options.clone();
        for (key, value) in &request.parameters {
            match key.as_str() {
                PARAM_DATASET_VERSION => {}
                PARAM_DATA_PATH => {
                    options.parameters.insert(key.clone(), uri.clone());
                }
                _ => {
                    options.parameters.insert(key.clone(), value.clone());
                }
            }
        }
        options.tags.insert(TAG_DATASET.to_string(), dataset.name.clone());
        options.tags.insert(TAG_DATASET_VERSION.to_string(), dataset.version.to_string());
        options.tags.insert(TAG_DATASET_SHA256.to_string(), dataset.sha256.clone());
        options.tags.insert(TAG_SOURCE_FILE.to_string(), request.source_file.clone());
        options.display_name = Some(format!("{} on {}:{}", self.published.pipeline, dataset.name, dataset.version));
        let job = publish::submit_pipeline(&self.client, &self.published, &options).await?;
        let name = job.name.clone();
        (self.on_event)(&name, FollowEvent::Status(&job.status));
        let on_event = &mut self.on_event;
        let mut forward = |event: FollowEvent<'_>| on_event(&name, event);
        let mut interrupt = (self.interrupt)();
        let followed =
            jobs::follow_job(&self.client, &name, self.interval, self.steps.as_mut(), &mut forward, interrupt.as_mut())
                .await?;
        let (status, exit_code, message) = if followed.interrupted {
            (
                TriggerStatus::Interrupted,
                i32::from((self.exit_code_of)(ErrorKind::Interrupted)),
                Some(format!("stopped following: job {name} goes on in Azure ML (last status {})", followed.status)),
            )
        } else {
            match followed.state {
                JobState::Completed => (TriggerStatus::Succeeded, 0, None),
                _ => (
                    TriggerStatus::Failed,
                    i32::from((self.exit_code_of)(ErrorKind::Remote)),
                    Some(format!(
                        "job {name} {}{}",
                        followed.status,
                        followed.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                    )),
                ),
            }
        };
        Ok(TriggerOutcome { status, run_id: Some(name), exit_code: Some(exit_code), message })
    }
}
