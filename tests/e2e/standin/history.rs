//! Azure ML's run history artifact service and the workspace's Blob storage, as the
//! `azureml-mlflow` plugin sees them (azureml-artifacts.md §2–3):
//! `/history/v1.0/<workspace scope>/experiments/{e}/runs/{r}/artifacts` hands out per-blob SAS
//! URLs in the default datastore, and the bytes go to Blob storage.
//!
//! The blobs live in a real Azurite. The URLs handed out point at this stand-in, path-style
//! (`https://127.0.0.1:<port>/<account>.blob.core.windows.net/<container>/<blob>?<sas>`): the
//! plugin downloads only from URLs that match `https://….blob.core.windows.net/…/…?…`, and the
//! storage SDK treats an IP host as path-style, so the official clients accept them unchanged
//! without DNS tricks. Requests to them are checked against the SAS the stand-in issued (blob,
//! permission, expiry, a use budget for expiry tests) and forwarded to Azurite, signed with a
//! container SAS of its own, so Azurite does the Put Block / Put Block List / Content-MD5 /
//! range work for real.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{StandIn, State};

/// The storage account name in the URLs handed out (Azurite's development account).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The workspace's artifact container, as older workspaces name it.
pub const CONTAINER: &str = "azureml";

/// A SAS the stand-in issued for one blob, or (`blob` empty) read access to the whole container.
#[derive(Debug, Clone)]
struct Issued {
    blob: String,
    container: bool,
    write: bool,
    expires: chrono::DateTime<chrono::Utc>,
    /// Requests it may still sign; `None` for no limit.
    uses_left: Option<u32>,
}

/// The artifact service's state.
#[derive(Default)]
pub struct ArtifactPlane {
    /// `http://127.0.0.1:<port>/devstoreaccount1`, once [`StandIn::serve_artifacts`] was called.
    azurite: Option<String>,
    /// A container SAS for Azurite, signed with the development key.
    upstream_sas: String,
    issued: HashMap<String, Issued>,
    /// Uses each SAS issued from now on allows (then it is refused as expired).
    pub sas_uses: Option<u32>,
}

impl StandIn {
    /// Serves run artifacts, keeping the blobs in the Azurite at `azurite` (its account URL,
    /// `http://127.0.0.1:<port>/devstoreaccount1`); creates the artifact container there.
    pub fn serve_artifacts(&self, azurite: &str) {
        let azurite = azurite.trim_end_matches('/').to_string();
        let upstream_sas = container_sas(CONTAINER);
        // A container SAS cannot create its container: the account key does.
        let client = mlops::azure::blob::BlobContainerClient::new(
            &format!("{azurite}/{CONTAINER}"),
            mlops::azure::blob::BlobCredential::SharedKey {
                account: ACCOUNT.to_string(),
                key: mlops::secret::Secret::new(ACCOUNT_KEY),
            },
            None,
        )
        .expect("container client");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(client.create()).expect("create the artifact container");
        let mut s = self.state();
        s.artifacts.azurite = Some(azurite);
        s.artifacts.upstream_sas = upstream_sas;
    }

    /// Each SAS URL handed out from now on signs `uses` requests, then is refused as expired
    /// (403 AuthenticationFailed), as a real one is after its expiry time.
    pub fn limit_sas_uses(&self, uses: Option<u32>) {
        self.state().artifacts.sas_uses = uses;
    }

    /// The names of the blobs of a run's artifacts, relative to the run.
    pub fn artifact_blob_prefix(run_id: &str) -> String {
        format!("ExperimentRun/dcid.{run_id}/")
    }
}

/// A service SAS for a whole container of Azurite's development account (version 2020-08-04
/// string-to-sign: permissions, start, expiry, resource, identifier, IP, protocol, version,
/// resource type, snapshot time, then the five response headers).
fn container_sas(container: &str) -> String {
    let expiry = (chrono::Utc::now() + chrono::Duration::days(2)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (permissions, version) = ("racwdl", "2020-08-04");
    let resource = format!("/blob/{ACCOUNT}/{container}");
    let to_sign = format!("{permissions}\n\n{expiry}\n{resource}\n\n\nhttps,http\n{version}\nc\n\n\n\n\n\n");
    let key = BASE64.decode(ACCOUNT_KEY).expect("key");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac");
    mac.update(to_sign.as_bytes());
    let signature = BASE64.encode(mac.finalize().into_bytes());
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("sv", version)
        .append_pair("sr", "c")
        .append_pair("sp", permissions)
        .append_pair("se", &expiry)
        .append_pair("spr", "https,http")
        .append_pair("sig", &signature)
        .finish()
}

/// Whether a (lower-cased) path is the history service's.
pub fn owns(lower_path: &str) -> bool {
    lower_path.starts_with("/history/v1.0/")
}

/// Whether a (lower-cased) path is a blob URL this stand-in handed out.
pub fn owns_blob(lower_path: &str) -> bool {
    lower_path.starts_with(&format!("/{ACCOUNT}.blob.core.windows.net/"))
}

/// A request of this plane, as the dispatcher read it.
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub raw_path: &'a str,
    pub query: &'a str,
    pub headers: &'a hyper::HeaderMap,
    pub body: Bytes,
}

/// `…/experiments/{e}/runs/{r}/artifacts[/batch/metadata|/contentinfo]`.
pub async fn serve(state: &Arc<Mutex<State>>, call: Call<'_>) -> Response<Full<Bytes>> {
    let (authorized, azurite, base) = {
        let s = state.lock().unwrap_or_else(|p| p.into_inner());
        let token = bearer(call.headers);
        (token.is_some_and(|t| s.tokens.contains(&t)), s.artifacts.azurite.clone(), s.base.clone())
    };
    if !authorized {
        return error(401, "UserError", "the request needs a valid Entra ID bearer token for the workspace");
    }
    let Some(azurite) = azurite else {
        return error(503, "ServiceUnavailable", "no Blob storage behind the stand-in's artifact service");
    };
    let parts: Vec<&str> = call.path.trim_start_matches('/').split('/').collect();
    let Some(at) = parts.iter().position(|p| p.eq_ignore_ascii_case("experiments")) else {
        return error(404, "NotFound", "no experiments segment");
    };
    let (Some(run), Some(artifacts)) = (parts.get(at + 3), parts.get(at + 4)) else {
        return error(404, "NotFound", "expected …/experiments/{e}/runs/{r}/artifacts");
    };
    if !parts.get(at + 2).is_some_and(|p| p.eq_ignore_ascii_case("runs"))
        || !artifacts.eq_ignore_ascii_case("artifacts")
    {
        return error(404, "NotFound", "expected …/experiments/{e}/runs/{r}/artifacts");
    }
    let prefix = StandIn::artifact_blob_prefix(run);
    let tail = parts[at + 5..].join("/");
    let query: HashMap<String, String> = url::form_urlencoded::parse(call.query.as_bytes()).into_owned().collect();
    match (call.method, tail.as_str()) {
        ("POST", "batch/metadata") => {
            let Some(paths) =
                serde_json::from_slice::<Value>(&call.body).ok().and_then(|b| b["paths"].as_array().cloned())
            else {
                return error(400, "UserError", "expected {\"paths\": [{\"path\": …}]}");
            };
            let mut artifacts = serde_json::Map::new();
            let mut content = serde_json::Map::new();
            for item in paths {
                let Some(path) = item["path"].as_str() else {
                    return error(400, "UserError", "a path item without \"path\"");
                };
                let uri = issue(state, &base, &format!("{prefix}{path}"), true);
                artifacts.insert(path.to_string(), json!({"artifactId": format!("dcid.{run}/{path}"), "origin": "ExperimentRun", "container": format!("dcid.{run}"), "path": path}));
                content.insert(path.to_string(), json!({"contentUri": uri, "origin": "ExperimentRun", "container": format!("dcid.{run}"), "path": path}));
            }
            json_reply(200, json!({"artifacts": artifacts, "artifactContentInformation": content, "errors": {}}))
        }
        ("GET", "") => match list(state, &azurite, &prefix).await {
            Ok(names) => {
                let value: Vec<Value> = names
                    .iter()
                    .map(|n| {
                        let path = &n[prefix.len()..];
                        json!({"artifactId": format!("dcid.{run}/{path}"), "origin": "ExperimentRun", "container": format!("dcid.{run}"), "path": path})
                    })
                    .collect();
                json_reply(200, json!({"value": value, "continuationToken": null, "nextLink": null}))
            }
            Err(e) => error(502, "BadGateway", &e),
        },
        ("GET", "contentinfo") => {
            let Some(path) = query.get("path") else {
                return error(400, "UserError", "contentinfo needs ?path=");
            };
            match list(state, &azurite, &format!("{prefix}{path}")).await {
                Ok(names) if names.iter().any(|n| n == &format!("{prefix}{path}")) => {
                    let uri = issue(state, &base, &format!("{prefix}{path}"), false);
                    json_reply(
                        200,
                        json!({"contentUri": uri, "origin": "ExperimentRun", "container": format!("dcid.{run}"), "path": path}),
                    )
                }
                Ok(_) => error(404, "NotFound", &format!("artifact {path} of run {run} not found")),
                Err(e) => error(502, "BadGateway", &e),
            }
        }
        _ => error(404, "NotFound", &format!("{} {} is not a history route", call.method, call.path)),
    }
}

/// A SAS URL for one blob, recorded so the blob proxy can check it.
fn issue(state: &Arc<Mutex<State>>, base: &str, blob: &str, write: bool) -> String {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let query = sas_token(&mut s, blob, false, write);
    let encoded: Vec<String> =
        blob.split('/').map(|p| percent_encoding::utf8_percent_encode(p, SEGMENT).to_string()).collect();
    format!("{base}/{ACCOUNT}.blob.core.windows.net/{CONTAINER}/{}?{query}", encoded.join("/"))
}

/// A read-and-list SAS token for the whole artifact container, as a datastore's `listSecrets`
/// hands it out (azure-ai-ml then lists and downloads with the storage SDK).
pub fn container_read_token(s: &mut State) -> String {
    sas_token(s, "", true, false)
}

/// Records a SAS and returns its query string.
fn sas_token(s: &mut State, blob: &str, container: bool, write: bool) -> String {
    let signature = uuid::Uuid::new_v4().simple().to_string();
    let expires = chrono::Utc::now() + chrono::Duration::hours(1);
    let uses_left = s.artifacts.sas_uses;
    s.artifacts
        .issued
        .insert(signature.clone(), Issued { blob: blob.to_string(), container, write, expires, uses_left });
    let (resource, permissions) = match (container, write) {
        (true, _) => ("c", "rl"),
        (false, true) => ("b", "rcw"),
        (false, false) => ("b", "r"),
    };
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("sv", "2020-08-04")
        .append_pair("sr", resource)
        .append_pair("sp", permissions)
        .append_pair("se", &expires.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .append_pair("sig", &signature)
        .finish()
}

/// Characters escaped in a path segment of a URL handed out.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Blob names in the artifact container starting with `prefix`.
async fn list(state: &Arc<Mutex<State>>, azurite: &str, prefix: &str) -> Result<Vec<String>, String> {
    let sas = state.lock().unwrap_or_else(|p| p.into_inner()).artifacts.upstream_sas.clone();
    let client = mlops::azure::blob::BlobContainerClient::new(
        &format!("{azurite}/{CONTAINER}"),
        mlops::azure::blob::BlobCredential::Sas(mlops::secret::Secret::new(sas)),
        None,
    )
    .map_err(|e| e.to_string())?;
    let items = client.list_blobs(prefix).await.map_err(|e| e.to_string())?;
    Ok(items.into_iter().map(|b| b.name).collect())
}

/// A blob request with a SAS this stand-in issued: checked, then forwarded to Azurite.
pub async fn serve_blob(state: &Arc<Mutex<State>>, call: Call<'_>) -> Response<Full<Bytes>> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(call.query.as_bytes()).into_owned().collect();
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    // /<account>.blob.core.windows.net/<container>/<blob…>, still percent-encoded as sent.
    let raw = call.raw_path.trim_start_matches('/');
    let Some((_, container_and_blob)) = raw.split_once('/') else {
        return storage_error(400, "InvalidUri", "no container in the URL");
    };
    let blob = call.path.trim_start_matches('/').splitn(3, '/').nth(2).unwrap_or("").to_string();
    let write = call.method != "GET" && call.method != "HEAD";
    let (azurite, upstream_sas) = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(azurite) = s.artifacts.azurite.clone() else {
            return storage_error(503, "ServerBusy", "no Azurite behind the stand-in");
        };
        let Some(issued) = get("sig").and_then(|sig| s.artifacts.issued.get_mut(&sig)) else {
            return storage_error(
                403,
                "AuthenticationFailed",
                "Server failed to authenticate the request: unknown signature.",
            );
        };
        let container = call.path.trim_start_matches('/').split('/').nth(1);
        let in_scope = if issued.container {
            !write && container.is_some_and(|c| c.eq_ignore_ascii_case(CONTAINER))
        } else {
            issued.blob == blob && (issued.write || !write)
        };
        if !in_scope {
            return storage_error(
                403,
                "AuthorizationPermissionMismatch",
                "This request is not authorized to perform this operation using this permission.",
            );
        }
        let expired = chrono::Utc::now() > issued.expires || issued.uses_left == Some(0);
        if expired {
            return storage_error(
                403,
                "AuthenticationFailed",
                "Server failed to authenticate the request. Signature not valid in the specified time frame.",
            );
        }
        if let Some(left) = issued.uses_left.as_mut() {
            *left -= 1;
        }
        (azurite, s.artifacts.upstream_sas.clone())
    };
    let sas_keys = ["sv", "sr", "sp", "se", "st", "sig", "spr", "sip", "skoid", "sktid", "skt", "ske", "sks", "skv"];
    let query = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| !sas_keys.contains(&k.as_str())) {
            query.append_pair(k, v);
        }
        query.finish()
    };
    let query = if query.is_empty() { upstream_sas } else { format!("{query}&{upstream_sas}") };
    let url = format!("{azurite}/{container_and_blob}?{query}");
    let method = reqwest::Method::from_bytes(call.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut request = reqwest::Client::new().request(method, &url).body(call.body.to_vec());
    for (name, value) in call.headers {
        if matches!(name.as_str(), "host" | "authorization" | "content-length" | "connection" | "transfer-encoding") {
            continue;
        }
        request = request.header(name, value);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return storage_error(502, "ServerBusy", &format!("Azurite: {e}")),
    };
    let status = response.status().as_u16();
    let mut builder = Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY));
    for (name, value) in response.headers() {
        if matches!(name.as_str(), "connection" | "transfer-encoding" | "keep-alive" | "content-length") {
            continue;
        }
        builder = builder.header(name, value);
    }
    let body = response.bytes().await.unwrap_or_default();
    builder.body(Full::new(body)).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn bearer(headers: &hyper::HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

fn json_reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json; charset=utf-8")
        .header("x-ms-request-id", uuid::Uuid::new_v4().to_string())
        .body(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap_or_default())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// The history service's error envelope.
fn error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    json_reply(status, json!({"error": {"code": code, "message": message}, "correlation": {}}))
}

/// Storage's XML error, with the code also in `x-ms-error-code`.
fn storage_error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/xml")
        .header("x-ms-error-code", code)
        .header("x-ms-request-id", uuid::Uuid::new_v4().to_string())
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// The workspace's artifact container in Azurite, read with the account key: how the stand-in
/// itself fetches a model's files for a deployment (Azure's storage initializer reads the
/// datastore with the workspace's identity). `None` until artifacts are served.
pub fn container_client(s: &State) -> Option<mlops::azure::blob::BlobContainerClient> {
    let azurite = s.artifacts.azurite.as_ref()?;
    mlops::azure::blob::BlobContainerClient::new(
        &format!("{azurite}/{CONTAINER}"),
        mlops::azure::blob::BlobCredential::SharedKey {
            account: ACCOUNT.to_string(),
            key: mlops::secret::Secret::new(ACCOUNT_KEY),
        },
        None,
    )
    .ok()
}
