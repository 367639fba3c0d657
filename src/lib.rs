//! `mlops`: train, track, register, serve and provision ML models for Azure from one binary.
//!
//! The binary is a thin shell over [`run`]; everything else is library code so that tests and
//! benches can drive it directly.

pub mod azure;
pub mod azureml;
pub mod cli;
pub mod commands;
pub mod data;
pub mod decode;
pub mod duration;
pub mod env_vars;
pub mod error_kind;
pub mod exit;
pub mod http;
pub mod image;
pub mod infra;
pub mod init;
pub mod logging;
pub mod ml;
pub mod oci;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod registry;
pub mod reproduce;
pub mod secret;
pub mod serve;
pub mod settings;
pub mod tracking;

/// Runs one parsed command line and returns the process exit code for a successful outcome.
///
/// Outcomes that are not errors but still deserve a non-zero code (a gate that said
/// "not better", a what-if with changes) come back as `Ok(code)`.
pub async fn run(cli: cli::Cli) -> anyhow::Result<u8> {
    progress::set_quiet(cli.global.quiet);
    commands::dispatch(cli).await
}
