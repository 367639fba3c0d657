//! `mlops image build | push` against real registries: Debian's `docker-registry` (anonymous,
//! htpasswd Basic), read back by `skopeo`, unpacked by `umoci` and run from its root filesystem;
//! and the Azure stand-in's Container Registry for the Entra ID token exchange.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sha2::Digest as _;

use crate::servers::{free_port, wait_for_http};
use crate::standin::{self, StandIn};
use crate::support::{Workspace, diabetes, floats, stderr};

const REGISTRY: &str = "/usr/bin/docker-registry";

/// A `docker-registry` child process on a free port with its own storage; killed when dropped.
pub struct Registry {
    child: Child,
    pub host: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// `htpasswd`: a user and password that Basic sign-in requires.
    pub fn start(htpasswd: Option<(&str, &str)>) -> Registry {
        assert!(Path::new(REGISTRY).is_file(), "{REGISTRY} is missing: scripts/test.sh installs docker-registry");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("storage").display()
        );
        if let Some((user, password)) = htpasswd {
            let out = tool("htpasswd", &["-Bbn", user, password]);
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: mlops-test\n    path: {}\n", file.display()));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        let mut child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        wait_for_http(&format!("http://127.0.0.1:{port}/v2/"), Duration::from_secs(60), &mut child);
        Registry { child, host: format!("127.0.0.1:{port}"), _dir: dir }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a Debian tool; requires success.
fn tool(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): scripts/test.sh installs it"));
    assert!(out.status.success(), "{program} {args:?} failed: {}", stderr(&out));
    out
}

fn skopeo_json(args: &[&str]) -> Value {
    serde_json::from_slice(&tool("skopeo", args).stdout).expect("skopeo prints JSON")
}

const REPO_URL: &str = "https://example.com/org/models.git";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Trains the reference model in `ws`, with stated git lineage; returns its run id.
fn train(ws: &Workspace) -> String {
    let data = diabetes().display().to_string();
    let out = ws
        .mlops(&["train", "--data", &data, "-o", "json"])
        .env("MLOPS_GIT_REPO_URL", REPO_URL)
        .env("MLOPS_GIT_COMMIT", COMMIT)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    report["run_id"].as_str().expect("run id").to_string()
}

/// Builds the image of the run's model into the layout `out`; returns the build report.
fn build(ws: &Workspace, run_id: &str, out: &str, extra: &[&str]) -> Value {
    let model = format!("runs:/{run_id}/model");
    let mut args = vec!["image", "build", "--model", &model, "--out", out];
    args.extend_from_slice(extra);
    ws.json(&args)
}

/// The digest of the one image an OCI layout's index names.
fn layout_digest(dir: &Path) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index.json")).expect("index");
    index["manifests"][0]["digest"].as_str().expect("digest").to_string()
}

#[test]
fn pushed_image_reads_back_with_skopeo_and_its_root_filesystem_serves_the_model() {
    let ws = Workspace::new();
    let run_id = train(&ws);
    let registry = Registry::start(None);
    let port = free_port().to_string();
    let tag = format!("{}/diabetes:1", registry.host);

    let first = build(&ws, &run_id, "a", &["--port", &port]);
    let pushed = build(&ws, &run_id, "b", &["--port", &port, "--tag", &tag, "--push", "--plain-http"]);
    let digest = first["digest"].as_str().expect("digest").to_string();
    // Two builds of the same model are the same image, byte for byte.
    assert_eq!(pushed["digest"].as_str(), Some(digest.as_str()));
    assert_eq!(layout_digest(&ws.path().join("a")), digest);
    assert_eq!(pushed["push"]["digest"].as_str(), Some(digest.as_str()));
    assert_eq!(pushed["push"]["blobs_uploaded"], 4, "{pushed}");
    let annotations = &first["annotations"];
    assert_eq!(annotations["mlops.model.run_id"].as_str(), Some(run_id.as_str()));
    assert!(
        annotations["org.opencontainers.image.created"].as_str().is_some_and(|c| c.ends_with('Z')),
        "{annotations}"
    );
    assert_eq!(annotations["org.opencontainers.image.source"].as_str(), Some(REPO_URL));
    assert_eq!(annotations["org.opencontainers.image.revision"].as_str(), Some(COMMIT));
    let size = first["size"].as_u64().expect("size");
    assert!(size < 60 * 1024 * 1024, "image of {size} bytes");

    let remote = format!("docker://{tag}");
    let inspected = skopeo_json(&["inspect", "--tls-verify=false", &remote]);
    assert_eq!(inspected["Digest"].as_str(), Some(digest.as_str()));
    assert_eq!(inspected["Labels"]["mlops.model.run_id"].as_str(), Some(run_id.as_str()));
    let copy = ws.path().join("copy");
    let dest = format!("oci:{}:served", copy.display());
    tool("skopeo", &["copy", "--src-tls-verify=false", &remote, &dest]);
    assert_eq!(layout_digest(&copy), digest);

    // The root filesystem as umoci unpacks it runs the entrypoint, as the image's user.
    let bundle = ws.path().join("bundle");
    let image = format!("{}:served", copy.display());
    tool("umoci", &["unpack", "--rootless", "--image", &image, &bundle.display().to_string()]);
    let config = skopeo_json(&["inspect", "--config", &dest]);
    let run = &config["config"];
    let entrypoint: Vec<String> = run["Entrypoint"]
        .as_array()
        .expect("entrypoint")
        .iter()
        .map(|v| v.as_str().expect("arg").to_string())
        .collect();
    let user = run["User"].as_str().expect("user");
    assert_eq!(user, "65532:65532");
    let mut server = Entrypoint::start(&bundle.join("rootfs"), user, &entrypoint, run["Env"].as_array().expect("env"));
    let base = format!("http://127.0.0.1:{port}");
    wait_for_http(&format!("{base}/ready"), Duration::from_secs(60), &mut server.child);

    let rows = feature_rows(5);
    let body = serde_json::json!({"data": rows});
    let answer: Value = reqwest::blocking::Client::new()
        .post(format!("{base}/score"))
        .json(&body)
        .send()
        .expect("POST /score")
        .json()
        .expect("JSON");
    let served = floats(&answer["result"]);
    let csv = ws.write("rows.csv", &feature_csv(&rows));
    let predicted =
        ws.json(&["predict", "--model", &format!("runs:/{run_id}/model"), "--data", &csv.display().to_string()]);
    let expected = crate::support::predicted(&predicted);
    assert_eq!(served.len(), expected.len());
    for (s, e) in served.iter().zip(&expected) {
        assert!((s - e).abs() <= 1e-9, "served {s} vs mlops predict {e}");
    }
}

/// The image's entrypoint run in its unpacked root filesystem (`chroot`, as root or with sudo).
struct Entrypoint {
    child: Child,
}

impl Entrypoint {
    fn start(rootfs: &Path, user: &str, entrypoint: &[String], env: &[Value]) -> Entrypoint {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let mut cmd = if root {
            Command::new("chroot")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.args(["-n", "chroot"]);
            sudo
        };
        cmd.arg(format!("--userspec={user}")).arg(rootfs).args(entrypoint).env_clear();
        for pair in env.iter().filter_map(Value::as_str) {
            if let Some((k, v)) = pair.split_once('=') {
                cmd.env(k, v);
            }
        }
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).spawn().expect("chroot");
        Entrypoint { child }
    }
}

impl Drop for Entrypoint {
    /// SIGTERM (chroot execs the entrypoint; sudo relays the signal), then SIGKILL after 30 s.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn feature_rows(n: usize) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(diabetes()).expect("diabetes.csv");
    text.lines()
        .skip(1)
        .take(n)
        .map(|l| {
            let values: Vec<f64> = l.split(',').map(|v| v.parse().expect("number")).collect();
            values[..values.len() - 1].to_vec()
        })
        .collect()
}

fn feature_csv(rows: &[Vec<f64>]) -> String {
    let header = std::fs::read_to_string(diabetes()).expect("diabetes.csv");
    let header = header.lines().next().expect("header");
    let features = &header[..header.rfind(',').expect("comma")];
    let mut text = format!("{features}\n");
    for row in rows {
        text.push_str(&row.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(","));
        text.push('\n');
    }
    text
}

#[test]
fn interrupted_push_uploads_only_the_missing_blobs_when_repeated() {
    let ws = Workspace::new();
    let run_id = train(&ws);
    build(&ws, &run_id, "img", &[]);
    let registry = Registry::start(None);
    // The proxy turns uploads away once two blobs are in, as a registry over its quota does (a
    // 403 is not retried, so the push stops there).
    let proxy = DenyingProxy::start(&registry.host, 2, 0);
    let through_proxy = format!("{}/diabetes:1", proxy.host);
    let out = ws.run(&["image", "push", "img", "--tag", &through_proxy, "--plain-http", "-o", "json"]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(stderr(&out).contains("DENIED"), "{}", stderr(&out));
    assert_eq!(proxy.completed(), 2);

    let direct = format!("{}/diabetes:1", registry.host);
    let report = ws.json(&["image", "push", "img", "--tag", &direct, "--plain-http"]);
    assert_eq!((report["blobs_skipped"].as_u64(), report["blobs_uploaded"].as_u64()), (Some(2), Some(2)), "{report}");
    let inspected = skopeo_json(&["inspect", "--tls-verify=false", &format!("docker://{direct}")]);
    assert_eq!(inspected["Digest"], report["digest"]);
}

#[test]
fn basic_auth_registry_needs_the_password_and_never_prints_it() {
    let ws = Workspace::new();
    let run_id = train(&ws);
    build(&ws, &run_id, "img", &[]);
    let password = "s3cret-registry-password";
    let registry = Registry::start(Some(("pusher", password)));
    let tag = format!("{}/diabetes:1", registry.host);

    let anonymous = ws.run(&["image", "push", "img", "--tag", &tag, "--plain-http"]);
    assert_eq!(anonymous.status.code(), Some(10), "{}", stderr(&anonymous));
    assert!(stderr(&anonymous).contains("MLOPS_REGISTRY_PASSWORD"), "{}", stderr(&anonymous));

    let wrong = ws
        .mlops(&["image", "push", "img", "--tag", &tag, "--plain-http", "--username", "pusher"])
        .env("MLOPS_REGISTRY_PASSWORD", "wrong")
        .output()
        .expect("run");
    assert_eq!(wrong.status.code(), Some(10), "{}", stderr(&wrong));

    // The password on stdin this time (`--password-stdin`), as `docker login` takes it.
    let mut child = ws
        .mlops(&["image", "push", "img", "--tag", &tag, "--plain-http", "--username", "pusher", "--password-stdin"])
        .args(["-v", "-o", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), format!("{password}\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success(), "{}", stderr(&out));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all.contains(password), "the password was printed: {all}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let creds = format!("pusher:{password}");
    let inspected = skopeo_json(&["inspect", "--tls-verify=false", "--creds", &creds, &format!("docker://{tag}")]);
    assert_eq!(inspected["Digest"], report["digest"]);
}

#[test]
fn acr_push_exchanges_the_entra_token_then_admin_basic_gets_a_bearer_token() {
    let ws = Workspace::new();
    let run_id = train(&ws);
    let built = build(&ws, &run_id, "img", &[]);
    let standin = StandIn::start();
    let host = format!("127.0.0.1:{}", standin.port);
    let tag = format!("{host}/mlops/diabetes:1");
    let azure = |cmd: &mut Command| {
        cmd.env("SSL_CERT_FILE", &standin.ca_pem)
            .env("AZURE_AUTHORITY_HOST", standin.url())
            .env("AZURE_TENANT_ID", standin::TENANT)
            .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("MLOPS_REGISTRY_USERNAME")
            .env_remove("MLOPS_REGISTRY_PASSWORD");
    };
    let mut cmd = ws.mlops(&[
        "image",
        "push",
        "img",
        "--tag",
        &tag,
        "--registry-auth",
        "azure",
        "--auth",
        "client-secret",
        "-o",
        "json",
    ]);
    azure(&mut cmd);
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["digest"], built["digest"]);
    assert_eq!(report["blobs_uploaded"], 4);
    {
        let state = standin.state();
        let stored =
            state.acr.manifests.get(&("mlops/diabetes".to_string(), "1".to_string())).expect("manifest pushed");
        assert_eq!(
            Some(format!("sha256:{}", hex::encode(sha2::Sha256::digest(stored)))).as_deref(),
            built["digest"].as_str()
        );
        assert_eq!(
            state.acr.exchanges,
            [("access_token".to_string(), host.clone(), Some(standin::TENANT.to_string()))]
        );
        assert!(state.acr.scopes.iter().any(|s| s == "repository:mlops/diabetes:pull,push"), "{:?}", state.acr.scopes);
    }

    // The admin user: Basic credentials for a Bearer token (`GET /oauth2/token`); every blob is there.
    let mut cmd =
        ws.mlops(&["image", "push", "img", "--tag", &tag, "--username", standin::ACR_ADMIN_USER, "-o", "json"]);
    azure(&mut cmd);
    let out = cmd.env("MLOPS_REGISTRY_PASSWORD", standin::ACR_ADMIN_PASSWORD).output().expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((report["blobs_skipped"].as_u64(), report["blobs_uploaded"].as_u64()), (Some(4), Some(0)), "{report}");
    assert!(!stderr(&out).contains(standin::ACR_ADMIN_PASSWORD));
}

#[test]
fn a_base_image_is_pulled_and_stacked_under_the_model() {
    let ws = Workspace::new();
    let run_id = train(&ws);
    let registry = Registry::start(None);
    // The base: mlops alone on scratch (a tool image, with its C library), pushed first.
    let base = format!("{}/mlops-base:1", registry.host);
    let tool_image = ws.json(&["image", "build", "--tag", &base, "--push", "--plain-http"]);
    assert!(tool_image["annotations"].as_object().is_some_and(|a| a.is_empty()), "{tool_image}");
    let base_layers: Vec<Value> =
        tool_image["layers"].as_array().expect("layers").iter().map(|l| l["digest"].clone()).collect();

    let tag = format!("{}/diabetes:1", registry.host);
    let built = build(&ws, &run_id, "img", &["--base", &base, "--tag", &tag, "--push", "--plain-http"]);
    let layers: Vec<Value> = built["layers"].as_array().expect("layers").iter().map(|l| l["digest"].clone()).collect();
    assert_eq!(layers.len(), base_layers.len() + 3, "{built}");
    assert_eq!(layers[..base_layers.len()], base_layers[..]);
    assert_eq!(built["annotations"]["org.opencontainers.image.base.name"].as_str(), Some(base.as_str()));
    assert_eq!(built["annotations"]["org.opencontainers.image.base.digest"], tool_image["digest"]);

    let inspected = skopeo_json(&["inspect", "--tls-verify=false", &format!("docker://{tag}")]);
    assert_eq!(inspected["Digest"], built["digest"]);
    assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(layers.len()));
    // Unpacked, the base's C library and the model are both there.
    let bundle = ws.path().join("bundle");
    let image = format!("{}:{tag}", ws.path().join("img").display());
    tool("umoci", &["unpack", "--rootless", "--image", &image, &bundle.display().to_string()]);
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("lib64/ld-linux-x86-64.so.2").is_file());
    assert!(rootfs.join("model/MLmodel").is_file());
    assert!(rootfs.join("usr/local/bin/mlops").is_file());
}

#[test]
fn a_chunk_answered_with_503_is_retried_and_the_push_completes() {
    let ws = Workspace::new();
    let run_id = train(&ws);
    build(&ws, &run_id, "img", &[]);
    let registry = Registry::start(None);
    let proxy = DenyingProxy::start(&registry.host, usize::MAX, 1);
    let tag = format!("{}/diabetes:1", proxy.host);
    let out = ws.run(&["image", "push", "img", "--tag", &tag, "--plain-http", "-o", "json", "-v"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The project's one retry policy reports each retry as one line at -v.
    let log = stderr(&out);
    let retries: Vec<&str> = log.lines().filter(|l| l.contains("HTTP 503") && l.contains("attempt 1 of")).collect();
    assert_eq!(retries.len(), 1, "the retry is reported once: {log}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["blobs_uploaded"], 4);
    let inspected = skopeo_json(&["inspect", "--tls-verify=false", &format!("docker://{}/diabetes:1", registry.host)]);
    assert_eq!(inspected["Digest"], report["digest"]);
}

/// A proxy in front of a registry that forwards everything (rewriting upload locations to
/// itself) until `allowed` blob uploads have completed, then answers new uploads with 403 DENIED.
struct DenyingProxy {
    host: String,
    completed: Arc<Mutex<usize>>,
    _runtime: tokio::runtime::Runtime,
}

impl DenyingProxy {
    /// `unavailable`: how many chunk uploads (`PATCH`) to answer with 503 first.
    fn start(upstream: &str, allowed: usize, unavailable: usize) -> DenyingProxy {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let host = listener.local_addr().expect("addr").to_string();
        let completed = Arc::new(Mutex::new(0usize));
        let shared = ProxyState {
            upstream: upstream.to_string(),
            host: host.clone(),
            allowed,
            completed: completed.clone(),
            unavailable: Mutex::new(unavailable),
            client: reqwest::Client::new(),
        };
        let app = axum::Router::new().fallback(forward).with_state(Arc::new(shared));
        runtime.spawn(async move { axum::serve(listener, app).await });
        DenyingProxy { host, completed, _runtime: runtime }
    }

    fn completed(&self) -> usize {
        *self.completed.lock().expect("lock")
    }
}

struct ProxyState {
    upstream: String,
    host: String,
    allowed: usize,
    completed: Arc<Mutex<usize>>,
    unavailable: Mutex<usize>,
    client: reqwest::Client,
}

async fn forward(
    axum::extract::State(state): axum::extract::State<Arc<ProxyState>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let method = request.method().as_str().to_string();
    let path = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let is_upload = path.contains("/blobs/uploads/");
    if method == "POST" && is_upload && *state.completed.lock().expect("lock") >= state.allowed {
        return axum::response::Response::builder()
            .status(403)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(r#"{"errors":[{"code":"DENIED","message":"storage quota exceeded"}]}"#))
            .expect("response");
    }
    if method == "PATCH" {
        let mut unavailable = state.unavailable.lock().expect("lock");
        if *unavailable > 0 {
            *unavailable -= 1;
            return axum::response::Response::builder()
                .status(503)
                .body(axum::body::Body::from("<html>Service Unavailable</html>"))
                .expect("response");
        }
    }
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), usize::MAX).await.unwrap_or_default();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut upstream =
        state.client.request(method.clone(), format!("http://{}{path}", state.upstream)).body(body.to_vec());
    for (name, value) in headers.iter() {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name.as_str(), value.as_bytes());
        }
    }
    let response = match upstream.send().await {
        Ok(r) => r,
        Err(e) => {
            return axum::response::Response::builder()
                .status(502)
                .body(axum::body::Body::from(e.to_string()))
                .expect("response");
        }
    };
    let status = response.status().as_u16();
    if method == reqwest::Method::PUT && is_upload && status == 201 {
        *state.completed.lock().expect("lock") += 1;
    }
    let mut builder = axum::response::Response::builder().status(status);
    for (name, value) in response.headers() {
        if name == "content-length" || name == "transfer-encoding" {
            continue;
        }
        let value = value.to_str().unwrap_or_default().replace(&state.upstream, &state.host);
        builder = builder.header(name.as_str(), value);
    }
    let bytes = response.bytes().await.unwrap_or_default();
    builder.body(axum::body::Body::from(bytes)).expect("response")
}
