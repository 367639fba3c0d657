//! Tracking to an Azure ML workspace (`azureml://…`): the stand-in's MLflow data plane, backed by
//! a real `mlflow server`, with ARM tokens from its Entra ID. Stock MLflow reads the runs back
//! through the same endpoint, which keeps the stand-in honest.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use serde_json::Value;

use crate::infra::mlops;
use crate::mlflow_server::MlflowServer;
use crate::servers::{Peer, azurite};
use crate::standin::{self, StandIn};
use crate::support::{Workspace, diabetes, python, repo, stderr};

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// A stand-in serving one workspace's MLflow endpoint from the shared MLflow server, and its run
/// artifacts from an Azurite of its own (kept alive by the returned peer).
pub fn setup() -> (Workspace, StandIn, String, Peer) {
    let standin = StandIn::start();
    standin.serve_mlflow(&MlflowServer::shared().uri);
    let blobs = azurite();
    standin.serve_artifacts(&blobs.base);
    let uri = standin.azureml_tracking_uri("rg-ml", "ws-ml");
    (Workspace::new(), standin, uri, blobs)
}

/// `mlops` signed in as the stand-in's service principal.
pub fn signed_in(ws: &Workspace, standin: &StandIn, args: &[&str]) -> Command {
    let mut cmd = mlops(ws, standin, args);
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET);
    cmd
}

pub fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "mlops failed: {}", stderr(out));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// What stock MLflow (no azureml plugin) sees at the workspace's `https://…/mlflow/v2.0/…` base.
fn read_with_mlflow(standin: &StandIn, run_id: &str) -> Value {
    let out = Command::new(python())
        .arg(repo().join("tests/python/read_run_metadata.py"))
        .arg(run_id)
        .env("MLFLOW_TRACKING_URI", standin.azureml_rest_base("rg-ml", "ws-ml"))
        .env("MLFLOW_TRACKING_TOKEN", standin.issue_token())
        .env("MLFLOW_TRACKING_SERVER_CERT_PATH", &standin.ca_pem)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .expect("run python");
    assert!(out.status.success(), "read_run_metadata.py failed:\n{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn train_lands_a_run_that_mlflow_reads_back() {
    let (ws, standin, uri, _blobs) = setup();
    let experiment = unique("aml");
    let data = diabetes().display().to_string();
    let out = signed_in(
        &ws,
        &standin,
        &["train", "--data", &data, "--tracking-uri", &uri, "--experiment", &experiment, "-o", "json"],
    )
    .output()
    .expect("run");
    let report = json_of(&out);
    let sync = &report["sync"];
    assert_eq!(sync["state"], "synced", "{report}");
    assert_eq!(sync["remote_uri"], uri.as_str());
    // The artifacts and the model went to the workspace: its run history service handed out
    // blob URLs and the files are in its storage, byte for byte.
    let remote_artifacts = sync["remote_artifact_uri"].as_str().expect("artifact uri");
    assert!(
        remote_artifacts.starts_with("azureml://") && remote_artifacts.ends_with("/artifacts"),
        "{remote_artifacts}"
    );
    assert_eq!(sync["artifacts"]["state"], "uploaded", "{report}");
    assert_eq!(report["artifact_uri"], remote_artifacts, "the run's artifact location is the workspace's");
    let remote_run = sync["remote_run_id"].as_str().expect("remote run");
    let stored = workspace_files(&_blobs, remote_run);
    let local_run = sync["local_run_id"].as_str().expect("local run");
    let local_files = local_artifacts(&ws, local_run);
    assert!(local_files.keys().any(|k| k == "model/MLmodel"), "{:?}", local_files.keys());
    let model_id = sync_model_id(&ws, local_run);
    for (path, bytes) in &local_files {
        let remote_path = match path.strip_prefix("model/") {
            Some(rest) => format!("outputs/{model_id}/{rest}"),
            None => path.clone(),
        };
        let got = stored
            .get(&remote_path)
            .unwrap_or_else(|| panic!("{remote_path} not in the workspace: {:?}", stored.keys()));
        if !path.ends_with("MLmodel") {
            assert_eq!(got, bytes, "{path} differs");
        }
    }
    let puts =
        standin.log().into_iter().filter(|l| l.method == "PUT" && l.path.contains(".blob.core.windows.net/")).count();
    assert!(puts >= local_files.len(), "{puts} blob PUTs for {} files", local_files.len());
    let remote_id = remote_run;
    let local = ws.json(&["runs", "show", sync["local_run_id"].as_str().expect("local run")]);
    let seen = read_with_mlflow(&standin, remote_id);
    assert_eq!(seen["experiment_name"], experiment.as_str());
    assert_eq!(seen["status"], "FINISHED");
    assert_eq!(seen["run_name"], local["info"]["run_name"]);
    assert_eq!(seen["artifact_uri"], remote_artifacts);
    assert_eq!(seen["params"], local["params"]);
    for (key, metric) in local["metrics"].as_object().expect("metrics") {
        assert_eq!(seen["metrics"][key], metric["value"], "{key}");
        let history = seen["metric_history"][key].as_array().expect("history");
        assert_eq!(history.len(), 1, "{key}: {history:?}");
        assert_eq!(history[0][0], metric["timestamp"], "{key} keeps its timestamp");
    }
    for (key, value) in local["tags"].as_object().expect("tags") {
        if !key.starts_with("mlops.sync.") && key != "mlflow.runName" {
            assert_eq!(&seen["tags"][key], value, "tag {key}");
        }
    }
    assert_eq!(seen["tags"]["mlops.source_run_id"], local["info"]["run_id"]);
    assert_eq!(seen["inputs"][0]["digest"], local["inputs"][0]["digest"]);

    // Every data-plane call carried an Entra token; nothing tried the artifact proxy.
    let plane: Vec<_> = standin.log().into_iter().filter(|l| l.path.starts_with("/mlflow/")).collect();
    assert!(plane.iter().any(|l| l.path.starts_with("/mlflow/v2.0/") && l.path.ends_with("/runs/create")));
    assert!(plane.iter().all(|l| l.status != 401 && !l.path.contains("mlflow-artifacts")), "{plane:?}");
    assert!(standin.log().iter().any(|l| l.path.ends_with("/oauth2/v2.0/token")));
    assert!(standin.log().iter().any(|l| l.path.starts_with("/history/v1.0/") && l.path.ends_with("/batch/metadata")));
}

/// The blobs of a workspace run's artifacts, by run-relative path.
pub fn workspace_files(blobs: &Peer, remote_run: &str) -> BTreeMap<String, Vec<u8>> {
    let container = crate::servers::blob_container(&crate::servers::azurite_connection_string(blobs), "azureml");
    let prefix = StandIn::artifact_blob_prefix(remote_run);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut out = BTreeMap::new();
        for item in container.list_blobs(&prefix).await.expect("list") {
            let bytes = container.download(&item.name).await.expect("download");
            out.insert(item.name[prefix.len()..].to_string(), bytes.to_vec());
        }
        out
    })
}

/// The artifact files of a local run, by path.
pub fn local_artifacts(ws: &Workspace, local_run: &str) -> BTreeMap<String, Vec<u8>> {
    let store = mlops::tracking::LocalStore::open(&ws.path().join("mlruns")).expect("store");
    let dir = store.artifact_dir(local_run).expect("artifact dir");
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.clone()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(&dir).expect("below").to_string_lossy().replace('\\', "/");
                out.insert(relative, std::fs::read(&path).expect("read file"));
            }
        }
    }
    out
}

/// The workspace's logged model id that a local run's model went to.
fn sync_model_id(ws: &Workspace, local_run: &str) -> String {
    let local = ws.json(&["runs", "show", local_run]);
    local["tags"]["mlops.sync.model_id"].as_str().expect("model id tag").to_string()
}

#[test]
fn sync_list_register_and_predict_against_a_workspace() {
    let (ws, standin, uri, _blobs) = setup();
    let experiment = unique("aml-sync");
    let data = diabetes().display().to_string();
    let local = ws.json(&["train", "--data", &data, "--experiment", &experiment]);
    let local_id = local["run_id"].as_str().expect("run id");

    let synced =
        json_of(&signed_in(&ws, &standin, &["runs", "sync", "--to", &uri, "-o", "json"]).output().expect("run"));
    let outcome = &synced["synced"][0];
    assert_eq!(outcome["local_run_id"], local_id);
    assert_eq!(outcome["uploaded"], true);
    assert_eq!(outcome["metric_points"], 4);
    assert!(outcome["artifacts"].as_u64().is_some_and(|n| n > 0), "{synced}");
    assert!(outcome["logged_model_id"].as_str().is_some_and(|m| m.starts_with("m-")), "{synced}");
    assert_eq!(outcome["artifact_upload"]["state"], "uploaded");
    let puts_before = standin.log().iter().filter(|l| l.method == "PUT").count();
    let remote_id = outcome["remote_run_id"].as_str().expect("remote id").to_string();
    let again = json_of(
        &signed_in(&ws, &standin, &["runs", "sync", "--to", &uri, local_id, "-o", "json"]).output().expect("run"),
    );
    assert_eq!(again["synced"][0]["uploaded"], false);
    let puts_after = standin.log().iter().filter(|l| l.method == "PUT").count();
    assert_eq!(puts_after, puts_before, "a second sync uploads nothing");
    assert_eq!(again["synced"][0]["remote_run_id"], remote_id.as_str());
    assert_eq!(read_with_mlflow(&standin, &remote_id)["metrics"]["mse"], local["metrics"]["mse"]);

    let listed = json_of(
        &signed_in(&ws, &standin, &["runs", "list", "--tracking-uri", &uri, "--experiment", &experiment, "-o", "json"])
            .output()
            .expect("run"),
    );
    let runs = listed["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["info"]["run_id"], remote_id.as_str());

    // The version's files are the run's model in the workspace; any machine resolves it.
    let name = unique("diabetes-aml");
    let out = signed_in(
        &ws,
        &standin,
        &[
            "model",
            "register",
            "--run-id",
            &remote_id,
            "--name",
            &name,
            "--alias",
            "champion",
            "--tracking-uri",
            &uri,
            "-o",
            "json",
        ],
    )
    .output()
    .expect("run");
    let registered = json_of(&out);
    let version = &registered["version"];
    assert_eq!(version["version"], 1, "{registered}");
    assert_eq!(version["aliases"], serde_json::json!(["champion"]));
    assert_eq!(version["tags"]["mlops.artifacts"], Value::Null, "{registered}");
    assert_eq!(version["model_id"], outcome["logged_model_id"], "{registered}");
    let here = json_of(
        &signed_in(
            &ws,
            &standin,
            &["predict", "--model", &format!("runs:/{local_id}/model"), "--data", &data, "-o", "json"],
        )
        .output()
        .expect("run"),
    );
    assert_eq!(here["predictions"].as_array().map(Vec::len), Some(442));
    // Elsewhere (an empty local store) the same version, alias and run resolve from the workspace.
    for model in [format!("models:/{name}@champion"), format!("models:/{name}/1"), format!("runs:/{remote_id}/model")] {
        let elsewhere = Workspace::new();
        let predicted = json_of(
            &signed_in(
                &elsewhere,
                &standin,
                &["predict", "--model", &model, "--data", &data, "--tracking-uri", &uri, "-o", "json"],
            )
            .env("MLOPS_CACHE_DIR", elsewhere.path().join("cache"))
            .output()
            .expect("run"),
        );
        assert_eq!(predicted["predictions"], here["predictions"], "{model}");
    }
    // The cache is keyed by the logged model: the version and the run name the same files, so
    // the second resolution downloads nothing.
    let shared = Workspace::new();
    let blob_gets =
        || standin.log().iter().filter(|l| l.method == "GET" && l.path.contains(".blob.core.windows.net/")).count();
    for (model, fetches) in [(format!("models:/{name}/1"), true), (format!("runs:/{remote_id}/model"), false)] {
        let before = blob_gets();
        json_of(
            &signed_in(
                &shared,
                &standin,
                &["predict", "--model", &model, "--data", &data, "--tracking-uri", &uri, "-o", "json"],
            )
            .env("MLOPS_CACHE_DIR", shared.path().join("cache"))
            .output()
            .expect("run"),
        );
        assert_eq!(blob_gets() > before, fetches, "{model}");
    }

    // `model download` into a directory of an empty checkout: the files the run logged.
    let elsewhere = Workspace::new();
    let dest = elsewhere.path().join("downloaded");
    let out = signed_in(
        &elsewhere,
        &standin,
        &["model", "download", &format!("{name}/1"), "--dest", &dest.display().to_string(), "--tracking-uri", &uri],
    )
    .env("MLOPS_CACHE_DIR", elsewhere.path().join("cache"))
    .output()
    .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    // `serve --model` in an empty checkout scores with the workspace's model.
    let elsewhere = Workspace::new();
    let (ca, url) = (standin.ca_pem.display().to_string(), standin.url());
    let cache = elsewhere.path().join("cache").display().to_string();
    let server = crate::servers::MlopsServer::start_with_env(
        &elsewhere,
        &["--model", &format!("models:/{name}@champion"), "--tracking-uri", &uri],
        &[
            ("AZURE_TENANT_ID", standin::TENANT),
            ("AZURE_CLIENT_ID", standin::CLIENT_ID),
            ("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET),
            ("AZURE_AUTHORITY_HOST", &url),
            ("AZURE_RESOURCE_MANAGER_ENDPOINT", &url),
            ("SSL_CERT_FILE", &ca),
            ("NO_PROXY", "127.0.0.1,localhost"),
            ("MLOPS_CACHE_DIR", &cache),
        ],
    );
    let first_row: Vec<f64> = std::fs::read_to_string(diabetes())
        .expect("csv")
        .lines()
        .nth(1)
        .expect("row")
        .split(',')
        .take(10)
        .map(|v| v.parse().expect("number"))
        .collect();
    let scored: Value = reqwest::blocking::Client::new()
        .post(server.url("/score"))
        .json(&serde_json::json!({"data": [first_row]}))
        .send()
        .expect("score")
        .json()
        .expect("json");
    let (got, want) = (
        scored["result"][0].as_f64().expect("score"),
        here["predictions"][0]["prediction"].as_f64().expect("prediction"),
    );
    assert!((got - want).abs() <= 1e-9 * want.abs(), "{got} vs {want}");
    drop(server.stop());

    let local_model = local_artifacts(&ws, local_id);
    for (path, bytes) in local_model.iter().filter(|(p, _)| p.starts_with("model/") && !p.ends_with("MLmodel")) {
        let got = std::fs::read(dest.join(&path["model/".len()..])).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(&got, bytes, "{path}");
    }
}

/// `mlops reproduce` against the workspace: the run, its registry and its lineage come from Azure
/// ML's MLflow endpoint, the model files from the workspace's storage, on any machine.
#[test]
fn a_workspace_run_and_its_registered_version_are_reproduced() {
    let (ws, standin, uri, _blobs) = setup();
    let experiment = unique("aml-repro");
    let data = diabetes().display().to_string();
    let trained = json_of(
        &signed_in(
            &ws,
            &standin,
            &[
                "train",
                "--data",
                &data,
                "--tracking-uri",
                &uri,
                "--experiment",
                &experiment,
                "--alpha",
                "0.7",
                "-o",
                "json",
            ],
        )
        .output()
        .expect("run"),
    );
    let run_id = trained["run_id"].as_str().expect("run id");
    let seen = read_with_mlflow(&standin, run_id);
    assert_eq!(seen["tags"]["mlops.version"], env!("CARGO_PKG_VERSION"), "{seen}");
    assert!(seen["tags"]["mlops.data.sha256"].as_str().is_some_and(|s| s.len() == 64), "{seen}");

    let name = unique("repro-aml");
    let registered = json_of(
        &signed_in(
            &ws,
            &standin,
            &[
                "model",
                "register",
                "--run-id",
                run_id,
                "--name",
                &name,
                "--alias",
                "champion",
                "--tracking-uri",
                &uri,
                "-o",
                "json",
            ],
        )
        .output()
        .expect("run"),
    );
    assert_eq!(registered["version"]["tags"]["mlops.param.alpha"], "0.7", "{registered}");

    let model = format!("models:/{name}@champion");
    for target in [run_id, model.as_str()] {
        let out = signed_in(&ws, &standin, &["reproduce", target, "--tracking-uri", &uri, "-o", "json"])
            .env("MLOPS_CACHE_DIR", ws.path().join("cache"))
            .output()
            .expect("run");
        let report: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON ({e}): {}", stderr(&out)));
        assert_eq!(out.status.code(), Some(0), "{report:#}");
        assert_eq!(report["outcome"], "identical");
        assert_eq!(report["run_id"], run_id);
        assert_eq!(report["comparison"]["values"].as_array().map(Vec::len), Some(15));
    }
    // Elsewhere (an empty checkout) the model files come from the workspace: the same outcome.
    let elsewhere = Workspace::new();
    let out = signed_in(&elsewhere, &standin, &["reproduce", &model, "--tracking-uri", &uri, "-o", "json"])
        .env("MLOPS_CACHE_DIR", elsewhere.path().join("cache"))
        .output()
        .expect("run");
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON ({e}): {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["outcome"], "identical");
}

/// An `az` on a PATH (returned) that hands out `tokens` in turn (then the last one again), each
/// valid for `lifetime` seconds, and counts its calls in `az-calls`.
fn fake_az(ws: &Workspace, tokens: &[String], lifetime: i64) -> String {
    let bin = ws.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let dir = ws.path().display().to_string();
    std::fs::write(ws.path().join("az-tokens"), tokens.join("\n") + "\n").expect("tokens");
    let _ = std::fs::remove_file(ws.path().join("az-calls"));
    let script = format!(
        r#"#!/bin/sh
n=$(( $(cat "{dir}/az-calls" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "{dir}/az-calls"
token=$(sed -n "${{n}}p" "{dir}/az-tokens")
[ -n "$token" ] || token=$(tail -n 1 "{dir}/az-tokens")
expires=$(( $(date +%s) + {lifetime} ))
echo "{{\"accessToken\": \"$token\", \"expiresOn\": \"2099-01-01 00:00:00.000000\", \"expires_on\": $expires, \"subscription\": \"{}\", \"tenant\": \"{}\", \"tokenType\": \"Bearer\"}}"
"#,
        standin::SUBSCRIPTION,
        standin::TENANT
    );
    let az = bin.join("az");
    std::fs::write(&az, script).expect("az");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    format!("{}:/usr/bin:/bin", bin.display())
}

fn az_calls(ws: &Workspace) -> usize {
    std::fs::read_to_string(ws.path().join("az-calls")).map_or(0, |t| t.trim().parse().unwrap_or(0))
}

#[test]
fn tokens_are_reused_until_they_near_expiry_then_renewed() {
    let (ws, standin, uri, _blobs) = setup();
    let data = diabetes().display().to_string();
    let tokens: Vec<String> = (0..40).map(|_| standin.issue_token()).collect();
    let train = |path: &str| {
        let experiment = unique("aml-tokens");
        let out = mlops(
            &ws,
            &standin,
            &["train", "--data", &data, "--tracking-uri", &uri, "--experiment", &experiment, "-o", "json"],
        )
        .env("PATH", path)
        .env("MLOPS_AZURE_AUTH", "azure-cli")
        .output()
        .expect("run");
        assert_eq!(json_of(&out)["sync"]["state"], "synced");
    };
    // An hour-long token serves the whole run.
    train(&fake_az(&ws, &tokens, 3600));
    assert_eq!(az_calls(&ws), 1);
    // A token within five minutes of expiry is never reused: each request gets a fresh one.
    let workspace_call = |l: &&standin::Logged| l.path.starts_with("/mlflow/") || l.path.starts_with("/history/");
    let before = standin.log().iter().filter(workspace_call).count();
    train(&fake_az(&ws, &tokens, 60));
    let requests = standin.log().iter().filter(workspace_call).count() - before;
    assert!(requests >= 5, "{requests} requests");
    assert_eq!(az_calls(&ws), requests);
}

#[test]
fn rejected_token_is_an_auth_error_that_never_shows_the_token() {
    let (ws, standin, uri, _blobs) = setup();
    // An `az` that hands out a token Entra never issued.
    let path = fake_az(&ws, &["standin-at-forged0123456789abcdef".to_string()], 3600);
    let data = diabetes().display().to_string();
    let out = mlops(&ws, &standin, &["-vvv", "train", "--data", &data, "--tracking-uri", &uri])
        .env("PATH", &path)
        .env("MLOPS_AZURE_AUTH", "azure-cli")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let text = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert!(text.contains("401") && text.contains("UNAUTHENTICATED"), "{text}");
    assert!(!text.contains("forged0123456789abcdef"), "the token leaked: {text}");
}

#[test]
fn malformed_azureml_uri_names_the_wrong_part() {
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    let uri = "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s/resourceGroup/rg/providers/Microsoft.MachineLearningServices/workspaces/ws";
    let out = ws.run(&["train", "--data", &data, "--tracking-uri", uri]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(r#"should be "resourceGroups" but is "resourceGroup""#), "{}", stderr(&out));
    assert!(!ws.path().join("mlruns").exists(), "nothing is trained with a bad tracking URI");
}
