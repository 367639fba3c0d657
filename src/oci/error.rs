//! Why an OCI operation failed.

use std::path::PathBuf;

use crate::error_kind::{ErrorKind, HasKind};
use crate::http::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("invalid image reference {value:?}: {reason}")]
    Reference { value: String, reason: String },
    #[error("registry {registry}: {source}")]
    Http {
        registry: String,
        #[source]
        source: Box<HttpError>,
    },
    #[error("registry {registry}: authentication failed: {message}")]
    Auth { registry: String, message: String },
    #[error("registry {registry}: {what} has digest {actual}, expected {expected}")]
    DigestMismatch { registry: String, what: String, expected: String, actual: String },
    #[error("registry {registry}: {message}")]
    Protocol { registry: String, message: String },
    #[error("image {reference}: {message}")]
    Unsupported { reference: String, message: String },
    #[error("image layout {}: {message}", path.display())]
    Layout { path: PathBuf, message: String },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl OciError {
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        OciError::Io { action, path: path.to_path_buf(), source }
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, OciError::Http { source, .. } if source.is_transient())
    }

    /// What this failure is worth to the project's one retry policy.
    pub fn verdict(&self) -> crate::http::Verdict {
        match self {
            OciError::Http { source, .. } => source.verdict(),
            _ => crate::http::Verdict::Final,
        }
    }
}

impl HasKind for OciError {
    fn kind(&self) -> ErrorKind {
        match self {
            OciError::Reference { .. } => ErrorKind::Usage,
            OciError::Http { source, .. } => source.kind(),
            OciError::Auth { .. } => ErrorKind::Auth,
            OciError::DigestMismatch { .. } | OciError::Protocol { .. } => ErrorKind::Remote,
            OciError::Unsupported { .. } => ErrorKind::NotFound,
            OciError::Layout { .. } => ErrorKind::Input,
            OciError::Io { .. } => ErrorKind::Internal,
        }
    }
}
