//! Exit codes: the one place that decides which number a failure becomes.
//!
//! The numbers are documented in the README and are stable: CI scripts branch on them.

use crate::azure::blob::BlobError;
use crate::azure::cloud::CloudError;
use crate::azure::{AuthError, HttpError};
use crate::data::DataError;
use crate::infra::InfraError;
use crate::infra::bicep::BicepError;
use crate::ml::model::ModelError;
use crate::ml::params::ParamsError;
use crate::ml::ridge::RidgeError;
use crate::ml::split::SplitError;
use crate::ml::train::TrainError;
use crate::registry::RegistryError;
use crate::serve::ServeError;
use crate::serve::request_log::RequestLogError;
use crate::serve::smoke::SmokeError;
use crate::settings::SettingsError;
use crate::tracking::StoreError;

/// Success.
pub const OK: u8 = 0;
/// An unexpected failure: a bug, or an I/O error nobody could have foreseen.
pub const INTERNAL: u8 = 1;
/// The command line is wrong: unknown flag, missing argument, option value out of range.
pub const USAGE: u8 = 2;
/// The evaluation gate decided the candidate is not better than the champion.
pub const GATE_NOT_BETTER: u8 = 3;
/// `what-if --exit-code` found changes.
pub const CHANGES_PRESENT: u8 = 4;
/// A data check failed (`mlops data validate`).
pub const DATA_CHECK_FAILED: u8 = 5;
/// A file the user gave is missing, unreadable or malformed (data, parameters, model, config).
pub const INPUT: u8 = 6;
/// Training is impossible with this data: too few rows for the split, a singular system.
pub const TRAINING: u8 = 7;
/// A run, experiment, model or version that was asked for does not exist.
pub const NOT_FOUND: u8 = 8;
/// A remote service (tracking server, Azure) failed or could not be reached.
pub const REMOTE: u8 = 9;
/// Credentials are missing or were rejected.
pub const AUTH: u8 = 10;
/// `mlops reproduce`: the retrained model's numbers differ from the recorded ones.
pub const NOT_REPRODUCED: u8 = 11;
/// `mlops reproduce`: an input is missing or changed (data gone or with another digest, another
/// mlops version, a dirty work tree, missing parameters), so the record cannot be reproduced as it stands.
pub const REPRODUCTION_INPUT: u8 = 12;
/// Interrupted (Ctrl-C) while waiting; the remote operation goes on.
pub const INTERRUPTED: u8 = 130;

/// The exit code for a failed command: the first error in the chain that has a known kind decides.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(code) = classify(cause) {
            return code;
        }
    }
    INTERNAL
}

fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
    if let Some(err) = cause.downcast_ref::<RegistryError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<TrainError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<DataError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<crate::data::datastore::DatastoreError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<crate::init::InitError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<crate::reproduce::ReproduceError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<crate::azureml::AzureMlError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<crate::pipeline::remote::RemoteStepError>() {
        return Some(match err {
            crate::pipeline::remote::RemoteStepError::Upstream(_) => USAGE,
            crate::pipeline::remote::RemoteStepError::ReadUpstream { .. } => INPUT,
            _ => INTERNAL,
        });
    }
    if let Some(err) = cause.downcast_ref::<crate::pipeline::PipelineError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<crate::pipeline::watch::WatchError>() {
        return Some(err.exit_code());
    }
    if cause.downcast_ref::<ParamsError>().is_some() {
        return Some(INPUT);
    }
    if cause.downcast_ref::<SettingsError>().is_some() {
        return Some(INPUT);
    }
    if let Some(err) = cause.downcast_ref::<SplitError>() {
        return Some(err.exit_code());
    }
    if cause.downcast_ref::<RidgeError>().is_some() {
        return Some(TRAINING);
    }
    if let Some(err) = cause.downcast_ref::<ModelError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<StoreError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<InfraError>() {
        return Some(err.exit_code());
    }
    if cause.downcast_ref::<AuthError>().is_some() {
        return Some(AUTH);
    }
    if let Some(err) = cause.downcast_ref::<HttpError>() {
        return Some(crate::infra::error::http_exit_code(err));
    }
    if cause.downcast_ref::<CloudError>().is_some() {
        return Some(USAGE);
    }
    if cause.downcast_ref::<BicepError>().is_some() {
        return Some(INPUT);
    }
    if let Some(err) = cause.downcast_ref::<ServeError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<RequestLogError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<BlobError>() {
        return Some(err.exit_code());
    }
    if let Some(err) = cause.downcast_ref::<SmokeError>() {
        return Some(err.exit_code());
    }
    if cause.downcast_ref::<UsageError>().is_some() {
        return Some(USAGE);
    }
    None
}

/// A command-line value that clap could not check by itself (for example, mutually dependent flags).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Prints a failure to stderr: the outermost message, then each cause on its own line.
pub fn report(err: &anyhow::Error) {
    let mut text = format!("error: {err}");
    for cause in err.chain().skip(1) {
        text.push_str(&format!("\n  caused by: {cause}"));
    }
    eprintln!("{text}");
}
