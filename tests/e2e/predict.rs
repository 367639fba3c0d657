//! `mlops predict`: batch scoring with a saved model.

use crate::support::{Workspace, diabetes, floats, repo, stderr};

#[test]
fn predicts_from_directory_and_run_uri() {
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    let report = ws.json(&["train", "--data", &data]);
    let model = report["model"]["path"].as_str().expect("path");
    let from_dir = ws.json(&["predict", "--model", model, "--data", &data]);
    let run_uri = format!("runs:/{}/model", report["run_id"].as_str().expect("run id"));
    let from_run = ws.json(&["predict", "--model", &run_uri, "--data", &data]);
    assert_eq!(from_dir["predictions"], from_run["predictions"]);
    let predictions = floats(&from_dir["predictions"]);
    assert_eq!(predictions.len(), 442);

    // Text output is CSV; --out writes the same CSV to a file.
    let out = ws.run(&["predict", "--model", model, "--data", &data, "--out", "preds.csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let written = std::fs::read_to_string(ws.path().join("preds.csv")).expect("preds.csv");
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("prediction"));
    let parsed: Vec<f64> = lines.map(|l| l.parse().expect("number")).collect();
    assert_eq!(parsed, predictions, "CSV output round-trips exactly");
}

#[test]
fn bad_inputs() {
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    let out = ws.run(&["predict", "--model", "no-such-dir", "--data", &data]);
    assert_eq!(out.status.code(), Some(6));
    assert!(stderr(&out).contains("model directory no-such-dir does not exist"), "{}", stderr(&out));
    // A directory that exists but holds no model is a different mistake.
    std::fs::create_dir(ws.path().join("empty")).expect("mkdir");
    let out = ws.run(&["predict", "--model", "empty", "--data", &data]);
    assert_eq!(out.status.code(), Some(6));
    assert!(stderr(&out).contains("empty is not an mlops model directory: model.json not found"), "{}", stderr(&out));

    let report = ws.json(&["train", "--data", &data]);
    let model = report["model"]["path"].as_str().expect("path");
    let schema = repo().join("data/diabetes_bad_schema.csv").display().to_string();
    let out = ws.run(&["predict", "--model", model, "--data", &schema]);
    assert_eq!(out.status.code(), Some(6));
    assert!(stderr(&out).contains("no column named \"AGE\""), "{}", stderr(&out));

    let out = ws.run(&["predict", "--model", &format!("runs:/{}/model", "f".repeat(32)), "--data", &data]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("not found"));
}
