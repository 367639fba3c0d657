//! Blob uploads: a session (`POST`), the blob in chunks (`PATCH` with `Content-Range`, each
//! answer naming the next `Location`), and the closing `PUT ?digest=`. A failed upload starts over.

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use super::client::{Access, OciClient};
use super::{Digest, OciError, TransferProgress, short};

impl OciClient {
    /// Uploads a blob in chunks (`POST`, `PATCH`…, `PUT ?digest=`); a failed upload starts over.
    pub async fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        data: &Bytes,
        progress: &mut dyn TransferProgress,
    ) -> Result<(), OciError> {
        let progress = tokio::sync::Mutex::new(progress);
        self.retrying(|| async {
            let mut guard = progress.lock().await;
            self.upload_once(repository, digest, data, &mut **guard).await
        })
        .await
    }

    async fn upload_once(
        &self,
        repository: &str,
        digest: &Digest,
        data: &Bytes,
        progress: &mut dyn TransferProgress,
    ) -> Result<(), OciError> {
        let start = self.url(&format!("v2/{repository}/blobs/uploads/"))?;
        let response =
            self.send(Method::POST, &start, repository, Access::Push, |r| r.header(CONTENT_LENGTH, "0")).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.failure(&Method::POST, response).await);
        }
        let mut location = self.location(&response)?;
        progress.begin(&short(digest), data.len() as u64);
        let mut offset = 0usize;
        while offset < data.len() {
            let end = (offset + self.chunk_size).min(data.len());
            let chunk = data.slice(offset..end);
            let range = format!("{offset}-{}", end - 1);
            let response = self
                .send(Method::PATCH, &location, repository, Access::Push, |r| {
                    r.header(CONTENT_TYPE, "application/octet-stream")
                        .header("Content-Range", range.clone())
                        .header(CONTENT_LENGTH, chunk.len().to_string())
                        .body(chunk.clone())
                })
                .await?;
            if response.status() != StatusCode::ACCEPTED {
                return Err(self.failure(&Method::PATCH, response).await);
            }
            location = self.location(&response)?;
            progress.advance((end - offset) as u64);
            offset = end;
        }
        // The upload URL may already carry a query (ACR's `_state`): the digest is added to it.
        location.query_pairs_mut().append_pair("digest", digest.as_str());
        let response =
            self.send(Method::PUT, &location, repository, Access::Push, |r| r.header(CONTENT_LENGTH, "0")).await?;
        progress.end();
        if response.status() != StatusCode::CREATED {
            return Err(self.failure(&Method::PUT, response).await);
        }
        self.check_digest(&response, digest, "the uploaded blob")
    }
}
