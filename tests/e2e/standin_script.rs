//! `scripts/azure-standin --state DIR`: the stand-in as a process of its own. The JSON line it
//! prints is all `mlops` and the official azureml-mlflow plugin need to sign in and use it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Workspace, diabetes, repo, stderr};

/// The script's process group, stopped (SIGTERM) when dropped.
struct Script(std::process::Child);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-s", "TERM", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.wait();
    }
}

#[test]
fn the_standin_script_prints_one_line_that_signs_mlops_and_the_plugin_in() {
    let state = tempfile::tempdir().expect("state dir");
    let mut command = Command::new(repo().join("scripts/azure-standin"));
    command.arg("--state").arg(state.path()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut script = Script(command.spawn().expect("start scripts/azure-standin"));
    let stdout = script.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        // Anything more on stdout breaks the one-line contract.
        let _ = tx.send(lines.next());
    });
    // The first run may compile the stand-in: a generous deadline.
    let line = rx.recv_timeout(Duration::from_secs(900)).expect("a line within 15 minutes");
    let line = line.expect("stdout open").expect("read line");
    let ready: Value = serde_json::from_str(&line).expect("one JSON line");
    for key in ["tracking_uri", "subscription", "resource_group", "workspace"] {
        assert!(ready[key].is_string(), "{key}: {ready}");
    }
    let env: Vec<(String, String)> = ready["env"]
        .as_object()
        .expect("env")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_string()))
        .collect();
    let uri = ready["tracking_uri"].as_str().expect("uri");

    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    let mlops = |args: &[&str]| {
        let mut cmd = ws.mlops(args);
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let out = cmd.output().expect("run mlops");
        assert!(out.status.success(), "mlops {args:?}: {}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON")
    };
    let trained = mlops(&["train", "--data", &data, "--tracking-uri", uri, "-o", "json"]);
    assert_eq!(trained["sync"]["artifacts"]["state"], "uploaded", "{trained}");
    let run_id = trained["run_id"].as_str().expect("run id");
    mlops(&["model", "register", "--run-id", run_id, "--name", "diabetes", "--tracking-uri", uri, "-o", "json"]);

    let python = std::env::var_os("MLOPS_TEST_AZUREML_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-azureml/bin/python"));
    let dest = ws.path().join("plugin");
    let out = Command::new(python)
        .arg(repo().join("tests/python/azureml_mlflow_conformance.py"))
        .args(["read", run_id, "models:/diabetes/1", &data, &dest.display().to_string()])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("MLFLOW_TRACKING_URI", uri)
        .output()
        .expect("run the plugin");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let seen: Value = serde_json::from_str(text.lines().last().unwrap_or_default()).expect("JSON");
    assert_eq!(seen["predictions"].as_array().map(Vec::len), Some(442));
    assert!(seen["files"].as_object().is_some_and(|f| f.keys().any(|k| k.ends_with("MLmodel"))), "{seen}");

    drop(script);
    assert!(matches!(rx.recv_timeout(Duration::from_secs(60)), Ok(None) | Err(_)), "more than one line on stdout");
}
