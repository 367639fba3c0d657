//! The batch scoring pipeline (`pipelines/diabetes-batch-score.yml`): run locally after the
//! training pipeline registered a champion, its predictions are `mlops predict`'s, byte for byte.

use serde_json::Value;

use crate::pipeline::project;
use crate::support::stderr;

#[test]
fn batch_pipeline_scores_like_predict() {
    let ws = project();
    let out = ws.run(&["pipeline", "run", "pipelines/diabetes-train.yml", "-o", "json"]);
    assert!(out.status.success(), "training pipeline: {}", stderr(&out));

    let out = ws.run(&["pipeline", "run", "pipelines/diabetes-batch-score.yml", "-o", "json"]);
    assert!(out.status.success(), "batch pipeline: {}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(report["status"], "succeeded", "{report:#}");
    let score = &report["steps"][0];
    assert_eq!(score["outputs"]["rows"], 442, "{report:#}");
    assert_eq!(score["outputs"]["model_version"], "1", "the champion is version 1: {report:#}");

    let direct = ws.json(&[
        "predict",
        "--model",
        "models:/diabetes-model@champion",
        "--data",
        "data/diabetes.csv",
        "--out",
        "direct.csv",
    ]);
    assert_eq!(direct["model_version"], "1");
    let piped = std::fs::read_to_string(ws.path().join("outputs/diabetes-predictions.csv")).expect("pipeline output");
    let direct = std::fs::read_to_string(ws.path().join("direct.csv")).expect("predict output");
    assert_eq!(piped, direct, "the same bytes: row ids, predictions and model version");
    assert!(piped.starts_with("row_id,prediction,model_version\n0,"), "{}", &piped[..80]);
    assert_eq!(piped.lines().count(), 443);
}

/// The same pipeline submitted to the Azure ML stand-in, which runs its step for real: the data
/// comes from the workspace's datastore, the predictions go to a blob container, and they are
/// `mlops predict`'s bytes.
#[test]
fn batch_pipeline_runs_as_an_azure_ml_job() {
    use crate::azureml::{COMPUTE, RG, WS, mlops};
    let ws = project();
    let trained = ws.json(&["train", "--data", "data/diabetes.csv"]);
    let model = ws.path().join(trained["model"]["path"].as_str().expect("model path"));
    let model = model.display().to_string();
    let blobs = crate::servers::azurite();
    let cs = crate::servers::azurite_connection_string(&blobs);
    let standin = crate::standin::StandIn::start();
    standin.create_aml_workspace(RG, WS, COMPUTE);
    standin.serve_artifacts(&blobs.base);
    standin.execute_jobs(std::path::Path::new(env!("CARGO_BIN_EXE_mlops")), &blobs.base);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let datastore = crate::servers::blob_container(&cs, "azureml");
    let data = std::fs::read(ws.path().join("data/diabetes.csv")).expect("data");
    runtime.block_on(datastore.upload("landing/diabetes.csv", data.into(), "text/csv")).expect("upload the data");

    let out = mlops(&ws, &standin, &["pipeline", "submit", "pipelines/diabetes-batch-score.yml", "--compute", COMPUTE])
        .args(["--param", &format!("model={model}")])
        .args(["--param", "data_path=azureml://datastores/workspaceblobstore/paths/landing/diabetes.csv"])
        .args(["--param", "output_path=blob:predictions/diabetes.csv", "--stream", "-o", "json"])
        .output()
        .expect("run mlops");
    assert!(out.status.success(), "submit: {}", stderr(&out));
    let value: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(value["job"]["status"], "Completed", "{value:#}");
    let job = value["job"]["name"].as_str().expect("job name");

    // The step's result folder went back to the datastore.
    let result = runtime
        .block_on(datastore.download(&format!("azureml/{job}/score/result/result.json")))
        .expect("the step's result.json");
    let result: Value = serde_json::from_slice(&result).expect("result JSON");
    assert_eq!(result["status"], "succeeded", "{result:#}");
    assert_eq!(result["result"]["rows"], 442);

    let remote = runtime
        .block_on(crate::servers::blob_container(&cs, "predictions").download("diabetes.csv"))
        .expect("the predictions blob");
    let out = ws.run(&["predict", "--model", &model, "--data", "data/diabetes.csv", "--out", "direct.csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let direct = std::fs::read(ws.path().join("direct.csv")).expect("direct.csv");
    assert_eq!(String::from_utf8_lossy(&remote), String::from_utf8_lossy(&direct), "the same bytes");

    // A step that fails fails the job, with the step's own words.
    let out = mlops(&ws, &standin, &["pipeline", "submit", "diabetes-batch-score", "--compute", COMPUTE])
        .args(["--param", "model=no-such-model-dir"])
        .args(["--param", "data_path=azureml://datastores/workspaceblobstore/paths/landing/diabetes.csv"])
        .args(["--param", "output_path=blob:predictions/never.csv", "--stream"])
        .output()
        .expect("run mlops");
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(": Failed") && text.contains("step score"), "{text}");
    let never = runtime.block_on(crate::servers::blob_container(&cs, "predictions").download("never.csv"));
    assert!(never.is_err(), "no partial blob");
}
