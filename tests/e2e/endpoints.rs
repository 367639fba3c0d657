//! `mlops endpoint` against the stand-in's online endpoints, whose deployments really run
//! `mlops serve` on the model asset's files: the control plane, invoke, safe rollout with a
//! client scoring throughout, a broken deployment that leaves traffic untouched, and bad input.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::online_endpoints::{Arm, RG, WS, request_and_expected, standin_with_model, trained_model};
use crate::standin::{self, StandIn};
use crate::support::{Workspace, assert_close, diabetes, floats, repo, stderr};

pub fn mlops(ws: &Workspace, standin: &StandIn, args: &[&str]) -> Command {
    let mut cmd = crate::infra::mlops(ws, standin, args);
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET)
        .env("AZUREML_WORKSPACE_NAME", WS)
        .env("AZURE_RESOURCE_GROUP", RG)
        .env("SSL_CERT_FILE", &standin.ca_pem);
    cmd
}

pub fn run(ws: &Workspace, standin: &StandIn, args: &[&str]) -> Output {
    mlops(ws, standin, args).output().expect("run mlops")
}

pub fn json_ok(ws: &Workspace, standin: &StandIn, args: &[&str]) -> Value {
    let out = run(ws, standin, &[args, &["-o", "json"]].concat());
    assert!(out.status.success(), "mlops {args:?} failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

pub fn fixture(name: &str) -> String {
    repo().join("tests/fixtures/endpoints").join(name).display().to_string()
}

/// Twenty diabetes rows as Azure ML's split DataFrame request file, and `mlops predict`'s answers.
pub fn request_file(ws: &Workspace, model_dir: &std::path::Path) -> (PathBuf, Vec<f64>) {
    let (body, expected) = request_and_expected(ws, model_dir);
    let path = ws.path().join("request.json");
    std::fs::write(&path, body.to_string()).expect("request file");
    (path, expected)
}

pub fn deploy(
    ws: &Workspace,
    standin: &StandIn,
    endpoint: &str,
    deployment: &str,
    model: &str,
    extra: &[&str],
) -> Output {
    let settings = fixture("fast-probes.yml");
    let args = [
        &["endpoint", "deploy", endpoint, "--deployment", deployment, "--model", model, "--settings"][..],
        &[settings.as_str()],
        extra,
        &["-o", "json"],
    ]
    .concat();
    run(ws, standin, &args)
}

#[test]
fn endpoint_control_plane_and_errors() {
    let (standin, _, _blobs, ws, _) = standin_with_model();
    let created = json_ok(&ws, &standin, &["endpoint", "create", "ep-cli", "--auth-mode", "key"]);
    assert_eq!(created["name"], "ep-cli");
    assert_eq!(created["auth_mode"], "Key");
    assert_eq!(created["provisioning_state"], "Succeeded");
    let shown = json_ok(&ws, &standin, &["endpoint", "show", "ep-cli"]);
    assert!(shown["scoring_uri"].as_str().is_some_and(|u| u.starts_with("https://")), "{shown}");
    assert_eq!(shown["deployments"], json!([]));
    let show_text = run(&ws, &standin, &["endpoint", "show", "ep-cli"]);
    let listed = json_ok(&ws, &standin, &["endpoint", "list"]);
    assert_eq!(listed["endpoints"].as_array().map(|a| a.len()), Some(1), "{listed}");
    let keys = json_ok(&ws, &standin, &["endpoint", "keys", "ep-cli"]);
    let primary = keys["primaryKey"].as_str().expect("primary").to_string();
    assert!(primary.len() > 8);
    // The key prints only through `keys`.
    assert!(!String::from_utf8_lossy(&show_text.stdout).contains(&primary));
    let regenerated = json_ok(&ws, &standin, &["endpoint", "keys", "ep-cli", "--regenerate", "primary"]);
    assert_ne!(regenerated["primaryKey"], keys["primaryKey"]);
    assert_eq!(regenerated["secondaryKey"], keys["secondaryKey"]);

    // Errors: unknown endpoint (8), bad --rollout and traffic (2), bad settings file (6).
    let out = run(&ws, &standin, &["endpoint", "show", "nope"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("\"nope\""), "{}", stderr(&out));
    for (stages, says) in [("50,10,100", "the stages must increase"), ("10,50", "the last stage must be 100")] {
        let args = ["endpoint", "deploy", "ep-cli", "--deployment", "green", "--model", "models:/diabetes/1"];
        let out = run(&ws, &standin, &[&args[..], &["--rollout", stages]].concat());
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    let bad = fixture("bad-settings.yml");
    let out = run(
        &ws,
        &standin,
        &["endpoint", "deploy", "ep-cli", "--deployment", "green", "--model", "models:/diabetes/1", "--settings", &bad],
    );
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad-settings.yml:2:") && stderr(&out).contains("request_timeout"),
        "{}",
        stderr(&out)
    );
    let out = run(&ws, &standin, &["endpoint", "traffic", "ep-cli", "blue=90"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("add up to 100, not 90"), "{}", stderr(&out));
    let out =
        run(&ws, &standin, &["endpoint", "deploy", "ep-cli", "--deployment", "green", "--model", "models:/diabetes/7"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));

    let out = mlops(&ws, &standin, &["endpoint", "delete", "ep-cli"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("without --yes"), "{}", stderr(&out));
    json_ok(&ws, &standin, &["endpoint", "delete", "ep-cli", "--yes"]);
    assert_eq!(run(&ws, &standin, &["endpoint", "show", "ep-cli"]).status.code(), Some(8));
}

#[test]
fn blue_serves_green_rolls_out_without_a_failed_request_and_a_broken_green_changes_nothing() {
    let (standin, _, _blobs, ws, dir) = standin_with_model();
    json_ok(&ws, &standin, &["endpoint", "create", "ep-roll"]);
    let out = deploy(&ws, &standin, "ep-roll", "blue", "models:/diabetes/1", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = json_ok(&ws, &standin, &["endpoint", "show", "ep-roll"]);
    assert_eq!(shown["traffic"], json!({"blue": 100}), "a first deployment takes all traffic");

    // Invoke answers what `mlops predict` answers for the same rows.
    let (request, expected) = request_file(&ws, &dir);
    let request = request.display().to_string();
    let answer = json_ok(&ws, &standin, &["endpoint", "invoke", "ep-roll", "--data", &request]);
    let got = floats(&answer);
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_close(*g, *e, 1e-9, "invoke against predict");
    }

    // A client scores without pause during the rollout; none of its requests may fail.
    let scoring_uri = shown["scoring_uri"].as_str().expect("scoring uri").to_string();
    let key = json_ok(&ws, &standin, &["endpoint", "keys", "ep-roll"])["primaryKey"].as_str().expect("key").to_string();
    let body = std::fs::read(&request).expect("request");
    let arm = Arm::new(&standin);
    let (stop, ok, failed) =
        (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let client = {
        let (stop, ok, failed, http) = (stop.clone(), ok.clone(), failed.clone(), arm.http.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let response = http
                    .post(&scoring_uri)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send();
                match response {
                    Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        })
    };
    let out = deploy(&ws, &standin, "ep-roll", "green", "models:/diabetes/1", &["--rollout", "10,50,100"]);
    stop.store(true, Ordering::SeqCst);
    client.join().expect("client thread");
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["outcome"], "completed");
    assert_eq!(
        report["stages"].as_array().map(|s| s.iter().map(|s| s["percent"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(10), json!(50), json!(100)])
    );
    assert_eq!(report["final_traffic"], json!({"blue": 0, "green": 100}));
    assert!(ok.load(Ordering::SeqCst) > 0, "the client sent requests");
    assert_eq!(failed.load(Ordering::SeqCst), 0, "requests failed during the rollout");
    let shown = json_ok(&ws, &standin, &["endpoint", "show", "ep-roll"]);
    assert_eq!(shown["traffic"], json!({"blue": 0, "green": 100}));
    let logs = json_ok(&ws, &standin, &["endpoint", "logs", "ep-roll", "--deployment", "green", "--lines", "5"]);
    assert!(logs["content"].is_string());

    // A model whose files are corrupt: the deployment ends Failed (15), traffic untouched.
    let broken = trained_model(&ws);
    for entry in std::fs::read_dir(&broken).expect("model dir") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n != "MLmodel") && path.is_file() {
            std::fs::write(&path, b"{ not a model").expect("break");
        }
    }
    standin.upload_model((RG, WS), "broken", "1", &broken);
    let out = deploy(&ws, &standin, "ep-roll", "blue", "models:/broken/1", &["--rollout", "10,100"]);
    assert_eq!(out.status.code(), Some(15), "{}", stderr(&out));
    assert!(stderr(&out).contains("traffic is unchanged"), "{}", stderr(&out));
    let shown = json_ok(&ws, &standin, &["endpoint", "show", "ep-roll"]);
    assert_eq!(shown["traffic"], json!({"blue": 0, "green": 100}));
}

/// A green that provisions but answers the smoke test wrongly (its coefficients overflow every
/// prediction of the sample rows, so its server refuses them) is rolled back: traffic is exactly
/// blue=100 again and the exit code is 14.
#[test]
fn a_green_that_fails_its_smoke_test_is_rolled_back() {
    let (standin, _, _blobs, ws, _) = standin_with_model();
    json_ok(&ws, &standin, &["endpoint", "create", "ep-back"]);
    let out = deploy(&ws, &standin, "ep-back", "blue", "models:/diabetes/1", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let overflowing = trained_model(&ws);
    let path = overflowing.join("model.json");
    let mut model: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("model.json")).expect("json");
    let features = model["coefficients"].as_array().expect("coefficients").len();
    model["coefficients"] = json!(vec![1.7e308; features]);
    std::fs::write(&path, model.to_string()).expect("write model.json");
    standin.upload_model((RG, WS), "overflowing", "1", &overflowing);

    let out = deploy(
        &ws,
        &standin,
        "ep-back",
        "green",
        "models:/overflowing/1",
        &["--rollout", "10,50,100", "--smoke-timeout", "60"],
    );
    assert_eq!(out.status.code(), Some(14), "{}", stderr(&out));
    assert!(stderr(&out).contains("rolled back"), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("report on stdout");
    assert_eq!(report["outcome"], "rolled-back");
    assert_eq!(report["final_traffic"], json!({"blue": 100}));
    assert_eq!(report["stages"][0]["passed"], false, "{report}");
    let shown = json_ok(&ws, &standin, &["endpoint", "show", "ep-back"]);
    assert_eq!(shown["traffic"], json!({"blue": 100}));
    let names: Vec<&str> =
        shown["deployments"].as_array().expect("deployments").iter().filter_map(|d| d["name"].as_str()).collect();
    assert!(names.contains(&"green"), "the failed deployment stays for its logs: {names:?}");
}

/// The official azure-ai-ml client on the endpoints `mlops` works with.
pub fn azure_ai_ml(standin: &StandIn, args: &[&str]) -> Value {
    let out = Command::new(crate::support::python())
        .arg(repo().join("tests/python/azureml_endpoint_crosstool.py"))
        .args([
            &standin.url(),
            standin::TENANT,
            standin::CLIENT_ID,
            standin::CLIENT_SECRET,
            standin::SUBSCRIPTION,
            RG,
            WS,
        ])
        .args(args)
        .env("AZUREML_DEV_URL_MFE", standin.url())
        .env("REQUESTS_CA_BUNDLE", &standin.ca_pem)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("AZURE_AUTHORITY_HOST")
        .output()
        .expect("python");
    assert!(out.status.success(), "azureml_endpoint_crosstool.py failed:\n{}", stderr(&out));
    // azure-ai-ml prints progress dots (no newline) on stdout while it waits.
    let text = String::from_utf8_lossy(&out.stdout);
    let answer = text.find('{').map_or("", |at| &text[at..]);
    serde_json::from_str(answer).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn azure_ai_ml_and_mlops_see_the_same_endpoints() {
    let (standin, model, _blobs, ws, _) = standin_with_model();
    // Made by azure-ai-ml, shown and deleted by mlops.
    assert_eq!(azure_ai_ml(&standin, &["create", "ep-sdk"])["state"], "Succeeded");
    let shown = json_ok(&ws, &standin, &["endpoint", "show", "ep-sdk"]);
    assert_eq!(shown["auth_mode"], "Key");
    assert_eq!(shown["description"], "made by azure-ai-ml");
    json_ok(&ws, &standin, &["endpoint", "delete", "ep-sdk", "--yes"]);
    assert_eq!(run(&ws, &standin, &["endpoint", "show", "ep-sdk"]).status.code(), Some(8));

    // Made and deployed by mlops, read by azure-ai-ml.
    json_ok(&ws, &standin, &["endpoint", "create", "ep-mlops"]);
    let out = deploy(&ws, &standin, "ep-mlops", "blue", "models:/diabetes/1", &["--instance-count", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = azure_ai_ml(&standin, &["read", "ep-mlops", "blue"]);
    assert_eq!(seen["auth_mode"], "key");
    assert_eq!(seen["traffic"], json!({"blue": 100}));
    assert_eq!(seen["deployment_state"], "Succeeded");
    assert_eq!(seen["instance_count"], 2);
    assert_eq!(seen["instance_type"], "Standard_DS3_v2");
    assert!(seen["model"].as_str().is_some_and(|m| m.eq_ignore_ascii_case(&model)), "{seen} vs {model}");
}

/// The CD workflows deploy `models:/NAME@champion`: the alias resolves through the workspace's
/// MLflow registry (where `mlops model register --alias` put it) to the version it names, and the
/// deployment serves that version's files, not the newest.
#[test]
fn the_champion_alias_resolves_through_the_workspace_registry() {
    use crate::tracking_azureml::{json_of, signed_in, unique};
    let standin = StandIn::start();
    standin.create_aml_workspace(RG, WS, "cpu-cluster");
    standin.serve_mlflow(&crate::mlflow_server::MlflowServer::shared().uri);
    let blobs = crate::servers::azurite();
    standin.serve_artifacts(&blobs.base);
    standin.serve_deployments_with(std::path::Path::new(env!("CARGO_BIN_EXE_mlops")));
    let uri = standin.azureml_tracking_uri(RG, WS);
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    let name = unique("champion");

    // Two versions with different models; the champion is the first.
    let mut model_dirs = Vec::new();
    for alpha in ["0.5", "50"] {
        let local = ws.json(&["train", "--data", &data, "--alpha", alpha]);
        let local_id = local["run_id"].as_str().expect("run id").to_string();
        model_dirs.push(local["model"]["path"].as_str().expect("model path").to_string());
        let synced = json_of(
            &signed_in(&ws, &standin, &["runs", "sync", "--to", &uri, &local_id, "-o", "json"]).output().expect("sync"),
        );
        let remote_id = synced["synced"][0]["remote_run_id"].as_str().expect("remote id").to_string();
        let mut register = vec!["model", "register", "--run-id", &remote_id, "--name", &name];
        if alpha == "0.5" {
            register.extend(["--alias", "champion"]);
        }
        register.extend(["--tracking-uri", &uri, "-o", "json"]);
        json_of(&signed_in(&ws, &standin, &register).output().expect("register"));
    }

    json_ok(&ws, &standin, &["endpoint", "create", "ep-alias"]);
    let out = deploy(&ws, &standin, "ep-alias", "blue", &format!("models:/{name}@champion"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = azure_ai_ml(&standin, &["read", "ep-alias", "blue"]);
    assert!(
        seen["model"].as_str().is_some_and(|m| m.to_ascii_lowercase().ends_with(&format!("/models/{name}/versions/1"))),
        "the champion is version 1: {seen}"
    );
    // It scores like version 1's model, and unlike version 2's.
    let (request, champion) = request_file(&ws, std::path::Path::new(&model_dirs[0]));
    let (_, challenger) = request_file(&ws, std::path::Path::new(&model_dirs[1]));
    let answer =
        floats(&json_ok(&ws, &standin, &["endpoint", "invoke", "ep-alias", "--data", &request.display().to_string()]));
    assert_eq!(answer.len(), champion.len());
    for ((got, want), other) in answer.iter().zip(&champion).zip(&challenger) {
        assert_close(*got, *want, 1e-9, "the champion's predictions");
        assert!((got - other).abs() > 1e-6, "version 2 would answer {other}, the endpoint answered {got}");
    }
}

/// Ctrl-C while the new deployment provisions stops waiting (exit 130) and leaves the endpoint's
/// traffic as it was; the deployment goes on (still Creating), nothing is deleted or shifted.
#[test]
fn ctrl_c_during_provisioning_stops_waiting_and_leaves_traffic() {
    let (standin, _, _blobs, ws, _) = standin_with_model();
    json_ok(&ws, &standin, &["endpoint", "create", "ep-int"]);
    let out = deploy(&ws, &standin, "ep-int", "blue", "models:/diabetes/1", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let slow = fixture("slow-probes.yml");
    let args = [
        "endpoint",
        "deploy",
        "ep-int",
        "--deployment",
        "green",
        "--model",
        "models:/diabetes/1",
        "--settings",
        &slow,
        "--rollout",
        "10,100",
        "-o",
        "json",
    ];
    let child = mlops(&ws, &standin, &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Interrupt once mlops is polling the operation of the deployment it created (a GET after
    // its PUT).
    let started = std::time::Instant::now();
    let polled = |log: &[crate::standin::Logged]| {
        let at = log.iter().position(|l| l.method == "PUT" && l.path.ends_with("/deployments/green"));
        at.is_some_and(|at| log[at + 1..].iter().any(|l| l.method == "GET"))
    };
    while !polled(&standin.log()) {
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "mlops never polled the deployment");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("goes on in Azure ML") && err.contains("traffic untouched"), "{err}");
    let shown = json_ok(&ws, &standin, &["endpoint", "show", "ep-int"]);
    assert_eq!(shown["traffic"], json!({"blue": 100}), "{shown}");
    let green = shown["deployments"].as_array().expect("deployments").iter().find(|d| d["name"] == "green").cloned();
    assert_eq!(green.map(|d| d["provisioning_state"].clone()), Some(json!("Creating")), "{shown}");
}
