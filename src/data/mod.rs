//! Tabular data: CSV files streamed in record-aligned chunks on every core, profiles and checks
//! of their columns, and the registry of dataset versions. Errors name file, line and column.

pub mod chunks;
pub(crate) mod columns;
pub(crate) mod csv_table;
pub mod datastore;
pub mod profile;
pub mod quantiles;
pub(crate) mod records;
pub mod registry;
pub mod stats;
pub mod validate;

pub use chunks::{NoProgress, ReadOptions, ReadProgress};
pub use columns::{RawColumn, RawTable, read_columns};

use crate::error_kind::{ErrorKind, HasKind};
use std::path::PathBuf;

/// Why a data file could not be used. Every variant names the file; row-level ones the line too.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read data file {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data file {} is empty: expected a header row and at least one data row", path.display())]
    Empty { path: PathBuf },
    #[error("data file {} has a header row but no data rows", path.display())]
    HeaderOnly { path: PathBuf },
    #[error("{}:1: column {:?} appears twice in the header (columns {first} and {second})", path.display(), crate::decode::cut(column))]
    DuplicateColumn { path: PathBuf, column: String, first: usize, second: usize },
    #[error("{}:1: header has an empty column name at column {index}", path.display())]
    EmptyColumnName { path: PathBuf, index: usize },
    #[error("{}:{line}: row has {found} fields, but the header has {expected}", path.display())]
    Ragged { path: PathBuf, line: u64, expected: usize, found: usize },
    #[error("{}:{line}: column {:?}: {value:?} is not a number", path.display(), crate::decode::cut(column))]
    NonNumeric { path: PathBuf, line: u64, column: String, value: String },
    #[error("{}:{line}: column {:?}: missing value{more}", path.display(), crate::decode::cut(column), more = more_missing(*others))]
    Missing { path: PathBuf, line: u64, column: String, others: usize },
    #[error("{}:{line}: column {:?}: {value:?} is not a finite number", path.display(), crate::decode::cut(column))]
    NonFinite { path: PathBuf, line: u64, column: String, value: String },
    #[error("{}:{line}: malformed CSV: {message}", path.display())]
    Malformed { path: PathBuf, line: u64, message: String },
    #[error("data file {} changed while it was being read; read it again when it is complete", path.display())]
    Changed { path: PathBuf },
    #[error("internal error while reading data: {0}")]
    Internal(String),
    #[error("{}: no column named {:?} (columns: {})", path.display(), crate::decode::cut(column), crate::decode::listed(available.iter().map(String::as_str), false))]
    ColumnMissing { path: PathBuf, column: String, available: Vec<String> },
    #[error("{}: the target column {:?} is the only column; there are no features", path.display(), crate::decode::cut(target))]
    NoFeatures { path: PathBuf, target: String },
    #[error("{}: not a data profile: {message}", path.display())]
    Profile { path: PathBuf, message: String },
    #[error("invalid dataset {text:?}: {message}")]
    DatasetRef { text: String, message: String },
    #[error("dataset {name}{} is not registered in {}", version.map(|v| format!(" version {v}")).unwrap_or_default(), registry.display())]
    DatasetNotFound { name: String, version: Option<u32>, registry: PathBuf },
    #[error("dataset registry: {} is malformed: {message}", path.display())]
    Registry { path: PathBuf, message: String },
    #[error("dataset registry: cannot access {}", path.display())]
    RegistryIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn more_missing(others: usize) -> String {
    match others {
        0 => String::new(),
        1 => " (and 1 more missing cell in the file)".to_string(),
        n => format!(" (and {n} more missing cells in the file)"),
    }
}

impl HasKind for DataError {
    /// A problem with a file the user gave, except for lookups of what is not there.
    fn kind(&self) -> ErrorKind {
        match self {
            DataError::DatasetNotFound { .. } => ErrorKind::NotFound,
            DataError::DatasetRef { .. } => ErrorKind::Usage,
            DataError::RegistryIo { .. } | DataError::Internal(_) => ErrorKind::Internal,
            _ => ErrorKind::Input,
        }
    }
}
