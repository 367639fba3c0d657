//! Building clients from resolved settings: the tracker of a tracking store, MLflow clients
//! (plain or signed in to an Azure ML workspace), the Azure ML workspace client, and models named
//! by `--model`. Settings resolve values; this is where those values meet the network.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;

use crate::azure::AzureCredential;
use crate::azure::arm::{ArmClient, ArmClientOptions};
use crate::azureml::AzureMlClient;
use crate::azureml::steps::StepReader;
use crate::cli::{AzureArgs, StoreArgs};
use crate::http::RetryPolicy;
use crate::oci::Credentials;
use crate::registry::{ResolvedModel, resolve_model};
use crate::settings::{
    AzureMlSettings, AzureSettings, MlflowSettings, RegistryAuth, TrackingSettings, cache_dir, project_file,
    resolve_store,
};
use crate::tracking::mlflow::{AzureToken, MlflowAuth, MlflowClient};
use crate::tracking::uri::AzureMlUri;
use crate::tracking::{LocalStore, ModelRef, Tracker, TrackingUri};

/// The tracker of a command's store flags, resolved against mlops.toml.
pub fn store_tracker(store: &StoreArgs) -> anyhow::Result<Tracker> {
    tracker(&resolve_store(store, &project_file()?)?)
}

/// The tracker of a tracking store: a local store, or a server with the local store as journal.
pub fn tracker(settings: &TrackingSettings) -> anyhow::Result<Tracker> {
    match &settings.uri {
        TrackingUri::Local(root) => Ok(Tracker::Local(LocalStore::open(root)?)),
        _ => match remote_client(settings)? {
            Some(client) => Ok(Tracker::Remote { journal: LocalStore::open(&settings.local_store)?, client }),
            None => unreachable_store(&settings.uri),
        },
    }
}

/// The MLflow client of a server URI (`http(s)://` or `azureml://`); `None` for a local store.
pub fn remote_client(settings: &TrackingSettings) -> anyhow::Result<Option<MlflowClient>> {
    match &settings.uri {
        TrackingUri::Local(_) => Ok(None),
        TrackingUri::Http(url) => Ok(Some(mlflow_client(url, &settings.mlflow)?)),
        TrackingUri::AzureMl(aml) => {
            let Some(azure) = settings.azure.as_ref() else { return unreachable_store(&settings.uri) };
            Ok(Some(azureml_client(aml, azure, &settings.mlflow)?))
        }
    }
}

/// An MLflow client of a server.
pub fn mlflow_client(url: &str, mlflow: &MlflowSettings) -> anyhow::Result<MlflowClient> {
    Ok(MlflowClient::new(url, mlflow.auth.clone(), Some(mlflow.options.clone()))?)
}

/// The MLflow endpoint of an Azure ML workspace, authenticated with ARM tokens from the Azure
/// credential chain that `mlops infra` uses.
pub fn azureml_client(
    aml: &AzureMlUri,
    azure: &AzureSettings,
    mlflow: &MlflowSettings,
) -> anyhow::Result<MlflowClient> {
    let credential = AzureCredential::new(&azure.auth, &azure.cloud, azure.forced)?;
    azureml_client_signed_in(aml, Arc::new(credential), azure.cloud.arm_scope(), mlflow.clone())
}

/// The MLflow endpoint of an Azure ML workspace, with ARM tokens for `scope` from `credential`.
fn azureml_client_signed_in(
    aml: &AzureMlUri,
    credential: Arc<dyn TokenCredential>,
    scope: String,
    mut mlflow: MlflowSettings,
) -> anyhow::Result<MlflowClient> {
    mlflow.auth = MlflowAuth::Azure(AzureToken::new(credential, scope));
    let display = TrackingUri::AzureMl(aml.clone()).to_string();
    // Artifacts go to the workspace's Blob storage: large ones show a bar on a terminal.
    let bar = Arc::new(crate::progress::ArtifactTransferBar::new());
    Ok(mlflow_client(&aml.rest_base(), &mlflow)?.with_display_uri(display).with_transfer_progress(bar))
}

/// Signs in and resolves the workspace (one `GET`): the client every Azure ML command uses.
pub async fn azureml(settings: &AzureMlSettings) -> anyhow::Result<AzureMlClient> {
    let arm = arm_client(&settings.azure, &settings.api_version).await?;
    Ok(AzureMlClient::connect(arm, settings.workspace.clone(), Default::default()).await?)
}

/// Signs in (failing early with the credentials tried) and builds an ARM client for `api_version`.
pub async fn arm_client(azure: &AzureSettings, api_version: &str) -> anyhow::Result<ArmClient> {
    let credential = Arc::new(AzureCredential::new(&azure.auth, &azure.cloud, azure.forced)?);
    let scope = azure.cloud.arm_scope();
    credential.token(&[scope.as_str()]).await?;
    let options = ArmClientOptions {
        api_version: api_version.to_string(),
        retry: azure.network.retry(),
        timeout: azure.network.timeout,
    };
    Ok(ArmClient::new(azure.cloud.resource_manager.clone(), credential, scope, Some(options))?)
}

/// Reads a pipeline job's steps from the workspace's MLflow endpoint; `None` when the workspace
/// does not say where that is.
pub fn azureml_step_reader(
    settings: &AzureMlSettings,
    client: &AzureMlClient,
    experiment: &str,
) -> anyhow::Result<Option<StepReader>> {
    let Some(uri) = client.workspace().mlflow_tracking_uri.as_deref() else { return Ok(None) };
    let TrackingUri::AzureMl(aml) = TrackingUri::parse(uri)? else {
        return Ok(None);
    };
    // Step status is a side show: a slow or absent endpoint must not hold up following the job.
    // The workspace client's credential signs in, so no second sign-in happens.
    let mut mlflow = crate::settings::mlflow_settings(MlflowAuth::None)?;
    mlflow.options.retry = RetryPolicy {
        max_retries: 1,
        max_connect_retries: 1,
        backoff: Duration::from_millis(500),
        max_backoff: Duration::from_secs(1),
        budget: Duration::from_secs(5),
    };
    mlflow.options.transport.timeout = Some(Duration::from_secs(15));
    let credential = client.arm().credential();
    let client = azureml_client_signed_in(&aml, credential, settings.azure.cloud.arm_scope(), mlflow)?;
    Ok(Some(StepReader::new(client, experiment.to_string())))
}

/// The model a `--model` value names: a directory, or a URI looked up in the tracking store of
/// the command's store flags.
pub async fn model(model: &str, store: &StoreArgs) -> anyhow::Result<ResolvedModel> {
    let model = ModelRef::parse(model)?;
    if let ModelRef::Dir(dir) = &model {
        // A directory needs no store (and opening one would create ./mlruns).
        return Ok(ResolvedModel { dir: dir.clone(), name: dir.display().to_string(), version: None });
    }
    Ok(resolve_model(&model, &store_tracker(store)?, &cache_dir()).await?)
}

/// Settings that `settings::tracking_for` cannot produce (a server URI without its client
/// settings): a bug, reported as one rather than a panic.
fn unreachable_store<T>(uri: &TrackingUri) -> anyhow::Result<T> {
    anyhow::bail!("internal error: tracking settings for {uri} were resolved without its client settings")
}

/// The model registry of an Azure ML workspace (its MLflow endpoint, signed in with the workspace
/// client's credential): where `models:/NAME@ALIAS` of a workspace model is resolved.
pub fn azureml_registry(
    settings: &AzureMlSettings,
    client: &AzureMlClient,
) -> anyhow::Result<crate::registry::Registry> {
    let uri = client.workspace().mlflow_tracking_uri.as_deref().ok_or_else(|| {
        anyhow::anyhow!("workspace {:?} does not say where its MLflow endpoint is", client.workspace().name)
    })?;
    let TrackingUri::AzureMl(aml) = TrackingUri::parse(uri)? else {
        anyhow::bail!("workspace {:?} names an MLflow endpoint that is not azureml://: {uri}", client.workspace().name);
    };
    let mlflow = crate::settings::mlflow_settings(MlflowAuth::None)?;
    let mlflow = azureml_client_signed_in(&aml, client.arm().credential(), settings.azure.cloud.arm_scope(), mlflow)?;
    Ok(crate::registry::Registry::Remote(crate::registry::RemoteRegistry::new(mlflow)))
}

/// The OCI credentials a registry sign-in names; `azure` exchanges an Entra ID token for
/// registry tokens (ACR), so it needs the Azure sign-in flags.
pub fn registry_credentials(auth: &RegistryAuth, azure: &AzureArgs) -> anyhow::Result<Credentials> {
    Ok(match auth {
        RegistryAuth::Anonymous => Credentials::Anonymous,
        RegistryAuth::Basic { username, password } => {
            Credentials::Basic { username: username.clone(), password: password.clone() }
        }
        RegistryAuth::Azure => {
            let azure = crate::settings::resolve_azure(azure)?;
            let credential = AzureCredential::new(&azure.auth, &azure.cloud, azure.forced)?;
            Credentials::Entra {
                credential: Arc::new(credential),
                scope: azure.cloud.arm_scope(),
                tenant: azure.auth.tenant_id.clone(),
            }
        }
    })
}
