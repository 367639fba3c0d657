//! An HTTPS stand-in for Entra ID and Azure Resource Manager, faithful enough that the official
//! Python SDK and `mlops` both work against it unchanged (`conformance.rs` runs the SDK).
//!
//! It runs in the test process on its own thread and runtime, on a free 127.0.0.1 port, with a
//! CA and leaf certificate made at start. Routes are split by area (`entra`, `arm`, `aml`) so other
//! Azure services (Azure ML) can be added as more modules behind the same dispatcher.

mod acr;
mod aml;
mod arm;
mod container;
mod deployment_checks;
mod deployments;
mod endpoints;
mod entra;
mod expr;
mod history;
mod mlflow_plane;
mod scoring;
mod serving;
mod tls;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

pub use acr::{ADMIN_PASSWORD as ACR_ADMIN_PASSWORD, ADMIN_USER as ACR_ADMIN_USER};
pub use arm::FailingResource;

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const SUBSCRIPTION: &str = "00000000-1111-2222-3333-444444444444";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_SECRET: &str = "stand-in-client-secret-value";
pub const CERT_CLIENT_ID: &str = "22222222-2222-3333-4444-555555555555";
pub const FEDERATED_CLIENT_ID: &str = "33333333-2222-3333-4444-555555555555";
pub const GITHUB_REQUEST_TOKEN: &str = "github-request-token-value";
pub const PIPELINES_ACCESS_TOKEN: &str = "pipelines-system-access-token";
pub const SERVICE_CONNECTION_ID: &str = "svc-conn-0001";
pub const MSI_HEADER: &str = "msi-identity-header-value";

/// What a fault does to the requests it matches.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// Answer with this status, an ARM error envelope and optionally `Retry-After` (seconds).
    Status { status: u16, retry_after: Option<u64> },
    /// Close the connection without answering.
    Reset,
    /// Answer normally after a delay.
    Delay(Duration),
}

/// A fault for the next `count` requests whose method and path (lower case) match.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Option<&'static str>,
    pub path_contains: String,
    pub kind: FaultKind,
    pub count: u32,
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    pub at: Instant,
    /// 0 when the connection was reset.
    pub status: u16,
    pub authorization: Option<String>,
    /// The JSON body of a write to online endpoints or environments, for tests that check what
    /// a client sent (other bodies are not kept).
    pub body: Option<Value>,
}

#[derive(Default)]
pub struct State {
    pub base: String,
    pub log: Vec<Logged>,
    pub faults: Vec<Fault>,
    pub tokens: HashSet<String>,
    pub federated: HashSet<String>,
    pub cert_public_key: Option<rsa::RsaPublicKey>,
    pub arm: arm::ArmState,
    pub mlflow: mlflow_plane::MlflowPlane,
    pub artifacts: history::ArtifactPlane,
    pub aml: aml::AmlState,
    pub acr: acr::AcrState,
    pub online: endpoints::OnlineState,
    pub step: Duration,
}

/// The running stand-in. Dropping it stops the server.
pub struct StandIn {
    pub port: u16,
    pub ca_pem: PathBuf,
    state: Arc<Mutex<State>>,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StandIn {
    pub fn start() -> StandIn {
        let dir = tempfile::tempdir().expect("temp dir");
        let certs = tls::Certificates::generate();
        let ca_pem = dir.path().join("ca.pem");
        std::fs::write(&ca_pem, &certs.ca_pem).expect("write CA");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            base: format!("https://127.0.0.1:{port}"),
            step: Duration::from_millis(300),
            ..State::default()
        }));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server_state = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            runtime.block_on(tls::serve(listener, certs, server_state, rx));
        });
        StandIn { port, ca_pem, state, _dir: dir, shutdown: Some(tx), thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state().log.clone()
    }

    /// Requests to ARM deployments (anything under `/providers/microsoft.resources/deployments`).
    pub fn deployment_requests(&self) -> Vec<Logged> {
        self.log().into_iter().filter(|l| l.path.to_ascii_lowercase().contains("/deployments/")).collect()
    }

    pub fn inject(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    /// Time each resource of a deployment takes.
    pub fn set_step(&self, step: Duration) {
        self.state().step = step;
    }

    pub fn fail_resource(&self, failing: FailingResource) {
        self.state().arm.failing.push(failing);
    }

    /// An access token ARM accepts, as if issued by Entra (for the Azure CLI stand-in).
    pub fn issue_token(&self) -> String {
        let token = format!("standin-at-{}", uuid::Uuid::new_v4().simple());
        self.state().tokens.insert(token.clone());
        token
    }

    /// A federated (OIDC) JWT that the token endpoint accepts as a client assertion.
    pub fn mint_federated(&self, subject: &str) -> String {
        let token = entra::federated_jwt(subject);
        self.state().federated.insert(token.clone());
        token
    }

    /// Registers the certificate whose key signs client assertions for [`CERT_CLIENT_ID`].
    pub fn trust_certificate_key(&self, spki_der: &[u8]) {
        use rsa::pkcs8::DecodePublicKey;
        self.state().cert_public_key = Some(rsa::RsaPublicKey::from_public_key_der(spki_der).expect("RSA public key"));
    }

    /// Creates a resource group directly, as if it existed before the test.
    pub fn create_resource_group(&self, name: &str, location: &str) {
        self.state().arm.create_group(SUBSCRIPTION, name, location);
    }

    /// Creates an Azure ML workspace with one compute cluster, as if they existed before the test.
    pub fn create_aml_workspace(&self, group: &str, name: &str, compute: &str) {
        let mut s = self.state();
        s.aml.create_workspace(SUBSCRIPTION, group, name, "westeurope");
        s.aml.create_compute(SUBSCRIPTION, group, name, compute);
    }

    /// Attaches a Kubernetes compute (an AKS cluster with the Azure ML extension) to a workspace.
    pub fn attach_kubernetes_compute(&self, group: &str, workspace: &str, name: &str) {
        self.state().aml.attach_kubernetes(SUBSCRIPTION, group, workspace, name);
    }

    /// Azure ML state (assets, jobs, schedules) for assertions and test-driven outcomes.
    pub fn with_aml<T>(&self, f: impl FnOnce(&mut aml::AmlState) -> T) -> T {
        f(&mut self.state().aml)
    }

    /// The `mlops` binary online deployments run (`mlops serve`) for their models.
    pub fn serve_deployments_with(&self, mlops: &std::path::Path) {
        self.state().online.mlops = Some(mlops.to_path_buf());
    }

    /// Whether a resource group exists (deployments and stacks brought up to date first).
    pub fn resource_group_exists(&self, name: &str) -> bool {
        self.state().arm.group_exists(SUBSCRIPTION, name)
    }

    /// The ids of the resources recorded in a resource group.
    pub fn resources(&self, group: &str) -> Vec<String> {
        self.state().arm.resource_ids(SUBSCRIPTION, group)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A response under construction.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// Bytes sent exactly as stored, with their own content type (registry manifests and blobs,
    /// whose digests are of these bytes); when set, `body` is not used.
    pub raw: Option<Box<(String, Vec<u8>)>>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply { status, headers: Vec::new(), body: Some(body), raw: None }
    }

    pub fn empty(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: None, raw: None }
    }

    pub fn bytes(status: u16, content_type: &str, data: Vec<u8>) -> Reply {
        Reply { status, headers: Vec::new(), body: None, raw: Some(Box::new((content_type.to_string(), data))) }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// An ARM error envelope.
    pub fn arm_error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(status, json!({"error": {"code": code, "message": message}}))
    }
}

/// An incoming request, read fully.
pub struct Incoming {
    pub method: String,
    /// Percent-decoded path.
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Incoming {
    pub fn bearer(&self) -> Option<String> {
        let value = self.headers.get("authorization")?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// The one entry point of every connection: faults, routing, common headers, the log.
pub async fn handle(
    state: Arc<Mutex<State>>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let method = request.method().as_str().to_string();
    let raw_path = request.uri().path().to_string();
    let path = percent_decode(&raw_path);
    let query_text = request.uri().query().unwrap_or("").to_string();
    let query: HashMap<String, String> = url::form_urlencoded::parse(query_text.as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect();
    let headers = request.headers().clone();
    let authorization =
        headers.get("authorization").and_then(|v| v.to_str().ok()).map(|v| v.chars().take(20).collect::<String>());
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let lower = path.to_ascii_lowercase();
    let kept = (method != "GET" && (lower.contains("/onlineendpoints") || lower.contains("/environments/")))
        .then(|| serde_json::from_slice::<Value>(&body).ok())
        .flatten();

    let fault = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        let found = s.faults.iter_mut().find(|f| {
            f.count > 0
                && f.method.is_none_or(|m| m.eq_ignore_ascii_case(&method))
                && lower.contains(&f.path_contains.to_ascii_lowercase())
        });
        found.map(|f| {
            f.count -= 1;
            f.kind.clone()
        })
    };
    let log = |status: u16| {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.log.push(Logged {
            method: method.clone(),
            path: path.clone(),
            query: query_text.clone(),
            at: Instant::now(),
            status,
            authorization: authorization.clone(),
            body: kept.clone(),
        });
    };
    let reply = match fault {
        Some(FaultKind::Reset) => {
            log(0);
            return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected reset"));
        }
        Some(FaultKind::Status { status, retry_after }) => {
            let code = if status == 429 { "TooManyRequests" } else { "InternalServerError" };
            let mut r = Reply::arm_error(status, code, "injected fault");
            if let Some(seconds) = retry_after {
                r = r.header("Retry-After", seconds.to_string());
            }
            r
        }
        Some(FaultKind::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            route(&state, Incoming { method: method.clone(), path: path.clone(), query, headers, body })
        }
        None if history::owns(&lower) || history::owns_blob(&lower) => {
            let call = history::Call {
                method: &method,
                path: &path,
                raw_path: &raw_path,
                query: &query_text,
                headers: &headers,
                body,
            };
            let response = if history::owns(&lower) {
                history::serve(&state, call).await
            } else {
                history::serve_blob(&state, call).await
            };
            log(response.status().as_u16());
            return Ok(response);
        }
        None if scoring::owns(&lower) => {
            let response = scoring::serve(&state, &method, &path, &headers, body).await;
            log(response.status().as_u16());
            return Ok(response);
        }
        None if mlflow_plane::owns(&lower) => {
            let call = mlflow_plane::Call { method: &method, path: &path, query: &query_text, headers: &headers, body };
            let response = mlflow_plane::serve(&state, call).await;
            log(response.status().as_u16());
            return Ok(response);
        }
        None => route(&state, Incoming { method: method.clone(), path: path.clone(), query, headers, body }),
    };
    log(reply.status);
    Ok(render(reply))
}

fn route(state: &Arc<Mutex<State>>, incoming: Incoming) -> Reply {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(reply) = acr::route(&mut s, &incoming) {
        return reply;
    }
    if let Some(reply) = entra::route(&mut s, &incoming) {
        return reply;
    }
    if let Some(reply) = aml::route(&mut s, &incoming) {
        return reply;
    }
    arm::route(&mut s, &incoming)
}

fn render(reply: Reply) -> Response<Full<Bytes>> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("x-ms-request-id", &request_id)
        .header("x-ms-routing-request-id", format!("STANDIN:{request_id}"));
    let has_correlation = reply.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("x-ms-correlation-request-id"));
    if !has_correlation {
        builder = builder.header("x-ms-correlation-request-id", uuid::Uuid::new_v4().to_string());
    }
    for (name, value) in &reply.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = match (reply.raw, reply.body) {
        (Some(raw), _) => {
            let (content_type, data) = *raw;
            builder = builder.header("content-type", content_type);
            Bytes::from(data)
        }
        (None, Some(value)) => {
            builder = builder.header("content-type", "application/json; charset=utf-8");
            Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
        }
        (None, None) => Bytes::new(),
    };
    builder.body(Full::new(body)).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn percent_decode(path: &str) -> String {
    percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned()
}
