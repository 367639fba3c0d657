//! Azure Machine Learning through its v2 REST API on the ARM control plane: the workspace, assets
//! (environments, components), jobs and schedules, and publishing `mlops` pipelines as Azure ML
//! components and pipeline jobs. No Python, no Azure ML SDK.

pub mod assets;
pub mod cron;
pub mod jobs;
pub mod publish;
pub mod schedules;
pub mod steps;
pub mod workspace;

pub use jobs::{JobFollow, JobState};
pub use publish::{PublishOptions, Published, SubmitOptions, publish_pipeline, submit_pipeline};
pub use workspace::{AzureMlClient, DEFAULT_API_VERSION, Workspace, WorkspaceRef, resolve_workspace};

use crate::azure::HttpError;
use crate::azure::lro::LroError;

/// Why an Azure ML request could not be done.
#[derive(Debug, thiserror::Error)]
pub enum AzureMlError {
    #[error("workspace {name:?} not found in resource group {resource_group:?} of subscription {subscription}")]
    WorkspaceNotFound { subscription: String, resource_group: String, name: String, source: HttpError },
    #[error("compute {name:?} not found in workspace {workspace:?}; create it or pass an existing --compute")]
    UnknownCompute { name: String, workspace: String, source: HttpError },
    #[error("{kind} {name:?} not found in workspace {workspace:?}")]
    NotFound { kind: &'static str, name: String, workspace: String, source: Option<HttpError> },
    #[error("{0}")]
    Invalid(String),
    #[error("the service answered without {0}")]
    Shape(String),
    #[error("{what} failed: {}", .error.as_ref().map(|e| e.render()).unwrap_or_else(|| "no error details".to_string()))]
    OperationFailed { what: String, error: Option<Box<crate::azure::ErrorDetail>> },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Lro(#[from] LroError),
}

impl AzureMlError {
    pub fn exit_code(&self) -> u8 {
        use crate::exit;
        match self {
            AzureMlError::WorkspaceNotFound { .. } | AzureMlError::NotFound { .. } => exit::NOT_FOUND,
            AzureMlError::UnknownCompute { .. } => exit::NOT_FOUND,
            AzureMlError::Invalid(_) => exit::USAGE,
            AzureMlError::Shape(_) | AzureMlError::OperationFailed { .. } | AzureMlError::Lro(_) => exit::REMOTE,
            AzureMlError::Http(e) => crate::infra::error::http_exit_code(e),
        }
    }
}
