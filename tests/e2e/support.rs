//! Shared helpers: running `mlops` and the Python reference scripts, comparing numbers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The diabetes data shipped in the repository.
pub fn diabetes() -> PathBuf {
    repo().join("data/diabetes.csv")
}

/// The Python interpreter of the test virtualenv. Tests that need it fail (not skip) without it.
pub fn python() -> PathBuf {
    let path =
        std::env::var_os("MLOPS_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "the test virtualenv is missing ({}): run scripts/test.sh, which installs it",
        path.display()
    );
    path
}

/// A scratch directory that is the working directory of the commands run in it.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Workspace { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `mlops` with this workspace as cwd and no tracking settings inherited from the environment.
    pub fn mlops(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlops"));
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("MLFLOW_TRACKING_URI")
            .env_remove("MLFLOW_EXPERIMENT_NAME")
            .env_remove("MLOPS_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `mlops` and returns its output, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.mlops(args).output().expect("run mlops")
    }

    /// Runs `mlops … -o json`, requires exit 0, and parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.run(&all);
        assert!(out.status.success(), "mlops {all:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("stdout is JSON")
    }

    /// Writes a file in the workspace and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, contents).expect("write file");
        path
    }
}

/// Runs one of `tests/python/*.py` with the test virtualenv; requires success and parses stdout as JSON.
pub fn python_json(script: &str, args: &[&str], stdin: Option<&str>) -> Value {
    let out = python_output(script, args, stdin);
    assert!(out.status.success(), "{script} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs a Python helper script and returns its raw output.
pub fn python_output(script: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(python())
        .arg(repo().join("tests/python").join(script))
        .args(args)
        .env("MLFLOW_ALLOW_FILE_STORE", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    if let Some(text) = stdin {
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("python output")
}

/// Asserts `actual` equals `expected` to a relative tolerance (with a tiny absolute floor near zero).
pub fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
    let tolerance = rel * expected.abs().max(1e-3);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual:?} vs scikit-learn {expected:?} (difference {:e}, tolerance {tolerance:e})",
        (actual - expected).abs()
    );
}

/// A JSON array of numbers as f64s.
pub fn floats(value: &Value) -> Vec<f64> {
    value.as_array().expect("array").iter().map(|v| v.as_f64().expect("number")).collect()
}

/// The predicted values of an `mlops predict -o json` report, in input order
/// (each row is `{"row_id": …, "prediction": …}`).
pub fn predicted(report: &Value) -> Vec<f64> {
    let rows = report["predictions"].as_array().unwrap_or_else(|| panic!("predictions in {report}"));
    rows.iter().map(|row| row["prediction"].as_f64().unwrap_or_else(|| panic!("prediction in {row}"))).collect()
}

/// stderr of a finished command, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `cmd` (program, arguments, environment and directory as set) on a pseudo-terminal
/// through util-linux `script`, requires exit 0, and returns what the terminal showed (stdout
/// and stderr together, escape sequences included).
pub fn on_a_terminal(cmd: &Command) -> String {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
    let command = std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(quote).collect::<Vec<_>>().join(" ");
    let mut script = Command::new("script");
    script
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "160")
        .stdin(Stdio::null());
    if let Some(dir) = cmd.get_current_dir() {
        script.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let out = script.output().expect("util-linux script runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{command} on a terminal failed: {text}");
    text
}
