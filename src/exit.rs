//! Exit codes: the one place that turns a kind of failure into a number.
//!
//! Domain errors say what kind of failure they are ([`ErrorKind`]); this module holds the only
//! table from kinds to numbers, which is also the documented table (docs/exit-codes.md, checked
//! by a test). The numbers are stable: CI scripts branch on them.

use crate::azure::AuthError;
use crate::azure::blob::BlobError;
use crate::azure::cloud::CloudError;
use crate::azure::lro::LroError;
use crate::azureml::AzureMlError;
use crate::azureml::deployment_settings::SettingsFileError;
use crate::azureml::rollout::RolloutError;
use crate::azureml::scoring::RequestFileError;
use crate::azureml::step::RemoteStepError;
use crate::data::DataError;
use crate::data::datastore::DatastoreError;
use crate::error_kind::{ErrorKind, HasKind, UsageError};
use crate::http::HttpError;
use crate::image::ImageError;
use crate::infra::InfraError;
use crate::infra::bicep::BicepError;
use crate::infra::prepare::PrepareError;
use crate::infra::restore::RestoreError;
use crate::init::InitError;
use crate::ml::model::ModelError;
use crate::ml::params::ParamsError;
use crate::ml::ridge::RidgeError;
use crate::ml::split::SplitError;
use crate::ml::train::TrainError;
use crate::oci::OciError;
use crate::pipeline::PipelineError;
use crate::pipeline::watch::WatchError;
use crate::registry::RegistryError;
use crate::reproduce::ReproduceError;
use crate::serve::ServeError;
use crate::serve::request_log::RequestLogError;
use crate::serve::smoke::SmokeError;
use crate::settings::SettingsError;
use crate::tracking::StoreError;

/// Success.
pub const OK: u8 = 0;
/// An unexpected failure, and the code of an error no domain type claims.
pub const INTERNAL: u8 = code(ErrorKind::Internal);
pub const GATE_NOT_BETTER: u8 = code(ErrorKind::GateNotBetter);
pub const CHANGES_PRESENT: u8 = code(ErrorKind::ChangesPresent);
pub const DATA_CHECK_FAILED: u8 = code(ErrorKind::DataCheckFailed);
pub const INTERRUPTED: u8 = code(ErrorKind::Interrupted);
pub const NOT_REPRODUCED: u8 = code(ErrorKind::NotReproduced);
pub const REPRODUCTION_INPUT: u8 = code(ErrorKind::ReproductionInput);
pub const ROLLED_BACK: u8 = code(ErrorKind::RolledBack);
pub const DEPLOYMENT_FAILED: u8 = code(ErrorKind::DeploymentFailed);

/// The exit code of each kind of outcome. The one table.
pub const fn code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Internal => 1,
        ErrorKind::Usage => 2,
        ErrorKind::GateNotBetter => 3,
        ErrorKind::ChangesPresent => 4,
        ErrorKind::DataCheckFailed => 5,
        ErrorKind::Input => 6,
        ErrorKind::Training => 7,
        ErrorKind::NotFound => 8,
        ErrorKind::Remote => 9,
        ErrorKind::Auth => 10,
        ErrorKind::NotReproduced => 11,
        ErrorKind::ReproductionInput => 12,
        ErrorKind::SchemaMismatch => 13,
        ErrorKind::RolledBack => 14,
        ErrorKind::DeploymentFailed => 15,
        ErrorKind::Interrupted => 130,
    }
}

/// The exit code for a failed command: the first error in the chain whose kind is known decides.
pub fn code_for(err: &anyhow::Error) -> u8 {
    code(kind_of(err))
}

/// The kind of a failed command's error: the outermost cause that knows its kind.
pub fn kind_of(err: &anyhow::Error) -> ErrorKind {
    err.chain().find_map(classify).unwrap_or(ErrorKind::Internal)
}

/// Every error type that knows its kind. A type missing here would exit 1 (internal); the test
/// `every_error_type_is_classified` reads the sources to catch that.
macro_rules! classify_types {
    ($cause:expr, $($ty:ty),+ $(,)?) => {{
        let cause = $cause;
        $(
            if let Some(err) = cause.downcast_ref::<$ty>() {
                return Some(HasKind::kind(err));
            }
        )+
        None
    }};
}

fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    classify_types!(
        cause,
        AuthError,
        AzureMlError,
        BicepError,
        BlobError,
        CloudError,
        DataError,
        DatastoreError,
        HttpError,
        ImageError,
        InfraError,
        InitError,
        LroError,
        ModelError,
        OciError,
        ParamsError,
        PipelineError,
        PrepareError,
        RegistryError,
        RemoteStepError,
        ReproduceError,
        RequestFileError,
        RequestLogError,
        RestoreError,
        RidgeError,
        RolloutError,
        ServeError,
        SettingsError,
        SettingsFileError,
        SmokeError,
        SplitError,
        StoreError,
        TrainError,
        UsageError,
        WatchError,
    )
}

/// The names of the types `classify` knows, for the test that compares them with the sources.
#[cfg(test)]
const CLASSIFIED: &[&str] = &[
    "AuthError",
    "HttpError",
    "AzureMlError",
    "BicepError",
    "BlobError",
    "CloudError",
    "DataError",
    "DatastoreError",
    "ImageError",
    "InfraError",
    "InitError",
    "LroError",
    "ModelError",
    "OciError",
    "ParamsError",
    "PipelineError",
    "PrepareError",
    "RegistryError",
    "RemoteStepError",
    "ReproduceError",
    "RequestFileError",
    "RequestLogError",
    "RestoreError",
    "RidgeError",
    "RolloutError",
    "ServeError",
    "SettingsError",
    "SettingsFileError",
    "SmokeError",
    "SplitError",
    "StoreError",
    "TrainError",
    "UsageError",
    "WatchError",
];

/// Prints a failure to stderr: the outermost message, then each cause on its own line.
pub fn report(err: &anyhow::Error) {
    let mut text = format!("error: {err}");
    for cause in err.chain().skip(1) {
        text.push_str(&format!("\n  caused by: {cause}"));
    }
    crate::output::to_stderr(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `impl HasKind for X` in the sources is a type `classify` looks for.
    #[test]
    fn every_error_type_is_classified() {
        let mut missing = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("src is readable") {
                let path = entry.expect("directory entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("source is UTF-8");
                    for line in text.lines() {
                        if let Some(rest) = line.trim().strip_prefix("impl HasKind for ") {
                            let name = rest.trim_end_matches(" {").trim();
                            if !CLASSIFIED.contains(&name) {
                                missing.push(format!("{name} ({})", path.display()));
                            }
                        }
                    }
                }
            }
        }
        assert!(missing.is_empty(), "error types exit::classify does not look for: {missing:?}");
    }

    /// Every kind has its own number, and the numbers are the documented ones.
    #[test]
    fn the_table_is_stable() {
        let codes: Vec<u8> = ErrorKind::ALL.iter().map(|k| code(*k)).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 130]);
    }

    /// The same failure exits the same way wherever it surfaces: an HTTP 403 from an ARM
    /// long-running operation is an authentication failure under `infra` and `pipeline` alike.
    #[test]
    fn same_failure_same_code_everywhere() {
        let forbidden = || {
            let url = azure_core::http::Url::parse("https://management.azure.com/x").expect("valid URL");
            let mut err = HttpError::connect("GET", &url, "test".to_string());
            err.status = Some(403);
            err
        };
        let infra = anyhow::Error::new(InfraError::Lro(LroError::Http(forbidden())));
        let aml = anyhow::Error::new(AzureMlError::Lro(LroError::Http(forbidden())));
        assert_eq!(code_for(&infra), 10);
        assert_eq!(code_for(&aml), 10);
        let wrapped = anyhow::Error::new(UsageError("bad".into())).context("while doing x");
        assert_eq!(code_for(&wrapped), 2);
        assert_eq!(code_for(&anyhow::anyhow!("no kind")), 1);
    }
}
