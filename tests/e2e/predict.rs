//! `mlops predict`: batch scoring with a saved model.

use crate::support::{Workspace, diabetes, repo, stderr};

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
    assert_eq!(from_dir["rows"], 442);
    let run_id = report["run_id"].as_str().expect("run id");
    // A directory's version is the run its MLmodel records; a runs:/ URI's is that run.
    assert_eq!(from_dir["model_version"], run_id);
    assert_eq!(from_run["model_version"], run_id);
    let rows = from_dir["predictions"].as_array().expect("predictions");
    let ids: Vec<u64> = rows.iter().map(|r| r["row_id"].as_u64().expect("row id")).collect();
    assert_eq!(ids, (0..442).collect::<Vec<u64>>());
    let predictions: Vec<f64> = rows.iter().map(|r| r["prediction"].as_f64().expect("number")).collect();

    // Text output is CSV; --out writes the same CSV to a file.
    let out = ws.run(&["predict", "--model", model, "--data", &data, "--out", "preds.csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let written = std::fs::read_to_string(ws.path().join("preds.csv")).expect("preds.csv");
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("row_id,prediction,model_version"));
    let parsed: Vec<f64> = lines
        .enumerate()
        .map(|(i, l)| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!((cells[0], cells[2]), (i.to_string().as_str(), run_id), "{l}");
            cells[1].parse().expect("number")
        })
        .collect();
    assert_eq!(parsed, predictions, "CSV output round-trips exactly");

    // With --out, -o json reports counts and the place, not the predictions.
    let report = ws.json(&["predict", "--model", model, "--data", &data, "--out", "p2.csv", "--threads", "1"]);
    assert_eq!(report["rows"], 442);
    assert_eq!(report["out"], "p2.csv");
    assert!(report.get("predictions").is_none(), "{report}");
    assert_eq!(std::fs::read(ws.path().join("p2.csv")).expect("p2"), written.as_bytes(), "one thread, same bytes");
}

/// Rows scored in many small chunks on several threads come out in input order, the same bytes
/// as one thread; an id column names the rows.
#[test]
fn parallel_chunks_keep_input_order_and_ids() {
    let ws = Workspace::new();
    let data = diabetes().display().to_string();
    let report = ws.json(&["train", "--data", &data]);
    let model = report["model"]["path"].as_str().expect("path");
    // 80 copies of the data set (2.7 MB) with an id column "pid": three 1 MiB chunks.
    let text = std::fs::read_to_string(diabetes()).expect("data");
    let mut lines = text.lines();
    let mut big = format!("pid,{}\n", lines.next().expect("header"));
    let body: Vec<&str> = lines.collect();
    for copy in 0..80 {
        for (i, line) in body.iter().enumerate() {
            big.push_str(&format!("p{copy}-{i},{line}\n"));
        }
    }
    std::fs::write(ws.path().join("big.csv"), big).expect("write");
    let score = |threads: &str, out: &str| {
        let o = ws.run(&[
            "predict",
            "--model",
            model,
            "--data",
            "big.csv",
            "--id-column",
            "pid",
            "--threads",
            threads,
            "--out",
            out,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(ws.path().join(out)).expect("out")
    };
    let one = score("1", "one.csv");
    let four = score("4", "four.csv");
    assert_eq!(one, four);
    let rows: Vec<&str> = one.lines().skip(1).collect();
    assert_eq!(rows.len(), 80 * 442);
    assert!(rows[0].starts_with("p0-0,") && rows[35359].starts_with("p79-441,"), "{} {}", rows[0], rows[35359]);
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
