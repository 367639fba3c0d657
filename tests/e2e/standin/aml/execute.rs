//! Pipeline jobs that really run: with an executor set ([`super::super::StandIn::execute_jobs`]),
//! a submitted pipeline job's steps run one after another (dependency order) on this machine, as
//! an Azure ML compute runs them: each component's command through `sh -c` in an empty working
//! directory, `${{inputs.X}}` replaced by the job's literal values or by the path of a `uri_file`
//! input downloaded from the stand-in's datastore (Azurite), `${{outputs.result}}` by a folder that
//! is uploaded to the datastore (`azureml/{job}/{step}/result/…`) when the step ends. The job is
//! Running while steps run and Completed or Failed by their exit codes, not by a clock; a cancel (or
//! the stand-in stopping) kills the running step and starts no other.
//!
//! Still simulated: the compute (no container image: `mlops` comes from the test's build via
//! `PATH`), the mount (a download), and the compute's storage access (each step gets the datastore's
//! connection string as `AZURE_STORAGE_CONNECTION_STRING`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The container the workspace's datastores point at (the stand-in's artifact container).
const DATASTORE_CONTAINER: &str = super::super::history::CONTAINER;
/// The longest one step may take before it is killed and the job fails.
const STEP_LIMIT: Duration = Duration::from_secs(300);

/// How steps are run: the `mlops` binary and the Azurite account behind the datastores.
#[derive(Debug, Clone)]
pub struct Executor {
    pub bin: PathBuf,
    /// `http://127.0.0.1:<port>/devstoreaccount1`.
    pub azurite: String,
}

/// One step to run: its node name, its component's command and its input bindings.
pub struct StepSpec {
    pub name: String,
    pub command: String,
    pub inputs: Vec<(String, String)>,
}

/// A running or finished execution, shared with the thread that runs it.
#[derive(Debug, Default)]
pub struct Execution {
    /// `Running`, `Completed` or `Failed`.
    pub status: String,
    /// Each step that ran, with its exit code and the tail of its stderr.
    pub steps: Vec<(String, Option<i32>, String)>,
    pub error: Option<String>,
    /// Set by a cancel or when the stand-in stops: the running step is killed, no other starts.
    pub cancel: bool,
}

/// Starts running `steps` (in order) of job `job` on a thread; the returned cell follows it.
pub fn start(executor: &Executor, job: &str, job_inputs: &Value, steps: Vec<StepSpec>) -> Arc<Mutex<Execution>> {
    let cell = Arc::new(Mutex::new(Execution { status: "Running".to_string(), ..Execution::default() }));
    let (executor, job, job_inputs, shared) = (executor.clone(), job.to_string(), job_inputs.clone(), cell.clone());
    std::thread::spawn(move || {
        let outcome = run_all(&executor, &job, &job_inputs, &steps, &shared);
        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(()) => state.status = "Completed".to_string(),
            Err(message) => {
                state.status = "Failed".to_string();
                state.error = Some(message);
            }
        }
    });
    cell
}

fn run_all(
    executor: &Executor,
    job: &str,
    job_inputs: &Value,
    steps: &[StepSpec],
    shared: &Mutex<Execution>,
) -> Result<(), String> {
    let root = tempfile::tempdir().map_err(|e| format!("no scratch directory: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let container = container_client(&executor.azurite, DATASTORE_CONTAINER);
    let outputs = root.path().join("outputs");
    for step in steps {
        if shared.lock().unwrap_or_else(|e| e.into_inner()).cancel {
            return Err("canceled".to_string());
        }
        let work = root.path().join("work").join(&step.name);
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        let mut command = step.command.clone();
        for (input, binding) in &step.inputs {
            let value = if let Some(param) =
                binding.strip_prefix("${{parent.inputs.").and_then(|b| b.strip_suffix("}}"))
            {
                let input = &job_inputs[param];
                match input["jobInputType"].as_str() {
                    Some("uri_file") => {
                        let uri = input["uri"].as_str().unwrap_or_default();
                        let path = root.path().join("inputs").join(param).join(file_name(uri));
                        runtime.block_on(download(&container, executor, uri, &path))?;
                        path.display().to_string()
                    }
                    _ => input["value"].as_str().unwrap_or_default().to_string(),
                }
            } else if let Some(upstream) = binding.strip_prefix("${{parent.jobs.").and_then(|b| b.split('.').next()) {
                outputs.join(upstream).display().to_string()
            } else {
                binding.clone()
            };
            command = command.replace(&format!("${{{{inputs.{input}}}}}"), &value);
        }
        let result = outputs.join(&step.name);
        std::fs::create_dir_all(&result).map_err(|e| e.to_string())?;
        command = command.replace("${{outputs.result}}", &result.display().to_string());
        let (code, tail) = run_step(executor, &command, &work, shared)?;
        shared.lock().unwrap_or_else(|e| e.into_inner()).steps.push((step.name.clone(), code, tail.clone()));
        for entry in std::fs::read_dir(&result).map_err(|e| e.to_string())? {
            let path = entry.map_err(|e| e.to_string())?.path();
            let name = format!("azureml/{job}/{}/result/{}", step.name, file_name(&path.display().to_string()));
            runtime
                .block_on(container.upload_file(&name, &path, "application/octet-stream"))
                .map_err(|e| format!("uploading {name}: {e}"))?;
        }
        if code != Some(0) {
            return Err(format!("step {} exited with {code:?}: {tail}", step.name));
        }
    }
    Ok(())
}

/// Runs one step's command, killed if it outlives [`STEP_LIMIT`]; its exit code and stderr tail.
fn run_step(
    executor: &Executor,
    command: &str,
    work: &Path,
    shared: &Mutex<Execution>,
) -> Result<(Option<i32>, String), String> {
    let bin_dir = executor.bin.parent().unwrap_or(Path::new("/"));
    let stderr_path = work.join("stderr.txt");
    let stderr = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
    let child = Command::new("sh")
        .args(["-c", command])
        .current_dir(work)
        .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
        .env("AZURE_STORAGE_CONNECTION_STRING", connection_string(&executor.azurite))
        .env_remove("MLFLOW_TRACKING_URI")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start sh: {e}"))?;
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + STEP_LIMIT;
    let code = loop {
        if let Some(status) = child.0.try_wait().map_err(|e| e.to_string())? {
            break status.code();
        }
        if shared.lock().unwrap_or_else(|e| e.into_inner()).cancel {
            return Err("canceled".to_string());
        }
        if Instant::now() > deadline {
            return Err(format!("the step ran longer than {STEP_LIMIT:?} and was killed: {command}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let tail: String = text.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    Ok((code, tail))
}

/// A step's process, killed if the executor gives up on it (or the test ends) first.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Downloads a `uri_file` input: `azureml://datastores/{name}/paths/{path}` or a URL in the Azurite
/// account; other URIs are not in this stand-in's storage.
async fn download(
    container: &mlops::azure::blob::BlobContainerClient,
    executor: &Executor,
    uri: &str,
    path: &Path,
) -> Result<(), String> {
    let bytes = if let Some(rest) = uri.strip_prefix("azureml://datastores/") {
        let (store, blob) = rest.split_once("/paths/").ok_or_else(|| format!("not a datastore path: {uri}"))?;
        if !matches!(store, "workspaceblobstore" | "workspaceartifactstore") {
            return Err(format!("datastore {store} does not exist"));
        }
        container.download(blob).await.map_err(|e| format!("downloading {uri}: {e}"))?
    } else if let Some(rest) = uri.strip_prefix(&format!("{}/", executor.azurite)) {
        let (name, blob) = rest.split_once('/').ok_or_else(|| format!("no blob in {uri}"))?;
        container_client(&executor.azurite, name).download(blob).await.map_err(|e| format!("downloading {uri}: {e}"))?
    } else {
        return Err(format!("the stand-in cannot read {uri}: only its datastores and Azurite URLs"));
    };
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(|e| e.to_string())?;
    std::fs::write(path, &bytes).map_err(|e| e.to_string())
}

fn file_name(uri: &str) -> String {
    uri.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("input").to_string()
}

/// A shared-key client for one container of the Azurite account.
fn container_client(azurite: &str, container: &str) -> mlops::azure::blob::BlobContainerClient {
    let credential = mlops::azure::blob::BlobCredential::SharedKey {
        account: super::super::history::ACCOUNT.to_string(),
        key: mlops::secret::Secret::new(super::super::history::ACCOUNT_KEY),
    };
    mlops::azure::blob::BlobContainerClient::new(&format!("{azurite}/{container}"), credential, None)
        .expect("an Azurite container URL")
}

fn connection_string(azurite: &str) -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint={azurite}",
        super::super::history::ACCOUNT,
        super::super::history::ACCOUNT_KEY
    )
}

impl super::super::StandIn {
    /// From now on, submitted pipeline jobs run their steps with `bin` (the test's `mlops`), their
    /// `uri_file` inputs and outputs in the datastores kept in the Azurite at `azurite`.
    pub fn execute_jobs(&self, bin: &Path, azurite: &str) {
        self.state().aml.executor =
            Some(Executor { bin: bin.to_path_buf(), azurite: azurite.trim_end_matches('/').to_string() });
    }
}

/// When the stand-in stops, running steps are killed rather than left behind.
impl Drop for super::AmlState {
    fn drop(&mut self) {
        for execution in self.jobs.values().filter_map(|job| job.execution.as_ref()) {
            execution.lock().unwrap_or_else(|e| e.into_inner()).cancel = true;
        }
    }
}

/// Starts a pipeline job's steps when an executor is set; `None` (a simulated job) otherwise.
pub(super) fn start_pipeline_job(
    aml: &super::AmlState,
    job: &str,
    properties: &Value,
) -> Option<Arc<Mutex<Execution>>> {
    let executor = aml.executor.as_ref()?;
    if properties.get("jobType").and_then(Value::as_str) != Some("Pipeline") {
        return None;
    }
    let steps = super::step_order(properties)
        .into_iter()
        .map(|name| {
            let node = &properties["jobs"][&name];
            // `…/components/{name}/versions/{version}`, published before the job was submitted.
            let id = node["componentId"].as_str().unwrap_or_default();
            let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
            let component = match parts.as_slice() {
                [.., component, "versions", version] => aml.version("components", component, version),
                _ => None,
            };
            let command = component
                .and_then(|c| {
                    c.pointer("/properties/componentSpec/command").and_then(Value::as_str).map(str::to_string)
                })
                .unwrap_or_else(|| format!("echo 'component {id} was not found' >&2; exit 1"));
            let inputs = node["inputs"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v["value"].as_str().unwrap_or_default().to_string()))
                .collect();
            StepSpec { name, command, inputs }
        })
        .collect();
    Some(start(executor, job, &properties["inputs"], steps))
}
