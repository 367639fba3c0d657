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
/// Basic-auth user for the tracking server (with `MLFLOW_TRACKING_PASSWORD`; wins over a token).
pub const MLFLOW_TRACKING_USERNAME: &str = "MLFLOW_TRACKING_USERNAME";
/// Basic-auth password for the tracking server.
pub const MLFLOW_TRACKING_PASSWORD: &str = "MLFLOW_TRACKING_PASSWORD";
/// Bearer token for the tracking server.
pub const MLFLOW_TRACKING_TOKEN: &str = "MLFLOW_TRACKING_TOKEN";
/// PEM bundle that replaces the trust roots for the tracking server.
pub const MLFLOW_TRACKING_SERVER_CERT_PATH: &str = "MLFLOW_TRACKING_SERVER_CERT_PATH";
/// `true` skips TLS verification of the tracking server (test servers only).
pub const MLFLOW_TRACKING_INSECURE_TLS: &str = "MLFLOW_TRACKING_INSECURE_TLS";
/// PEM bundle that replaces the default trust roots, as for OpenSSL.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
/// Retries of a failed idempotent request to the tracking server (default 7).
pub const MLFLOW_HTTP_REQUEST_MAX_RETRIES: &str = "MLFLOW_HTTP_REQUEST_MAX_RETRIES";
/// First retry wait in seconds, doubled on each retry (default 2).
pub const MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: &str = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR";
/// Timeout of one request to the tracking server in seconds (default 120).
pub const MLFLOW_HTTP_REQUEST_TIMEOUT: &str = "MLFLOW_HTTP_REQUEST_TIMEOUT";
/// Local store that journals runs bound for a tracking server (default `./mlruns`; flag `--local-store`).
pub const MLOPS_LOCAL_STORE: &str = "MLOPS_LOCAL_STORE";
/// Home directory, for `~/.mlflow/credentials`.
pub const HOME: &str = "HOME";
