//! What an online deployment runs: the model's files fetched from the workspace's datastore,
//! `mlops serve` on them until Azure's readiness probe passes, its provisioning state and logs.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::deployment_checks::{asset_id, iso_duration};
use super::endpoints::Scope;
use super::{Reply, State};

/// What a deployment's run has got to, shared with the thread that drives it.
#[derive(Default)]
struct Shared {
    phase: Option<&'static str>,
    failure: Option<String>,
    port: Option<u16>,
    storage_log: String,
    server_log: String,
    child: Option<Child>,
}

/// A deployment's lifecycle: the model's files downloaded (the StorageInitializer log), then
/// `mlops serve` on a free port (the InferenceServer log) until its readiness probe passes
/// (Succeeded) or it exits or never gets ready (Failed). Dropping it kills the server.
pub struct Run {
    /// The port its server is given.
    pub listen_port: u16,
    /// Where its server scores (the environment's `inferenceConfig.scoringRoute`, or `/score`).
    pub scoring_path: String,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    _dir: Option<tempfile::TempDir>,
}

impl Run {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> &'static str {
        self.lock().phase.unwrap_or("Creating")
    }

    pub fn failure(&self) -> Option<String> {
        self.lock().failure.clone()
    }

    /// The port of a ready server.
    pub fn port(&self) -> Option<u16> {
        let shared = self.lock();
        (shared.phase == Some("Succeeded")).then_some(shared.port).flatten()
    }

    /// The log of one container (`InferenceServer`, `StorageInitializer`).
    pub fn log(&self, container: &str) -> Option<String> {
        let shared = self.lock();
        match container {
            "InferenceServer" => Some(shared.server_log.clone()),
            "StorageInitializer" => Some(shared.storage_log.clone()),
            _ => None,
        }
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(mut child) = self.lock().child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.stop();
    }
}

impl super::StandIn {
    /// Puts a model directory's files in the workspace's artifact datastore (Azurite, after
    /// [`serve_artifacts`](super::StandIn::serve_artifacts)) and records them as the
    /// `mlflow_model` asset `<name>:<version>`, as a registration would. Returns its ARM id.
    pub fn upload_model(&self, scope: (&str, &str), name: &str, version: &str, dir: &std::path::Path) -> String {
        let (group, workspace) = scope;
        let client = super::history::container_client(&self.state()).expect("serve_artifacts first");
        let prefix = format!("models/{name}/{version}");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut pending = vec![dir.to_path_buf()];
        while let Some(current) = pending.pop() {
            for entry in std::fs::read_dir(&current).expect("model dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let relative = path.strip_prefix(dir).expect("inside").to_string_lossy().replace('\\', "/");
                let bytes = std::fs::read(&path).expect("model file");
                runtime
                    .block_on(client.upload(&format!("{prefix}/{relative}"), bytes.into(), "application/octet-stream"))
                    .expect("upload a model file");
            }
        }
        let sub = super::SUBSCRIPTION;
        let uri = format!(
            "azureml://subscriptions/{sub}/resourcegroups/{group}/workspaces/{workspace}/datastores/workspaceartifactstore/paths/{prefix}"
        );
        self.state().aml.record_mlflow_model((sub, group, workspace), name, version, &uri, json!({}));
        format!(
            "/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.MachineLearningServices/workspaces/{workspace}/models/{name}/versions/{version}"
        )
    }
}

impl super::StandIn {
    /// The port of every deployment server started, for tests that check none is left.
    pub fn deployment_ports(&self) -> Vec<u16> {
        self.state().online.served.clone()
    }

    /// The port of a ready deployment's `mlops serve`, for tests that look behind the endpoint.
    pub fn deployment_port(&self, endpoint: &str, deployment: &str) -> Option<u16> {
        let s = self.state();
        let e = s.online.endpoints.values().find(|e| e.name == endpoint)?;
        e.deployments.get(&deployment.to_ascii_lowercase())?.run.port()
    }
}

/// What the thread of one run needs.
struct Job {
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    mlops: Option<PathBuf>,
    blobs: Option<mlops::azure::blob::BlobContainerClient>,
    model_uri: String,
    dir: PathBuf,
    port: u16,
    probe: Probe,
    /// The environment's image, for custom-container deployments.
    image: Option<Result<super::container::Image, String>>,
    inference: Value,
    readiness_path: String,
}

struct Probe {
    initial_delay: Duration,
    period: Duration,
    timeout: Duration,
    failure_threshold: u64,
}

/// Starts a deployment's run on a thread of its own; `properties` are checked already.
pub fn start(state: &State, _scope: &Scope, _name: &str, properties: &Value) -> Result<Run, Reply> {
    let model = properties["model"].as_str().and_then(|id| asset_id(id, "models"));
    let model_uri = model
        .and_then(|(n, v)| state.aml.version("models", n, v))
        .and_then(|m| m["properties"]["modelUri"].as_str().map(str::to_string))
        .unwrap_or_default();
    let readiness = &properties["readinessProbe"];
    let duration = |field: &str| iso_duration(readiness[field].as_str().unwrap_or_default()).unwrap_or_default();
    let probe = Probe {
        initial_delay: duration("initialDelay"),
        period: duration("period"),
        timeout: duration("timeout"),
        failure_threshold: readiness["failureThreshold"].as_u64().unwrap_or(30).max(1),
    };
    let environment = properties["environmentId"]
        .as_str()
        .and_then(|id| asset_id(id, "environments"))
        .and_then(|(n, v)| state.aml.version("environments", n, v));
    let image = environment.as_ref().map(|e| match e["properties"]["image"].as_str() {
        Some(reference) => super::container::pull(state, reference),
        None => Err("the environment has no image".to_string()),
    });
    let inference = environment.map(|e| e["properties"]["inferenceConfig"].clone()).unwrap_or(Value::Null);
    let route = |name: &str, default: &str| inference[name]["path"].as_str().unwrap_or(default).to_string();
    let (readiness_path, scoring_path) = (route("readinessRoute", "/ready"), route("scoringRoute", "/score"));
    let internal = |e: std::io::Error| Reply::arm_error(500, "InternalServerError", &e.to_string());
    let dir = tempfile::tempdir().map_err(internal)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(internal)?.port();
    let shared = Arc::new(Mutex::new(Shared::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let job = Job {
        shared: shared.clone(),
        stop: stop.clone(),
        mlops: state.online.mlops.clone(),
        blobs: super::history::container_client(state),
        model_uri,
        dir: dir.path().to_path_buf(),
        port,
        probe,
        image,
        inference,
        readiness_path,
    };
    std::thread::spawn(move || job.run());
    Ok(Run { listen_port: port, scoring_path, shared, stop, _dir: Some(dir) })
}

impl Job {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fail(&self, message: String) {
        let mut shared = self.lock();
        if let Some(mut child) = shared.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        shared.phase = Some("Failed");
        shared.failure = Some(message);
    }

    fn run(self) {
        let model_dir = self.dir.join("model");
        // A custom container may come without a model; a no-code deployment always has one.
        if (!self.model_uri.is_empty() || self.image.is_none())
            && let Err(message) = self.download(&model_dir)
        {
            self.lock().storage_log.push_str(&format!("error: {message}\n"));
            return self.fail(format!("The storage initializer failed: {message}"));
        }
        let port = self.port;
        let mut command = match &self.image {
            Some(Err(message)) => {
                self.lock().storage_log.push_str(&format!("error: pulling the image failed: {message}\n"));
                return self.fail(format!("The image could not be pulled: {message}"));
            }
            Some(Ok(image)) => {
                self.lock().storage_log.push_str(&format!("Pulled image {}\n", image.reference));
                let root = self.dir.join("rootfs");
                let command = image.unpack(&root).and_then(|()| image.command(&root, port, &self.inference));
                match command {
                    Ok(mut command) => {
                        if !self.model_uri.is_empty() {
                            command.env("AZUREML_MODEL_DIR", &model_dir);
                        }
                        command
                    }
                    Err(message) => {
                        self.lock().server_log.push_str(&format!("error: {message}\n"));
                        return self.fail(format!("The container cannot start: {message}"));
                    }
                }
            }
            None => {
                let Some(mlops) = self.mlops.clone() else {
                    return self.fail("the stand-in was started without an mlops binary to serve models with".into());
                };
                let mut command = Command::new(mlops);
                command.args(["serve", "--model"]).arg(&model_dir).args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                ]);
                command
            }
        };
        let spawned = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return self.fail(format!("cannot start {:?}: {e}", command.get_program())),
        };
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let shared = self.shared.clone();
            std::thread::spawn(move || pump(stream, &shared));
        }
        {
            let mut shared = self.lock();
            shared.port = Some(port);
            if self.stop.load(Ordering::SeqCst) {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            shared.child = Some(child);
        }
        self.probe(port);
    }

    /// Copies the blobs below the model's datastore path into `dest`, logging each.
    fn download(&self, dest: &std::path::Path) -> Result<(), String> {
        let prefix = match self.model_uri.split_once("/paths/") {
            Some((_, path)) => format!("{}/", path.trim_end_matches('/')),
            None => return Err(format!("the model's URI {:?} names no datastore path", self.model_uri)),
        };
        let Some(blobs) = &self.blobs else {
            return Err("the workspace has no blob storage (serve_artifacts was not called)".into());
        };
        self.lock().storage_log.push_str(&format!("Downloading model files from {}\n", self.model_uri));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let items = runtime.block_on(blobs.list_blobs(&prefix)).map_err(|e| e.to_string())?;
        if items.is_empty() {
            return Err(format!("no files under {prefix}"));
        }
        for item in items {
            let relative = item.name[prefix.len()..].to_string();
            let bytes = runtime.block_on(blobs.download(&item.name)).map_err(|e| e.to_string())?;
            let path = dest.join(&relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            self.lock().storage_log.push_str(&format!("Downloaded {relative} ({} bytes)\n", bytes.len()));
        }
        self.lock().storage_log.push_str("Model files ready\n");
        Ok(())
    }

    /// Azure's readiness probe: after `initialDelay`, a GET every `period`; ready on the first
    /// success, failed after `failureThreshold` failures in a row or when the server exits.
    fn probe(&self, port: u16) {
        let client = match reqwest::blocking::Client::builder()
            .timeout(self.probe.timeout.max(Duration::from_millis(100)))
            .build()
        {
            Ok(c) => c,
            Err(e) => return self.fail(format!("cannot build the probe client: {e}")),
        };
        let wait = |d: Duration| {
            let until = Instant::now() + d;
            while Instant::now() < until {
                if self.stop.load(Ordering::SeqCst) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(20).min(until.saturating_duration_since(Instant::now())));
            }
            !self.stop.load(Ordering::SeqCst)
        };
        if !wait(self.probe.initial_delay) {
            return;
        }
        let mut failures = 0;
        loop {
            let exited = self.lock().child.as_mut().map(|c| c.try_wait());
            match exited {
                Some(Ok(Some(status))) => {
                    return self.fail(format!(
                        "The inference server exited ({status}) before it was ready; see its log with getLogs"
                    ));
                }
                None => return,
                _ => {}
            }
            let ready = client
                .get(format!("http://127.0.0.1:{port}{}", self.readiness_path))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if ready {
                self.lock().phase = Some("Succeeded");
                return;
            }
            failures += 1;
            if failures >= self.probe.failure_threshold {
                return self.fail(format!("The readiness probe failed {failures} times in a row"));
            }
            if !wait(self.probe.period) {
                return;
            }
        }
    }
}

/// Appends a server's output to its log as it comes.
fn pump(mut stream: Box<dyn std::io::Read + Send>, shared: &Mutex<Shared>) {
    let mut buffer = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            // A signal (another test's child exiting) is not the end of the output.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
        shared.lock().unwrap_or_else(|p| p.into_inner()).server_log.push_str(&text);
    }
}
