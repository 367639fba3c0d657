//! What can go wrong before and during a deployment, each naming the file, parameter or resource.

use std::path::PathBuf;

use crate::azure::error::HttpError;
use crate::azure::lro::LroError;
use crate::error_kind::{ErrorKind, HasKind};

#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    #[error("cannot read {what} {}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: not valid JSON: {message}", path.display())]
    NotJson { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{}:{line}:{column}: {message}", path.display())]
    NotText { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{} is not an ARM template: {reason}", path.display())]
    NotTemplate { path: PathBuf, reason: String },
    #[error("{} is not a parameters file: {reason}", path.display())]
    NotParameters { path: PathBuf, reason: String },
    #[error(
        "{} is a Bicep file and no Bicep compiler was found: install `bicep` (or the Azure CLI, for `az bicep build`) on PATH, or deploy the compiled ARM JSON",
        path.display()
    )]
    BicepUnavailable { path: PathBuf },
    #[error("compiling {} with `{compiler}` failed:\n{stderr}", path.display())]
    BicepFailed { path: PathBuf, compiler: String, stderr: String },
    #[error(transparent)]
    Bicep(#[from] crate::infra::bicep::BicepError),
    #[error("{}: the native and the external Bicep compiler disagree: {difference}", path.display())]
    BicepMismatch { path: PathBuf, difference: String },
    #[error("{} targets the {template} scope, but the deployment is at {requested} scope{hint}", path.display())]
    ScopeMismatch { path: PathBuf, template: &'static str, requested: &'static str, hint: &'static str },
    #[error("--parameters {argument:?}: inline JSON is not valid at line {line}, column {column}: {message}")]
    InlineJson { argument: String, line: usize, column: usize, message: String },
    #[error("--parameters {argument:?}: {reason}")]
    Argument { argument: String, reason: String },
    #[error("parameter {name:?} (from {source_name}) is not declared by the template; it declares: {known}")]
    UnknownParameter { name: String, source_name: String, known: String },
    #[error("parameter {name:?} (from {source_name}): {reason}")]
    InvalidValue {
        name: String,
        source_name: String,
        reason: String,
        /// Whether the value came from the command line (a usage error) or a file.
        from_command_line: bool,
    },
    #[error("missing value for required template parameter{} {}: pass it with --parameters", if names.len() > 1 { "s" } else { "" }, names.join(", "))]
    MissingParameters { names: Vec<String> },
    #[error("ARM rejected the deployment {name}:\n{details}")]
    Rejected { name: String, details: String },
    #[error("deployment {name} {state}:\n{details}")]
    DeploymentFailed { name: String, state: String, details: String },
    #[error("deployment {name} not found in {scope}")]
    NotFound { name: String, scope: String },
    #[error("deployment stack {name} not found in {scope}")]
    StackNotFound { name: String, scope: String },
    #[error("{0}")]
    Http(#[from] HttpError),
    #[error("{0}")]
    Lro(#[from] LroError),
}

impl HasKind for InfraError {
    fn kind(&self) -> ErrorKind {
        match self {
            InfraError::Read { .. }
            | InfraError::NotJson { .. }
            | InfraError::NotText { .. }
            | InfraError::NotTemplate { .. }
            | InfraError::NotParameters { .. }
            | InfraError::BicepUnavailable { .. }
            | InfraError::BicepFailed { .. }
            | InfraError::Bicep(_)
            | InfraError::BicepMismatch { .. }
            | InfraError::UnknownParameter { .. }
            | InfraError::MissingParameters { .. } => ErrorKind::Input,
            InfraError::InvalidValue { from_command_line, .. } => {
                if *from_command_line {
                    ErrorKind::Usage
                } else {
                    ErrorKind::Input
                }
            }
            InfraError::ScopeMismatch { .. } | InfraError::InlineJson { .. } | InfraError::Argument { .. } => {
                ErrorKind::Usage
            }
            InfraError::NotFound { .. } | InfraError::StackNotFound { .. } => ErrorKind::NotFound,
            InfraError::Rejected { .. } | InfraError::DeploymentFailed { .. } => ErrorKind::Remote,
            InfraError::Http(err) => err.kind(),
            InfraError::Lro(err) => err.kind(),
        }
    }
}

impl InfraError {
    /// A file that is not UTF-8, at its first bad byte.
    pub fn not_text(path: &std::path::Path, e: crate::decode::DecodeError) -> Self {
        InfraError::NotText { path: path.to_path_buf(), line: e.line, column: e.column, message: e.message }
    }

    /// A file that is not JSON (or has a key twice), where it goes wrong.
    pub fn not_json(path: &std::path::Path, e: crate::decode::DecodeError) -> Self {
        InfraError::NotJson { path: path.to_path_buf(), line: e.line, column: e.column, message: e.message }
    }
}

/// Line and column (1-based) of a serde_json error, for messages that point into a file.
pub fn json_position(err: &serde_json::Error) -> (usize, usize) {
    (err.line(), err.column())
}
