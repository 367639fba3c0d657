//! Every environment variable `mlops` reads, declared once. Each is bound to a flag in `cli.rs`
//! or read in `settings/`, and documented in docs/environment.md; a test (tests/e2e/docs.rs)
//! fails when the two name different variables.

/// Tracking store: a path, `file:` URI or `http(s)://` MLflow server (flag `--tracking-uri`).
pub const MLFLOW_TRACKING_URI: &str = "MLFLOW_TRACKING_URI";
/// Experiment name for new runs (flag `--experiment`).
pub const MLFLOW_EXPERIMENT_NAME: &str = "MLFLOW_EXPERIMENT_NAME";
/// Path of the project file, instead of searching for `mlops.toml` upwards from the current directory.
pub const MLOPS_CONFIG: &str = "MLOPS_CONFIG";
/// Disables colour on stderr when set to a non-empty value (the `NO_COLOR` convention).
pub const NO_COLOR: &str = "NO_COLOR";
/// Log filter that overrides `-v` (`tracing_subscriber`'s `EnvFilter` syntax).
pub const RUST_LOG: &str = "RUST_LOG";
/// User name recorded in `mlflow.user`; falls back to the OS account name.
pub const LOGNAME: &str = "LOGNAME";
/// Basic-auth user for the tracking server (with `MLFLOW_TRACKING_PASSWORD`; wins over a token).
pub const MLFLOW_TRACKING_USERNAME: &str = "MLFLOW_TRACKING_USERNAME";
/// Basic-auth password for the tracking server.
pub const MLFLOW_TRACKING_PASSWORD: &str = "MLFLOW_TRACKING_PASSWORD";
/// Bearer token for the tracking server.
pub const MLFLOW_TRACKING_TOKEN: &str = "MLFLOW_TRACKING_TOKEN";
/// PEM bundle that replaces the trust roots for the tracking server.
pub const MLFLOW_TRACKING_SERVER_CERT_PATH: &str = "MLFLOW_TRACKING_SERVER_CERT_PATH";
/// `true` skips TLS verification of the tracking server (test servers only).
pub const MLFLOW_TRACKING_INSECURE_TLS: &str = "MLFLOW_TRACKING_INSECURE_TLS";
/// PEM bundle that replaces the default trust roots, as for OpenSSL.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
/// Retries of a tracking request that failed with a timeout, 408, 429 or 5xx (default 5).
pub const MLFLOW_HTTP_REQUEST_MAX_RETRIES: &str = "MLFLOW_HTTP_REQUEST_MAX_RETRIES";
/// First retry wait in seconds, doubled on each retry (default 0.5).
pub const MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: &str = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR";
/// Timeout of one attempt of a request to the tracking server in seconds (default 10).
pub const MLFLOW_HTTP_REQUEST_TIMEOUT: &str = "MLFLOW_HTTP_REQUEST_TIMEOUT";
/// Seconds all retries of one call may take, waits included, for every service (default 12).
pub const MLOPS_HTTP_RETRY_BUDGET: &str = "MLOPS_HTTP_RETRY_BUDGET";
/// Timeout of one attempt of a call to Azure in seconds (default 10 for sign-in, 30 for ARM and Azure ML).
pub const MLOPS_HTTP_TIMEOUT: &str = "MLOPS_HTTP_TIMEOUT";
/// Local store that journals runs bound for a tracking server (default `./mlruns`; flag `--local-store`).
pub const MLOPS_LOCAL_STORE: &str = "MLOPS_LOCAL_STORE";
/// Threads that parse data files in `train`, `predict` and `data profile|validate` (flag `--threads`).
pub const MLOPS_THREADS: &str = "MLOPS_THREADS";
/// Home directory, for `~/.mlflow/credentials`.
pub const HOME: &str = "HOME";

// Azure sign-in (read in `settings/azure.rs` into `azure::AuthConfig`). Same names as the Azure SDKs and az.

/// Entra tenant (directory) id of the service principal.
pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
/// Client (application) id of the service principal or user-assigned identity.
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
/// Client secret of the service principal (never printed).
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
/// PEM file with the service principal's RSA private key and certificate.
pub const AZURE_CLIENT_CERTIFICATE_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
/// File holding a federated token (Kubernetes workload identity).
pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// Entra authority, e.g. `https://login.microsoftonline.us`; overrides the cloud's.
pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
/// Azure Resource Manager endpoint (flag `--arm-endpoint`); overrides the cloud's.
pub const AZURE_RESOURCE_MANAGER_ENDPOINT: &str = "AZURE_RESOURCE_MANAGER_ENDPOINT";
/// Token audience for ARM (flag `--arm-audience`); defaults to the ARM endpoint's origin.
pub const AZURE_RESOURCE_MANAGER_AUDIENCE: &str = "AZURE_RESOURCE_MANAGER_AUDIENCE";
/// Cloud name (flag `--cloud`): AzureCloud, AzureChinaCloud or AzureUSGovernment.
pub const AZURE_CLOUD: &str = "AZURE_CLOUD";
/// Subscription id (flag `--subscription`).
pub const AZURE_SUBSCRIPTION_ID: &str = "AZURE_SUBSCRIPTION_ID";
/// Azure ML workspace name (flag `--workspace`).
pub const AZUREML_WORKSPACE_NAME: &str = "AZUREML_WORKSPACE_NAME";
/// Resource group of the Azure ML workspace (flag `--resource-group`).
pub const AZURE_RESOURCE_GROUP: &str = "AZURE_RESOURCE_GROUP";
/// Azure ML REST api-version (flag `--azureml-api-version`, default 2025-09-01).
pub const MLOPS_AZUREML_API_VERSION: &str = "MLOPS_AZUREML_API_VERSION";
/// Seconds between reads of a followed Azure ML job (default 10).
pub const MLOPS_AZUREML_POLL_SECONDS: &str = "MLOPS_AZUREML_POLL_SECONDS";
/// Credential to use instead of the automatic chain (flag `--auth`).
pub const MLOPS_AZURE_AUTH: &str = "MLOPS_AZURE_AUTH";
/// GitHub Actions OIDC request URL (set by the runner when the job has `id-token: write`).
pub const ACTIONS_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// Bearer token for the GitHub Actions OIDC request (set by the runner).
pub const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
/// Azure Pipelines OIDC request URI (set by the agent).
pub const SYSTEM_OIDCREQUESTURI: &str = "SYSTEM_OIDCREQUESTURI";
/// Azure Pipelines job access token; map `$(System.AccessToken)` into it.
pub const SYSTEM_ACCESSTOKEN: &str = "SYSTEM_ACCESSTOKEN";
/// Id of the Azure Resource Manager service connection (as the AzureCLI@2 task exports it).
pub const AZURESUBSCRIPTION_SERVICE_CONNECTION_ID: &str = "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID";
/// Managed identity endpoint (App Service, Container Apps, Functions).
pub const IDENTITY_ENDPOINT: &str = "IDENTITY_ENDPOINT";
/// Header secret of the managed identity endpoint; read by `azure_identity` itself, with
/// `IDENTITY_ENDPOINT`, and declared here so that it is documented with the others.
pub const IDENTITY_HEADER: &str = "IDENTITY_HEADER";
/// Legacy managed identity endpoint (Cloud Shell, Azure ML compute).
pub const MSI_ENDPOINT: &str = "MSI_ENDPOINT";
/// Directories searched for `az` (Azure CLI credential) and an external `bicep`.
pub const PATH: &str = "PATH";
/// Model of `mlops serve` (flag `--model`), so a container image can set it once.
pub const MLOPS_MODEL: &str = "MLOPS_MODEL";
/// Where Azure ML mounts an online deployment's model asset in its container; `mlops serve`
/// serves that model rather than `--model` (the one baked into the image).
pub const AZUREML_MODEL_DIR: &str = "AZUREML_MODEL_DIR";
/// Request-log destination of `mlops serve` (flag `--request-log`).
pub const MLOPS_REQUEST_LOG: &str = "MLOPS_REQUEST_LOG";
/// SAS token for an `https://` blob request log (flag `--request-log-sas`). Never logged.
pub const MLOPS_REQUEST_LOG_SAS: &str = "MLOPS_REQUEST_LOG_SAS";
/// SAS token for an `https://` datastore of `mlops data register` (flag `--datastore-sas`). Never logged.
pub const MLOPS_DATASTORE_SAS: &str = "MLOPS_DATASTORE_SAS";
/// SAS token for an `https://` blob `--out` of `mlops predict` (flag `--out-sas`). Never logged.
pub const MLOPS_PREDICT_OUT_SAS: &str = "MLOPS_PREDICT_OUT_SAS";
/// SAS token for an `https://` blob container watched by `mlops pipeline watch` (flag `--source-sas`). Never logged.
pub const MLOPS_WATCH_SOURCE_SAS: &str = "MLOPS_WATCH_SOURCE_SAS";
/// Storage connection string (flag `--storage-connection-string`), the Azure SDKs' usual name. Never logged.
pub const AZURE_STORAGE_CONNECTION_STRING: &str = "AZURE_STORAGE_CONNECTION_STRING";
/// Scoring key for `mlops smoke-test` (flag `--key`). Never logged.
pub const MLOPS_SCORING_KEY: &str = "MLOPS_SCORING_KEY";
/// User name for a container registry's Basic sign-in (`mlops image`, flag `--username`).
pub const MLOPS_REGISTRY_USERNAME: &str = "MLOPS_REGISTRY_USERNAME";
/// Password or token for a container registry's Basic sign-in. Never logged.
pub const MLOPS_REGISTRY_PASSWORD: &str = "MLOPS_REGISTRY_PASSWORD";
/// Where models downloaded from a tracking server are cached (default `$XDG_CACHE_HOME/mlops`).
pub const MLOPS_CACHE_DIR: &str = "MLOPS_CACHE_DIR";
/// Where restored Bicep registry modules are cached, overriding bicepconfig.json's `cacheRootDirectory` and `~/.bicep`.
pub const MLOPS_BICEP_CACHE: &str = "MLOPS_BICEP_CACHE";
/// Base directory for caches (XDG); `mlops` uses `$XDG_CACHE_HOME/mlops`.
pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
/// Azure DevOps build id, recorded on registered model versions as `BuildId`.
pub const BUILD_BUILDID: &str = "BUILD_BUILDID";
/// Azure DevOps organisation URI (with `SYSTEM_TEAMPROJECT`, makes the `BuildUri` tag).
pub const SYSTEM_COLLECTIONURI: &str = "SYSTEM_COLLECTIONURI";
/// Azure DevOps project name.
pub const SYSTEM_TEAMPROJECT: &str = "SYSTEM_TEAMPROJECT";
/// GitHub Actions run id, recorded as `BuildId`.
pub const GITHUB_RUN_ID: &str = "GITHUB_RUN_ID";
/// GitHub server URL (with `GITHUB_REPOSITORY`, makes the `BuildUri` tag).
pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
/// GitHub `owner/repo`.
pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";

// Lineage a run records when it runs where there is no git work tree or CI variable (an Azure ML
// job): `mlops train --compute` sets them on the job from the submitting machine. They win over
// what `mlops` finds itself.

/// Git commit recorded as `mlflow.source.git.commit`.
pub const MLOPS_GIT_COMMIT: &str = "MLOPS_GIT_COMMIT";
/// Git remote URL recorded as `mlflow.source.git.repoURL` (credentials are removed).
pub const MLOPS_GIT_REPO_URL: &str = "MLOPS_GIT_REPO_URL";
/// Git branch recorded as `mlflow.source.git.branch`.
pub const MLOPS_GIT_BRANCH: &str = "MLOPS_GIT_BRANCH";
/// `true` or `false`: whether the work tree had uncommitted changes (`mlops.source.git.dirty`).
pub const MLOPS_GIT_DIRTY: &str = "MLOPS_GIT_DIRTY";
/// CI build id recorded as `mlops.ci.build_id`.
pub const MLOPS_CI_BUILD_ID: &str = "MLOPS_CI_BUILD_ID";
/// CI build URL recorded as `mlops.ci.build_url`.
pub const MLOPS_CI_BUILD_URL: &str = "MLOPS_CI_BUILD_URL";
/// Where the training data came from (a blob URL or data asset), recorded as `mlops.data.source`
/// instead of the local path: an Azure ML job reads its input at a mount path that means nothing
/// elsewhere. `mlops pipeline submit` sets it from the pipeline's one `type: data` parameter.
pub const MLOPS_DATA_SOURCE: &str = "MLOPS_DATA_SOURCE";
