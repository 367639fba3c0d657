//! `--request-log DEST`: a directory, `blob:CONTAINER[/PREFIX]` in the account of a connection
//! string, or a container URL `https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX]`.

use std::path::PathBuf;
use std::time::Duration;

use super::{RequestLogError, SinkConfig};
use crate::azure::blob::{BlobContainerClient, BlobCredential, ConnectionString};
use crate::secret::Secret;

/// Credentials a blob destination may use.
#[derive(Debug, Clone, Default)]
pub struct BlobSecrets {
    pub connection_string: Option<Secret>,
    pub sas: Option<Secret>,
}

/// How often and how large.
#[derive(Debug, Clone, Copy)]
pub struct SinkLimits {
    pub interval: Duration,
    pub max_bytes: u64,
}

/// Turns a destination into a sink configuration.
pub fn sink_config(dest: &str, secrets: &BlobSecrets, limits: SinkLimits) -> Result<SinkConfig, RequestLogError> {
    let invalid = |message: String| RequestLogError::Destination { dest: dest.to_string(), message };
    let blob = |endpoint: &str, container: &str, prefix: &str, credential| {
        let client =
            BlobContainerClient::new(&format!("{}/{container}", endpoint.trim_end_matches('/')), credential, None)
                .map_err(|e| invalid(e.to_string()))?;
        Ok(SinkConfig::Blob {
            client,
            prefix: prefix.to_string(),
            interval: limits.interval,
            max_blob_bytes: usize::try_from(limits.max_bytes).unwrap_or(usize::MAX),
        })
    };
    let connection = || -> Result<ConnectionString, RequestLogError> {
        let text = secrets.connection_string.as_ref().ok_or_else(|| {
            invalid("a blob request log needs a storage connection string (--storage-connection-string or AZURE_STORAGE_CONNECTION_STRING)".to_string())
        })?;
        ConnectionString::parse(text).map_err(|e| invalid(e.to_string()))
    };
    if let Some(rest) = dest.strip_prefix("blob:") {
        let (container, prefix) = split_container(rest.trim_start_matches('/'));
        if container.is_empty() {
            return Err(invalid("expected blob:CONTAINER[/PREFIX]".to_string()));
        }
        let cs = connection()?;
        return blob(&cs.blob_endpoint, container, prefix, cs.credential);
    }
    let lower = dest.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        if dest.contains('?') {
            return Err(invalid(
                "put the SAS token in --request-log-sas or MLOPS_REQUEST_LOG_SAS, not in the URL (URLs get logged)"
                    .to_string(),
            ));
        }
        let (scheme, rest) = dest.split_once("://").unwrap_or(("https", dest));
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        // Emulators (Azurite) address accounts by path: http://127.0.0.1:10000/<account>/<container>.
        let path_style = host.starts_with("127.") || host.starts_with("localhost") || host.starts_with('[');
        let (endpoint, path) = if path_style {
            let (account, path) = path.split_once('/').unwrap_or((path, ""));
            (format!("{scheme}://{host}/{account}"), path)
        } else {
            (format!("{scheme}://{host}"), path)
        };
        let (container, prefix) = split_container(path);
        if container.is_empty() {
            return Err(invalid("the URL names no container".to_string()));
        }
        let credential = match (&secrets.sas, &secrets.connection_string) {
            (Some(sas), _) => BlobCredential::Sas(Secret::new(sas.expose().trim_start_matches('?'))),
            (None, Some(_)) => connection()?.credential,
            (None, None) => {
                return Err(invalid(
                    "a blob request log needs a SAS (--request-log-sas, MLOPS_REQUEST_LOG_SAS) or a connection string (AZURE_STORAGE_CONNECTION_STRING)".to_string(),
                ));
            }
        };
        return blob(&endpoint, container, prefix, credential);
    }
    let dir = dest.strip_prefix("file:").unwrap_or(dest);
    if dir.is_empty() {
        return Err(invalid("empty directory".to_string()));
    }
    Ok(SinkConfig::Jsonl { dir: PathBuf::from(dir), max_file_bytes: limits.max_bytes })
}

fn split_container(path: &str) -> (&str, &str) {
    let path = path.trim_matches('/');
    path.split_once('/').unwrap_or((path, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SinkLimits = SinkLimits { interval: Duration::from_secs(1), max_bytes: 100 };

    fn container_and_prefix(config: SinkConfig) -> (String, String) {
        match config {
            SinkConfig::Blob { client, prefix, .. } => (client.url().to_string(), prefix),
            SinkConfig::Jsonl { .. } => panic!("expected a blob sink"),
        }
    }

    #[test]
    fn destinations() {
        let none = BlobSecrets::default();
        assert!(matches!(
            sink_config("logs", &none, LIMITS),
            Ok(SinkConfig::Jsonl { dir, .. }) if dir == std::path::Path::new("logs")
        ));
        assert!(sink_config("blob:requests", &none, LIMITS).is_err());
        let dev = BlobSecrets { connection_string: Some(Secret::new("UseDevelopmentStorage=true")), sas: None };
        assert_eq!(
            container_and_prefix(sink_config("blob:requests/a/b", &dev, LIMITS).expect("blob")),
            ("http://127.0.0.1:10000/devstoreaccount1/requests".into(), "a/b".into())
        );
        let sas = BlobSecrets { connection_string: None, sas: Some(Secret::new("?sv=1&sig=abc")) };
        let config = sink_config("https://acct.blob.core.windows.net/requests/p", &sas, LIMITS).expect("sas");
        assert!(!format!("{config:?}").contains("sig=abc"));
        assert_eq!(container_and_prefix(config), ("https://acct.blob.core.windows.net/requests".into(), "p".into()));
        assert!(sink_config("https://acct.blob.core.windows.net/requests", &none, LIMITS).is_err());
        assert!(sink_config("https://acct.blob.core.windows.net/r?sig=x", &sas, LIMITS).is_err());
    }
}
