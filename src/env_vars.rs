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
