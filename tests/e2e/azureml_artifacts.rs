//! Run artifacts on an Azure ML workspace through faults: a large file goes up in blocks that
//! are retried one by one (503, connection reset), an upload URL that expires mid-file is asked
//! for again, a refused upload (403) is a clean auth error that registers nothing, and re-running
//! the interrupted sync completes it.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::standin::{self, Fault, FaultKind, StandIn};
use crate::support::{Workspace, diabetes, on_a_terminal, repo, stderr};
use crate::tracking_azureml::{json_of, local_artifacts, setup, signed_in, unique, workspace_files};

/// A deterministic, incompressible file of `size` bytes.
fn noise(size: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A local run with a 10.5 MiB artifact (three 4 MiB blocks) beside its model.
fn local_run_with_large_artifact(ws: &Workspace) -> (String, Vec<u8>) {
    let data = diabetes().display().to_string();
    let trained = ws.json(&["train", "--data", &data, "--experiment", &unique("aml-big")]);
    let run_id = trained["run_id"].as_str().expect("run id").to_string();
    let store = mlops::tracking::LocalStore::open(&ws.path().join("mlruns")).expect("store");
    let dir = store.artifact_dir(&run_id).expect("artifacts").join("extra");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let big = noise(10 * 1024 * 1024 + 512 * 1024 + 7);
    std::fs::write(dir.join("big.bin"), &big).expect("write");
    (run_id, big)
}

/// A sync that moves more than the bar's 8 MiB threshold (`progress` module) shows one byte bar
/// on a terminal, and none with `-q`.
#[test]
fn a_large_upload_shows_a_bar_on_a_terminal_unless_quiet() {
    let (ws, standin, uri, _blobs) = setup();
    local_run_with_large_artifact(&ws);
    let quiet = on_a_terminal(&signed_in(&ws, &standin, &["runs", "sync", "--to", &uri, "-q"]));
    assert!(!quiet.contains("ETA"), "-q shows no bar: {quiet}");
    // A second run, so that this sync has a large file to send again.
    local_run_with_large_artifact(&ws);
    let shown = on_a_terminal(&signed_in(&ws, &standin, &["runs", "sync", "--to", &uri]));
    assert!(shown.contains("ETA") && shown.contains("big.bin") && shown.contains("MiB"), "{shown}");
    local_run_with_large_artifact(&ws);
    let piped = signed_in(&ws, &standin, &["runs", "sync", "--to", &uri]).output().expect("run");
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert!(!stderr(&piped).contains("ETA"), "no bar when stderr is not a terminal: {}", stderr(&piped));
}

#[test]
fn large_artifact_survives_block_faults_and_an_expiring_upload_url() {
    let (ws, standin, uri, blobs) = setup();
    let (local_id, big) = local_run_with_large_artifact(&ws);
    // Two blocks answered 503, one connection reset; every upload URL signs two requests, then
    // is refused as expired.
    standin.inject(Fault {
        method: Some("PUT"),
        path_contains: "extra/big.bin".into(),
        kind: FaultKind::Status { status: 503, retry_after: None },
        count: 2,
    });
    standin.inject(Fault {
        method: Some("PUT"),
        path_contains: "extra/big.bin".into(),
        kind: FaultKind::Reset,
        count: 1,
    });
    standin.limit_sas_uses(Some(2));
    let out = signed_in(&ws, &standin, &["runs", "sync", "--to", &uri, "-o", "json"])
        .env("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.05")
        .output()
        .expect("run");
    let synced = json_of(&out);
    let outcome = &synced["synced"][0];
    assert_eq!(outcome["artifact_upload"]["state"], "uploaded", "{synced}");
    let remote_id = outcome["remote_run_id"].as_str().expect("remote run");
    let stored = workspace_files(&blobs, remote_id);
    assert!(stored.get("extra/big.bin") == Some(&big), "the large file arrived whole and unchanged");

    let log = standin.log();
    let big_puts: Vec<_> = log.iter().filter(|l| l.method == "PUT" && l.path.ends_with("extra/big.bin")).collect();
    assert!(big_puts.iter().filter(|l| l.query.contains("comp=block&")).count() >= 3, "{big_puts:?}");
    assert!(big_puts.iter().any(|l| l.query.contains("comp=blocklist")), "committed with Put Block List");
    assert_eq!(big_puts.iter().filter(|l| l.status == 503).count(), 2, "{big_puts:?}");
    assert_eq!(big_puts.iter().filter(|l| l.status == 0).count(), 1, "{big_puts:?}");
    assert!(big_puts.iter().any(|l| l.status == 403), "an upload URL expired mid-file: {big_puts:?}");
    let renewals = log
        .iter()
        .filter(|l| l.path.ends_with("/batch/metadata") && l.path.contains(&format!("/runs/{remote_id}/")))
        .count();
    assert!(renewals >= 2, "the expired URL was asked for again ({renewals} batch/metadata calls)");
    assert!(stderr(&out).contains("asking for a new one"), "{}", stderr(&out));

    // A second sync sends nothing.
    let puts = standin.log().iter().filter(|l| l.method == "PUT").count();
    let again = json_of(
        &signed_in(&ws, &standin, &["runs", "sync", "--to", &uri, &local_id, "-o", "json"]).output().expect("run"),
    );
    assert_eq!(again["synced"][0]["uploaded"], false);
    assert_eq!(standin.log().iter().filter(|l| l.method == "PUT").count(), puts);
}

#[test]
fn refused_upload_registers_nothing_and_a_second_sync_completes() {
    let (ws, standin, uri, blobs) = setup();
    let (local_id, big) = local_run_with_large_artifact(&ws);
    standin.inject(Fault {
        method: Some("PUT"),
        path_contains: "extra/big.bin".into(),
        kind: FaultKind::Status { status: 403, retry_after: None },
        count: 1000,
    });
    let out = signed_in(&ws, &standin, &["runs", "sync", "--to", &uri]).output().expect("run");
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));
    // The server run exists, but holds no model: registering it is refused, nothing is created.
    let local = ws.json(&["runs", "show", &local_id]);
    let remote_id = local["tags"]["mlops.sync.remote_run_id"].as_str().expect("remote run id").to_string();
    assert_ne!(local["tags"]["mlops.sync.state"], "synced");
    let name = unique("half");
    let out = signed_in(
        &ws,
        &standin,
        &["model", "register", "--run-id", &remote_id, "--name", &name, "--tracking-uri", &uri],
    )
    .output()
    .expect("run");
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    let out = signed_in(&ws, &standin, &["model", "list", "--tracking-uri", &uri, "-o", "json"]).output().expect("run");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&name), "nothing registered");

    // The storage takes uploads again: re-running the sync completes the run.
    standin.state().faults.clear();
    let synced =
        json_of(&signed_in(&ws, &standin, &["runs", "sync", "--to", &uri, "-o", "json"]).output().expect("run"));
    assert_eq!(synced["synced"][0]["remote_run_id"], remote_id.as_str(), "the same server run, resumed");
    assert!(synced["synced"][0]["logged_model_id"].is_string(), "{synced}");
    let stored = workspace_files(&blobs, &remote_id);
    assert!(stored.get("extra/big.bin") == Some(&big));
    let local_files = local_artifacts(&ws, &local_id);
    assert!(local_files.keys().filter(|k| !k.starts_with("model/")).all(|k| stored.contains_key(k)));
    let registered = json_of(
        &signed_in(
            &ws,
            &standin,
            &["model", "register", "--run-id", &remote_id, "--name", &name, "--tracking-uri", &uri, "-o", "json"],
        )
        .output()
        .expect("run"),
    );
    assert_eq!(registered["version"]["version"], 1);
}

/// The Python of the virtualenv with the official azureml-mlflow plugin (scripts/test.sh makes
/// it: the plugin pins an older mlflow than the main test virtualenv).
fn plugin_python() -> PathBuf {
    let path = std::env::var_os("MLOPS_TEST_AZUREML_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-azureml/bin/python"));
    assert!(path.exists(), "the azureml-mlflow virtualenv is missing ({}): run scripts/test.sh", path.display());
    path
}

/// `tests/python/azureml_mlflow_conformance.py` signed in with the stand-in's managed identity.
fn plugin(standin: &StandIn, uri: &str, args: &[&str]) -> Value {
    let out = Command::new(plugin_python())
        .arg(repo().join("tests/python/azureml_mlflow_conformance.py"))
        .args(args)
        .env("MLFLOW_TRACKING_URI", uri)
        .env("IDENTITY_ENDPOINT", format!("{}/msi/token", standin.url()))
        .env("IDENTITY_HEADER", standin::MSI_HEADER)
        .env("REQUESTS_CA_BUNDLE", &standin.ca_pem)
        .env("SSL_CERT_FILE", &standin.ca_pem)
        .env("AZUREML_CURRENT_CLOUD", "AzureCloud")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_SECRET")
        .output()
        .expect("run the plugin");
    assert!(out.status.success(), "azureml_mlflow_conformance.py {args:?} failed:\n{}", stderr(&out));
    // mlflow prints "View run …" lines on stdout at the end of a run; the answer is the last line.
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn assert_close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (&x, &y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-300), "{x} vs {y}");
    }
}

/// What mlops trains and registers on a workspace, the official plugin downloads byte for byte
/// and loads as `models:/<name>/1` with the same predictions; and a run the plugin logs, mlops
/// resolves from an empty checkout and predicts with.
#[test]
fn the_azureml_mlflow_plugin_reads_what_mlops_wrote_and_mlops_reads_what_it_wrote() {
    let (ws, standin, uri, _blobs) = setup();
    let data = diabetes().display().to_string();
    let trained = json_of(
        &signed_in(
            &ws,
            &standin,
            &["train", "--data", &data, "--tracking-uri", &uri, "--experiment", &unique("conf"), "-o", "json"],
        )
        .output()
        .expect("run"),
    );
    let run_id = trained["run_id"].as_str().expect("run id");
    let local_id = trained["sync"]["local_run_id"].as_str().expect("local run");
    let name = unique("diabetes");
    let registered = json_of(
        &signed_in(
            &ws,
            &standin,
            &["model", "register", "--run-id", run_id, "--name", &name, "--tracking-uri", &uri, "-o", "json"],
        )
        .output()
        .expect("run"),
    );
    let ours = json_of(
        &signed_in(
            &ws,
            &standin,
            &[
                "predict",
                "--model",
                &format!("models:/{name}/1"),
                "--data",
                &data,
                "--tracking-uri",
                &uri,
                "-o",
                "json",
            ],
        )
        .output()
        .expect("run"),
    );

    // azure-ai-ml's management client sees the version as an mlflow_model asset with the same
    // tags, its files at the run's model in the artifact datastore, and downloads them through
    // the datastore's listSecrets SAS with its own storage helper.
    standin.create_aml_workspace("rg-ml", "ws-ml", "cpu-cluster");
    let asset_dest = ws.path().join("asset-download");
    let out = Command::new(crate::support::python())
        .arg(repo().join("tests/python/azureml_model_asset.py"))
        .args([&standin.url(), standin::TENANT, standin::CLIENT_ID, standin::CLIENT_SECRET, standin::SUBSCRIPTION])
        .args(["rg-ml", "ws-ml", &name])
        .arg(&asset_dest)
        .env("REQUESTS_CA_BUNDLE", &standin.ca_pem)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("AZURE_AUTHORITY_HOST")
        .output()
        .expect("python");
    assert!(out.status.success(), "azureml_model_asset.py failed: {}", stderr(&out));
    let assets: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let model_id =
        ws.json(&["runs", "show", local_id])["tags"]["mlops.sync.model_id"].as_str().expect("model id").to_string();
    assert_eq!(assets.as_array().map(Vec::len), Some(1), "{assets}");
    assert_eq!(assets[0]["version"], "1");
    assert_eq!(assets[0]["modelType"], "mlflow_model");
    let model_uri = assets[0]["modelUri"].as_str().expect("modelUri");
    assert!(model_uri.ends_with(&format!("/paths/ExperimentRun/dcid.{run_id}/outputs/{model_id}")), "{model_uri}");
    let version_tags = registered["version"]["tags"].as_object().expect("tags");
    assert!(!version_tags.is_empty());
    for (key, value) in version_tags {
        assert_eq!(&assets[0]["tags"][key], value, "tag {key}");
    }
    let asset_files = assets[0]["files"].as_object().expect("files");
    let model_files: Vec<(String, Vec<u8>)> = local_artifacts(&ws, local_id)
        .into_iter()
        .filter_map(|(path, bytes)| Some((path.strip_prefix("model/")?.to_string(), bytes)))
        .collect();
    assert_eq!(asset_files.len(), model_files.len(), "{asset_files:?}");
    for (path, bytes) in &model_files {
        // MLmodel names the workspace's run and model, so it differs from the local one.
        if path != "MLmodel" {
            assert_eq!(asset_files.get(path).and_then(Value::as_str), Some(sha256(bytes).as_str()), "{path}");
        }
    }
    let mlmodel = std::fs::read_to_string(asset_dest.join("1/MLmodel")).expect("MLmodel downloaded");
    assert!(mlmodel.contains(&format!("model_id: {model_id}")), "{mlmodel}");

    let dest = ws.path().join("plugin-download");
    let dest_text = dest.display().to_string();
    let seen = plugin(&standin, &uri, &["read", run_id, &format!("models:/{name}/1"), &data, &dest_text]);
    assert_close(&crate::support::floats(&seen["predictions"]), &crate::support::predicted(&ours));
    let model_id =
        ws.json(&["runs", "show", local_id])["tags"]["mlops.sync.model_id"].as_str().expect("model id").to_string();
    let files = seen["files"].as_object().expect("files");
    let local = local_artifacts(&ws, local_id);
    for (path, bytes) in &local {
        let remote = match path.strip_prefix("model/") {
            Some(rest) => format!("outputs/{model_id}/{rest}"),
            None => path.clone(),
        };
        if path.ends_with("MLmodel") {
            assert!(files.contains_key(&remote), "{remote} missing: {files:?}");
            continue;
        }
        assert_eq!(files.get(&remote).and_then(Value::as_str), Some(sha256(bytes).as_str()), "{remote}");
    }

    // The reverse: a run the plugin logs (the model as plain run artifacts), resolved by mlops
    // from an empty checkout.
    let model_dir = mlops::tracking::LocalStore::open(&ws.path().join("mlruns"))
        .expect("store")
        .artifact_dir(local_id)
        .expect("dir")
        .join("model");
    let logged = plugin(&standin, &uri, &["log", &model_dir.display().to_string(), &unique("plugin")]);
    let py_run = logged["run_id"].as_str().expect("run id");
    let elsewhere = Workspace::new();
    let predicted = json_of(
        &signed_in(
            &elsewhere,
            &standin,
            &[
                "predict",
                "--model",
                &format!("runs:/{py_run}/model"),
                "--data",
                &data,
                "--tracking-uri",
                &uri,
                "-o",
                "json",
            ],
        )
        .env("MLOPS_CACHE_DIR", elsewhere.path().join("cache"))
        .output()
        .expect("run"),
    );
    assert_close(&crate::support::predicted(&predicted), &crate::support::predicted(&ours));
}

/// The published diabetes pipeline's steps as Azure ML runs them: each on its own node, in an
/// empty working directory, with nothing in common but the workspace (tracking URI from the
/// job's environment, step results mounted from the datastore). The register step registers the
/// model train logged on another node, and the version loads on yet another machine.
///
/// `train` runs as `mlops train --compute` submits it (`--data` the mounted file): the published
/// pipeline's `register-data` → `train --dataset` hand-over goes through the local dataset
/// registry, which is not in the workspace.
#[test]
fn pipeline_steps_in_separate_empty_directories_share_the_model_through_the_workspace() {
    let (project, standin, uri, _blobs) = setup();
    standin.create_aml_workspace("rg-ml", "ws-ml", "cpu-cluster");
    for dir in ["data", "pipelines"] {
        std::fs::create_dir_all(project.path().join(dir)).expect("mkdir");
        for entry in std::fs::read_dir(repo().join(dir)).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::copy(&path, project.path().join(dir).join(path.file_name().expect("name"))).expect("copy");
            }
        }
    }
    let published = json_of(
        &signed_in(
            &project,
            &standin,
            &["pipeline", "publish", "pipelines/diabetes-train.yml", "--compute", "cpu-cluster", "-o", "json"],
        )
        .env("AZUREML_WORKSPACE_NAME", "ws-ml")
        .env("AZURE_RESOURCE_GROUP", "rg-ml")
        .output()
        .expect("run"),
    );
    assert!(published.is_object());
    let component = |name: &str| -> String {
        let body =
            standin.with_aml(|a| a.version("components", name, "1")).unwrap_or_else(|| panic!("component {name}"));
        body["properties"]["componentSpec"]["command"].as_str().expect("command").to_string()
    };
    let data = diabetes().display().to_string();
    let profile = repo().join("data/diabetes.profile.json").display().to_string();
    let outputs = tempfile::tempdir().expect("datastore mounts");
    let out_dir = |step: &str| outputs.path().join(step).display().to_string();
    let name = unique("pipeline-model");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_mlops")).parent().expect("bin dir").to_path_buf();
    let run_step = |step: &str, command: String| {
        let node = Workspace::new();
        let out = Command::new("sh")
            .args(["-c", &command])
            .current_dir(node.path())
            .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
            .env("MLFLOW_TRACKING_URI", &uri)
            .env("AZURE_TENANT_ID", standin::TENANT)
            .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET)
            .env("AZURE_AUTHORITY_HOST", standin.url())
            .env("AZURE_RESOURCE_MANAGER_ENDPOINT", standin.url())
            .env("SSL_CERT_FILE", &standin.ca_pem)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .output()
            .expect("sh");
        assert!(out.status.success(), "step {step} ({command}) failed: {}", stderr(&out));
        let result: Value = serde_json::from_str(
            &std::fs::read_to_string(outputs.path().join(step).join("result.json")).expect("result.json"),
        )
        .expect("json");
        assert_eq!(result["status"], "succeeded", "{step}: {result:#}");
        result
    };
    let fill = |command: String, inputs: &[(&str, &str)]| -> String {
        let mut command = command;
        for (input, value) in inputs {
            command = command.replace(&format!("${{{{inputs.{input}}}}}"), value);
        }
        command
    };
    let (validate_out, train_out, evaluate_out, register_out) =
        (out_dir("validate_data"), out_dir("train"), out_dir("evaluate"), out_dir("register"));
    run_step(
        "validate_data",
        fill(
            component("diabetes_train_validate_data"),
            &[("data_path", &data), ("reference_profile", &profile), ("result", &validate_out)],
        )
        .replace("${{outputs.result}}", &validate_out),
    );
    let trained = run_step(
        "train",
        format!(
            "mlops pipeline step --name train --result {train_out} -- train --data {data} --alpha 0.4 --run-name {name}-train"
        ),
    );
    let run_id = trained["result"]["run_id"].as_str().expect("run id").to_string();
    run_step(
        "evaluate",
        fill(component("diabetes_train_evaluate"), &[("from_train", &train_out), ("model_name", &name)])
            .replace("${{outputs.result}}", &evaluate_out),
    );
    let registered = run_step(
        "register",
        fill(
            component("diabetes_train_register"),
            &[("from_train", &train_out), ("from_evaluate", &evaluate_out), ("model_name", &name)],
        )
        .replace("${{outputs.result}}", &register_out),
    );
    assert_eq!(registered["result"]["version"]["run_id"], run_id.as_str(), "{registered:#}");

    // Another machine loads the champion from the workspace alone.
    let elsewhere = Workspace::new();
    let predicted = json_of(
        &signed_in(
            &elsewhere,
            &standin,
            &[
                "predict",
                "--model",
                &format!("models:/{name}@champion"),
                "--data",
                &data,
                "--tracking-uri",
                &uri,
                "-o",
                "json",
            ],
        )
        .env("MLOPS_CACHE_DIR", elsewhere.path().join("cache"))
        .output()
        .expect("run"),
    );
    assert_eq!(predicted["predictions"].as_array().map(Vec::len), Some(442));
}
