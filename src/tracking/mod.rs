//! Experiment tracking: runs with parameters, metrics, tags, dataset inputs and artifacts, kept in
//! an MLflow-compatible store chosen by the tracking URI.

mod local;
mod model_ref;
mod resolve;
mod types;
mod uri;

pub use local::LocalStore;
pub use model_ref::{ModelRef, VersionSelector};
pub use resolve::{ResolvedModel, resolve_model};
pub use types::{DatasetInput, Experiment, Metric, Run, RunInfo, RunStatus};
pub use uri::TrackingUri;

use std::path::PathBuf;

/// Why the tracking store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("tracking store: cannot access {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tracking store: {} is malformed: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("run {run_id} not found in {store}")]
    RunNotFound { run_id: String, store: String },
    #[error("experiment {name:?} not found in {store}")]
    ExperimentNotFound { name: String, store: String },
    #[error("invalid tracking URI {uri:?}: {message}")]
    InvalidUri { uri: String, message: String },
    #[error("{what}: {message}")]
    Unsupported { what: String, message: String },
    #[error("invalid {what} {value:?}: {message}")]
    InvalidValue {
        what: &'static str,
        value: String,
        message: String,
    },
}

impl StoreError {
    pub fn exit_code(&self) -> u8 {
        use crate::exit;
        match self {
            StoreError::Io { .. } => exit::INTERNAL,
            StoreError::Corrupt { .. } => exit::INPUT,
            StoreError::RunNotFound { .. } | StoreError::ExperimentNotFound { .. } => {
                exit::NOT_FOUND
            }
            StoreError::InvalidUri { .. }
            | StoreError::InvalidValue { .. }
            | StoreError::Unsupported { .. } => exit::USAGE,
        }
    }
}

/// Current time in milliseconds since the Unix epoch, as MLflow timestamps are.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
