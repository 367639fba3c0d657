//! Azure clouds: where Entra ID and Azure Resource Manager live, and which token audience ARM wants.

use crate::error_kind::{ErrorKind, HasKind};
use std::str::FromStr;

use azure_core::http::Url;

/// A named Azure cloud, as `az cloud list` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloudName {
    #[default]
    AzureCloud,
    AzureChinaCloud,
    AzureUSGovernment,
}

impl CloudName {
    pub const ALL: [CloudName; 3] = [CloudName::AzureCloud, CloudName::AzureChinaCloud, CloudName::AzureUSGovernment];

    pub fn as_str(self) -> &'static str {
        match self {
            CloudName::AzureCloud => "AzureCloud",
            CloudName::AzureChinaCloud => "AzureChinaCloud",
            CloudName::AzureUSGovernment => "AzureUSGovernment",
        }
    }

    fn authority_host(self) -> &'static str {
        match self {
            CloudName::AzureCloud => "https://login.microsoftonline.com",
            CloudName::AzureChinaCloud => "https://login.chinacloudapi.cn",
            CloudName::AzureUSGovernment => "https://login.microsoftonline.us",
        }
    }

    fn resource_manager(self) -> &'static str {
        match self {
            CloudName::AzureCloud => "https://management.azure.com",
            CloudName::AzureChinaCloud => "https://management.chinacloudapi.cn",
            CloudName::AzureUSGovernment => "https://management.usgovcloudapi.net",
        }
    }
}

impl FromStr for CloudName {
    type Err = CloudError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CloudName::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| CloudError::UnknownCloud(s.to_string()))
    }
}

/// Why the cloud endpoints could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("unknown cloud {0:?}: expected AzureCloud, AzureChinaCloud or AzureUSGovernment")]
    UnknownCloud(String),
    #[error("{what} {value:?} is not a valid URL: {reason}")]
    BadUrl { what: &'static str, value: String, reason: String },
    #[error("{what} {value:?} must use https: tokens are never sent in clear text")]
    NotHttps { what: &'static str, value: String },
}

impl HasKind for CloudError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Usage
    }
}

/// The endpoints a command talks to, after flags and environment were applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEndpoints {
    pub name: CloudName,
    /// Entra ID authority, e.g. `https://login.microsoftonline.com`.
    pub authority_host: Url,
    /// Azure Resource Manager, e.g. `https://management.azure.com/`.
    pub resource_manager: Url,
    /// Token audience for ARM; the scope requested is `<audience>/.default`.
    pub audience: String,
}

impl CloudEndpoints {
    /// Resolves a cloud with optional overrides of the authority, the ARM endpoint and the audience.
    ///
    /// The audience follows the ARM endpoint (its origin) unless given explicitly, so pointing
    /// `AZURE_RESOURCE_MANAGER_ENDPOINT` at a private stack also asks Entra for the right token.
    pub fn resolve(
        name: CloudName,
        authority_host: Option<&str>,
        resource_manager: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Self, CloudError> {
        let authority_host = https_url("authority host", authority_host.unwrap_or(name.authority_host()))?;
        let resource_manager =
            https_url("resource manager endpoint", resource_manager.unwrap_or(name.resource_manager()))?;
        let audience = match audience {
            Some(a) => a.trim_end_matches('/').to_string(),
            None => resource_manager.origin().ascii_serialization().trim_end_matches('/').to_string(),
        };
        Ok(CloudEndpoints { name, authority_host, resource_manager, audience })
    }

    /// The OAuth scope for ARM tokens.
    pub fn arm_scope(&self) -> String {
        format!("{}/.default", self.audience)
    }

    /// The azure_core cloud configuration that sends Entra requests to `authority_host`.
    pub fn core_cloud(&self) -> azure_core::cloud::CloudConfiguration {
        let mut custom = azure_core::cloud::CustomConfiguration::default();
        custom.authority_host = self.authority_host.as_str().trim_end_matches('/').to_string();
        azure_core::cloud::CloudConfiguration::Custom(custom)
    }
}

fn https_url(what: &'static str, value: &str) -> Result<Url, CloudError> {
    let url =
        Url::parse(value).map_err(|e| CloudError::BadUrl { what, value: value.to_string(), reason: e.to_string() })?;
    if url.scheme() != "https" {
        return Err(CloudError::NotHttps { what, value: value.to_string() });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_cloud_defaults() {
        let c = CloudEndpoints::resolve(CloudName::AzureCloud, None, None, None).expect("cloud");
        assert_eq!(c.arm_scope(), "https://management.azure.com/.default");
        assert_eq!(c.authority_host.as_str(), "https://login.microsoftonline.com/");
    }

    #[test]
    fn audience_follows_custom_endpoint_unless_overridden() {
        let c = CloudEndpoints::resolve(
            CloudName::AzureCloud,
            Some("https://127.0.0.1:8443"),
            Some("https://127.0.0.1:8443/"),
            None,
        )
        .expect("cloud");
        assert_eq!(c.arm_scope(), "https://127.0.0.1:8443/.default");
        let c =
            CloudEndpoints::resolve(CloudName::AzureChinaCloud, None, None, Some("https://x.example/")).expect("cloud");
        assert_eq!(c.arm_scope(), "https://x.example/.default");
        assert_eq!(c.resource_manager.as_str(), "https://management.chinacloudapi.cn/");
    }

    #[test]
    fn rejects_http_and_unknown_names() {
        assert!(matches!(
            CloudEndpoints::resolve(CloudName::AzureCloud, Some("http://x"), None, None),
            Err(CloudError::NotHttps { .. })
        ));
        assert!("azureusgovernment".parse::<CloudName>().is_ok());
        assert!("Mars".parse::<CloudName>().is_err());
    }
}
