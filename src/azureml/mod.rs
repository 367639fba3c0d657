//! Azure Machine Learning through its v2 REST API on the ARM control plane: the workspace, assets
//! (environments, components), jobs and schedules, publishing `mlops` pipelines as Azure ML
//! components and pipeline jobs, and online endpoints with their deployments and safe rollout.
//! No Python, no Azure ML SDK.

pub mod assets;
pub mod cron;
pub mod deployment_settings;
pub mod endpoints;
pub mod jobs;
pub mod online_deployments;
pub mod publish;
pub mod rollout;
pub mod rollout_target;
pub mod schedules;
pub mod scoring;
pub mod step;
pub mod steps;
pub mod traffic;
pub mod watch;
pub mod workspace;

pub use jobs::{JobFollow, JobState};
pub use publish::{PublishOptions, Published, SubmitOptions, publish_pipeline, submit_pipeline};
pub use workspace::{AzureMlClient, DEFAULT_API_VERSION, Workspace, WorkspaceRef, resolve_workspace};

use crate::azure::HttpError;
use crate::azure::lro::LroError;
use crate::error_kind::{ErrorKind, HasKind};

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
    #[error("deployment {deployment:?} of endpoint {endpoint:?} failed: {}; its traffic is unchanged", .error.as_ref().map(|e| e.render()).unwrap_or_else(|| "no error details".to_string()))]
    DeploymentFailed { endpoint: String, deployment: String, error: Option<Box<crate::azure::ErrorDetail>> },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Lro(#[from] LroError),
}

impl HasKind for AzureMlError {
    fn kind(&self) -> ErrorKind {
        match self {
            AzureMlError::WorkspaceNotFound { .. } | AzureMlError::NotFound { .. } => ErrorKind::NotFound,
            AzureMlError::UnknownCompute { .. } => ErrorKind::NotFound,
            AzureMlError::Invalid(_) => ErrorKind::Usage,
            AzureMlError::Shape(_) | AzureMlError::OperationFailed { .. } => ErrorKind::Remote,
            AzureMlError::DeploymentFailed { .. } => ErrorKind::DeploymentFailed,
            // The same LRO failure exits the same way under `mlops pipeline` as under `mlops infra`.
            AzureMlError::Lro(e) => e.kind(),
            AzureMlError::Http(e) => e.kind(),
        }
    }
}
