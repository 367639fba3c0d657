//! Resolving what a command runs with, in one place, with one precedence:
//! flag > environment variable (bound to its flag in `cli.rs`) > project file (`mlops.toml`) > default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::TrainArgs;
use crate::env_vars;
use crate::ml::params::{TrainingParams, parse_overrides, read_parameters_file};
use crate::ml::split::TestSize;
use crate::ml::train::{Provenance, TrainRequest};
use std::time::Duration;

use crate::http::{RetryPolicy, TransportOptions};
use crate::registry::{ResolvedModel, resolve_model};
use crate::secret::Secret;
use crate::tracking::mlflow::{MlflowAuth, MlflowClient, MlflowClientOptions};
use crate::tracking::uri::AzureMlUri;
use crate::tracking::{LocalStore, ModelRef, Tracker, TrackingUri};

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
    let text = std::fs::read_to_string(&path).map_err(|source| SettingsError::Read { path: path.clone(), source })?;
    let mut file: ProjectFile =
        toml::from_str(&text).map_err(|e| SettingsError::Parse { path: path.clone(), message: e.to_string() })?;
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

/// The model a `--model` value names: a directory, or a URI looked up in the tracking store given
/// by the flag, `MLFLOW_TRACKING_URI` or the project file.
pub async fn model(model: &str, tracking_flag: Option<&str>) -> anyhow::Result<ResolvedModel> {
    let model = ModelRef::parse(model)?;
    if let ModelRef::Dir(dir) = &model {
        // A directory needs no store (and opening one would create ./mlruns).
        return Ok(ResolvedModel { dir: dir.clone(), name: dir.display().to_string(), version: None });
    }
    let project = project_file()?;
    let tracker = tracker(&project.tracking_uri(tracking_flag)?, None, &project)?;
    Ok(resolve_model(&model, &tracker, &cache_dir()).await?)
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

/// Resolved settings of `mlops train`.
#[derive(Debug, Clone)]
pub struct TrainSettings {
    pub request: TrainRequest,
    pub tracking: TrackingUri,
}

/// The local store: flag or `MLOPS_LOCAL_STORE`, then `[tracking] local`, then `./mlruns`.
pub fn local_store_path(flag: Option<&Path>, project: &ProjectFile) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os(env_vars::MLOPS_LOCAL_STORE).map(PathBuf::from))
        .or_else(|| project.tracking.local.as_deref().map(|p| project.path(p)))
        .unwrap_or_else(|| PathBuf::from(crate::tracking::uri::DEFAULT_LOCAL_STORE))
}

/// The tracker for a tracking URI: a local store, or a server with the local store as journal.
pub fn tracker(uri: &TrackingUri, local_flag: Option<&Path>, project: &ProjectFile) -> anyhow::Result<Tracker> {
    match uri {
        TrackingUri::Local(root) => Ok(Tracker::Local(LocalStore::open(root)?)),
        TrackingUri::Http(url) => Ok(Tracker::Remote {
            journal: LocalStore::open(&local_store_path(local_flag, project))?,
            client: mlflow_client(url)?,
        }),
        TrackingUri::AzureMl(aml) => Ok(Tracker::Remote {
            journal: LocalStore::open(&local_store_path(local_flag, project))?,
            client: azureml_client(aml)?,
        }),
    }
}

/// The MLflow client of a server URI (`http(s)://` or `azureml://`); `None` for a local store.
pub fn remote_client(uri: &TrackingUri) -> anyhow::Result<Option<MlflowClient>> {
    match uri {
        TrackingUri::Local(_) => Ok(None),
        TrackingUri::Http(url) => mlflow_client(url).map(Some),
        TrackingUri::AzureMl(aml) => azureml_client(aml).map(Some),
    }
}

/// An MLflow client with auth, trust and retries from the environment, as MLflow's own client reads them.
pub fn mlflow_client(url: &str) -> anyhow::Result<MlflowClient> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let file_creds = mlflow_credentials_file();
    let username = env(env_vars::MLFLOW_TRACKING_USERNAME).or_else(|| file_creds.0.clone());
    let password = env(env_vars::MLFLOW_TRACKING_PASSWORD).or_else(|| file_creds.1.clone());
    let auth = match (username, password, env(env_vars::MLFLOW_TRACKING_TOKEN)) {
        (Some(username), Some(password), _) => MlflowAuth::Basic { username, password: Secret::new(password) },
        (_, _, Some(token)) => MlflowAuth::Bearer(Secret::new(token)),
        _ => MlflowAuth::None,
    };
    mlflow_client_with(url, auth, |_| {})
}

/// The MLflow endpoint of an Azure ML workspace, authenticated with ARM tokens from the Azure
/// credential chain that `mlops infra` uses (same variables: `AZURE_CLIENT_ID`, `MLOPS_AZURE_AUTH`, …).
pub fn azureml_client(aml: &AzureMlUri) -> anyhow::Result<MlflowClient> {
    use clap::Parser as _;
    let env = crate::cli::AzureEnv::try_parse_from(std::iter::empty::<String>()).map_err(|e| {
        crate::exit::UsageError(format!(
            "Azure settings (AZURE_* and MLOPS_AZURE_AUTH) for workspace {}: {}",
            aml.workspace,
            e.to_string().lines().next().unwrap_or_default()
        ))
    })?;
    azureml_client_with(aml, &resolve_azure(&env.azure)?, |_| {})
}

/// The MLflow endpoint of an Azure ML workspace, signed in with `azure`.
pub fn azureml_client_with(
    aml: &AzureMlUri,
    azure: &AzureSettings,
    tweak: impl FnOnce(&mut MlflowClientOptions),
) -> anyhow::Result<MlflowClient> {
    let credential = crate::azure::AzureCredential::new(&azure.auth, &azure.cloud, azure.forced)?;
    azureml_client_signed_in(aml, std::sync::Arc::new(credential), azure.cloud.arm_scope(), tweak)
}

/// The MLflow endpoint of an Azure ML workspace, with ARM tokens for `scope` from `credential`.
fn azureml_client_signed_in(
    aml: &AzureMlUri,
    credential: std::sync::Arc<dyn azure_core::credentials::TokenCredential>,
    scope: String,
    tweak: impl FnOnce(&mut MlflowClientOptions),
) -> anyhow::Result<MlflowClient> {
    let auth = MlflowAuth::Azure(crate::tracking::mlflow::AzureToken::new(credential, scope));
    let display = TrackingUri::AzureMl(aml.clone()).to_string();
    Ok(mlflow_client_with(&aml.rest_base(), auth, tweak)?.with_display_uri(display))
}

/// Reads a pipeline job's steps from the workspace's MLflow endpoint; `None` when the workspace
/// does not say where that is.
pub fn azureml_step_reader(
    settings: &AzureMlSettings,
    client: &crate::azureml::AzureMlClient,
    experiment: &str,
) -> anyhow::Result<Option<crate::azureml::steps::StepReader>> {
    let Some(uri) = client.workspace().mlflow_tracking_uri.as_deref() else { return Ok(None) };
    let TrackingUri::AzureMl(aml) = TrackingUri::parse(uri)? else {
        return Ok(None);
    };
    // Step status is a side show: a slow or absent endpoint must not hold up following the job.
    // The workspace client's credential signs in, so no second sign-in happens.
    let credential = client.arm().credential();
    let mlflow = azureml_client_signed_in(&aml, credential, settings.azure.cloud.arm_scope(), |options| {
        options.retry =
            RetryPolicy { max_retries: 1, backoff: Duration::from_millis(500), max_backoff: Duration::from_secs(1) };
        options.transport.timeout = Some(Duration::from_secs(15));
    })?;
    Ok(Some(crate::azureml::steps::StepReader::new(mlflow, experiment.to_string())))
}

fn mlflow_client_with(
    url: &str,
    auth: MlflowAuth,
    tweak: impl FnOnce(&mut MlflowClientOptions),
) -> anyhow::Result<MlflowClient> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let number = |name: &str| -> anyhow::Result<Option<f64>> {
        env(name)
            .map(|v| {
                v.parse::<f64>().map_err(|_| crate::exit::UsageError(format!("{name}={v:?} is not a number")).into())
            })
            .transpose()
    };
    let mut retry = RetryPolicy::default();
    if let Some(n) = number(env_vars::MLFLOW_HTTP_REQUEST_MAX_RETRIES)? {
        retry.max_retries = n as usize;
    }
    if let Some(f) = number(env_vars::MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR)? {
        retry.backoff = Duration::from_secs_f64(f.max(0.0));
    }
    let transport = TransportOptions {
        ca_bundle: env(env_vars::MLFLOW_TRACKING_SERVER_CERT_PATH)
            .or_else(|| env(env_vars::SSL_CERT_FILE))
            .map(PathBuf::from),
        insecure: env(env_vars::MLFLOW_TRACKING_INSECURE_TLS).is_some_and(|v| v.eq_ignore_ascii_case("true")),
        timeout: number(env_vars::MLFLOW_HTTP_REQUEST_TIMEOUT)?.map(|s| Duration::from_secs_f64(s.max(1.0))),
    };
    let mut options = MlflowClientOptions { transport, retry };
    tweak(&mut options);
    Ok(MlflowClient::new(url, auth, Some(options))?)
}

/// `[mlflow]` user and password from `~/.mlflow/credentials`, as MLflow's client reads them.
fn mlflow_credentials_file() -> (Option<String>, Option<String>) {
    let Some(home) = std::env::var_os(env_vars::HOME) else { return (None, None) };
    let Ok(text) = std::fs::read_to_string(Path::new(&home).join(".mlflow/credentials")) else { return (None, None) };
    let mut in_section = false;
    let (mut user, mut password) = (None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[mlflow]";
        } else if in_section && let Some((key, value)) = line.split_once('=') {
            match key.trim() {
                "mlflow_tracking_username" => user = Some(value.trim().to_string()),
                "mlflow_tracking_password" => password = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    (user, password)
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
        return Err(crate::exit::UsageError(format!("--alpha must be a finite number >= 0, got {alpha}")).into());
    }
    let from_overrides = parse_overrides(&args.param)?;
    let params_path = args.params.clone().or_else(|| project.train.params.as_deref().map(|p| project.path(p)));
    let from_file = match &params_path {
        Some(path) => read_parameters_file(path)?.training,
        None => TrainingParams::default(),
    };
    let params = from_flags.or(from_overrides).or(from_file);
    let tracking = project.tracking_uri(args.tracking_uri.as_deref())?;
    let dataset = match &args.dataset {
        Some(text) => {
            let reference = crate::data::registry::DatasetRef::parse(text)?;
            let store = match &tracking {
                TrackingUri::Local(root) => root.clone(),
                TrackingUri::Http(_) | TrackingUri::AzureMl(_) => {
                    local_store_path(args.local_store.as_deref(), project)
                }
            };
            Some(crate::data::registry::DatasetRegistry::for_store(&store).get(&reference)?)
        }
        None => None,
    };
    let data = match &dataset {
        Some(dataset) => PathBuf::from(&dataset.path),
        None => args
            .data
            .clone()
            .or_else(|| project.train.data.as_deref().map(|p| project.path(p)))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA)),
    };
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
        dataset,
        parent_run_id: args.parent_run_id.clone(),
        read: read_options(&args.read),
    };
    Ok(TrainSettings { request, tracking })
}

/// The user, program and git commit recorded on runs.
pub fn provenance() -> Provenance {
    let user = std::env::var(env_vars::LOGNAME).ok().filter(|u| !u.is_empty()).unwrap_or_else(whoami::username);
    Provenance { user, source_name: "mlops".to_string(), git_commit: git_commit() }
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

/// Resolved Azure settings: the cloud's endpoints, the credential configuration, the subscription.
#[derive(Debug, Clone)]
pub struct AzureSettings {
    pub cloud: crate::azure::CloudEndpoints,
    pub auth: crate::azure::AuthConfig,
    /// `None` runs the automatic chain.
    pub forced: Option<crate::azure::AuthKind>,
    pub subscription: Option<String>,
}

/// Resolves `--cloud`, `--arm-endpoint`, `--auth` and the credential environment variables.
pub fn resolve_azure(args: &crate::cli::AzureArgs) -> anyhow::Result<AzureSettings> {
    use crate::azure::{AuthConfig, AuthKind, CloudEndpoints, CloudName, Secret};
    use crate::cli::AuthArg;

    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let name = match &args.cloud {
        Some(text) => text.parse::<CloudName>().map_err(|e| crate::exit::UsageError(format!("--cloud: {e}")))?,
        None => CloudName::AzureCloud,
    };
    let cloud = CloudEndpoints::resolve(
        name,
        var(env_vars::AZURE_AUTHORITY_HOST).as_deref(),
        args.arm_endpoint.as_deref(),
        args.arm_audience.as_deref(),
    )
    .map_err(|e| crate::exit::UsageError(e.to_string()))?;
    if let Some(bundle) = var(env_vars::SSL_CERT_FILE)
        && let Err(source) = std::fs::metadata(&bundle)
    {
        return Err(SettingsError::Read { path: PathBuf::from(&bundle), source }).map_err(|e| {
            anyhow::Error::from(e).context(format!("{} names a missing trust bundle", env_vars::SSL_CERT_FILE))
        });
    }
    let forced = match args.auth {
        None | Some(AuthArg::Auto) => None,
        Some(AuthArg::ClientSecret) => Some(AuthKind::ClientSecret),
        Some(AuthArg::ClientCertificate) => Some(AuthKind::ClientCertificate),
        Some(AuthArg::WorkloadIdentity) => Some(AuthKind::WorkloadIdentity),
        Some(AuthArg::GithubOidc) => Some(AuthKind::GithubOidc),
        Some(AuthArg::AzurePipelines) => Some(AuthKind::AzurePipelines),
        Some(AuthArg::ManagedIdentity) => Some(AuthKind::ManagedIdentity),
        Some(AuthArg::AzureCli) => Some(AuthKind::AzureCli),
    };
    let auth = AuthConfig {
        tenant_id: var(env_vars::AZURE_TENANT_ID),
        client_id: var(env_vars::AZURE_CLIENT_ID),
        client_secret: var(env_vars::AZURE_CLIENT_SECRET).map(Secret::new),
        client_certificate_path: var(env_vars::AZURE_CLIENT_CERTIFICATE_PATH).map(PathBuf::from),
        federated_token_file: var(env_vars::AZURE_FEDERATED_TOKEN_FILE).map(PathBuf::from),
        github_token_request_url: var(env_vars::ACTIONS_ID_TOKEN_REQUEST_URL),
        github_token_request_token: var(env_vars::ACTIONS_ID_TOKEN_REQUEST_TOKEN).map(Secret::new),
        pipelines_oidc_request_uri: var(env_vars::SYSTEM_OIDCREQUESTURI),
        pipelines_service_connection_id: var(env_vars::AZURESUBSCRIPTION_SERVICE_CONNECTION_ID),
        pipelines_system_access_token: var(env_vars::SYSTEM_ACCESSTOKEN).map(Secret::new),
        managed_identity_endpoint: var(env_vars::IDENTITY_ENDPOINT).is_some() || var(env_vars::MSI_ENDPOINT).is_some(),
        managed_identity_client_id: var(env_vars::AZURE_CLIENT_ID),
        azure_cli_available: crate::infra::template::on_path("az"),
        subscription_id: args.subscription.clone(),
    };
    Ok(AzureSettings { cloud, auth, forced, subscription: args.subscription.clone().filter(|s| !s.trim().is_empty()) })
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

/// Resolved Azure ML settings: Azure sign-in, the workspace, and the defaults of `[azureml]`.
#[derive(Debug, Clone)]
pub struct AzureMlSettings {
    pub azure: AzureSettings,
    pub workspace: crate::azureml::WorkspaceRef,
    pub api_version: String,
    pub compute: Option<String>,
    pub image: String,
    pub poll: Duration,
}

/// Resolves the workspace flags (or their environment variables) against `[azureml]` in mlops.toml.
pub fn resolve_azureml(args: &crate::cli::WorkspaceArgs, project: &ProjectFile) -> anyhow::Result<AzureMlSettings> {
    let section = &project.azureml;
    let mut azure = resolve_azure(&args.azure)?;
    if azure.subscription.is_none() {
        azure.subscription = section.subscription.clone().filter(|s| !s.trim().is_empty());
        azure.auth.subscription_id = azure.subscription.clone();
    }
    let missing = |what: &str, flag: &str, var: &str, key: &str| {
        crate::exit::UsageError(format!(
            "no Azure ML {what}: pass {flag}, set {var}, or set `{key}` under [azureml] in mlops.toml"
        ))
    };
    let subscription = azure
        .subscription
        .clone()
        .ok_or_else(|| missing("subscription", "--subscription", env_vars::AZURE_SUBSCRIPTION_ID, "subscription"))?;
    let name = args
        .workspace
        .clone()
        .or_else(|| section.workspace.clone())
        .ok_or_else(|| missing("workspace", "--workspace", env_vars::AZUREML_WORKSPACE_NAME, "workspace"))?;
    let resource_group = args.resource_group.clone().or_else(|| section.resource_group.clone()).ok_or_else(|| {
        missing("resource group", "--resource-group", env_vars::AZURE_RESOURCE_GROUP, "resource_group")
    })?;
    crate::azure::deployments::check_name("workspace", &name, 33).map_err(crate::exit::UsageError)?;
    crate::azure::deployments::check_name("resource group", &resource_group, 90).map_err(crate::exit::UsageError)?;
    let poll = match std::env::var(env_vars::MLOPS_AZUREML_POLL_SECONDS).ok().filter(|v| !v.is_empty()) {
        Some(text) => match text.parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s),
            _ => {
                return Err(crate::exit::UsageError(format!(
                    "{}={text:?} is not a positive number of seconds",
                    env_vars::MLOPS_AZUREML_POLL_SECONDS
                ))
                .into());
            }
        },
        None => Duration::from_secs(10),
    };
    Ok(AzureMlSettings {
        azure,
        workspace: crate::azureml::WorkspaceRef { subscription, resource_group, name },
        api_version: args
            .azureml_api_version
            .clone()
            .or_else(|| section.api_version.clone())
            .unwrap_or_else(|| crate::azureml::DEFAULT_API_VERSION.to_string()),
        compute: section.compute.clone(),
        image: section.image.clone().unwrap_or_else(|| crate::azureml::publish::DEFAULT_IMAGE.to_string()),
        poll,
    })
}

/// Signs in and resolves the workspace (one `GET`): the client every Azure ML command uses.
pub async fn connect_azureml(settings: &AzureMlSettings) -> anyhow::Result<crate::azureml::AzureMlClient> {
    use crate::azure::arm::{ArmClient, ArmClientOptions};
    let credential = std::sync::Arc::new(crate::azure::AzureCredential::new(
        &settings.azure.auth,
        &settings.azure.cloud,
        settings.azure.forced,
    )?);
    let scope = settings.azure.cloud.arm_scope();
    credential.token(&[scope.as_str()]).await?;
    let options = ArmClientOptions { api_version: settings.api_version.clone(), ..ArmClientOptions::default() };
    let arm = ArmClient::new(settings.azure.cloud.resource_manager.clone(), credential, scope, Some(options));
    let client = crate::azureml::AzureMlClient::connect(arm, settings.workspace.clone(), Default::default()).await?;
    Ok(client)
}

/// How to read data files: `--threads` (or `MLOPS_THREADS`), else one thread per CPU.
pub fn read_options(args: &crate::cli::ReadArgs) -> crate::data::ReadOptions {
    let defaults = crate::data::ReadOptions::default();
    crate::data::ReadOptions { threads: args.threads.map_or(defaults.threads, usize::from), ..defaults }
}
