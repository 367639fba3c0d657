//! `--datastore DEST`: the blob container dataset versions are uploaded to, as
//! `blob:CONTAINER` (in the account of a connection string) or a container URL
//! `https://ACCOUNT.blob.core.windows.net/CONTAINER` (with a SAS or a connection string).

use bytes::Bytes;

use super::DataError;
use super::registry::{DatasetVersion, blob_name};
use crate::azure::blob::{BlobContainerClient, BlobCredential, BlobError, ConnectionString};
use crate::error_kind::{ErrorKind, HasKind};
use crate::secret::Secret;

/// Why a datastore could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DatastoreError {
    #[error("invalid --datastore {dest:?}: {message}")]
    Destination { dest: String, message: String },
    #[error("uploading dataset {name} version {version} to {url}")]
    Upload {
        name: String,
        version: u32,
        url: String,
        #[source]
        source: Box<BlobError>,
    },
    #[error(transparent)]
    Data(#[from] DataError),
}

impl HasKind for DatastoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            DatastoreError::Destination { .. } => ErrorKind::Usage,
            DatastoreError::Upload { source, .. } => source.kind(),
            DatastoreError::Data(e) => e.kind(),
        }
    }
}

/// The container client a destination names.
pub fn datastore_client(
    dest: &str,
    connection_string: Option<&Secret>,
    sas: Option<&Secret>,
) -> Result<BlobContainerClient, DatastoreError> {
    let flags = LocationFlags { sas: "--datastore-sas or MLOPS_DATASTORE_SAS" };
    container_client(dest, connection_string, sas, &flags)
        .map_err(|message| DatastoreError::Destination { dest: without_query(dest).to_string(), message })
}

/// A location as it may be shown: without a query string, which can hold a SAS.
pub fn without_query(location: &str) -> &str {
    location.split_once('?').map_or(location, |(before, _)| before)
}

/// Names of the flags that carry a container location's credentials, for error messages.
pub struct LocationFlags {
    /// The flag (and variable) of the SAS token.
    pub sas: &'static str,
}

/// The container client for `blob:CONTAINER` (in the account of the connection string) or a
/// container URL (with a SAS or a connection string); the error is a message for the user.
pub fn container_client(
    location: &str,
    connection_string: Option<&Secret>,
    sas: Option<&Secret>,
    flags: &LocationFlags,
) -> Result<BlobContainerClient, String> {
    let connection = || -> Result<ConnectionString, String> {
        let text = connection_string.ok_or_else(|| {
            "needs a storage connection string (--storage-connection-string or AZURE_STORAGE_CONNECTION_STRING)"
                .to_string()
        })?;
        ConnectionString::parse(text).map_err(|e| e.to_string())
    };
    let (endpoint, container, credential) = if let Some(container) = location.strip_prefix("blob:") {
        let cs = connection()?;
        (cs.blob_endpoint, container.trim_matches('/').to_string(), cs.credential)
    } else if location.starts_with("https://") || location.starts_with("http://") {
        if location.contains('?') {
            return Err(format!("put the SAS token in {}, not in the URL", flags.sas));
        }
        let trimmed = location.trim_end_matches('/');
        let (endpoint, container) = trimmed.rsplit_once('/').unwrap_or((trimmed, ""));
        let credential = match sas {
            Some(sas) => BlobCredential::Sas(Secret::new(sas.expose().trim_start_matches('?'))),
            None => connection()?.credential,
        };
        (endpoint.to_string(), container.to_string(), credential)
    } else {
        return Err("expected blob:CONTAINER or https://ACCOUNT.blob.core.windows.net/CONTAINER".to_string());
    };
    if container.is_empty() || container.contains('/') {
        return Err("name exactly one container".to_string());
    }
    BlobContainerClient::new(&format!("{}/{container}", endpoint.trim_end_matches('/')), credential, None)
        .map_err(|e| e.to_string())
}

/// Splits a blob location, `blob:CONTAINER/PATH` or `https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH`
/// (path-style `http(s)://HOST:PORT/ACCOUNT/CONTAINER/PATH` when the host is an IP address or
/// `localhost`, as for Azurite), into its container location and the blob's name; `None` when
/// `location` is not a blob location at all (a local path).
pub fn split_blob_location(location: &str) -> Option<Result<(String, String), String>> {
    let split = |container_and_blob: &str| {
        match container_and_blob.split_once('/') {
        Some((container, blob)) if !container.is_empty() && !blob.is_empty() && !blob.ends_with('/') => {
            Ok((container.to_string(), blob.to_string()))
        }
        _ => Err("expected a container and a blob name: blob:CONTAINER/PATH or https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH".to_string()),
    }
    };
    if let Some(rest) = location.strip_prefix("blob:") {
        return Some(split(rest).map(|(container, blob)| (format!("blob:{container}"), blob)));
    }
    let scheme = ["https://", "http://"].into_iter().find(|s| location.starts_with(s))?;
    if location.contains('?') {
        return Some(Err("put the SAS token in its flag or variable, not in the URL".to_string()));
    }
    let rest = &location[scheme.len()..];
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let path_style = hostname == "localhost" || hostname.parse::<std::net::IpAddr>().is_ok();
    let (prefix, path) = match path.split_once('/') {
        Some((account, path)) if path_style => (format!("{scheme}{host}/{account}"), path),
        _ => (format!("{scheme}{host}"), path),
    };
    Some(split(path).map(|(container, blob)| (format!("{prefix}/{container}"), blob)))
}

/// Uploads a version's file under its content-addressed name; returns the blob's URL.
pub async fn upload_dataset(client: &BlobContainerClient, dataset: &DatasetVersion) -> Result<String, DatastoreError> {
    let name = blob_name(dataset);
    let url = format!("{}/{name}", client.url().trim_end_matches('/'));
    let upload_error = |source: BlobError| DatastoreError::Upload {
        name: dataset.name.clone(),
        version: dataset.version,
        url: url.clone(),
        source: Box::new(source),
    };
    let bytes =
        std::fs::read(&dataset.path).map_err(|source| DataError::Open { path: dataset.path.clone().into(), source })?;
    client.create().await.map_err(upload_error)?;
    client.upload(&name, Bytes::from(bytes), "text/csv").await.map_err(upload_error)?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_locations_split_into_container_and_blob() {
        let ok = |l: &str| split_blob_location(l).expect("a blob location").expect("valid");
        assert_eq!(ok("blob:out/a/b.csv"), ("blob:out".to_string(), "a/b.csv".to_string()));
        assert_eq!(
            ok("https://acct.blob.core.windows.net/out/p.csv"),
            ("https://acct.blob.core.windows.net/out".to_string(), "p.csv".to_string())
        );
        assert_eq!(
            ok("http://127.0.0.1:10000/devstoreaccount1/out/d/p.csv"),
            ("http://127.0.0.1:10000/devstoreaccount1/out".to_string(), "d/p.csv".to_string())
        );
        assert!(split_blob_location("preds.csv").is_none());
        assert!(split_blob_location("blob:out").expect("blob").is_err());
        assert!(split_blob_location("blob:out/dir/").expect("blob").is_err());
        assert!(split_blob_location("https://a.blob.core.windows.net/c/p?sig=x").expect("blob").is_err());
    }
}
