//! Pipelines: a YAML file of steps that are `mlops` commands, checked (with line numbers), put in
//! dependency order and run locally as one parent run with a child run per step; `watch` runs
//! them again when new data arrives.

pub mod capture;
pub mod expr;
pub mod file;
pub mod runner;
mod spans;
pub mod watch;

pub use expr::{Expr, parse_template};
pub use file::{Parameter, ParameterKind, Pipeline, Problem, Step, load, parse, resolve_parameters};
pub use runner::{Failure, PipelineReport, RunOptions, StepReport, StepStatus, TAG_PIPELINE, run};

use crate::error_kind::{ErrorKind, HasKind};
use std::path::PathBuf;

/// Why a pipeline could not be checked or run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot read pipeline file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", problems.iter().map(|p| format!("{}:{}: {}", path.display(), p.line, p.message)).collect::<Vec<_>>().join("\n"))]
    Invalid { path: PathBuf, problems: Vec<Problem> },
    #[error("--param {0:?}: {1}")]
    Param(String, String),
    #[error("cannot resume: {0}")]
    Resume(String),
    #[error("--from {0:?}: the pipeline has no such step (steps: {1})")]
    UnknownStep(String, String),
    #[error("cannot start step {step:?} ({program})")]
    Spawn {
        step: String,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::tracking::StoreError),
}

impl HasKind for PipelineError {
    fn kind(&self) -> ErrorKind {
        match self {
            PipelineError::Read { .. } | PipelineError::Invalid { .. } => ErrorKind::Input,
            PipelineError::Param(..) | PipelineError::UnknownStep(..) => ErrorKind::Usage,
            PipelineError::Resume(_) => ErrorKind::NotFound,
            PipelineError::Spawn { .. } => ErrorKind::Internal,
            PipelineError::Store(e) => e.kind(),
        }
    }
}
