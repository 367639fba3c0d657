//! Resolving what a command runs with, in one place, with one precedence:
//! flag > environment variable (bound to its flag in `cli.rs`) > project file (`mlops.toml`) > default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::TrainArgs;
use crate::env_vars;
use crate::ml::params::{TrainingParams, parse_overrides, read_parameters_file};
use crate::ml::split::TestSize;
use crate::ml::train::{Provenance, TrainRequest};
use crate::tracking::{ModelRef, ResolvedModel, TrackingUri, resolve_model};

/// The project file's name, searched for from the current directory upwards.
pub const PROJECT_FILE: &str = "mlops.toml";

/// Defaults of the reference training (MLOpsPython `train.py`).
pub const DEFAULT_DATA: &str = "data/diabetes.csv";
pub const DEFAULT_TARGET: &str = "Y";
pub const DEFAULT_ALPHA: f64 = 0.5;
pub const DEFAULT_TEST_SIZE: TestSize = TestSize::Fraction(0.2);
pub const DEFAULT_SEED: u32 = 0;
pub const DEFAULT_EXPERIMENT: &str = "Default";

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
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingSection {
    pub uri: Option<String>,
    pub experiment: Option<String>,
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

/// Loads `$MLOPS_CONFIG`, or the nearest `mlops.toml` at or above the current directory.
pub fn project_file() -> Result<ProjectFile, SettingsError> {
    let path = match std::env::var_os(env_vars::MLOPS_CONFIG) {
        Some(path) => Some(PathBuf::from(path)),
        None => std::env::current_dir().ok().and_then(|cwd| {
            cwd.ancestors()
                .map(|dir| dir.join(PROJECT_FILE))
                .find(|p| p.is_file())
        }),
    };
    let Some(path) = path else {
        return Ok(ProjectFile::default());
    };
    let text = std::fs::read_to_string(&path).map_err(|source| SettingsError::Read {
        path: path.clone(),
        source,
    })?;
    let mut file: ProjectFile = toml::from_str(&text).map_err(|e| SettingsError::Parse {
        path: path.clone(),
        message: e.to_string(),
    })?;
    file.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(file)
}

impl ProjectFile {
    /// A path from the project file, relative to the file's directory.
    fn path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() || self.dir.as_os_str().is_empty() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }

    /// The tracking store: flag or `MLFLOW_TRACKING_URI`, then `[tracking] uri`, then `./mlruns`.
    pub fn tracking_uri(&self, flag: Option<&str>) -> anyhow::Result<TrackingUri> {
        match flag.or(self.tracking.uri.as_deref()) {
            Some(uri) => Ok(TrackingUri::parse(uri)?),
            None => Ok(TrackingUri::default_local()),
        }
    }
}

/// The model a `--model` value names: a directory, or a URI looked up in the tracking store given
/// by the flag, `MLFLOW_TRACKING_URI` or the project file.
pub fn model(model: &str, tracking_flag: Option<&str>) -> anyhow::Result<ResolvedModel> {
    let model = ModelRef::parse(model)?;
    let tracking = project_file()?.tracking_uri(tracking_flag)?;
    Ok(resolve_model(&model, &tracking)?)
}

/// Resolved settings of `mlops train`.
#[derive(Debug, Clone)]
pub struct TrainSettings {
    pub request: TrainRequest,
    pub tracking: TrackingUri,
}

/// Resolves `mlops train` arguments against the project file and defaults.
pub fn resolve_train(args: &TrainArgs, project: &ProjectFile) -> anyhow::Result<TrainSettings> {
    let from_flags = TrainingParams {
        alpha: args.alpha,
        test_size: args.test_size.as_deref().map(TestSize::parse).transpose()?,
        seed: args.seed,
        target: args.target.clone(),
    };
    if let Some(alpha) = args.alpha
        && !(alpha.is_finite() && alpha >= 0.0)
    {
        return Err(crate::exit::UsageError(format!(
            "--alpha must be a finite number >= 0, got {alpha}"
        ))
        .into());
    }
    let from_overrides = parse_overrides(&args.param)?;
    let params_path = args
        .params
        .clone()
        .or_else(|| project.train.params.as_deref().map(|p| project.path(p)));
    let from_file = match &params_path {
        Some(path) => read_parameters_file(path)?.training,
        None => TrainingParams::default(),
    };
    let params = from_flags.or(from_overrides).or(from_file);
    let data = args
        .data
        .clone()
        .or_else(|| project.train.data.as_deref().map(|p| project.path(p)))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
    let request = TrainRequest {
        data,
        target: params.target.unwrap_or_else(|| DEFAULT_TARGET.to_string()),
        alpha: params.alpha.unwrap_or(DEFAULT_ALPHA),
        test_size: params.test_size.unwrap_or(DEFAULT_TEST_SIZE),
        seed: params.seed.unwrap_or(DEFAULT_SEED),
        experiment: args
            .experiment
            .clone()
            .or_else(|| project.tracking.experiment.clone())
            .unwrap_or_else(|| DEFAULT_EXPERIMENT.to_string()),
        run_name: args.run_name.clone(),
        provenance: provenance(),
    };
    Ok(TrainSettings {
        request,
        tracking: project.tracking_uri(args.tracking_uri.as_deref())?,
    })
}

/// The user, program and git commit recorded on runs.
pub fn provenance() -> Provenance {
    let user = std::env::var(env_vars::LOGNAME)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(whoami::username);
    Provenance {
        user,
        source_name: "mlops".to_string(),
        git_commit: git_commit(),
    }
}

/// `HEAD` of the git work tree around the current directory, if there is one.
fn git_commit() -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let commit = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && commit.len() == 40).then_some(commit)
}
