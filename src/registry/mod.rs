//! The model registry: registered models, versions with tags, aliases, and the evaluation gate.
//! Kept in MLflow's file-store layout (`mlruns/models/…`) or on an MLflow server.

pub mod gate;
mod local;
pub mod release;
mod remote;
mod resolve;

use std::collections::BTreeMap;

use serde::Serialize;

pub use local::LocalRegistry;
pub use remote::{RemoteRegistry, TAG_ARTIFACTS, TAG_LOCAL_RUN_ID};
pub use resolve::{ResolvedModel, copy_dir, resolve_model};

use crate::error_kind::{ErrorKind, HasKind};
use crate::http::HttpError;
use crate::tracking::{StoreError, VersionSelector};

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: u64,
    pub source: String,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
    pub description: Option<String>,
    pub creation_timestamp: i64,
    pub tags: BTreeMap<String, String>,
    pub aliases: Vec<String>,
}

/// A registered model with its aliases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegisteredModel {
    pub name: String,
    pub description: Option<String>,
    pub creation_timestamp: i64,
    pub latest_version: Option<u64>,
    /// alias → version.
    pub aliases: BTreeMap<String, u64>,
}

/// What a new version is made from.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub name: String,
    pub run_id: String,
    pub tags: BTreeMap<String, String>,
    pub description: Option<String>,
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registered model {name:?} not found")]
    ModelNotFound { name: String },
    #[error("version {version} of model {name:?} not found")]
    VersionNotFound { name: String, version: String },
    #[error("model {name:?} has no alias {alias:?}")]
    AliasNotFound { name: String, alias: String },
    #[error("run {run_id} has no model to register (expected the artifact `model` written by mlops train)")]
    NoModel { run_id: String },
    #[error(
        "the files of {what} are not on the tracking server (its artifact store takes no uploads from mlops): they stay in the local store where it was trained, as local run {local_run_id}, which this machine's local store does not have"
    )]
    LocalOnly { what: String, local_run_id: String },
    #[error(
        "run {run_id} is already registered as {name} version {version}; registering it again would duplicate it (use --allow-duplicate to do it anyway)"
    )]
    Duplicate { name: String, run_id: String, version: u64 },
    #[error("invalid alias {alias:?}: {reason}")]
    InvalidAlias { alias: String, reason: &'static str },
    #[error("invalid model name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("run {run_id} has no metric {metric:?} (it has: {available})")]
    MissingMetric { run_id: String, metric: String, available: String },
    #[error(
        "the champion ({name} version {version}, run {run_id}) has no metric {metric:?}, so the candidate cannot be compared with it"
    )]
    ChampionWithoutMetric { name: String, version: u64, run_id: String, metric: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("model registry on {uri}: request failed")]
    Remote {
        uri: String,
        #[source]
        source: Box<HttpError>,
    },
}

impl HasKind for RegistryError {
    fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::ModelNotFound { .. }
            | RegistryError::VersionNotFound { .. }
            | RegistryError::AliasNotFound { .. }
            | RegistryError::NoModel { .. }
            | RegistryError::LocalOnly { .. } => ErrorKind::NotFound,
            RegistryError::Duplicate { .. }
            | RegistryError::InvalidAlias { .. }
            | RegistryError::InvalidName { .. } => ErrorKind::Usage,
            RegistryError::MissingMetric { .. } | RegistryError::ChampionWithoutMetric { .. } => ErrorKind::Input,
            RegistryError::Store(e) => e.kind(),
            RegistryError::Remote { source, .. } => source.kind(),
        }
    }
}

/// MLflow reserves `latest` (any case) and `v<digits>` as aliases.
pub fn check_alias(alias: &str) -> Result<(), RegistryError> {
    let invalid = |reason| Err(RegistryError::InvalidAlias { alias: alias.to_string(), reason });
    if alias.is_empty() {
        return invalid("it is empty");
    }
    if alias.eq_ignore_ascii_case("latest") {
        return invalid("'latest' is reserved by MLflow");
    }
    let lower = alias.to_ascii_lowercase();
    if lower.len() > 1 && lower.starts_with('v') && lower[1..].bytes().all(|b| b.is_ascii_digit()) {
        return invalid("version aliases such as 'v2' are reserved by MLflow");
    }
    if !alias.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') || alias.len() > 255 {
        return invalid("use letters, digits, '_' and '-' (at most 255 characters)");
    }
    Ok(())
}

/// Model names become directory names in the file store: keep them to MLflow's safe set.
pub fn check_name(name: &str) -> Result<(), RegistryError> {
    let invalid = |reason| Err(RegistryError::InvalidName { name: name.to_string(), reason });
    if name.is_empty() || name.len() > 250 {
        return invalid("use 1 to 250 characters");
    }
    if name == "." || name == ".." || name.contains(['/', '\\', ':']) {
        return invalid("no '/', '\\', ':' and not '.' or '..'");
    }
    Ok(())
}

/// The registry of a tracking store.
#[derive(Debug)]
pub enum Registry {
    Local(LocalRegistry),
    Remote(RemoteRegistry),
}

impl Registry {
    /// The registry that goes with a tracker: the local store's, or the server's.
    pub fn of(tracker: &crate::tracking::Tracker) -> Self {
        match tracker {
            crate::tracking::Tracker::Local(store) => Registry::Local(LocalRegistry::new(store.clone())),
            crate::tracking::Tracker::Remote { client, .. } => Registry::Remote(RemoteRegistry::new(client.clone())),
        }
    }

    pub async fn create_version(&self, new: &NewVersion) -> Result<ModelVersion, RegistryError> {
        check_name(&new.name)?;
        match self {
            Registry::Local(r) => r.create_version(new),
            Registry::Remote(r) => r.create_version(new).await,
        }
    }

    pub async fn versions(&self, name: &str) -> Result<Vec<ModelVersion>, RegistryError> {
        match self {
            Registry::Local(r) => r.versions(name),
            Registry::Remote(r) => r.versions(name).await,
        }
    }

    pub async fn version(&self, name: &str, version: u64) -> Result<ModelVersion, RegistryError> {
        match self {
            Registry::Local(r) => r.version(name, version),
            Registry::Remote(r) => r.version(name, version).await,
        }
    }

    /// The version holding `alias`, if any (a model that does not exist has none).
    pub async fn by_alias(&self, name: &str, alias: &str) -> Result<Option<ModelVersion>, RegistryError> {
        match self {
            Registry::Local(r) => r.by_alias(name, alias),
            Registry::Remote(r) => r.by_alias(name, alias).await,
        }
    }

    /// The version a `models:/` selector names: an alias, a number, or `latest` (the highest number).
    pub async fn select(&self, name: &str, selector: &VersionSelector) -> Result<ModelVersion, RegistryError> {
        match selector {
            VersionSelector::Version(v) => self.version(name, *v).await,
            VersionSelector::Alias(alias) => self
                .by_alias(name, alias)
                .await?
                .ok_or_else(|| RegistryError::AliasNotFound { name: name.to_string(), alias: alias.clone() }),
            VersionSelector::Latest => {
                let model = self.model(name).await?;
                let latest = model.latest_version.ok_or_else(|| RegistryError::VersionNotFound {
                    name: name.to_string(),
                    version: "latest".into(),
                })?;
                self.version(name, latest).await
            }
        }
    }

    pub async fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<(), RegistryError> {
        check_alias(alias)?;
        match self {
            Registry::Local(r) => r.set_alias(name, alias, version),
            Registry::Remote(r) => r.set_alias(name, alias, version).await,
        }
    }

    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<(), RegistryError> {
        match self {
            Registry::Local(r) => r.delete_alias(name, alias),
            Registry::Remote(r) => r.delete_alias(name, alias).await,
        }
    }

    pub async fn models(&self) -> Result<Vec<RegisteredModel>, RegistryError> {
        match self {
            Registry::Local(r) => r.models(),
            Registry::Remote(r) => r.models().await,
        }
    }

    pub async fn model(&self, name: &str) -> Result<RegisteredModel, RegistryError> {
        match self {
            Registry::Local(r) => r.model(name),
            Registry::Remote(r) => r.model(name).await,
        }
    }
}
