//! `mlops pipeline watch`: a trigger per new content from a directory and from a blob container
//! (Azurite), none for rewrites or restarts, no second trigger after a crash mid-trigger, a
//! clean stop on Ctrl-C, and clear errors for bad sources and flags.

use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::servers::{azurite, azurite_connection_string};
use crate::support::{Workspace, stderr};

/// A one-step pipeline that shows the dataset version it was handed (fast: no training).
const SHOW_PIPELINE: &str = r#"name: show-data
parameters:
  dataset_name:
    default: incoming
  dataset_version:
    description: set by the watch
  data_path:
    description: set by the watch
steps:
  - name: show
    run: [data, show, "${{ parameters.dataset_name }}:${{ parameters.dataset_version }}"]
    outputs: [version, sha256]
"#;

fn workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write("show.yml", SHOW_PIPELINE);
    std::fs::create_dir_all(ws.path().join("incoming")).expect("mkdir");
    ws
}

/// The JSON lines a `--once -o json` run printed (it must exit 0).
fn once(ws: &Workspace, args: &[&str]) -> (Vec<Value>, String) {
    let out = watch(ws, args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (lines(&out), stderr(&out))
}

fn watch(ws: &Workspace, args: &[&str]) -> Output {
    let mut all = vec!["pipeline", "watch"];
    all.extend_from_slice(args);
    all.extend(["--once", "-o", "json"]);
    ws.run(&all)
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// A parameter the pipeline's parent run recorded.
fn param(ws: &Workspace, run_id: &str, key: &str) -> String {
    std::fs::read_to_string(ws.path().join("mlruns/0").join(run_id).join("params").join(key)).expect("param")
}

#[test]
fn directory_watch_triggers_once_per_new_content_across_restarts() {
    let ws = workspace();
    ws.write("incoming/a.csv", "x,y\n1,2\n");
    let (first, log) = once(&ws, &["show.yml", "--source", "incoming"]);
    assert_eq!(first.len(), 1, "{log}");
    let t = &first[0];
    assert_eq!((t["source_file"].as_str(), t["status"].as_str()), (Some("a.csv"), Some("succeeded")), "{t:#}");
    assert_eq!((t["dataset"].as_str(), t["dataset_version"].as_u64()), (Some("incoming"), Some(1)));
    assert_eq!(t["target"], "local");
    let run_id = t["run_id"].as_str().expect("run id");
    assert_eq!(param(&ws, run_id, "dataset_version"), "1");
    let copy = param(&ws, run_id, "data_path");
    assert_eq!(std::fs::read_to_string(&copy).expect("registry copy"), "x,y\n1,2\n");
    assert!(log.contains("==> new data in a.csv: dataset incoming:1"), "{log}");

    // A restart (a second --once) triggers nothing, nor does the same content rewritten or copied.
    assert!(once(&ws, &["show.yml", "--source", "incoming"]).0.is_empty());
    std::thread::sleep(Duration::from_millis(20));
    ws.write("incoming/a.csv", "x,y\n1,2\n");
    ws.write("incoming/copy-of-a.csv", "x,y\n1,2\n");
    ws.write("incoming/ignored.txt", "not data");
    ws.write("incoming/partial.csv.tmp", "x,y\n9");
    assert!(once(&ws, &["show.yml", "--source", "incoming"]).0.is_empty());

    // Changed content triggers again, with a new dataset version.
    ws.write("incoming/a.csv", "x,y\n1,2\n3,4\n");
    let (second, _) = once(&ws, &["show.yml", "--source", "incoming"]);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["dataset_version"], 2);
    assert_eq!(param(&ws, second[0]["run_id"].as_str().expect("id"), "dataset_version"), "2");
    let versions = ws.json(&["data", "show", "incoming"]);
    assert_eq!(versions["version"], 2, "one version per new content: {versions:#}");

    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path().join("mlruns-watch/show-data--incoming.json")).expect("state"),
    )
    .expect("state JSON");
    let statuses: Vec<&str> =
        state["triggers"].as_array().expect("triggers").iter().filter_map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["succeeded", "succeeded"]);
}

#[test]
fn diabetes_pipeline_on_new_files_better_then_not_better_then_failed() {
    let ws = crate::pipeline::project();
    std::fs::create_dir_all(ws.path().join("landing")).expect("mkdir");
    let data = std::fs::read_to_string(ws.path().join("data/diabetes.csv")).expect("data");
    ws.write("landing/2026-11-01.csv", &data);
    let (first, log) = once(&ws, &["pipelines/diabetes-train.yml", "--source", "landing"]);
    assert_eq!(first.len(), 1, "{log}");
    assert_eq!(first[0]["status"], "succeeded", "{:#}", first[0]);
    assert_eq!(first[0]["dataset"], "diabetes");
    assert_eq!(ws.json(&["model", "show", "diabetes-model@champion"])["version"], 1);

    // The same rows in another order: new content, a new version; this split trains a better model.
    let mut rows: Vec<&str> = data.lines().collect();
    let header = rows.remove(0);
    rows.reverse();
    ws.write("landing/2026-11-02.csv", &format!("{header}\n{}\n", rows.join("\n")));
    let (second, log) = once(&ws, &["pipelines/diabetes-train.yml", "--source", "landing"]);
    assert_eq!(second.len(), 1, "{log}");
    assert_eq!((second[0]["dataset_version"].as_u64(), second[0]["status"].as_str()), (Some(2), Some("succeeded")));
    assert_eq!(ws.json(&["model", "show", "diabetes-model@champion"])["version"], 2);

    // The first file's rows with CRLF line ends: new bytes, the first model again, which the gate
    // finds not better than the champion; the trigger line says so and the exit code stays 0.
    ws.write("landing/2026-11-03.csv", &data.replace('\n', "\r\n"));
    let (third, log) = once(&ws, &["pipelines/diabetes-train.yml", "--source", "landing"]);
    assert_eq!(third.len(), 1, "{log}");
    assert_eq!((third[0]["dataset_version"].as_u64(), third[0]["status"].as_str()), (Some(3), Some("not-better")));
    assert!(third[0]["message"].as_str().expect("message").contains("kept the champion"), "{:#}", third[0]);
    assert_eq!(ws.json(&["model", "show", "diabetes-model@champion"])["version"], 2, "the champion stays");

    // Data that fails the pipeline's check: --once exits with the pipeline's code (5), once.
    let bad = std::fs::read_to_string(ws.path().join("data/diabetes_bad_dist.csv")).expect("bad data");
    ws.write("landing/2026-11-04.csv", &bad);
    let out = watch(&ws, &["pipelines/diabetes-train.yml", "--source", "landing"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let failed = lines(&out);
    assert_eq!((failed[0]["status"].as_str(), failed[0]["exit_code"].as_i64()), (Some("failed"), Some(5)));
    assert!(failed[0]["message"].as_str().expect("message").contains("validate-data"), "{:#}", failed[0]);
    // The record names the step and its failing checks, in the JSON line and in the watch state.
    assert_eq!(failed[0]["failed_step"], "validate-data");
    let errors = failed[0]["errors"].to_string();
    assert!(
        errors.contains("mean_shift failed: column \\\"AGE\\\"") && errors.contains("std_shift failed"),
        "{errors}"
    );
    let state_dir = ws.path().join("mlruns-watch");
    let state_file = std::fs::read_dir(&state_dir).expect("state dir").next().expect("a state file").expect("entry");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(state_file.path()).expect("state")).expect("json");
    let recorded =
        state["triggers"].as_array().expect("triggers").iter().find(|t| t["status"] == "failed").expect("failed");
    assert_eq!(recorded["failure"]["step"], "validate-data");
    assert_eq!(recorded["failure"]["errors"], failed[0]["errors"]);
    assert!(once(&ws, &["pipelines/diabetes-train.yml", "--source", "landing"]).0.is_empty(), "not retried");
}

pub(crate) fn upload(cs: &str, container: &str, name: &str, body: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = crate::servers::blob_container(cs, container);
    runtime.block_on(client.create()).expect("container");
    runtime.block_on(client.upload(name, bytes::Bytes::from(body.to_string()), "text/csv")).expect("upload");
}

#[test]
fn blob_container_watch_in_azurite() {
    let ws = workspace();
    let azurite = azurite();
    let cs = azurite_connection_string(&azurite);
    upload(&cs, "landing", "diabetes/a.csv", "x,y\n1,2\n");
    upload(&cs, "landing", "other/b.csv", "x,y\n5,6\n");
    let run = |ws: &Workspace| {
        let out = ws
            .mlops(&["pipeline", "watch", "show.yml", "--source", "blob:landing", "--prefix", "diabetes/"])
            .args(["--once", "-o", "json"])
            .env("AZURE_STORAGE_CONNECTION_STRING", &cs)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        lines(&out)
    };
    let first = run(&ws);
    assert_eq!(first.len(), 1, "only blobs under the prefix: {first:?}");
    assert_eq!(first[0]["source_file"], "diabetes/a.csv");
    assert!(first[0]["source"].as_str().expect("source").ends_with("/landing/diabetes/a.csv"));
    let shown = ws.json(&["data", "show", "incoming:1"]);
    assert!(shown["original_path"].as_str().expect("origin").ends_with("/landing/diabetes/a.csv"), "{shown:#}");

    assert!(run(&ws).is_empty(), "a restart triggers nothing");
    upload(&cs, "landing", "diabetes/a.csv", "x,y\n1,2\n");
    assert!(run(&ws).is_empty(), "the same bytes uploaded again (new ETag) trigger nothing");
    upload(&cs, "landing", "diabetes/a.csv", "x,y\n1,2\n7,8\n");
    upload(&cs, "landing", "diabetes/c.csv", "x,y\n0,0\n");
    let next = run(&ws);
    assert_eq!(next.len(), 2, "{next:?}");
    let versions: Vec<u64> = next.iter().filter_map(|t| t["dataset_version"].as_u64()).collect();
    assert_eq!(versions, [2, 3]);

    // A read-and-list SAS scoped to the container, made by the official SDK, is all a watch needs.
    upload(&cs, "landing", "diabetes/d.csv", "x,y\n3,4\n");
    let sas =
        crate::support::python_json("blob_sas.py", &["rl", "landing"], None)["sas"].as_str().expect("sas").to_string();
    let out = ws
        .mlops(&["pipeline", "watch", "show.yml", "--source", &format!("{}/landing", azurite.base)])
        .args(["--prefix", "diabetes/", "--source-sas", &sas, "--once", "-o", "json"])
        .env_remove("AZURE_STORAGE_CONNECTION_STRING")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let signed = lines(&out);
    assert_eq!(signed.len(), 1, "{signed:?}");
    assert_eq!(signed[0]["source_file"], "diabetes/d.csv");
    assert!(!stderr(&out).contains("sig="), "the SAS is not echoed: {}", stderr(&out));

    // A SAS in the URL is refused (it belongs in --source-sas), an unreachable account is a remote error.
    let out = watch(&ws, &["show.yml", "--source", &format!("{}/landing?sv=1&sig=x", azurite.base)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--source-sas"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("sig=x"), "the SAS is not echoed: {}", stderr(&out));
    let port = crate::servers::free_port();
    let out = ws
        .mlops(&["pipeline", "watch", "show.yml", "--source", &format!("http://127.0.0.1:{port}/devstoreaccount1/x")])
        .args(["--once", "--source-sas", "sv=1&sig=secret"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(!stderr(&out).contains("secret"), "{}", stderr(&out));
}

#[test]
fn crash_mid_trigger_never_triggers_that_content_again() {
    let ws = workspace();
    // A step that hangs: a smoke test against a server that accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let url = format!("http://{}/score", listener.local_addr().expect("addr"));
    ws.write(
        "hang.yml",
        &format!(
            "name: show-data\nparameters:\n  dataset_name:\n    default: incoming\n  dataset_version: {{}}\nsteps:\n  \
             - name: hang\n    run: [smoke-test, --url, \"{url}\", --timeout, \"60\"]\n"
        ),
    );
    ws.write("incoming/a.csv", "x,y\n1,2\n");
    let mut child = {
        use std::os::unix::process::CommandExt;
        ws.mlops(&["pipeline", "watch", "hang.yml", "--source", "incoming", "--interval", "1"])
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start watch")
    };
    let mut reader = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    while !seen.contains("==> new data in a.csv") {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).expect("read") > 0, "watch ended early: {seen}");
        seen.push_str(&line);
    }
    // The trigger is on record before the step runs; kill everything, as a crash or `kill -9` would.
    let state = ws.path().join("mlruns-watch/show-data--incoming.json");
    let text = std::fs::read_to_string(&state).expect("state");
    assert!(text.contains("\"status\": \"started\""), "{text}");
    let group = format!("-{}", child.id());
    std::process::Command::new("kill").args(["-KILL", "--", &group]).status().expect("kill");
    let _ = child.wait();
    drop(listener);

    let out = watch(&ws, &["hang.yml", "--source", "incoming"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(lines(&out).is_empty(), "no second trigger for the same content");
    let err = stderr(&out);
    assert!(err.contains("a.csv (dataset incoming:1") && err.contains("never finished"), "{err}");
    assert!(err.contains("mlops pipeline run hang.yml --param dataset_version=1"), "{err}");
    let text = std::fs::read_to_string(&state).expect("state");
    assert!(text.contains("\"status\": \"interrupted\""), "{text}");
    let again = watch(&ws, &["hang.yml", "--source", "incoming"]);
    assert!(!stderr(&again).contains("never finished"), "reported once: {}", stderr(&again));
}

#[test]
fn long_running_watch_picks_up_new_files_survives_a_failed_poll_and_stops_on_sigterm() {
    let ws = workspace();
    let mut child = ws
        .mlops(&["pipeline", "watch", "show.yml", "--source", "incoming", "--interval", "1", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start watch");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (lines_tx, stderr_lines) = std::sync::mpsc::channel::<String>();
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let reader = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let wait_for = |needle: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Ok(line) = stderr_lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("no stderr line with {needle:?} within 60 s");
    };
    let next_trigger = |stdout: &mut BufReader<std::process::ChildStdout>| -> Value {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("a JSON line per trigger ({e}): {line:?}"))
    };
    wait_for("watching incoming");
    ws.write("incoming/late.csv", "x,y\n1,2\n");
    let first = next_trigger(&mut stdout);
    assert_eq!((first["source_file"].as_str(), first["status"].as_str()), (Some("late.csv"), Some("succeeded")));

    // The source goes away for a while: the watch reports it and carries on.
    std::fs::rename(ws.path().join("incoming"), ws.path().join("away")).expect("rename");
    let warning = wait_for("poll failed");
    assert!(warning.contains("trying again in 1s") && warning.contains("incoming"), "{warning}");
    std::fs::rename(ws.path().join("away"), ws.path().join("incoming")).expect("rename back");
    ws.write("incoming/later.csv", "x,y\n3,4\n");
    let second = next_trigger(&mut stdout);
    assert_eq!((second["source_file"].as_str(), second["dataset_version"].as_u64()), (Some("later.csv"), Some(2)));

    crate::servers::terminate_pid(child.id());
    let status = child.wait().expect("wait");
    wait_for("watch stopped: ");
    assert_eq!(status.code(), Some(0));
    let _ = reader.join();
}

#[test]
fn one_watch_per_state_and_sigint_stops_it_cleanly() {
    let ws = workspace();
    let mut child = ws
        .mlops(&["pipeline", "watch", "show.yml", "--source", "incoming", "--interval", "3600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start watch");
    let mut reader = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("read");
    assert!(line.starts_with("watching "), "{line}");
    // One watch per state: a second one (an overlapping cron run) is refused.
    let second = watch(&ws, &["show.yml", "--source", "incoming"]);
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert!(stderr(&second).contains("another `mlops pipeline watch` is running"), "{}", stderr(&second));
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let started = Instant::now();
    let code = child.wait().expect("wait").code();
    assert!(started.elapsed() < Duration::from_secs(10), "stops at once, not after the interval");
    assert_eq!(code, Some(0));
}

#[test]
fn bad_sources_and_flags_are_clear_errors() {
    let ws = workspace();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["show.yml", "--source", "missing-dir"], 6, "cannot read the watched source missing-dir"),
        (vec!["show.yml", "--source", "show.yml"], 6, "not a directory"),
        (vec!["show.yml", "--source", "blob:landing"], 2, "needs a storage connection string"),
        (vec!["show.yml", "--source", "https://acct.blob.core.windows.net/"], 2, "invalid --source"),
        (vec!["show.yml", "--source", "incoming", "--prefix", "x/"], 2, "--prefix applies to blob container"),
        (vec!["show.yml", "--source", "incoming", "--param", "dataset_version=3"], 2, "the watch sets dataset_version"),
        (vec!["show.yml", "--source", "incoming", "--param", "nope=1"], 2, "no parameter \"nope\""),
        (vec!["show.yml", "--source", "incoming", "--interval", "0"], 2, "--interval"),
        (vec!["show.yml", "--source", "incoming", "--dataset", "../up"], 2, "invalid dataset \"../up\""),
        (
            vec!["show.yml", "--source", "incoming", "--target", "azureml"],
            2,
            "\"data_path\" of pipeline \"show-data\" with `type: data`",
        ),
        (vec!["missing.yml", "--source", "incoming"], 6, "missing.yml"),
        (vec!["plain.yml", "--source", "incoming"], 2, "has no parameter \"dataset_version\" or \"data_path\""),
        (vec!["nodefault.yml", "--source", "incoming"], 2, "pass --dataset NAME"),
    ];
    ws.write("plain.yml", "name: p\nsteps:\n  - name: a\n    run: [data, list]\n");
    ws.write(
        "nodefault.yml",
        "name: p\nparameters:\n  dataset_version: {}\nsteps:\n  - name: a\n    run: [data, list]\n",
    );
    ws.write("incoming/a.csv", "x\n1\n");
    for (args, code, expected) in cases {
        let out = watch(&ws, &args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}: nothing triggered");
    }
    assert!(!ws.path().join("mlruns-datasets").exists(), "nothing was registered");
}
