//! Tracking to a real `mlflow server`: what the Python client sees, offline-first journaling,
//! resumable sync, retries, batching limits and authentication.

use std::process::Output;

use serde_json::Value;

use crate::fault_proxy::{FaultProxy, Mode};
use crate::mlflow_server::{MlflowServer, free_port};
use crate::support::{Workspace, assert_close, diabetes, floats, predicted, python_json, stderr};

/// Fast retries, so that fault tests do not wait MLflow's default minutes.
const FAST_RETRIES: [(&str, &str); 2] =
    [("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"), ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.05")];

fn train_to(ws: &Workspace, uri: &str, extra_env: &[(&str, &str)], args: &[&str]) -> Output {
    let data = diabetes().display().to_string();
    let mut all = vec!["train", "--data", data.as_str(), "--tracking-uri", uri, "-o", "json"];
    all.extend(args);
    let mut cmd = ws.mlops(&all);
    for (k, v) in FAST_RETRIES.iter().chain(extra_env) {
        cmd.env(k, v);
    }
    cmd.output().expect("run mlops")
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "mlops failed: {}", stderr(out));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn read_remote(uri: &str, run_id: &str) -> Value {
    python_json("read_store.py", &[uri, run_id], None)
}

/// Every local run's server twin (by `mlops.source_run_id`): exactly one, with exactly the local points.
fn assert_no_duplicates(server: &MlflowServer, ws: &Workspace) {
    let local = ws.json(&["runs", "list"]);
    for run in local["runs"].as_array().expect("runs") {
        let local_id = run["info"]["run_id"].as_str().expect("id");
        let filter = format!("tags.`mlops.source_run_id` = '{local_id}'");
        let remote = ws.json(&["runs", "list", "--tracking-uri", &server.uri, "--filter", &filter]);
        let twins = remote["runs"].as_array().expect("runs");
        assert_eq!(twins.len(), 1, "local run {local_id} has {} server runs", twins.len());
        let seen = read_remote(&server.uri, twins[0]["info"]["run_id"].as_str().expect("id"));
        for metric in ["mse", "rmse", "mae", "r2"] {
            let points = seen["metric_history"][metric].as_array().expect("history");
            assert_eq!(points.len(), 1, "{metric} of {local_id}: {points:?}");
            assert_eq!(points[0][1], run["metrics"][metric]["value"], "{metric} value");
            assert_eq!(points[0][0], run["metrics"][metric]["timestamp"], "{metric} keeps its original timestamp");
        }
        assert_eq!(seen["status"], "FINISHED");
        assert_eq!(seen["logged_models"].as_array().map(Vec::len), Some(1), "one logged model");
    }
}

#[test]
fn online_run_looks_like_one_logged_by_mlflow() {
    let server = MlflowServer::shared();
    let ws = Workspace::new();
    let report = json_of(&train_to(&ws, &server.uri, &[], &["--experiment", "online", "--run-name", "r1"]));
    assert_eq!(report["sync"]["state"], "synced");
    assert_eq!(report["tracking_uri"], server.uri.as_str());
    let run_id = report["run_id"].as_str().expect("run id");
    assert_ne!(run_id, report["sync"]["local_run_id"].as_str().expect("local id"));

    let seen = read_remote(&server.uri, run_id);
    assert_eq!(seen["experiment_name"], "online");
    assert_eq!(seen["run_name"], "r1");
    assert_eq!(seen["status"], "FINISHED");
    assert!(seen["start_time"].as_i64().expect("start") > 0);
    assert_eq!(seen["params"]["alpha"], "0.5");
    assert_eq!(seen["params"]["seed"], "0");
    for metric in ["mse", "rmse", "mae", "r2"] {
        assert_eq!(seen["metrics"][metric], report["metrics"][metric], "{metric} exactly as computed");
    }
    for tag in ["mlflow.user", "mlflow.source.name", "mlflow.source.type", "mlflow.runName"] {
        assert!(seen["tags"][tag].is_string(), "system tag {tag} missing: {}", seen["tags"]);
    }
    assert!(seen["tags"].as_object().expect("tags").keys().all(|k| !k.starts_with("mlops.sync")));
    let input = &seen["inputs"][0];
    assert_eq!(input["name"], "diabetes");
    assert_eq!(input["context"], "training");
    assert_eq!(input["digest"], report["dataset"]["digest"]);
    assert!(input["schema"].as_str().is_some_and(|s| s.contains("mlflow_colspec")));
    let models = seen["logged_models"].as_array().expect("logged models");
    assert_eq!(models.len(), 1);
    assert_eq!(models[0]["status"], "READY");
    assert_eq!(seen["outputs"][0], models[0]["model_id"]);

    // The Python client loads runs:/<id>/model from the server and predicts as mlops does.
    let data = diabetes().display().to_string();
    let ours =
        predicted(&ws.json(&["predict", "--model", report["model"]["path"].as_str().expect("path"), "--data", &data]));
    let theirs =
        floats(&python_json("pyfunc_predict.py", &[&format!("runs:/{run_id}/model"), &data, &server.uri], None));
    assert_eq!(theirs.len(), ours.len());
    for (i, (a, b)) in theirs.iter().zip(&ours).enumerate() {
        assert_close(*a, *b, 1e-12, &format!("row {i}"));
    }

    // runs list / show against the server.
    let listed = ws.json(&[
        "runs",
        "list",
        "--tracking-uri",
        &server.uri,
        "--experiment",
        "online",
        "--filter",
        "params.alpha = '0.5'",
        "--order-by",
        "metrics.mse ASC",
    ]);
    assert_eq!(listed["runs"][0]["info"]["run_id"], run_id);
    let none = ws.json(&["runs", "list", "--tracking-uri", &server.uri, "--filter", "params.alpha = '9'"]);
    assert_eq!(none["runs"].as_array().map(Vec::len), Some(0));
    let shown = ws.json(&["runs", "show", run_id, "--tracking-uri", &server.uri]);
    assert_eq!(shown["info"]["status"], "FINISHED");

    // Syncing again uploads nothing.
    let again = ws.json(&["runs", "sync", "--to", &server.uri]);
    assert_eq!(again["synced"].as_array().map(Vec::len), Some(0));
    assert_no_duplicates(server, &ws);
}

#[test]
fn server_absent_at_start_then_sync() {
    let ws = Workspace::new();
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let out = train_to(&ws, &nowhere, &[], &["--experiment", "offline"]);
    let report = json_of(&out);
    assert_eq!(report["sync"]["state"], "pending");
    assert!(report["sync"]["error"].as_str().is_some_and(|e| e.contains("cannot connect")), "{}", report["sync"]);
    assert!(stderr(&out).contains("mlops runs sync"), "the user is told how to finish: {}", stderr(&out));
    let local_id = report["sync"]["local_run_id"].as_str().expect("local id").to_string();

    let server = MlflowServer::shared();
    let synced = ws.json(&["runs", "sync", "--to", &server.uri]);
    assert_eq!(synced["synced"].as_array().map(Vec::len), Some(1));
    assert_eq!(synced["synced"][0]["local_run_id"], local_id.as_str());
    let remote_id = synced["synced"][0]["remote_run_id"].as_str().expect("remote id");
    let seen = read_remote(&server.uri, remote_id);
    assert_eq!(seen["experiment_name"], "offline");
    assert_eq!(seen["metrics"]["mse"], report["metrics"]["mse"]);
    assert_eq!(seen["start_time"], ws.json(&["runs", "show", &local_id])["info"]["start_time"], "original start time");

    // Idempotent: a second sync of the same run uploads nothing.
    let again = ws.json(&["runs", "sync", "--to", &server.uri, &local_id]);
    assert_eq!(again["synced"][0]["uploaded"], false);
    assert_no_duplicates(server, &ws);
}

#[test]
fn server_dying_mid_run_resumes_without_duplicates() {
    let server = MlflowServer::shared();
    let ws = Workspace::new();
    let proxy = FaultProxy::start(&server.uri, Mode::Forward);
    // Cut the connection after 1, 2, … 7 requests: every stage of a push gets interrupted once.
    for n in 1..=7 {
        proxy.set_mode(Mode::DieAfter(n));
        let report = json_of(&train_to(&ws, &proxy.uri, &[], &["--experiment", "flaky"]));
        assert_eq!(report["sync"]["state"], "pending", "cut after {n} requests");
    }
    proxy.set_mode(Mode::Forward);
    let synced = ws.json(&["runs", "sync", "--to", &proxy.uri]);
    assert_eq!(synced["synced"].as_array().map(Vec::len), Some(7));
    assert_no_duplicates(server, &ws);
}

#[test]
fn server_errors_then_recovers() {
    let server = MlflowServer::shared();
    let ws = Workspace::new();
    let proxy = FaultProxy::start(&server.uri, Mode::Fail500(2));
    let report = json_of(&train_to(&ws, &proxy.uri, &[], &[]));
    assert_eq!(report["sync"]["state"], "synced", "two 500s are retried away");
    assert!(proxy.seen().len() > 2);

    // A server that keeps failing leaves the run pending, with the HTML error summarised.
    proxy.set_mode(Mode::Fail500(100));
    let report = json_of(&train_to(&ws, &proxy.uri, &[], &[]));
    assert_eq!(report["sync"]["state"], "pending");
    assert!(
        report["sync"]["error"].as_str().is_some_and(|e| e.contains("500") && e.contains("Internal Server Error")),
        "{}",
        report["sync"]
    );
    proxy.set_mode(Mode::Forward);
    ws.json(&["runs", "sync", "--to", &proxy.uri]);
    assert_no_duplicates(server, &ws);
}

#[test]
fn batches_respect_server_limits_and_long_values_are_refused() {
    use mlops::tracking::{LocalStore, Metric, RunStatus};
    let server = MlflowServer::shared();
    let ws = Workspace::new();
    let store = LocalStore::open(&ws.path().join("mlruns")).expect("store");
    let exp = store.get_or_create_experiment("big").expect("experiment");
    let run = store.create_run(&exp.experiment_id, "big-run", "tester", 1_000, &[]).expect("run");
    let params: Vec<(String, String)> = (0..150).map(|i| (format!("p{i}"), i.to_string())).collect();
    store.log_params(&run.run_id, &params).expect("params");
    for i in 0..120 {
        store.set_tag(&run.run_id, &format!("t{i}"), "x").expect("tag");
    }
    let metrics: Vec<(String, Metric)> = (0..2500)
        .map(|i| {
            (
                "loss".to_string(),
                Metric { value: f64::from(i) * 0.5, timestamp: 10_000 + i64::from(i), step: i64::from(i) },
            )
        })
        .collect();
    store.log_metrics(&run.run_id, &metrics).expect("metrics");
    store.update_run(&run.run_id, RunStatus::Finished, 20_000).expect("finish");

    let synced = ws.json(&["runs", "sync", "--to", &server.uri, &run.run_id]);
    let remote_id = synced["synced"][0]["remote_run_id"].as_str().expect("remote id");
    let seen = read_remote(&server.uri, remote_id);
    assert_eq!(seen["params"].as_object().map(|p| p.len()), Some(150));
    assert_eq!(seen["metric_history"]["loss"].as_array().map(Vec::len), Some(2500));
    assert_eq!(seen["tags"]["t119"], "x");

    let long = store.create_run(&exp.experiment_id, "long", "tester", 1_000, &[]).expect("run");
    store.log_params(&long.run_id, &[("blob".to_string(), "y".repeat(6001))]).expect("param");
    store.update_run(&long.run_id, RunStatus::Finished, 2_000).expect("finish");
    let out = ws.run(&["runs", "sync", "--to", &server.uri, &long.run_id]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("param \"blob\": value is 6001 characters; the server keeps only 6000"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_credentials_are_a_clear_auth_error_and_never_printed() {
    let server = MlflowServer::start_with(
        &["--app-name", "basic-auth"],
        &[
            ("MLFLOW_AUTH_ADMIN_PASSWORD", "right-horse-battery"),
            ("MLFLOW_FLASK_SERVER_SECRET_KEY", "test-only-csrf-key"),
        ],
    );
    let ws = Workspace::new();
    let secret = "wrong-staple-9f8e7d";
    let out = train_to(
        &ws,
        &server.uri,
        &[("MLFLOW_TRACKING_USERNAME", "admin"), ("MLFLOW_TRACKING_PASSWORD", secret)],
        &["-vvv"],
    );
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains(secret) && !String::from_utf8_lossy(&out.stdout).contains(secret), "the password leaked");

    let token = "tok-3c2b1a-never-print";
    let out = train_to(&ws, &server.uri, &[("MLFLOW_TRACKING_TOKEN", token)], &["-vvv"]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(!stderr(&out).contains(token), "the token leaked");

    let out = train_to(
        &ws,
        &server.uri,
        &[
            ("MLFLOW_TRACKING_USERNAME", "admin"),
            ("MLFLOW_TRACKING_PASSWORD", "right-horse-battery"),
            ("MLFLOW_TRACKING_TOKEN", token),
        ],
        &[],
    );
    assert_eq!(json_of(&out)["sync"]["state"], "synced", "basic auth wins over the token, as in MLflow");
}

/// `mlflow ui --backend-store-uri ./mlruns` in the directory whose `./mlruns` also journals the
/// runs: mlops sees that the server reads the journal itself and pushes no copy, so the journal
/// and the UI each hold exactly one run, with its logged model.
#[test]
fn journal_read_by_mlflow_ui_is_not_duplicated() {
    let ws = Workspace::new();
    let server = MlflowServer::ui_on_mlruns(ws.path());
    let out = train_to(&ws, &server.uri, &[], &["--experiment", "ui", "--run-name", "once"]);
    let report = json_of(&out);
    assert_eq!(report["sync"]["state"], "same-store", "{}", report["sync"]);
    assert_eq!(report["sync"]["artifacts"]["state"], "in-place");
    assert!(stderr(&out).contains("reads this local store"), "{}", stderr(&out));
    let run_id = report["run_id"].as_str().expect("run id");
    assert_eq!(report["sync"]["local_run_id"], run_id);

    // A later sync finds nothing to push either.
    let synced = ws.json(&["runs", "sync", "--to", &server.uri]);
    assert_eq!(synced["synced"][0]["uploaded"], false);

    let local = ws.json(&["runs", "list"]);
    let remote = ws.json(&["runs", "list", "--tracking-uri", &server.uri, "--experiment", "ui"]);
    for (runs, what) in [(&local, "journal"), (&remote, "mlflow ui")] {
        let ids: Vec<&str> =
            runs["runs"].as_array().expect("runs").iter().map(|r| r["info"]["run_id"].as_str().expect("id")).collect();
        assert_eq!(ids, [run_id], "{what} holds exactly the one run");
    }
    let seen = read_remote(&server.uri, run_id);
    assert_eq!(
        seen["logged_models"].as_array().map(Vec::len),
        Some(1),
        "the UI's logged models: {}",
        seen["logged_models"]
    );
    assert!(seen["artifacts"].as_array().expect("artifacts").iter().any(|a| a == "model/MLmodel"));
}

/// `mlflow server --no-serve-artifacts` gives local artifact paths: mlops writes the files there,
/// as MLflow's client does, says where, and MLflow's client and mlops both load the model.
#[test]
fn server_without_artifact_proxy_gets_files_where_mlflow_writes_them() {
    let server = MlflowServer::start_with(&["--no-serve-artifacts"], &[]);
    let ws = Workspace::new();
    let journal = ws.path().join("journal").display().to_string();
    let out = train_to(&ws, &server.uri, &[], &["--experiment", "no-proxy", "--local-store", &journal]);
    let report = json_of(&out);
    assert_eq!(report["sync"]["state"], "synced");
    let artifacts = &report["sync"]["artifacts"];
    assert_eq!(artifacts["state"], "written", "{artifacts}");
    let path = std::path::PathBuf::from(artifacts["local_path"].as_str().expect("path"));
    assert!(path.starts_with(server.dir.path()), "{} is the server's artifact root", path.display());
    assert!(path.join("data_profile.json").is_file(), "{}", path.display());
    assert!(stderr(&out).contains("no artifact proxy") && stderr(&out).contains(&path.display().to_string()));

    let run_id = report["run_id"].as_str().expect("run id");
    let seen = read_remote(&server.uri, run_id);
    assert_eq!(seen["logged_models"][0]["status"], "READY", "{}", seen["logged_models"]);
    let data = diabetes().display().to_string();
    let model = format!("runs:/{run_id}/model");
    let by_mlflow = floats(&python_json("pyfunc_predict.py", &[&model, &data, &server.uri], None));
    let cache = ws.path().join("cache").display().to_string();
    let mut cmd =
        ws.mlops(&["predict", "--model", &model, "--data", &data, "--tracking-uri", &server.uri, "-o", "json"]);
    let by_mlops = json_of(&cmd.env("MLOPS_CACHE_DIR", &cache).output().expect("predict"));
    let by_mlops = predicted(&by_mlops);
    assert_eq!(by_mlops.len(), 442);
    for (i, (a, b)) in by_mlops.iter().zip(&by_mlflow).enumerate() {
        assert_close(*a, *b, 1e-12, &format!("prediction {i}"));
    }
}

/// A local run trained into `experiment` of the workspace's own store; its id.
fn train_local(ws: &Workspace, experiment: &str) -> String {
    let data = diabetes().display().to_string();
    let report = ws.json(&["train", "--data", &data, "--experiment", experiment]);
    report["run_id"].as_str().expect("run id").to_string()
}

/// How many server runs carry `mlops.source_run_id = local_id`.
fn server_copies(ws: &Workspace, uri: &str, local_id: &str) -> usize {
    let filter = format!("tags.`mlops.source_run_id` = '{local_id}'");
    let found = ws.json(&["runs", "list", "--tracking-uri", uri, "--filter", &filter]);
    found["runs"].as_array().expect("runs").len()
}

#[test]
fn one_server_under_two_urls_gets_one_copy() {
    let server = MlflowServer::shared();
    let ws = Workspace::new();
    let by_ip = server.uri.clone();
    let by_name = format!("http://localhost:{}", server.port);
    let proxy = FaultProxy::start(&server.uri, Mode::Forward);
    let runs = [train_local(&ws, "two-urls"), train_local(&ws, "two-urls")];
    let first = ws.json(&["runs", "sync", "--to", &by_ip]);
    assert!(first["synced"].as_array().expect("synced").iter().all(|o| o["uploaded"] == true), "{first}");
    // The same server under a host name, and behind a proxy on another port: nothing is sent again.
    for uri in [&by_name, &proxy.uri] {
        let again = ws.json(&["runs", "sync", "--to", uri]);
        let outcomes = again["synced"].as_array().expect("synced");
        assert_eq!(outcomes.len(), 2, "{again}");
        assert!(outcomes.iter().all(|o| o["uploaded"] == false), "{uri}: {again}");
    }
    // A push cut short under one name resumes under the other, into the same server run.
    proxy.set_mode(Mode::DieAfter(4));
    let report = json_of(&train_to(&ws, &proxy.uri, &[], &["--experiment", "two-urls"]));
    assert_eq!(report["sync"]["state"], "pending", "{report}");
    let cut = report["sync"]["local_run_id"].as_str().expect("local id").to_string();
    let resumed = ws.json(&["runs", "sync", "--to", &by_name, &cut]);
    assert_eq!(resumed["synced"][0]["uploaded"], true, "{resumed}");
    for id in runs.iter().chain([&cut]) {
        assert_eq!(server_copies(&ws, &by_ip, id), 1, "local run {id}");
    }
}

#[test]
fn a_run_the_server_refuses_does_not_block_the_others() {
    let server = MlflowServer::shared();
    let ws = Workspace::new();
    let refused = train_local(&ws, "deleted-on-the-server");
    let accepted = train_local(&ws, "kept-on-the-server");
    // Someone deleted the experiment on the server: it refuses runs in it with HTTP 400.
    let api = format!("{}/api/2.0/mlflow/experiments", server.uri);
    let http = reqwest::blocking::Client::new();
    let created: Value = http
        .post(format!("{api}/create"))
        .json(&serde_json::json!({"name": "deleted-on-the-server"}))
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .expect("create experiment");
    http.post(format!("{api}/delete"))
        .json(&serde_json::json!({"experiment_id": created["experiment_id"]}))
        .send()
        .and_then(|r| r.error_for_status())
        .expect("delete experiment");

    let out = ws.run(&["runs", "sync", "--to", &server.uri, &refused, &accepted, "-o", "json"]);
    assert_eq!(out.status.code(), Some(9), "a refused run exits 9 (remote): {}", stderr(&out));
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(result["failed"][0]["local_run_id"], refused.as_str(), "{result}");
    assert!(result["failed"][0]["error"].as_str().is_some_and(|e| e.contains("400")), "{result}");
    assert_eq!(result["synced"][0]["local_run_id"], accepted.as_str(), "the next run was synced: {result}");
    assert!(stderr(&out).contains(&format!("run {refused} was not synced")), "{}", stderr(&out));
    assert_eq!(server_copies(&ws, &server.uri, &accepted), 1);
}

#[test]
fn a_push_cut_after_the_model_output_resumes_without_sending_it_again() {
    let server = MlflowServer::shared();
    let ws = Workspace::new();
    let proxy = FaultProxy::start(&server.uri, Mode::Forward);
    let train = || train_to(&ws, &proxy.uri, &[], &["--experiment", "cut-after-output"]);
    // The second push of an experiment makes the same requests as the third (the first creates it).
    json_of(&train());
    let before = proxy.seen().len();
    json_of(&train());
    let requests = proxy.seen()[before..].to_vec();
    let through_output = requests.iter().position(|r| r.ends_with("/runs/outputs")).expect("the model is linked") + 1;
    assert!(through_output < requests.len(), "the status is set after the output: {requests:?}");

    // The server links the model to the run, then goes away before the run's status is set.
    proxy.set_mode(Mode::DieAfter(through_output));
    let report = json_of(&train());
    assert_eq!(report["sync"]["state"], "pending", "{report}");
    let local_id = report["sync"]["local_run_id"].as_str().expect("local id").to_string();
    let remote_id = report["sync"]["remote_run_id"].as_str().expect("the server run exists").to_string();

    // The server refuses a second identical output (HTTP 400): sync must not send it again.
    proxy.set_mode(Mode::Forward);
    let started = std::time::Instant::now();
    let synced = ws.json(&["runs", "sync", "--to", &proxy.uri]);
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "no minutes of retries");
    assert_eq!(synced["failed"], serde_json::json!([]), "{synced}");
    assert_eq!(server_copies(&ws, &server.uri, &local_id), 1);
    let seen = read_remote(&server.uri, &remote_id);
    assert_eq!(seen["status"], "FINISHED");
    assert_eq!(seen["outputs"].as_array().map(Vec::len), Some(1), "{}", seen["outputs"]);
    assert_eq!(seen["logged_models"].as_array().map(Vec::len), Some(1), "{}", seen["logged_models"]);
}
