//! Where runs go and how the MLflow client behaves: `--tracking-uri`, `--local-store`, and the
//! `MLFLOW_*` variables MLflow's own client reads, resolved to plain values (no client is built
//! here; `commands::connect` builds them).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ProjectFile;
use super::azure::{AzureSettings, resolve_azure};
use crate::cli::{AzureArgs, StoreArgs, TrackingArgs};
use crate::env_vars;
use crate::error_kind::UsageError;
use crate::http::TransportOptions;
use crate::secret::Secret;
use crate::tracking::TrackingUri;
use crate::tracking::mlflow::{MlflowAuth, MlflowClientOptions};

/// Resolved tracking settings of a command.
#[derive(Debug, Clone)]
pub struct TrackingSettings {
    pub uri: TrackingUri,
    /// The local store that journals runs bound for a server (and holds the dataset registry).
    pub local_store: PathBuf,
    /// Auth, trust and retries of the MLflow client, when the URI is a server.
    pub mlflow: MlflowSettings,
    /// The Azure sign-in of an `azureml://` URI; `None` for other stores.
    pub azure: Option<AzureSettings>,
}

/// How the MLflow client signs in, trusts and retries.
#[derive(Debug, Clone)]
pub struct MlflowSettings {
    pub auth: MlflowAuth,
    pub options: MlflowClientOptions,
}

/// Resolves the tracking flags (or their variables) against `[tracking]` in mlops.toml.
pub fn resolve_tracking(
    args: &TrackingArgs,
    azure: &AzureArgs,
    project: &ProjectFile,
) -> anyhow::Result<TrackingSettings> {
    let uri = project.tracking_uri(args.tracking_uri.as_deref())?;
    tracking_for(uri, args.local_store.as_deref(), azure, project)
}

/// The tracking settings of a command's store flags (`--tracking-uri`, `--local-store`, Azure).
pub fn resolve_store(args: &StoreArgs, project: &ProjectFile) -> anyhow::Result<TrackingSettings> {
    resolve_tracking(&args.tracking, &args.azure, project)
}

/// The settings of a given tracking URI (`runs sync --to`), with the local store of `local_flag`.
pub fn tracking_for(
    uri: TrackingUri,
    local_flag: Option<&Path>,
    azure: &AzureArgs,
    project: &ProjectFile,
) -> anyhow::Result<TrackingSettings> {
    let azure = match &uri {
        TrackingUri::AzureMl(_) => Some(resolve_azure(azure)?),
        _ => None,
    };
    let mlflow = match &uri {
        TrackingUri::Local(_) => MlflowSettings { auth: MlflowAuth::None, options: MlflowClientOptions::default() },
        TrackingUri::Http(url) => {
            register_url_credentials(url);
            mlflow_settings(basic_or_bearer())?
        }
        // The workspace's MLflow endpoint takes ARM tokens; the auth is made when signing in.
        TrackingUri::AzureMl(_) => mlflow_settings(MlflowAuth::None)?,
    };
    Ok(TrackingSettings { uri, local_store: local_store_path(local_flag, project), mlflow, azure })
}

/// The local store: flag or `MLOPS_LOCAL_STORE`, then `[tracking] local`, then `./mlruns`.
pub fn local_store_path(flag: Option<&Path>, project: &ProjectFile) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os(env_vars::MLOPS_LOCAL_STORE).map(PathBuf::from))
        .or_else(|| project.tracking.local.as_deref().map(|p| project.path(p)))
        .unwrap_or_else(|| PathBuf::from(crate::tracking::uri::DEFAULT_LOCAL_STORE))
}

/// Basic auth (variables, then `~/.mlflow/credentials`) or a bearer token, as MLflow's client
/// picks them.
fn basic_or_bearer() -> MlflowAuth {
    let file = mlflow_credentials_file();
    let username = env(env_vars::MLFLOW_TRACKING_USERNAME).or(file.username);
    let password = env(env_vars::MLFLOW_TRACKING_PASSWORD).or(file.password);
    match (username, password, env(env_vars::MLFLOW_TRACKING_TOKEN)) {
        (Some(username), Some(password), _) => {
            crate::secret::register_basic(&username, &password);
            MlflowAuth::Basic { username, password: Secret::new(password) }
        }
        (_, _, Some(token)) => MlflowAuth::Bearer(Secret::new(token)),
        _ => MlflowAuth::None,
    }
}

/// Masks the password of a `http://user:password@host` URI in every form it is sent in (the
/// client turns it into a basic-auth header).
fn register_url_credentials(url: &str) {
    if let Ok(parsed) = reqwest::Url::parse(url)
        && let Some(password) = parsed.password()
    {
        let user = crate::tracking::uri::percent_decode(parsed.username());
        let password = crate::tracking::uri::percent_decode(password);
        crate::secret::register_basic(&user, &password);
        crate::secret::register_basic(parsed.username(), parsed.password().unwrap_or_default());
    }
}

/// Trust, timeouts and retries from the `MLFLOW_*` variables MLflow's client reads.
pub fn mlflow_settings(auth: MlflowAuth) -> anyhow::Result<MlflowSettings> {
    let number = |name: &str| -> anyhow::Result<Option<f64>> {
        env(name)
            .map(|v| v.parse::<f64>().map_err(|_| UsageError(format!("{name}={v:?} is not a number")).into()))
            .transpose()
    };
    let mut retry = super::network_settings()?.retry();
    if let Some(n) = number(env_vars::MLFLOW_HTTP_REQUEST_MAX_RETRIES)? {
        retry.max_retries = n.max(0.0) as usize;
        retry.max_connect_retries = retry.max_connect_retries.min(retry.max_retries);
    }
    if let Some(f) = number(env_vars::MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR)? {
        retry.backoff = Duration::from_secs_f64(f.max(0.0));
    }
    let transport = TransportOptions {
        ca_bundle: env(env_vars::MLFLOW_TRACKING_SERVER_CERT_PATH)
            .or_else(|| env(env_vars::SSL_CERT_FILE))
            .map(PathBuf::from),
        insecure: env(env_vars::MLFLOW_TRACKING_INSECURE_TLS).is_some_and(|v| v.eq_ignore_ascii_case("true")),
        timeout: number(env_vars::MLFLOW_HTTP_REQUEST_TIMEOUT)?.map(|s| Duration::from_secs_f64(s.max(0.1))),
    };
    Ok(MlflowSettings { auth, options: MlflowClientOptions { transport, retry } })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `[mlflow]` user and password of `~/.mlflow/credentials`.
#[derive(Debug, Default)]
struct CredentialsFile {
    username: Option<String>,
    password: Option<String>,
}

/// Reads `~/.mlflow/credentials` as MLflow's client does (an INI file, section `[mlflow]`). A
/// missing or unreadable file means no credentials, as there.
fn mlflow_credentials_file() -> CredentialsFile {
    let Some(home) = std::env::var_os(env_vars::HOME) else { return CredentialsFile::default() };
    let Ok(ini) = ini::Ini::load_from_file(Path::new(&home).join(".mlflow/credentials")) else {
        return CredentialsFile::default();
    };
    let Some(section) = ini.section(Some("mlflow")) else { return CredentialsFile::default() };
    CredentialsFile {
        username: section.get("mlflow_tracking_username").map(str::to_string),
        password: section.get("mlflow_tracking_password").map(str::to_string),
    }
}
