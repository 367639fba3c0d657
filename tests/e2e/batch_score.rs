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
