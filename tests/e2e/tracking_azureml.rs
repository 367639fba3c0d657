//! Tracking to an Azure ML workspace (`azureml://…`): the stand-in's MLflow data plane, backed by
//! a real `mlflow server`, with ARM tokens from its Entra ID. Stock MLflow reads the runs back
//! through the same endpoint, which keeps the stand-in honest.

use std::process::{Command, Output};

use serde_json::Value;

use crate::infra::mlops;
use crate::mlflow_server::MlflowServer;
use crate::standin::{self, StandIn};
use crate::support::{Workspace, diabetes, python, repo, stderr};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// A stand-in serving one workspace's MLflow endpoint from the shared MLflow server.
fn setup() -> (Workspace, StandIn, String) {
    let standin = StandIn::start();
    standin.serve_mlflow(&MlflowServer::shared().uri);
    let uri = standin.azureml_tracking_uri("rg-ml", "ws-ml");
    (Workspace::new(), standin, uri)
}

/// `mlops` signed in as the stand-in's service principal.
fn signed_in(ws: &Workspace, standin: &StandIn, args: &[&str]) -> Command {
    let mut cmd = mlops(ws, standin, args);
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET);
    cmd
}

fn json_of(out: &Output) -> Value {
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
    let (ws, standin, uri) = setup();
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
    // The workspace's artifact store is not writable by mlops: the model stays local, and says so.
    let remote_artifacts = sync["remote_artifact_uri"].as_str().expect("artifact uri");
    assert!(remote_artifacts.starts_with("azureml://"), "{remote_artifacts}");
    assert_eq!(sync["artifacts"]["state"], "local-only");
    let local_path = std::path::PathBuf::from(sync["artifacts"]["local_path"].as_str().expect("path"));
    assert!(local_path.join("model/MLmodel").is_file(), "{}", local_path.display());
    assert_eq!(report["artifact_uri"], format!("file://{}", local_path.display()), "artifacts reported where they are");
    assert!(stderr(&out).contains("stay in"), "{}", stderr(&out));

    let remote_id = sync["remote_run_id"].as_str().expect("remote run");
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
}

#[test]
fn sync_list_register_and_predict_against_a_workspace() {
    let (ws, standin, uri) = setup();
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
    assert_eq!(outcome["artifacts"], 0);
    assert_eq!(outcome["logged_model_id"], Value::Null);
    assert_eq!(outcome["artifact_upload"]["state"], "local-only");
    let remote_id = outcome["remote_run_id"].as_str().expect("remote id").to_string();
    let again = json_of(
        &signed_in(&ws, &standin, &["runs", "sync", "--to", &uri, local_id, "-o", "json"]).output().expect("run"),
    );
    assert_eq!(again["synced"][0]["uploaded"], false);
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

    // The version records where the files are; predict finds them in the local store.
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
    assert!(stderr(&out).contains("are not on the server"), "{}", stderr(&out));
    let version = &registered["version"];
    assert_eq!(version["version"], 1, "{registered}");
    assert_eq!(version["aliases"], serde_json::json!(["champion"]));
    assert_eq!(version["tags"]["mlops.artifacts"], "local-only");
    assert_eq!(version["tags"]["mlops.local_run_id"], local_id);
    let model = format!("models:/{name}@champion");
    let predicted = json_of(
        &signed_in(
            &ws,
            &standin,
            &["predict", "--model", &model, "--data", &data, "--tracking-uri", &uri, "-o", "json"],
        )
        .output()
        .expect("run"),
    );
    assert_eq!(predicted["predictions"].as_array().map(Vec::len), Some(442));
    // Elsewhere (an empty local store) the same version is a clear not-found, not a wrong model.
    let elsewhere = Workspace::new();
    let out = signed_in(&elsewhere, &standin, &["predict", "--model", &model, "--data", &data, "--tracking-uri", &uri])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("local run {local_id}")), "{}", stderr(&out));
}

/// `mlops reproduce` against the workspace: the run, its registry and its lineage come from Azure
/// ML's MLflow endpoint; the model files from the local store that trained it (the workspace takes
/// no artifact uploads from mlops), and nowhere else.
#[test]
fn a_workspace_run_and_its_registered_version_are_reproduced() {
    let (ws, standin, uri) = setup();
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
    // Elsewhere the model files are not reachable: not found, naming the local run that has them.
    let elsewhere = Workspace::new();
    let out = signed_in(&elsewhere, &standin, &["reproduce", &model, "--tracking-uri", &uri])
        .env("MLOPS_CACHE_DIR", elsewhere.path().join("cache"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("local run"), "{}", stderr(&out));
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
    let (ws, standin, uri) = setup();
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
    let before = standin.log().iter().filter(|l| l.path.starts_with("/mlflow/")).count();
    train(&fake_az(&ws, &tokens, 60));
    let requests = standin.log().iter().filter(|l| l.path.starts_with("/mlflow/")).count() - before;
    assert!(requests >= 5, "{requests} requests");
    assert_eq!(az_calls(&ws), requests);
}

#[test]
fn rejected_token_is_an_auth_error_that_never_shows_the_token() {
    let (ws, standin, uri) = setup();
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
