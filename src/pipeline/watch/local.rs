//! The local trigger: runs the pipeline with the local runner, as `mlops pipeline run` does.

use std::path::PathBuf;

use super::{Trigger, TriggerOutcome, TriggerRequest, TriggerStatus, WatchError};
use crate::pipeline::{Pipeline, RunOptions, StepReport, resolve_parameters, run};
use crate::tracking::Tracker;

/// Runs the pipeline locally for each new dataset version.
pub struct LocalTrigger<'a> {
    pipeline: Pipeline,
    file: PathBuf,
    tracker: Tracker,
    /// Everything but the parameters, which each trigger resolves.
    options: RunOptions,
    /// `KEY=VALUE` parameters the user gave for every run.
    overrides: Vec<String>,
    progress: Box<dyn FnMut(&StepReport) + 'a>,
}

impl<'a> LocalTrigger<'a> {
    pub fn new(
        pipeline: Pipeline,
        tracker: Tracker,
        options: RunOptions,
        overrides: Vec<String>,
        progress: Box<dyn FnMut(&StepReport) + 'a>,
    ) -> Self {
        LocalTrigger { pipeline, file: options.file.clone(), tracker, options, overrides, progress }
    }
}

impl Trigger for LocalTrigger<'_> {
    fn target(&self) -> &'static str {
        "local"
    }

    async fn trigger(&mut self, request: &TriggerRequest) -> Result<TriggerOutcome, WatchError> {
        let mut overrides = self.overrides.clone();
        overrides.extend(request.parameters.iter().map(|(k, v)| format!("{k}={v}")));
        let parameters = resolve_parameters(&self.pipeline, &overrides, &self.file)?;
        let options = RunOptions { parameters, ..self.options.clone() };
        let report = run(&self.pipeline, &self.tracker, &options, &mut *self.progress).await?;
        let (status, exit_code) = match report.status {
            "failed" => (TriggerStatus::Failed, report.failed_exit_code().unwrap_or(1)),
            "not-better" => (TriggerStatus::NotBetter, 0),
            _ => (TriggerStatus::Succeeded, 0),
        };
        let message = match (status, &report.failure) {
            (TriggerStatus::NotBetter, _) => {
                Some("the gate kept the champion: the new model is not better".to_string())
            }
            (TriggerStatus::Failed, Some(f)) => {
                Some(format!("step {:?} failed: {}", f.step, f.message.as_deref().unwrap_or("?")))
            }
            _ => None,
        };
        Ok(TriggerOutcome {
            status,
            run_id: Some(report.parent_run_id),
            exit_code: Some(exit_code),
            message,
            failed_step: report.failure.as_ref().map(|f| f.step.clone()),
            errors: report.failure.map(|f| f.errors).unwrap_or_default(),
        })
    }
}
