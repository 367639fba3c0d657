//! Resolving what a command runs with, in one place, with one precedence:
//! flag > environment variable (bound to its flag in `cli.rs`) > project file (`mlops.toml`) > default.
//!
//! Resolution is pure: flags, the environment and files in, plain values out. Nothing here signs
//! in, calls a service or runs a program; `commands::connect` builds clients from these values.

mod azure;
mod registry;
mod tracking;
mod train;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::env_vars;
use crate::error_kind::{ErrorKind, HasKind};
use crate::ml::params::read_parameters_file;
use crate::ml::split::TestSize;
use crate::tracking::TrackingUri;

pub use azure::{AzureMlSettings, AzureSettings, resolve_azure, resolve_azureml};
pub use registry::{RegistryAuth, RegistrySettings, resolve_registry};
pub use tracking::{
    MlflowSettings, TrackingSettings, local_store_path, mlflow_settings, resolve_store, resolve_tracking, tracking_for,
};
pub use train::{TrainSettings, resolve_train};

/// The project file's name, searched for from the current directory upwards.
pub const PROJECT_FILE: &str = "mlops.toml";

/// Defaults of the reference training (MLOpsPython `train.py`).
pub const DEFAULT_DATA: &str = "data/diabetes.csv";
pub const DEFAULT_TARGET: &str = "Y";
pub const DEFAULT_ALPHA: f64 = 0.5;
pub const DEFAULT_TEST_SIZE: TestSize = TestSize::Fraction(0.2);
pub const DEFAULT_SEED: u32 = 0;
pub const DEFAULT_EXPERIMENT: &str = "Default";

/// The retry budget and per-attempt timeout of every client, from `MLOPS_HTTP_RETRY_BUDGET` and
/// `MLOPS_HTTP_TIMEOUT` (seconds); `None` leaves a client's default.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NetworkSettings {
    pub budget: Option<std::time::Duration>,
    pub timeout: Option<std::time::Duration>,
}

/// Reads [`NetworkSettings`] from the environment.
pub fn network_settings() -> anyhow::Result<NetworkSettings> {
    let seconds = |name: &str| -> anyhow::Result<Option<std::time::Duration>> {
        let Some(text) = std::env::var(name).ok().filter(|v| !v.trim().is_empty()) else { return Ok(None) };
        match text.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Ok(Some(std::time::Duration::from_secs_f64(s))),
            _ => Err(crate::error_kind::UsageError(format!("{name}={text:?} is not a number of seconds")).into()),
        }
    };
    Ok(NetworkSettings {
        budget: seconds(env_vars::MLOPS_HTTP_RETRY_BUDGET)?,
        timeout: seconds(env_vars::MLOPS_HTTP_TIMEOUT)?.map(|t| t.max(std::time::Duration::from_millis(100))),
    })
}

impl NetworkSettings {
    /// The one retry policy, with this budget.
    pub fn retry(&self) -> crate::http::RetryPolicy {
        let mut policy = crate::http::RetryPolicy::default();
        if let Some(budget) = self.budget {
            policy.budget = budget;
        }
        policy
    }
}

/// `mlops.toml`: settings shared by everyone working in a project.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    #[serde(skip)]
    pub dir: PathBuf,
    #[serde(default)]
    pub tracking: TrackingSection,
    #[serde(default)]
    pub train: TrainSection,
    #[serde(default)]
    pub azureml: AzureMlSection,
}

/// `[azureml]`: the workspace and defaults of `mlops pipeline publish|submit|schedule` and `train --compute`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureMlSection {
    pub workspace: Option<String>,
    pub resource_group: Option<String>,
    pub subscription: Option<String>,
    pub compute: Option<String>,
    pub image: Option<String>,
    pub api_version: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingSection {
    pub uri: Option<String>,
    pub experiment: Option<String>,
    /// The local store that journals runs bound for a server.
    pub local: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    pub data: Option<PathBuf>,
    pub params: Option<PathBuf>,
}

/// Why the project file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read project file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
}

impl HasKind for SettingsError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Input
    }
}

/// Loads `$MLOPS_CONFIG`, or the nearest `mlops.toml` at or above the current directory.
pub fn project_file() -> Result<ProjectFile, SettingsError> {
    let path = match std::env::var_os(env_vars::MLOPS_CONFIG) {
        Some(path) => Some(PathBuf::from(path)),
        None => std::env::current_dir()
            .ok()
            .and_then(|cwd| cwd.ancestors().map(|dir| dir.join(PROJECT_FILE)).find(|p| p.is_file())),
    };
    let Some(path) = path else {
        return Ok(ProjectFile::default());
    };
    let bytes = std::fs::read(&path).map_err(|source| SettingsError::Read { path: path.clone(), source })?;
    let text = crate::decode::utf8(&bytes).map_err(|e| SettingsError::Parse {
        path: path.clone(),
        message: format!("line {}, column {}: {}", e.line, e.column, e.message),
    })?;
    // TOML refuses duplicate keys itself, with their position.
    let mut file: ProjectFile =
        toml::from_str(text).map_err(|e| SettingsError::Parse { path: path.clone(), message: e.to_string() })?;
    file.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(file)
}

impl ProjectFile {
    /// A path from the project file, relative to the file's directory.
    fn path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() || self.dir.as_os_str().is_empty() { path.to_path_buf() } else { self.dir.join(path) }
    }

    /// The tracking store: flag or `MLFLOW_TRACKING_URI`, then `[tracking] uri`, then `./mlruns`.
    pub fn tracking_uri(&self, flag: Option<&str>) -> anyhow::Result<TrackingUri> {
        match flag.or(self.tracking.uri.as_deref()) {
            Some(uri) => Ok(TrackingUri::parse(uri)?),
            None => Ok(TrackingUri::default_local()),
        }
    }
}

/// Where models downloaded from a tracking server are kept: `MLOPS_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/mlops`, else `~/.cache/mlops`.
pub fn cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var(env_vars::MLOPS_CACHE_DIR)
        .or_else(|| var(env_vars::XDG_CACHE_HOME).map(|d| d.join("mlops")))
        .or_else(|| var(env_vars::HOME).map(|d| d.join(".cache").join("mlops")))
        .unwrap_or_else(|| std::env::temp_dir().join("mlops-cache"))
}

/// Metrics to copy onto registered versions: `registration.tags` of the parameters file
/// (flag, then `[train] params` of mlops.toml), else the reference's `["mse"]`.
pub fn registration_tags(flag: Option<&Path>, project: &ProjectFile) -> anyhow::Result<Vec<String>> {
    let path = flag.map(Path::to_path_buf).or_else(|| project.train.params.as_deref().map(|p| project.path(p)));
    match path {
        Some(path) => {
            let file = read_parameters_file(&path)?;
            Ok(if file.registration_tags.is_empty() { vec!["mse".to_string()] } else { file.registration_tags })
        }
        None => Ok(vec!["mse".to_string()]),
    }
}

/// The CI build registering a model: Azure DevOps (`BUILD_BUILDID`) or GitHub Actions (`GITHUB_RUN_ID`).
pub fn ci_build() -> Option<crate::registry::release::CiBuild> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(id) = var(env_vars::BUILD_BUILDID) {
        let uri = match (var(env_vars::SYSTEM_COLLECTIONURI), var(env_vars::SYSTEM_TEAMPROJECT)) {
            (Some(collection), Some(project)) => {
                Some(format!("{}/{project}/_build/results?buildId={id}", collection.trim_end_matches('/')))
            }
            _ => None,
        };
        return Some(crate::registry::release::CiBuild { id, uri });
    }
    let id = var(env_vars::GITHUB_RUN_ID)?;
    let uri = match (var(env_vars::GITHUB_SERVER_URL), var(env_vars::GITHUB_REPOSITORY)) {
        (Some(server), Some(repo)) => Some(format!("{}/{repo}/actions/runs/{id}", server.trim_end_matches('/'))),
        _ => None,
    };
    Some(crate::registry::release::CiBuild { id, uri })
}

/// Lineage from the environment (`MLOPS_GIT_*`, `MLOPS_CI_*`, else the CI's own variables), which
/// wins over what git says: an Azure ML job has no work tree and is told by the machine that submitted it.
pub fn lineage_overrides() -> crate::tracking::provenance::LineageOverrides {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let ci = ci_build();
    crate::tracking::provenance::LineageOverrides {
        git_commit: var(env_vars::MLOPS_GIT_COMMIT),
        git_repo_url: var(env_vars::MLOPS_GIT_REPO_URL),
        git_branch: var(env_vars::MLOPS_GIT_BRANCH),
        git_dirty: var(env_vars::MLOPS_GIT_DIRTY).map(|v| v.trim().eq_ignore_ascii_case("true")),
        ci_build_id: var(env_vars::MLOPS_CI_BUILD_ID).or_else(|| ci.as_ref().map(|c| c.id.clone())),
        ci_build_url: var(env_vars::MLOPS_CI_BUILD_URL).or_else(|| ci.and_then(|c| c.uri)),
    }
}

/// The `MLOPS_GIT_*` / `MLOPS_CI_*` variables that hand `lineage` to an `mlops` running elsewhere.
pub fn lineage_env(lineage: &crate::tracking::lineage::CodeLineage) -> Vec<(String, String)> {
    let pairs = [
        (env_vars::MLOPS_GIT_COMMIT, lineage.git_commit.clone()),
        (env_vars::MLOPS_GIT_REPO_URL, lineage.git_repo_url.clone()),
        (env_vars::MLOPS_GIT_BRANCH, lineage.git_branch.clone()),
        (env_vars::MLOPS_GIT_DIRTY, lineage.git_dirty.map(|d| d.to_string())),
        (env_vars::MLOPS_CI_BUILD_ID, lineage.ci_build_id.clone()),
        (env_vars::MLOPS_CI_BUILD_URL, lineage.ci_build_url.clone()),
    ];
    pairs.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v))).collect()
}

/// The user recorded on runs: `LOGNAME`, else the account's name.
pub fn user() -> String {
    std::env::var(env_vars::LOGNAME).ok().filter(|u| !u.is_empty()).unwrap_or_else(whoami::username)
}

/// How to read data files: `--threads` (or `MLOPS_THREADS`), else one thread per CPU.
pub fn read_options(args: &crate::cli::ReadArgs) -> crate::data::ReadOptions {
    let defaults = crate::data::ReadOptions::default();
    crate::data::ReadOptions { threads: args.threads.map_or(defaults.threads, usize::from), ..defaults }
}
