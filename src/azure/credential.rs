//! Getting Entra ID tokens: one credential per way of signing in, and a chain that picks the first
//! one configured and working, in a documented order.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::ClientOptions;
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, AzurePipelinesCredential, AzurePipelinesCredentialOptions,
    ClientAssertionCredential, ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};

use super::assertion::{CertificateAssertion, GithubOidcAssertion};
use super::cloud::CloudEndpoints;
use crate::error_kind::{ErrorKind, HasKind};
use crate::http::{HttpError, RetryPolicy, RetryingTransport, TransportOptions};
use crate::secret::Secret;

/// A way of signing in. The order of [`AuthKind::CHAIN`] is the automatic chain's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    ClientSecret,
    ClientCertificate,
    WorkloadIdentity,
    GithubOidc,
    AzurePipelines,
    ManagedIdentity,
    AzureCli,
}

impl AuthKind {
    /// The automatic chain, most explicit first: configuration a CI job sets on purpose wins over
    /// ambient identities of the machine, which win over a developer's `az login`.
    pub const CHAIN: [AuthKind; 7] = [
        AuthKind::ClientSecret,
        AuthKind::ClientCertificate,
        AuthKind::WorkloadIdentity,
        AuthKind::GithubOidc,
        AuthKind::AzurePipelines,
        AuthKind::ManagedIdentity,
        AuthKind::AzureCli,
    ];

    /// The name used by `--auth` and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::ClientSecret => "client-secret",
            AuthKind::ClientCertificate => "client-certificate",
            AuthKind::WorkloadIdentity => "workload-identity",
            AuthKind::GithubOidc => "github-oidc",
            AuthKind::AzurePipelines => "azure-pipelines",
            AuthKind::ManagedIdentity => "managed-identity",
            AuthKind::AzureCli => "azure-cli",
        }
    }
}

impl fmt::Display for AuthKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the credentials may need, gathered by the caller (from the environment, usually).
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// PEM file with the private key (PKCS#8 or PKCS#1 RSA) and the certificate.
    pub client_certificate_path: Option<PathBuf>,
    pub federated_token_file: Option<PathBuf>,
    pub github_token_request_url: Option<String>,
    pub github_token_request_token: Option<Secret>,
    /// `SYSTEM_OIDCREQUESTURI`; the azure_identity crate reads it again itself.
    pub pipelines_oidc_request_uri: Option<String>,
    pub pipelines_service_connection_id: Option<String>,
    pub pipelines_system_access_token: Option<Secret>,
    /// Set when the machine advertises a managed identity endpoint (App Service, Container Apps…).
    pub managed_identity_endpoint: bool,
    /// Client id of a user-assigned managed identity.
    pub managed_identity_client_id: Option<String>,
    /// Whether an `az` executable is on PATH.
    pub azure_cli_available: bool,
    pub subscription_id: Option<String>,
    /// How token requests are retried.
    pub retry: RetryPolicy,
    /// The bound on one token request (default 10 s).
    pub timeout: Option<Duration>,
}

/// How long one token request may take by default: Entra ID answers in well under a second.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no Azure credential worked; tried, in order:\n{}", list(.0))]
    ChainFailed(Vec<(AuthKind, String)>),
    #[error("--auth {kind} cannot be used: {reason}")]
    NotConfigured { kind: AuthKind, reason: String },
    #[error("{kind} sign-in failed: {reason}")]
    Failed { kind: AuthKind, reason: String },
    /// The network failed, not the credential: the sign-in service could not be reached.
    #[error("{kind} sign-in cannot reach {host}: the network failed, not the credential")]
    Unreachable {
        kind: AuthKind,
        host: String,
        #[source]
        source: HttpError,
    },
}

impl HasKind for AuthError {
    fn kind(&self) -> ErrorKind {
        match self {
            AuthError::Unreachable { .. } => ErrorKind::Remote,
            _ => ErrorKind::Auth,
        }
    }
}

impl AuthError {
    /// The failure of `kind`'s token request: unreachable when the network failed (found as the
    /// transport's `HttpError` among the causes), a sign-in failure otherwise.
    fn of(kind: AuthKind, err: azure_core::Error) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(current) = cause {
            if let Some(http) = current.downcast_ref::<HttpError>()
                && http.is_unreachable()
            {
                let host = reqwest::Url::parse(&http.url)
                    .ok()
                    .and_then(|u| u.host_str().map(|h| u.port().map_or(h.to_string(), |p| format!("{h}:{p}"))))
                    .unwrap_or_else(|| http.url.clone());
                let reason = match &http.failure {
                    Some(crate::http::Failure::Connect(reason)) => reason.clone(),
                    _ => http.summary(),
                };
                let source = HttpError::connect_text(&http.method, &http.url, reason);
                return AuthError::Unreachable { kind, host, source };
            }
            cause = current.source();
        }
        AuthError::Failed { kind, reason: describe(&err) }
    }

    fn is_unreachable(&self) -> bool {
        matches!(self, AuthError::Unreachable { .. })
    }
}

fn list(attempts: &[(AuthKind, String)]) -> String {
    attempts.iter().map(|(kind, reason)| format!("  - {kind}: {reason}")).collect::<Vec<_>>().join("\n")
}

struct Source {
    kind: AuthKind,
    credential: Arc<dyn TokenCredential>,
}

/// The credential `mlops` commands use: one forced kind, or the automatic chain.
///
/// Once a source has produced a token it is kept for the rest of the process, as
/// `DefaultAzureCredential` does, so later requests do not walk the chain again.
pub struct AzureCredential {
    sources: Vec<Source>,
    /// Sources that were skipped because their configuration is absent, with the reason.
    skipped: Vec<(AuthKind, String)>,
    forced: bool,
    chosen: Mutex<Option<usize>>,
}

impl fmt::Debug for AzureCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureCredential")
            .field("sources", &self.sources.iter().map(|s| s.kind).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl AzureCredential {
    /// Builds the credential; `forced` restricts it to one kind (`--auth`).
    pub fn new(config: &AuthConfig, cloud: &CloudEndpoints, forced: Option<AuthKind>) -> Result<Self, AuthError> {
        let kinds: Vec<AuthKind> = match forced {
            Some(kind) => vec![kind],
            None => AuthKind::CHAIN.to_vec(),
        };
        let mut sources = Vec::new();
        let mut skipped = Vec::new();
        for kind in kinds {
            match build(kind, config, cloud) {
                Ok(credential) => sources.push(Source { kind, credential }),
                Err(Unusable::Missing(reason)) if forced.is_some() => {
                    return Err(AuthError::NotConfigured { kind, reason });
                }
                Err(Unusable::Missing(reason)) => skipped.push((kind, reason)),
                Err(Unusable::Invalid(reason)) if forced.is_some() => {
                    return Err(AuthError::Failed { kind, reason });
                }
                Err(Unusable::Invalid(reason)) => skipped.push((kind, reason)),
            }
        }
        Ok(AzureCredential { sources, skipped, forced: forced.is_some(), chosen: Mutex::new(None) })
    }

    /// The kind that produced the last token, once one has.
    pub fn selected(&self) -> Option<AuthKind> {
        let chosen = *self.chosen.lock().unwrap_or_else(|p| p.into_inner());
        chosen.and_then(|i| self.sources.get(i)).map(|s| s.kind)
    }

    /// A token for `scopes`, trying each configured source until one works.
    pub async fn token(&self, scopes: &[&str]) -> Result<AccessToken, AuthError> {
        let chosen = *self.chosen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(index) = chosen
            && let Some(source) = self.sources.get(index)
        {
            let token = source.credential.get_token(scopes, None).await.map_err(|e| AuthError::of(source.kind, e))?;
            crate::secret::register(token.token.secret());
            return Ok(token);
        }
        let mut attempts = Vec::new();
        for (index, source) in self.sources.iter().enumerate() {
            tracing::debug!(credential = %source.kind, "requesting a token");
            match source.credential.get_token(scopes, None).await {
                Ok(token) => {
                    crate::secret::register(token.token.secret());
                    *self.chosen.lock().unwrap_or_else(|p| p.into_inner()) = Some(index);
                    tracing::info!(credential = %source.kind, "signed in");
                    return Ok(token);
                }
                Err(err) => {
                    let err = AuthError::of(source.kind, err);
                    // Unreachable ends the chain: the next credentials ask the same authority,
                    // and "no credential worked" would send the user looking at the wrong thing.
                    if self.forced || err.is_unreachable() {
                        return Err(err);
                    }
                    let reason = match err {
                        AuthError::Failed { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    attempts.push((source.kind, reason));
                }
            }
        }
        let mut all = attempts;
        all.extend(self.skipped.iter().cloned());
        all.sort_by_key(|(kind, _)| AuthKind::CHAIN.iter().position(|k| k == kind));
        Err(AuthError::ChainFailed(all))
    }
}

#[async_trait::async_trait]
impl TokenCredential for AzureCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.token(scopes)
            .await
            .map_err(|e| azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e.to_string()))
    }
}

/// The message of an azure_core error with its causes, without the troubleshooting links' noise.
fn describe(err: &azure_core::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.lines().filter(|l| !l.starts_with("To troubleshoot")).collect::<Vec<_>>().join(" ")
}

enum Unusable {
    /// The configuration this source needs is absent.
    Missing(String),
    /// The configuration is there but cannot be used.
    Invalid(String),
}

/// The settings a way of signing in needs, gathered so that every absent one is named in one
/// message rather than one per attempt.
#[derive(Default)]
struct Needs(Vec<String>);

impl Needs {
    fn text(&mut self, value: &Option<String>, var: &str) -> Option<String> {
        self.note(value.clone().filter(|v| !v.is_empty()), var)
    }

    fn secret(&mut self, value: &Option<Secret>, var: &str) -> Option<Secret> {
        self.note(value.clone(), var)
    }

    fn path(&mut self, value: &Option<PathBuf>, var: &str) -> Option<PathBuf> {
        self.note(value.clone(), var)
    }

    fn note<T>(&mut self, value: Option<T>, var: &str) -> Option<T> {
        if value.is_none() {
            self.0.push(var.to_string());
        }
        value
    }

    /// "A is not set", "A and B are not set", "A, B and C are not set".
    fn unusable(self) -> Unusable {
        let names = match self.0.as_slice() {
            [] => return Unusable::Invalid("incomplete configuration".to_string()),
            [one] => return Unusable::Missing(format!("{one} is not set")),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        };
        Unusable::Missing(format!("{names} are not set"))
    }
}

/// The pipeline options of every credential: the cloud, and the one retry policy over our transport.
fn client_options(cloud: &CloudEndpoints, config: &AuthConfig) -> Result<ClientOptions, Unusable> {
    let cloud = ClientOptions { cloud: Some(Arc::new(cloud.core_cloud())), ..Default::default() };
    Ok(sign_in_transport(config)?.client_options(cloud))
}

fn sign_in_transport(config: &AuthConfig) -> Result<RetryingTransport, Unusable> {
    let transport = TransportOptions { timeout: Some(config.timeout.unwrap_or(SIGN_IN_TIMEOUT)), ..Default::default() };
    RetryingTransport::new(&transport, config.retry).map_err(|e| Unusable::Invalid(e.to_string()))
}

fn invalid(err: azure_core::Error) -> Unusable {
    Unusable::Invalid(describe(&err))
}

fn build(kind: AuthKind, config: &AuthConfig, cloud: &CloudEndpoints) -> Result<Arc<dyn TokenCredential>, Unusable> {
    use crate::env_vars as env;
    match kind {
        AuthKind::ClientSecret => {
            let mut needs = Needs::default();
            let secret = needs.secret(&config.client_secret, env::AZURE_CLIENT_SECRET);
            let tenant = needs.text(&config.tenant_id, env::AZURE_TENANT_ID);
            let client = needs.text(&config.client_id, env::AZURE_CLIENT_ID);
            let (Some(secret), Some(tenant), Some(client)) = (secret, tenant, client) else {
                return Err(needs.unusable());
            };
            let options = ClientSecretCredentialOptions { client_options: client_options(cloud, config)? };
            let credential =
                ClientSecretCredential::new(&tenant, client, secret.into(), Some(options)).map_err(invalid)?;
            Ok(credential)
        }
        AuthKind::ClientCertificate => {
            let mut needs = Needs::default();
            let path = needs.path(&config.client_certificate_path, env::AZURE_CLIENT_CERTIFICATE_PATH);
            let tenant = needs.text(&config.tenant_id, env::AZURE_TENANT_ID);
            let client = needs.text(&config.client_id, env::AZURE_CLIENT_ID);
            let (Some(path), Some(tenant), Some(client)) = (path, tenant, client) else {
                return Err(needs.unusable());
            };
            let token_endpoint = token_endpoint(cloud, &tenant)?;
            let assertion = CertificateAssertion::from_pem_file(&path, &client, token_endpoint)
                .map_err(|e| Unusable::Invalid(e.to_string()))?;
            let credential = ClientAssertionCredential::new(
                tenant,
                client,
                assertion,
                Some(ClientAssertionCredentialOptions { client_options: client_options(cloud, config)? }),
            )
            .map_err(invalid)?;
            Ok(credential)
        }
        AuthKind::WorkloadIdentity => {
            let mut needs = Needs::default();
            let file = needs.path(&config.federated_token_file, env::AZURE_FEDERATED_TOKEN_FILE);
            let tenant = needs.text(&config.tenant_id, env::AZURE_TENANT_ID);
            let client = needs.text(&config.client_id, env::AZURE_CLIENT_ID);
            let (Some(file), Some(tenant), Some(client)) = (file, tenant, client) else {
                return Err(needs.unusable());
            };
            let options = WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions { client_options: client_options(cloud, config)? },
                client_id: Some(client),
                tenant_id: Some(tenant),
                token_file_path: Some(file),
            };
            let credential = WorkloadIdentityCredential::new(Some(options)).map_err(invalid)?;
            Ok(credential)
        }
        AuthKind::GithubOidc => {
            let mut needs = Needs::default();
            let url = needs.text(&config.github_token_request_url, env::ACTIONS_ID_TOKEN_REQUEST_URL);
            let token = needs.secret(
                &config.github_token_request_token,
                &format!("{} (the job needs `permissions: id-token: write`)", env::ACTIONS_ID_TOKEN_REQUEST_TOKEN),
            );
            let tenant = needs.text(&config.tenant_id, env::AZURE_TENANT_ID);
            let client = needs.text(&config.client_id, env::AZURE_CLIENT_ID);
            let (Some(url), Some(token), Some(tenant), Some(client)) = (url, token, tenant, client) else {
                return Err(needs.unusable());
            };
            let assertion = GithubOidcAssertion::new(&url, token, client_options(cloud, config)?)
                .map_err(|e| Unusable::Invalid(e.to_string()))?;
            let credential = ClientAssertionCredential::new(
                tenant,
                client,
                assertion,
                Some(ClientAssertionCredentialOptions { client_options: client_options(cloud, config)? }),
            )
            .map_err(invalid)?;
            Ok(credential)
        }
        AuthKind::AzurePipelines => {
            let mut needs = Needs::default();
            let uri = needs.text(&config.pipelines_oidc_request_uri, env::SYSTEM_OIDCREQUESTURI);
            let connection =
                needs.text(&config.pipelines_service_connection_id, env::AZURESUBSCRIPTION_SERVICE_CONNECTION_ID);
            let token = needs.secret(
                &config.pipelines_system_access_token,
                &format!("{} (map $(System.AccessToken) into it)", env::SYSTEM_ACCESSTOKEN),
            );
            let tenant = needs.text(&config.tenant_id, env::AZURE_TENANT_ID);
            let client = needs.text(&config.client_id, env::AZURE_CLIENT_ID);
            let (Some(_), Some(connection), Some(token), Some(tenant), Some(client)) =
                (uri, connection, token, tenant, client)
            else {
                return Err(needs.unusable());
            };
            let options = AzurePipelinesCredentialOptions {
                credential_options: ClientAssertionCredentialOptions { client_options: client_options(cloud, config)? },
            };
            let credential = AzurePipelinesCredential::new(
                tenant,
                client,
                &connection,
                azure_core::credentials::Secret::from(token),
                Some(options),
            )
            .map_err(invalid)?;
            Ok(credential)
        }
        AuthKind::ManagedIdentity => {
            if !config.managed_identity_endpoint {
                return Err(Unusable::Missing(format!(
                    "{} is not set (on a VM, force the instance metadata service with --auth managed-identity)",
                    env::IDENTITY_ENDPOINT
                )));
            }
            managed_identity(config)
        }
        AuthKind::AzureCli => {
            if !config.azure_cli_available {
                return Err(Unusable::Missing("`az` is not on PATH".to_string()));
            }
            let options = AzureCliCredentialOptions {
                tenant_id: config.tenant_id.clone().filter(|t| !t.is_empty()),
                ..Default::default()
            };
            let credential = AzureCliCredential::new(Some(options)).map_err(invalid)?;
            Ok(credential)
        }
    }
}

fn managed_identity(config: &AuthConfig) -> Result<Arc<dyn TokenCredential>, Unusable> {
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: config
            .managed_identity_client_id
            .clone()
            .filter(|c| !c.is_empty())
            .map(UserAssignedId::ClientId),
        client_options: sign_in_transport(config)?.client_options(ClientOptions::default()),
    };
    let credential = ManagedIdentityCredential::new(Some(options)).map_err(invalid)?;
    Ok(credential)
}

fn token_endpoint(cloud: &CloudEndpoints, tenant: &str) -> Result<String, Unusable> {
    cloud
        .authority_host
        .join(&format!("/{tenant}/oauth2/v2.0/token"))
        .map(|u| u.to_string())
        .map_err(|e| Unusable::Invalid(format!("tenant id {tenant:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::cloud::CloudName;

    fn cloud() -> CloudEndpoints {
        CloudEndpoints::resolve(CloudName::AzureCloud, None, None, None).expect("cloud")
    }

    #[test]
    fn forced_kind_without_configuration_names_the_variable() {
        let err = AzureCredential::new(&AuthConfig::default(), &cloud(), Some(AuthKind::ClientSecret))
            .expect_err("not configured");
        assert_eq!(
            err.to_string(),
            "--auth client-secret cannot be used: AZURE_CLIENT_SECRET, AZURE_TENANT_ID and AZURE_CLIENT_ID are not set"
        );
        // With part of it set, only the rest is named.
        let config = AuthConfig { tenant_id: Some("t".into()), ..Default::default() };
        let err = AzureCredential::new(&config, &cloud(), Some(AuthKind::ClientSecret)).expect_err("not configured");
        assert_eq!(
            err.to_string(),
            "--auth client-secret cannot be used: AZURE_CLIENT_SECRET and AZURE_CLIENT_ID are not set"
        );
    }

    #[tokio::test]
    async fn empty_chain_lists_every_source() {
        let credential = AzureCredential::new(&AuthConfig::default(), &cloud(), None).expect("chain");
        let err = credential.token(&["https://management.azure.com/.default"]).await.expect_err("nothing configured");
        let text = err.to_string();
        for kind in AuthKind::CHAIN {
            assert!(text.contains(&format!("- {kind}: ")), "{text}");
        }
        // Every variable each method lacks is named at once.
        for line in [
            "- client-secret: AZURE_CLIENT_SECRET, AZURE_TENANT_ID and AZURE_CLIENT_ID are not set",
            "- client-certificate: AZURE_CLIENT_CERTIFICATE_PATH, AZURE_TENANT_ID and AZURE_CLIENT_ID are not set",
            "- workload-identity: AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID are not set",
            "- github-oidc: ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN (the job needs `permissions: id-token: write`), AZURE_TENANT_ID and AZURE_CLIENT_ID are not set",
            "- azure-pipelines: SYSTEM_OIDCREQUESTURI, AZURESUBSCRIPTION_SERVICE_CONNECTION_ID, SYSTEM_ACCESSTOKEN (map $(System.AccessToken) into it), AZURE_TENANT_ID and AZURE_CLIENT_ID are not set",
        ] {
            assert!(text.contains(line), "{line:?} not in {text}");
        }
        let secret_pos = text.find("client-secret").expect("listed");
        let cli_pos = text.find("azure-cli").expect("listed");
        assert!(secret_pos < cli_pos, "chain order kept: {text}");
    }
}
