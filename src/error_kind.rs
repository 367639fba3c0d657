//! What kind of failure an error is: the vocabulary domain errors answer in, so that only the
//! top of the program (`exit`) turns a failure into a number.
//!
//! This module imports nothing of the project. Every module may depend on it, and it depends on
//! none, so naming a kind never ties one domain module to another.

/// The kinds of outcome a command can have besides plain success. Each has one documented exit
/// code (see `exit::code`), the same in every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A bug, or an I/O failure nobody could have foreseen (disk full, permissions on our own files).
    Internal,
    /// The command line is wrong: a flag, an argument, an environment variable or a URI.
    Usage,
    /// The evaluation gate decided the candidate is not better than the champion.
    GateNotBetter,
    /// `what-if --exit-code` found changes.
    ChangesPresent,
    /// A data check failed.
    DataCheckFailed,
    /// A file the user gave is missing, unreadable or malformed.
    Input,
    /// Training is impossible with this data: too few rows, a singular system.
    Training,
    /// A run, experiment, model, version or Azure resource that was asked for does not exist.
    NotFound,
    /// A remote service failed or could not be reached.
    Remote,
    /// Credentials are missing or were rejected.
    Auth,
    /// `mlops reproduce`: the retrained model's numbers differ from the recorded ones.
    NotReproduced,
    /// `mlops reproduce`: an input is missing or changed (the data is gone or has another digest,
    /// another mlops version trained it, it came from a dirty work tree), so the record cannot be
    /// reproduced as it stands.
    ReproductionInput,
    /// The gate refused to compare models trained on different features, target or dataset.
    SchemaMismatch,
    /// A safe rollout failed a stage and put the endpoint's traffic back as it was.
    RolledBack,
    /// An online deployment ended Failed or Canceled; the endpoint's traffic was not touched.
    DeploymentFailed,
    /// Interrupted (Ctrl-C) while waiting; a remote operation goes on.
    Interrupted,
}

impl ErrorKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [ErrorKind; 16] = [
        ErrorKind::Internal,
        ErrorKind::Usage,
        ErrorKind::GateNotBetter,
        ErrorKind::ChangesPresent,
        ErrorKind::DataCheckFailed,
        ErrorKind::Input,
        ErrorKind::Training,
        ErrorKind::NotFound,
        ErrorKind::Remote,
        ErrorKind::Auth,
        ErrorKind::NotReproduced,
        ErrorKind::ReproductionInput,
        ErrorKind::SchemaMismatch,
        ErrorKind::RolledBack,
        ErrorKind::DeploymentFailed,
        ErrorKind::Interrupted,
    ];
}

/// An error that knows its kind. Every domain error type implements it; `exit` lists them.
pub trait HasKind {
    fn kind(&self) -> ErrorKind;
}

/// An error that can travel as a trait object and still say its kind.
pub trait KindedError: std::error::Error + HasKind + Send + Sync + 'static {}

impl<T: std::error::Error + HasKind + Send + Sync + 'static> KindedError for T {}

/// How a domain module that records or interprets process exit codes (a pipeline step's child
/// process, a watch trigger's record) learns the numbers without depending on `exit`: the
/// command layer hands it `exit::code`.
pub type ExitCodeOf = fn(ErrorKind) -> u8;

/// A command-line value that clap could not check by itself (mutually dependent flags, a
/// `KEY=VALUE` argument, an environment variable's value).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl HasKind for UsageError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Usage
    }
}

/// An error and its causes on one line, `outer: cause: deeper cause`. The one chain joiner.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // Some libraries repeat their cause in their own message; say it once.
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
