//! Moving one file to or from a blob named by a SAS URL, as Azure ML's artifact service hands
//! them out: uploads in blocks (Put Block, then Put Block List) read straight from the file, in
//! parallel, each block retried on its own and checked by the service against its Content-MD5;
//! downloads streamed to disk in ranges and checked against the blob's MD5. Memory stays at a few
//! blocks whatever the file's size. A SAS the service refuses (it expired mid-transfer) is
//! replaced by asking the [`SasUrlSource`] for a fresh one, once per request.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures::TryStreamExt;
use md5::{Digest, Md5};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Url};

use super::blob::API_VERSION;
use crate::http::{self, HttpError, RetryPolicy};

/// Block size of a block upload, and the largest file sent in one Put Blob. 4 MiB is what
/// azure-storage-blob sends as blocks; bigger blocks would only raise memory per request.
pub const BLOCK_SIZE: u64 = 4 * 1024 * 1024;
/// Blocks of one file in flight at once.
const PARALLEL_BLOCKS: usize = 4;
/// Bytes asked for per ranged GET of a download (each range is retried on its own).
const RANGE_SIZE: u64 = 8 * 1024 * 1024;

/// Where fresh SAS URLs for one blob come from (the artifact service, asked again).
#[async_trait::async_trait]
pub trait SasUrlSource: Send + Sync {
    /// A new URL for the same blob, after the service refused the previous one (403).
    async fn renew(&self) -> Result<Url, HttpError>;
}

/// Progress of byte transfers; shared by the parallel requests of a transfer.
pub trait TransferProgress: Send + Sync {
    /// A transfer of `total` bytes named `what` starts.
    fn begin(&self, what: &str, total: u64);
    /// `bytes` more went through.
    fn advance(&self, bytes: u64);
    /// The transfer `what` ended.
    fn end(&self, what: &str);
}

/// No progress display.
pub struct NoProgress;

impl TransferProgress for NoProgress {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn end(&self, _: &str) {}
}

/// What an upload takes its bytes from.
#[derive(Debug, Clone)]
pub enum UploadSource {
    /// A file, read block by block (never whole).
    File(PathBuf),
    /// Bytes made in memory (a rewritten `MLmodel`).
    Bytes(Bytes),
}

/// Uploads and downloads of single blobs by SAS URL.
#[derive(Clone)]
pub struct BlobTransfer {
    http: reqwest::Client,
    retry: RetryPolicy,
    progress: Arc<dyn TransferProgress>,
}

impl std::fmt::Debug for BlobTransfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobTransfer").field("retry", &self.retry).finish_non_exhaustive()
    }
}

/// The current URL of a transfer and how many times it was renewed.
struct SasCell<'a> {
    source: &'a dyn SasUrlSource,
    current: tokio::sync::Mutex<(u64, Url)>,
}

impl SasCell<'_> {
    async fn get(&self) -> (u64, Url) {
        self.current.lock().await.clone()
    }

    /// Renews the URL unless another request already did since `seen`.
    async fn renew(&self, seen: u64) -> Result<(), HttpError> {
        let mut current = self.current.lock().await;
        if current.0 == seen {
            let url = self.source.renew().await?;
            *current = (seen + 1, url);
        }
        Ok(())
    }
}

impl BlobTransfer {
    pub fn new(http: reqwest::Client, retry: RetryPolicy, progress: Arc<dyn TransferProgress>) -> Self {
        BlobTransfer { http, retry, progress }
    }

    /// Uploads `source` to the blob at `url` (replacing it), renewing the URL through `renew`.
    /// Returns the bytes sent.
    pub async fn upload(
        &self,
        what: &str,
        source: &UploadSource,
        url: Url,
        renew: &dyn SasUrlSource,
    ) -> Result<u64, HttpError> {
        let cell = SasCell { source: renew, current: tokio::sync::Mutex::new((0, url)) };
        let size = match source {
            UploadSource::File(path) => std::fs::metadata(path).map_err(|e| io_error(path, e))?.len(),
            UploadSource::Bytes(bytes) => bytes.len() as u64,
        };
        self.progress.begin(what, size);
        let result = if size <= BLOCK_SIZE {
            let body = match source {
                UploadSource::File(path) => read_range(path, 0, size).await?,
                UploadSource::Bytes(bytes) => bytes.clone(),
            };
            let mut headers = HeaderMap::new();
            headers.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            let sent = self.put(&cell, &[], headers, body).await.map(|_| size);
            self.progress.advance(size);
            sent
        } else {
            self.upload_blocks(&cell, source, size).await.map(|_| size)
        };
        self.progress.end(what);
        result
    }

    async fn upload_blocks(&self, cell: &SasCell<'_>, source: &UploadSource, size: u64) -> Result<(), HttpError> {
        let count = size.div_ceil(BLOCK_SIZE);
        // Fixed-width ids: the service wants every block id of a blob to have the same length.
        let ids: Vec<String> = (0..count).map(|i| BASE64.encode(format!("block-{i:08}"))).collect();
        futures::stream::iter(ids.iter().enumerate().map(Ok))
            .try_for_each_concurrent(PARALLEL_BLOCKS, |(index, id)| async move {
                let offset = index as u64 * BLOCK_SIZE;
                let length = BLOCK_SIZE.min(size - offset);
                let body = match source {
                    UploadSource::File(path) => read_range(path, offset, length).await?,
                    UploadSource::Bytes(bytes) => bytes.slice(offset as usize..(offset + length) as usize),
                };
                self.put(cell, &[("comp", "block"), ("blockid", id)], HeaderMap::new(), body).await?;
                self.progress.advance(length);
                Ok::<(), HttpError>(())
            })
            .await?;
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in &ids {
            xml.push_str(&format!("<Latest>{id}</Latest>"));
        }
        xml.push_str("</BlockList>");
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        headers.insert("x-ms-blob-content-type", HeaderValue::from_static("application/octet-stream"));
        // The whole file's MD5 becomes the blob's, so a download can check what it got.
        if let Some(md5) = file_md5(source).await? {
            headers.insert("x-ms-blob-content-md5", header_value(&md5));
        }
        self.put(cell, &[("comp", "blocklist")], headers, Bytes::from(xml)).await
    }

    /// One PUT with a Content-MD5 the service checks, retried under the client's policy; a refused
    /// SAS (403) is renewed once and the request sent again.
    async fn put(
        &self,
        cell: &SasCell<'_>,
        query: &[(&str, &str)],
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<(), HttpError> {
        let md5 = BASE64.encode(Md5::digest(&body));
        let mut renewed = false;
        loop {
            let (generation, base) = cell.get().await;
            let mut url = base.clone();
            url.query_pairs_mut().extend_pairs(query);
            let attempt = || async {
                let mut headers = headers.clone();
                headers.insert("content-md5", header_value(&md5));
                headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
                self.send(Method::PUT, &url, headers, Some(body.clone())).await.map(drop)
            };
            let result = http::send_with_retries(&self.retry, &Method::PUT, &url, attempt).await;
            match result {
                Err(err) if err.status == Some(403) && !renewed => {
                    tracing::warn!("the storage service refused the upload URL ({err}); asking for a new one");
                    cell.renew(generation).await?;
                    renewed = true;
                }
                other => return other,
            }
        }
    }

    async fn send(
        &self,
        method: Method,
        url: &Url,
        mut headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<reqwest::Response, HttpError> {
        headers.insert("x-ms-version", HeaderValue::from_static(API_VERSION));
        let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        headers.insert("x-ms-date", header_value(&date));
        let mut request = self.http.request(method.clone(), url.clone()).headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| HttpError::from_reqwest_error(&method, url, e).for_service("the storage service"))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(HttpError::from_reqwest(&method, response).await)
        }
    }

    /// Downloads the blob at `url` to `dest` (through a temporary file, renamed when complete and
    /// checked), renewing the URL through `renew`. Returns the bytes written.
    pub async fn download(
        &self,
        what: &str,
        url: Url,
        dest: &Path,
        renew: &dyn SasUrlSource,
    ) -> Result<u64, HttpError> {
        let cell = SasCell { source: renew, current: tokio::sync::Mutex::new((0, url)) };
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
        }
        let partial = dest.with_file_name(format!(
            ".{}.part",
            dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        ));
        let mut file = std::fs::File::create(&partial).map_err(|e| io_error(&partial, e))?;
        let mut md5 = Md5::new();
        let mut offset = 0u64;
        let mut total: Option<u64> = None;
        let mut expected_md5: Option<String> = None;
        let mut started = false;
        while total.is_none_or(|t| offset < t) {
            let end = offset + RANGE_SIZE - 1;
            let range = self.get_range(&cell, offset, end).await?;
            let Some(range) = range else {
                // 416 on the first range: the blob is empty.
                break;
            };
            if !started {
                self.progress.begin(what, range.total);
                started = true;
            }
            total = Some(range.total);
            expected_md5 = expected_md5.or(range.md5);
            for chunk in &range.chunks {
                file.write_all(chunk).map_err(|e| io_error(&partial, e))?;
                md5.update(chunk);
            }
            self.progress.advance(range.length);
            offset += range.length;
            if range.length == 0 {
                break;
            }
        }
        if started {
            self.progress.end(what);
        }
        file.flush().map_err(|e| io_error(&partial, e))?;
        drop(file);
        let got = BASE64.encode(md5.finalize());
        if let Some(expected) = expected_md5
            && expected != got
        {
            let _ = std::fs::remove_file(&partial);
            return Err(HttpError::client(format!(
                "{what}: the downloaded bytes do not match the blob's Content-MD5 (expected {expected}, got {got})"
            )));
        }
        std::fs::rename(&partial, dest).map_err(|e| io_error(dest, e))?;
        Ok(offset)
    }

    /// One ranged GET, retried (from the range's start) on transient failures and renewed once on
    /// a 403. `None` for an empty blob (416).
    async fn get_range(&self, cell: &SasCell<'_>, start: u64, end: u64) -> Result<Option<Range>, HttpError> {
        let mut renewed = false;
        loop {
            let (generation, url) = cell.get().await;
            let attempt = || async {
                let mut headers = HeaderMap::new();
                headers.insert("x-ms-range", header_value(&format!("bytes={start}-{end}")));
                let response = match self.send(Method::GET, &url, headers, None).await {
                    Ok(response) => response,
                    Err(err) if err.status == Some(416) && start == 0 => return Ok(None),
                    Err(err) => return Err(err),
                };
                let header =
                    |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
                let md5 = header("x-ms-blob-content-md5")
                    .or_else(|| (response.status().as_u16() == 200).then(|| header("content-md5")).flatten());
                let total = match header("content-range") {
                    Some(range) => range.rsplit('/').next().and_then(|t| t.parse().ok()),
                    None => header("content-length").and_then(|l| l.parse().ok()),
                }
                .ok_or_else(|| HttpError::decode("GET", &url, "no Content-Range or Content-Length".to_string()))?;
                // Read in chunks: a range is at most RANGE_SIZE bytes, never the whole blob.
                let mut chunks = Vec::new();
                let mut length = 0u64;
                let mut response = response;
                while let Some(chunk) =
                    response.chunk().await.map_err(|e| HttpError::from_reqwest_error(&Method::GET, &url, e))?
                {
                    length += chunk.len() as u64;
                    chunks.push(chunk);
                }
                Ok(Some(Range { total, length, md5, chunks }))
            };
            let result = http::send_with_retries(&self.retry, &Method::GET, &url, attempt).await;
            match result {
                Err(err) if err.status == Some(403) && !renewed => {
                    tracing::warn!("the storage service refused the download URL ({err}); asking for a new one");
                    cell.renew(generation).await?;
                    renewed = true;
                }
                other => return other,
            }
        }
    }
}

/// One range of a download.
struct Range {
    total: u64,
    length: u64,
    md5: Option<String>,
    chunks: Vec<Bytes>,
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""))
}

fn io_error(path: &Path, err: std::io::Error) -> HttpError {
    HttpError::client(format!("{}: {err}", path.display()))
}

/// `length` bytes of `path` from `offset`, read off the async runtime.
async fn read_range(path: &Path, offset: u64, length: u64) -> Result<Bytes, HttpError> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> std::io::Result<Bytes> {
        let mut file = std::fs::File::open(&owned)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut buffer = vec![0u8; length as usize];
        file.read_exact(&mut buffer)?;
        Ok(Bytes::from(buffer))
    })
    .await
    .map_err(|e| HttpError::client(format!("{}: {e}", path.display())))?
    .map_err(|e| io_error(path, e))
}

/// The base64 MD5 of a whole upload (a file is read in blocks, never whole).
async fn file_md5(source: &UploadSource) -> Result<Option<String>, HttpError> {
    match source {
        UploadSource::Bytes(bytes) => Ok(Some(BASE64.encode(Md5::digest(bytes)))),
        UploadSource::File(path) => {
            let owned = path.to_path_buf();
            tokio::task::spawn_blocking(move || -> std::io::Result<String> {
                let mut file = std::fs::File::open(&owned)?;
                let mut md5 = Md5::new();
                let mut buffer = vec![0u8; 1024 * 1024];
                loop {
                    let n = file.read(&mut buffer)?;
                    if n == 0 {
                        break;
                    }
                    md5.update(&buffer[..n]);
                }
                Ok(BASE64.encode(md5.finalize()))
            })
            .await
            .map_err(|e| HttpError::client(format!("{}: {e}", path.display())))?
            .map(Some)
            .map_err(|e| io_error(path, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_have_one_length() {
        let a = BASE64.encode(format!("block-{:08}", 0));
        let b = BASE64.encode(format!("block-{:08}", 12345));
        assert_eq!(a.len(), b.len());
    }
}
