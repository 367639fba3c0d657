//! Fetching the recorded training data: the first candidate location whose content has the
//! recorded digest. A blob is downloaded into the cache, named by its SHA-256.

use std::path::{Path, PathBuf};

use super::inputs::{self, Candidate, DataFound};
use super::{Problem, ReproduceRequest};
use crate::azure::blob::BlobError;
use crate::data::datastore::{LocationFlags, container_client};
use crate::error_kind::{ErrorKind, HasKind};
use crate::secret::Secret;
use crate::tracking::Run;

/// Credentials for data recorded as a blob URL.
#[derive(Debug, Clone, Default)]
pub struct BlobAccess {
    pub connection_string: Option<Secret>,
    pub sas: Option<Secret>,
}

/// Why recorded data could not be fetched, other than being absent.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot read the recorded data from {url}")]
    Blob {
        url: String,
        #[source]
        source: Box<BlobError>,
    },
    #[error("cannot use the recorded data's blob {url}: {message}")]
    Location { url: String, message: String },
    #[error("cannot write the downloaded data to {}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl FetchError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            FetchError::Blob { source, .. } => source.kind(),
            FetchError::Location { .. } => ErrorKind::Usage,
            FetchError::Cache { .. } => ErrorKind::Internal,
        }
    }
}

/// The data to retrain on, or the problem that prevents it (missing everywhere, or changed).
pub async fn find_data(
    run: &Run,
    recorded: Option<&str>,
    request: &ReproduceRequest,
) -> Result<Result<DataFound, Problem>, FetchError> {
    let candidates = inputs::candidates(run, request.data.as_deref(), &request.datasets);
    let Some(recorded) = recorded else {
        return Ok(Err(Problem::new(
            "data-missing",
            format!(
                "run {} records no digest of its training data, so no file can be checked against it",
                run.info.run_id
            ),
        )));
    };
    let mut mismatches = Vec::new();
    let mut missing = Vec::new();
    for candidate in &candidates {
        let (from, source, bytes, path) = match candidate {
            Candidate::Flag(path) | Candidate::Path(path) => match std::fs::read(path) {
                Ok(bytes) => {
                    let from = if matches!(candidate, Candidate::Flag(_)) { "flag" } else { "path" };
                    (from, path.display().to_string(), bytes, Some(path.clone()))
                }
                Err(_) => {
                    missing.push(path.display().to_string());
                    continue;
                }
            },
            Candidate::Blob(url) => match download(url, &request.blob).await? {
                Some(bytes) => ("blob", url.clone(), bytes, None),
                None => {
                    missing.push(url.clone());
                    continue;
                }
            },
        };
        let sha256 = inputs::sha256(&bytes);
        if !inputs::digest_matches(&sha256, recorded) {
            mismatches.push(format!("{source} has SHA-256 {sha256}"));
            continue;
        }
        let path = match path {
            Some(path) => path,
            None => cache_copy(&request.cache, &sha256, &source, &bytes)?,
        };
        let path = std::path::absolute(&path).unwrap_or(path);
        return Ok(Ok(DataFound { from, source, path: path.display().to_string(), sha256 }));
    }
    Ok(Err(if mismatches.is_empty() {
        Problem::new(
            "data-missing",
            if missing.is_empty() {
                format!("run {} records no location of its training data", run.info.run_id)
            } else {
                format!("the training data is gone: nothing at {}", missing.join(", "))
            },
        )
    } else {
        Problem::new(
            "data-digest-mismatch",
            format!("the training data changed: the run recorded SHA-256 {recorded}, but {}", mismatches.join("; ")),
        )
    }))
}

/// The blob's bytes; `None` when it does not exist.
async fn download(url: &str, access: &BlobAccess) -> Result<Option<Vec<u8>>, FetchError> {
    let location = |message: String| FetchError::Location { url: url.to_string(), message };
    let (container, name) = inputs::split_blob_url(url)
        .ok_or_else(|| location("not a blob URL (https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB)".to_string()))?;
    let flags = LocationFlags { sas: "--datastore-sas or MLOPS_DATASTORE_SAS" };
    let client = container_client(&container, access.connection_string.as_ref(), access.sas.as_ref(), &flags)
        .map_err(location)?;
    match client.download(&name).await {
        Ok(bytes) => Ok(Some(bytes.to_vec())),
        Err(BlobError::Http(err)) if err.status == Some(404) => Ok(None),
        Err(source) => Err(FetchError::Blob { url: url.to_string(), source: Box::new(source) }),
    }
}

/// Writes downloaded data to `CACHE/data/SHA256/FILE` (atomically), where training reads it.
fn cache_copy(cache: &Path, sha256: &str, source: &str, bytes: &[u8]) -> Result<PathBuf, FetchError> {
    let file = source.rsplit('/').next().filter(|f| !f.is_empty()).unwrap_or("data.csv");
    let dir = cache.join("data").join(sha256);
    let path = dir.join(file);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Cache { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let partial = dir.join(format!(".{file}.{}.part", std::process::id()));
    std::fs::write(&partial, bytes).map_err(io(&partial))?;
    std::fs::rename(&partial, &path).map_err(io(&path))?;
    Ok(path)
}
