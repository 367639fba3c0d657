//! The steps of a pipeline job. The ARM API does not list a pipeline job's child jobs; Azure ML
//! records each step as a child run in the workspace's MLflow store (tag `mlflow.parentRunId` = the
//! pipeline job's name, run name = the step), so that is where their status is read.

use serde::Serialize;

use crate::http::HttpError;
use crate::tracking::RunStatus;
use crate::tracking::mlflow::MlflowClient;

/// How many step runs are read at most (a pipeline has a handful of steps).
const MAX_STEPS: usize = 200;

/// One step of a pipeline job, as its run shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRun {
    pub name: String,
    /// Azure ML's words for the run's state: Running, Completed, Failed, Canceled, Queued.
    pub status: String,
    pub run_id: String,
}

/// Reads the step runs of pipeline jobs in one experiment.
#[derive(Clone)]
pub struct StepReader {
    mlflow: MlflowClient,
    experiment: String,
    experiment_id: Option<String>,
}

impl StepReader {
    pub fn new(mlflow: MlflowClient, experiment: String) -> Self {
        StepReader { mlflow, experiment, experiment_id: None }
    }

    /// Where the steps are read from (for messages).
    pub fn endpoint(&self) -> &str {
        self.mlflow.endpoint()
    }

    /// The child runs of job `job`, oldest first; none while the job has not started a step (or
    /// its experiment does not exist yet).
    pub async fn steps(&mut self, job: &str) -> Result<Vec<StepRun>, HttpError> {
        let experiment_id = match &self.experiment_id {
            Some(id) => id.clone(),
            None => match self.mlflow.get_experiment_by_name(&self.experiment).await? {
                Some(experiment) => self.experiment_id.insert(experiment.experiment_id).clone(),
                None => return Ok(Vec::new()),
            },
        };
        let filter = format!("tags.mlflow.parentRunId = '{}'", job.replace('\'', "\\'"));
        let runs = self
            .mlflow
            .search_runs(&[experiment_id], Some(&filter), &["attributes.start_time ASC".to_string()], MAX_STEPS)
            .await?;
        Ok(runs
            .into_iter()
            .map(|run| StepRun {
                name: run.tags.get("azureml.nodeid").cloned().unwrap_or_else(|| run.info.run_name.clone()),
                status: status_word(run.info.status).to_string(),
                run_id: run.info.run_id,
            })
            .collect())
    }
}

/// MLflow's run status in the words Azure ML uses for jobs.
pub fn status_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "Running",
        RunStatus::Scheduled => "Queued",
        RunStatus::Finished => "Completed",
        RunStatus::Failed => "Failed",
        RunStatus::Killed => "Canceled",
    }
}

/// The steps whose status differs from `before` (new steps included), in `now`'s order.
pub fn changed<'a>(before: &[StepRun], now: &'a [StepRun]) -> Vec<&'a StepRun> {
    now.iter().filter(|s| !before.iter().any(|b| b.run_id == s.run_id && b.status == s.status)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_new_steps_and_new_statuses() {
        let step = |name: &str, status: &str| StepRun {
            name: name.to_string(),
            status: status.to_string(),
            run_id: format!("r-{name}"),
        };
        let before = vec![step("validate", "Running")];
        let now = vec![step("validate", "Completed"), step("train", "Running")];
        let names: Vec<(&str, &str)> =
            changed(&before, &now).iter().map(|s| (s.name.as_str(), s.status.as_str())).collect();
        assert_eq!(names, [("validate", "Completed"), ("train", "Running")]);
        assert!(changed(&now, &now).is_empty());
        assert_eq!(status_word(RunStatus::Killed), "Canceled");
    }
}
