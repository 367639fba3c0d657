//! `mlops pipeline publish | submit | cancel | schedule` and `mlops train --compute` against the
//! Azure ML part of the HTTPS stand-in; and the published components run for real, locally, the
//! way an Azure ML compute runs them (`sh -c` with the inputs and outputs substituted).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::standin::{self, Fault, FaultKind, StandIn};
use crate::support::{Workspace, repo, stderr};

pub const RG: &str = "rg-ml";
pub const WS: &str = "mlw-test";
pub const COMPUTE: &str = "cpu-cluster";
/// The training data as Azure ML reads it: `data_path` is a `type: data` parameter (a `uri_file` input).
const DATA: &str = "data_path=https://mlopsdata.blob.core.windows.net/landing/diabetes.csv";

/// A project checkout (data and pipelines) and a stand-in with a workspace and a compute cluster.
fn setup() -> (Workspace, StandIn) {
    let ws = Workspace::new();
    for dir in ["data", "pipelines"] {
        std::fs::create_dir_all(ws.path().join(dir)).expect("mkdir");
        for entry in std::fs::read_dir(repo().join(dir)).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::copy(&path, ws.path().join(dir).join(path.file_name().expect("name"))).expect("copy");
            }
        }
    }
    let standin = StandIn::start();
    standin.set_step(Duration::from_millis(300));
    standin.create_aml_workspace(RG, WS, COMPUTE);
    (ws, standin)
}

/// `mlops` signed in to the stand-in with a client secret, workspace from the environment.
pub fn mlops(ws: &Workspace, standin: &StandIn, args: &[&str]) -> Command {
    let mut cmd = crate::infra::mlops(ws, standin, args);
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET)
        .env("AZUREML_WORKSPACE_NAME", WS)
        .env("AZURE_RESOURCE_GROUP", RG)
        .env("MLOPS_AZUREML_POLL_SECONDS", "0.2");
    cmd
}

fn run(ws: &Workspace, standin: &StandIn, args: &[&str]) -> Output {
    mlops(ws, standin, args).output().expect("run mlops")
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "mlops failed ({:?}): {}", out.status.code(), stderr(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn publish(ws: &Workspace, standin: &StandIn) -> Value {
    json(&run(
        ws,
        standin,
        &["pipeline", "publish", "pipelines/diabetes-train.yml", "--compute", COMPUTE, "-o", "json"],
    ))
}

fn version_puts(standin: &StandIn) -> Vec<String> {
    standin.log().into_iter().filter(|l| l.method == "PUT" && l.path.contains("/versions/")).map(|l| l.path).collect()
}

#[test]
fn publish_twice_is_a_no_op_and_a_changed_step_gets_a_new_component_version() {
    let (ws, standin) = setup();
    let first = publish(&ws, &standin);
    assert_eq!(first["environment"]["created"], true);
    assert_eq!(first["pipeline_component"]["name"], "diabetes_train");
    assert_eq!(first["pipeline_component"]["version"], "1");
    let components = first["components"].as_object().expect("components");
    assert_eq!(components.len(), 5);
    assert!(components.values().all(|c| c["created"] == true && c["version"] == "1"));
    assert_eq!(components["train"]["name"], "diabetes_train_train");
    assert!(first["studio_url"].as_str().expect("studio").starts_with("https://ml.azure.com/"));
    let puts = version_puts(&standin).len();
    assert_eq!(puts, 7, "environment + 5 steps + pipeline");

    // The component runs the step through `mlops pipeline step`, parameters as Azure ML inputs.
    let train = standin.with_aml(|a| a.version("components", "diabetes_train_train", "1")).expect("train v1");
    let spec = &train["properties"]["componentSpec"];
    let command = spec["command"].as_str().expect("command");
    assert!(command.starts_with("mlops pipeline step --name train --result ${{outputs.result}}"), "{command}");
    assert!(command.contains("'${{inputs.dataset_name}}:${{inputs.dataset_version}}'"), "{command}");
    assert_eq!(spec["inputs"]["from_register_data"]["type"], "uri_folder");
    assert_eq!(spec["version"], "1");

    let second = publish(&ws, &standin);
    assert_eq!(version_puts(&standin).len(), puts, "the second publish registered nothing");
    assert_eq!(second["pipeline_component"]["version"], "1");
    assert!(second["components"].as_object().expect("components").values().all(|c| c["created"] == false));

    // Change one step: that component and the pipeline get version 2, the others stay.
    let file = ws.path().join("pipelines/diabetes-train.yml");
    let text = std::fs::read_to_string(&file).expect("read").replace("--metric, mse", "--metric, rmse");
    std::fs::write(&file, text).expect("write");
    let third = publish(&ws, &standin);
    assert_eq!(third["components"]["evaluate"]["version"], "2");
    assert_eq!(third["components"]["evaluate"]["created"], true);
    assert_eq!(third["components"]["train"]["version"], "1");
    assert_eq!(third["components"]["train"]["created"], false);
    assert_eq!(third["pipeline_component"]["version"], "2");
    assert_eq!(third["environment"]["created"], false);
    assert_eq!(version_puts(&standin).len(), puts + 2);
    // Publishing again finds version 2 on the second page of the list (the stand-in pages by one).
    let fourth = publish(&ws, &standin);
    assert_eq!(fourth["components"]["evaluate"]["version"], "2");
    assert_eq!(fourth["components"]["evaluate"]["created"], false);
    assert_eq!(version_puts(&standin).len(), puts + 2);
    assert!(
        standin
            .log()
            .iter()
            .any(|l| l.path.ends_with("diabetes_train_evaluate/versions") && l.query.contains("skiptoken"))
    );
}

#[test]
fn submit_and_stream_to_success_then_to_failure() {
    let (ws, standin) = setup();
    // Running lasts 1 s: polls every 0.2 s see it even on a busy machine.
    standin.set_step(Duration::from_millis(500));
    let out = mlops(
        &ws,
        &standin,
        &[
            "pipeline",
            "submit",
            "pipelines/diabetes-train.yml",
            "--compute",
            COMPUTE,
            "--param",
            "alpha=0.3",
            "--param",
            DATA,
            "--stream",
            "-o",
            "json",
        ],
    )
    .env("MLOPS_GIT_COMMIT", "fedcba9876543210fedcba9876543210fedcba98")
    .output()
    .expect("run mlops");
    let value = json(&out);
    assert_eq!(value["job"]["status"], "Completed");
    assert_eq!(value["job"]["state"], "completed");
    assert_eq!(value["pipeline_version"], "1");
    let err = stderr(&out);
    for status in ["Queued", "Running", "Completed"] {
        assert!(err.contains(&format!(": {status}")), "progress shows {status}: {err}");
    }
    let jobs = standin.with_aml(|a| a.jobs());
    assert_eq!(jobs.len(), 1);
    let (name, job) = &jobs[0];
    assert_eq!(value["job"]["name"], name.as_str());
    assert_eq!(job["jobType"], "Pipeline");
    assert_eq!(job["experimentName"], "diabetes-train");
    assert_eq!(job["inputs"]["alpha"]["value"], "0.3");
    assert_eq!(job["inputs"]["model_name"]["value"], "diabetes-model");
    assert_eq!(job["inputs"]["data_path"]["jobInputType"], "uri_file");
    assert_eq!(job["inputs"]["data_path"]["uri"], "https://mlopsdata.blob.core.windows.net/landing/diabetes.csv");
    assert_eq!(job["jobs"]["evaluate"]["inputs"]["from_train"]["value"], "${{parent.jobs.train.outputs.result}}");
    // Each step's container is told the submitting machine's lineage.
    assert_eq!(
        job["jobs"]["train"]["environment_variables"]["MLOPS_GIT_COMMIT"],
        "fedcba9876543210fedcba9876543210fedcba98"
    );
    // And where its data came from: the mount path Azure ML gives it means nothing elsewhere.
    assert_eq!(
        job["jobs"]["train"]["environment_variables"]["MLOPS_DATA_SOURCE"],
        "https://mlopsdata.blob.core.windows.net/landing/diabetes.csv"
    );
    assert!(job["settings"]["default_compute"].as_str().expect("compute").ends_with("/computes/cpu-cluster"));

    // By name this time (already published), and the service fails the job.
    standin.with_aml(|a| a.failing_jobs.push("diabetes_train".to_string()));
    let out = run(&ws, &standin, &["pipeline", "submit", "diabetes-train", "--param", DATA, "--stream"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(": Failed") && text.contains("Execution failed"), "{text}");
    assert!(text.contains("studio: https://ml.azure.com/runs/"), "{text}");
}

#[test]
fn cancel_stops_a_running_job() {
    let (ws, standin) = setup();
    standin.set_step(Duration::from_secs(5));
    let submitted = json(&run(
        &ws,
        &standin,
        &["pipeline", "submit", "pipelines/diabetes-train.yml", "--compute", COMPUTE, "--param", DATA, "-o", "json"],
    ));
    assert_eq!(submitted["job"]["status"], "NotStarted");
    let name = submitted["job"]["name"].as_str().expect("name").to_string();
    standin.set_step(Duration::from_millis(300));
    let canceled = json(&run(&ws, &standin, &["pipeline", "cancel", &name, "-o", "json"]));
    assert!(canceled["status"] == "CancelRequested" || canceled["status"] == "Canceled", "{canceled:#}");
    let log = standin.log();
    assert!(log.iter().any(|l| l.method == "POST" && l.path.ends_with("/cancel") && l.status == 202));
    assert!(log.iter().any(|l| l.path.contains("/mfeOperationResults/") && l.status == 200));
    // Cancelling a finished job is the service's error, shown with its code.
    std::thread::sleep(Duration::from_millis(400));
    let again = run(&ws, &standin, &["pipeline", "cancel", &name]);
    assert_eq!(again.status.code(), Some(9));
    assert!(stderr(&again).contains("already Canceled"), "{}", stderr(&again));
    let missing = run(&ws, &standin, &["pipeline", "cancel", "no_such_job"]);
    assert_eq!(missing.status.code(), Some(8), "{}", stderr(&missing));
}

#[test]
fn ctrl_c_stops_following_not_the_job() {
    let (ws, standin) = setup();
    standin.set_step(Duration::from_secs(30));
    let child = mlops(
        &ws,
        &standin,
        &["pipeline", "submit", "pipelines/diabetes-train.yml", "--compute", COMPUTE, "--param", DATA],
    )
    .arg("--stream")
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("spawn");
    let started = std::time::Instant::now();
    while !standin.log().iter().any(|l| l.method == "GET" && l.path.contains("/jobs/diabetes_train_")) {
        assert!(started.elapsed() < Duration::from_secs(30), "never followed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("goes on in Azure ML; cancel it with `mlops pipeline cancel diabetes_train_"),
        "{}",
        stderr(&out)
    );
    assert!(!standin.log().iter().any(|l| l.path.ends_with("/cancel")), "Ctrl-C must not cancel the job");
    let (_, job) = standin.with_aml(|a| a.jobs()).remove(0);
    assert_eq!(job["jobType"], "Pipeline");
}

#[test]
fn train_on_a_compute_submits_the_same_arguments_as_a_command_job() {
    let (ws, standin) = setup();
    // The job has no git work tree: the submitting machine's lineage travels as MLOPS_GIT_*/MLOPS_CI_*.
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let out = mlops(
        &ws,
        &standin,
        &[
            "train",
            "--compute",
            COMPUTE,
            "--alpha",
            "0.3",
            "--run-name",
            "remote run",
            "--image",
            "myacr.azurecr.io/mlops:1",
            "-o",
            "json",
        ],
    )
    .env("MLOPS_GIT_COMMIT", commit)
    .env("MLOPS_GIT_DIRTY", "false")
    .env_remove("BUILD_BUILDID")
    .env("GITHUB_RUN_ID", "77")
    .env("GITHUB_SERVER_URL", "https://github.com")
    .env("GITHUB_REPOSITORY", "team/model")
    .output()
    .expect("run mlops");
    let value = json(&out);
    assert_eq!(value["status"], "Completed");
    assert!(stderr(&out).contains("submitted training job"), "{}", stderr(&out));
    let jobs = standin.with_aml(|a| a.jobs());
    let (_, job) = &jobs[0];
    assert_eq!(job["jobType"], "Command");
    assert_eq!(job["command"], "mlops train --alpha 0.3 --run-name 'remote run'");
    let lineage = &job["environmentVariables"];
    assert_eq!(lineage["MLOPS_GIT_COMMIT"], commit, "{job:#}");
    assert_eq!(lineage["MLOPS_GIT_DIRTY"], "false");
    assert_eq!(lineage["MLOPS_CI_BUILD_ID"], "77");
    assert_eq!(lineage["MLOPS_CI_BUILD_URL"], "https://github.com/team/model/actions/runs/77");
    assert!(job["environmentId"].as_str().expect("env").ends_with("/environments/mlops/versions/1"));
    let env = standin.with_aml(|a| a.version("environments", "mlops", "1")).expect("environment");
    assert_eq!(env["properties"]["image"], "myacr.azurecr.io/mlops:1");
    // A failing remote training exits with the remote-failure code.
    standin.with_aml(|a| a.failing_jobs.push("--alpha 0.9".to_string()));
    let out = run(&ws, &standin, &["train", "--compute", COMPUTE, "--alpha", "0.9"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
}

#[test]
fn schedule_lifecycle_with_the_mfe_operation_protocol() {
    let (ws, standin) = setup();
    publish(&ws, &standin);
    let created = json(&run(
        &ws,
        &standin,
        &[
            "pipeline",
            "schedule",
            "create",
            "nightly",
            "--pipeline",
            "diabetes-train",
            "--cron",
            "0 3 * * *",
            "--time-zone",
            "W. Europe Standard Time",
            "--param",
            DATA,
            "-o",
            "json",
        ],
    ));
    assert_eq!(created["properties"]["provisioningState"], "Succeeded");
    assert_eq!(created["properties"]["isEnabled"], true);
    assert_eq!(created["properties"]["trigger"]["expression"], "0 3 * * *");
    assert_eq!(created["properties"]["action"]["jobDefinition"]["jobType"], "Pipeline");
    assert!(standin.log().iter().any(|l| l.path.contains("/locations/westeurope/mfeOperationsStatus/sc:nightly:")));

    let disabled = json(&run(&ws, &standin, &["pipeline", "schedule", "disable", "nightly", "-o", "json"]));
    assert_eq!(disabled["properties"]["isEnabled"], false);
    assert_eq!(standin.with_aml(|a| a.schedule("nightly")).expect("schedule")["isEnabled"], false);
    let shown = run(&ws, &standin, &["pipeline", "schedule", "show", "nightly"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("disabled (Succeeded), cron \"0 3 * * *\""));
    let enabled = json(&run(&ws, &standin, &["pipeline", "schedule", "enable", "nightly", "-o", "json"]));
    assert_eq!(enabled["properties"]["isEnabled"], true);

    let hourly = json(&run(
        &ws,
        &standin,
        &[
            "pipeline",
            "schedule",
            "create",
            "hourly",
            "--pipeline",
            "diabetes-train",
            "--every",
            "2hour",
            "--param",
            DATA,
            "-o",
            "json",
        ],
    ));
    assert_eq!(hourly["properties"]["trigger"]["triggerType"], "Recurrence");
    assert_eq!(hourly["properties"]["trigger"]["frequency"], "Hour");
    assert_eq!(hourly["properties"]["trigger"]["interval"], 2);

    let deleted = run(&ws, &standin, &["pipeline", "schedule", "delete", "nightly"]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert!(standin.log().iter().any(|l| l.method == "DELETE" && l.status == 202));
    let gone = run(&ws, &standin, &["pipeline", "schedule", "show", "nightly"]);
    assert_eq!(gone.status.code(), Some(8), "{}", stderr(&gone));
}

#[test]
fn throttling_and_resets_while_following_a_job_are_survived() {
    let (ws, standin) = setup();
    publish(&ws, &standin);
    standin.inject(Fault {
        method: Some("GET"),
        path_contains: "/jobs/diabetes_train_".to_string(),
        kind: FaultKind::Status { status: 429, retry_after: Some(1) },
        count: 2,
    });
    standin.inject(Fault {
        method: Some("GET"),
        path_contains: "/jobs/diabetes_train_".to_string(),
        kind: FaultKind::Reset,
        count: 2,
    });
    let out = run(&ws, &standin, &["pipeline", "submit", "diabetes-train", "--param", DATA, "--stream", "-o", "json"]);
    let value = json(&out);
    assert_eq!(value["job"]["status"], "Completed");
    let log = standin.log();
    let polls: Vec<_> = log.iter().filter(|l| l.method == "GET" && l.path.contains("/jobs/diabetes_train_")).collect();
    assert_eq!(polls.iter().filter(|l| l.status == 429).count(), 2);
    assert_eq!(polls.iter().filter(|l| l.status == 0).count(), 2);
    // The throttled read waited for Retry-After before trying again.
    let first_429 = polls.iter().position(|l| l.status == 429).expect("429");
    assert!(polls[first_429 + 1].at.duration_since(polls[first_429].at) >= Duration::from_millis(900));
}

#[test]
fn bad_input_is_refused_with_clear_errors() {
    let (ws, standin) = setup();
    // Unknown compute: checked before anything is registered.
    let out = run(&ws, &standin, &["pipeline", "publish", "pipelines/diabetes-train.yml", "--compute", "gpu-nope"]);
    assert_eq!(out.status.code(), Some(8));
    assert!(stderr(&out).contains("compute \"gpu-nope\" not found in workspace \"mlw-test\""), "{}", stderr(&out));
    assert!(version_puts(&standin).is_empty());

    // Invalid cron: a usage error before any request.
    let before = standin.log().len();
    let out = run(
        &ws,
        &standin,
        &["pipeline", "schedule", "create", "bad", "--pipeline", "diabetes-train", "--cron", "0 25 * * *"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("hour field \"25\""), "{}", stderr(&out));
    let out = run(
        &ws,
        &standin,
        &["pipeline", "schedule", "create", "bad", "--pipeline", "diabetes-train", "--every", "3 fortnights"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(standin.log().len(), before);

    // Pipeline file errors: line numbers, input exit code, nothing sent.
    ws.write("broken.yml", "name: broken\nsteps:\n  - name: a\n    run: [train]\n    depends_on: [nope]\n");
    let out = run(&ws, &standin, &["pipeline", "publish", "broken.yml"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(stderr(&out).contains("broken.yml:5: step \"a\" depends on unknown step \"nope\""), "{}", stderr(&out));
    let out = run(&ws, &standin, &["pipeline", "submit", "missing.yml"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert_eq!(standin.log().len(), before);

    // A parameter the pipeline does not have; a pipeline that was never published; no workspace.
    publish(&ws, &standin);
    let out = run(&ws, &standin, &["pipeline", "submit", "diabetes-train", "--param", "alhpa=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("has no parameter \"alhpa\""), "{}", stderr(&out));
    let out = run(&ws, &standin, &["pipeline", "submit", "diabetes-train"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("data parameter \"data_path\" has no value Azure ML can read"), "{}", stderr(&out));
    let out = run(&ws, &standin, &["pipeline", "submit", "diabetes-train", "--param", "data_path=data/diabetes.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read the local path \"data/diabetes.csv\""), "{}", stderr(&out));
    let out = run(&ws, &standin, &["pipeline", "submit", "never-published"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    let out = mlops(&ws, &standin, &["pipeline", "submit", "diabetes-train"])
        .env("AZUREML_WORKSPACE_NAME", "mlw-other")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(8));
    assert!(stderr(&out).contains("workspace \"mlw-other\" not found"), "{}", stderr(&out));
    let out = mlops(&ws, &standin, &["pipeline", "submit", "diabetes-train"])
        .env_remove("AZURE_RESOURCE_GROUP")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no Azure ML resource group"), "{}", stderr(&out));
}

#[test]
fn workspace_settings_come_from_mlops_toml() {
    let (ws, standin) = setup();
    ws.write("mlops.toml", &format!("[azureml]\nworkspace = \"{WS}\"\nresource_group = \"{RG}\"\ncompute = \"{COMPUTE}\"\nimage = \"reg.example/mlops:2\"\n"));
    let out = mlops(&ws, &standin, &["pipeline", "publish", "pipelines/diabetes-train.yml", "-o", "json"])
        .env_remove("AZUREML_WORKSPACE_NAME")
        .env_remove("AZURE_RESOURCE_GROUP")
        .output()
        .expect("run");
    let value = json(&out);
    assert_eq!(value["compute"], COMPUTE);
    let env = standin.with_aml(|a| a.version("environments", "mlops", "1")).expect("environment");
    assert_eq!(env["properties"]["image"], "reg.example/mlops:2");
    // The api-version is configurable; the stand-in refuses one it does not know.
    let out = run(
        &ws,
        &standin,
        &["pipeline", "publish", "pipelines/diabetes-train.yml", "--azureml-api-version", "1999-01-01"],
    );
    assert_eq!(out.status.code(), Some(9));
    assert!(stderr(&out).contains("InvalidApiVersionParameter"), "{}", stderr(&out));
}

/// Runs the published pipeline's components as Azure ML would: each step's command through
/// `sh -c`, with its inputs and outputs substituted, in dependency order, on this machine.
#[test]
fn published_components_run_the_pipeline_for_real() {
    let (ws, standin) = setup();
    publish(&ws, &standin);
    let pipeline = standin.with_aml(|a| a.version("components", "diabetes_train", "1")).expect("pipeline component");
    let spec = pipeline["properties"]["componentSpec"].clone();
    // Azure ML mounts a uri_file input and hands the step the mounted file's path.
    let defaults: Vec<(String, String)> = spec["inputs"]
        .as_object()
        .expect("inputs")
        .iter()
        .map(|(k, v)| match v["type"].as_str() {
            Some("uri_file") => (k.clone(), ws.path().join("data/diabetes.csv").display().to_string()),
            _ => (k.clone(), v["default"].as_str().expect("default").to_string()),
        })
        .collect();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mlops")).parent().expect("bin dir").to_path_buf();
    let outputs = ws.path().join("azureml-outputs");
    for (key, job) in spec["jobs"].as_object().expect("jobs") {
        let component_id = job["component"].as_str().expect("component");
        let (name, version) = {
            let parts: Vec<&str> = component_id.split('/').collect();
            (parts[parts.len() - 3].to_string(), parts[parts.len() - 1].to_string())
        };
        let component = standin.with_aml(|a| a.version("components", &name, &version)).expect("component");
        let mut command = component["properties"]["componentSpec"]["command"].as_str().expect("command").to_string();
        for (input, binding) in job["inputs"].as_object().expect("inputs") {
            let binding = binding.as_str().expect("binding");
            let value =
                if let Some(param) = binding.strip_prefix("${{parent.inputs.").and_then(|b| b.strip_suffix("}}")) {
                    defaults.iter().find(|(k, _)| k == param).expect("default").1.clone()
                } else {
                    let upstream = binding.trim_start_matches("${{parent.jobs.").split('.').next().expect("job");
                    outputs.join(upstream).display().to_string()
                };
            command = command.replace(&format!("${{{{inputs.{input}}}}}"), &value);
        }
        command = command.replace("${{outputs.result}}", &outputs.join(key).display().to_string());
        let out = Command::new("sh")
            .args(["-c", &command])
            .current_dir(ws.path())
            .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
            .env_remove("MLFLOW_TRACKING_URI")
            .output()
            .expect("sh");
        assert!(out.status.success(), "step {key} ({command}) failed: {}", stderr(&out));
    }
    let result = |step: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(outputs.join(step).join("result.json")).expect("result.json"))
            .expect("json")
    };
    for step in ["validate_data", "register_data", "train", "evaluate", "register"] {
        assert_eq!(result(step)["status"], "succeeded", "{step}: {:#}", result(step));
    }
    let run_id = result("train")["result"]["run_id"].as_str().expect("run id").to_string();
    assert_eq!(result("register")["result"]["version"]["run_id"], run_id.as_str());
    assert!(ws.path().join("mlruns/0").join(&run_id).is_dir());
}

/// The Azure ML management client that azure-ai-ml ships, unchanged but for the endpoint, drives
/// the stand-in's workspace, assets (paged lists), jobs, cancel and schedule LROs.
#[test]
fn azure_ai_ml_management_client_runs_unchanged_against_the_standin() {
    let standin = StandIn::start();
    standin.set_step(Duration::from_millis(300));
    standin.create_aml_workspace(RG, WS, COMPUTE);
    let out = Command::new(crate::support::python())
        .arg(repo().join("tests/python/azureml_conformance.py"))
        .args([
            &standin.url(),
            standin::TENANT,
            standin::CLIENT_ID,
            standin::CLIENT_SECRET,
            standin::SUBSCRIPTION,
            RG,
            WS,
            COMPUTE,
        ])
        .env("REQUESTS_CA_BUNDLE", &standin.ca_pem)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("AZURE_AUTHORITY_HOST")
        .output()
        .expect("python");
    assert!(out.status.success(), "the SDK failed:\n{}", stderr(&out));
    let seen: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(seen["location"], "westeurope");
    assert!(
        seen["tracking_uri"]
            .as_str()
            .expect("uri")
            .starts_with(&format!("azureml://127.0.0.1:{}/mlflow/v1.0/subscriptions/", standin.port))
    );
    assert_eq!(seen["component_versions"], serde_json::json!(["1", "2", "3"]));
    assert_eq!(seen["job_created"], "NotStarted");
    assert!(seen["job_after_cancel"] == "CancelRequested" || seen["job_after_cancel"] == "Canceled", "{seen}");
    assert_eq!(seen["bad_job"], serde_json::json!([400, "UserError"]));
    assert_eq!(seen["schedule_state"], "Succeeded");
    assert_eq!(seen["schedule_after_delete"], 404);
    let log = standin.log();
    assert!(log.iter().any(|l| l.path.contains("/mfeOperationsStatus/")));
    assert!(log.iter().any(|l| l.path.contains("/mfeOperationResults/")));
    assert!(log.iter().any(|l| l.query.contains("skiptoken")));
}

/// The step entry point on its own: a failing step records its exit code and fails; a step after
/// it is skipped (and succeeds, as in a local run); an unreadable upstream result is bad input.
#[test]
fn pipeline_step_records_failures_and_skips_what_follows() {
    let ws = Workspace::new();
    let a = ws.path().join("a");
    let out = ws.run(&["pipeline", "step", "--name", "a", "--result", "a", "--", "train", "--data", "missing.csv"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("result.json")).expect("result")).expect("json");
    assert_eq!(result["status"], "failed");
    assert_eq!(result["exit_code"], 6);
    // Why, in the step's own words: its error report, recorded for later steps and in the job's log.
    let errors = result["errors"].as_array().expect("errors");
    assert!(
        errors.first().and_then(Value::as_str).is_some_and(|e| e.starts_with("error: ") && e.contains("missing.csv")),
        "{errors:?}"
    );
    assert!(stderr(&out).contains("step \"a\" failed:\n  error: "), "{}", stderr(&out));

    // A data check step: each failed check with its column and figures.
    std::fs::copy(crate::support::repo().join("data/diabetes_bad_dist.csv"), ws.path().join("bad.csv")).expect("copy");
    std::fs::copy(crate::support::repo().join("data/diabetes.profile.json"), ws.path().join("p.json")).expect("copy");
    let out = ws.run(&[
        "pipeline",
        "step",
        "--name",
        "v",
        "--result",
        "v",
        "--",
        "data",
        "validate",
        "--data",
        "bad.csv",
        "--profile",
        "p.json",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join("v/result.json")).expect("result")).expect("json");
    let errors: Vec<&str> = result["errors"].as_array().expect("errors").iter().filter_map(Value::as_str).collect();
    assert!(errors.iter().any(|e| e.starts_with("mean_shift failed: column \"AGE\"")), "{errors:?}");
    assert!(errors.iter().any(|e| e.starts_with("std_shift failed: column \"AGE\"")), "{errors:?}");

    let out = ws.run(&[
        "pipeline",
        "step",
        "--name",
        "b",
        "--result",
        "b",
        "--upstream",
        "a=a",
        "-o",
        "json",
        "--",
        "train",
        "--run-id",
        "$[[steps.a.outputs.run_id]]",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(result["status"], "skipped");
    assert_eq!(result["message"], "step \"a\" failed");
    assert!(ws.path().join("b/result.json").is_file());

    let out =
        ws.run(&["pipeline", "step", "--name", "c", "--result", "c", "--upstream", "a=nowhere", "--", "runs", "list"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot read the result of step \"a\""), "{}", stderr(&out));
}

/// `pipeline watch --target azureml`: each new blob in the container (Azurite) becomes one
/// pipeline job whose data input is the blob's URL, followed to its end; a restart submits nothing
/// again; a failed job is the watch's failure; a local directory is refused.
#[test]
fn watch_submits_one_azure_ml_job_per_new_blob() {
    let (ws, standin) = setup();
    // The workspace's MLflow store, where Azure ML records each step as a child run. With 2 s
    // steps, a failing job's first step is recorded failed 3 s before the job itself fails, far
    // longer than the stand-in takes to mirror it.
    standin.serve_mlflow(&crate::mlflow_server::MlflowServer::shared().uri);
    standin.set_step(Duration::from_secs(2));
    let azurite = crate::servers::azurite();
    let cs = crate::servers::azurite_connection_string(&azurite);
    let diabetes = std::fs::read_to_string(ws.path().join("data/diabetes.csv")).expect("data");
    crate::watch::upload(&cs, "landing", "diabetes/2026-11.csv", &diabetes);
    let watch = |extra: &[&str]| {
        mlops(&ws, &standin, &["pipeline", "watch", "pipelines/diabetes-train.yml", "--target", "azureml"])
            .args(["--compute", COMPUTE, "--source", "blob:landing", "--prefix", "diabetes/", "--once", "-o", "json"])
            .args(extra)
            .env("AZURE_STORAGE_CONNECTION_STRING", &cs)
            .output()
            .expect("run")
    };
    let lines = |out: &Output| -> Vec<Value> {
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
    };

    let out = watch(&["--param", "alpha=0.2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = lines(&out);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!((first[0]["target"].as_str(), first[0]["status"].as_str()), (Some("azureml"), Some("succeeded")));
    let jobs = standin.with_aml(|a| a.jobs());
    assert_eq!(jobs.len(), 1);
    let (name, job) = &jobs[0];
    assert_eq!(first[0]["run_id"], name.as_str());
    assert!(stderr(&out).contains(&format!("job {name}: Completed")), "{}", stderr(&out));
    let uri = job["inputs"]["data_path"]["uri"].as_str().expect("data input");
    assert_eq!(job["inputs"]["data_path"]["jobInputType"], "uri_file");
    assert!(uri.starts_with("http://127.0.0.1:") && uri.ends_with("/landing/diabetes/2026-11.csv"), "{uri}");
    assert_eq!(job["inputs"]["alpha"]["value"], "0.2");
    // The job registers the file in its own registry: the watch's version number travels as a tag.
    assert_eq!(job["inputs"]["dataset_version"]["value"], "latest");
    assert_eq!(job["tags"]["mlops.dataset.version"], "1");
    assert_eq!(job["tags"]["mlops.dataset.sha256"], first[0]["sha256"]);
    assert_eq!(job["displayName"], "diabetes-train on diabetes:1");

    // A restart finds nothing new and submits nothing.
    let out = watch(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(lines(&out).is_empty());
    assert_eq!(standin.with_aml(|a| a.jobs()).len(), 1);

    // New data, and the service fails the job: the watch reports it and exits with its code.
    let more = format!("{diabetes}{}", diabetes.lines().nth(1).expect("row"));
    crate::watch::upload(&cs, "landing", "diabetes/2026-12.csv", &more);
    standin.with_aml(|a| a.failing_jobs.push("diabetes_train".to_string()));
    let out = watch(&[]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let failed = lines(&out);
    assert_eq!((failed[0]["status"].as_str(), failed[0]["dataset_version"].as_u64()), (Some("failed"), Some(2)));
    assert!(failed[0]["message"].as_str().expect("message").contains("Failed"), "{:#}", failed[0]);
    // The record names the step that failed, as the job's step runs show it.
    assert_eq!(failed[0]["failed_step"], "validate_data", "{:#}", failed[0]);
    assert!(
        failed[0]["message"].as_str().expect("message").contains("failed step(s): validate_data"),
        "{:#}",
        failed[0]
    );
    assert_eq!(standin.with_aml(|a| a.jobs()).len(), 2);
    let out = watch(&[]);
    assert!(lines(&out).is_empty(), "a failed trigger is not retried");

    // A local directory cannot feed Azure ML; the watch sets the data parameters itself.
    std::fs::create_dir_all(ws.path().join("incoming")).expect("mkdir");
    let out = mlops(&ws, &standin, &["pipeline", "watch", "pipelines/diabetes-train.yml", "--target", "azureml"])
        .args(["--source", "incoming", "--once"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("Azure ML cannot read files in the local directory incoming"), "{}", stderr(&out));
    let out = watch(&["--param", "data_path=x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("the watch sets data_path itself"), "{}", stderr(&out));
    assert_eq!(standin.with_aml(|a| a.jobs()).len(), 2);
}

/// `submit --stream` follows a pipeline job's steps: Azure ML records each step as a child run in
/// the workspace's MLflow store (here the stand-in's data plane over a real `mlflow server`), and
/// the stream reports each step as it starts and ends, in dependency order.
#[test]
fn stream_follows_each_step_of_the_pipeline_job() {
    let (ws, standin) = setup();
    // Steps long enough (1.2 s each) for polls every 0.2 s to see each one running.
    standin.set_step(Duration::from_secs(3));
    standin.serve_mlflow(&crate::mlflow_server::MlflowServer::shared().uri);
    let experiment = format!("steps-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let submit = |extra: &[&str]| {
        mlops(&ws, &standin, &["pipeline", "submit", "pipelines/diabetes-train.yml", "--compute", COMPUTE])
            .args(["--param", DATA, "--experiment", &experiment, "--stream", "-o", "json"])
            .args(extra)
            .output()
            .expect("run")
    };
    let out = submit(&[]);
    let value = json(&out);
    assert_eq!(value["job"]["status"], "Completed");
    let steps: Vec<(&str, &str)> = value["job"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| (s["name"].as_str().expect("name"), s["status"].as_str().expect("status")))
        .collect();
    assert_eq!(
        steps,
        [
            ("validate_data", "Completed"),
            ("register_data", "Completed"),
            ("train", "Completed"),
            ("evaluate", "Completed"),
            ("register", "Completed")
        ],
        "{value:#}"
    );
    let err = stderr(&out);
    // Each step is reported as it ends, in dependency order, and steps are seen running on the way.
    let at = |needle: &str| err.find(needle).unwrap_or_else(|| panic!("{needle:?} not in:\n{err}"));
    let ends: Vec<usize> = ["validate_data", "register_data", "train", "evaluate", "register"]
        .iter()
        .map(|s| at(&format!("step {s}: Completed")))
        .collect();
    assert!(ends.windows(2).all(|w| w[0] < w[1]), "{err}");
    assert!(err.matches(": Running").count() >= 3, "the job and at least two steps seen running:\n{err}");
    assert!(!err.contains("cannot read the steps"), "{err}");

    // A failing job: its first step fails, nothing after it starts.
    standin.with_aml(|a| a.failing_jobs.push(experiment.clone()));
    let out = submit(&[]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let value: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(value["job"]["steps"].as_array().map(Vec::len), Some(1), "{value:#}");
    assert_eq!(value["job"]["steps"][0]["status"], "Failed");
    assert!(stderr(&out).contains("step validate_data: Failed"), "{}", stderr(&out));
}
