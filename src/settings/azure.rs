//! Azure sign-in and the Azure ML workspace: `--cloud`, `--auth`, the `AZURE_*` credential
//! variables and `[azureml]` of mlops.toml, resolved to plain values.

use std::path::PathBuf;
use std::time::Duration;

use super::{ProjectFile, SettingsError};
use crate::cli::{AuthArg, AzureArgs, WorkspaceArgs};
use crate::env_vars;
use crate::error_kind::UsageError;

/// Resolved Azure settings: the cloud's endpoints, the credential configuration, the subscription.
#[derive(Debug, Clone)]
pub struct AzureSettings {
    pub cloud: crate::azure::CloudEndpoints,
    pub auth: crate::azure::AuthConfig,
    /// `None` runs the automatic chain.
    pub forced: Option<crate::azure::AuthKind>,
    pub subscription: Option<String>,
    /// Retry budget and per-attempt timeout of ARM and Azure ML calls (sign-in has its own in `auth`).
    pub network: super::NetworkSettings,
}

/// Resolves `--cloud`, `--arm-endpoint`, `--auth` and the credential environment variables.
pub fn resolve_azure(args: &AzureArgs) -> anyhow::Result<AzureSettings> {
    use crate::azure::{AuthConfig, AuthKind, CloudEndpoints, CloudName, Secret};

    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let network = super::network_settings()?;
    let name = match &args.cloud {
        Some(text) => text.parse::<CloudName>().map_err(|e| UsageError(format!("--cloud: {e}")))?,
        None => CloudName::AzureCloud,
    };
    let cloud = CloudEndpoints::resolve(
        name,
        var(env_vars::AZURE_AUTHORITY_HOST).as_deref(),
        args.arm_endpoint.as_deref(),
        args.arm_audience.as_deref(),
    )
    .map_err(|e| UsageError(e.to_string()))?;
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
    // The federated token is read by the credential itself; masked here so that no echo of it prints.
    if let Some(token) = var(env_vars::AZURE_FEDERATED_TOKEN_FILE).and_then(|f| std::fs::read_to_string(f).ok()) {
        crate::secret::register(&token);
    }
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
        azure_cli_available: which::which("az").is_ok(),
        subscription_id: args.subscription.clone(),
        retry: network.retry(),
        timeout: network.timeout,
    };
    let subscription = args.subscription.clone().filter(|s| !s.trim().is_empty());
    Ok(AzureSettings { cloud, auth, forced, subscription, network })
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
pub fn resolve_azureml(args: &WorkspaceArgs, project: &ProjectFile) -> anyhow::Result<AzureMlSettings> {
    let section = &project.azureml;
    let mut azure = resolve_azure(&args.azure)?;
    if azure.subscription.is_none() {
        azure.subscription = section.subscription.clone().filter(|s| !s.trim().is_empty());
        azure.auth.subscription_id = azure.subscription.clone();
    }
    let missing = |what: &str, flag: &str, var: &str, key: &str| {
        UsageError(format!("no Azure ML {what}: pass {flag}, set {var}, or set `{key}` under [azureml] in mlops.toml"))
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
    crate::azure::deployments::check_name("workspace", &name, 33).map_err(UsageError)?;
    crate::azure::deployments::check_name("resource group", &resource_group, 90).map_err(UsageError)?;
    let poll = match std::env::var(env_vars::MLOPS_AZUREML_POLL_SECONDS).ok().filter(|v| !v.is_empty()) {
        Some(text) => match text.parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s),
            _ => {
                return Err(UsageError(format!(
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
