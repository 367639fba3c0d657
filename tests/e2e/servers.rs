//! Long-running peers of the serving tests: `mlops serve`, `mlflow models serve`, Azurite and a
//! stand-in Azure ML endpoint, each on a free 127.0.0.1 port and stopped when dropped.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::{Workspace, python, repo};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// Sends SIGTERM to a process.
pub fn terminate_pid(pid: u32) {
    let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -TERM {pid} failed");
}

/// Waits up to `limit` for a child to exit.
fn wait_with_limit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `mlops serve`.
pub struct MlopsServer {
    child: Option<Child>,
    pub base: String,
    stderr: Option<JoinHandle<String>>,
    first_stderr: String,
}

impl MlopsServer {
    /// Starts `mlops serve --port 0 ARGS` in `ws` and waits for "listening on".
    pub fn start(ws: &Workspace, args: &[&str]) -> Self {
        Self::start_with_env(ws, args, &[])
    }

    pub fn start_with_env(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all = vec!["serve"];
        if !args.contains(&"--port") {
            all.extend(["--port", "0"]);
        }
        all.extend_from_slice(args);
        all.extend(["-o", "json"]);
        let mut cmd = ws.mlops(&all);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start mlops serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut reader = BufReader::new(stderr);
        let mut first = String::new();
        let base = loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).expect("read stderr");
            first.push_str(&line);
            if n == 0 {
                let status = child.wait().expect("wait");
                panic!("mlops serve exited ({status}) before listening:\n{first}");
            }
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().expect("address").to_string();
            }
        };
        let stderr = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest);
            rest
        });
        MlopsServer { child: Some(child), base, stderr: Some(stderr), first_stderr: first }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, then the exit status, stdout (the JSON summary) and all of stderr.
    pub fn stop(self) -> (Output, serde_json::Value) {
        terminate_pid(self.pid());
        self.stop_after_signal()
    }

    /// Waits for a server already sent SIGTERM; as [`MlopsServer::stop`].
    pub fn stop_after_signal(mut self) -> (Output, serde_json::Value) {
        let mut child = self.child.take().expect("running");
        let status = wait_with_limit(&mut child, Duration::from_secs(60));
        let mut stdout = Vec::new();
        if let Some(mut out) = child.stdout.take() {
            out.read_to_end(&mut stdout).expect("stdout");
        }
        let rest = self.stderr.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        let stderr = format!("{}{rest}", self.first_stderr).into_bytes();
        let summary = serde_json::from_slice(&stdout).unwrap_or_else(|e| {
            panic!(
                "mlops serve printed no JSON summary ({e}): {}\nstderr: {}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            )
        });
        (Output { status, stdout, stderr }, summary)
    }
}

impl Drop for MlopsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A child process killed (with its process group) when dropped.
pub struct Peer {
    child: Child,
    pub base: String,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        // The peers start subprocesses (mlflow runs uvicorn); each was made a group leader.
        stop_group(&mut self.child);
    }
}

/// Stops the process group `child` leads: SIGTERM to the group, up to 10 s for every member to go
/// (the leader is reaped on the way, as a zombie would keep the group alive), then SIGKILL to what
/// is left. Waiting on the leader alone is not enough: mlflow's job runners can outlive it.
pub fn stop_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let signal = |sig: &str| {
        Command::new("kill").args([sig, "--", &group]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    };
    signal("-TERM");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let _ = child.try_wait();
        if !signal("-0") {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal("-KILL");
    let _ = child.wait();
}

fn spawn_group(cmd: &mut Command) -> Child {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0).spawn().expect("start peer")
}

/// Polls `url` with GET until it answers with any HTTP status, or panics after `limit`.
pub fn wait_for_http(url: &str, limit: Duration, child: &mut Child) {
    let start = Instant::now();
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    loop {
        if client.get(url).send().is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{url}: the server exited ({status}) before answering");
        }
        assert!(start.elapsed() < limit, "{url} did not answer within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `mlflow models serve --env-manager local` on a model directory.
pub fn mlflow_models_serve(model: &Path) -> Peer {
    let port = free_port();
    let venv_bin = python().parent().expect("venv bin").to_path_buf();
    let path = format!("{}:{}", venv_bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut child = spawn_group(
        Command::new(venv_bin.join("mlflow"))
            .args(["models", "serve", "--env-manager", "local", "-h", "127.0.0.1"])
            .args(["-p", &port.to_string(), "-m"])
            .arg(model)
            .env("PATH", path)
            .env("MLFLOW_ALLOW_FILE_STORE", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_for_http(&format!("{base}/ping"), Duration::from_secs(180), &mut child);
    Peer { child, base, _dir: None }
}

/// The Azurite blob service (installed by scripts/test.sh), in a scratch directory.
pub fn azurite() -> Peer {
    let bin = std::env::var_os("MLOPS_TEST_AZURITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".test-tools/node_modules/.bin/azurite-blob"));
    assert!(bin.exists(), "Azurite is missing ({}): run scripts/test.sh, which installs it", bin.display());
    let dir = tempfile::tempdir().expect("azurite dir");
    let port = free_port();
    let mut child = spawn_group(
        Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--skipApiVersionCheck", "--loose", "--inMemoryPersistence"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let base = format!("http://127.0.0.1:{port}/devstoreaccount1");
    wait_for_http(&base, Duration::from_secs(60), &mut child);
    Peer { child, base, _dir: Some(dir) }
}

/// The connection string of an Azurite peer.
pub fn azurite_connection_string(azurite: &Peer) -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint={}",
        azurite.base
    )
}

/// A client for one container of the storage account in connection string `cs` (Azurite's).
pub fn blob_container(cs: &str, container: &str) -> mlops::azure::blob::BlobContainerClient {
    let connection = mlops::azure::blob::ConnectionString::parse(&mlops::secret::Secret::new(cs)).expect("cs");
    mlops::azure::blob::BlobContainerClient::new(
        &format!("{}/{container}", connection.blob_endpoint),
        connection.credential,
        None,
    )
    .expect("client")
}

/// `tests/python/aml_like_endpoint.py PORT KEY MODE`.
pub fn aml_like_endpoint(key: &str, mode: &str) -> Peer {
    let port = free_port();
    let mut child = spawn_group(
        Command::new(python())
            .arg(repo().join("tests/python/aml_like_endpoint.py"))
            .args([&port.to_string(), key, mode])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "listening", "the stand-in endpoint did not start");
    Peer { child, base: format!("http://127.0.0.1:{port}"), _dir: None }
}
