//! Every environment variable `mlops` reads, declared once. Each is bound to a flag in `cli.rs`
//! or read in `settings.rs`, and listed in the README.

/// Tracking store: a path, `file:` URI or `http(s)://` MLflow server (flag `--tracking-uri`).
pub const MLFLOW_TRACKING_URI: &str = "MLFLOW_TRACKING_URI";
/// Experiment name for new runs (flag `--experiment`).
pub const MLFLOW_EXPERIMENT_NAME: &str = "MLFLOW_EXPERIMENT_NAME";
/// Path of the project file, instead of searching for `mlops.toml` upwards from the current directory.
pub const MLOPS_CONFIG: &str = "MLOPS_CONFIG";
/// Disables colour on stderr when set to a non-empty value (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// User name recorded in `mlflow.user`; falls back to the OS account name.
pub const LOGNAME: &str = "LOGNAME";
/// Model of `mlops serve` (flag `--model`), so a container image can set it once.
pub const MLOPS_MODEL: &str = "MLOPS_MODEL";
/// Request-log destination of `mlops serve` (flag `--request-log`).
pub const MLOPS_REQUEST_LOG: &str = "MLOPS_REQUEST_LOG";
/// SAS token for an `https://` blob request log (flag `--request-log-sas`). Never logged.
pub const MLOPS_REQUEST_LOG_SAS: &str = "MLOPS_REQUEST_LOG_SAS";
/// Storage connection string (flag `--storage-connection-string`), the Azure SDKs' usual name. Never logged.
pub const AZURE_STORAGE_CONNECTION_STRING: &str = "AZURE_STORAGE_CONNECTION_STRING";
/// Scoring key for `mlops smoke-test` (flag `--key`). Never logged.
pub const MLOPS_SCORING_KEY: &str = "MLOPS_SCORING_KEY";
