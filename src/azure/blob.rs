//! Azure Blob Storage: a container client that creates the container, uploads block blobs, lists
//! and downloads them, signing requests with the account key (SharedKey) or a SAS token.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;
use sha2::Sha256;

use crate::error_kind::{ErrorKind, HasKind};
use crate::http::{HttpError, RetryPolicy};
use crate::secret::Secret;

/// Bytes per block of [`BlobContainerClient::upload_file`] (the service accepts up to 4000 MiB).
const UPLOAD_BLOCK: usize = 8 * 1024 * 1024;

/// The storage REST API version every request asks for.
pub const API_VERSION: &str = "2023-11-03";

/// The documented, public account and key of the local storage emulator (Azurite).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How requests prove who they are. Bearer tokens from an Azure credential will join as a variant.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BlobCredential {
    /// Account name and key: each request is signed (SharedKey HMAC-SHA256).
    SharedKey { account: String, key: Secret },
    /// A shared access signature: the query string (without `?`) appended to every request.
    Sas(Secret),
}

/// Tunables of [`BlobContainerClient`].
#[derive(Debug, Clone)]
pub struct BlobClientOptions {
    /// The bound on one attempt.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for BlobClientOptions {
    fn default() -> Self {
        BlobClientOptions { timeout: Duration::from_secs(30), retry: RetryPolicy::default() }
    }
}

/// Why a storage request failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("invalid storage connection string: {0}")]
    ConnectionString(String),
    #[error("invalid blob container URL {url:?}: {message}")]
    InvalidUrl { url: String, message: String },
    #[error("cannot read {} to upload it", path.display())]
    ReadFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl HasKind for BlobError {
    fn kind(&self) -> ErrorKind {
        match self {
            BlobError::ConnectionString(_) | BlobError::InvalidUrl { .. } => ErrorKind::Usage,
            BlobError::ReadFile { .. } => ErrorKind::Internal,
            BlobError::Http(err) => err.kind(),
        }
    }
}

/// A storage connection string: the blob endpoint and the credential it carries.
#[derive(Debug, Clone)]
pub struct ConnectionString {
    /// `https://<account>.blob.core.windows.net` or the emulator's `http://host:port/<account>`.
    pub blob_endpoint: String,
    pub credential: BlobCredential,
}

impl ConnectionString {
    /// Parses `Key=Value;…` as the Azure SDKs do (`UseDevelopmentStorage=true` included).
    pub fn parse(text: &Secret) -> Result<Self, BlobError> {
        let mut fields = std::collections::HashMap::new();
        for part in text.expose().split(';').filter(|p| !p.trim().is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(BlobError::ConnectionString("expected Key=Value pairs separated by ';'".to_string()));
            };
            fields.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
        let get = |key: &str| fields.get(key).filter(|v| !v.is_empty()).cloned();
        if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(ConnectionString {
                blob_endpoint: format!("http://127.0.0.1:10000/{DEV_ACCOUNT}"),
                credential: BlobCredential::SharedKey { account: DEV_ACCOUNT.to_string(), key: Secret::new(DEV_KEY) },
            });
        }
        let account = get("accountname");
        let blob_endpoint = match (get("blobendpoint"), &account) {
            (Some(endpoint), _) => endpoint.trim_end_matches('/').to_string(),
            (None, Some(account)) => format!(
                "{}://{account}.blob.{}",
                get("defaultendpointsprotocol").unwrap_or_else(|| "https".to_string()),
                get("endpointsuffix").unwrap_or_else(|| "core.windows.net".to_string())
            ),
            (None, None) => {
                return Err(BlobError::ConnectionString("it has neither BlobEndpoint nor AccountName".to_string()));
            }
        };
        let credential = match (get("sharedaccesssignature"), account, get("accountkey")) {
            (Some(sas), _, _) => BlobCredential::Sas(Secret::new(sas.trim_start_matches('?'))),
            (None, Some(account), Some(key)) => BlobCredential::SharedKey { account, key: Secret::new(key) },
            _ => {
                return Err(BlobError::ConnectionString(
                    "it has neither AccountName and AccountKey nor SharedAccessSignature".to_string(),
                ));
            }
        };
        Ok(ConnectionString { blob_endpoint, credential })
    }
}

/// One blob of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobItem {
    pub name: String,
    pub size: u64,
    /// Changes whenever the blob's content is written.
    pub etag: String,
    /// `Last-Modified` as the service sent it (RFC 1123).
    pub last_modified: String,
}

/// A client for one container, in the shape of the Azure SDK's `BlobContainerClient`.
#[derive(Debug, Clone)]
pub struct BlobContainerClient {
    http: reqwest::Client,
    container_url: Url,
    credential: BlobCredential,
    /// Shared: the policy is larger than the rest of the client.
    retry: std::sync::Arc<RetryPolicy>,
}

impl BlobContainerClient {
    /// `container_url` is the container's URL without a query, e.g.
    /// `https://acct.blob.core.windows.net/requests`.
    pub fn new(
        container_url: &str,
        credential: BlobCredential,
        options: Option<BlobClientOptions>,
    ) -> Result<Self, BlobError> {
        let invalid =
            |message: &str| BlobError::InvalidUrl { url: container_url.to_string(), message: message.to_string() };
        let url = Url::parse(container_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.query().is_some() {
            return Err(invalid("pass the SAS token as the credential, not in the URL"));
        }
        if url.path_segments().and_then(|mut s| s.next_back()).is_none_or(str::is_empty) {
            return Err(invalid("the URL has no container name"));
        }
        let options = options.unwrap_or_default();
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .map_err(|e| invalid(&format!("cannot build the HTTP client: {e}")))?;
        Ok(BlobContainerClient { http, container_url: url, credential, retry: std::sync::Arc::new(options.retry) })
    }

    /// The container's URL (never carries the SAS).
    pub fn url(&self) -> &str {
        self.container_url.as_str()
    }

    /// Whether this client's credential can create the container at all. A service SAS scoped to
    /// the container (`sr=c`) or to one blob cannot, by construction: the container it names must
    /// already exist. Account keys and account SAS tokens can (their permissions still apply).
    pub fn may_create_container(&self) -> bool {
        match &self.credential {
            BlobCredential::SharedKey { .. } => true,
            BlobCredential::Sas(token) => !token.expose().split('&').any(|pair| pair.split('=').next() == Some("sr")),
        }
    }

    /// Creates the container; an existing container is fine. Returns whether it was created.
    pub async fn create(&self) -> Result<bool, BlobError> {
        let url = self.with_query(self.container_url.clone(), &[("restype", "container")]);
        match self.send(Method::PUT, url, HeaderMap::new(), None).await {
            Ok(_) => Ok(true),
            Err(BlobError::Http(err)) if err.code() == Some("ContainerAlreadyExists") => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Uploads `body` as the block blob `name` in one request (Put Blob), replacing any blob there.
    pub async fn upload(&self, name: &str, body: Bytes, content_type: &str) -> Result<(), BlobError> {
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
        let content_type = HeaderValue::from_str(content_type).map_err(|_| BlobError::InvalidUrl {
            url: name.to_string(),
            message: "invalid content type".to_string(),
        })?;
        headers.insert(CONTENT_TYPE, content_type);
        self.send(Method::PUT, self.blob_url(name), headers, Some(body)).await.map(drop)
    }

    /// Uploads the file at `path` as the block blob `name`, a block at a time (Put Block, then Put
    /// Block List), so memory does not grow with the file. The blob appears only when the block
    /// list is committed: a failed upload never leaves a partial blob, and replaces nothing.
    pub async fn upload_file(&self, name: &str, path: &std::path::Path, content_type: &str) -> Result<u64, BlobError> {
        use std::io::Read;
        let read_error = |source| BlobError::ReadFile { path: path.to_path_buf(), source };
        let mut file = std::fs::File::open(path).map_err(read_error)?;
        let mut ids = Vec::new();
        let mut sent = 0u64;
        loop {
            let mut block = Vec::with_capacity(UPLOAD_BLOCK);
            (&mut file).take(UPLOAD_BLOCK as u64).read_to_end(&mut block).map_err(read_error)?;
            if block.is_empty() && !ids.is_empty() {
                break;
            }
            // Fixed-width ids: the service wants every block id of a blob to have the same length.
            let id = BASE64.encode(format!("block-{:08}", ids.len()));
            let url = self.with_query(self.blob_url(name), &[("comp", "block"), ("blockid", &id)]);
            let last = block.len() < UPLOAD_BLOCK;
            sent += block.len() as u64;
            self.send(Method::PUT, url, HeaderMap::new(), Some(Bytes::from(block))).await?;
            ids.push(id);
            if last {
                break;
            }
        }
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in &ids {
            xml.push_str(&format!("<Latest>{id}</Latest>"));
        }
        xml.push_str("</BlockList>");
        let mut headers = HeaderMap::new();
        let content_type = HeaderValue::from_str(content_type).map_err(|_| BlobError::InvalidUrl {
            url: name.to_string(),
            message: "invalid content type".to_string(),
        })?;
        headers.insert("x-ms-blob-content-type", content_type);
        let url = self.with_query(self.blob_url(name), &[("comp", "blocklist")]);
        self.send(Method::PUT, url, headers, Some(Bytes::from(xml))).await?;
        Ok(sent)
    }

    /// Every blob whose name starts with `prefix`, in name order.
    pub async fn list_blobs(&self, prefix: &str) -> Result<Vec<BlobItem>, BlobError> {
        let mut items = Vec::new();
        let mut marker = String::new();
        loop {
            let mut query = vec![("restype", "container"), ("comp", "list"), ("prefix", prefix)];
            if !marker.is_empty() {
                query.push(("marker", &marker));
            }
            let url = self.with_query(self.container_url.clone(), &query);
            let response = self.send(Method::GET, url.clone(), HeaderMap::new(), None).await?;
            let text = response.text().await.map_err(|e| HttpError::from_reqwest_error(&Method::GET, &url, e))?;
            let page: EnumerationResults = quick_xml::de::from_str(&text)
                .map_err(|e| HttpError::decode("GET", &url, format!("cannot read the blob listing: {e}")))?;
            items.extend(page.blobs.blob.into_iter().map(|b| BlobItem {
                name: b.name,
                size: b.properties.content_length,
                etag: b.properties.etag.unwrap_or_default(),
                last_modified: b.properties.last_modified.unwrap_or_default(),
            }));
            match page.next_marker.filter(|m| !m.is_empty()) {
                Some(next) => marker = next,
                None => return Ok(items),
            }
        }
    }

    /// The contents of blob `name`.
    pub async fn download(&self, name: &str) -> Result<Bytes, BlobError> {
        let url = self.blob_url(name);
        let response = self.send(Method::GET, url.clone(), HeaderMap::new(), None).await?;
        Ok(response.bytes().await.map_err(|e| HttpError::from_reqwest_error(&Method::GET, &url, e))?)
    }

    fn blob_url(&self, name: &str) -> Url {
        let mut url = self.container_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(name.split('/'));
        }
        url
    }

    fn with_query(&self, mut url: Url, pairs: &[(&str, &str)]) -> Url {
        url.query_pairs_mut().extend_pairs(pairs);
        url
    }

    async fn send(
        &self,
        method: Method,
        mut url: Url,
        mut headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<reqwest::Response, BlobError> {
        let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let header = |value: &str| HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static(""));
        headers.insert("x-ms-date", header(&date));
        headers.insert("x-ms-version", HeaderValue::from_static(API_VERSION));
        let length = body.as_ref().map_or(0, Bytes::len);
        if method == Method::PUT {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
        let shown = url.clone();
        match &self.credential {
            BlobCredential::SharedKey { account, key } => {
                let signature = sign(&method, &url, &headers, account, key)?;
                headers.insert("authorization", header(&format!("SharedKey {account}:{signature}")));
            }
            BlobCredential::Sas(token) => {
                let query = match url.query() {
                    Some(q) if !q.is_empty() => format!("{q}&{}", token.expose()),
                    _ => token.expose().to_string(),
                };
                url.set_query(Some(&query));
            }
        }
        // Each attempt signs the same headers: the date stays within the service's 15-minute skew.
        // The error shows `shown`, the URL before a SAS was appended.
        let attempt = || async {
            let mut request = self.http.request(method.clone(), url.clone()).headers(headers.clone());
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            let response = request
                .send()
                .await
                .map_err(|e| HttpError::from_reqwest_error(&method, &shown, e).for_service("the storage service"))?;
            if response.status().is_success() {
                return Ok(response);
            }
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap_or_default();
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            Err(HttpError::from_response(method.as_str(), &shown, status, header, &body))
        };
        Ok(crate::http::send_with_retries(&self.retry, &method, &shown, attempt).await?)
    }
}

/// The SharedKey signature of a request (Blob service, version 2015-02-21 and later).
fn sign(method: &Method, url: &Url, headers: &HeaderMap, account: &str, key: &Secret) -> Result<String, BlobError> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let length = match get("content-length") {
        "0" => "",
        other => other,
    };
    let mut ms_headers: Vec<(String, &str)> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-ms-"))
        .map(|(name, value)| (name.as_str().to_string(), value.to_str().unwrap_or_default()))
        .collect();
    ms_headers.sort();
    let mut to_sign = format!(
        "{method}\n{}\n{}\n{length}\n{}\n{}\n\n{}\n{}\n{}\n{}\n{}\n",
        get("content-encoding"),
        get("content-language"),
        get("content-md5"),
        get("content-type"),
        get("if-modified-since"),
        get("if-match"),
        get("if-none-match"),
        get("if-unmodified-since"),
        get("range"),
    );
    for (name, value) in ms_headers {
        to_sign.push_str(&format!("{name}:{}\n", value.trim()));
    }
    to_sign.push_str(&format!("/{account}{}", url.path()));
    let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in url.query_pairs() {
        params.entry(name.to_ascii_lowercase()).or_default().push(value.into_owned());
    }
    for (name, mut values) in params {
        values.sort();
        to_sign.push_str(&format!("\n{name}:{}", values.join(",")));
    }
    let key =
        BASE64.decode(key.expose()).map_err(|_| BlobError::ConnectionString("AccountKey is not base64".to_string()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .map_err(|_| BlobError::ConnectionString("AccountKey is empty".to_string()))?;
    mac.update(to_sign.as_bytes());
    Ok(BASE64.encode(mac.finalize().into_bytes()))
}

#[derive(Deserialize)]
struct EnumerationResults {
    #[serde(rename = "Blobs")]
    blobs: BlobsXml,
    #[serde(rename = "NextMarker")]
    next_marker: Option<String>,
}

#[derive(Deserialize)]
struct BlobsXml {
    #[serde(rename = "Blob", default)]
    blob: Vec<BlobXml>,
}

#[derive(Deserialize)]
struct BlobXml {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Properties")]
    properties: PropertiesXml,
}

#[derive(Deserialize)]
struct PropertiesXml {
    #[serde(rename = "Content-Length")]
    content_length: u64,
    #[serde(rename = "Etag")]
    etag: Option<String>,
    #[serde(rename = "Last-Modified")]
    last_modified: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connection_strings_without_showing_keys() {
        let cs = ConnectionString::parse(&Secret::new(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        ))
        .expect("parse");
        assert_eq!(cs.blob_endpoint, "https://acct.blob.core.windows.net");
        assert!(!format!("{cs:?}").contains("a2V5"));
        let dev = ConnectionString::parse(&Secret::new("UseDevelopmentStorage=true")).expect("dev");
        assert_eq!(dev.blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        let sas = ConnectionString::parse(&Secret::new(
            "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=1&sig=x",
        ))
        .expect("sas");
        assert!(matches!(sas.credential, BlobCredential::Sas(_)));
        assert!(ConnectionString::parse(&Secret::new("AccountName=acct")).is_err());
        assert!(ConnectionString::parse(&Secret::new("garbage")).is_err());
    }

    /// The string-to-sign layout, checked against a signature computed independently with
    /// Python's hmac module for the same request.
    #[test]
    fn signs_like_the_service_expects() {
        let url = Url::parse("http://127.0.0.1:10000/devstoreaccount1/logs?restype=container&comp=list&prefix=a")
            .expect("url");
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-date", HeaderValue::from_static("Thu, 26 Nov 2026 12:00:00 GMT"));
        headers.insert("x-ms-version", HeaderValue::from_static(API_VERSION));
        let signature = sign(&Method::GET, &url, &headers, DEV_ACCOUNT, &Secret::new(DEV_KEY)).expect("sign");
        assert_eq!(signature, "BrVotCNbW/90J91fkik6mao4ors3e7VMdlSPA9XkTEg=");
    }

    #[test]
    fn only_a_sas_scoped_to_a_container_or_blob_cannot_create_the_container() {
        let client = |credential| BlobContainerClient::new("https://a.blob.core.windows.net/c", credential, None);
        let sas = |token: &str| BlobCredential::Sas(Secret::new(token));
        let shared = BlobCredential::SharedKey { account: "a".into(), key: Secret::new(DEV_KEY) };
        assert!(client(shared).expect("client").may_create_container());
        assert!(client(sas("sv=2024-08-04&ss=b&srt=sco&sp=rwlac&sig=x")).expect("client").may_create_container());
        assert!(!client(sas("sv=2024-08-04&sr=c&sp=cw&sig=x")).expect("client").may_create_container());
        assert!(!client(sas("sp=r&sr=b&sig=x")).expect("client").may_create_container());
    }
}
