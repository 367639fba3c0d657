//! The tracking data model, shaped like MLflow's entities.

use std::collections::BTreeMap;

use serde::Serialize;

/// An experiment: a named group of runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
}

/// Lifecycle state of a run; the numbers are MLflow's file-store encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    Running,
    Scheduled,
    Finished,
    Failed,
    Killed,
}

impl RunStatus {
    pub fn as_int(self) -> i64 {
        match self {
            RunStatus::Running => 1,
            RunStatus::Scheduled => 2,
            RunStatus::Finished => 3,
            RunStatus::Failed => 4,
            RunStatus::Killed => 5,
        }
    }

    pub fn from_int(value: i64) -> Option<Self> {
        Some(match value {
            1 => RunStatus::Running,
            2 => RunStatus::Scheduled,
            3 => RunStatus::Finished,
            4 => RunStatus::Failed,
            5 => RunStatus::Killed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Scheduled => "SCHEDULED",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    /// Whether the run has ended (FINISHED, FAILED or KILLED).
    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Finished | RunStatus::Failed | RunStatus::Killed)
    }
}

/// Identity and state of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    pub experiment_id: String,
    pub run_name: String,
    pub status: RunStatus,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub artifact_uri: String,
    pub user_id: String,
    pub lifecycle_stage: String,
}

/// One metric value at a step and time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metric {
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

/// A dataset a run consumed, as MLflow's `log-inputs` records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetInput {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    /// JSON text, e.g. `{"uri": "/abs/data.csv"}`.
    pub source: String,
    /// JSON text in MLflow's `mlflow_colspec` form.
    pub schema: String,
    /// JSON text, e.g. `{"num_rows": 442, "num_elements": 4862}`.
    pub profile: String,
    /// `mlflow.data.context` tag: `training`, `evaluation`, …
    pub context: String,
}

/// A run with its data. Metrics hold the latest value per key, as MLflow shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub info: RunInfo,
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, Metric>,
    pub tags: BTreeMap<String, String>,
    pub inputs: Vec<DatasetInput>,
}

#[cfg(test)]
impl Run {
    /// A finished run with these params and tags and nothing else, for unit tests.
    pub fn finished(run_id: &str, params: &[(&str, &str)], tags: &[(&str, &str)]) -> Run {
        let pairs = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Run {
            info: RunInfo {
                run_id: run_id.into(),
                experiment_id: "0".into(),
                run_name: run_id.into(),
                status: RunStatus::Finished,
                start_time: 0,
                end_time: None,
                artifact_uri: String::new(),
                user_id: String::new(),
                lifecycle_stage: "active".into(),
            },
            params: pairs(params),
            metrics: BTreeMap::new(),
            tags: pairs(tags),
            inputs: Vec::new(),
        }
    }
}
