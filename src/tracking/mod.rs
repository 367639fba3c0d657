//! Experiment tracking: runs with parameters, metrics, tags, dataset inputs and artifacts, kept in
//! an MLflow-compatible store chosen by the tracking URI.

pub mod lineage;
pub(crate) mod local;
pub mod mlflow;
pub mod model_ref;
pub mod nest;
pub mod provenance;
pub mod search;
pub mod sync;
mod tracker;
mod types;
pub mod uri;

pub use local::LocalStore;
pub use model_ref::{ModelRef, VersionSelector};
pub use tracker::{SyncReport, Tracker};
pub use types::{DatasetInput, Experiment, Metric, Run, RunInfo, RunStatus};
pub use uri::TrackingUri;

use crate::error_kind::{ErrorKind, HasKind};
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
    #[error("run id prefix {prefix:?} matches {} runs in {store}: {}; give more characters", candidates.len(), candidates.join(", "))]
    AmbiguousRunId { prefix: String, store: String, candidates: Vec<String> },
    #[error("experiment {name:?} not found in {store}")]
    ExperimentNotFound { name: String, store: String },
    #[error("invalid tracking URI {uri:?}: {message}")]
    InvalidUri { uri: String, message: String },
    #[error("{what}: {message}")]
    Unsupported { what: String, message: String },
    #[error("invalid {what} {value:?}: {message}")]
    InvalidValue { what: &'static str, value: String, message: String },
    #[error("tracking server {uri}: request failed")]
    Remote {
        uri: String,
        #[source]
        source: crate::http::HttpError,
    },
    #[error("refusing to log a value the tracking server would truncate or mangle: {0}")]
    Value(#[from] mlflow::ValueError),
}

impl StoreError {
    /// Whether the server could not be reached or kept failing: the run stays local, pending sync.
    pub fn is_offline(&self) -> bool {
        matches!(self, StoreError::Remote { source, .. } if source.is_transient())
    }
}

impl HasKind for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Io { .. } => ErrorKind::Internal,
            StoreError::Corrupt { .. } => ErrorKind::Input,
            StoreError::RunNotFound { .. } | StoreError::ExperimentNotFound { .. } => ErrorKind::NotFound,
            StoreError::InvalidUri { .. }
            | StoreError::InvalidValue { .. }
            | StoreError::Unsupported { .. }
            | StoreError::AmbiguousRunId { .. } => ErrorKind::Usage,
            StoreError::Remote { source, .. } => source.kind(),
            StoreError::Value(_) => ErrorKind::Input,
        }
    }
}

/// Current time in milliseconds since the Unix epoch, as MLflow timestamps are.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
