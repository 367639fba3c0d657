//! A real `mlflow server` from the test virtualenv, on a free 127.0.0.1 port, stopped on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::python;

/// A running MLflow tracking server with a SQLite backend and proxied artifacts.
pub struct MlflowServer {
    child: Child,
    pub uri: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl MlflowServer {
    /// One server shared by the tests that can share it (each uses its own experiments and
    /// workspace). Its watchdog stops it when the test process exits.
    pub fn shared() -> &'static MlflowServer {
        static SHARED: OnceLock<MlflowServer> = OnceLock::new();
        SHARED.get_or_init(|| Self::start_with(&[], &[]))
    }

    /// The same with extra arguments and environment (e.g. `--app-name basic-auth`).
    pub fn start_with(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut args = vec![
            "server".to_string(),
            "--backend-store-uri".to_string(),
            format!("sqlite:///{}/mlflow.db", dir.path().display()),
            "--artifacts-destination".to_string(),
            dir.path().join("artifacts").display().to_string(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let cwd = dir.path().to_path_buf();
        Self::spawn(dir, &cwd, &args, env)
    }

    /// `mlflow ui --backend-store-uri ./mlruns` run in `cwd`, as the README's users start it.
    pub fn ui_on_mlruns(cwd: &std::path::Path) -> Self {
        let args = ["ui", "--backend-store-uri", "./mlruns"].map(String::from);
        Self::spawn(tempfile::tempdir().expect("temp dir"), cwd, &args, &[])
    }

    /// Runs `mlflow <args>` in `cwd` on a free port; `dir` holds the log.
    fn spawn(dir: tempfile::TempDir, cwd: &std::path::Path, args: &[String], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let bin: PathBuf = python().parent().expect("venv bin").to_path_buf();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        // A shell leads the process group: it runs the server and, as a watchdog, takes the
        // whole group down once the test process is gone (statics are never dropped): SIGTERM
        // (which the shell itself ignores by then), and SIGKILL to whatever is left 10 s later.
        let script = r#"mlflow "$@" & server=$!
while kill -0 "$MLOPS_TEST_PARENT" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 1; done
trap '' TERM
kill -TERM -$$
sleep 10
kill -KILL -$$"#;
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script, "mlflow-server"])
            .args(args)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--workers", "1"])
            .env("MLOPS_TEST_PARENT", std::process::id().to_string())
            .current_dir(cwd)
            .env("PATH", path)
            .env("MLFLOW_ALLOW_FILE_STORE", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("start mlflow server");
        let mut server = MlflowServer { child, uri: format!("http://127.0.0.1:{port}"), port, dir };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                panic!("mlflow server exited ({status}) before answering:\n{log}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let ok = Command::new("curl")
                    .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("{}/health", self.uri)])
                    .output()
                    .map(|o| !o.stdout.is_empty() && o.stdout != b"000")
                    .unwrap_or(false);
                if ok {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        panic!("mlflow server did not start within 300 s:\n{log}");
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        // The server forks workers: stop the whole process group.
        crate::servers::stop_group(&mut self.child);
    }
}
